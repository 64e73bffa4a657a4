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
// second.
func BenchmarkDeliver(b *testing.B) {
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
	pipe := rdb.Pipeline()
	for i := range b.N {
		id := newClaimID(i % shard.Count)
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: shard.Outbox(i % shard.Count),
			Values: []any{shard.FieldClaim, id, shard.FieldBody, claimBody(b, id, now), shard.FieldAt, now.UnixMilli()},
		})
		if pipe.Len() == 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}

	cfg.URL, cfg.Secret = recv.URL, secret
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := NewSender(rdb, cfg)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer close(done)
		_ = s.Run(runCtx)
	}()
	for {
		if got.Load() >= int64(b.N) && pending(ctx, rdb) == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	stop()
	<-done
	b.ReportMetric(float64(b.N)/took.Seconds(), "claims/s")
}

func pending(ctx context.Context, rdb redis.UniversalClient) int64 {
	var total int64
	for n := range shard.Count {
		total += rdb.XLen(ctx, shard.Outbox(n)).Val()
	}
	return total
}
