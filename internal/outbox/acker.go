package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/shard"
)

// Bounds of a batch of acknowledgements.
const (
	ackMax = 64 // acknowledgements in one batch, at most
)

// ackLinger is the longest an acknowledgement waits for others to share
// its round trip (a variable for tests).
var ackLinger = 2 * time.Millisecond

// ackManyScript finishes delivered entries. An entry's delivered copy is
// written only when the entry was still in the outbox: one purged (or
// finished by another instance) while its POST was in flight stays gone,
// so a purge is never undone by the answer of an attempt it overtook. The
// claim's files are scheduled for deletion when its copy expires, in the
// same script: a delivered claim's files never outlive it, and none is
// left unscheduled by a crash in between. It returns 1 per entry written, 0 per entry that
// was gone, and the error for an entry that met one (a key of its shard
// holding another type of value): as when each entry had a call of its
// own, it stops that entry's writes there and no other entry's. The script
// is atomic, so each entry's outcome is. On a Redis Cluster one call takes
// the entries of one shard only.
// KEYS: per entry its shard's outbox, due, meta and files, and its
// delivered copy. ARGV: group, retention ms, files due ms, then per entry
// its id, body, number of files and the ids of those files.
var ackManyScript = redis.NewScript(ackManySource)

const ackManySource = `
local out = {}
local a = 4
local function ack(k, id, body, first, last)
  redis.pcall('XACK', KEYS[k], ARGV[1], id)
  redis.call('ZREM', KEYS[k + 1], id)
  redis.call('HDEL', KEYS[k + 2], id .. ':attempts', id .. ':error', id .. ':lease')
  if redis.call('XDEL', KEYS[k], id) == 0 then return 0 end
  redis.call('SET', KEYS[k + 4], body, 'PX', ARGV[2])
  for i = first, last do
    redis.call('ZADD', KEYS[k + 3], ARGV[3], ARGV[i])
  end
  return 1
end
for k = 1, #KEYS, 5 do
  local nf = tonumber(ARGV[a + 2])
  local ok, r = pcall(ack, k, ARGV[a], ARGV[a + 1], a + 3, a + 2 + nf)
  if not ok then
    if type(r) == 'table' then r = r.err end
    r = tostring(r)
  end
  out[#out + 1] = r
  a = a + 3 + nf
end
return out
`

// acker sends the acknowledgements of deliveries that finish close
// together in one round trip: one ackManyScript call for them all, or on a
// Redis Cluster one per shard, all in one pipeline. An acknowledgement waits at most ackLinger for others, and not
// at all once every delivery in flight waits with it (no other is coming
// soon) or the batch is full. Under load each delivered claim cost a round
// trip of its own (a write and a read on both sides, a goroutine woken),
// some 4 % of the server's processor time.
type acker struct {
	rdb       redis.UniversalClient
	cluster   bool // one script call per shard
	retention time.Duration
	inflight  func() int // deliveries in flight, those waiting here included

	mu      sync.Mutex
	pending []*ackCall
	done    chan struct{} // the pending calls' done; nil when none is pending
	timer   *time.Timer   // flushes pending after ackLinger; nil when none is set
}

type ackCall struct {
	j     job
	files []string
	err   error
	// done is closed once every call of its batch has its answer: one
	// channel a batch, where one a call cost an allocation a delivery.
	done chan struct{}
}

func newAcker(rdb redis.UniversalClient, retention time.Duration, inflight func() int) *acker {
	return &acker{rdb: rdb, cluster: redisconn.IsCluster(rdb), retention: retention, inflight: inflight}
}

// ack finishes a delivered entry and schedules its files' deletion for
// when its retention ends. An error leaves the entry as it was, or
// finished (the acknowledgement is idempotent): record tries again.
func (a *acker) ack(ctx context.Context, j job, files []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &ackCall{j: j, files: files}
	a.mu.Lock()
	inflight := a.inflight()
	if a.pending == nil {
		// Room for as many as may join it: the batch is sent when all
		// the deliveries in flight wait here.
		a.pending = make([]*ackCall, 0, max(1, min(ackMax, inflight)))
		a.done = make(chan struct{})
	}
	c.done = a.done
	a.pending = append(a.pending, c)
	var batch []*ackCall
	if len(a.pending) >= ackMax || len(a.pending) >= inflight {
		batch = a.takeLocked()
	} else if a.timer == nil {
		a.timer = time.AfterFunc(ackLinger, a.flush)
	}
	a.mu.Unlock()
	if batch != nil {
		a.send(batch)
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		a.mu.Lock()
		for i, p := range a.pending {
			if p == c { // not sent: it never will be
				a.pending = append(a.pending[:i], a.pending[i+1:]...)
				a.mu.Unlock()
				return ctx.Err()
			}
		}
		a.mu.Unlock()
		<-c.done // sent: its answer comes within recordTimeout
		return c.err
	}
}

