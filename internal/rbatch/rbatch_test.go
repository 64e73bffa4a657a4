package rbatch

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

// setScript sets a fresh key: {1, 1}.
var setScript = redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000) return {1, 1}`)

// Commands that arrive while every slot is busy queue and go out together;
// each gets its own answer, no more than Slots batches are ever in
// flight, and a caller that gives up while queued leaves the rest working.
func TestBatcherQueuesAndHandsOn(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	hook := &slowPipelines{hold: 20 * time.Millisecond}
	rdb.AddHook(hook)
	b := New(rdb, 5*time.Second)

	// The script sets a fresh key and answers {1, 1}.
	apply := func(ctx context.Context, key string) ([]any, error) {
		return b.Script(ctx, setScript, []string{key}, "1").Slice()
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

	if m := hook.most.Load(); m > Slots {
		t.Errorf("%d batches in flight at once, want at most %d", m, Slots)
	}
	hook.mu.Lock()
	sent, biggest := 0, 0
	for _, n := range hook.sizes {
		sent += n
		biggest = max(biggest, n)
	}
	hook.mu.Unlock()
	if sent < turns || biggest < 2 || biggest > MaxBatch {
		t.Errorf("%d scripts sent in %d batches, the biggest of %d: want all %d, batched, at most %d a batch", sent, len(hook.sizes), biggest, turns, MaxBatch)
	}
	// Every slot is free again: a lone call goes out at once.
	hook.hold = 0
	if _, err := apply(context.Background(), "claimbot:test:batch:after"); err != nil {
		t.Fatal(err)
	}
	if b.busy != 0 || len(b.queue) != 0 {
		t.Errorf("after the storm: %d slots busy, %d queued", b.busy, len(b.queue))
	}
	// The slots' state is kept for the next batches, no more of it than
	// there are slots, and none holds on to a call (its args may be a lent
	// buffer) or a command.
	if len(b.free) == 0 || len(b.free) > Slots {
		t.Errorf("after the storm: %d slots' state kept, want 1 to %d", len(b.free), Slots)
	}
	for i, s := range b.free {
		if s.pipe.Len() != 0 {
			t.Errorf("slot %d: its pipeline holds %d commands", i, s.pipe.Len())
		}
		for _, c := range s.calls[:cap(s.calls)] {
			if c != nil {
				t.Errorf("slot %d holds a call after its batch", i)
				break
			}
		}
	}
}

// silentRedis listens on loopback, accepts connections and never answers
// them, as a hung Redis would; it returns its address.
func silentRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

// When Redis does not answer, queued calls give up at their deadline
// instead of waiting for a slot forever.
func TestBatcherGivesUpOnDeadRedis(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: silentRedis(t), ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	b := New(rdb, 300*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 3 * Slots {
		wg.Go(func() {
			// No deadline of the caller's own: the batcher's bounds it.
			if err := b.Script(context.Background(), setScript, []string{"k"}, i).Err(); err == nil {
				t.Errorf("call %d: no error from a Redis that never answers", i)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("calls to a Redis that never answers still waiting after 10 s")
	}
}

// A call ends by its deadline, its wait for a slot included, or at most a
// third of the timeout after it when Redis holds its batch: the batcher's
// timeout from its start, or its context's deadline when that is sooner.
// So a turn can promise an answer in time however many turns queue behind
// a Redis that stopped answering.
func TestEveryCallEndsByItsDeadline(t *testing.T) {
	// As the server's client: long socket timeouts, one retry, the
	// context's deadline honoured.
	rdb := redis.NewClient(&redis.Options{Addr: silentRedis(t), ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, MaxRetries: 1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	const timeout = 1200 * time.Millisecond // the store's
	b := New(rdb, timeout)
	var wg sync.WaitGroup
	for i := range 4 * Slots {
		wg.Go(func() {
			ctx, limit := context.Background(), timeout
			if i%2 == 1 { // a caller with a sooner deadline of its own
				limit = timeout / 4
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, limit)
				defer cancel()
			}
			start := time.Now()
			err := b.Script(ctx, setScript, []string{"k"}, i).Err()
			took := time.Since(start)
			if err == nil {
				t.Errorf("call %d: no error from a Redis that never answers", i)
			}
			// 300 ms of slack for a busy machine. The batcher before this
			// one let a queued call take twice the timeout, and one with a
			// deadline of its own the whole timeout.
			if most := limit + timeout/3 + 300*time.Millisecond; took > most {
				t.Errorf("call %d took %v, want at most %v (its deadline %v)", i, took.Round(time.Millisecond), most, limit)
			}
		})
	}
	wg.Wait()
}

// A batch runs to the soonest deadline of its calls, but gets at least the
// floor: the call that waited longest for a slot leads it and must not cut
// short the others, which have time to spare.
func TestBatchDeadline(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) *call { return &call{deadline: now.Add(d)} }
	const floor = 400 * time.Millisecond
	for _, tt := range []struct {
		name  string
		calls []*call
		want  time.Duration
	}{
		{"one call", []*call{at(time.Second)}, time.Second},
		{"the soonest", []*call{at(time.Second), at(700 * time.Millisecond), at(1100 * time.Millisecond)}, 700 * time.Millisecond},
		{"a leader almost out of time", []*call{at(10 * time.Millisecond), at(time.Second), at(1100 * time.Millisecond)}, floor},
		{"a leader past its deadline", []*call{at(-time.Millisecond), at(time.Second)}, floor},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := batchDeadline(tt.calls, now, floor).Sub(now); got != tt.want {
				t.Errorf("deadline in %v, want %v", got, tt.want)
			}
		})
	}
}

// Plain commands go in the same batches as scripts, and a script Redis
// lost is sent again by its source.
func TestCommandsAndLostScripts(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	b := New(rdb, 5*time.Second)
	ctx := context.Background()
	if err := b.Script(ctx, setScript, []string{"claimbot:test:rbatch:a"}, "x").Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Do(ctx, "get", "claimbot:test:rbatch:a").Text(); err != nil || v != "x" {
		t.Fatalf("GET: %q %v", v, err)
	}
	if err := b.Do(ctx, "get", "claimbot:test:rbatch:none").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET of a missing key: %v, want redis.Nil", err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Script(ctx, setScript, []string{"claimbot:test:rbatch:b"}, "y").Slice(); err != nil || len(res) != 2 {
		t.Fatalf("after SCRIPT FLUSH: %v %v", res, err)
	}
}
