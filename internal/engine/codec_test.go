package engine_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
)

var tricky = []string{"", "plain", "한글 NFC", "quote \" back \\ slash", "new\nline\ttab\r", "\x00\x01\x1f", "bad \xff utf8", "\u2028\u2029", "<img src=x onerror=alert(1)>", "emoji 🙂"}

func TestReplyAppendJSON(t *testing.T) {
	for _, s := range tricky {
		r := engine.Reply{Type: "reply", State: "s_" + s, Field: s, Input: "text", Messages: []string{s, "x"},
			Choices: []engine.Choice{{Value: "v", Label: s}}, Invalid: true, ClaimID: s}
		var got engine.Reply
		if err := json.Unmarshal(r.AppendJSON(nil), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := r
		var viaStd engine.Reply
		std, _ := json.Marshal(r)
		json.Unmarshal(std, &viaStd)
		if !reflect.DeepEqual(got, viaStd) {
			t.Errorf("%q: got %+v, encoding/json gives %+v", s, got, viaStd)
		}
		_ = want
	}
}

func TestSessionAppendJSON(t *testing.T) {
	for _, s := range tricky {
		in := &engine.Session{Epoch: "e-" + s, User: s, Flow: "damage-1015", Version: "abc", Lang: "ko", State: "x",
			Answers: map[string]any{"title": s, "loss_amount": int64(10000000000), "still_file": false},
			History: []string{"a", s}, Skipped: []string{"b"}, Refused: 2, Done: true, ClaimID: "7K3M-Q9XD", Filed: 1,
			Applied: []string{s}, Updated: time.Date(2022, 10, 19, 6, 12, 40, 123, time.UTC)}
		var got, viaStd engine.Session
		if err := json.Unmarshal(in.AppendJSON(nil), &got); err != nil {
			t.Fatalf("%q: %v\n%s", s, err, in.AppendJSON(nil))
		}
		std, _ := json.Marshal(in)
		json.Unmarshal(std, &viaStd)
		if !reflect.DeepEqual(got, viaStd) {
			t.Errorf("%q: got %+v, encoding/json gives %+v", s, got, viaStd)
		}
	}
}
