package store_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/webhook"
)

func testEngine(t testing.TB) *engine.Engine {
	t.Helper()
	eng, ps, err := engine.Load("../../flows", "../../locales", nil)
	if err != nil {
		t.Fatal(err, ps.Errors())
	}
	return eng
}

// A conversation pinned to a flow version that this process does not hold
// (another instance loaded it, or this one dropped it as old, or restarted)
// continues on that version, loaded from Redis where SaveFlows put it.
func TestPinnedVersionFromRedis(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	eng1 := testEngine(t)
	st1 := store.New(rdb, func() *engine.Engine { return eng1 }, store.Options{TTL: time.Hour, Now: func() time.Time { return during }})
	if err := st1.SaveFlows(ctx, eng1.Flows()); err != nil {
		t.Fatal(err)
	}
	c1, _, err := st1.Open(ctx, "u-pin", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	turn(t, c1, engine.Choose, "yes")
	v1 := c1.Session().Version

	// Another instance, on an edited flow, with no version of its own kept.
	src, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edited := strings.Replace(string(src), "피해를 입은 서비스를 골라 주세요.", "어느 서비스였나요?", 1)
	if err := os.WriteFile(filepath.Join(dir, "damage-1015.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	flows, ps := flow.LoadDir(dir)
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	cat, _ := locale.Load("../../locales", flows) // stale translations are warnings
	eng2 := engine.New(flows, cat, nil)
	if flows["damage-1015"].Version == v1 || eng2.Versions().Get("damage-1015", v1) != nil {
		t.Fatal("the edit made no new version, or the new engine knows the old one")
	}
	st2 := store.New(rdb, func() *engine.Engine { return eng2 }, store.Options{TTL: time.Hour, Now: func() time.Time { return during }})
	c2, _, err := st2.Open(ctx, "u-pin", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	r := turn(t, c2, engine.Choose, "general")
	if !slices.Contains(r.Messages, "피해를 입은 서비스를 골라 주세요.") || c2.Session().Version != v1 {
		t.Errorf("the conversation left its version %s: %q on %s", v1, r.Messages, c2.Session().Version)
	}
	if eng2.Versions().Get("damage-1015", v1) == nil {
		t.Error("the version was not loaded from Redis")
	}
}

var during = time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)

func newStore(t testing.TB, rdb redis.UniversalClient) *store.Store {
	eng := testEngine(t)
	return store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, Now: func() time.Time { return during }})
}

func turn(t testing.TB, c *store.Conv, kind engine.Kind, text string) engine.Reply {
	t.Helper()
	res, err := c.Turn(context.Background(), engine.Input{Kind: kind, Text: text})
	if err != nil {
		t.Fatalf("turn %q: %v", text, err)
	}
	return res.Reply
}

// walkToSummary answers a general user's paid-service claim up to the summary.
func walkToSummary(t testing.TB, c *store.Conv) {
	t.Helper()
	for _, in := range []struct {
		kind engine.Kind
		text string
	}{
		{engine.Choose, "yes"}, {engine.Choose, "general"}, {engine.Choose, "pay"}, {engine.Choose, "paid"},
		{engine.Text, "me@example.com"}, {engine.Text, "010-1234-5678"}, {engine.Text, "결제 실패"}, {engine.Text, "결제가 두 번 됐어요"},
	} {
		if r := turn(t, c, in.kind, in.text); r.Invalid {
			t.Fatalf("%q refused: %v", in.text, r.Messages)
		}
	}
}

func TestTurnsPersist(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	st := newStore(t, rdb)
	c, res, err := st.Open(context.Background(), "u-1", "damage-1015", "ko")
	if err != nil || res.Reply.Field != "privacy_consent" {
		t.Fatalf("open: %v %+v", err, res.Reply)
	}
	turn(t, c, engine.Choose, "yes")
	turn(t, c, engine.Text, "소상공인")
	// Another connection (another tab, another instance) resumes it.
	c2, res, err := newStore(t, rdb).Open(context.Background(), "u-1", "damage-1015", "ko")
	if err != nil || res.Reply.Field != "service" {
		t.Fatalf("resume: %v %+v", err, res.Reply)
	}
	if got := c2.Session().Answers["reporter_type"]; got != "small_business" {
		t.Errorf("reporter_type = %v", got)
	}
	ttl := rdb.PTTL(context.Background(), shard.Session("u-1", "damage-1015")).Val()
	if ttl <= 0 || ttl > time.Hour {
		t.Errorf("session TTL %v, want the idle expiry", ttl)
	}
}

func TestSubmitIsOneScript(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	st := newStore(t, rdb)
	c, _, err := st.Open(context.Background(), "u-2", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	walkToSummary(t, c)
	var mu sync.Mutex
	var sent []string
	rdb.AddHook(countHook{func(name string) { mu.Lock(); sent = append(sent, name); mu.Unlock() }})
	r := turn(t, c, engine.Choose, "submit")
	if !r.Done || r.ClaimID == "" {
		t.Fatalf("submit: %+v", r)
	}
	// One round trip: the script that marks the session filed and appends
	// the claim to the outbox (go-redis sends EVALSHA, and EVAL only when
	// the script is not cached yet).
	if len(sent) == 0 || len(sent) > 2 || (len(sent) == 2 && (sent[0] != "evalsha" || sent[1] != "eval")) ||
		(len(sent) == 1 && sent[0] != "evalsha") {
		t.Fatalf("submit sent %v, want one script", sent)
	}
	n := shard.Of("u-2")
	msgs, err := rdb.XRange(context.Background(), shard.Outbox(n), "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("outbox: %v %v", msgs, err)
	}
	body := msgs[0].Values[shard.FieldBody].(string)
	if msgs[0].Values[shard.FieldClaim] != r.ClaimID || !strings.Contains(body, r.ClaimID) {
		t.Errorf("outbox entry %v, claim %s", msgs[0].Values, r.ClaimID)
	}
	if err := webhook.ValidateBody([]byte(body)); err != nil {
		t.Errorf("body does not match the schema: %v", err)
	}
	if sn, ok := shard.OfClaim(r.ClaimID); !ok || sn != n {
		t.Errorf("claim id %s: shard %d, want %d", r.ClaimID, sn, n)
	}
}

type countHook struct{ saw func(string) }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.saw(cmd.Name())
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.saw(c.Name())
		}
		return next(ctx, cmds)
	}
}

