package engine

import (
	"reflect"
	"slices"
	"testing"
)

// cloneForStep gives what Clone gives (but the answers, which it shares),
// its lists in one array: growing any of them, as a step does, changes
// neither the others nor the session it was cloned from.
func TestCloneForStepListsApart(t *testing.T) {
	lists := [][]string{nil, {"a"}, {"a", "b", "c"}}
	for _, h := range lists {
		for _, a := range lists {
			for _, k := range lists {
				s := &Session{User: "u", Flow: "f", State: "x", Answers: map[string]any{"k": "v"},
					History: slices.Clone(h), Applied: slices.Clone(a), Skipped: slices.Clone(k),
					Files: []Attachment{{ID: "f1"}}}
				orig := s.Clone()
				c := s.cloneForStep()
				if want := s.Clone(); !reflect.DeepEqual(c, want) {
					t.Fatalf("h %v a %v k %v: cloneForStep %+v, Clone %+v", h, a, k, c, want)
				}
				c.History = append(c.History, "h1", "h2")
				c.Applied = append(c.Applied, "i1", "i2")
				c.Skipped = append(c.Skipped, "s1", "s2")
				c.Files = append(c.Files, Attachment{ID: "f2"})
				if !reflect.DeepEqual(s, orig) {
					t.Fatalf("h %v a %v k %v: the session cloned from changed: %+v", h, a, k, s)
				}
				wantH, wantA, wantK := append(slices.Clone(h), "h1", "h2"), append(slices.Clone(a), "i1", "i2"),
					append(slices.Clone(k), "s1", "s2")
				if !slices.Equal(c.History, wantH) || !slices.Equal(c.Applied, wantA) || !slices.Equal(c.Skipped, wantK) {
					t.Fatalf("h %v a %v k %v: grown to %v %v %v", h, a, k, c.History, c.Applied, c.Skipped)
				}
			}
		}
	}
}
