package insight_test

import (
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/insight"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/store"
)

func testEngine(t testing.TB) *engine.Engine {
	t.Helper()
	eng, ps, err := engine.Load("../../flows", "../../locales", nil)
	if err != nil {
		t.Fatal(err, ps.Errors())
	}
	return eng
}

// clock is the instances' shared clock, moved by the test.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) add(d time.Duration)     { c.ms.Add(d.Milliseconds()) }
func newClock(t time.Time) *clock        { c := &clock{}; c.ms.Store(t.UnixMilli()); return c }
func in(kind engine.Kind, s string) step { return step{kind, s} }

type step struct {
	kind engine.Kind
	text string
}

// instance is one server instance's store.
func instance(t testing.TB, rdb redis.UniversalClient, clk *clock) *store.Store {
	eng := testEngine(t)
	return store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, Now: clk.now})
}

// talk opens a user's conversation and gives it the inputs, each of which
// must be accepted; it returns the last reply.
func talk(t testing.TB, st *store.Store, user string, steps ...step) engine.Reply {
	t.Helper()
	ctx := context.Background()
	c, res, err := st.Open(ctx, user, "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	r := res.Reply
	for _, s := range steps {
		res, err := c.Turn(ctx, engine.Input{Kind: s.kind, Text: s.text})
		if err != nil {
			t.Fatalf("%s: %q: %v", user, s.text, err)
		}
		if r = res.Reply; r.Invalid {
			t.Fatalf("%s: %q refused at %s: %v", user, s.text, r.State, r.Messages)
		}
	}
	return r
}

var contact = []step{
	in(engine.Text, "me@example.com"), in(engine.Text, "010-1234-5678"),
	in(engine.Text, "결제 실패"), in(engine.Text, "결제가 두 번 됐어요"), in(engine.Choose, "submit"),
}

func with(s []step, more ...step) []step { return append(append([]step(nil), s...), more...) }

var during = time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)

