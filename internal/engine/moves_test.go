package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/looplab/fsm"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

// walkFlow is a flow with more kinds of moves than the shipped one: a
// choice with its own to:, conditions on answers given later and on
// computed ones (set:, also failing ones), a question skipped after its
// tries (fallback), an end that is not a claim.
const walkFlow = `flow: walk
title: 걷기 시험
start: kind

states:
  kind:
    say: "종류를 골라 주세요."
    ask: choice
    label: 종류
    choices:
      - {value: a, label: 가}
      - {value: b, label: 나, to: amount}
      - {value: c, label: 다}
    next:
      - if: later == "x"
        to: early
      - to: name

  early:
    say: "이른 길이에요."
    set:
      early_seen: 'later == "x" ? "yes" : "no"'
    next: name

  name:
    say: "이름을 알려 주세요."
    ask: text
    label: 이름
    min: 1
    max: 20
    tries: 2
    fallback: name_help
    next: amount

  name_help:
    say: "이름은 건너뛸게요."
    next: amount

  amount:
    say: "금액을 알려 주세요."
    ask: amount
    label: 금액
    min: 1
    max: 1000000
    set:
      number: 'name == "7" ? "seven" : (name == "1" ? "one" : nil)'
    next:
      - if: amount > 500000 && kind != "b"
        to: big
      - if: number == "seven"
        to: numbered
      - to: later

  big:
    set:
      tier: 'amount > 900000 ? "top" : "high"'
    say: "큰 금액({{.tier}})이에요."
    next: later

  numbered:
    say: "번호가 있는 이름이에요."
    next: later

  later:
    say: "나중 질문이에요."
    set:
      again: 'seen == nil ? "first" : "again"'
      seen: '"yes"'
    ask: text
    label: 나중
    min: 1
    max: 10
    next:
      - if: tier == "top"
        to: sure
      - to: summary

  sure:
    ask: confirm
    label: 확인
    say: "정말인가요?"
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

// walkEngines are pairs of engines over the same flows, the second of
// which fires the flow's state machine for every move: the shipped flows,
// the engine's testdata flows and walkFlow.
func walkEngines(t *testing.T) (pairs [][2]*Engine) {
	t.Helper()
	pair := func(flows map[string]*flow.Flow) {
		cat, ps := locale.Load("../../locales", flows)
		if len(ps.Errors()) > 0 {
			t.Fatal(ps.Errors().Error())
		}
		machine := New(flows, cat, nil)
		machine.fireMachine = true
		pairs = append(pairs, [2]*Engine{New(flows, cat, nil), machine})
	}
	shipped, ps := flow.LoadDir("../../flows")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	pair(shipped)
	testdata, ps := flow.LoadDir("testdata/flows")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	pair(testdata)
	f, ps := flow.Parse("walk.yaml", []byte(walkFlow))
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	pair(map[string]*flow.Flow{f.ID: f})
	return pairs
}

// walkTexts are typed answers, valid and not, for each kind of question,
// and what anyone may type.
var walkTexts = map[flow.Input][]string{
	flow.InputEmail:          {"a@b.co", "owner@example.com", "메일", "x@"},
	flow.InputPhone:          {"01012345678", "010-5555-1234", "123", "전화"},
	flow.InputBusinessNumber: {"220-81-62517", "123-45-67891", "1234567890", "없어요"},
	flow.InputAmount:         {"25만원", "300000", "300001", "500000", "500001", "60만원", "95만원", "1억", "0", "많이"},
	flow.InputText:           {"행복분식", "1", "7", "x", "제목", "10월 15일 저녁 주문 알림이 오지 않았습니다.", strings.Repeat("가", 120)},
	flow.InputConfirm:        {"네", "아니요", "yes", "no", "글쎄요"},
	"":                       {"", "이전", "처음으로", "상담원", "restart", "back", "?", "소상공인", "메신저", "무료", "유료", "선물"},
}

// TestMovesInConversations drives random conversations over every flow
// through an engine that looks its moves up in the plan and one that fires
// the flow's state machine for each: every step gives the same result,
// session, reply, moves and claim alike.
func TestMovesInConversations(t *testing.T) {
	convs := 300
	if testing.Short() {
		convs = 60
	}
	for i, pair := range walkEngines(t) {
		fast, machine := pair[0], pair[1]
		ids := make([]string, 0, len(fast.flows))
		for id := range fast.flows {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		moves := 0
		for _, id := range ids {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(len(id))))
			for n := range convs {
				moves += walkConversation(t, rng, fast, machine, id, n)
			}
		}
		if moves < 10*convs {
			t.Errorf("engine %d: only %d moves", i, moves)
		}
		t.Logf("engine %d: %d moves", i, moves)
	}
}

// walkConversation drives one random conversation through both engines,
// and returns how many moves it made.
func walkConversation(t *testing.T, rng *rand.Rand, fast, machine *Engine, flowID string, n int) (moves int) {
	t.Helper()
	lang := "ko"
	if rng.IntN(4) == 0 {
		lang = "en"
	}
	f := fast.flows[flowID]
	now := time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)
	if f.Intake != nil && !f.Intake.Opens.IsZero() {
		now = f.Intake.Opens.Add(24 * time.Hour)
	}
	s := NewSession(fmt.Sprintf("u-%d", n), flowID, lang)
	var r Reply
	var ids []string
	var log []string
	for step := range 60 {
		in := walkInput(rng, f, s, r, ids)
		if in.ID != "" {
			ids = append(ids, in.ID)
		}
		log = append(log, fmt.Sprintf("%s %d %q %q", s.State, in.Kind, in.Text, in.State))
		env := func() Env {
			return Env{Now: now, ClaimID: func() string { return fmt.Sprintf("C%d-%d", n, step) }}
		}
		want, err := machine.Step(s, in, env())
		if err != nil {
			t.Fatalf("%s #%d step %d: %v", flowID, n, step, err)
		}
		got, err := fast.Step(s, in, env())
		if err != nil {
			t.Fatalf("%s #%d step %d: %v", flowID, n, step, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s conversation %d step %d differs\ninputs:\n%s\ngot  %+v\n     %+v\nwant %+v\n     %+v",
				flowID, n, step, strings.Join(log, "\n"), got, got.Session, want, want.Session)
		}
		if want.Session != nil {
			s = want.Session
		}
		r = want.Reply
		moves += len(want.Moves)
	}
	return moves
}

// walkInput is a random input for a session that got reply r: mostly one
// of its choices or a typed answer for its question, sometimes a command,
// a file, a reconnect, a stale or repeated frame.
func walkInput(rng *rand.Rand, f *flow.Flow, s *Session, r Reply, ids []string) Input {
	in := Input{ID: fmt.Sprintf("f-%d", len(ids))}
	if rng.IntN(5) == 0 {
		in.ID = "" // the id is optional
	}
	st := f.States[s.State]
	switch k := rng.IntN(100); {
	case k < 45 && len(r.Choices) > 0:
		c := r.Choices[rng.IntN(len(r.Choices))]
		in.Kind, in.Text = Choose, c.Value
		if rng.IntN(4) == 0 {
			in.Kind, in.Text = Text, c.Label // typed
		}
	case k < 75:
		in.Kind = Text
		var pool []string
		if st != nil {
			pool = walkTexts[st.Ask]
		}
		if len(pool) == 0 || rng.IntN(6) == 0 {
			pool = walkTexts[""]
		}
		in.Text = pool[rng.IntN(len(pool))]
	case k < 79:
		in.Kind, in.Text = Command, flow.ValueBack
	case k < 81:
		in.Kind, in.Text = Command, flow.ValueRestart
	case k < 83:
		in.Kind, in.Text = Command, flow.ValueHandoff
	case k < 86:
		in.Kind = Resume
	case k < 91:
		in.Kind, in.Text = Attach, fmt.Sprintf("up-%d", rng.IntN(4))
		typ := "application/pdf"
		if rng.IntN(4) == 0 {
			typ = "text/html"
		}
		in.File = &Attachment{ID: in.Text, Name: in.Text + ".pdf", Type: typ, Size: int64(1 + rng.IntN(1<<20))}
		if rng.IntN(6) == 0 {
			in.File, in.Problem = nil, ProblemUnknown
		}
	default:
		in.Kind = Text
		in.Text = walkTexts[""][rng.IntN(len(walkTexts[""]))]
	}
	switch rng.IntN(10) {
	case 0:
		in.State = "elsewhere" // a stale frame
	case 1:
		in.State = s.State
	}
	if len(ids) > 0 && rng.IntN(20) == 0 {
		in.ID = ids[rng.IntN(len(ids))] // a repeated frame
	}
	return in
}

// TestMovesAreTheMachines: for every flow, every state and every event of
// the flow (the moves it has and the ones it has not), the plan's moves
// give what the flow's state machine does: the state it ends in, or no
// move where the machine refuses the event (fire then asks the machine,
// which fails as before).
func TestMovesAreTheMachines(t *testing.T) {
	n := 0
	for _, pair := range walkEngines(t) {
		e := pair[0]
		for _, f := range e.flows {
			p := e.plan(f)
			events := map[string]bool{"nonsense": true}
			for _, edge := range f.Edges() {
				events[edge.Event] = true
			}
			for from := range f.States {
				for event := range events {
					m := f.Machine(from)
					err := m.Event(context.Background(), event)
					var nt fsm.NoTransitionError
					refused := err != nil && !errors.As(err, &nt)
					to, ok := p.moves[from][event]
					switch {
					case refused && ok:
						t.Errorf("%s: %s --%s--> %s, but the machine refuses it: %v", f.ID, from, event, to, err)
					case !refused && !ok:
						t.Errorf("%s: %s --%s--> missing; the machine goes to %s", f.ID, from, event, m.Current())
					case !refused && to != m.Current():
						t.Errorf("%s: %s --%s--> %s; the machine goes to %s", f.ID, from, event, to, m.Current())
					}
					if ok {
						n++
					}
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d moves", n)
	}
}
