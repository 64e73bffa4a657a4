package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

func TestMain(m *testing.M) {
	// go-redis logs failed dials on its own; the tests that stop Redis
	// check what the sender does about them.
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// env is one test's Redis, receiver and signing secret.
type env struct {
	t      *testing.T
	redis  *redistest.Server
	rdb    *redis.Client
	recv   *webhooktest.Receiver
	secret webhook.Secret
	logs   *syncBuffer
}

func newEnv(t *testing.T, srv *redistest.Server) *env {
	t.Helper()
	text, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := webhook.ParseSecret(text)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: Config{}.PoolSize()})
	t.Cleanup(func() { rdb.Close() })
	e := &env{t: t, redis: srv, rdb: rdb, recv: webhooktest.NewReceiver(t, text), secret: secret, logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sender logs:\n%s", e.logs.String())
		}
	})
	return e
}

// syncBuffer keeps the senders' logs, shown when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// config is a sender configuration for tests: the env's receiver, a
// schedule in milliseconds, a fast poll, quiet logs.
func (e *env) config(schedule ...time.Duration) Config {
	if len(schedule) == 0 {
		schedule = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	}
	return Config{
		URL:          e.recv.URL(),
		Secret:       e.secret,
		Schedule:     schedule,
		Timeout:      5 * time.Second,
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// running is a Sender running in the background.
type running struct {
	*Sender
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a sender until the test ends or Stop.
func (e *env) start(cfg Config) *running {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Sender: NewSender(e.rdb, cfg), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := r.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	e.t.Cleanup(r.Stop)
	return r
}

// Stop shuts the sender down gracefully and waits for Run to return.
func (r *running) Stop() {
	r.cancel()
	<-r.done
}

// Crash stops the sender abruptly, abandoning deliveries in flight.
func (r *running) Crash() {
	r.stop()
	<-r.done
}

// enqueue files n claims spread over the shards and returns their ids.
func (e *env) enqueue(n int) []string {
	e.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newClaimID(i % shard.Count)
		e.enqueueID(ids[i])
	}
	return ids
}

func (e *env) enqueueID(id string) {
	e.t.Helper()
	now := time.Now()
	if _, err := Enqueue(context.Background(), e.rdb, id, claimBody(e.t, id, now), now); err != nil {
		e.t.Fatal(err)
	}
}

func newClaimID(n int) string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return shard.NewClaimID(n, b[:])
}

// claimBody is a webhook body that passes the JSON Schema.
func claimBody(t testing.TB, claimID string, at time.Time) []byte {
	t.Helper()
	ev := webhook.NewEvent(webhook.Claim{
		ClaimID:     claimID,
		UserID:      "user-" + claimID,
		Locale:      "ko",
		Flow:        webhook.Flow{ID: "damage-1015", Version: "v1"},
		SubmittedAt: at,
		Answers:     map[string]any{"privacy_consent": true, "email": "owner@example.com", "phone": "010-5555-1234"},
	})
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drained reports whether no shard holds an outbox entry, a scheduled
// retry or attempt records.
func (e *env) drained() bool {
	ctx := context.Background()
	for n := range shard.Count {
		for _, c := range []*redis.IntCmd{
			e.rdb.XLen(ctx, shard.Outbox(n)),
			e.rdb.ZCard(ctx, shard.Due(n)),
			e.rdb.HLen(ctx, shard.Meta(n)),
		} {
			if c.Val() != 0 || c.Err() != nil {
				return false
			}
		}
	}
	return true
}

func (e *env) waitDrained(timeout time.Duration) {
	e.t.Helper()
	eventually(e.t, timeout, "outbox not drained", e.drained)
}

// acceptedOnce checks that every claim was accepted exactly once.
func (e *env) acceptedOnce(ids []string) {
	e.t.Helper()
	got := e.recv.AcceptedIDs()
	if len(got) != len(ids) {
		e.t.Errorf("%d distinct webhook-ids accepted, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		if n := got[webhook.MessageID(id)]; n != 1 {
			e.t.Errorf("claim %s accepted %d times, want 1", id, n)
		}
	}
}
