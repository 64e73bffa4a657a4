package outbox

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

// keysHolding returns the keys of every type whose value contains needle.
func keysHolding(t *testing.T, rdb *redis.Client, needle string) []string {
	t.Helper()
	ctx := context.Background()
	var found []string
	iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var text []string
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			text = append(text, rdb.Get(ctx, key).Val())
		case "stream":
			for _, m := range rdb.XRange(ctx, key, "-", "+").Val() {
				for k, v := range m.Values {
					text = append(text, k, str(v))
				}
			}
		case "hash":
			for k, v := range rdb.HGetAll(ctx, key).Val() {
				text = append(text, k, v)
			}
		case "zset":
			text = append(text, rdb.ZRange(ctx, key, 0, -1).Val()...)
		case "list":
			text = append(text, rdb.LRange(ctx, key, 0, -1).Val()...)
		case "set":
			text = append(text, rdb.SMembers(ctx, key).Val()...)
		case "none": // expired meanwhile
		default:
			t.Fatalf("key %s of unexpected type %s", key, typ)
		}
		if strings.Contains(strings.Join(text, "\n"), needle) {
			found = append(found, key)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return found
}

// Issue 18, item 3: a purge while the claim's POST is in flight must not
// be undone by the acknowledgement of that POST.
func TestPurgeDuringDeliveryLeavesNoData(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	inFlight := make(chan struct{}, 1)
	purged := make(chan struct{})
	e.recv.Respond(func(int, string) (int, http.Header) {
		select {
		case inFlight <- struct{}{}:
		default:
		}
		<-purged // answer 2xx only once the purge returned
		return 0, nil
	})
	cfg := e.config()
	m := NewMetrics(nil, e.rdb)
	cfg.Metrics = m
	e.start(cfg)

	id := newClaimID(3)
	e.enqueueID(id)
	select {
	case <-inFlight:
	case <-time.After(3 * time.Second):
		close(purged)
		t.Fatal("no delivery in flight")
	}
	// The scan sees the body where it is.
	if keys := keysHolding(t, e.rdb, "owner@example.com"); len(keys) != 1 || keys[0] != shard.Outbox(3) {
		close(purged)
		t.Fatalf("before the purge the body is in %v, want only in %s", keys, shard.Outbox(3))
	}
	err := Purge(ctx, e.rdb, id)
	close(purged)
	if err != nil {
		t.Fatalf("Purge during delivery: %v", err)
	}
	e.recv.WaitAccepted(t, 1, 3*time.Second)
	eventually(t, 3*time.Second, "the accepted delivery recorded", func() bool {
		return testutil.ToFloat64(m.attempts.WithLabelValues(resultOK)) == 1
	})
	for _, personal := range []string{"owner@example.com", "010-5555-1234", "user-" + id} {
		if keys := keysHolding(t, e.rdb, personal); len(keys) != 0 {
			t.Errorf("after the purge %q is still in %v", personal, keys)
		}
	}
	if n := e.rdb.Exists(ctx, shard.Delivered(3, id)).Val(); n != 0 {
		t.Errorf("delivered record of a purged claim written back (ttl %s)", e.rdb.PTTL(ctx, shard.Delivered(3, id)).Val())
	}
	if !e.drained() {
		t.Error("outbox not drained")
	}
}

// concurrency counts the POSTs in flight per webhook-id and the most seen.
type concurrency struct {
	mu   sync.Mutex
	now  map[string]int
	peak map[string]int
}

func (c *concurrency) enter(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now == nil {
		c.now, c.peak = map[string]int{}, map[string]int{}
	}
	c.now[id]++
	c.peak[id] = max(c.peak[id], c.now[id])
}

func (c *concurrency) leave(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now[id]--
}

func (c *concurrency) max(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak[id]
}

