package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkCountsShareOfTurn is what the intake counts (package insight)
// cost a whole turn in production's shape: two servers, each `claimbot
// serve` in a process of its own, one keeping the counts and one not
// (config.Config.NoCounts), on one redis-server, driven by this process's
// simulated people in alternating closed-loop rounds (RunRounds, the
// counting server as "real" and the other as the baseline; each round's
// deliveries reach this process's receiver before the next begins). Each
// iteration is one round of each, 50 conversations filing whole claims
// for 3 s:
//
//	CLAIMBOT_REQUIRE_REAL=1 go test ./internal/loadtest -run X -bench CountsShareOfTurn -benchtime 6x
//
// counts-% is the share of a counting turn's processor time (server and
// Redis, from /proc/<pid>/stat) that the counts are: (with − without) /
// with; server-Δµs and redis-Δµs are where it goes. trips-Δ/turn is the
// difference in Redis commands a turn (INFO commandstats: the counts are
// an HINCRBY inside the turn's script, never a command of their own).
func BenchmarkCountsShareOfTurn(b *testing.B) {
	ctx := context.Background()
	with := startStack(b, StackOptions{Server: true})
	without := startStack(b, StackOptions{RedisURL: with.RedisURL, Server: true, ServerEnv: []string{noCountsEnv + "=1"}})
	tw, to := with.ServerTarget(), without.ServerTarget()
	for _, t := range []Target{tw, to} {
		if err := t.Preflight(ctx); err != nil {
			b.Fatal(err)
		}
	}
	o := Options{Conversations: 50, Duration: 3 * time.Second, RedisURL: with.RedisURL, Seed: 1015}
	b.ResetTimer()
	r, err := RunRounds(ctx, tw, to, b.N, o)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	rr := r.Rounds
	for _, rd := range rr.Rounds {
		if rd.Load.Errors() != 0 {
			b.Fatalf("round %d %s: %d errors", rd.N, rd.Kind, rd.Load.Errors())
		}
		c := rd.CPU
		if c == nil || c.Server == nil || c.Redis == nil {
			b.Fatalf("round %d %s: processor time per turn unknown (%+v)", rd.N, rd.Kind, c)
		}
		name := map[string]string{"real": "with counts", "bare": "without"}[rd.Kind]
		b.Logf("round %d %-11s %6.0f turns/s  server %5.1f µs  redis %5.1f µs a turn  steal %s others %s",
			rd.N, name, rd.Load.TurnsPerSec, *c.Server, *c.Redis, share(rd.Steal), share(rd.Others))
	}
	// Redis's round trips (read events on its clients' sockets: a
	// pipeline is one) and script calls a turn, in one more pair of short
	// rounds.
	rc := redis.NewClient(mustParseURL(b, with.RedisURL))
	defer rc.Close()
	var reads, scripts [2]float64
	for i, t := range []Target{tw, to} {
		r0, s0 := redisCounters(b, rc)
		l, err := Drive(ctx, t, Options{Conversations: 50, Duration: time.Second, Seed: 7})
		if err != nil {
			b.Fatal(err)
		}
		r1, s1 := redisCounters(b, rc)
		reads[i], scripts[i] = (r1-r0)/float64(l.Turns), (s1-s0)/float64(l.Turns)
	}
	b.Logf("a turn: %.3f round trips and %.3f script calls with counts, %.3f and %.3f without", reads[0], scripts[0], reads[1], scripts[1])
	w, wo := rr.Real.CPU, rr.Bare.CPU
	b.ReportMetric(w.Serving(), "with-µs/turn")
	b.ReportMetric(wo.Serving(), "without-µs/turn")
	b.ReportMetric(*w.Server-*wo.Server, "server-Δµs/turn")
	b.ReportMetric(*w.Redis-*wo.Redis, "redis-Δµs/turn")
	b.ReportMetric((w.Serving()-wo.Serving())*100/w.Serving(), "counts-%")
	b.ReportMetric(reads[0]-reads[1], "trips-Δ/turn")
	b.ReportMetric(scripts[0]-scripts[1], "scripts-Δ/turn")
	b.ReportMetric(rr.ThroughputRatio, "turns/s-ratio")
}

func share(p *float64) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprintf("%.1f %%", 100**p)
}

func mustParseURL(b *testing.B, url string) *redis.Options {
	o, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// redisCounters is Redis's read events on client sockets so far (INFO
// stats total_reads_processed: a round trip, a pipeline's included, is
// one) and its script calls (evalsha and eval; the commands a script runs
// are counted apart, as their own names).
func redisCounters(b *testing.B, rc *redis.Client) (reads, scripts float64) {
	info, err := rc.Info(context.Background(), "stats", "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_reads_processed:"); ok {
			reads, _ = strconv.ParseFloat(v, 64)
		}
		for _, name := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
			if v, ok := strings.CutPrefix(line, name); ok {
				v, _, _ = strings.Cut(v, ",")
				n, _ := strconv.ParseFloat(v, 64)
				scripts += n
			}
		}
	}
	return reads, scripts
}
