package outbox

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

func TestDeliverAfterFailures(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	e.recv.FailFirst(3, http.StatusInternalServerError)
	cfg := e.config()
	e.start(cfg)
	id := e.enqueue(1)[0]

	e.recv.WaitAccepted(t, 1, 3*time.Second)
	e.waitDrained(2 * time.Second)

	attempts := e.recv.Attempts()
	if len(attempts) != 4 {
		t.Fatalf("%d attempts, want 4", len(attempts))
	}
	n, _ := shard.OfClaim(id)
	body, err := e.rdb.Get(context.Background(), shard.Delivered(n, id)).Bytes()
	if err != nil {
		t.Fatalf("delivered copy: %v", err)
	}
	for i, a := range attempts {
		want := http.StatusInternalServerError
		if i == 3 {
			want = http.StatusNoContent
		}
		if a.Status != want {
			t.Errorf("attempt %d answered %d, want %d", i+1, a.Status, want)
		}
		if a.ID != webhook.MessageID(id) {
			t.Errorf("attempt %d webhook-id %q, want %q", i+1, a.ID, webhook.MessageID(id))
		}
		if !bytes.Equal(a.Body, body) {
			t.Errorf("attempt %d body differs from the delivered copy", i+1)
		}
	}
	ttl := e.rdb.PTTL(context.Background(), shard.Delivered(n, id)).Val()
	if ttl <= 0 || ttl > DefaultRetention {
		t.Errorf("delivered copy TTL %s, want (0, %s]", ttl, DefaultRetention)
	}
	// Each attempt's lines name the claim, its shard and the attempt.
	logs := e.logs.String()
	for attempt := 1; attempt <= 4; attempt++ {
		msg := `msg="delivery failed, will retry"`
		if attempt == 4 {
			msg = `msg="claim delivered"`
		}
		want := fmt.Sprintf("claim=%s shard=%d attempt=%d", id, n, attempt)
		if !slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool {
			return strings.Contains(l, msg) && strings.Contains(l, want)
		}) {
			t.Errorf("no log line %s with %s in\n%s", msg, want, logs)
		}
	}
}

func TestReceiverDownThenUp(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	e.recv.Down()
	ms := time.Millisecond
	e.start(e.config(10*ms, 20*ms, 40*ms, 80*ms, 160*ms, 320*ms, 640*ms, time.Second, 2*time.Second))
	ids := e.enqueue(200)

	eventually(t, 3*time.Second, "every claim tried while the receiver is down", func() bool {
		return len(e.recv.Attempts()) >= 200
	})
	e.recv.Up()
	e.recv.WaitAccepted(t, 200, 5*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce(ids)
}

func TestCrashRecovery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int // attempts answered 500 before the receiver hangs
	}{
		{"first attempt in flight", 0},
		{"scheduled retry in flight", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const claims = 20
			e := newEnv(t, redistest.Start(t))
			var hanging atomic.Bool
			var hung atomic.Int32
			release := make(chan struct{})
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()
			hanging.Store(true)
			var mu sync.Mutex
			failed := make(map[string]int)
			e.recv.Respond(func(_ int, id string) (int, http.Header) {
				if !hanging.Load() {
					return 0, nil
				}
				mu.Lock()
				fail := failed[id] < tc.failures
				failed[id]++
				mu.Unlock()
				if fail {
					return http.StatusInternalServerError, nil
				}
				hung.Add(1)
				<-release
				return http.StatusServiceUnavailable, nil
			})

			cfgA := e.config()
			cfgA.Consumer = "a"
			cfgA.Lease = 500 * time.Millisecond
			cfgA.Timeout = 30 * time.Second // it hangs until the crash
			a := e.start(cfgA)
			ids := e.enqueue(claims)
			eventually(t, 3*time.Second, "every claim in flight", func() bool { return hung.Load() == claims })
			a.Crash()
			hanging.Store(false)
			close(release)
			released = true

			cfgB := e.config()
			cfgB.Consumer = "b"
			cfgB.Lease = 500 * time.Millisecond
			e.start(cfgB)
			e.recv.WaitAccepted(t, claims, 5*time.Second)
			e.waitDrained(2 * time.Second)
			e.acceptedOnce(ids)
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	e.recv.Respond(func(attempt int, _ string) (int, http.Header) {
		if attempt == 1 {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}
		}
		return 0, nil
	})
	e.start(e.config())
	e.enqueue(1)

	e.recv.WaitAccepted(t, 1, 4*time.Second)
	attempts := e.recv.Attempts()
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(attempts))
	}
	if gap := attempts[1].At.Sub(attempts[0].At); gap < 990*time.Millisecond {
		t.Errorf("retried %s after a Retry-After of 1 s", gap)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2022, 10, 19, 6, 12, 40, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"negative", "-5", 0},
		{"capped", "999999", 24 * time.Hour},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"far date", now.Add(100 * time.Hour).Format(http.TimeFormat), 24 * time.Hour},
		{"garbage", "soon", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRetryAfter(tc.value, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.value, got, tc.want)
			}
		})
	}
}

