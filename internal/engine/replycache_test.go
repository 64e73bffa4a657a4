package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

// cacheFlow has questions whose texts read the session (a say and a
// refusal that show an answer) beside ones that do not, a question with a
// refusal of its own that reads nothing, and a confirm with the default
// labels: the replies the plan may build once and the ones it may not.
const cacheFlow = `flow: cache
title: 캐시 시험
start: name

states:
  name:
    say: "이름을 알려 주세요."
    ask: text
    label: 이름
    min: 1
    max: 20
    invalid: "이름은 20자까지예요."
    next: kind

  kind:
    say: ["{{.name}}님, 종류를 골라 주세요.", "하나만 골라요."]
    ask: choice
    label: 종류
    choices:
      - {value: a, label: 가}
      - {value: b, label: 나}
    next: amount

  amount:
    say: "금액을 알려 주세요."
    ask: amount
    label: 금액
    min: 1
    max: 1000000
    invalid: "{{.name}}님, 금액을 숫자로 알려 주세요."
    next: email

  email:
    say: "메일 주소를 알려 주세요."
    ask: email
    label: 메일
    next: sure

  sure:
    ask: confirm
    label: 확인
    say: "이대로 접수할까요?"
    next:
      - if: sure
        to: summary
      - to: stop

  stop:
    say: "그만할게요."
    end: true

  summary:
    say: "확인해 주세요."
    ask: summary
    next: submit

  submit:
    say: "접수번호는 {{.claim_id}} 입니다."
    submit: true
`

// replyCacheEngines are pairs of engines over the same flows, the second
// of which builds every reply anew instead of sharing the plan's asked
// parts: the shipped flows, the engine's testdata flows, walkFlow and
// cacheFlow.
func replyCacheEngines(t *testing.T) (pairs [][2]*Engine) {
	t.Helper()
	for _, pair := range walkEngines(t) {
		fresh := New(pair[0].flows, pair[0].cat, nil)
		fresh.noReplyCache = true
		pairs = append(pairs, [2]*Engine{pair[0], fresh})
	}
	f, ps := flow.Parse("cache.yaml", []byte(cacheFlow))
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	flows := map[string]*flow.Flow{f.ID: f}
	cat, ps := locale.Load("../../locales", flows)
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	fresh := New(flows, cat, nil)
	fresh.noReplyCache = true
	return append(pairs, [2]*Engine{New(flows, cat, nil), fresh})
}

// TestReplyCacheInConversations drives random conversations over every
// flow, in Korean and in English, through an engine that shares the
// replies it can build once and one that builds every reply anew: every
// step gives the same result (session, reply, moves, claim alike) and the
// same reply bytes from AppendJSON; and the shared replies are used.
func TestReplyCacheInConversations(t *testing.T) {
	convs := 200
	if testing.Short() {
		convs = 40
	}
	shared := 0
	for i, pair := range replyCacheEngines(t) {
		cached, fresh := pair[0], pair[1]
		ids := make([]string, 0, len(cached.flows))
		for id := range cached.flows {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			for _, lang := range []string{"ko", "en"} {
				rng := rand.New(rand.NewPCG(uint64(i), uint64(len(id)+len(lang))))
				for n := range convs {
					shared += replyCacheConversation(t, rng, cached, fresh, id, lang, n)
				}
			}
		}
	}
	if shared < 1000 {
		t.Errorf("only %d replies shared the plan's parts", shared)
	}
	t.Logf("%d replies shared the plan's parts", shared)
}

// replyCacheConversation drives one random conversation through both
// engines, and returns how many of its replies were shared ones.
func replyCacheConversation(t *testing.T, rng *rand.Rand, cached, fresh *Engine, flowID, lang string, n int) (shared int) {
	t.Helper()
	f := cached.flows[flowID]
	now := time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)
	if f.Intake != nil && !f.Intake.Opens.IsZero() {
		now = f.Intake.Opens.Add(24 * time.Hour)
	}
	s := NewSession(fmt.Sprintf("u-%d", n), flowID, lang)
	var r Reply
	var ids, log []string
	for step := range 60 {
		in := walkInput(rng, f, s, r, ids)
		if rng.IntN(8) == 0 && len(r.Choices) > 0 {
			// A quick reply's label typed in another language, or a
			// refused answer to a quick-reply question.
			in.Kind, in.Text = Text, walkTexts[""][rng.IntN(len(walkTexts[""]))]
		}
		if in.ID != "" {
			ids = append(ids, in.ID)
		}
		log = append(log, fmt.Sprintf("%s %d %q %q", s.State, in.Kind, in.Text, in.State))
		env := func() Env {
			return Env{Now: now, ClaimID: func() string { return fmt.Sprintf("C%d-%d", n, step) }}
		}
		want, err := fresh.Step(s, in, env())
		if err != nil {
			t.Fatalf("%s #%d step %d: %v", flowID, n, step, err)
		}
		got, err := cached.Step(s, in, env())
		if err != nil {
			t.Fatalf("%s #%d step %d: %v", flowID, n, step, err)
		}
		if want.Reply.enc != nil {
			t.Fatalf("%s #%d step %d: the engine without the cache shared a reply", flowID, n, step)
		}
		gotJSON, wantJSON := got.Reply.AppendJSON(nil), want.Reply.AppendJSON(nil)
		if got.Reply.enc != nil {
			shared++
		}
		plain := got
		plain.Reply.enc = nil
		if !reflect.DeepEqual(plain, want) || !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("%s %s conversation %d step %d differs\ninputs:\n%s\ngot  %+v\n     %+v\n     %s\nwant %+v\n     %+v\n     %s",
				flowID, lang, n, step, strings.Join(log, "\n"), got, got.Session, gotJSON, want, want.Session, wantJSON)
		}
		if want.Session != nil {
			s = want.Session
		}
		r = got.Reply
	}
	return shared
}

