package outbox

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redisconn"
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

// results are the results, each counted from the start.
var results = [...]string{resultOK, resultRetry, resultError, resultDead}

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = time.Second

// Metrics are the outbox's Prometheus metrics (CONTRACT §6). A nil
// *Metrics counts nothing.
type Metrics struct {
	deliveredTotal prometheus.Counter
	attempts       *prometheus.CounterVec
	byResult       [len(results)]prometheus.Counter // attempts' children, in results' order
	duration       prometheus.Histogram
	gauges         *outboxCollector
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
		gauges: newOutboxCollector(rdb),
	}
	for i, r := range results {
		m.byResult[i] = m.attempts.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.deliveredTotal, m.attempts, m.duration, m.gauges)
	}
	return m
}

func (m *Metrics) delivered() {
	if m != nil {
		m.deliveredTotal.Inc()
	}
}

// attempt counts an attempt by its result, on the child made in
// NewMetrics: WithLabelValues hashed the label and looked it up at every
// attempt.
func (m *Metrics) attempt(result string) {
	if m == nil {
		return
	}
	for i, r := range results {
		if r == result {
			m.byResult[i].Inc()
			return
		}
	}
	m.attempts.WithLabelValues(result).Inc()
}

func (m *Metrics) observe(d time.Duration) {
	if m != nil {
		m.duration.Observe(d.Seconds())
	}
}

// scrapeCache is how long the outbox's figures serve scrapes before they
// are read again: however often /metrics is scraped, the outbox costs
// Redis one read every scrapeCache at most (CONTRACT §6).
const scrapeCache = 5 * time.Second

// outboxCollector reports the outbox's size and age when scraped.
type outboxCollector struct {
	rdb                                redis.UniversalClient
	maxAge                             time.Duration // of the figures a scrape reports
	pending, dead, oldPending, oldDead *prometheus.Desc

	// mu is held while the figures are read: scrapes meanwhile wait for
	// them and report them too.
	mu   sync.Mutex
	read time.Time // when the figures were last read, or failed to be
	last figures
	ok   bool // the last read succeeded
}

func newOutboxCollector(rdb redis.UniversalClient) *outboxCollector {
	return &outboxCollector{
		rdb:        rdb,
		maxAge:     scrapeCache,
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

// Collect reports the figures read at most maxAge ago, reading them again
// when they are older. When Redis did not answer within scrapeTimeout the
// gauges are left out of the scrape, until the next read (readiness
// reports Redis; the rest of /metrics still works). Ages are reckoned at
// each scrape, from the oldest entries' times.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.read.IsZero() || time.Since(c.read) >= c.maxAge {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		f, err := readFigures(ctx, c.rdb)
		cancel()
		c.last, c.ok, c.read = f, err == nil, time.Now()
	}
	f, ok := c.last, c.ok
	c.mu.Unlock()
	if !ok {
		return
	}
	now := time.Now()
	age := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return max(0, now.Sub(t).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(f.pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(f.dead))
	ch <- prometheus.MustNewConstMetric(c.oldPending, prometheus.GaugeValue, age(f.oldestPending))
	ch <- prometheus.MustNewConstMetric(c.oldDead, prometheus.GaugeValue, age(f.oldestDead))
}

// figures are the outbox's size and its oldest entries' times (zero when
// there are none).
type figures struct {
	pending, dead             int64
	oldestPending, oldestDead time.Time
}

// statsScript reads the length and the first entry id ("" when empty) of
// each stream in KEYS, in one command.
var statsScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local first = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)
  local id = ''
  if #first > 0 then id = first[1][1] end
  out[i] = {redis.call('XLEN', k), id}
end
return out
`)

// readFigures sums the shards' stream lengths and finds their oldest
// entries, whose ids carry their time: in one script over every shard's
// outbox and dead letters, or on Redis Cluster, where the shards' keys lie
// in different slots, in one pipeline.
func readFigures(ctx context.Context, rdb redis.UniversalClient) (figures, error) {
	keys := make([]string, 0, 2*shard.Count)
	for n := range shard.Count {
		keys = append(keys, shard.Outbox(n), shard.Dead(n))
	}
	var lens []int64
	var firsts []string
	if redisconn.IsCluster(rdb) {
		var err error
		if lens, firsts, err = readStreamsPipelined(ctx, rdb, keys); err != nil {
			return figures{}, err
		}
	} else {
		v, err := statsScript.Run(ctx, rdb, keys).Slice()
		if err != nil {
			return figures{}, err
		}
		if len(v) != len(keys) {
			return figures{}, fmt.Errorf("outbox: stats script answered %d streams, want %d", len(v), len(keys))
		}
		for _, r := range v {
			row, ok := r.([]any)
			if !ok || len(row) != 2 {
				return figures{}, fmt.Errorf("outbox: stats script answered %v", r)
			}
			n, _ := row[0].(int64)
			lens = append(lens, n)
			firsts = append(firsts, str(row[1]))
		}
	}
	var f figures
	oldest := func(id string, t *time.Time) {
		if at := idTime(id); id != "" && !at.IsZero() && (t.IsZero() || at.Before(*t)) {
			*t = at
		}
	}
	for i := range keys {
		if i%2 == 0 {
			f.pending += lens[i]
			oldest(firsts[i], &f.oldestPending)
		} else {
			f.dead += lens[i]
			oldest(firsts[i], &f.oldestDead)
		}
	}
	return f, nil
}

// readStreamsPipelined reads the length and first entry id of each stream
// in one pipeline.
func readStreamsPipelined(ctx context.Context, rdb redis.UniversalClient, keys []string) ([]int64, []string, error) {
	lens := make([]*redis.IntCmd, len(keys))
	firsts := make([]*redis.XMessageSliceCmd, len(keys))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			lens[i] = p.XLen(ctx, k)
			firsts[i] = p.XRangeN(ctx, k, "-", "+", 1)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ls := make([]int64, len(keys))
	fs := make([]string, len(keys))
	for i := range keys {
		ls[i] = lens[i].Val()
		if msgs := firsts[i].Val(); len(msgs) > 0 {
			fs[i] = msgs[0].ID
		}
	}
	return ls, fs, nil
}
