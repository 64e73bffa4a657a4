package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends the turn scripts of many connections to Redis together:
// each batch is one pipelined write and one read, instead of one round trip
// per turn. Under load this halves the system calls of a turn on both
// sides; a lone turn goes out at once, so it waits for no one.
type batcher struct {
	rdb     redis.UniversalClient
	calls   chan *call
	timeout time.Duration
}

type call struct {
	keys []string
	args []any
	res  []any
	err  error
	done chan struct{}
}

// maxBatch bounds a batch, so one slow batch does not hold many turns.
const maxBatch = 64

// batchers is how many batches may be in flight at once.
const batchers = 4

func newBatcher(rdb redis.UniversalClient, timeout time.Duration) *batcher {
	b := &batcher{rdb: rdb, calls: make(chan *call, 1024), timeout: timeout}
	for range batchers {
		go b.loop()
	}
	return b
}

// run sends one turn script with the next batch and waits for its result.
func (b *batcher) run(ctx context.Context, keys []string, args []any) ([]any, error) {
	c := &call{keys: keys, args: args, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return nil, ctx.Err() // the batch may still apply it; the revision check makes a retry safe
	}
}

func (b *batcher) loop() {
	calls := make([]*call, 0, maxBatch)
	for first := range b.calls {
		calls = append(calls[:0], first)
	fill:
		for len(calls) < maxBatch {
			select {
			case c := <-b.calls:
				calls = append(calls, c)
			default:
				break fill
			}
		}
		b.send(calls)
	}
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
		close(c.done)
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
