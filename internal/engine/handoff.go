package engine

import (
	"errors"
	"maps"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/validate"
)

// HandoffState is the state a reply names while the bot asks for a phone
// number for a call back: a frame answering it says so, and no flow may
// name a state of its own so.
const HandoffState = "handoff"

// ConsentKey is the answer that must be true before a handoff takes any
// personal data (CONTRACT §4).
const ConsentKey = "privacy_consent"

// PhoneKey is the answer a handoff's call back uses when the user gave it.
const PhoneKey = "phone"

// handoff answers the handoff command. Before consent (or in a
// conversation that is over) it only says how to reach the customer
// centre; after it, it asks for a phone number for the call back unless
// the answers hold one, and then requests the call. The conversation stays
// where it was.
func (t *turn) handoff() {
	s := t.s
	if t.f.Handoff.Off {
		// The flow has none: as any command the bot does not know.
		t.showCurrent()
		t.reply.Invalid = true
		return
	}
	st := t.f.States[s.State]
	if s.Done || st == nil || !st.Waits() || s.Answers[ConsentKey] != true {
		r := t.current()
		r.Messages = append([]string{t.handoffText(t.f.Handoff.Centre, "bot.handoff.centre", nil)}, r.Messages...)
		t.reply = r
		return
	}
	if phone, ok := s.Answers[PhoneKey].(string); ok && phone != "" {
		t.request(phone)
		return
	}
	s.Handoff = s.State
	t.reply = t.askPhone()
}

// askPhone is the call-back question; back returns to where the user asked.
func (t *turn) askPhone() Reply {
	return Reply{Type: "reply", State: HandoffState, Input: flow.InputPhone.Wire(),
		Messages: []string{t.handoffText(t.f.Handoff.Phone, "bot.handoff.phone", nil)},
		Choices:  []Choice{{Value: flow.ValueBack, Label: t.text("bot.choice.back", nil)}}}
}

// callBack takes the answer to the call-back question.
func (t *turn) callBack(in *Input) {
	code := ""
	if in.Kind == Text {
		phone, err := validate.Phone(in.Text)
		if err == nil {
			t.request(phone)
			return
		}
		var ve *validate.Error
		if errors.As(err, &ve) {
			code = ve.Code
		}
	}
	msg := t.refusal(&flow.State{ID: HandoffState, Ask: flow.InputPhone}, code)
	t.reply = t.askPhone()
	t.reply.Invalid = true
	t.reply.Messages = append([]string{msg}, t.reply.Messages...)
}

// request makes the handoff.requested event and goes on where the user
// asked.
func (t *turn) request(phone string) {
	s := t.s
	s.Handoff = ""
	t.hand = &Handoff{ID: t.env.ClaimID(), User: s.User, Lang: s.Lang, Flow: t.f.ID, Version: t.f.Version,
		State: s.State, Answers: maps.Clone(s.Answers), Phone: phone,
		RequestedAt: t.env.Now.UTC().Truncate(time.Second)}
	r := t.current()
	data := map[string]any{"phone": phone}
	r.Messages = append([]string{t.handoffText(t.f.Handoff.Requested, "bot.handoff.requested", data)}, r.Messages...)
	t.reply = r
}

// handoffText is the flow's own handoff text when it has one, else the
// bot's.
func (t *turn) handoffText(own *flow.Text, id string, data any) string {
	if own != nil {
		return t.say(*own, data)
	}
	return t.text(id, data)
}
