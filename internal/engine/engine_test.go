package engine_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

var (
	loadOnce sync.Once
	shared   *engine.Engine
)

// testEngine loads the shipped flows and locales once.
func testEngine(t testing.TB) *engine.Engine {
	loadOnce.Do(func() {
		flows, ps := flow.LoadDir("../../flows")
		if len(ps.Errors()) > 0 {
			panic(ps.Errors().Error())
		}
		cat, ps := locale.Load("../../locales", flows)
		if len(ps.Errors()) > 0 {
			panic(ps.Errors().Error())
		}
		shared = engine.New(flows, cat, nil)
	})
	return shared
}

// During the intake (the default flow opens 2022-10-19).
var duringIntake = time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)

// chat drives one conversation through the engine.
type chat struct {
	t      testing.TB
	e      *engine.Engine
	s      *engine.Session
	r      engine.Reply
	claims []*engine.Claim
	now    time.Time
	n      int
	wire   []byte // when set, every reply is written here as the WebSocket writes it
}

func newChat(t testing.TB, lang string) *chat {
	t.Helper()
	c := &chat{t: t, e: testEngine(t), s: engine.NewSession("u-1", "damage-1015", lang), now: duringIntake}
	c.step(engine.Input{Kind: engine.Resume})
	return c
}

func (c *chat) step(in engine.Input) *chat {
	c.t.Helper()
	c.n++
	res, err := c.e.Step(c.s, in, engine.Env{Now: c.now, ClaimID: func() string { return fmt.Sprintf("T%03d-TEST", c.n) }})
	if err != nil {
		c.t.Fatalf("step %d: %v", c.n, err)
	}
	if res.Session != nil {
		c.s = res.Session
	}
	c.r = res.Reply
	if c.wire != nil {
		c.wire = c.r.AppendJSON(c.wire[:0])
	}
	if res.Claim != nil {
		c.claims = append(c.claims, res.Claim)
	}
	return c
}

func (c *chat) text(s string) *chat {
	c.t.Helper()
	return c.step(engine.Input{Kind: engine.Text, Text: s})
}
func (c *chat) choose(v string) *chat {
	c.t.Helper()
	return c.step(engine.Input{Kind: engine.Choose, Text: v})
}
func (c *chat) cmd(v string) *chat {
	c.t.Helper()
	return c.step(engine.Input{Kind: engine.Command, Text: v})
}

// want checks the reply waits for field (a state id for states that fill none).
func (c *chat) want(field string) *chat {
	c.t.Helper()
	got := c.r.Field
	if got == "" {
		got = c.r.State
	}
	if got != field || c.r.Invalid {
		c.t.Fatalf("want %s, got state %q field %q invalid %v: %q", field, c.r.State, c.r.Field, c.r.Invalid, c.r.Messages)
	}
	return c
}

func (c *chat) wantInvalid(field string) *chat {
	c.t.Helper()
	if c.r.Field != field || !c.r.Invalid {
		c.t.Fatalf("want %s refused, got state %q field %q invalid %v: %q", field, c.r.State, c.r.Field, c.r.Invalid, c.r.Messages)
	}
	return c
}

func (c *chat) says(sub string) *chat {
	c.t.Helper()
	if !strings.Contains(strings.Join(c.r.Messages, "\n"), sub) {
		c.t.Fatalf("want a message with %q, got %q", sub, c.r.Messages)
	}
	return c
}

// answer is one answer by key, as a test gives it.
type answer struct{ key, input string }

// fill answers whatever is asked from the map until the summary or an end.
func (c *chat) fill(answers map[string]string) (asked []string) {
	c.t.Helper()
	for i := 0; i < 40 && !c.r.Done && c.r.State != "summary"; i++ {
		key := c.r.Field
		in, ok := answers[key]
		if !ok {
			c.t.Fatalf("asked %q (state %q), which the test has no answer for; asked so far %v", key, c.r.State, asked)
		}
		asked = append(asked, key)
		if c.r.Input == "choice" || c.r.Input == "confirm" || c.r.Input == "files" {
			c.choose(in)
		} else {
			c.text(in)
		}
		if c.r.Invalid {
			c.t.Fatalf("%s: %q refused: %q", key, in, c.r.Messages)
		}
	}
	return asked
}

