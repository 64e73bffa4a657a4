// Package rbatch sends the Redis commands of many goroutines together: each
// batch is one pipelined write and one read, instead of one round trip per
// command. Under load this divides the system calls of a command, on both
// sides, by the batch's size.
//
// A Batcher has no goroutine of its own, so a command costs no hand-off
// between goroutines (each may wake a thread): the caller that finds a
// batch slot free sends its own command at once, with those queued
// meanwhile. A caller that finds every slot busy queues; when a batch is
// answered, its sender hands the slot to the first queued caller, which
// sends the queue as the next batch, and goes on with its own result.
package rbatch

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxBatch bounds a batch, so one slow batch does not hold many callers.
const MaxBatch = 64

// Slots is how many batches may be in flight at once.
const Slots = 4

// Batcher pipelines the commands of concurrent callers.
type Batcher struct {
	rdb     redis.UniversalClient
	timeout time.Duration

	mu    sync.Mutex
	busy  int     // batches in flight
	queue []*call // callers waiting for a slot
	free  []*slot // slots' state, kept for the next batch; at most Slots are made
}

// slot is what a batch in flight uses and the next one reuses: a batch
// made its pipeline (three objects) and its list of calls anew.
type slot struct {
	pipe  redis.Pipeliner // empty between batches: Exec leaves it so
	calls []*call
}

type call struct {
	script *redis.Script // nil: args is a command
	keys   []string
	args   []any
	cmd    *redis.Cmd
	// wake is signalled once: with the result, or with lead set when the
	// call was handed a slot and must send the queue.
	wake     chan struct{}
	lead     bool
	deadline time.Time // when the call gives up: its context's deadline, or the batcher's timeout from its start
}

// New returns a Batcher over rdb. timeout bounds a call, its wait in the
// queue included: a call gives up by its deadline, timeout from its start
// or its context's deadline when that is sooner, or at most a third of
// timeout later when it is in a batch that Redis has not answered (see
// batchDeadline). go-redis holds the socket to a batch's deadline only
// when the client sets ContextTimeoutEnabled, and to its own read and write
// timeouts otherwise.
func New(rdb redis.UniversalClient, timeout time.Duration) *Batcher {
	return &Batcher{rdb: rdb, timeout: timeout}
}

// Script runs s on keys and args in the next batch: by its hash, and by its
// source again when Redis lost it (a restart, SCRIPT FLUSH).
func (b *Batcher) Script(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	return b.run(ctx, &call{script: s, keys: keys, args: args})
}

// Do runs one command, given as redis.Client.Do takes it, in the next batch.
func (b *Batcher) Do(ctx context.Context, args ...any) *redis.Cmd {
	return b.run(ctx, &call{args: args})
}

