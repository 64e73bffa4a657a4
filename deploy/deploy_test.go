package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/yaml.v3"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/server"
)

const (
	alertsFile     = "alerts.yml"
	alertTestsFile = "alerts_test.yml"
	dashboardFile  = "grafana-dashboard.json"
)

// promtool finds promtool; it skips the test when there is none, unless
// CLAIMBOT_REQUIRE_REAL=1 (CI must not skip).
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CLAIMBOT_REQUIRE_REAL") == "1" {
			t.Fatal("promtool not found and CLAIMBOT_REQUIRE_REAL=1 (Debian: apt-get install prometheus)")
		}
		t.Skip("promtool not found (Debian: apt-get install prometheus)")
	}
	return path
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), out)
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// alertTests is the part of a promtool test file the tests read.
type alertTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRules checks the rules with promtool, runs their unit tests, and
// checks that every alert has a severity, a summary and a description, and
// is tested both firing and not firing.
func TestAlertRules(t *testing.T) {
	var rules ruleFile
	readYAML(t, alertsFile, &rules)
	var tests alertTests
	readYAML(t, alertTestsFile, &tests)
	if !slices.Contains(tests.RuleFiles, alertsFile) {
		t.Errorf("%s: rule_files %v does not load %s", alertTestsFile, tests.RuleFiles, alertsFile)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if !firing[r.Alert] {
				t.Errorf("%s: %s never tests it firing", r.Alert, alertTestsFile)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: %s never tests it not firing", r.Alert, alertTestsFile)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatalf("%s: no alerts", alertsFile)
	}
	for name := range firing {
		if !slices.Contains(alerts, name) {
			t.Errorf("%s tests %s, which %s does not define", alertTestsFile, name, alertsFile)
		}
	}

	pt := promtool(t)
	run(t, pt, "check", "rules", alertsFile)
	run(t, pt, "test", "rules", alertTestsFile)
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Type       string          `json:"type"`
			Name       string          `json:"name"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// dashboardExprs lists every PromQL expression of the dashboard's panels,
// by panel title.
func dashboardExprs(d dashboard) map[string][]string {
	out := map[string][]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVar is a variable reference in a dashboard query: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// grafanaValues stand for Grafana's variables when the dashboard's queries
// are checked as PromQL: its own (job, instance, flow) and the built-in
// intervals.
var grafanaValues = map[string]string{
	"__rate_interval": "5m", "__interval": "1m", "__range": "6h",
	"job": "claimbot", "instance": ".*", "flow": ".*",
}

// TestDashboard checks the dashboard's shape (its Prometheus data source is
// the ${DS_PROMETHEUS} variable, panels do not overlap the grid's width,
// every panel has a query) and, with promtool, that every query is valid
// PromQL once Grafana's variables are filled in.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both needed", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a current one (39)", d.SchemaVersion)
	}
	hasDS := false
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
		if v.Type == "datasource" && v.Name == "DS_PROMETHEUS" && strings.Contains(string(v.Query), "prometheus") {
			hasDS = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${DS_PROMETHEUS}") {
			t.Errorf("variable %s: data source %+v, want ${DS_PROMETHEUS}", v.Name, v.Datasource)
		}
	}
	if !hasDS {
		t.Error("no datasource variable DS_PROMETHEUS of type prometheus")
	}
	ids := map[int]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, ok := ids[p.ID]; ok {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" || p.Datasource.Type != "prometheus" {
					t.Errorf("panel %q: data source %+v, want prometheus ${DS_PROMETHEUS}", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q: no query", p.Title)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refs[tg.RefID] {
						t.Errorf("panel %q: target %q with refId %q: empty or repeated", p.Title, tg.Expr, tg.RefID)
					}
					refs[tg.RefID] = true
					if tg.Datasource == nil || tg.Datasource.UID != "${DS_PROMETHEUS}" {
						t.Errorf("panel %q: target %s: data source %+v, want ${DS_PROMETHEUS}", p.Title, tg.RefID, tg.Datasource)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)

	// promtool checks PromQL as recording rules: one per query.
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rs []rule
	exprs := dashboardExprs(d)
	titles := make([]string, 0, len(exprs))
	for title := range exprs {
		titles = append(titles, title)
	}
	sort.Strings(titles)
	for _, title := range titles {
		for i, e := range exprs[title] {
			e = grafanaVar.ReplaceAllStringFunc(e, func(ref string) string {
				name := grafanaVar.FindStringSubmatch(ref)[1]
				v, ok := grafanaValues[name]
				if !ok || (!strings.HasPrefix(name, "__") && !defined[name]) {
					t.Errorf("panel %q: %s: $%s is not a variable of the dashboard", title, e, name)
				}
				return v
			})
			rs = append(rs, rule{Record: fmt.Sprintf("dashboard:query_%d:%d", len(rs), i), Expr: e})
		}
	}
	if len(rs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rs}}})
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, promtool(t), "check", "rules", tmp)
}

// metricName matches the bot's, the Go collector's and the process
// collector's metric names in PromQL or in prose.
var metricName = regexp.MustCompile(`\b(?:claimbot|process|go)_[a-z0-9_]*[a-z0-9]\b`)

// namesIn collects the metric names of every string in v (a decoded YAML or
// JSON document): expressions, variable queries and annotations alike, so
// prose naming a metric must name a real one too.
func namesIn(v any, into map[string]bool) {
	switch v := v.(type) {
	case string:
		for _, n := range metricName.FindAllString(v, -1) {
			into[n] = true
		}
	case []any:
		for _, e := range v {
			namesIn(e, into)
		}
	case map[string]any:
		for k, e := range v {
			namesIn(k, into)
			namesIn(e, into)
		}
	}
}

// usedNames lists the metric names that each file under deploy/ uses.
func usedNames(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, f := range []string{alertsFile, dashboardFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if strings.HasSuffix(f, ".json") {
			err = json.Unmarshal(b, &doc)
		} else {
			err = yaml.Unmarshal(b, &doc)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names := map[string]bool{}
		namesIn(doc, names)
		if len(names) == 0 {
			t.Fatalf("%s: no metric names found: is the pattern still right?", f)
		}
		for n := range names {
			out[f] = append(out[f], n)
		}
		sort.Strings(out[f])
	}
	return out
}

// TestMetricNamesExported starts the server in dev mode, drives one turn,
// one refused answer and one bad frame, leaves a conversation waiting, and
// checks that every metric name used under deploy/ is in its /metrics. A
// labelled counter appears there only once a label set has been used: that
// is why the turns.
func TestMetricNamesExported(t *testing.T) {
	used := usedNames(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := &config.Config{
		Addr: "127.0.0.1:0", Flows: "../flows", Locales: "../locales", DefaultFlow: "damage-1015",
		SessionTTL: time.Hour, Retention: 10 * time.Minute, RetrySchedule: outbox.DefaultSchedule,
		LogLevel: slog.LevelWarn,
	}
	srv, err := server.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})

	converse(t, "ws://"+srv.Addr+"/ws?user=deploy-metrics-1")

	// Counters of a closing socket are counted as the server notices the
	// close: read /metrics until every name is there, or give up.
	metricsURL := "http://" + srv.OpsAddr + "/metrics"
	var missing []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		exported := scrape(t, metricsURL)
		missing = missing[:0]
		for _, f := range []string{alertsFile, dashboardFile} {
			for _, n := range used[f] {
				if !isExported(n, exported) {
					missing = append(missing, f+": "+n)
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("%s is not exported by the server's /metrics", m)
	}
	for f, ns := range used {
		t.Logf("%s uses %d metric names: %s", f, len(ns), strings.Join(ns, " "))
	}
}

// converse opens a chat socket, answers the consent question, sends an
// answer the state does not offer and a frame that is not JSON, and closes
// the socket while the conversation waits at its next question.
func converse(t *testing.T, url string) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("dial %s: %v (%s: %s)", url, err, resp.Status, b)
		}
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	read := func(what string) map[string]any {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("%s: reading the reply: %v", what, err)
		}
		return m
	}
	send := func(frame string) map[string]any {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatalf("send %s: %v", frame, err)
		}
		return read(frame)
	}
	first := read("connect")
	if first["state"] != "privacy_consent" {
		t.Fatalf("first reply %v: want the consent question (privacy_consent)", first)
	}
	if r := send(`{"type":"choice","value":"yes","id":"a1"}`); r["state"] == "privacy_consent" || r["invalid"] == true {
		t.Fatalf("consent not applied: %v", r)
	}
	if r := send(`{"type":"choice","value":"no-such-choice","id":"a2"}`); r["invalid"] != true {
		t.Fatalf("an answer the state does not offer was not refused: %v", r)
	}
	send(`not json`)
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
}

// scrape reads /metrics and returns each metric family's type by name.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// # TYPE name counter|gauge|histogram|summary|untyped
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(types) == 0 {
		t.Fatalf("GET %s: no metric families", url)
	}
	return types
}

// isExported reports whether a name used in PromQL is exported: a family
// itself, or a histogram's _bucket, _sum or _count, or a summary's _sum or
// _count.
func isExported(name string, types map[string]string) bool {
	if _, ok := types[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch types[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}