var contact = map[string]string{"email": "Owner@Example.COM", "phone": "01055551234", "title": "주문 알림 누락", "content": "10월 15일 저녁 주문 알림이 오지 않았습니다."}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{"privacy_consent": "yes"}
	for k, v := range contact {
		out[k] = v
	}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestQuestionsAsked walks the contract's "which questions are asked" table.
func TestQuestionsAsked(t *testing.T) {
	biz := map[string]string{"business_name": "행복분식", "business_number": "220-81-62517"}
	tests := []struct {
		name    string
		answers map[string]string
		asked   []string // after privacy_consent, reporter_type, service, damage_type
		claim   map[string]any
	}{
		{
			name:    "general non-monetary asks the inquiry type",
			answers: with(nil, "reporter_type", "general", "service", "messenger", "damage_type", "non_monetary", "inquiry_type", "complaint"),
			asked:   []string{"inquiry_type", "email", "phone", "title", "content"},
			claim:   map[string]any{"reporter_type": "general", "service": "messenger", "damage_type": "non_monetary", "inquiry_type": "complaint"},
		},
		{
			name:    "general free monetary asks the amount, no tier",
			answers: with(nil, "reporter_type", "general", "service", "taxi", "damage_type", "free_monetary", "loss_amount", "25만원"),
			asked:   []string{"loss_amount", "email", "phone", "title", "content"},
			claim:   map[string]any{"reporter_type": "general", "damage_type": "free_monetary", "loss_amount": int64(250000)},
		},
		{
			name:    "general paid without a measure goes straight on",
			answers: with(nil, "reporter_type", "general", "service", "pay", "damage_type", "paid"),
			asked:   []string{"email", "phone", "title", "content"},
			claim:   map[string]any{"service": "pay", "damage_type": "paid"},
		},
		{
			name:    "general paid with a measure asks still_file",
			answers: with(nil, "reporter_type", "general", "service", "gift", "damage_type", "paid", "still_file", "yes"),
			asked:   []string{"still_file", "email", "phone", "title", "content"},
			claim:   map[string]any{"service": "gift", "still_file": true},
		},
		{
			name:    "small business paid with a measure: business, amount, tier",
			answers: with(biz, "reporter_type", "small_business", "service", "music", "damage_type", "paid", "still_file", "yes", "loss_amount", "1억 2천만원", "evidence", "later"),
			asked:   []string{"still_file", "business_name", "business_number", "loss_amount", "evidence", "email", "phone", "title", "content"},
			claim:   map[string]any{"business_number": "220-81-62517", "loss_amount": int64(120000000), "support_tier": "evidence_review", "evidence": "later"},
		},
		{
			name:    "small business free monetary: tier",
			answers: with(biz, "reporter_type", "small_business", "service", "messenger", "damage_type", "free_monetary", "loss_amount", "250,000원"),
			asked:   []string{"business_name", "business_number", "loss_amount", "email", "phone", "title", "content"},
			claim:   map[string]any{"reporter_type": "small_business", "loss_amount": int64(250000), "support_tier": "tier_30k"},
		},
		{
			name:    "small business non-monetary: business, no amount",
			answers: with(biz, "reporter_type", "small_business", "service", "mail", "damage_type", "non_monetary", "inquiry_type", "opinion"),
			asked:   []string{"inquiry_type", "business_name", "business_number", "email", "phone", "title", "content"},
			claim:   map[string]any{"inquiry_type": "opinion", "business_name": "행복분식"},
		},
		{
			name:    "enterprise paid: amount, no tier",
			answers: with(biz, "reporter_type", "enterprise", "service", "tv", "damage_type", "paid", "still_file", "yes", "loss_amount", "₩3,000,000"),
			asked:   []string{"still_file", "business_name", "business_number", "loss_amount", "email", "phone", "title", "content"},
			claim:   map[string]any{"reporter_type": "enterprise", "loss_amount": int64(3000000)},
		},
		{
			name:    "enterprise free monetary",
			answers: with(biz, "reporter_type", "enterprise", "service", "other", "damage_type", "free_monetary", "loss_amount", "오십만원"),
			asked:   []string{"business_name", "business_number", "loss_amount", "email", "phone", "title", "content"},
			claim:   map[string]any{"loss_amount": int64(500000), "service": "other"},
		},
	}
	for _, svc := range []string{"shopping", "emoticon", "webtoon", "tv", "music", "gift"} {
		tests = append(tests, struct {
			name    string
			answers map[string]string
			asked   []string
			claim   map[string]any
		}{
			name:    "paid " + svc + " shows its measure",
			answers: with(nil, "reporter_type", "general", "service", svc, "damage_type", "paid", "still_file", "yes"),
			asked:   []string{"still_file", "email", "phone", "title", "content"},
			claim:   map[string]any{"service": svc, "still_file": true},
		})
	}
	for _, svc := range []string{"messenger", "mail", "taxi", "pay", "other"} {
		tests = append(tests, struct {
			name    string
			answers map[string]string
			asked   []string
			claim   map[string]any
		}{
			name:    "paid " + svc + " has no measure",
			answers: with(nil, "reporter_type", "general", "service", svc, "damage_type", "paid"),
			asked:   []string{"email", "phone", "title", "content"},
			claim:   map[string]any{"service": svc},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChat(t, "ko")
			asked := c.fill(tt.answers)
			want := append([]string{"privacy_consent", "reporter_type", "service", "damage_type"}, tt.asked...)
			if !reflect.DeepEqual(asked, want) {
				t.Fatalf("asked %v, want %v", asked, want)
			}
			c.want("summary").choose("submit")
			if !c.r.Done || c.r.ClaimID == "" || len(c.claims) != 1 {
				t.Fatalf("submit: done %v claim %q claims %d", c.r.Done, c.r.ClaimID, len(c.claims))
			}
			got := c.claims[0].Answers
			for k, v := range tt.claim {
				if got[k] != v {
					t.Errorf("claim %s = %#v, want %#v", k, got[k], v)
				}
			}
			// Keys never asked are absent; every asked key is present.
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			wantKeys := append([]string{"privacy_consent", "reporter_type", "service", "damage_type"}, tt.asked...)
			if _, ok := tt.claim["support_tier"]; ok {
				wantKeys = append(wantKeys, "support_tier")
			}
			sort.Strings(wantKeys)
			if !reflect.DeepEqual(keys, wantKeys) {
				t.Errorf("claim keys %v, want %v", keys, wantKeys)
			}
			if got["email"] != "Owner@example.com" || got["phone"] != "010-5555-1234" || got["privacy_consent"] != true {
				t.Errorf("contact answers %v", got)
			}
		})
	}
}

