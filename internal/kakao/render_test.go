package kakao_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/kakao"
)

func loadEngine(t testing.TB) *engine.Engine {
	t.Helper()
	eng, ps, err := engine.Load("../../flows", "../../locales", nil)
	if err != nil {
		t.Fatal(err, ps.Errors())
	}
	return eng
}

// env is a step's environment during the default flow's intake.
var env = engine.Env{Now: time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC), ClaimID: func() string { return "K7QX-3M9P" }}

func textsOf(e *engine.Engine, lang string) kakao.Texts {
	return func(id string) string { return e.Catalog().Text(lang, id, nil) }
}

// checkLimits checks a response against the builder's limits, and that
// every choice of the reply can be given: as a quick reply, or by number.
func checkLimits(t *testing.T, r engine.Reply, resp kakao.Response, text kakao.Texts) {
	t.Helper()
	tpl := resp.Template
	if resp.Version != "2.0" || len(tpl.Outputs) < 1 || len(tpl.Outputs) > kakao.MaxOutputs {
		t.Fatalf("state %s: version %q, %d outputs", r.State, resp.Version, len(tpl.Outputs))
	}
	for _, o := range tpl.Outputs {
		if n := utf8.RuneCountInString(o.SimpleText.Text); n == 0 || n > kakao.MaxText {
			t.Errorf("state %s: a text of %d characters", r.State, n)
		}
	}
	if len(tpl.QuickReplies) > kakao.MaxQuickReplies {
		t.Errorf("state %s: %d quick replies", r.State, len(tpl.QuickReplies))
	}
	offered := map[string]bool{}
	for _, q := range tpl.QuickReplies {
		if n := utf8.RuneCountInString(q.Label); n == 0 || n > kakao.MaxLabel || q.Action != "message" || q.MessageText == "" || q.Extra["value"] == "" {
			t.Errorf("state %s: quick reply %+v", r.State, q)
		}
		offered[q.Extra["value"]] = true
	}
	numbered := map[string]bool{}
	for _, c := range kakao.Numbered(r, text) {
		numbered[c.Value] = true
	}
	for _, c := range r.Choices {
		if !offered[c.Value] && !numbered[c.Value] {
			t.Errorf("state %s: choice %s can be given neither by quick reply nor by number", r.State, c.Value)
		}
	}
	if len(numbered) > 0 {
		all := ""
		for _, o := range tpl.Outputs {
			all += o.SimpleText.Text + "\n"
		}
		for i, c := range kakao.Numbered(r, text) {
			if !strings.Contains(all, c.Label) || !strings.Contains(all, itoa(i+1)+". ") {
				t.Errorf("state %s: numbered text lacks %d. %s", r.State, i+1, c.Label)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Every state of damage-1015, in both languages, within the builder's
// limits: each waiting state asked (the summary with answers at their
// longest), the call-back question, and every end.
func TestRenderEveryStateWithinLimits(t *testing.T) {
	e := loadEngine(t)
	f := e.Flow("damage-1015")
	long := map[string]any{"privacy_consent": true, "reporter_type": "small_business", "service": "shopping",
		"damage_type": "paid", "still_file": true, "business_name": strings.Repeat("가", 100),
		"business_number": "220-81-62517", "loss_amount": int64(10000000000), "support_tier": "evidence_review",
		"email": strings.Repeat("a", 60) + "@example.com", "phone": "010-1234-5678", "title": strings.Repeat("제", 100),
		"content": strings.Repeat("내용이 깁니다. ", 250)[:2000], "evidence": "later"}
	var history []string
	for _, id := range f.Order {
		if st := f.States[id]; st.Waits() && st.Ask != flow.InputSummary {
			history = append(history, id)
		}
	}
	for _, lang := range []string{"ko", "en"} {
		text := textsOf(e, lang)
		n := 0
		for _, id := range f.Order {
			st := f.States[id]
			s := engine.NewSession("kakao:u", f.ID, lang)
			s.Version, s.State, s.Answers, s.History = f.Version, id, long, history
			switch {
			case st.Terminal():
				s.Done = true
				if st.Submit {
					s.ClaimID = "K7QX-3M9P"
				}
			case !st.Waits():
				continue
			}
			res, err := e.Step(s, engine.Input{Kind: engine.Resume}, env)
			if err != nil {
				t.Fatal(err)
			}
			checkLimits(t, res.Reply, kakao.Render(res.Reply, text), text)
			n++
		}
		s := engine.NewSession("kakao:u", f.ID, lang)
		s.Version, s.State, s.Answers, s.Handoff = f.Version, "service", long, "service"
		res, _ := e.Step(s, engine.Input{Kind: engine.Resume}, env)
		if res.Reply.State != engine.HandoffState {
			t.Fatalf("call-back question: %+v", res.Reply)
		}
		checkLimits(t, res.Reply, kakao.Render(res.Reply, text), text)
		if n < 15 {
			t.Fatalf("%s: only %d states rendered", lang, n)
		}
	}
}

// The eleven services do not fit as quick replies: they are numbered, the
// commands stay buttons, and a typed number picks.
func TestRenderNumbersTheServices(t *testing.T) {
	e := loadEngine(t)
	text := textsOf(e, "ko")
	s := engine.NewSession("kakao:u", "damage-1015", "ko")
	res, _ := e.Step(s, engine.Input{Kind: engine.Resume}, env)
	res, _ = e.Step(res.Session, engine.Input{Kind: engine.Choose, Text: "yes"}, env)
	res, _ = e.Step(res.Session, engine.Input{Kind: engine.Choose, Text: "general"}, env)
	r := res.Reply
	if r.Field != "service" || len(r.Choices) < 12 {
		t.Fatalf("want the service question with its 11 choices and back, got %+v", r)
	}
	resp := kakao.Render(r, text)
	list := kakao.Numbered(r, text)
	if len(list) != 11 {
		t.Fatalf("numbered %d choices, want 11", len(list))
	}
	var values []string
	for _, q := range resp.Template.QuickReplies {
		values = append(values, q.Extra["value"])
	}
	if strings.Join(values, ",") != "messenger,mail,taxi,pay,webtoon,music,emoticon,gift,back,handoff" {
		t.Errorf("quick replies %v, want the first eight services, back and handoff", values)
	}
	if l := resp.Template.QuickReplies[3].Label; l != "4. 페이·결제" {
		t.Errorf("fourth quick reply labelled %q", l)
	}
	all := resp.Template.Outputs[len(resp.Template.Outputs)-1].SimpleText.Text
	if !strings.Contains(all, "번호를 입력해") {
		t.Errorf("no hint to type a number: %q", all)
	}
	checkLimits(t, r, resp, text)
}

// Texts longer than a bubble are split; more bubbles than three are joined
// and, past 3,000 characters, cut.
func TestRenderSplitsAndJoins(t *testing.T) {
	e := loadEngine(t)
	text := textsOf(e, "en")
	for _, msgs := range [][]string{
		{strings.Repeat("a", 2500)},
		{"one", "two", "three", "four", "five"},
		{strings.Repeat("b", 999), strings.Repeat("c", 999), strings.Repeat("d", 999), strings.Repeat("e", 999)},
		{strings.Repeat("가나다\n", 1000)},
	} {
		r := engine.Reply{Type: "reply", State: "title", Field: "title", Input: "text", Messages: msgs}
		resp := kakao.Render(r, text)
		checkLimits(t, r, resp, text)
	}
	r := engine.Reply{Type: "reply", State: "s", Input: "text", Messages: []string{"one", "two", "three", "four"}}
	if out := kakao.Render(r, text).Template.Outputs; len(out) != 1 || out[0].SimpleText.Text != "one\n\ntwo\n\nthree\n\nfour" {
		t.Errorf("four short messages: %+v", out)
	}
}

// A flow without handoff offers no handoff button.
func TestRenderWithoutHandoff(t *testing.T) {
	e := loadEngine(t)
	text := textsOf(e, "ko")
	r := engine.Reply{Type: "reply", State: "reporter_type", Field: "reporter_type", Input: "choice", Messages: []string{"?"},
		Choices: []engine.Choice{{Value: "general", Label: "일반"}}}
	has := func(resp kakao.Response) bool {
		for _, q := range resp.Template.QuickReplies {
			if q.Extra["value"] == "handoff" {
				return true
			}
		}
		return false
	}
	if !has(kakao.Render(r, text)) {
		t.Error("no handoff button")
	}
	off := func(id string) string {
		if id == "bot.choice.handoff" {
			return ""
		}
		return text(id)
	}
	if has(kakao.Render(r, off)) {
		t.Error("a handoff button for a flow without handoff")
	}
}

// The commands come as quick replies where they fit: back, handoff and
// start over beside a short list of choices.
func TestRenderCommands(t *testing.T) {
	e := loadEngine(t)
	text := textsOf(e, "en")
	r := engine.Reply{Type: "reply", State: "reporter_type", Field: "reporter_type", Input: "choice", Messages: []string{"?"},
		Choices: []engine.Choice{{Value: "general", Label: "General"}, {Value: "back", Label: "Back"}}}
	var got []string
	for _, q := range kakao.Render(r, text).Template.QuickReplies {
		got = append(got, q.Extra["value"]+"="+q.Label)
	}
	if strings.Join(got, ",") != "general=General,back=Back,handoff=Talk to agent,restart=Start over" {
		t.Errorf("quick replies %v", got)
	}
	done := engine.Reply{Type: "reply", State: "submit", Input: "none", Messages: []string{"filed"}, Done: true,
		Choices: []engine.Choice{{Value: "restart", Label: "Start over"}}}
	got = nil
	for _, q := range kakao.Render(done, text).Template.QuickReplies {
		got = append(got, q.Extra["value"])
	}
	if strings.Join(got, ",") != "restart" {
		t.Errorf("done: quick replies %v", got)
	}
}
