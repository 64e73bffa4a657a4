package loadtest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/store"
)

// BenchmarkTurnThroughStore is one chat turn end to end on the server's
// side but the socket: the client frame's bytes decoded, the store's turn
// (the engine's step, the session's encoding, the compare-and-set script
// on a real redis-server, a filed claim's outbox entry) with the client
// the server uses for turns, and the reply encoded into a reused buffer,
// as the server writes it. The simulated people answer the default flow
// as in the load test; their answers and the conversations' openings are
// outside the count. allocs/op is the budget BENCHMARKS.md keeps.
func BenchmarkTurnThroughStore(b *testing.B) {
	needRedisServer(b)
	ctx := context.Background()
	rd := redistest.StartReal(b)
	rdb, err := redisconn.Open(redisconn.Settings{URL: rd.URL}, redisconn.Turns, 64)
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	eng, ps, err := engine.Load("../../flows", "../../locales", nil)
	if err != nil {
		b.Fatal(err, ps.Errors())
	}
	st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, Timeout: 5 * time.Second})
	if err := st.SaveFlows(ctx, eng.Flows()); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		conv    *store.Conv
		p       *Persona
		reply   Reply
		users   int
		claims  int
		pending []byte
		out     []byte
	)
	// next readies the next answer, opening a new conversation when the
	// last one ended. Not counted.
	next := func() {
		for {
			if conv != nil {
				if f, ok := p.Next(&reply); ok {
					f.State = reply.State
					if pending, err = json.Marshal(f); err != nil {
						b.Fatal(err)
					}
					return
				}
			}
			users++
			c, res, err := st.Open(ctx, "bench-"+strconv.Itoa(users), "damage-1015", "ko")
			if err != nil {
				b.Fatal(err)
			}
			conv, p, reply = c, NewPersona(rng, 0.3), Reply{Reply: res.Reply}
		}
	}
	b.ReportAllocs()
	b.StopTimer()
	next()
	for i := 0; i < b.N; i++ {
		b.StartTimer()
		f, err := engine.DecodeFrame(pending)
		if err != nil {
			b.Fatal(err)
		}
		in, err := f.Input()
		if err != nil {
			b.Fatal(err)
		}
		res, err := conv.Turn(ctx, in)
		if err == nil {
			out = res.Reply.AppendJSON(out[:0])
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Claim != nil {
			claims++
		}
		reply = Reply{Reply: res.Reply}
		next()
	}
	b.ReportMetric(float64(claims)/float64(b.N), "claims/op")
}

// Budget of a turn through the store (BenchmarkTurnThroughStore), kept in
// BENCHMARKS.md: a change that allocates more per turn raises it there,
// with the reason, or allocates less.
const (
	turnAllocsBudget = 46
	turnBytesBudget  = 3400
)

// The allocations of a turn stay within the budget BENCHMARKS.md keeps.
func TestTurnAllocationsWithinBudget(t *testing.T) {
	needRedisServer(t)
	if testing.Short() {
		t.Skip("a benchmark of about a second")
	}
	r := testing.Benchmark(BenchmarkTurnThroughStore)
	if r.N == 0 {
		t.Fatal("the benchmark did not run")
	}
	t.Logf("%d turns: %d allocs, %d B a turn", r.N, r.AllocsPerOp(), r.AllocedBytesPerOp())
	if a, b := r.AllocsPerOp(), r.AllocedBytesPerOp(); a > turnAllocsBudget || b > turnBytesBudget {
		t.Errorf("a turn allocates %d times, %d B: the budget is %d and %d B (BENCHMARKS.md)", a, b, turnAllocsBudget, turnBytesBudget)
	}
}