func TestSupportTierBoundaries(t *testing.T) {
	for _, tt := range []struct {
		amount string
		tier   string
	}{
		{"300000", "tier_30k"}, {"300001", "tier_50k"}, {"500000", "tier_50k"}, {"500001", "evidence_review"}, {"1", "tier_30k"}, {"10000000000", "evidence_review"},
	} {
		t.Run(tt.amount, func(t *testing.T) {
			c := newChat(t, "ko")
			c.fill(with(map[string]string{"business_name": "행복분식", "business_number": "2208162517"},
				"reporter_type", "small_business", "service", "messenger", "damage_type", "free_monetary", "loss_amount", tt.amount, "evidence", "later"))
			c.want("summary").choose("submit")
			if got := c.claims[0].Answers["support_tier"]; got != tt.tier {
				t.Errorf("support_tier = %v, want %s", got, tt.tier)
			}
		})
	}
}

func TestEvidenceNotice(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary")
	c.text("행복분식").text("220-81-62517").want("loss_amount").text("60만원")
	c.want("evidence").says("소상공인 확인서")
	if c.r.Input != "files" || c.r.Upload == nil || c.r.Upload.MaxFiles != 10 || c.r.Upload.MaxBytes != 20<<20 || len(c.r.Upload.Accept) != 4 {
		t.Fatalf("evidence reply: input %q upload %+v", c.r.Input, c.r.Upload)
	}
	c.choose("later").want("email")
}

