package insight_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/insight"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/store"
)

// trips counts round trips to Redis: a command alone, or a pipeline.
type trips struct{ n atomic.Int64 }

func (h *trips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// claim is a whole conversation that files a claim, going back once from
// the summary: eleven turns after the connect.
var claim = []step{
	in(engine.Choose, "yes"), in(engine.Choose, "general"), in(engine.Choose, "pay"), in(engine.Choose, "paid"),
	in(engine.Text, "me@example.com"), in(engine.Text, "010-1234-5678"), in(engine.Text, "결제 실패"),
	in(engine.Text, "결제가 두 번 됐어요"), in(engine.Command, "back"), in(engine.Text, "결제가 두 번 됐어요"),
	in(engine.Choose, "submit"),
}

// The counts ride in the turn's script: the same conversation costs the
// same round trips with and without them.
func TestCountsAddNoRoundTrip(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	h := &trips{}
	rdb.AddHook(h)
	eng := testEngine(t)
	per := map[bool]int64{}
	for _, counts := range []bool{false, true} {
		st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, NoCounts: !counts, Now: func() time.Time { return during }})
		conversation(t, st, fmt.Sprint("u-trips-", counts))
		before := h.n.Load()
		conversation(t, st, fmt.Sprint("u-trips-again-", counts))
		per[counts] = h.n.Load() - before
	}
	if per[true] != per[false] || per[true] == 0 {
		t.Errorf("round trips of a conversation: %d with counts, %d without", per[true], per[false])
	}
}

// conversation files a claim through st (the summary's back included).
func conversation(t testing.TB, st *store.Store, user string) {
	t.Helper()
	ctx := context.Background()
	c, _, err := st.Open(ctx, user, "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range claim {
		res, err := c.Turn(ctx, engine.Input{Kind: s.kind, Text: s.text})
		if err != nil || res.Reply.Invalid {
			t.Fatalf("%q: %v %v", s.text, err, res.Reply.Messages)
		}
	}
}

// users numbers the benchmark's users: each runs one conversation.
var users atomic.Int64

// BenchmarkTurn runs whole conversations that file a claim, with and
// without the counts, and reports per turn: the wall time, this process's
// processor time and redis-server's (INFO cpu), and round trips.
func BenchmarkTurn(b *testing.B) {
	rs := redistest.Start(b)
	rdb := rs.Client(b)
	h := &trips{}
	rdb.AddHook(h)
	eng := testEngine(b)
	for _, counts := range []bool{true, false, true, false} {
		name := "without-counts"
		if counts {
			name = "with-counts"
		}
		b.Run(name, func(b *testing.B) {
			st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, NoCounts: !counts, Now: func() time.Time { return during }})
			// Each round starts from an empty Redis, so the later ones do
			// not pay for the keys the earlier ones left.
			rdb.FlushAll(context.Background())
			rdb.ConfigResetStat(context.Background())
			redisCPU0, goCPU0, trips0 := redisCPU(b, rdb), processCPU(), h.n.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				conversation(b, st, name+"-"+strconv.FormatInt(users.Add(1), 10))
			}
			b.StopTimer()
			turns := float64(b.N * (len(claim) + 1))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/turns, "ns/turn")
			b.ReportMetric(float64((processCPU()-goCPU0).Microseconds())/turns, "go-cpu-µs/turn")
			b.ReportMetric(float64((redisCPU(b, rdb)-redisCPU0).Microseconds())/turns, "redis-cpu-µs/turn")
			b.ReportMetric(float64(h.n.Load()-trips0)/turns, "trips/turn")
			b.ReportMetric(scriptCost(b, rdb), "script-µs/call")
		})
	}
}

// processCPU and redisCPU: see redistest.
func processCPU() time.Duration { return redistest.ProcessCPU() }

func redisCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	d, err := redistest.ServerCPU(context.Background(), rdb)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// scriptCost is the turn script's time in Redis per call since the stats
// were reset (INFO commandstats: evalsha and eval).
func scriptCost(b *testing.B, rdb redis.UniversalClient) float64 {
	usec, calls := scriptTime(b, rdb)
	if calls == 0 {
		return 0
	}
	return usec / calls
}

