package outbox

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/claimbot/claimbot/internal/redistest"
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

	// Two claims waiting (no sender runs): counted, and aged.
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
}
