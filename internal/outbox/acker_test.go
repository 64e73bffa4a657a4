package outbox

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
)

// ackBatch is a batch of acknowledgements over two shards, one with files.
func ackBatch() []*ackCall {
	return []*ackCall{
		{j: job{shard: 3, id: "1-1", claim: "C-a", body: []byte(`{"a":1}`)}},
		{j: job{shard: 5, id: "2-1", claim: "C-b", body: []byte(`{"b":2}`)}, files: []string{"f1", "f2"}},
		{j: job{shard: 3, id: "3-1", claim: "C-c", body: []byte(`{"c":3}`)}},
	}
}

// TestAckCommandsAsEvalMadeThem: the script calls that the acker makes
// from its boxed keys carry the arguments, in order, that go-redis's
// EvalSha and Eval made from the keys and arguments built per entry, on
// one Redis and per shard on a cluster.
func TestAckCommandsAsEvalMadeThem(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	retention := 168 * time.Hour
	for _, cluster := range []bool{false, true} {
		a := &acker{cluster: cluster, retention: retention}
		batch := ackBatch()
		got := a.group(batch, now)
		// The calls as the acker made them before: per shard (or all),
		// keys as strings, then EvalSha and Eval.
		type want struct {
			keys []string
			args []any
		}
		var order []*want
		byGroup := map[int]*want{}
		for _, c := range batch {
			g := 0
			if cluster {
				g = c.j.shard
			}
			w := byGroup[g]
			if w == nil {
				w = &want{args: []any{shard.Group, retention.Milliseconds(), now.Add(retention).UnixMilli()}}
				byGroup[g] = w
				order = append(order, w)
			}
			n := c.j.shard
			w.keys = append(w.keys, shard.Outbox(n), shard.Due(n), shard.Meta(n), shard.Files(n), shard.Delivered(n, c.j.claim))
			w.args = append(w.args, c.j.id, c.j.body, len(c.files))
			for _, f := range c.files {
				w.args = append(w.args, f)
			}
		}
		if len(got) != len(order) {
			t.Fatalf("cluster %v: %d script calls, want %d", cluster, len(got), len(order))
		}
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
		defer rdb.Close()
		for i, w := range order {
			pipe := rdb.Pipeline()
			sha := ackManyScript.EvalSha(ctx, pipe, w.keys, w.args...).Args()
			src := ackManyScript.Eval(ctx, pipe, w.keys, w.args...).Args()
			if g := got[i].command(ctx, false).Args(); !reflect.DeepEqual(g, sha) {
				t.Errorf("cluster %v, call %d: EVALSHA\n got %v\nwant %v", cluster, i, g, sha)
			}
			if g := got[i].command(ctx, true).Args(); !reflect.DeepEqual(g, src) {
				t.Errorf("cluster %v, call %d: EVAL\n got %v\nwant %v", cluster, i, g, src)
			}
		}
	}
}

// TestAckAfterScriptFlush: when Redis has lost its scripts the
// acknowledgements are sent again with the script's text, and the claims
// are finished.
func TestAckAfterScriptFlush(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	e.start(e.config())
	first := e.enqueue(3)
	e.recv.WaitAccepted(t, 3, 3*time.Second)
	e.waitDrained(3 * time.Second)
	if err := e.rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	second := e.enqueue(3)
	e.recv.WaitAccepted(t, 6, 3*time.Second)
	e.waitDrained(3 * time.Second)
	e.acceptedOnce(append(first, second...))
	for _, id := range append(first, second...) {
		n, _ := shard.OfClaim(id)
		if e.rdb.Exists(context.Background(), shard.Delivered(n, id)).Val() != 1 {
			t.Errorf("claim %s has no delivered copy", id)
		}
	}
}

// BenchmarkAckGroup makes the script calls of a batch of 16
// acknowledgements.
func BenchmarkAckGroup(b *testing.B) {
	a := &acker{retention: time.Hour}
	batch := make([]*ackCall, 16)
	for i := range batch {
		batch[i] = &ackCall{j: job{shard: i % shard.Count, id: "1-1", claim: newClaimID(i % shard.Count), body: []byte(`{}`)}}
	}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		for _, sa := range a.group(batch, now) {
			sa.command(ctx, false)
		}
	}
}
