package outbox

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

// BenchmarkDeliver drains an outbox pre-filled with b.N claims to a
// receiver that answers 204 at once, and reports claims delivered per
// second and the processor time per claim of this process (the receiver's
// included) and of Redis.
func BenchmarkDeliver(b *testing.B) {
	benchDeliver(b, 0)
}

// Figures on the 2-core machine, 3000 claims, 4 runs alternately, before
// and after the acks were batched, the signatures reused, the attempts
// posted on the transport and the poll made one round trip (µs a claim,
// means): BenchmarkDeliver, process 254 -> 203, Redis 101 -> 75, 172 -> 131
// allocs; BenchmarkDeliverPaced, process 639 -> 577, Redis 267 -> 237,
// 197 -> 157 allocs.
// Then (issue 17, 4 runs alternately with -cpu 1, 10000 claims) after the
// acks' keys were boxed once, the request made from a parsed template and
// the dispatch made one value: BenchmarkDeliver 131 -> 116 allocs and
// 9.6 -> 9.0 KB a claim, process 152-183 -> 146-184 µs (mean 170 -> 163,
// within the machine's noise), Redis unchanged (63-82 -> 63-85 µs).

// BenchmarkDeliverPaced delivers b.N claims filed one every 2 ms while the
// sender runs, as a busy server files them, and reports the processor time
// per claim of this process (the XADDs and the receiver's included) and of
// Redis.
func BenchmarkDeliverPaced(b *testing.B) {
	benchDeliver(b, 2*time.Millisecond)
}

func benchDeliver(b *testing.B, gap time.Duration) {
	srv := redistest.Start(b)
	cfg := Config{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: cfg.PoolSize()})
	b.Cleanup(func() { rdb.Close() })
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(recv.Close)
	text, _ := webhook.NewSecret()
	secret, _ := webhook.ParseSecret(text)

	ctx := context.Background()
	now := time.Now()
	// The claims are made first: the figures are the delivery's.
	claims := make([]*redis.XAddArgs, b.N)
	for i := range claims {
		id := newClaimID(i % shard.Count)
		claims[i] = &redis.XAddArgs{
			Stream: shard.Outbox(i % shard.Count),
			Values: []any{shard.FieldClaim, id, shard.FieldBody, claimBody(b, id, now), shard.FieldAt, now.UnixMilli()},
		}
	}
	add := func(p redis.Cmdable, i int) { p.XAdd(ctx, claims[i]) }
	if gap == 0 {
		pipe := rdb.Pipeline()
		for i := range b.N {
			add(pipe, i)
			if pipe.Len() == 1000 {
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}

	cfg.URL, cfg.Secret = recv.URL, secret
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewSender(rdb, cfg)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	if gap > 0 { // let the sender settle first
		go func() { _ = s.Run(runCtx); close(done) }()
		time.Sleep(100 * time.Millisecond)
	}
	b.ResetTimer()
	cpu0, redis0 := processCPU(), redisCPU(b, rdb)
	start := time.Now()
	if gap == 0 {
		go func() { _ = s.Run(runCtx); close(done) }()
	} else {
		t := time.NewTicker(gap)
		for i := range b.N {
			add(rdb, i)
			<-t.C
		}
		t.Stop()
	}
	for {
		if got.Load() >= int64(b.N) && pending(ctx, rdb) == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	cpu, rcpu := processCPU()-cpu0, redisCPU(b, rdb)-redis0
	b.StopTimer()
	stop()
	<-done
	b.ReportMetric(float64(b.N)/took.Seconds(), "claims/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/claim")
	b.ReportMetric(float64(rcpu.Microseconds())/float64(b.N), "redis-cpu-µs/claim")
}

func pending(ctx context.Context, rdb redis.UniversalClient) int64 {
	var total int64
	for n := range shard.Count {
		total += rdb.XLen(ctx, shard.Outbox(n)).Val()
	}
	return total
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

// BenchmarkPost is one attempt to a receiver nearby that answers 204.
func BenchmarkPost(b *testing.B) {
	text, _ := webhook.NewSecret()
	secret, _ := webhook.ParseSecret(text)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	s := NewSender(nil, Config{URL: recv.URL, Secret: secret})
	j := job{shard: 1, id: "1-1", claim: "C-1", body: claimBody(b, "C-1", time.Now())}
	b.ReportAllocs()
	for b.Loop() {
		if r := s.post(context.Background(), j); !r.ok() {
			b.Fatal(r)
		}
	}
}

// BenchmarkIdlePoll runs an idle sender for b.N poll ticks of 10 ms and
// reports the processor time per tick of this process and of Redis.
func BenchmarkIdlePoll(b *testing.B) {
	srv := redistest.Start(b)
	cfg := Config{PollInterval: 10 * time.Millisecond}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: cfg.PoolSize()})
	b.Cleanup(func() { rdb.Close() })
	text, _ := webhook.NewSecret()
	cfg.Secret, _ = webhook.ParseSecret(text)
	cfg.URL = "http://127.0.0.1:1/"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewSender(rdb, cfg)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	time.Sleep(200 * time.Millisecond)
	b.ResetTimer()
	cpu0, redis0 := processCPU(), redisCPU(b, rdb)
	time.Sleep(time.Duration(b.N) * cfg.PollInterval)
	cpu, rcpu := processCPU()-cpu0, redisCPU(b, rdb)-redis0
	b.StopTimer()
	stop()
	<-done
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/tick")
	b.ReportMetric(float64(rcpu.Microseconds())/float64(b.N), "redis-cpu-µs/tick")
}
