package engine_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/claimbot/claimbot/internal/engine"
)

// TestShortAppendJSON: a choice's short label is written as encoding/json
// writes it, and left out when there is none.
func TestShortAppendJSON(t *testing.T) {
	for _, s := range tricky {
		r := engine.Reply{Type: "reply", State: "s", Input: "choice", Messages: []string{"x"},
			Choices: []engine.Choice{{Value: "a", Label: "long " + s, Short: s}, {Value: "b", Label: "no short"}}}
		b := r.AppendJSON(nil)
		var got, viaStd engine.Reply
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		std, _ := json.Marshal(r)
		json.Unmarshal(std, &viaStd)
		if !reflect.DeepEqual(got, viaStd) {
			t.Errorf("%q: got %+v, encoding/json gives %+v", s, got, viaStd)
		}
		var raw struct {
			Choices []map[string]any `json:"choices"`
		}
		json.Unmarshal(b, &raw)
		_, has0 := raw.Choices[0]["short"]
		_, has1 := raw.Choices[1]["short"]
		if has0 != (s != "") || has1 {
			t.Errorf("%q: short written %v/%v, encoding/json omits it when empty: %s", s, has0, has1, b)
		}
	}
}

// TestShortLabelsOfChoices: the quick replies of a flow choice carry its
// short label in the session's language, and typing the short label
// picks the choice.
func TestShortLabelsOfChoices(t *testing.T) {
	for _, tt := range []struct {
		lang, short, label string
	}{{"ko", "금전 피해 없음", "금전 피해 없음 (문의·의견·항의·격려)"}, {"en", "No money lost", "No financial loss (question, feedback, complaint, encouragement)"}} {
		t.Run(tt.lang, func(t *testing.T) {
			c := newChat(t, tt.lang).choose("yes").choose("general").choose("messenger").want("damage_type")
			var found bool
			for _, ch := range c.r.Choices {
				if ch.Value == "non_monetary" {
					found = ch.Short == tt.short && ch.Label == tt.label
				}
				if ch.Value == "back" && ch.Short != "" {
					t.Errorf("back has a short label %q", ch.Short)
				}
			}
			if !found {
				t.Fatalf("want non_monetary with short %q and label %q; got %+v", tt.short, tt.label, c.r.Choices)
			}
			if b := string(c.r.AppendJSON(nil)); !strings.Contains(b, `"short":"`+tt.short+`"`) {
				t.Errorf("the reply frame lacks the short label: %s", b)
			}
			c.text(tt.short).want("inquiry_type")
		})
	}
}