// run sends c with the next batch and waits for its result. Once run
// returns, nothing reads c's keys or args any more: a call that gave up
// while queued was never sent.
func (b *Batcher) run(ctx context.Context, c *call) *redis.Cmd {
	if err := ctx.Err(); err != nil {
		return failed(ctx, err)
	}
	c.wake = make(chan struct{}, 1)
	c.deadline = time.Now().Add(b.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(c.deadline) {
		c.deadline = d
	}
	b.mu.Lock()
	if b.busy < Slots {
		b.busy++
		s := b.take(c)
		b.mu.Unlock()
		b.lead(s)
		return c.cmd
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	// A queued call waits for a slot no longer than its deadline: the next
	// batch to form or end fails the calls whose deadline has passed (see
	// expire). Every batch in flight ends by its deadline (with
	// ContextTimeoutEnabled; by the client's read and write timeouts
	// otherwise), so none waits for ever, and no call needs a timer of its
	// own.
	select {
	case <-c.wake:
	case <-ctx.Done():
		b.mu.Lock()
		queued := b.remove(c)
		b.mu.Unlock()
		if queued {
			return failed(ctx, ctx.Err())
		}
		// A batch took it, it expired, or it was handed a slot: either
		// way it is answered within the batch timeout.
		<-c.wake
	}
	if c.lead {
		b.mu.Lock()
		s := b.take(c)
		b.mu.Unlock()
		b.lead(s)
	}
	return c.cmd
}

func failed(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// expire fails the queued calls whose deadline has passed; b.mu is held.
func (b *Batcher) expire() {
	if len(b.queue) == 0 {
		return
	}
	now := time.Now()
	keep := b.queue[:0]
	for _, c := range b.queue {
		if now.Before(c.deadline) {
			keep = append(keep, c)
			continue
		}
		c.cmd = failed(context.Background(), context.DeadlineExceeded)
		c.wake <- struct{}{}
	}
	clear(b.queue[len(keep):])
	b.queue = keep
}

// take makes a batch of first and the queued calls, in a slot's state;
// b.mu is held, and the caller holds a slot.
func (b *Batcher) take(first *call) *slot {
	b.expire()
	var s *slot
	if n := len(b.free); n > 0 {
		s = b.free[n-1]
		b.free[n-1] = nil
		b.free = b.free[:n-1]
	} else {
		s = &slot{pipe: b.rdb.Pipeline()}
	}
	n := min(len(b.queue), MaxBatch-1)
	s.calls = append(append(s.calls[:0], first), b.queue[:n]...)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return s
}

// remove takes c out of the queue; false when it is not there.
func (b *Batcher) remove(c *call) bool {
	for i, q := range b.queue {
		if q == c {
			last := len(b.queue) - 1
			copy(b.queue[i:], b.queue[i+1:])
			b.queue[last] = nil
			b.queue = b.queue[:last]
			return true
		}
	}
	return false
}

// lead sends a slot's batch, whose first call is the caller's own, answers
// the others, then hands the slot to the first queued call or frees it.
func (b *Batcher) lead(s *slot) {
	b.send(s.pipe, s.calls)
	for _, c := range s.calls[1:] {
		c.wake <- struct{}{}
	}
	clear(s.calls) // their args may hold lent buffers
	b.mu.Lock()
	b.free = append(b.free, s)
	b.expire()
	if len(b.queue) == 0 {
		b.busy--
		b.mu.Unlock()
		return
	}
	next := b.queue[0]
	b.queue[0] = nil // its args may hold a lent buffer
	b.queue = b.queue[1:]
	next.lead = true
	b.mu.Unlock()
	next.wake <- struct{}{}
}

func (b *Batcher) send(pipe redis.Pipeliner, calls []*call) {
	ctx, cancel := context.WithDeadline(context.Background(), batchDeadline(calls, time.Now(), b.timeout/3))
	defer cancel()
	exec(ctx, pipe, calls, false)
	var missing []*call
	for _, c := range calls {
		if err := c.cmd.Err(); c.script != nil && err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 { // Redis restarted or flushed its scripts: send their source once
		exec(ctx, pipe, missing, true)
	}
}

// batchDeadline is when a batch gives up on Redis: the soonest deadline of
// its calls, but no sooner than floor from now. The call that leads a batch
// is the one that waited longest for a slot, so it has the least time left;
// without the floor, a Redis slow enough to make calls queue would have
// every batch cut short by its leader, and turns with time to spare would
// fail with it. With it, a call ends at most floor after its own deadline.
func batchDeadline(calls []*call, now time.Time, floor time.Duration) time.Time {
	d := calls[0].deadline
	for _, c := range calls[1:] {
		if c.deadline.Before(d) {
			d = c.deadline
		}
	}
	if least := now.Add(floor); d.Before(least) {
		d = least
	}
	return d
}

// exec sends calls in pipe, which Exec leaves empty for the next batch.
func exec(ctx context.Context, pipe redis.Pipeliner, calls []*call, source bool) {
	for _, c := range calls {
		switch {
		case c.script == nil:
			c.cmd = pipe.Do(ctx, c.args...)
		case source:
			c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...)
		default:
			c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
	}
	pipe.Exec(ctx) // errors are per command
}
