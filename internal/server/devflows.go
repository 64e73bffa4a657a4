package server

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/insight"
	"github.com/claimbot/claimbot/internal/locale"
)

// devFlowsPage is dev mode's /dev/flows: every loaded flow's diagram with
// its live counts, its funnel, and the problems lint finds in the files on
// disk now (which a reload would meet).
var devFlowsPage = template.Must(template.New("flows").Parse(`<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>claimbot: flows</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
.problems li{font-family:monospace}.error{color:#b00020}.warning{color:#8a6d00}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ddd;padding:.2rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}
.diagram svg{max-width:100%;height:auto}
</style></head><body>
<h1>Flows</h1>
{{if .Problems}}<h2>Problems in {{.Dir}}</h2><ul class="problems">{{range .Problems}}
<li class="{{if .Warning}}warning{{else}}error{{end}}">{{.String}}</li>{{end}}</ul>
{{else}}<p class="problems">No lint problems in {{.Dir}}.</p>{{end}}
{{range .Flows}}<section id="{{.ID}}">
<h2>{{.ID}} <small>{{.Version}}</small></h2>
{{if .Err}}<p class="error">{{.Err}}</p>{{end}}
{{with .Report}}<p>{{.Claims}} claims filed.</p>
<table><tr><th>state</th><th>reached</th><th>answered</th><th>stopped</th></tr>{{range .Funnel}}
<tr><td>{{.State}}</td><td>{{.Reached}}</td><td>{{.Answered}}</td><td>{{.Stopped}}</td></tr>{{end}}</table>{{end}}
<div class="diagram">{{.SVG}}</div>
</section>{{end}}
</body></html>
`))

type devFlow struct {
	ID, Version string
	Report      *insight.Report
	SVG         template.HTML
	Err         string
}

// devFlows serves /dev/flows (dev mode only).
func (s *Server) devFlows(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	disk, ps := flow.LoadDir(s.cfg.Flows)
	if len(disk) > 0 {
		_, lps := locale.Load(s.cfg.Locales, disk)
		ps = append(ps, lps...)
	}
	ps.Sort()
	eng := s.engine()
	ids := make([]string, 0, len(eng.Flows()))
	for id := range eng.Flows() {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	data := struct {
		Dir      string
		Problems flow.Problems
		Flows    []devFlow
	}{Dir: s.cfg.Flows, Problems: ps}
	for _, id := range ids {
		f := eng.Flow(id)
		d := devFlow{ID: id, Version: f.Version}
		rep, err := insight.Read(ctx, s.rdb, f, time.Now(), s.cfg.SessionTTL)
		if err != nil {
			d.Err = "counts: " + err.Error()
		} else {
			d.Report = rep
		}
		svg, err := insight.SVG(ctx, f, rep)
		if err != nil {
			d.Err = err.Error()
		}
		d.SVG = template.HTML(svg) // Graphviz's own output of the flow's ids and counts
		data.Flows = append(data.Flows, d)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := devFlowsPage.Execute(w, data); err != nil {
		s.log.Error("dev flows page", "err", err)
	}
}
