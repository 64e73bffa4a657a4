package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/webhook"
)

func (e *env) dialLang(user, lang string) *client {
	e.t.Helper()
	tok, err := token.Mint([]byte(bannerSecret), user, "", lang, time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return dialURL(e.t, "ws://"+e.run.Addr+"/ws?t="+tok, nil)
}

// Before consent a handoff only says how to reach the customer centre: no
// phone asked, no event, the consent question stays.
func TestHandoffBeforeConsentOverWebSocket(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-handoff-early")
	for _, f := range []map[string]any{
		{"type": "command", "name": "handoff"},
		{"type": "choice", "value": "handoff"},
		{"type": "text", "text": "상담원 연결"},
	} {
		r := c.sendFrame(f)
		if r.Type != "reply" || r.Invalid || r.State != "privacy_consent" || r.Input == "phone" || !contains(r.Messages, "고객센터") {
			t.Fatalf("%v: %+v", f, r)
		}
	}
	if r := c.choose("yes"); r.Field != "reporter_type" {
		t.Fatalf("consent after the handoff: %+v", r)
	}
	c.toSummaryFromReporter()
	if r := c.choose("submit"); !r.Done {
		t.Fatalf("submit: %+v", r)
	}
	acc := e.recv.WaitAccepted(t, 1, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if n := len(e.recv.Attempts()); n != 1 {
		t.Fatalf("%d deliveries, want the claim alone", n)
	}
	if strings.Contains(string(acc[0].Body), webhook.EventHandoffRequested) {
		t.Fatalf("delivered %s", acc[0].Body)
	}
	// The series exist from the start, at zero; none may have counted.
	_, body := httpGet(t, e.run.URL()+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "claimbot_handoffs_total{") && !strings.HasSuffix(line, " 0") {
			t.Errorf("/metrics counts a handoff: %s", line)
		}
	}
}

func (c *client) toSummaryFromReporter() {
	c.t.Helper()
	for _, step := range [][2]string{{"choice", "general"}, {"choice", "pay"}, {"choice", "paid"},
		{"text", "me@example.com"}, {"text", "010 1234 5678"}, {"text", "title"}, {"text", "결제가 두 번 되었습니다."}} {
		var r reply
		if step[0] == "choice" {
			r = c.choose(step[1])
		} else {
			r = c.text(step[1])
		}
		if r.Type != "reply" || r.Invalid {
			c.t.Fatalf("%v: %+v", step, r)
		}
	}
}

// After consent, in English: the bot asks for a phone number, posts a
// signed, schema-valid handoff.requested with the state, the answers so
// far and the normalised phone, and the claim is still filed.
func TestHandoffAfterConsentOverWebSocket(t *testing.T) {
	e := startEnv(t)
	c := e.dialLang("user-handoff", "en")
	c.choose("yes")
	c.choose("small_business")
	if r := c.text("agent"); r.State != "handoff" || r.Input != "phone" || r.Invalid || !contains(r.Messages, "phone number") {
		t.Fatalf("handoff: %+v", r)
	}
	if r := c.text("12"); !r.Invalid || r.State != "handoff" {
		t.Fatalf("bad phone: %+v", r)
	}
	r := c.text("02 123 4567")
	if r.Invalid || r.Field != "service" || !contains(r.Messages, "02-123-4567") || !contains(r.Messages, "within one business day") {
		t.Fatalf("phone: %+v", r)
	}
	acc := e.recv.WaitAccepted(t, 1, 10*time.Second)
	a := acc[0]
	if a.Problem != "" {
		t.Fatalf("receiver: %s", a.Problem)
	}
	if err := webhook.ValidateBody(a.Body); err != nil {
		t.Fatal(err)
	}
	var ev webhook.HandoffEvent
	if err := json.Unmarshal(a.Body, &ev); err != nil {
		t.Fatal(err)
	}
	d := ev.Data
	if ev.Type != "handoff.requested" || d.UserID != "user-handoff" || d.Locale != "en" || d.State != "service" ||
		d.Phone != "02-123-4567" || d.Answers["privacy_consent"] != true || d.Answers["reporter_type"] != "small_business" ||
		d.Flow.ID != "damage-1015" || d.Flow.Version == "" || a.ID != webhook.MessageID(d.HandoffID) {
		t.Fatalf("delivered %s (webhook-id %s)", a.Body, a.ID)
	}
	_, body := httpGet(t, e.run.URL()+"/metrics")
	if want := `claimbot_handoffs_total{flow="damage-1015",state="service"} 1`; !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	// The conversation carries on to a filed claim.
	for _, step := range [][2]string{{"choice", "taxi"}, {"choice", "free_monetary"}, {"text", "Corner Shop"},
		{"text", "220-81-62517"}, {"text", "250000"}, {"text", "me@example.com"}, {"text", "010 1234 5678"},
		{"text", "title"}, {"text", "no calls came"}} {
		var r reply
		if step[0] == "choice" {
			r = c.choose(step[1])
		} else {
			r = c.text(step[1])
		}
		if r.Type != "reply" || r.Invalid {
			t.Fatalf("%v: %+v", step, r)
		}
	}
	if c.last.State != "summary" {
		t.Fatalf("not at the summary: %+v", c.last)
	}
	done := c.choose("submit")
	if !done.Done || done.ClaimID == "" {
		t.Fatalf("submit: %+v", done)
	}
	acc = e.recv.WaitAccepted(t, 2, 10*time.Second)
	if acc[1].ID != webhook.MessageID(done.ClaimID) || acc[1].ID == a.ID {
		t.Errorf("claim delivered as %s after handoff %s", acc[1].ID, a.ID)
	}
}
