package flow_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestShippedFlowsHaveNoProblems(t *testing.T) {
	flows, ps := flow.LoadDir("../../flows")
	if len(ps) > 0 {
		t.Fatalf("problems:\n%s", ps.Error())
	}
	if flows["damage-1015"] == nil {
		t.Fatal("damage-1015 not loaded")
	}
}

// TestGraphGolden keeps the default flow's diagram; regenerate with
// go test ./internal/flow -run Golden -update after changing the flow.
func TestGraphGolden(t *testing.T) {
	f, ps := flow.Load("../../flows/damage-1015.yaml")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Error())
	}
	for _, format := range []string{"mermaid", "dot"} {
		t.Run(format, func(t *testing.T) {
			got, err := f.Graph(format)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "damage-1015."+format+".golden")
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("graph differs from %s (run with -update if the flow changed on purpose):\n%s", golden, got)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	base, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(string) string
		want []string // substrings of problems, each with file:line
	}{
		{"misspelt next state and unknown key", func(s string) string {
			s = strings.Replace(s, "    next: phone\n", "    next: phnoe\n", 1)
			return strings.Replace(s, "    label: 제목\n", "    lable: 제목\n", 1)
		}, []string{`state "email": next "phnoe": no such state (did you mean "phone"?)`, `state "title": state: unknown key "lable"`}},
		{"yaml error", func(s string) string { return strings.Replace(s, "  reporter_type:\n", "  reporter_type\n  : [\n", 1) }, []string{"yaml:"}},
		{"expression naming an unknown answer key", func(s string) string {
			return strings.Replace(s, `if: reporter_type != "general"`, `if: reporter_typ != "general"`, 1)
		}, []string{`state "business_check": next: if "reporter_typ != \"general\""`}},
		{"expression that does not compile", func(s string) string {
			return strings.Replace(s, `if: reporter_type != "general"`, `if: reporter_type != `, 1)
		}, []string{`state "business_check": next: if`}},
		{"unreachable state", func(s string) string {
			return s + "\n  orphan:\n    say: 안녕\n    end: true\n"
		}, []string{`state "orphan": unreachable`}},
		{"no way out", func(s string) string {
			return strings.Replace(s, "    ask: email\n    label: 이메일\n    next: phone\n", "    ask: email\n    label: 이메일\n", 1)
		}, []string{`state "email": no way out`}},
		{"unknown input kind", func(s string) string { return strings.Replace(s, "ask: email", "ask: e-mail", 1) }, []string{`ask: unknown input kind "e-mail"`}},
		{"reserved choice value", func(s string) string {
			return strings.Replace(s, "{value: other, label: 기타", "{value: back, label: 기타", 1)
		}, []string{`choice "back": the value is reserved`}},
		{"Korean state id", func(s string) string { return strings.Replace(s, "  settled:\n", "  해결:\n", 1) }, []string{`state "해결": state ids are lower-case ASCII`}},
		{"intake closed text naming an unknown value", func(s string) string {
			return strings.Replace(s, "{{if .ended}}", "{{if .endded}}", 1)
		}, []string{`intake.closed: {{.endded}}: this text knows only`}},
		{"intake closed text naming an unknown value after a known one", func(s string) string {
			return strings.Replace(s, "{{if .ended}}", "{{if and .ended .email}}", 1)
		}, []string{`intake.closed: {{.email}}: this text knows only`}},
		{"intake closed text naming an unknown value in a pipeline", func(s string) string {
			return strings.Replace(s, "{{.closes}}까지", "{{print .closes .phone}}까지", 1)
		}, []string{`intake.closed: {{.phone}}: this text knows only`}},
		{"intake closed text naming an unknown value through $", func(s string) string {
			return strings.Replace(s, "{{else}}", "{{with .opens}}{{$.email}}{{end}}{{else}}", 1)
		}, []string{`intake.closed: {{.email}}: this text knows only`}},
		{"say naming an unknown answer key after a known one", func(s string) string {
			return strings.Replace(s, "{{.claim_id}} 입니다", "{{if and .claim_id .emial}}{{.claim_id}}{{end}} 입니다", 1)
		}, []string{`say: {{.emial}}: no answer key "emial"`}},
		{"say naming an unknown answer key in an else branch", func(s string) string {
			return strings.Replace(s, "{{.claim_id}} 입니다", "{{if .claim_id}}{{.claim_id}}{{else}}{{.phnoe}}{{end}} 입니다", 1)
		}, []string{`say: {{.phnoe}}: no answer key "phnoe"`}},
		{"conditional branch last", func(s string) string {
			return strings.Replace(s, "      - to: consent_refused\n", "      - if: \"!privacy_consent\"\n        to: consent_refused\n", 1)
		}, []string{"the last branch needs no if"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.edit(string(base))
			if src == string(base) {
				t.Fatal("the edit changed nothing")
			}
			_, ps := flow.Parse("flows/damage-1015.yaml", []byte(src))
			errs := ps.Errors()
			if len(errs) == 0 {
				t.Fatal("no errors")
			}
			for _, w := range tt.want {
				found := false
				for _, p := range errs {
					found = found || (strings.Contains(p.String(), w) && p.Pos.Line > 0 && strings.HasPrefix(p.String(), "flows/damage-1015.yaml:"))
				}
				if !found {
					t.Errorf("no problem with %q and a file:line; got:\n%s", w, errs.Error())
				}
			}
		})
	}
}

