package outbox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, e.rdb)
	gone := newClaimID(4)
	e.recv.FailFirst(1, http.StatusInternalServerError)
	e.recv.Respond(func(_ int, id string) (int, http.Header) {
		if id == webhook.MessageID(gone) {
			return http.StatusGone, nil
		}
		return 0, nil
	})
	cfg := e.config()
	cfg.Metrics = m
	r := e.start(cfg)
	e.enqueue(3)
	e.recv.WaitAccepted(t, 3, 3*time.Second)
	e.waitDrained(2 * time.Second)
	e.enqueueID(gone)
	eventually(t, 3*time.Second, "dead letter counted", func() bool {
		return testutil.ToFloat64(m.attempts.WithLabelValues(resultDead)) == 1
	})
	r.Stop()

	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"delivered", m.deliveredTotal, 3},
		{"ok", m.attempts.WithLabelValues(resultOK), 3},
		{"retry", m.attempts.WithLabelValues(resultRetry), 1},
		{"error", m.attempts.WithLabelValues(resultError), 0},
		{"dead", m.attempts.WithLabelValues(resultDead), 1},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP claimbot_outbox_dead Dead-lettered claims.
# TYPE claimbot_outbox_dead gauge
claimbot_outbox_dead 1
# HELP claimbot_outbox_pending Claims in the outbox, not yet delivered.
# TYPE claimbot_outbox_pending gauge
claimbot_outbox_pending 0
# HELP claimbot_outbox_oldest_pending_age_seconds Age of the oldest claim in the outbox; 0 when empty.
# TYPE claimbot_outbox_oldest_pending_age_seconds gauge
claimbot_outbox_oldest_pending_age_seconds 0
`), "claimbot_outbox_dead", "claimbot_outbox_pending", "claimbot_outbox_oldest_pending_age_seconds"); err != nil {
		t.Error(err)
	}

	// Two claims waiting (no sender runs): counted, and aged, once the
	// figures of the scrape above are out of date.
	m.gauges.maxAge = 0
	e.enqueue(2)
	time.Sleep(20 * time.Millisecond)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			switch {
			case metric.GetGauge() != nil:
				got[f.GetName()] = metric.GetGauge().GetValue()
			case metric.GetHistogram() != nil:
				got[f.GetName()] = float64(metric.GetHistogram().GetSampleCount())
			}
		}
	}
	if got["claimbot_outbox_pending"] != 2 {
		t.Errorf("claimbot_outbox_pending = %v, want 2", got["claimbot_outbox_pending"])
	}
	if age := got["claimbot_outbox_oldest_pending_age_seconds"]; age < 0.02 || age > 5 {
		t.Errorf("claimbot_outbox_oldest_pending_age_seconds = %v, want about 0.02", age)
	}
	if age := got["claimbot_outbox_oldest_dead_age_seconds"]; age <= 0 || age > 10 {
		t.Errorf("claimbot_outbox_oldest_dead_age_seconds = %v, want a few seconds at most", age)
	}
	if n := got["claimbot_delivery_duration_seconds"]; n != 5 {
		t.Errorf("claimbot_delivery_duration_seconds counts %v attempts, want 5", n)
	}
}

func TestMetricsWithoutRedis(t *testing.T) {
	srv := redistest.StartReal(t)
	e := newEnv(t, srv)
	reg := prometheus.NewRegistry()
	NewMetrics(reg, e.rdb)
	srv.Kill()
	start := time.Now()
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Gather with Redis down: %v", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("a scrape with Redis down took %s", took)
	}
	// The failed read serves the scrapes that follow it at once.
	start = time.Now()
	for range 10 {
		if _, err := reg.Gather(); err != nil {
			t.Errorf("Gather with Redis down: %v", err)
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("10 more scrapes with Redis down took %s", took)
	}
}

// cmdCount counts the commands a client sends, pipelined ones included.
type cmdCount struct{ n atomic.Int64 }

func (c *cmdCount) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *cmdCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *cmdCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// commandsProcessed is Redis's count of the commands it ran, those that
// scripts call included.
func commandsProcessed(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no total_commands_processed in INFO stats:\n%s", info)
	return 0
}

func outboxGauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "claimbot_outbox_") {
			got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return got
}

// Issue 18, item 17: however often /metrics is scraped, the outbox's
// figures cost Redis a few commands: scrapes within scrapeCache share one
// refresh, concurrent ones included, and a refresh is one command.
func TestScrapesShareOneCheapRead(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	e.enqueue(3)
	if _, err := Enqueue(ctx, e.rdb, newClaimID(4), []byte("{}"), time.Now()); err != nil {
		t.Fatal(err)
	}
	deadLetter(t, e.rdb, 4, e.rdb.XRangeN(ctx, shard.Outbox(4), "-", "+", 1).Val()[0].ID)
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	t.Cleanup(func() { rdb.Close() })
	var sent cmdCount
	rdb.AddHook(&sent)
	if err := rdb.Ping(ctx).Err(); err != nil { // a connection made, with its handshake
		t.Fatal(err)
	}
	sent.n.Store(0)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, rdb)

	before := commandsProcessed(t, e.rdb)
	var wg sync.WaitGroup
	for range 50 { // at once
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 49 { // one after another
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	got := outboxGauges(t, reg) // the hundredth
	// Less the INFO commands that measure it.
	processed := commandsProcessed(t, e.rdb) - before - 1

	if n := sent.n.Load(); n > 3 {
		t.Errorf("100 scrapes sent Redis %d commands, want a few at most", n)
	}
	if processed > 4*shard.Count+3 {
		t.Errorf("100 scrapes made Redis run %d commands, want one read of the shards at most (%d)", processed, 4*shard.Count+3)
	}
	if got["claimbot_outbox_pending"] != 3 || got["claimbot_outbox_dead"] != 1 {
		t.Errorf("gauges %v, want 3 pending and 1 dead", got)
	}
	t.Logf("100 scrapes: %d commands sent, %d run by Redis", sent.n.Load(), processed)

	// A claim filed meanwhile shows once the figures are out of date.
	e.enqueue(1)
	if got := outboxGauges(t, reg); got["claimbot_outbox_pending"] != 3 {
		t.Errorf("pending %v within the cache period, want the 3 read before", got["claimbot_outbox_pending"])
	}
	m.gauges.mu.Lock()
	m.gauges.maxAge = 50 * time.Millisecond
	m.gauges.mu.Unlock()
	time.Sleep(60 * time.Millisecond)
	if got := outboxGauges(t, reg); got["claimbot_outbox_pending"] != 4 {
		t.Errorf("pending %v after the cache period, want 4", got["claimbot_outbox_pending"])
	}
}

// TestMetricsAttemptCountsEachResult: an attempt counted by its result
// adds one to that result's series and none to the others', as
// WithLabelValues(result).Inc() did.
func TestMetricsAttemptCountsEachResult(t *testing.T) {
	m := NewMetrics(nil, nil)
	for i, r := range results {
		for range i + 1 {
			m.attempt(r)
		}
	}
	for i, r := range results {
		if got := testutil.ToFloat64(m.attempts.WithLabelValues(r)); got != float64(i+1) {
			t.Errorf("%s = %v, want %d", r, got, i+1)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.attempt(resultOK) }); n != 0 {
		t.Errorf("attempt allocates %.0f times, want 0", n)
	}
}

func BenchmarkMetricsAttempt(b *testing.B) {
	m := NewMetrics(nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		m.attempt(resultOK)
	}
}
