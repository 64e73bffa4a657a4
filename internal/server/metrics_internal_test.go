package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/insight"
	"github.com/claimbot/claimbot/internal/store"
)

// observeTurnByLabels is observeTurn as it was, every child looked up in
// its vec: what the kept children must count the same as.
func (m *Metrics) observeTurnByLabels(flow string, res engine.Result, err error, d time.Duration) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		m.turns.WithLabelValues("unavailable").Inc()
		return
	case err != nil:
		m.turns.WithLabelValues("error").Inc()
		return
	}
	if d > 0 {
		m.latency.Observe(d.Seconds())
	}
	switch {
	case res.Reply.Invalid:
		m.turns.WithLabelValues("refused").Inc()
		m.refusals.WithLabelValues(flow, res.Reply.State).Inc()
	case res.Applied:
		m.turns.WithLabelValues("applied").Inc()
	default:
		m.turns.WithLabelValues("ignored").Inc()
	}
	for _, mv := range res.Moves {
		m.entered.WithLabelValues(flow, mv.To).Inc()
	}
	if res.Session != nil && res.Session.State != "" && len(res.Moves) == 0 && res.Applied && !res.Reply.Invalid {
		m.entered.WithLabelValues(flow, res.Reply.State).Inc()
	}
	if cl := res.Claim; cl != nil {
		m.filed.Inc()
		m.filedByType.WithLabelValues(flow, insight.Label(flow, "reporter_type", cl.Answers), insight.Label(flow, "damage_type", cl.Answers)).Inc()
	}
	if h := res.Handoff; h != nil {
		m.handoffs.WithLabelValues(flow, h.State).Inc()
	}
}

// turnResults are turns of every kind observeTurn tells apart.
func turnResults() []struct {
	flow string
	res  engine.Result
	err  error
	d    time.Duration
} {
	applied := func(from, to string) engine.Result {
		return engine.Result{Applied: true, Session: &engine.Session{State: to}, Reply: engine.Reply{State: to},
			Moves: []flow.Edge{{Event: "answer", From: from, To: to}}}
	}
	type turn = struct {
		flow string
		res  engine.Result
		err  error
		d    time.Duration
	}
	return []turn{
		{"damage-1015", applied("", "privacy_consent"), nil, 0}, // the first reply of a connection
		{"damage-1015", applied("privacy_consent", "reporter_type"), nil, 3 * time.Millisecond},
		{"damage-1015", engine.Result{Reply: engine.Reply{State: "reporter_type", Invalid: true}}, nil, time.Millisecond},
		{"damage-1015", engine.Result{Reply: engine.Reply{State: "reporter_type", Invalid: true}}, nil, time.Millisecond},
		{"damage-1015", engine.Result{Reply: engine.Reply{State: "reporter_type"}}, nil, time.Millisecond}, // a repeated id
		{"damage-1015", engine.Result{Applied: true, Session: &engine.Session{State: "service"}, Reply: engine.Reply{State: "service"},
			Moves: []flow.Edge{{From: "reporter_type", To: "a"}, {From: "a", To: "service"}}}, nil, 2 * time.Millisecond},
		{"damage-1015", engine.Result{Applied: true, Session: &engine.Session{State: "reporter_type"}, Reply: engine.Reply{State: "reporter_type"}}, nil, time.Millisecond}, // back
		{"other-flow", applied("x", "reporter_type"), nil, time.Millisecond},
		{"other-flow", engine.Result{Reply: engine.Reply{State: "y", Invalid: true}}, nil, time.Millisecond},
		{"damage-1015", engine.Result{}, store.ErrUnavailable, 0},
		{"damage-1015", engine.Result{}, fmt.Errorf("turn: %w", store.ErrUnavailable), time.Second},
		{"damage-1015", engine.Result{}, errors.New("boom"), time.Second},
		{"damage-1015", engine.Result{Applied: true, Session: &engine.Session{State: "submit"}, Reply: engine.Reply{State: "submit", Done: true},
			Moves:   []flow.Edge{{From: "summary", To: "submit"}},
			Claim:   &engine.Claim{Answers: map[string]any{"reporter_type": "general", "damage_type": "paid"}},
			Handoff: &engine.Handoff{State: "summary"}}, nil, 4 * time.Millisecond},
		{"damage-1015", engine.Result{Applied: true, Session: &engine.Session{State: "agent"}, Reply: engine.Reply{State: "agent"},
			Moves: []flow.Edge{{From: "email", To: "agent"}}, Handoff: &engine.Handoff{State: "email"}}, nil, time.Millisecond},
	}
}

// chatMetrics is the text /metrics shows of the chat's own metrics.
func chatMetrics(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "claimbot_") {
			expfmt.MetricFamilyToText(&b, f)
		}
	}
	return b.String()
}

// The kept children count every kind of turn as the vecs' lookups did:
// the same series, the same values, none made early (a series shows only
// once a turn adds to it).
func TestObserveTurnKeptChildrenCountAsLookups(t *testing.T) {
	for _, kept := range []int{4096, 2} { // 2: past the bound, children are looked up in the vec again
		t.Run(fmt.Sprint("kept=", kept), func(t *testing.T) {
			old := maxKept
			maxKept = kept
			defer func() { maxKept = old }()
			now, was := NewMetrics(nil), NewMetrics(nil)
			if got, want := chatMetrics(t, now.Registry), chatMetrics(t, was.Registry); got != want {
				t.Fatalf("before any turn:\n%s\nwant:\n%s", got, want)
			}
			for round := range 3 {
				for i, tr := range turnResults() {
					now.observeTurn(tr.flow, tr.res, tr.err, tr.d)
					was.observeTurnByLabels(tr.flow, tr.res, tr.err, tr.d)
					if got, want := chatMetrics(t, now.Registry), chatMetrics(t, was.Registry); got != want {
						t.Fatalf("round %d, turn %d:\n%s\nwant:\n%s", round, i, got, want)
					}
				}
			}
			if n := len(*now.enteredBy.m.Load()); n > kept {
				t.Errorf("kept %d children of claimbot_state_entered_total, bound %d", n, kept)
			}
		})
	}
}

// A typical applied turn: one move, a latency.
func BenchmarkObserveTurn(b *testing.B) {
	m := NewMetrics(nil)
	res := engine.Result{Applied: true, Session: &engine.Session{State: "email"}, Reply: engine.Reply{State: "email"},
		Moves: []flow.Edge{{Event: "answer", From: "inquiry_type", To: "email"}}}
	b.ReportAllocs()
	for b.Loop() {
		m.observeTurn("damage-1015", res, nil, time.Millisecond)
	}
}

// The same turn counted as before, every child looked up in its vec: the
// figure observeTurn is compared with.
func BenchmarkObserveTurnByLabels(b *testing.B) {
	m := NewMetrics(nil)
	res := engine.Result{Applied: true, Session: &engine.Session{State: "email"}, Reply: engine.Reply{State: "email"},
		Moves: []flow.Edge{{Event: "answer", From: "inquiry_type", To: "email"}}}
	b.ReportAllocs()
	for b.Loop() {
		m.observeTurnByLabels("damage-1015", res, nil, time.Millisecond)
	}
}