// Claims of every kind, filed through two instances sharing one Redis and
// through two new ones after Redis and both instances restarted, are each
// counted once in the report; a conversation left at loss_amount stops
// there once the session's idle time has passed, and not before.
func TestReportCountsEveryKind(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	clk := newClock(during)
	a, b := instance(t, rdb, clk), instance(t, rdb, clk)
	yes := in(engine.Choose, "yes")
	sb := func(amount string) []step {
		return []step{yes, in(engine.Choose, "small_business"), in(engine.Choose, "messenger"), in(engine.Choose, "free_monetary"),
			in(engine.Text, "행복분식"), in(engine.Text, "220-81-62517"), in(engine.Text, amount)}
	}
	filed := func(r engine.Reply) {
		t.Helper()
		if !r.Done || r.ClaimID == "" {
			t.Fatalf("no claim filed: %+v", r)
		}
	}
	filed(talk(t, a, "u-general-paid", with([]step{yes, in(engine.Choose, "general"), in(engine.Choose, "pay"), in(engine.Choose, "paid")}, contact...)...))
	filed(talk(t, b, "u-sb-30k", with(sb("25만원"), contact...)...))
	filed(talk(t, a, "u-sb-50k", with(sb("45만원"), contact...)...))
	filed(talk(t, b, "u-sb-review", with(sb("60만원"), append([]step{in(engine.Choose, "later")}, contact...)...)...))
	filed(talk(t, a, "u-enterprise-tv", with([]step{yes, in(engine.Choose, "enterprise"), in(engine.Choose, "tv"), in(engine.Choose, "paid"),
		yes, in(engine.Text, "큰회사"), in(engine.Text, "220-81-62517"), in(engine.Text, "100만원")}, contact...)...))
	// Going back passes service again without counting it again.
	filed(talk(t, b, "u-general-inquiry", with([]step{yes, in(engine.Choose, "general"), in(engine.Command, "back"), in(engine.Choose, "general"),
		in(engine.Choose, "messenger"), in(engine.Choose, "non_monetary"), in(engine.Choose, "complaint")}, contact...)...))
	if r := talk(t, a, "u-refused", in(engine.Choose, "no")); !r.Done || r.State != "consent_refused" {
		t.Fatalf("refusal: %+v", r)
	}
	if r := talk(t, b, "u-abandoned", yes, in(engine.Choose, "general"), in(engine.Choose, "messenger"), in(engine.Choose, "free_monetary")); r.State != "loss_amount" {
		t.Fatalf("abandoned at %s", r.State)
	}

	// Redis and both instances restart.
	if rs.Real {
		rs.Restart()
	}
	a, b = instance(t, rdb, clk), instance(t, rdb, clk)
	// A reopened conversation that writes nothing counts nothing.
	talk(t, a, "u-abandoned")
	f := testEngine(t).Flow("damage-1015")
	r, err := insight.Read(ctx, rdb, f, clk.now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Funnel[stateIndex(t, r, "loss_amount")]; got != (insight.FunnelState{State: "loss_amount", Reached: 5, Answered: 4, Stopped: 0}) {
		t.Errorf("before the idle time: %+v", got)
	}

	clk.add(time.Hour + time.Second)
	r, err = insight.Read(ctx, rdb, f, clk.now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(r)
	want := `{"flow":"damage-1015","claims":6,` +
		`"by_reporter_type":{"general":2,"small_business":3,"enterprise":1},` +
		`"by_damage_type":{"paid":2,"free_monetary":3,"non_monetary":1},` +
		`"by_support_tier":{"tier_30k":1,"tier_50k":1,"evidence_review":1},` +
		`"evidence":{"attached":0,"later":1},"handoffs":0,"funnel":[`
	if string(got[:len(want)]) != want {
		t.Errorf("report:\n got %s\nwant %s…", got, want)
	}
	for _, w := range []insight.FunnelState{
		{"privacy_consent", 8, 8, 0},
		{"consent_refused", 1, 0, 0},
		{"reporter_type", 7, 7, 0},
		{"service", 7, 7, 0},
		{"damage_type", 7, 7, 0},
		{"measure_tv", 1, 0, 0},
		{"still_file", 1, 1, 0},
		{"inquiry_type", 1, 1, 0},
		{"business_name", 4, 4, 0},
		{"loss_amount", 5, 4, 1},
		{"support_tier", 3, 0, 0},
		{"evidence", 1, 1, 0},
		{"email", 6, 6, 0},
		{"summary", 6, 6, 0},
		{"submit", 6, 0, 0},
	} {
		if got := r.Funnel[stateIndex(t, r, w.State)]; got != w {
			t.Errorf("funnel: got %+v, want %+v", got, w)
		}
	}
	if r.Funnel[0].State != f.Order[0] || len(r.Funnel) != len(f.Order) {
		t.Errorf("funnel not in the flow's order: %+v", r.Funnel)
	}

	// The user comes back after expiry: a new conversation, counted anew;
	// the stopped one stays counted once. (Redis's own clock has not moved:
	// the session expires by hand.)
	rdb.Del(ctx, shard.Session("u-abandoned", "damage-1015"))
	talk(t, b, "u-abandoned", yes)
	r, err = insight.Read(ctx, rdb, f, clk.now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Funnel[stateIndex(t, r, "loss_amount")]; got.Stopped != 1 {
		t.Errorf("stopped counted again: %+v", got)
	}
	if got := r.Funnel[0]; got.Reached != 9 || got.Answered != 9 {
		t.Errorf("new conversation not counted: %+v", got)
	}
}

func stateIndex(t *testing.T, r *insight.Report, state string) int {
	t.Helper()
	for i, s := range r.Funnel {
		if s.State == state {
			return i
		}
	}
	t.Fatalf("no state %s in the funnel", state)
	return 0
}

// A conversation stops where it waits once it has made no move for the
// idle time: one that moved on later is not taken for stopped when its
// first hour passes, and stops an hour after its last move, not before. A
// restart is no stop; nor is a conversation that ended.
func TestStoppedByIdleTime(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	clk := newClock(during)
	st := instance(t, rdb, clk)
	f := testEngine(t).Flow("damage-1015")
	yes := in(engine.Choose, "yes")
	talk(t, st, "u-left", yes) // waits at reporter_type
	talk(t, st, "u-busy", yes) // waits at reporter_type
	talk(t, st, "u-restart", yes, in(engine.Choose, "general"), in(engine.Command, "restart"))
	talk(t, st, "u-refused", in(engine.Choose, "no"))
	clk.add(50 * time.Minute)
	talk(t, st, "u-busy", in(engine.Choose, "general")) // moves on: waits at service
	clk.add(20 * time.Minute)                           // u-left's hour is up; u-busy's is not
	stopped := func() map[string]int64 {
		t.Helper()
		r, err := insight.Read(ctx, rdb, f, clk.now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, s := range r.Funnel {
			if s.Stopped != 0 {
				m[s.State] = s.Stopped
			}
		}
		return m
	}
	// u-restart waits at the start: stopped there too, once, not at service.
	if got := stopped(); !maps.Equal(got, map[string]int64{"reporter_type": 1, "privacy_consent": 1}) {
		t.Errorf("stopped after 70 minutes: %v", got)
	}
	clk.add(40*time.Minute - time.Second)
	if got := stopped(); got["service"] != 0 {
		t.Errorf("a conversation counted stopped before its idle time: %v", got)
	}
	clk.add(2 * time.Second)
	if got := stopped(); !maps.Equal(got, map[string]int64{"reporter_type": 1, "privacy_consent": 1, "service": 1}) {
		t.Errorf("stopped after u-busy's hour: %v", got)
	}
	// Asked again, the same: a report counts, it does not fold.
	if got := stopped(); len(got) != 3 {
		t.Errorf("a second report: %v", got)
	}
}

// On a Redis Cluster the counts sit in each user's shard, on whichever
// master holds it, and the report sums them over every master.
func TestReportOnCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb, err := redisconn.Open(redisconn.Settings{ClusterURL: c.URL()}, redisconn.Turns, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	clk := newClock(during)
	st := instance(t, rdb, clk)
	// Users in shards on each of the three masters.
	shards := map[int]bool{}
	for i := 0; len(shards) < 6; i++ {
		u := "u-cluster-" + strconv.Itoa(i)
		if n := shard.Of(u); !shards[n] && n%4 == 0 {
			shards[n] = true
			conversation(t, st, u)
		}
	}
	r, err := insight.Read(context.Background(), rdb, testEngine(t).Flow("damage-1015"), clk.now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.Claims != 6 || r.ByReporterType.Get("general") != 6 || r.ByDamageType.Get("paid") != 6 || r.Funnel[0].Reached != 6 {
		t.Errorf("report on the cluster: %d claims, %+v %+v, funnel %+v", r.Claims, r.ByReporterType, r.ByDamageType, r.Funnel[0])
	}
}

// A request for a person is counted with the state it was asked in, once
// its handoff.requested is in the outbox.
func TestHandoffsCounted(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	clk := newClock(during)
	st := instance(t, rdb, clk)
	r := talk(t, st, "u-handoff", in(engine.Choose, "yes"), in(engine.Choose, "general"),
		in(engine.Command, "handoff"), in(engine.Text, "010-1234-5678"))
	if r.State != "service" {
		t.Fatalf("after the handoff: %+v", r)
	}
	f := testEngine(t).Flow("damage-1015")
	rep, err := insight.Read(context.Background(), rdb, f, clk.now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Handoffs != 1 || len(rep.HandoffsAt) != 1 || rep.HandoffsAt[0] != (insight.Count{Value: "service", N: 1}) {
		t.Errorf("handoffs: %d %+v", rep.Handoffs, rep.HandoffsAt)
	}
	if got := rep.Funnel[stateIndex(t, rep, "service")]; got.Reached != 1 || got.Answered != 0 {
		t.Errorf("the handoff moved the funnel: %+v", got)
	}
}
