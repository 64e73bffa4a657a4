package upload

import (
	"context"
	"log/slog"
	"regexp"

	expslog "golang.org/x/exp/slog"
)

// tusLog hands tusd's own log (golang.org/x/exp/slog) to this package's
// logger: its warnings and errors only, each as "upload: tus: <event>"
// with the upload's id, the request's method and path, and the error's
// text with network addresses taken out ("read tcp 10.0.0.1:8080->
// 203.0.113.5:51234: i/o timeout" names the person's address). Its other
// attributes (the X-Request-ID a client chose, response bodies) are left
// out: nothing a client sent reaches a log.
type tusLog struct {
	log   *slog.Logger
	attrs []expslog.Attr
}

// tusKept are the attributes of tusd's records that are passed on; the
// values of tusMasked have addresses taken out first.
var (
	tusKept   = map[string]bool{"id": true, "method": true, "path": true, "error": true, "message": true}
	tusMasked = map[string]bool{"error": true, "message": true}
)

// netAddr matches an IPv4 address, or an IPv6 one in brackets (as Go
// writes one with a port), with its port if any.
var netAddr = regexp.MustCompile(`\[[0-9A-Fa-f:.]+(%[0-9A-Za-z]+)?\](:\d+)?|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b`)

// maskAddrs replaces every network address in s.
func maskAddrs(s string) string { return netAddr.ReplaceAllString(s, "<addr>") }

func (h *tusLog) Enabled(_ context.Context, l expslog.Level) bool { return l >= expslog.LevelWarn }

func (h *tusLog) Handle(ctx context.Context, r expslog.Record) error {
	args := make([]any, 0, 10)
	add := func(a expslog.Attr) bool {
		if tusKept[a.Key] {
			v := a.Value.String()
			if tusMasked[a.Key] {
				v = maskAddrs(v)
			}
			args = append(args, a.Key, v)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := slog.LevelWarn
	if r.Level >= expslog.LevelError {
		level = slog.LevelError
	}
	h.log.Log(ctx, level, "upload: tus: "+maskAddrs(r.Message), args...)
	return nil
}

func (h *tusLog) WithAttrs(as []expslog.Attr) expslog.Handler {
	return &tusLog{log: h.log, attrs: append(append([]expslog.Attr(nil), h.attrs...), as...)}
}

// WithGroup: tusd uses none; a group's attributes are kept by their keys.
func (h *tusLog) WithGroup(string) expslog.Handler { return h }