// Two connections of one user answering the same question at once: one
// answer is applied, the other gets the current reply; nothing is applied
// to a question it was not meant for.
func TestRacingConnections(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	st := newStore(t, rdb)
	ctx := context.Background()
	a, _, _ := st.Open(ctx, "u-3", "damage-1015", "ko")
	b, _, _ := st.Open(ctx, "u-3", "damage-1015", "ko")
	turn(t, a, engine.Choose, "yes")
	var wg sync.WaitGroup
	results := make([]engine.Result, 2)
	for i, c := range []*store.Conv{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := []string{"general", "enterprise"}[i]
			res, err := c.Turn(ctx, engine.Input{Kind: engine.Choose, Text: value, State: "reporter_type", ID: "x-" + value})
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	applied := 0
	for _, r := range results {
		if r.Applied {
			applied++
		}
		if r.Reply.Field != "service" || r.Reply.Invalid {
			t.Errorf("reply %+v, want the service question", r.Reply)
		}
	}
	if applied != 1 {
		t.Fatalf("%d answers applied, want exactly 1", applied)
	}
}

func TestUnavailable(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	st := newStore(t, rdb)
	start := time.Now()
	_, _, err := st.Open(context.Background(), "u-4", "damage-1015", "ko")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v; a turn never hangs on an unreachable Redis", d)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	s := engine.NewSession("u", "damage-1015", "ko")
	s.State = "summary"
	s.Answers = map[string]any{"loss_amount": int64(10000000000), "privacy_consent": true, "email": "a@b.co"}
	s.History = []string{"privacy_consent"}
	val, err := store.Encode(7, s)
	if err != nil {
		t.Fatal(err)
	}
	rev, got, err := store.Decode(val)
	if err != nil || rev != 7 {
		t.Fatalf("decode: %v rev %d", err, rev)
	}
	if got.Answers["loss_amount"] != int64(10000000000) || got.Answers["privacy_consent"] != true || got.State != "summary" {
		t.Errorf("round trip: %+v", got)
	}
}

// encoded keeps the benchmark's result, so the compiler cannot drop it.
var encoded []byte

func BenchmarkCodec(b *testing.B) {
	s := engine.NewSession("u-123456", "damage-1015", "ko")
	s.State = "content"
	s.Answers = map[string]any{"privacy_consent": true, "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517",
		"loss_amount": int64(250000), "support_tier": "tier_30k", "email": "owner@example.com", "phone": "010-5555-1234", "title": "주문 알림 누락"}
	s.History = []string{"privacy_consent", "reporter_type", "service", "damage_type", "business_name", "business_number", "loss_amount", "email", "phone", "title"}
	for i := 0; i < 10; i++ {
		s.Applied = append(s.Applied, "k3f9-"+string(rune('0'+i)))
	}
	// Encode makes a new value; a turn encodes into a lent buffer instead.
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encoded, _ = store.Encode(3, s)
		}
	})
	val, _ := store.Encode(3, s)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			store.Decode(val)
		}
	})
}

