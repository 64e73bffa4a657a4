// Package kakao is the messenger's chatbot-builder channel (CONTRACT §8):
// the Kakao i Open Builder skill endpoint. Like the WebSocket's read pump
// it is an adapter around the engine's step: the builder's skill request
// in, one turn through the session store, the engine's reply out as a
// skill response (version 2.0) within the builder's limits.
package kakao

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
)

// The builder's limits on a skill response.
const (
	MaxOutputs      = 3    // simpleText components
	MaxText         = 1000 // characters of one simpleText
	MaxQuickReplies = 10
	MaxLabel        = 14 // characters of a quick reply's label
)

// Response is a skill response.
type Response struct {
	Version  string   `json:"version"`
	Template Template `json:"template"`
	// Data is the skill response's custom data: the reply as the web chat
	// gets it, less its messages, for builder blocks that want it and for
	// scripted conversations run through the endpoint (claimbot test
	// --kakao). The messenger shows none of it.
	Data *Data `json:"data,omitempty"`
}

// Data is the engine's reply without its messages.
type Data struct {
	State   string          `json:"state"`
	Field   string          `json:"field"`
	Input   string          `json:"input"`
	Choices []engine.Choice `json:"choices"`
	Invalid bool            `json:"invalid"`
	Done    bool            `json:"done"`
	ClaimID string          `json:"claim_id,omitempty"`
	// Link is a files question's link to the web chat page on the same
	// session (the last bubble shows it too).
	Link string `json:"link,omitempty"`
}

// Template holds what the builder shows.
type Template struct {
	Outputs      []Output     `json:"outputs"`
	QuickReplies []QuickReply `json:"quickReplies,omitempty"`
}

// Output is one speech bubble; claimbot sends text only.
type Output struct {
	SimpleText SimpleText `json:"simpleText"`
}

// SimpleText is a text bubble.
type SimpleText struct {
	Text string `json:"text"`
}

// QuickReply is a button under the bubbles. A tap sends messageText as the
// user's utterance and extra as action.clientExtra: value is the choice,
// state the question it answers.
type QuickReply struct {
	Action      string            `json:"action"`
	Label       string            `json:"label"`
	MessageText string            `json:"messageText"`
	Extra       map[string]string `json:"extra"`
}

// Texts gives the bot's texts in the conversation's language; the label
// bot.choice.handoff is empty when the flow has turned the handoff off.
type Texts func(id string) string

// Render turns an engine reply into a skill response within the builder's
// limits. Choices that do not all fit as quick replies (more than there is
// room for, or a label too long: a choice's short label counts where the
// flow gives one) are listed as numbered text, and typed numbers pick them
// (see Numbered); commands (back, handoff wherever a question waits, and
// restart where it fits) come as quick replies.
func Render(r engine.Reply, text Texts) Response { return RenderLink(r, text, "") }

// RenderLink is Render with the link that a files question, which the
// channel cannot take, offers: the web chat page on the same session
// (see Handler.link). Its own last bubble says so, above the link, which
// is never cut short; with no link ("": dev mode) it says that none can
// be made. The files question's own choices (later, when offered) stay
// quick replies.
func RenderLink(r engine.Reply, text Texts, link string) Response {
	own, cmds := split(r, text)
	msgs := append([]string(nil), r.Messages...)
	var qr []QuickReply
	if fits(own, cmds) {
		for _, c := range own {
			qr = append(qr, quick(label(c), c.Value, r.State))
		}
	} else {
		var b strings.Builder
		for i, c := range own {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(strconv.Itoa(i+1) + ". " + c.Label)
		}
		b.WriteString("\n\n" + text("bot.kakao.pick"))
		msgs = append(msgs, b.String())
		// As many as there is room for beside the commands also come as
		// buttons, numbered as in the list.
		for i, c := range own[:min(len(own), MaxQuickReplies-min(len(cmds), MaxQuickReplies))] {
			qr = append(qr, quick(strconv.Itoa(i+1)+". "+label(c), c.Value, r.State))
		}
	}
	for _, c := range cmds {
		if len(qr) < MaxQuickReplies {
			qr = append(qr, quick(label(c), c.Value, r.State))
		}
	}
	data := &Data{State: r.State, Field: r.Field, Input: r.Input, Choices: r.Choices, Invalid: r.Invalid, Done: r.Done, ClaimID: r.ClaimID}
	var out []Output
	if r.Input == flow.InputFiles.Wire() {
		var last string
		if link != "" {
			last, data.Link = text("bot.kakao.files_link")+"\n"+link, link
		} else {
			last = text("bot.kakao.files_nolink")
		}
		out = append(packed(msgs, MaxOutputs-1), Output{SimpleText: SimpleText{Text: cut(last, MaxText)}})
	} else {
		out = outputs(msgs)
	}
	return Response{Version: "2.0", Template: Template{Outputs: out, QuickReplies: qr}, Data: data}
}

