package loadtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
)

// BenchmarkCountsShareOfTurn is what the intake counts (package insight)
// cost a whole turn in production's shape: two stacks, each a `claimbot
// serve` process on a redis-server of its own, one server keeping the
// counts and one not (config.Config.NoCounts), driven at the same time by
// this process's simulated people, 50 conversations each filing whole
// claims, deliveries to a receiver here. Driven together, both sides meet
// the same machine (a shared VM's steal, other processes, the clock's
// speed), which moves a turn's processor time by ±10 % from one round to
// the next: rounds taken one after the other measured the counts' few
// microseconds with an error as large as they are. Each iteration is a
// 3-second round:
//
//	CLAIMBOT_REQUIRE_REAL=1 go test ./internal/loadtest -run X -bench CountsShareOfTurn -benchtime 10x
//
// counts-% is the share of a counting turn's processor time (its server's
// and its Redis's, from /proc/<pid>/stat) that the counts are: (with −
// without) / with; server-Δµs and redis-Δµs are where it goes. trips-Δ
// and scripts-Δ are the difference in Redis round trips (read events on
// its clients' sockets: a pipeline is one) and script calls a turn: the
// counts are an HINCRBY inside the turn's script, never a command of
// their own.
func BenchmarkCountsShareOfTurn(b *testing.B) {
	w, wo := sideBySide(b, StackOptions{Server: true}, StackOptions{Server: true, ServerEnv: []string{noCountsEnv + "=1"}}, "with counts", "without")
	b.ReportMetric(w.per(0)+w.per(1), "with-µs/turn")
	b.ReportMetric(wo.per(0)+wo.per(1), "without-µs/turn")
	b.ReportMetric(w.per(0)-wo.per(0), "server-Δµs/turn")
	b.ReportMetric(w.per(1)-wo.per(1), "redis-Δµs/turn")
	b.ReportMetric((w.per(0)+w.per(1)-wo.per(0)-wo.per(1))*100/(w.per(0)+w.per(1)), "counts-%")
	b.ReportMetric(w.reads/float64(w.turns)-wo.reads/float64(wo.turns), "trips-Δ/turn")
	b.ReportMetric(w.scripts/float64(w.turns)-wo.scripts/float64(wo.turns), "scripts-Δ/turn")
	b.ReportMetric(w.scriptUsec/float64(w.turns)-wo.scriptUsec/float64(wo.turns), "script-Δµs/turn")
}

// BenchmarkBuildAgainst compares this tree's server with another build of
// claimbot, the binary $CLAIMBOT_BENCH_AGAINST, side by side as
// BenchmarkCountsShareOfTurn does (each on a redis-server of its own,
// driven at the same time): what a change costs or saves a turn, with the
// machine's drift falling on both alike.
//
//	git worktree add /tmp/before HEAD~1 && (cd /tmp/before && go build -o /tmp/claimbot-before ./bot)
//	CLAIMBOT_BENCH_AGAINST=/tmp/claimbot-before go test ./internal/loadtest -run X -bench BuildAgainst -benchtime 10x
func BenchmarkBuildAgainst(b *testing.B) {
	other := os.Getenv("CLAIMBOT_BENCH_AGAINST")
	if other == "" {
		b.Skip("CLAIMBOT_BENCH_AGAINST names no claimbot binary to compare with")
	}
	this, that := sideBySide(b, StackOptions{Server: true}, StackOptions{Server: true, Binary: other}, "this tree", "against")
	b.ReportMetric(this.per(0)+this.per(1), "this-µs/turn")
	b.ReportMetric(that.per(0)+that.per(1), "against-µs/turn")
	b.ReportMetric(this.per(0)-that.per(0), "server-Δµs/turn")
	b.ReportMetric(this.per(1)-that.per(1), "redis-Δµs/turn")
	b.ReportMetric(this.tps()/that.tps(), "turns/s-ratio")
}

