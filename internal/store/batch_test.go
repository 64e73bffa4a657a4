package store

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
)

// slowPipelines holds every pipeline for a while and records how many were
// in flight at once and how many scripts each carried.
// Pipelines of other commands (a new connection's handshake, run inside a
// batch's pipeline) pass through.
type slowPipelines struct {
	hold     time.Duration
	inFlight atomic.Int32
	most     atomic.Int32
	mu       sync.Mutex
	sizes    []int
}

func (h *slowPipelines) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slowPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *slowPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || !strings.HasPrefix(cmds[0].Name(), "eval") {
			return next(ctx, cmds) // a new connection's handshake
		}
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
		}
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		h.mu.Unlock()
		time.Sleep(h.hold)
		return next(ctx, cmds)
	}
}

// Turns that arrive while every slot is busy queue and go out together;
// each gets its own answer, no more than batchers batches are ever in
// flight, and a turn that gives up while queued leaves the rest working.
func TestBatcherQueuesAndHandsOn(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	hook := &slowPipelines{hold: 20 * time.Millisecond}
	rdb.AddHook(hook)
	b := newBatcher(rdb, 5*time.Second)

	// A turn script on a fresh key with revision 0 is applied: {1, 1}.
	apply := func(ctx context.Context, key string) ([]any, error) {
		return b.run(ctx, []string{key, key, key}, []any{0, "1\n{}", 60000})
	}
	const turns = 200
	var wg sync.WaitGroup
	for i := range turns {
		wg.Go(func() {
			res, err := apply(context.Background(), "claimbot:test:batch:"+strconv.Itoa(i))
			if err != nil || len(res) != 2 || res[0] != int64(1) || res[1] != int64(1) {
				t.Errorf("turn %d: %v %v", i, res, err)
			}
		})
	}
	// One that gives up at once, while the others hold every slot.
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := apply(ctx, "claimbot:test:batch:gave-up"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled turn: %v, want context.Canceled", err)
	}
	wg.Wait()

	if m := hook.most.Load(); m > batchers {
		t.Errorf("%d batches in flight at once, want at most %d", m, batchers)
	}
	hook.mu.Lock()
	sent, biggest := 0, 0
	for _, n := range hook.sizes {
		sent += n
		biggest = max(biggest, n)
	}
	hook.mu.Unlock()
	if sent < turns || biggest < 2 || biggest > maxBatch {
		t.Errorf("%d scripts sent in %d batches, the biggest of %d: want all %d, batched, at most %d a batch", sent, len(hook.sizes), biggest, turns, maxBatch)
	}
	// Every slot is free again: a lone turn goes out at once.
	hook.hold = 0
	if _, err := apply(context.Background(), "claimbot:test:batch:after"); err != nil {
		t.Fatal(err)
	}
	if b.busy != 0 || len(b.queue) != 0 {
		t.Errorf("after the storm: %d slots busy, %d queued", b.busy, len(b.queue))
	}
}

// When Redis does not answer, queued turns give up at their deadline
// instead of waiting for a slot forever.
func TestBatcherGivesUpOnDeadRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	b := newBatcher(rdb, 300*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 3 * batchers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, err := b.run(ctx, []string{"k"}, []any{i}); err == nil {
				t.Errorf("turn %d: no error from a Redis that never answers", i)
			}
		})
	}
	wg.Wait()
}