func TestBackKeepsTheAnswer(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").want("reporter_type").choose("small_business").want("service")
	c.cmd("back").want("reporter_type").says("소상공인")
	c.text("이전").want("privacy_consent") // the Korean command word
	c.choose("yes").want("service")      // everything after is known: on to the first unanswered
	c.choose("back").want("reporter_type")
	c.text("일반 이용자").want("service")
	if c.s.Answers["reporter_type"] != "general" {
		t.Errorf("reporter_type = %v", c.s.Answers["reporter_type"])
	}
	// Back offers a back button everywhere but the first question.
	if hasChoice(c.r, "back") == false {
		t.Errorf("no back choice in %v", c.r.Choices)
	}
	c.cmd("back").cmd("back").want("privacy_consent")
	if hasChoice(c.r, "back") {
		t.Errorf("back offered at the first question")
	}
}

func hasChoice(r engine.Reply, value string) bool {
	for _, ch := range r.Choices {
		if ch.Value == value {
			return true
		}
	}
	return false
}

func TestRestart(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").choose("general").choose("taxi").want("damage_type")
	c.text("처음으로").want("privacy_consent")
	if len(c.s.Answers) != 0 {
		t.Errorf("answers after restart: %v", c.s.Answers)
	}
	c.choose("yes").choose("restart").want("privacy_consent")
}

func TestChangeFromSummary(t *testing.T) {
	c := newChat(t, "ko")
	c.fill(with(nil, "reporter_type", "general", "service", "messenger", "damage_type", "free_monetary", "loss_amount", "25만원"))
	c.want("summary").says("250,000원").says("일반 이용자")
	c.says("Owner@example.com").says("010-5555-1234") // the user's own answers, in full
	if !hasChoice(c.r, "edit_reporter_type") || !hasChoice(c.r, "submit") || hasChoice(c.r, "edit_privacy_consent") {
		t.Fatalf("summary choices %v", c.r.Choices)
	}
	// general → small business: the business questions are asked, the tier computed.
	c.choose("edit_reporter_type").want("reporter_type").choose("small_business")
	c.want("business_name").text("행복분식").want("business_number").text("220-81-62517")
	c.want("summary").says("행복분식")
	if c.s.Answers["support_tier"] != "tier_30k" {
		t.Errorf("support_tier = %v", c.s.Answers["support_tier"])
	}
	// Change the email by typing the edit button's label.
	c.text("이메일 고치기").want("email").says("Owner@example.com").text("new@example.org").want("summary").says("new@example.org")
	// small business → general: the business answers and the tier are dropped.
	c.choose("edit_reporter_type").choose("general").want("summary")
	for _, k := range []string{"business_name", "business_number", "support_tier"} {
		if _, ok := c.s.Answers[k]; ok {
			t.Errorf("%s kept after it stopped applying", k)
		}
	}
	// free monetary → non monetary: the amount is dropped, the inquiry type asked.
	c.choose("edit_damage_type").choose("non_monetary").want("inquiry_type").choose("encouragement").want("summary")
	c.choose("submit")
	got := c.claims[0].Answers
	if _, ok := got["loss_amount"]; ok {
		t.Errorf("loss_amount filed after the damage type changed: %v", got)
	}
	if got["inquiry_type"] != "encouragement" || got["email"] != "new@example.org" {
		t.Errorf("claim %v", got)
	}
}

