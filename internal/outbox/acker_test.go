package outbox

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
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

// TestAckBatchAnswersEach: the acknowledgements that share a batch each
// get their own answer (written, gone, an error), and one that gave up
// while its batch waited is never sent, also when it was the batch's only
// call and others joined the batch after it.
func TestAckBatchAnswersEach(t *testing.T) {
	defer func(d time.Duration) { ackLinger = d }(ackLinger)
	ackLinger = 150 * time.Millisecond
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	const ok, gone, broken, gaveUp = 1, 2, 5, 6
	jobs := map[int]job{}
	for _, n := range []int{ok, gone, broken, gaveUp} {
		j := job{shard: n, claim: newClaimID(n), body: []byte(`{"n":` + strconv.Itoa(n) + `}`)}
		id, err := Enqueue(ctx, rdb, j.claim, j.body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		j.id = id
		jobs[n] = j
		if err := rdb.XGroupCreate(ctx, shard.Outbox(n), shard.Group, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XDel(ctx, shard.Outbox(gone), jobs[gone].id).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, shard.Due(broken), "not a schedule", 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := newAcker(rdb, time.Hour, func() int { return 10 }) // the batch waits for ackLinger

	// Alone in its batch, it gives up before the batch is sent.
	giveUp, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := a.ack(giveUp, jobs[gaveUp], nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an acknowledgement that gave up: %v", err)
	}
	errs := map[int]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range []int{ok, gone, broken} {
		wg.Go(func() {
			err := a.ack(ctx, jobs[n], []string{"file-" + strconv.Itoa(n)})
			mu.Lock()
			errs[n] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	if errs[ok] != nil || errs[gone] != nil {
		t.Errorf("written: %v, gone: %v; want no error", errs[ok], errs[gone])
	}
	if errs[broken] == nil || !strings.Contains(errs[broken].Error(), "WRONGTYPE") {
		t.Errorf("a shard whose schedule is no sorted set: %v, want WRONGTYPE", errs[broken])
	}
	for n, want := range map[int]int64{ok: 1, gone: 0, broken: 0, gaveUp: 0} {
		if got := rdb.Exists(ctx, shard.Delivered(n, jobs[n].claim)).Val(); got != want {
			t.Errorf("shard %d: %d delivered copies, want %d", n, got, want)
		}
	}
	if got := rdb.XLen(ctx, shard.Outbox(gaveUp)).Val(); got != 1 {
		t.Errorf("the entry whose acknowledgement gave up: %d in the outbox, want 1 (never sent)", got)
	}
	if got := rdb.ZScore(ctx, shard.Files(ok), "file-"+strconv.Itoa(ok)).Err(); got != nil {
		t.Errorf("the written entry's file not scheduled: %v", got)
	}
	if got := rdb.ZCard(ctx, shard.Files(gone)).Val(); got != 0 {
		t.Errorf("the gone entry's file scheduled")
	}
}