// label is a choice's label on a quick reply: its short label, when the
// flow gives it one.
func label(c engine.Choice) string {
	if c.Short != "" {
		return c.Short
	}
	return c.Label
}

// Numbered returns the choices a reply lists as numbered text, in order;
// nil when its choices are quick replies.
func Numbered(r engine.Reply, text Texts) []engine.Choice {
	own, cmds := split(r, text)
	if fits(own, cmds) {
		return nil
	}
	return own
}

// handoffChoice is the quick reply that asks for a person, offered
// wherever a question waits.
func handoffChoice(r engine.Reply, text Texts) (engine.Choice, bool) {
	if r.Done || r.State == engine.HandoffState || r.Input == flow.InputNone.Wire() {
		return engine.Choice{}, false
	}
	label := text("bot.choice.handoff")
	if label == "" {
		return engine.Choice{}, false // the flow has no handoff
	}
	return engine.Choice{Value: flow.ValueHandoff, Label: label}, true
}

// split separates a reply's own choices from its commands, handoff
// included where it applies.
func split(r engine.Reply, text Texts) (own, cmds []engine.Choice) {
	for _, c := range r.Choices {
		if c.Value == flow.ValueBack || c.Value == flow.ValueRestart || c.Value == flow.ValueHandoff {
			cmds = append(cmds, c)
		} else {
			own = append(own, c)
		}
	}
	if h, ok := handoffChoice(r, text); ok {
		cmds = append(cmds, h)
	}
	// Start over, too, where a question waits and everything fits.
	if !r.Done && r.Input != flow.InputNone.Wire() && !hasValue(cmds, flow.ValueRestart) {
		restart := engine.Choice{Value: flow.ValueRestart, Label: text("bot.choice.restart")}
		if more := append(cmds[:len(cmds):len(cmds)], restart); fits(own, more) {
			cmds = more
		}
	}
	return own, cmds
}

func fits(own, cmds []engine.Choice) bool {
	if len(own)+len(cmds) > MaxQuickReplies {
		return false
	}
	for _, c := range own {
		if utf8.RuneCountInString(label(c)) > MaxLabel {
			return false
		}
	}
	return true
}

func quick(label, value, state string) QuickReply {
	label = cut(label, MaxLabel)
	return QuickReply{Action: "message", Label: label, MessageText: label, Extra: map[string]string{"value": value, "state": state}}
}

// outputs packs messages into at most MaxOutputs bubbles of at most
// MaxText characters: a long message is split (at a line break when there
// is one), several short ones are joined, and what still does not fit is
// cut short with an ellipsis.
func outputs(msgs []string) []Output {
	out := packed(msgs, MaxOutputs)
	if len(out) == 0 {
		out = []Output{{SimpleText: SimpleText{Text: "…"}}}
	}
	return out
}

// packed packs messages into at most n bubbles, as outputs does; none
// for no text.
func packed(msgs []string, n int) []Output {
	var parts []string
	for _, m := range msgs {
		if m = strings.TrimSpace(m); m != "" {
			parts = append(parts, chunks(m)...)
		}
	}
	if len(parts) > n {
		var joined []string
		for _, p := range parts {
			if n := len(joined); n > 0 && utf8.RuneCountInString(joined[n-1])+2+utf8.RuneCountInString(p) <= MaxText {
				joined[n-1] += "\n\n" + p
			} else {
				joined = append(joined, p)
			}
		}
		parts = joined
	}
	if len(parts) > n {
		last := strings.Join(parts[n-1:], "\n\n")
		parts = append(parts[:n-1], cut(last, MaxText))
	}
	out := make([]Output, len(parts))
	for i, p := range parts {
		out[i] = Output{SimpleText: SimpleText{Text: p}}
	}
	return out
}

// chunks splits a text into pieces of at most MaxText characters.
func chunks(s string) []string {
	var out []string
	for utf8.RuneCountInString(s) > MaxText {
		head := prefix(s, MaxText)
		if i := strings.LastIndexByte(head, '\n'); i > len(head)/2 {
			head = head[:i]
		}
		out = append(out, strings.TrimSpace(head))
		s = strings.TrimSpace(s[len(head):])
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// prefix is the first n characters of s.
func prefix(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// cut shortens s to n characters, the last an ellipsis when it was longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return prefix(s, n-1) + "…"
}

func hasValue(cs []engine.Choice, value string) bool {
	for _, c := range cs {
		if c.Value == value {
			return true
		}
	}
	return false
}