// sideBySide starts two stacks and drives them at the same time, b.N
// rounds of 3 s, 50 conversations each filing whole claims.
func sideBySide(b *testing.B, oa, ob StackOptions, na, nb string) (*countSide, *countSide) {
	ctx := context.Background()
	sides := []*countSide{{stack: startStack(b, oa)}, {stack: startStack(b, ob)}}
	for _, sd := range sides {
		sd.target = sd.stack.ServerTarget()
		if err := sd.target.Preflight(ctx); err != nil {
			b.Fatal(err)
		}
		if sd.stack.RedisPID <= 0 {
			b.Fatal("redis-server's pid unknown")
		}
		sd.rc = redis.NewClient(mustParseURL(b, sd.stack.RedisURL))
		b.Cleanup(func() { sd.rc.Close() })
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for _, sd := range sides {
			sd.begin(b)
		}
		for k, sd := range sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sd.load, sd.err = Drive(ctx, sd.target, Options{Conversations: 50, Duration: 3 * time.Second, Seed: uint64(1015 + 2*i + k)})
			}()
		}
		wg.Wait()
		for _, sd := range sides {
			if sd.err != nil {
				b.Fatal(sd.err)
			}
			if n := sd.load.Errors(); n != 0 {
				b.Fatalf("%d errors", n)
			}
			sd.end(b)
		}
		x, y := sides[0], sides[1]
		b.Logf("round %d: %s %5.0f turns/s, server %5.1f + redis %4.1f µs a turn; %s %5.0f turns/s, %5.1f + %4.1f µs",
			i+1, na, x.load.TurnsPerSec, x.last[0], x.last[1], nb, y.load.TurnsPerSec, y.last[0], y.last[1])
	}
	b.StopTimer()
	return sides[0], sides[1]
}

// countSide is one stack of sideBySide and what its rounds
// used.
type countSide struct {
	stack  *Stack
	target Target
	rc     *redis.Client
	load   *Load
	err    error

	cpu0           [2]float64 // server's, Redis's processor seconds at the round's start
	reads0, scr0   float64
	scrUsec0       float64
	cpu            [2]float64 // summed over the rounds
	last           [2]float64 // the last round's, µs a turn
	turns          int64
	seconds        float64
	reads, scripts float64
	scriptUsec     float64
}

func (sd *countSide) pids() [2]int { return [2]int{sd.stack.Server.PID(), sd.stack.RedisPID} }

func (sd *countSide) begin(b *testing.B) {
	for k, pid := range sd.pids() {
		v, ok := procCPU(pid)
		if !ok {
			b.Fatalf("processor time of pid %d unknown", pid)
		}
		sd.cpu0[k] = v
	}
	sd.reads0, sd.scr0, sd.scrUsec0 = redisStats(b, sd.rc)
}

func (sd *countSide) end(b *testing.B) {
	for k, pid := range sd.pids() {
		v, _ := procCPU(pid)
		sd.cpu[k] += v - sd.cpu0[k]
		sd.last[k] = (v - sd.cpu0[k]) / float64(sd.load.Turns) * 1e6
	}
	r, s, u := redisStats(b, sd.rc)
	sd.reads += r - sd.reads0
	sd.scripts += s - sd.scr0
	sd.scriptUsec += u - sd.scrUsec0
	sd.turns += sd.load.Turns
	sd.seconds += sd.load.Seconds
}

// per is the server's (0) or Redis's (1) processor time a turn over every
// round, µs.
func (sd *countSide) per(k int) float64 { return sd.cpu[k] / float64(sd.turns) * 1e6 }

// tps is the turns per second over every round.
func (sd *countSide) tps() float64 { return float64(sd.turns) / sd.seconds }

func mustParseURL(b *testing.B, url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// redisStats is Redis's read events on client sockets so far (INFO stats
// total_reads_processed: a round trip, a pipeline's included, is one), its
// script calls and the microseconds it spent in them.
func redisStats(b *testing.B, rc *redis.Client) (reads, scripts, scriptUsec float64) {
	ctx := context.Background()
	info, err := rc.Info(ctx, "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_reads_processed:"); ok {
			reads, _ = strconv.ParseFloat(v, 64)
		}
	}
	if scripts, scriptUsec, err = redistest.Scripts(ctx, rc); err != nil {
		b.Fatal(err)
	}
	return reads, scripts, scriptUsec
}