// A Redis that lost its script cache (a restart, SCRIPT FLUSH) still takes
// turns: the batch sends the script's source again.
func TestScriptCacheFlushed(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	st := newStore(t, rdb)
	c, _, err := st.Open(context.Background(), "u-5", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	turn(t, c, engine.Choose, "yes")
	if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if r := turn(t, c, engine.Choose, "general"); r.Field != "service" {
		t.Fatalf("after SCRIPT FLUSH: %+v", r)
	}
}

// Many connections' turns at once share pipelined round trips and each
// still gets its own result.
func TestConcurrentTurns(t *testing.T) {
	rs := redistest.Start(t)
	st := newStore(t, rs.Client(t))
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "u-many-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			c, _, err := st.Open(context.Background(), user, "damage-1015", "ko")
			if err != nil {
				t.Error(err)
				return
			}
			walkToSummary(t, c)
			if r := turn(t, c, engine.Choose, "submit"); !r.Done || r.ClaimID == "" {
				t.Errorf("%s: %+v", user, r)
			}
		}()
	}
	wg.Wait()
}

// stored reads the session as Redis holds it.
func stored(t testing.TB, rdb redis.UniversalClient, user string) (int64, *engine.Session) {
	t.Helper()
	val, err := rdb.Get(context.Background(), shard.Session(user, "damage-1015")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	rev, sess, err := store.Decode(val)
	if err != nil {
		t.Fatal(err)
	}
	return rev, sess
}

// A tab left open past the session's idle expiry still holds revision 2 of
// the old session. A new session (another tab) reaches revision 2 too; the
// old tab's turn must not overwrite it: revisions restart at 1, so the
// compare-and-set also compares the session's epoch, made with it.
func TestExpiredSessionNotOverwritten(t *testing.T) {
	rdb := redistest.StartReal(t).Client(t)
	ctx := context.Background()
	old, _, err := newStore(t, rdb).Open(ctx, "u-aba", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	turn(t, old, engine.Choose, "yes")
	turn(t, old, engine.Choose, "small_business")
	if rev, _ := stored(t, rdb, "u-aba"); rev != 2 {
		t.Fatalf("old session at revision %d, want 2", rev)
	}
	// The idle expiry, as Redis would do it.
	if err := rdb.Del(ctx, shard.Session("u-aba", "damage-1015")).Err(); err != nil {
		t.Fatal(err)
	}
	fresh, res, err := newStore(t, rdb).Open(ctx, "u-aba", "damage-1015", "ko")
	if err != nil || res.Reply.State != "privacy_consent" {
		t.Fatalf("new session: %v %+v", err, res.Reply)
	}
	turn(t, fresh, engine.Choose, "yes")
	turn(t, fresh, engine.Choose, "general")
	if rev, sess := stored(t, rdb, "u-aba"); rev != 2 || sess.Answers["reporter_type"] != "general" {
		t.Fatalf("new session at revision %d: %v", rev, sess.Answers)
	}
	// The old tab answers the service question it shows.
	res, err = old.Turn(ctx, engine.Input{Kind: engine.Choose, Text: "messenger"})
	if err != nil {
		t.Fatal(err)
	}
	rev, sess := stored(t, rdb, "u-aba")
	if got := sess.Answers["reporter_type"]; got != "general" {
		t.Fatalf("the old tab overwrote the new session: reporter_type %v (revision %d)", got, rev)
	}
	// Its answer went to the new session's question, the same one it showed.
	if !res.Applied || sess.Answers["service"] != "messenger" || rev != 3 {
		t.Errorf("old tab's answer: applied %v, stored %v at revision %d", res.Applied, sess.Answers, rev)
	}
}

// A session written before epochs (its JSON starts without one) is still
// taken up: the script reads its epoch as "", and the next write gives it
// one.
func TestSessionWithoutEpoch(t *testing.T) {
	rdb := redistest.StartReal(t).Client(t)
	ctx := context.Background()
	eng := testEngine(t)
	s := engine.NewSession("u-old", "damage-1015", "ko")
	s.Version, s.State = eng.Flow("damage-1015").Version, "reporter_type"
	s.Answers, s.History = map[string]any{"privacy_consent": true}, []string{"privacy_consent"}
	val, _ := store.Encode(4, s)
	if !strings.HasPrefix(string(val), "4\n{\"u\":") {
		t.Fatalf("a session without epoch encodes as %.20q", val)
	}
	if err := rdb.Set(ctx, shard.Session("u-old", "damage-1015"), val, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	c, res, err := newStore(t, rdb).Open(ctx, "u-old", "damage-1015", "ko")
	if err != nil || res.Reply.State != "reporter_type" {
		t.Fatalf("open: %v %+v", err, res.Reply)
	}
	if r := turn(t, c, engine.Choose, "general"); r.State != "service" {
		t.Fatalf("answer: %+v", r)
	}
	rev, sess := stored(t, rdb, "u-old")
	if rev != 5 || sess.Epoch == "" || sess.Answers["reporter_type"] != "general" {
		t.Fatalf("stored revision %d epoch %q answers %v", rev, sess.Epoch, sess.Answers)
	}
	// The epoch stays with the session from then on.
	turn(t, c, engine.Choose, "taxi")
	if _, again := stored(t, rdb, "u-old"); again.Epoch != sess.Epoch {
		t.Errorf("epoch changed from %q to %q", sess.Epoch, again.Epoch)
	}
}

// toTitle answers a general user's paid-service claim up to the title.
func toTitle(t testing.TB, c *store.Conv) {
	t.Helper()
	for _, in := range []struct {
		kind engine.Kind
		text string
	}{
		{engine.Choose, "yes"}, {engine.Choose, "general"}, {engine.Choose, "pay"}, {engine.Choose, "paid"},
		{engine.Text, "me@example.com"}, {engine.Text, "010-1234-5678"},
	} {
		if r := turn(t, c, in.kind, in.text); r.Invalid {
			t.Fatalf("%q refused: %v", in.text, r.Messages)
		}
	}
	if s := c.Session().State; s != "title" {
		t.Fatalf("at %s, want title", s)
	}
}

// Two tabs show the title question; tab A answers it. Tab B then types its
// title in a frame without state (as the terminal chat, the remote runner
// and the skill channel send them): B's cached session is behind, its
// compare-and-set loses, and the turn must not go on to apply B's title to
// the question A's answer led to. A frame without state answers the
// question its connection last showed (contract §2): B gets the current
// reply, nothing applied.
func TestStatelessFrameAfterLostRace(t *testing.T) {
	rdb := redistest.StartReal(t).Client(t)
	st := newStore(t, rdb)
	ctx := context.Background()
	a, _, err := st.Open(ctx, "u-race", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	toTitle(t, a)
	b, res, err := newStore(t, rdb).Open(ctx, "u-race", "damage-1015", "ko")
	if err != nil || res.Reply.State != "title" {
		t.Fatalf("tab B open: %v %+v", err, res.Reply)
	}
	if r := turn(t, a, engine.Text, "A의 제목"); r.State != "content" {
		t.Fatalf("tab A's title: %+v", r)
	}
	res, err = b.Turn(ctx, engine.Input{Kind: engine.Text, Text: "B가 제목으로 쓴 글"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied || res.Reply.State != "content" || res.Reply.Invalid {
		t.Errorf("tab B's stale title: applied %v, reply %+v; want not applied, the content question", res.Applied, res.Reply)
	}
	_, sess := stored(t, rdb, "u-race")
	if sess.State != "content" || sess.Answers["title"] != "A의 제목" {
		t.Errorf("stored at %s with title %v", sess.State, sess.Answers["title"])
	}
	if got, ok := sess.Answers["content"]; ok {
		t.Fatalf("tab B's title was taken as the content: %q", got)
	}
	// Tab B now shows the content question: its next frame answers it.
	if r := turn(t, b, engine.Text, "B의 내용"); r.State != "summary" {
		t.Fatalf("tab B's content: %+v", r)
	}
	if _, sess := stored(t, rdb, "u-race"); sess.Answers["content"] != "B의 내용" {
		t.Errorf("content %v", sess.Answers["content"])
	}
}

// A turn whose Redis froze (SIGSTOP) is answered "unavailable", and when
// Redis wakes its script runs after the turn's fence: nothing is applied,
// then or later (contract §2, §9). The user types the title again, in a
// frame without state: it answers the title question, the one the
// connection last showed, and nothing lands in the content.
func TestFrozenRedisAppliesNothingLater(t *testing.T) {
	rs := redistest.StartReal(t)
	// As the server's client: a batch gives up at its deadline.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	eng := testEngine(t)
	st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, Timeout: 300 * time.Millisecond,
		Now: func() time.Time { return during }})
	ctx := context.Background()
	c, _, err := st.Open(ctx, "u-late", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	toTitle(t, c)
	rs.Freeze()
	if _, err := c.Turn(ctx, engine.Input{Kind: engine.Text, Text: "늦게 닿은 제목"}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("turn on a frozen Redis: %v, want unavailable", err)
	}
	time.Sleep(100 * time.Millisecond)
	rs.Thaw()
	// Redis runs what it had queued as soon as it wakes; give it time.
	time.Sleep(300 * time.Millisecond)
	if _, sess := stored(t, rdb, "u-late"); sess.State != "title" || sess.Answers["title"] != nil {
		t.Fatalf("the answer sent while Redis was frozen was applied later: state %s, title %v", sess.State, sess.Answers["title"])
	}
	res, err := c.Turn(ctx, engine.Input{Kind: engine.Text, Text: "다시 쓴 제목"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || res.Reply.State != "content" {
		t.Errorf("retyped title: applied %v, reply %+v; want applied, the content question next", res.Applied, res.Reply)
	}
	_, sess := stored(t, rdb, "u-late")
	if sess.Answers["title"] != "다시 쓴 제목" || sess.Answers["content"] != nil {
		t.Fatalf("title %q, content %q; want the retyped title and no content", sess.Answers["title"], sess.Answers["content"])
	}
}

// The source of the flow version a session is pinned to must outlive the
// session: a turn refreshes its expiry (at most once an hour per version
// and instance), so a conversation that goes on for days does not lose it.
func TestFlowSourceRefreshedByTurns(t *testing.T) {
	rdb := redistest.StartReal(t).Client(t)
	ctx := context.Background()
	eng := testEngine(t)
	now := during
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, Now: clock})
	if err := st.SaveFlows(ctx, eng.Flows()); err != nil {
		t.Fatal(err)
	}
	c, _, err := st.Open(ctx, "u-src", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	turn(t, c, engine.Choose, "yes")
	key := shard.FlowSource("damage-1015", c.Session().Version)
	full := time.Hour + 24*time.Hour // the session's idle expiry and a day
	// Two hours on, the source has little time left.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := rdb.PExpire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	turn(t, c, engine.Choose, "general")
	if ttl := rdb.PTTL(ctx, key).Val(); ttl < full-time.Minute {
		t.Fatalf("source TTL %v after a turn, want about %v", ttl, full)
	}
	// Within the hour, turns send nothing more than their script.
	if err := rdb.PExpire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var sent []string
	var smu sync.Mutex
	rdb.AddHook(countHook{func(name string) { smu.Lock(); sent = append(sent, name); smu.Unlock() }})
	turn(t, c, engine.Choose, "pay")
	smu.Lock()
	again := slices.Contains(sent, "pexpire") || slices.Contains(sent, "expire")
	smu.Unlock()
	if again {
		t.Errorf("a turn within the hour refreshed the source again: %v", sent)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl > time.Minute {
		t.Errorf("source TTL %v, refreshed within the hour", ttl)
	}
	// A source already gone is set again by an instance that holds it.
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	turn(t, c, engine.Choose, "paid")
	if src, err := rdb.Get(ctx, key).Bytes(); err != nil || string(src) != string(eng.Flow("damage-1015").Source) {
		t.Fatalf("source not set again: %v", err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl < full-time.Minute {
		t.Errorf("source set again with TTL %v, want about %v", ttl, full)
	}
}