func TestConsentRefused(t *testing.T) {
	c := newChat(t, "ko")
	c.text("아니요")
	if !c.r.Done || c.r.ClaimID != "" || len(c.claims) != 0 || c.r.State != "consent_refused" {
		t.Fatalf("refused consent: %+v", c.r)
	}
	if !hasChoice(c.r, "restart") {
		t.Errorf("done without restart: %v", c.r.Choices)
	}
	c.text("처음으로").want("privacy_consent")
}

func TestPaidSettledByMeasure(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").choose("general").choose("gift").choose("paid")
	c.want("still_file").says("교환권")
	c.text("아니요, 괜찮아요")
	if !c.r.Done || len(c.claims) != 0 || c.r.State != "settled" {
		t.Fatalf("settled: %+v", c.r)
	}
}

func TestIntakeWindowClosed(t *testing.T) {
	c := &chat{t: t, e: testEngine(t), s: engine.NewSession("u-1", "damage-1015", "ko"), now: time.Date(2022, 10, 18, 12, 0, 0, 0, time.UTC)}
	c.step(engine.Input{Kind: engine.Resume})
	if !c.r.Done || c.r.Input != "none" {
		t.Fatalf("closed intake: %+v", c.r)
	}
	c.says("접수 기간").says("2022년 10월 19일")
	c.text("네")
	if !c.r.Done || len(c.claims) != 0 {
		t.Fatalf("answered while closed: %+v", c.r)
	}
}

func TestRefusals(t *testing.T) {
	c := newChat(t, "ko")
	c.text("글쎄요").wantInvalid("privacy_consent")
	c.choose("maybe").wantInvalid("privacy_consent")
	c.text("네").want("reporter_type")
	c.choose("unknown_value").wantInvalid("reporter_type")
	c.text("소상공인이에요").want("service")
	c.text("택시").want("damage_type").choose("free_monetary").want("business_name")
	c.text("   ").wantInvalid("business_name")
	c.text("행복분식").want("business_number")
	c.choose("small_business").wantInvalid("business_number") // a choice frame to a free-input state
	c.text("220-81-62518").wantInvalid("business_number")     // bad check digit
	c.text("220-81-62517").want("loss_amount")
	c.text("스무닷새").wantInvalid("loss_amount").says("예)")
	c.text("0원").wantInvalid("loss_amount")
	c.text("100억 1원").wantInvalid("loss_amount")
	c.text("25만 원").want("email")
	c.text("owner@").wantInvalid("email")
	c.text("owner@example.com").want("phone")
	c.text("1234").wantInvalid("phone")
	c.text("+82 10-1234-5678").want("title")
	c.text(strings.Repeat("가", 101)).wantInvalid("title")
	c.text("제목").want("content")
	c.text(strings.Repeat("나", 2001)).wantInvalid("content")
	c.text("내용").want("summary")
	c.text("아무거나").wantInvalid("")
	if c.r.State != "summary" {
		t.Fatalf("refusal at the summary moved to %s", c.r.State)
	}
	c.text("접수하기")
	if !c.r.Done || c.claims[0].Answers["phone"] != "010-1234-5678" {
		t.Fatalf("claim %+v", c.claims)
	}
}

func TestBusinessNumberFallback(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary").text("행복분식")
	c.text("1").wantInvalid("business_number").text("2").wantInvalid("business_number")
	c.text("3").want("loss_amount").says("사업자등록증")
	c.text("25만원").want("email") // the skipped question is not asked again
	c.fill(with(nil))
	c.choose("submit")
	if _, ok := c.claims[0].Answers["business_number"]; ok {
		t.Errorf("business_number filed after the fallback: %v", c.claims[0].Answers)
	}
}