// Issue 18, item 13: `outbox retry` while a scheduled retry's POST is in
// flight must not start a second POST of the claim at the same time.
func TestOperatorRetryLeavesAnAttemptInFlightAlone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	claim := newClaimID(6)
	var conc concurrency
	inFlight := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	releaseNow := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseNow)
	e.recv.Respond(func(n int, id string) (int, http.Header) {
		conc.enter(id)
		defer conc.leave(id)
		switch n {
		case 1:
			return http.StatusServiceUnavailable, nil // the first attempt fails: a retry is scheduled
		case 2:
			inFlight <- struct{}{} // the scheduled retry: held until released
			<-release
		}
		return 0, nil
	})
	// Instance A, with one worker, takes the scheduled retry; while it is
	// in flight A's poller has no room, so only instance B could take the
	// claim a second time.
	cfgA := e.config(10*time.Millisecond, time.Hour)
	cfgA.Workers = 1
	cfgA.Consumer = "a"
	e.start(cfgA)
	e.enqueueID(claim)
	select {
	case <-inFlight:
	case <-time.After(3 * time.Second):
		t.Fatal("the scheduled retry never started")
	}
	cfgB := e.config(10*time.Millisecond, time.Hour)
	cfgB.Consumer = "b"
	e.start(cfgB)
	time.Sleep(50 * time.Millisecond) // B is polling

	err := Retry(ctx, e.rdb, claim)
	if err != nil && !errors.Is(err, ErrInFlight) {
		t.Fatalf("Retry during an attempt: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // thirty polls of B
	releaseNow()
	e.recv.WaitAccepted(t, 1, 3*time.Second)
	e.waitDrained(3 * time.Second)
	time.Sleep(100 * time.Millisecond)

	mid := webhook.MessageID(claim)
	if n := conc.max(mid); n != 1 {
		t.Errorf("%d POSTs of the claim in flight at once, want 1", n)
	}
	if n := e.recv.AcceptedIDs()[mid]; n != 1 {
		t.Errorf("claim accepted %d times, want 1", n)
	}
	if n := len(e.recv.Attempts()); n != 2 {
		t.Errorf("%d attempts, want 2 (the failed first, the retry)", n)
	}
}

// moveAfterLookup sets lookedUp for the test: the k-th look for a claim
// (from 1) runs move once it is done.
func moveAfterLookup(t *testing.T, k int, move func()) {
	t.Helper()
	seen := 0
	lookedUp = func(string) {
		seen++
		if seen == k {
			move()
		}
	}
	t.Cleanup(func() { lookedUp = nil })
}

// deadLetter moves an outbox entry to the dead letters as a sender does.
func deadLetter(t *testing.T, rdb *redis.Client, n int, id string) {
	t.Helper()
	err := deadScript.Run(context.Background(), rdb, shardKeys(n, shard.Dead(n)),
		shard.Group, id, 10, "HTTP 500 Internal Server Error", time.Now().UnixMilli()).Err()
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 18, item 14: `outbox retry` of a claim that is dead-lettered (or
// revived by another operator) while Retry looks for it finds it where it
// went, never answers "no such claim".
func TestRetryFollowsAClaimThatMoves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dead  bool // the claim starts as a dead letter
		after int  // which look moves it
	}{
		{"dead-lettered after the first look", false, 1},
		{"dead-lettered after the second look", false, 2},
		{"revived after the first look", true, 1},
		{"revived after the second look", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, redistest.Start(t))
			const n = 2
			claim := newClaimID(n)
			now := time.Now()
			entry, err := Enqueue(ctx, e.rdb, claim, claimBody(t, claim, now), now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dead {
				deadLetter(t, e.rdb, n, entry)
				_, dead, err := List(ctx, e.rdb)
				if err != nil || len(dead) != 1 {
					t.Fatalf("List: %d dead, %v", len(dead), err)
				}
				moveAfterLookup(t, tc.after, func() {
					if err := reviveScript.Run(ctx, e.rdb, []string{shard.Dead(n), shard.Outbox(n)}, dead[0].EntryID).Err(); err != nil {
						t.Errorf("revive: %v", err)
					}
				})
			} else {
				moveAfterLookup(t, tc.after, func() { deadLetter(t, e.rdb, n, entry) })
			}

			if err := Retry(ctx, e.rdb, claim); err != nil {
				t.Fatalf("Retry: %v", err)
			}
			lookedUp = nil
			pending, dead, err := List(ctx, e.rdb)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != 1 || pending[0].ClaimID != claim || len(dead) != 0 {
				t.Errorf("after Retry: pending %v, dead %v; want %s pending", claims(pending), claims(dead), claim)
			}
		})
	}
}

// The same race in Purge: a claim dead-lettered or revived while Purge
// looks for it is purged, not reported missing and left behind.
func TestPurgeFollowsAClaimThatMoves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dead  bool // the claim starts as a dead letter
		after int  // which look moves it
	}{
		{"dead-lettered after the first look", false, 1},
		{"dead-lettered after the second look", false, 2},
		{"revived after the first look", true, 1},
		{"revived after the second look", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, redistest.Start(t))
			const n = 9
			claim := newClaimID(n)
			now := time.Now()
			entry, err := Enqueue(ctx, e.rdb, claim, claimBody(t, claim, now), now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dead {
				deadLetter(t, e.rdb, n, entry)
				_, dead, err := List(ctx, e.rdb)
				if err != nil || len(dead) != 1 {
					t.Fatalf("List: %d dead, %v", len(dead), err)
				}
				moveAfterLookup(t, tc.after, func() {
					if err := reviveScript.Run(ctx, e.rdb, []string{shard.Dead(n), shard.Outbox(n)}, dead[0].EntryID).Err(); err != nil {
						t.Errorf("revive: %v", err)
					}
				})
			} else {
				moveAfterLookup(t, tc.after, func() { deadLetter(t, e.rdb, n, entry) })
			}
			if err := Purge(ctx, e.rdb, claim); err != nil {
				t.Fatalf("Purge: %v", err)
			}
			lookedUp = nil
			if keys := keysHolding(t, e.rdb, "owner@example.com"); len(keys) != 0 {
				t.Errorf("after Purge the body is still in %v", keys)
			}
		})
	}
}
