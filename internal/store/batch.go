package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends the turn scripts of many connections to Redis together:
// each batch is one pipelined write and one read, instead of one round trip
// per turn. Under load this halves the system calls of a turn on both
// sides.
//
// It has no goroutine of its own, so a turn costs no hand-off between
// goroutines (each one may wake a thread): the turn that finds a batch slot
// free sends its own script at once, with those queued meanwhile. A turn
// that finds every slot busy queues; when a batch is answered, its sender
// hands the slot to the first queued turn, which sends the queue as the
// next batch, and goes on with its own reply.
type batcher struct {
	rdb     redis.UniversalClient
	timeout time.Duration

	mu    sync.Mutex
	busy  int     // batches in flight
	queue []*call // turns waiting for a slot
}

type call struct {
	keys []string
	args []any
	res  []any
	err  error
	// wake is signalled once: with the result, or with lead set when the
	// call was handed a slot and must send the queue.
	wake chan struct{}
	lead bool
}

// maxBatch bounds a batch, so one slow batch does not hold many turns.
const maxBatch = 64

// batchers is how many batches may be in flight at once.
const batchers = 4

func newBatcher(rdb redis.UniversalClient, timeout time.Duration) *batcher {
	return &batcher{rdb: rdb, timeout: timeout}
}

// run sends one turn script, with the next batch, and waits for its result.
func (b *batcher) run(ctx context.Context, keys []string, args []any) ([]any, error) {
	c := &call{keys: keys, args: args, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	if b.busy < batchers {
		b.busy++
		batch := b.take(c)
		b.mu.Unlock()
		b.lead(batch)
		return c.res, c.err
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case <-c.wake:
	case <-ctx.Done():
		b.mu.Lock()
		queued := b.remove(c)
		b.mu.Unlock()
		if queued {
			return nil, ctx.Err()
		}
		// A batch took it, or it was handed a slot: either way it is
		// answered within the batch timeout.
		<-c.wake
	}
	if c.lead {
		b.mu.Lock()
		batch := b.take(c)
		b.mu.Unlock()
		b.lead(batch)
	}
	return c.res, c.err
}

// take makes a batch of first and the queued calls; b.mu is held.
func (b *batcher) take(first *call) []*call {
	n := min(len(b.queue), maxBatch-1)
	batch := make([]*call, 0, n+1)
	batch = append(append(batch, first), b.queue[:n]...)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// remove takes c out of the queue; false when it is not there.
func (b *batcher) remove(c *call) bool {
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

// lead sends a batch whose first call is the caller's own, answers the
// others, then hands the slot to the first queued call or frees it.
func (b *batcher) lead(batch []*call) {
	b.send(batch)
	for _, c := range batch[1:] {
		c.wake <- struct{}{}
	}
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.busy--
		b.mu.Unlock()
		return
	}
	next := b.queue[0]
	b.queue[0] = nil // its args hold a lent buffer
	b.queue = b.queue[1:]
	next.lead = true
	b.mu.Unlock()
	next.wake <- struct{}{}
}

func (b *batcher) send(calls []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	cmds := b.exec(ctx, calls, turnScript.Hash(), false)
	var missing []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 { // Redis restarted or flushed its scripts: send the source once
		again := make([]*call, len(missing))
		for j, i := range missing {
			again[j] = calls[i]
		}
		for j, cmd := range b.exec(ctx, again, "", true) {
			cmds[missing[j]] = cmd
		}
	}
	for i, c := range calls {
		c.res, c.err = cmds[i].Slice()
		if c.err != nil && errors.Is(c.err, redis.Nil) {
			c.err = nil
		}
	}
}

func (b *batcher) exec(ctx context.Context, calls []*call, sha string, source bool) []*redis.Cmd {
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		if source {
			cmds[i] = pipe.Eval(ctx, turnLua, c.keys, c.args...)
		} else {
			cmds[i] = pipe.EvalSha(ctx, sha, c.keys, c.args...)
		}
	}
	pipe.Exec(ctx) // errors are per command
	return cmds
}
