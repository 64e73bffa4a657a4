package rbatch

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
)

// BenchmarkBatcher is one caller at a time, so each call is a batch of its
// own: what a batch costs this process on top of its round trip. The
// client is the server's (ContextTimeoutEnabled).
func BenchmarkBatcher(b *testing.B) {
	rs := redistest.StartReal(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { rdb.Close() })
	bt := New(rdb, time.Second)
	ctx := context.Background()
	if err := bt.Do(ctx, "ping").Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := bt.Do(ctx, "ping").Err(); err != nil {
			b.Fatal(err)
		}
	}
}