// scriptTime is the scripts' time in Redis (µs) and their calls so far.
func scriptTime(b *testing.B, rdb redis.UniversalClient) (usec, calls float64) {
	calls, usec, err := redistest.Scripts(context.Background(), rdb)
	if err != nil {
		b.Fatal(err)
	}
	return usec, calls
}

// BenchmarkCountsShare measures what the counts cost as a share of a
// turn's processor time (this process's and redis-server's): each
// iteration runs a block of conversations with the counts and a block
// without, alternating, so both see the same machine and the same Redis
// (a shared machine's speed drifts more between separate runs than the
// counts cost). It reports the processor time per turn of each and
// counts-%: (with − without) / with; and the turn script's time per call
// with and without (INFO commandstats), the part of Redis's that the
// script itself takes.
func BenchmarkCountsShare(b *testing.B) {
	// A block is 32 conversations, 16 at a time (as a server has many
	// under way: one alone makes the process spin idle between its
	// round trips, a cost that grows with Redis's latency and that a
	// busy server does not pay).
	const block, parallel = 32, 16
	rs := redistest.Start(b)
	rdb := rs.Client(b)
	eng := testEngine(b)
	ctx := context.Background()
	stores := map[bool]*store.Store{}
	for _, counts := range []bool{true, false} {
		stores[counts] = store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, NoCounts: !counts, Now: func() time.Time { return during }})
	}
	rdb.FlushAll(ctx)
	var goCPU, redisCPUs [2]time.Duration // [0] without, [1] with
	var scriptUsec, scriptCalls [2]float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, counts := range []bool{i%2 == 0, i%2 != 0} { // which goes first alternates too
			k := 0
			if counts {
				k = 1
			}
			u0, c0 := scriptTime(b, rdb)
			r0, g0 := redisCPU(b, rdb), processCPU()
			var wg sync.WaitGroup
			for range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < block/parallel; j++ {
						conversation(b, stores[counts], "share-"+strconv.FormatInt(users.Add(1), 10))
					}
				}()
			}
			wg.Wait()
			goCPU[k] += processCPU() - g0
			redisCPUs[k] += redisCPU(b, rdb) - r0
			u1, c1 := scriptTime(b, rdb)
			scriptUsec[k] += u1 - u0
			scriptCalls[k] += c1 - c0
		}
	}
	b.StopTimer()
	turns := float64(b.N * block * (len(claim) + 1))
	per := func(k int) float64 { return float64((goCPU[k] + redisCPUs[k]).Microseconds()) / turns }
	b.ReportMetric(per(1), "with-cpu-µs/turn")
	b.ReportMetric(per(0), "without-cpu-µs/turn")
	b.ReportMetric(float64(redisCPUs[1]-redisCPUs[0])/float64(time.Microsecond)/turns, "redis-Δµs/turn")
	b.ReportMetric(float64(goCPU[1]-goCPU[0])/float64(time.Microsecond)/turns, "go-Δµs/turn")
	b.ReportMetric((per(1)-per(0))*100/per(1), "counts-%")
	b.ReportMetric(scriptUsec[1]/scriptCalls[1], "script-with-µs/call")
	b.ReportMetric(scriptUsec[0]/scriptCalls[0], "script-without-µs/call")
}

// BenchmarkOf is what the counts cost this process a turn, alone: the
// turn's fields (insight.Of) and its script argument, over the steps of a
// conversation that files a claim.
func BenchmarkOf(b *testing.B) {
	eng := testEngine(b)
	f := eng.Flow("damage-1015")
	env := engine.Env{Now: during, ClaimID: func() string { return "C-1" }}
	type pair struct {
		before *engine.Session
		res    engine.Result
	}
	sess := &engine.Session{User: "u-of", Flow: "damage-1015", Lang: "ko"}
	var steps []pair
	for _, s := range append([]step{in(engine.Text, "")}, claim...) {
		res, err := eng.Step(sess, engine.Input{Kind: s.kind, Text: s.text}, env)
		if err != nil {
			b.Fatal(err)
		}
		steps = append(steps, pair{sess, res})
		insight.Of(f, sess, res, len(steps) == 1)
		sess = res.Session
	}
	args := make([]any, 0, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := steps[i%len(steps)]
		args = insight.Of(f, p.before, p.res, i%len(steps) == 0).Append(args[:0])
	}
}