func TestSlowClaimDoesNotHoldUpOthers(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	slow := newClaimID(3)
	e.recv.Respond(func(_ int, id string) (int, http.Header) {
		if id == webhook.MessageID(slow) {
			time.Sleep(2 * time.Second)
		}
		return 0, nil
	})
	e.enqueueID(slow) // first in its shard, ahead of three others
	others := e.enqueue(50)
	e.start(e.config())

	// All the others are delivered while the slow one is still in flight.
	e.recv.WaitAccepted(t, 50, 1900*time.Millisecond)
	if n := e.recv.AcceptedIDs()[webhook.MessageID(slow)]; n != 0 {
		t.Errorf("the slow claim was accepted before the others")
	}
	e.recv.WaitAccepted(t, 51, 4*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce(append(others, slow))
}

func TestRedirectIsAFailure(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	e.recv.Respond(func(attempt int, _ string) (int, http.Header) {
		if attempt == 1 {
			return http.StatusFound, http.Header{"Location": {"/elsewhere"}}
		}
		return 0, nil
	})
	e.start(e.config())
	e.enqueue(1)
	e.recv.WaitAccepted(t, 1, 3*time.Second)
	if got := len(e.recv.Attempts()); got != 2 {
		t.Errorf("%d attempts, want 2 (a 302, then the retry)", got)
	}
}

func TestRedisRestart(t *testing.T) {
	srv := redistest.StartReal(t)
	e := newEnv(t, srv)
	r := e.start(e.config())
	before := e.enqueue(10)
	e.recv.WaitAccepted(t, 10, 3*time.Second)

	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-r.done:
		t.Fatal("Run returned while Redis was down")
	default:
	}
	srv.Restart()
	after := e.enqueue(10)
	e.recv.WaitAccepted(t, 20, 10*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce(append(before, after...))
}

func TestShutdownLetsDeliveriesFinish(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	var inFlight atomic.Int32
	e.recv.Respond(func(int, string) (int, http.Header) {
		inFlight.Add(1)
		time.Sleep(300 * time.Millisecond)
		return 0, nil
	})
	r := e.start(e.config())
	ids := e.enqueue(5)
	eventually(t, 2*time.Second, "deliveries in flight", func() bool { return inFlight.Load() == 5 })
	r.Stop()
	if !e.drained() {
		t.Error("Run returned before the deliveries in flight were recorded")
	}
	e.acceptedOnce(ids)
}

func TestForgetStaleConsumers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.StartReal(t)) // miniredis does not track idle times
	defer func(d time.Duration) { staleConsumer = d }(staleConsumer)
	staleConsumer = 50 * time.Millisecond

	stream := shard.Outbox(0)
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, shard.Group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"gone", "busy"} {
		if err := e.rdb.XGroupCreateConsumer(ctx, stream, shard.Group, c).Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.enqueueID(newClaimID(0))
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: shard.Group, Consumer: "busy", Streams: []string{stream, ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	s := NewSender(e.rdb, e.config())
	if err := s.forgetConsumers(ctx, 0); err != nil {
		t.Fatal(err)
	}
	consumers, err := e.rdb.XInfoConsumers(ctx, stream, shard.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(consumers) != 1 || consumers[0].Name != "busy" {
		t.Errorf("consumers %v, want only busy (it has an entry pending)", consumers)
	}
}

// One reader covers every shard. When a shard's stream is deleted under it
// (a FLUSHDB, a hand-made DEL), the reader makes the stream and its group
// again, and claims filed to that shard afterwards are delivered.
func TestReaderRemakesDeletedStream(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	e.start(e.config())
	before := e.enqueue(2 * shard.Count) // every shard
	e.recv.WaitAccepted(t, len(before), 5*time.Second)
	e.waitDrained(2 * time.Second)

	if err := e.rdb.Del(context.Background(), shard.Outbox(3)).Err(); err != nil {
		t.Fatal(err)
	}
	after := []string{newClaimID(3), newClaimID(3), newClaimID(7)}
	for _, id := range after {
		e.enqueueID(id)
	}
	e.recv.WaitAccepted(t, len(before)+len(after), 10*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce(append(before, after...))
}

// A shard's stream key overwritten with another type of value (by hand,
// say) stops only that shard: the other shards' claims are delivered, the
// sender says which key is broken, and once the key is deleted the claims
// filed to that shard again are delivered too.
func TestBrokenStreamKeyStopsOnlyItsShard(t *testing.T) {
	defer func(d time.Duration) { brokenRecheck = d }(brokenRecheck)
	brokenRecheck = 100 * time.Millisecond
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	const bad = 3
	if err := e.rdb.Set(ctx, shard.Outbox(bad), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for n := range shard.Count {
		if n != bad {
			ids = append(ids, newClaimID(n), newClaimID(n))
		}
	}
	for _, id := range ids[:len(ids)/2] {
		e.enqueueID(id)
	}
	e.start(e.config())
	for _, id := range ids[len(ids)/2:] {
		e.enqueueID(id)
	}
	e.recv.WaitAccepted(t, len(ids), 5*time.Second)
	if logs := e.logs.String(); !strings.Contains(logs, "outbox stream key holds another type of value") ||
		!strings.Contains(logs, fmt.Sprintf("shard=%d key=%s", bad, shard.Outbox(bad))) {
		t.Errorf("the broken key is not named in the logs:\n%s", logs)
	}

	if err := e.rdb.Del(ctx, shard.Outbox(bad)).Err(); err != nil {
		t.Fatal(err)
	}
	after := []string{newClaimID(bad), newClaimID(bad)}
	for _, id := range after {
		e.enqueueID(id)
	}
	ids = append(ids, after...)
	e.recv.WaitAccepted(t, len(ids), 5*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce(ids)
	if !strings.Contains(e.logs.String(), "outbox stream readable again") {
		t.Error("the repair is not logged")
	}
}

// Crash recovery goes past a shard whose key is broken: deliveries left
// pending by a consumer that is gone, on a shard after the broken one, are
// taken over and delivered.
func TestRecoveryGoesPastABrokenShard(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	const bad, good = 3, 9
	ids := []string{newClaimID(good), newClaimID(good)}
	for _, id := range ids {
		e.enqueueID(id)
	}
	// A consumer that read them and vanished.
	if err := e.rdb.XGroupCreateMkStream(ctx, shard.Outbox(good), shard.Group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: shard.Group, Consumer: "gone",
		Streams: []string{shard.Outbox(good), ">"}, Count: 10}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Set(ctx, shard.Outbox(bad), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Lease = 200 * time.Millisecond
	e.start(cfg)
	e.recv.WaitAccepted(t, len(ids), 5*time.Second)
	e.acceptedOnce(ids)
}

// A backlog is read without the pause between reads: with the pause made
// an hour long, a backlog many reads deep still drains.
func TestBacklogSkipsTheLinger(t *testing.T) {
	defer func(d time.Duration) { readLinger = d }(readLinger)
	readLinger = time.Hour
	e := newEnv(t, redistest.Start(t))
	ids := e.enqueue(20 * shard.Count) // 20 a shard, at most a few a read
	e.start(e.config())
	e.recv.WaitAccepted(t, len(ids), 10*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce(ids)
}
