package engine_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
)

// handoffs steps and returns the handoff the step requested, if any.
func (c *chat) handoff(in engine.Input) *engine.Handoff {
	c.t.Helper()
	c.n++
	res, err := c.e.Step(c.s, in, engine.Env{Now: c.now, ClaimID: func() string { return "H000-TEST" }})
	if err != nil {
		c.t.Fatalf("step %d: %v", c.n, err)
	}
	if res.Session != nil {
		c.s = res.Session
	}
	c.r = res.Reply
	if res.Claim != nil {
		c.t.Fatalf("step %d filed a claim", c.n)
	}
	return res.Handoff
}

func TestHandoffBeforeConsent(t *testing.T) {
	for _, in := range []engine.Input{
		{Kind: engine.Command, Text: "handoff"},
		{Kind: engine.Choose, Text: "handoff"},
		{Kind: engine.Text, Text: "상담원"},
		{Kind: engine.Text, Text: "상담원 연결"},
	} {
		c := newChat(t, "ko").want("privacy_consent")
		if h := c.handoff(in); h != nil {
			t.Fatalf("%+v: a handoff before consent: %+v", in, h)
		}
		c.want("privacy_consent").says("고객센터")
		if c.s.Handoff != "" {
			t.Fatalf("%+v: waits for a phone before consent", in)
		}
		c.choose("yes").want("reporter_type")
	}
}

func TestHandoffAfterConsent(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").choose("small_business").want("service")
	if h := c.handoff(engine.Input{Kind: engine.Text, Text: "상담원 연결"}); h != nil {
		t.Fatalf("a handoff before the phone: %+v", h)
	}
	if c.r.State != engine.HandoffState || c.r.Input != "phone" {
		t.Fatalf("want the call-back question, got %+v", c.r)
	}
	// An answer to another question is not taken for the phone.
	if h := c.handoff(engine.Input{Kind: engine.Choose, Text: "taxi", State: "service"}); h != nil || c.r.State != engine.HandoffState {
		t.Fatalf("a stale frame was applied: %+v %+v", h, c.r)
	}
	if h := c.handoff(engine.Input{Kind: engine.Text, Text: "12345"}); h != nil || !c.r.Invalid || c.r.State != engine.HandoffState {
		t.Fatalf("a bad phone was taken: %+v %+v", h, c.r)
	}
	h := c.handoff(engine.Input{Kind: engine.Text, Text: "010 5555 1234", State: engine.HandoffState})
	if h == nil {
		t.Fatalf("no handoff: %+v", c.r)
	}
	if h.ID != "H000-TEST" || h.State != "service" || h.Phone != "010-5555-1234" || h.User != "u-1" || h.Lang != "ko" ||
		h.Flow != "damage-1015" || h.Version == "" || h.Answers["reporter_type"] != "small_business" || h.Answers["privacy_consent"] != true {
		t.Fatalf("handoff %+v", h)
	}
	c.want("service").says("010-5555-1234")
	// And the claim goes on.
	c.fill(with(map[string]string{"service": "taxi", "damage_type": "free_monetary", "business_name": "가게",
		"business_number": "220-81-62517", "loss_amount": "25만원"}))
	c.choose("submit")
	if len(c.claims) != 1 || !c.r.Done || c.r.ClaimID == "" {
		t.Fatalf("not filed: %+v", c.r)
	}
}

func TestHandoffUsesTheGivenPhone(t *testing.T) {
	c := newChat(t, "en")
	c.fill(with(nil, "reporter_type", "general", "service", "taxi", "damage_type", "free_monetary", "loss_amount", "25000"))
	h := c.handoff(engine.Input{Kind: engine.Text, Text: "agent"})
	if h == nil || h.Phone != "010-5555-1234" || h.State != "summary" || h.Lang != "en" {
		t.Fatalf("handoff %+v, reply %+v", h, c.r)
	}
	c.want("summary").says("within one business day")
}

func TestHandoffBackAndRestart(t *testing.T) {
	c := newChat(t, "en")
	c.choose("yes").want("reporter_type")
	c.text("human")
	if c.r.State != engine.HandoffState {
		t.Fatalf("want the call-back question, got %+v", c.r)
	}
	c.cmd("back").want("reporter_type")
	c.cmd("handoff")
	c.cmd("restart").want("privacy_consent")
	if c.s.Handoff != "" {
		t.Fatal("restart kept the handoff")
	}
}

// A flow may turn the handoff off, or say it in its own words.
func TestHandoffFlowSettings(t *testing.T) {
	src, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(section string) *engine.Engine {
		return engineOf(t, "damage-1015.yaml", bytes.Replace(src, []byte("\nstates:\n"), []byte("\n"+section+"states:\n"), 1))
	}
	off := edit("handoff:\n  off: true\n")
	c := &chat{t: t, e: off, s: engine.NewSession("u-1", "damage-1015", "ko"), now: duringIntake}
	c.step(engine.Input{Kind: engine.Resume})
	c.choose("yes")
	if h := c.handoff(engine.Input{Kind: engine.Command, Text: "handoff"}); h != nil || !c.r.Invalid || c.r.Field != "reporter_type" {
		t.Fatalf("handoff off: %+v %+v", h, c.r)
	}
	own := edit("handoff:\n  centre: 센터 02-000-0000\n  phone: 번호를 주세요\n  requested: \"{{.phone}} 로 곧 전화\"\n")
	c = &chat{t: t, e: own, s: engine.NewSession("u-1", "damage-1015", "ko"), now: duringIntake}
	c.step(engine.Input{Kind: engine.Resume})
	c.handoff(engine.Input{Kind: engine.Text, Text: "상담원"})
	c.says("센터 02-000-0000")
	c.choose("yes")
	c.handoff(engine.Input{Kind: engine.Text, Text: "상담원"})
	c.says("번호를 주세요")
	if h := c.handoff(engine.Input{Kind: engine.Text, Text: "01012345678"}); h == nil {
		t.Fatal("no handoff")
	}
	c.says("010-1234-5678 로 곧 전화")
	if _, ps := flow.Parse("damage-1015.yaml", bytes.Replace(src, []byte("\nstates:\n"), []byte("\nhandoff:\n  requested: \"{{.email}}\"\nstates:\n  handoff:\n    say: x\n"), 1)); len(ps.Errors()) < 2 {
		t.Errorf("want errors for {{.email}} and a state named handoff, got %v", ps.Errors())
	}
}