func TestDuplicateAndStaleFrames(t *testing.T) {
	c := newChat(t, "ko")
	c.step(engine.Input{Kind: engine.Choose, Text: "yes", ID: "p-1", State: "privacy_consent"}).want("reporter_type")
	c.step(engine.Input{Kind: engine.Choose, Text: "general", ID: "p-2", State: "reporter_type"}).want("service")
	// The same frame again is not applied again: the current reply comes back.
	res, _ := c.e.Step(c.s, engine.Input{Kind: engine.Choose, Text: "general", ID: "p-2", State: "reporter_type"}, engine.Env{Now: c.now})
	if res.Applied || res.Session != nil || res.Reply.Field != "service" {
		t.Errorf("duplicate frame applied: %+v", res)
	}
	// An answer meant for another question is never taken for this one.
	res, _ = c.e.Step(c.s, engine.Input{Kind: engine.Text, Text: "택시", ID: "p-3", State: "damage_type"}, engine.Env{Now: c.now})
	if res.Applied || res.Reply.Field != "service" {
		t.Errorf("stale frame applied: %+v", res)
	}
	if c.s.Answers["service"] != nil {
		t.Errorf("service answered by a stale frame")
	}
}

func TestFiledThenComeBack(t *testing.T) {
	c := newChat(t, "ko")
	c.fill(with(nil, "reporter_type", "general", "service", "pay", "damage_type", "paid"))
	c.choose("submit")
	id := c.r.ClaimID
	c.says(id)
	if len(c.s.Answers) != 0 {
		t.Errorf("answers kept in the session after filing: %v", c.s.Answers)
	}
	c.step(engine.Input{Kind: engine.Resume})
	if !c.r.Done || c.r.ClaimID != id {
		t.Fatalf("come back: %+v", c.r)
	}
	c.says(id)
	c.text("네") // anything but restart shows the receipt again
	if c.r.ClaimID != id || len(c.claims) != 1 {
		t.Fatalf("after done: %+v", c.r)
	}
	c.choose("restart").want("privacy_consent")
	c.fill(with(nil, "reporter_type", "general", "service", "pay", "damage_type", "paid"))
	c.choose("submit")
	if len(c.claims) != 2 || c.claims[1].ID == id {
		t.Fatalf("second claim: %v", c.claims)
	}
}

func TestStepDoesNotChangeItsInput(t *testing.T) {
	c := newChat(t, "ko")
	c.choose("yes").choose("general")
	before := c.s.Clone()
	c.e.Step(c.s, engine.Input{Kind: engine.Choose, Text: "taxi"}, engine.Env{Now: c.now})
	if !reflect.DeepEqual(before, c.s) {
		t.Errorf("Step changed its input session")
	}
}

// TestChoiceAfterDone: a choice value a finished conversation does not
// offer is an answer problem (contract §2), unlike typed text, back and
// restart.
func TestChoiceAfterDone(t *testing.T) {
	c := newChat(t, "ko")
	c.text("아니요")
	for _, v := range []string{"yes", "no", "submit", "general"} {
		c.choose(v)
		if !c.r.Done || !c.r.Invalid || c.r.State != "consent_refused" || !hasChoice(c.r, "restart") {
			t.Fatalf("choice %q after done: %+v", v, c.r)
		}
	}
	c.text("네")
	if !c.r.Done || c.r.Invalid {
		t.Fatalf("typed text after done: %+v", c.r)
	}
	c.choose("back")
	if !c.r.Done || c.r.Invalid {
		t.Fatalf("back after done: %+v", c.r)
	}

	c = newChat(t, "ko")
	c.fill(with(nil, "reporter_type", "general", "service", "pay", "damage_type", "paid"))
	c.choose("submit")
	id := c.r.ClaimID
	c.choose("submit")
	if !c.r.Done || !c.r.Invalid || c.r.ClaimID != id || len(c.claims) != 1 {
		t.Fatalf("submit again after filing: %+v, claims %d", c.r, len(c.claims))
	}
	c.choose("restart").want("privacy_consent")
}