// Every problem is reported at once, with its line.
func TestProblemLines(t *testing.T) {
	src := "flow: tiny\nstart: a\nstates:\n  a:\n    say: 안녕\n    next: c\n    colour: red\n"
	_, ps := flow.Parse("tiny.yaml", []byte(src))
	got := ps.Error()
	for _, want := range []string{`tiny.yaml:6:11: state "a": next "c": no such state`, `tiny.yaml:7:5: state "a": state: unknown key "colour"`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	base, _ := os.ReadFile("../../flows/damage-1015.yaml")
	f.Add(base)
	f.Add([]byte("flow: x\nstart: a\nstates:\n  a: {say: hi, end: true}\n"))
	f.Add([]byte("states: [1, 2]\n"))
	f.Add([]byte("start: a\nstates:\n  a:\n    next: [{if: 'x >', to: a}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fl, ps := flow.Parse("fuzz.yaml", src)
		if fl != nil && len(ps.Errors()) == 0 {
			if _, err := fl.Graph("mermaid"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestIntakeDates: a date without a time is a whole day in Korea. opens:
// 2022-11-06 opens at its start; closes: 2022-11-06 keeps that day open to
// its end (24:00, the next day's 00:00 KST), as staff who write "마감 11월
// 6일" mean. A time or a zone is taken as written.
func TestIntakeDates(t *testing.T) {
	kst := time.FixedZone("KST", 9*60*60)
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, kst) }
	tests := []struct {
		name          string
		opens, closes string
		wantOpens     time.Time
		wantCloses    time.Time
		open, closed  []time.Time // times inside and outside the window
	}{
		{"date-only closes ends with its day", "2022-10-19", "2022-11-06",
			at(2022, 10, 19, 0, 0), at(2022, 11, 7, 0, 0),
			[]time.Time{at(2022, 10, 19, 0, 0), at(2022, 11, 6, 9, 0), at(2022, 11, 6, 23, 59), time.Date(2022, 11, 6, 14, 59, 0, 0, time.UTC)},
			[]time.Time{at(2022, 10, 18, 23, 59), at(2022, 11, 7, 0, 0), time.Date(2022, 11, 6, 15, 0, 0, 0, time.UTC)}},
		{"one-day window", "2022-11-06", "2022-11-06",
			at(2022, 11, 6, 0, 0), at(2022, 11, 7, 0, 0),
			[]time.Time{at(2022, 11, 6, 0, 0), at(2022, 11, 6, 23, 59)},
			[]time.Time{at(2022, 11, 5, 23, 59), at(2022, 11, 7, 0, 0)}},
		{"closes with a time", "2022-10-19T09:00", "2022-11-06T18:00",
			at(2022, 10, 19, 9, 0), at(2022, 11, 6, 18, 0),
			[]time.Time{at(2022, 11, 6, 17, 59)},
			[]time.Time{at(2022, 10, 19, 8, 59), at(2022, 11, 6, 18, 0)}},
		{"closes at midnight as written", "2022-10-19", "2022-11-06T00:00:00+09:00",
			at(2022, 10, 19, 0, 0), at(2022, 11, 6, 0, 0),
			[]time.Time{at(2022, 11, 5, 23, 59)},
			[]time.Time{at(2022, 11, 6, 0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "flow: tiny\nstart: a\nintake:\n  opens: " + tt.opens + "\n  closes: " + tt.closes + "\nstates:\n  a:\n    say: 안녕\n    end: true\n"
			f, ps := flow.Parse("tiny.yaml", []byte(src))
			if len(ps) > 0 {
				t.Fatal(ps.Error())
			}
			w := f.Intake
			if !w.Opens.Equal(tt.wantOpens) || !w.Closes.Equal(tt.wantCloses) {
				t.Errorf("window %v – %v, want %v – %v", w.Opens, w.Closes, tt.wantOpens, tt.wantCloses)
			}
			for _, now := range tt.open {
				if !w.Open(now) {
					t.Errorf("closed at %v, want open", now)
				}
			}
			for _, now := range tt.closed {
				if w.Open(now) {
					t.Errorf("open at %v, want closed", now)
				}
			}
		})
	}
}