// TestSharedReplyChanged: a shared reply that a caller changes (a message
// put before the others, a choice added, as refuse and the handoff do)
// is written as changed, and the plan's parts and the next reply that
// shares them stay as they were.
func TestSharedReplyChanged(t *testing.T) {
	e := replyCacheEngines(t)[0][0]
	s := NewSession("u-1", "damage-1015", "ko")
	res, err := e.Step(s, Input{Kind: Resume}, Env{Now: time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Reply
	if r.enc == nil {
		t.Fatalf("the first question's reply is not shared: %+v", r)
	}
	before := string(r.AppendJSON(nil))
	changed := r
	changed.Messages = append(changed.Messages, "덧붙임")
	changed.Choices = append(changed.Choices, Choice{Value: "more", Label: "더"})
	got := string(changed.AppendJSON(nil))
	plain := changed
	plain.enc = nil
	if want := string(plain.AppendJSON(nil)); got != want || !strings.Contains(got, "덧붙임") || !strings.Contains(got, `"more"`) {
		t.Errorf("a changed shared reply is written\n%s\nwant\n%s", got, want)
	}
	sub := r
	sub.Messages, sub.Choices = r.Messages[:len(r.Messages)-1], r.Choices[1:]
	plain = sub
	plain.enc = nil
	if got, want := string(sub.AppendJSON(nil)), string(plain.AppendJSON(nil)); got != want {
		t.Errorf("a shared reply with fewer messages and choices is written\n%s\nwant\n%s", got, want)
	}
	again, err := e.Step(s, Input{Kind: Resume}, Env{Now: time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(again.Reply.AppendJSON(nil)); got != before || again.Reply.enc != r.enc {
		t.Errorf("the next reply is\n%s\nwant the shared one\n%s", got, before)
	}
}

// TestPiecesChanged: the summary's and an end's quick replies are written
// from the plan's pieces only where a choice is the very one the plan
// wrote: a label or a value a caller changed, or a choice the plan does not
// know, is written as it is; and none when the caller took them all.
func TestPiecesChanged(t *testing.T) {
	e := replyCacheEngines(t)[0][0]
	env := Env{Now: time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC), ClaimID: func() string { return "C-1" }}
	s := NewSession("u-1", "damage-1015", "ko")
	answers := map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_number": "220-81-62517", "loss_amount": "25만원", "business_name": "행복분식",
		"email": "owner@example.com", "phone": "010-5555-1234", "title": "제목", "content": "내용"}
	in := Input{Kind: Resume}
	var summary, ended Reply
	for range 30 {
		res, err := e.Step(s, in, env)
		if err != nil {
			t.Fatal(err)
		}
		if res.Session != nil {
			s = res.Session
		}
		r := res.Reply
		switch {
		case r.Done:
			ended = r
		case r.State == "summary":
			summary, in = r, Input{Kind: Choose, Text: flow.ValueSubmit}
			continue
		case r.Input == "choice" || r.Input == "confirm":
			in = Input{Kind: Choose, Text: answers[r.Field]}
			continue
		default:
			in = Input{Kind: Text, Text: answers[r.Field]}
			continue
		}
		break
	}
	for _, r := range []Reply{summary, ended} {
		if r.enc == nil || r.enc.pieces == nil || len(r.Choices) == 0 {
			t.Fatalf("reply of %s: no pieces: %+v", r.State, r)
		}
		none := r
		none.Choices = nil
		if got := string(none.AppendJSON(nil)); !strings.Contains(got, `"choices":[],`) {
			t.Errorf("reply of %s without choices is written\n%s", r.State, got)
		}
		for i := range r.Choices {
			for _, change := range []func(c *Choice){
				func(c *Choice) { c.Label += "!" },
				func(c *Choice) { c.Label = strings.Repeat("x", len(c.Label)) },
				func(c *Choice) { c.Short = "짧게" },
				func(c *Choice) { c.Value = "other" },
			} {
				changed := r
				changed.Choices = append([]Choice(nil), r.Choices...)
				change(&changed.Choices[i])
				plain := changed
				plain.enc = nil
				if got, want := string(changed.AppendJSON(nil)), string(plain.AppendJSON(nil)); got != want {
					t.Errorf("reply of %s with choice %d changed is written\n%s\nwant\n%s", r.State, i, got, want)
				}
			}
		}
	}
}