// takeLocked takes the pending batch and stops its timer; a.mu is held.
func (a *acker) takeLocked() []*ackCall {
	batch := a.pending
	a.pending, a.done = nil, nil
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	return batch
}

func (a *acker) flush() {
	a.mu.Lock()
	batch := a.takeLocked()
	a.mu.Unlock()
	if len(batch) > 0 {
		a.send(batch)
	}
}

// shardAck is one ackManyScript call: the acknowledgements of one shard,
// or of all when Redis is no cluster.
type shardAck struct {
	calls []*ackCall
	keys  []any // per entry the five keys of ackManyScript
	args  []any // its ARGV
	cmd   *redis.Cmd
}

// ackShardKeys are the four keys of each shard that ackManyScript takes
// per entry (outbox, due, meta, files), made and boxed once: each entry
// of a batch made four strings and boxed five in the script call.
var ackShardKeys = func() (k [shard.Count][4]any) {
	for n := range k {
		k[n] = [4]any{shard.Outbox(n), shard.Due(n), shard.Meta(n), shard.Files(n)}
	}
	return k
}()

// send sends a batch and answers its calls.
func (a *acker) send(batch []*ackCall) {
	order := a.group(batch, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	a.exec(ctx, order, false)
	var missing []*shardAck
	for _, sa := range order {
		if err := sa.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			missing = append(missing, sa)
		}
	}
	if len(missing) > 0 { // Redis restarted or flushed its scripts: send the source once
		a.exec(ctx, missing, true)
	}
	for _, sa := range order {
		err := sa.cmd.Err()
		r, ok := sa.cmd.Val().([]any)
		if err == nil && (!ok || len(r) != len(sa.calls)) {
			err = fmt.Errorf("outbox: ack script answered %v", sa.cmd.Val())
		}
		for i, c := range sa.calls {
			c.err = err
			if err == nil {
				if msg, failed := r[i].(string); failed {
					c.err = errors.New(msg)
				}
			}
		}
	}
	close(batch[0].done) // every call of the batch has its answer
}

// group makes a batch's script calls: one for all, or on a cluster one per
// shard, in the order of their first entries.
func (a *acker) group(batch []*ackCall, now time.Time) []*shardAck {
	var byShard [shard.Count]*shardAck
	var order []*shardAck
	per := len(batch) // entries a call is made room for: on a cluster, a shard's share
	if a.cluster {
		per = len(batch)/shard.Count + 1
	}
	retention, filesDue := any(a.retention.Milliseconds()), any(now.Add(a.retention).UnixMilli()) // boxed once
	for _, c := range batch {
		n, g := c.j.shard, 0
		if a.cluster {
			g = n
		}
		sa := byShard[g]
		if sa == nil {
			sa = &shardAck{
				calls: make([]*ackCall, 0, per),
				keys:  make([]any, 0, 5*per),
				args:  append(make([]any, 0, 3+4*per), shard.Group, retention, filesDue),
			}
			byShard[g] = sa
			order = append(order, sa)
		}
		sa.calls = append(sa.calls, c)
		k := &ackShardKeys[n]
		sa.keys = append(sa.keys, k[0], k[1], k[2], k[3], shard.Delivered(n, c.j.claim))
		sa.args = append(sa.args, c.j.id, c.j.body, len(c.files))
		for _, f := range c.files {
			sa.args = append(sa.args, f)
		}
	}
	return order
}

// exec sends each shardAck's script call, by its hash or, with source, as
// its text, in one pipeline. The commands are made here, as EVALSHA and
// EVAL would make them, from the keys and arguments boxed already: those
// copied every key and argument once more.
func (a *acker) exec(ctx context.Context, acks []*shardAck, source bool) {
	pipe := a.rdb.Pipeline()
	for _, sa := range acks {
		sa.cmd = sa.command(ctx, source)
		_ = pipe.Process(ctx, sa.cmd)
	}
	_, _ = pipe.Exec(ctx) // errors are per command
}

// command is sa's script call, by the script's hash or, with source, as
// its text.
func (sa *shardAck) command(ctx context.Context, source bool) *redis.Cmd {
	args := make([]any, 0, 3+len(sa.keys)+len(sa.args))
	if source {
		args = append(args, "eval", ackManySource)
	} else {
		args = append(args, "evalsha", ackManyScript.Hash())
	}
	args = append(args, len(sa.keys))
	args = append(args, sa.keys...)
	args = append(args, sa.args...)
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(3) // a batch has keys: a cluster routes it by them
	return cmd
}
