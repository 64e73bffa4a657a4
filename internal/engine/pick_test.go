package engine

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
)

// TestSummaryValueIsChosen: at every summary random conversations reach,
// over every flow, summaryValue (pick's way with a choice frame there)
// gives what picking among the summary's options gives, for each of its
// quick replies and for values it does not offer: other answers' edits,
// commands, near misses.
func TestSummaryValueIsChosen(t *testing.T) {
	convs := 200
	if testing.Short() {
		convs = 40
	}
	summaries, offered := 0, 0
	for i, pair := range walkEngines(t) {
		e := pair[0]
		ids := make([]string, 0, len(e.flows))
		for id := range e.flows {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			f := e.flows[id]
			values := []string{"", flow.ValueSubmit, flow.ValueSubmit + " ", "Submit", flow.EditPrefix, flow.EditPrefix + "nothing",
				flow.ValueBack, flow.ValueRestart, flow.ValueHandoff, flow.ValueYes}
			for _, st := range f.States {
				if st.Save != "" {
					values = append(values, flow.EditPrefix+st.Save, st.Save)
				}
			}
			now := time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)
			if f.Intake != nil && !f.Intake.Opens.IsZero() {
				now = f.Intake.Opens.Add(24 * time.Hour)
			}
			rng := rand.New(rand.NewPCG(uint64(i), uint64(len(id))))
			for n := range convs {
				s := NewSession(fmt.Sprintf("u-%d", n), id, []string{"ko", "en"}[n%2])
				var r Reply
				var sent []string
				for step := range 60 {
					in := walkInput(rng, f, s, r, sent)
					if in.ID != "" {
						sent = append(sent, in.ID)
					}
					res, err := e.Step(s, in, Env{Now: now, ClaimID: func() string { return fmt.Sprintf("C%d-%d", n, step) }})
					if err != nil {
						t.Fatal(err)
					}
					if res.Session != nil {
						s = res.Session
					}
					r = res.Reply
					st := f.States[s.State]
					if st == nil || st.Ask != flow.InputSummary || s.Done {
						continue
					}
					summaries++
					tu := &turn{e: e, f: f, s: s}
					opts := tu.options(st)
					for _, v := range append(values, choiceValues(r.Choices)...) {
						got, want := tu.summaryValue(st, v), chosen(opts, v)
						if got != want {
							t.Fatalf("%s: summary after %v: summaryValue(%q) = %q, the options give %q", id, s.History, v, got, want)
						}
						if want != "" {
							offered++
						}
					}
				}
			}
		}
	}
	if summaries < 100 || offered < 500 {
		t.Errorf("only %d summaries, %d values offered at them", summaries, offered)
	}
	t.Logf("%d summaries, %d values offered", summaries, offered)
}

func choiceValues(cs []Choice) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Value
	}
	return out
}
