package webhook

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func handoffBody(t testing.TB, edit func(env, data map[string]any)) []byte {
	t.Helper()
	ev := NewHandoffEvent(Handoff{HandoffID: "H4KQ-7P2M", UserID: "kakao:abc", Locale: "en",
		Flow: Flow{ID: "damage-1015", Version: "v1"}, State: "loss_amount",
		Answers: map[string]any{"privacy_consent": true, "reporter_type": "small_business"},
		Phone:   "010-5555-1234"}, time.Date(2022, 10, 19, 6, 12, 40, 500, time.FixedZone("KST", 9*3600)))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	edit(env, env["data"].(map[string]any))
	b, err = json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateHandoffBody(t *testing.T) {
	tests := []struct {
		name string
		edit func(env, data map[string]any)
		want string // "" for valid
	}{
		{name: "valid"},
		{name: "without phone", edit: func(_, d map[string]any) { delete(d, "phone") }},
		{name: "no answers yet", edit: func(_, d map[string]any) { d["answers"] = map[string]any{} }},
		{name: "phone not normalised", edit: func(_, d map[string]any) { d["phone"] = "01055551234" }, want: "/data/phone"},
		{name: "missing state", edit: func(_, d map[string]any) { delete(d, "state") }, want: "state"},
		{name: "missing handoff_id", edit: func(_, d map[string]any) { delete(d, "handoff_id") }, want: "handoff_id"},
		{name: "claim_id instead", edit: func(_, d map[string]any) { d["claim_id"] = d["handoff_id"] }, want: "claim_id"},
		{name: "bad answer", edit: func(_, d map[string]any) { d["answers"].(map[string]any)["loss_amount"] = "many" }, want: "/data/answers/loss_amount"},
		{name: "timestamp with offset", edit: func(e, _ map[string]any) { e["timestamp"] = "2022-10-19T15:12:40+09:00" }, want: "/timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBody(handoffBody(t, tt.edit))
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidateBody = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), HandoffSchemaPath) {
				t.Errorf("ValidateBody = %v, want an error about %s from %s", err, tt.want, HandoffSchemaPath)
			}
		})
	}
	if b := handoffBody(t, nil); !strings.Contains(string(b), `"timestamp":"2022-10-18T21:12:40Z"`) {
		t.Errorf("timestamp not UTC whole seconds: %s", b)
	}
}

func TestDevReceiverTakesHandoff(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	d := NewDevReceiver(s, nil)
	rec := deliver(t, d, s, "msg_H4KQ-7P2M", handoffBody(t, nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	got := d.Claims()
	if len(got) != 1 || got[0].Type != EventHandoffRequested || got[0].Data.ClaimID != "H4KQ-7P2M" {
		t.Fatalf("stored %+v", got)
	}
}
