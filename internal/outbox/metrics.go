package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/shard"
)

// Results of a delivery attempt, the result label of
// claimbot_delivery_attempts_total.
const (
	resultOK    = "ok"    // answered 2xx: delivered
	resultRetry = "retry" // answered something else: tried again later
	resultError = "error" // no answer (refused, reset, timeout): tried again later
	resultDead  = "dead"  // 410, or the last attempt failed: dead-lettered
)

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = time.Second

// Metrics are the outbox's Prometheus metrics (CONTRACT §6). A nil
// *Metrics counts nothing.
type Metrics struct {
	deliveredTotal prometheus.Counter
	attempts       *prometheus.CounterVec
	duration       prometheus.Histogram
}

// NewMetrics registers the outbox's metrics with reg (unless nil): counters
// and a histogram that a Sender given them in Config.Metrics updates, and
// gauges of the outbox in rdb read at scrape time.
func NewMetrics(reg prometheus.Registerer, rdb redis.UniversalClient) *Metrics {
	m := &Metrics{
		deliveredTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claimbot_claims_delivered_total",
			Help: "Claims the webhook accepted (2xx).",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimbot_delivery_attempts_total",
			Help: "Webhook delivery attempts by result: ok (2xx), retry (another answer), error (no answer), dead (dead-lettered).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "claimbot_delivery_duration_seconds",
			Help:    "Duration of webhook delivery attempts, answered or not.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
	}
	for _, r := range []string{resultOK, resultRetry, resultError, resultDead} {
		m.attempts.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.deliveredTotal, m.attempts, m.duration, newOutboxCollector(rdb))
	}
	return m
}

func (m *Metrics) delivered() {
	if m != nil {
		m.deliveredTotal.Inc()
	}
}

func (m *Metrics) attempt(result string) {
	if m != nil {
		m.attempts.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) observe(d time.Duration) {
	if m != nil {
		m.duration.Observe(d.Seconds())
	}
}

// outboxCollector reports the outbox's size and age when scraped.
type outboxCollector struct {
	rdb                                redis.UniversalClient
	pending, dead, oldPending, oldDead *prometheus.Desc
}

func newOutboxCollector(rdb redis.UniversalClient) *outboxCollector {
	return &outboxCollector{
		rdb:        rdb,
		pending:    prometheus.NewDesc("claimbot_outbox_pending", "Claims in the outbox, not yet delivered.", nil, nil),
		dead:       prometheus.NewDesc("claimbot_outbox_dead", "Dead-lettered claims.", nil, nil),
		oldPending: prometheus.NewDesc("claimbot_outbox_oldest_pending_age_seconds", "Age of the oldest claim in the outbox; 0 when empty.", nil, nil),
		oldDead:    prometheus.NewDesc("claimbot_outbox_oldest_dead_age_seconds", "Age of the oldest dead letter; 0 when none.", nil, nil),
	}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.dead
	ch <- c.oldPending
	ch <- c.oldDead
}

// Collect reads every shard in one round trip. When Redis does not answer
// within scrapeTimeout the gauges are left out of the scrape (readiness
// reports Redis; the rest of /metrics still works).
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := readStats(ctx, c.rdb, time.Now())
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.dead))
	ch <- prometheus.MustNewConstMetric(c.oldPending, prometheus.GaugeValue, st.oldestPending.Seconds())
	ch <- prometheus.MustNewConstMetric(c.oldDead, prometheus.GaugeValue, st.oldestDead.Seconds())
}

type stats struct {
	pending, dead             int64
	oldestPending, oldestDead time.Duration
}

// readStats sums the shards' stream lengths and finds their oldest
// entries, whose ids carry their time.
func readStats(ctx context.Context, rdb redis.UniversalClient, now time.Time) (stats, error) {
	type shardCmds struct {
		pending, dead           *redis.IntCmd
		firstPending, firstDead *redis.XMessageSliceCmd
	}
	cmds := make([]shardCmds, shard.Count)
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n := range shard.Count {
			cmds[n] = shardCmds{
				pending:      p.XLen(ctx, shard.Outbox(n)),
				dead:         p.XLen(ctx, shard.Dead(n)),
				firstPending: p.XRangeN(ctx, shard.Outbox(n), "-", "+", 1),
				firstDead:    p.XRangeN(ctx, shard.Dead(n), "-", "+", 1),
			}
		}
		return nil
	})
	if err != nil {
		return stats{}, err
	}
	var st stats
	age := func(msgs []redis.XMessage, oldest *time.Duration) {
		if len(msgs) == 0 {
			return
		}
		if t := idTime(msgs[0].ID); !t.IsZero() {
			*oldest = max(*oldest, now.Sub(t))
		}
	}
	for _, c := range cmds {
		st.pending += c.pending.Val()
		st.dead += c.dead.Val()
		age(c.firstPending.Val(), &st.oldestPending)
		age(c.firstDead.Val(), &st.oldestDead)
	}
	return st, nil
}
