package server

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/insight"
	"github.com/claimbot/claimbot/internal/store"
)

// Metrics are the chat's Prometheus metrics (contract §6). The outbox
// registers its own on the same registry.
type Metrics struct {
	Registry    *prometheus.Registry
	connections prometheus.Gauge
	turns       *prometheus.CounterVec
	// unreplicated counts claims whose receipt was shown before
	// CLAIMBOT_FILED_REPLICAS replicas confirmed them; clockSkew turns
	// refused because Redis's clock was ahead.
	unreplicated, clockSkew prometheus.Counter
	latency                 prometheus.Histogram
	refusals                *prometheus.CounterVec
	entered                 *prometheus.CounterVec
	abandoned               *prometheus.CounterVec
	filed                   prometheus.Counter
	filedByType             *prometheus.CounterVec
	handoffs                *prometheus.CounterVec
	frameErrors             *prometheus.CounterVec
	superseded              prometheus.Counter
	tcpOpen                 prometheus.Gauge
	tcpRefused              prometheus.Counter

	// The counters every turn adds to, kept by their labels once used:
	// a map read instead of the vec's hashing, checks and locking.
	turnsBy, refusalsBy, enteredBy, handoffsBy *counters
}

// counters keeps the children of a CounterVec of one or two labels that
// were used, by their label values. A child is made on first use, as
// WithLabelValues makes it, so /metrics shows the same series either way.
// The map is copied on write: its reads take no lock.
type counters struct {
	vec *prometheus.CounterVec
	two bool // the vec has two labels; else one
	m   atomic.Pointer[map[[2]string]prometheus.Counter]
	mu  sync.Mutex // held while the map is copied
}

// maxKept bounds the label sets counters keeps: the labels are a flow's
// states, a few hundred at most, but a bound costs nothing. Past it a
// child is looked up in the vec, as before.
var maxKept = 4096

func newCounters(vec *prometheus.CounterVec, two bool) *counters {
	return &counters{vec: vec, two: two}
}

// with is the child of the label values a (and b, with two labels).
func (cs *counters) with(a, b string) prometheus.Counter {
	k := [2]string{a, b}
	if m := cs.m.Load(); m != nil {
		if c, ok := (*m)[k]; ok {
			return c
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := cs.m.Load()
	if old != nil {
		if c, ok := (*old)[k]; ok {
			return c
		}
	}
	var c prometheus.Counter
	if cs.two {
		c = cs.vec.WithLabelValues(a, b)
	} else {
		c = cs.vec.WithLabelValues(a)
	}
	n := 0
	if old != nil {
		if n = len(*old); n >= maxKept {
			return c
		}
	}
	next := make(map[[2]string]prometheus.Counter, n+1)
	if old != nil {
		maps.Copy(next, *old)
	}
	next[k] = c
	cs.m.Store(&next)
	return c
}

// NewMetrics registers the chat's metrics, with the Go and process
// collectors, on reg (a new registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry:    reg,
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "claimbot_connections", Help: "Open WebSocket connections."}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_turns_total",
			Help: "Chat turns by result: applied, refused (invalid answer), ignored (repeated id or stale state), unavailable (Redis), error."}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "claimbot_turn_duration_seconds", Help: "Time to apply a turn, Redis included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_refusals_total", Help: "Refused answers per state."}, []string{"flow", "state"}),
		entered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_state_entered_total",
			Help: "Sessions entering each state."}, []string{"flow", "state"}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_state_abandoned_total",
			Help: "Connections closed while their conversation waited in a state (the user may come back); closes of a server shutting down are not counted."}, []string{"flow", "state"}),
		filed: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_claims_filed_total", Help: "Claims filed (appended to the outbox)."}),
		filedByType: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_claims_filed_by_type_total",
			Help: "Claims filed by reporter_type and damage_type: the flow's values, \"other\" for any other, \"none\" when not answered."}, []string{"flow", "reporter_type", "damage_type"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_handoffs_total",
			Help: "Requests for a person (handoff.requested appended to the outbox), by the state they came from."}, []string{"flow", "state"}),
		frameErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_frame_errors_total", Help: "Frame problems by code."}, []string{"code"}),
		unreplicated: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_claims_unreplicated_total",
			Help: "Claims filed whose replicas (CLAIMBOT_FILED_REPLICAS) did not all confirm them in time; the receipt was shown all the same."}),
		clockSkew: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_turns_clock_skew_total",
			Help: "Turns refused as late because Redis's clock was ahead of this instance's."}),
		superseded: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_sockets_superseded_total",
			Help: "WebSockets closed (1008) because their user opened one more than CLAIMBOT_SOCKETS_PER_USER on this instance; the oldest goes."}),
		tcpOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "claimbot_tcp_connections",
			Help: "TCP connections open on CLAIMBOT_ADDR: WebSockets, keep-alive HTTP connections and those not yet past their first request."}),
		tcpRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_tcp_refused_total",
			Help: "TCP connections closed at once because CLAIMBOT_MAX_CONNS were already open."}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.connections, m.turns, m.latency, m.refusals, m.entered, m.abandoned, m.filed, m.filedByType, m.handoffs, m.frameErrors, m.unreplicated, m.clockSkew,
		m.superseded, m.tcpOpen, m.tcpRefused)
	m.turnsBy, m.refusalsBy = newCounters(m.turns, false), newCounters(m.refusals, true)
	m.enteredBy, m.handoffsBy = newCounters(m.entered, true), newCounters(m.handoffs, true)
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observeTurn(flow string, res engine.Result, err error, d time.Duration) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		m.turnsBy.with("unavailable", "").Inc()
		return
	case err != nil:
		m.turnsBy.with("error", "").Inc()
		return
	}
	if d > 0 {
		m.latency.Observe(d.Seconds())
	}
	switch {
	case res.Reply.Invalid:
		m.turnsBy.with("refused", "").Inc()
		m.refusalsBy.with(flow, res.Reply.State).Inc()
	case res.Applied:
		m.turnsBy.with("applied", "").Inc()
	default:
		m.turnsBy.with("ignored", "").Inc()
	}
	for _, mv := range res.Moves {
		m.enteredBy.with(flow, mv.To).Inc()
	}
	if res.Session != nil && res.Session.State != "" && len(res.Moves) == 0 && res.Applied && !res.Reply.Invalid {
		// back, restart, a summary change: no flow move, but a state entered
		m.enteredBy.with(flow, res.Reply.State).Inc()
	}
	if cl := res.Claim; cl != nil {
		m.filed.Inc()
		m.filedByType.WithLabelValues(flow, insight.Label(flow, "reporter_type", cl.Answers), insight.Label(flow, "damage_type", cl.Answers)).Inc()
	}
	if h := res.Handoff; h != nil {
		m.handoffsBy.with(flow, h.State).Inc()
	}
}

// known puts every label set the loaded flows can give the claims-by-type
// and handoffs counters at zero, so a dashboard's rate() and a first
// claim's increase() have a series to start from (and the series exist
// before the first claim, as the contract's report keys do).
func (m *Metrics) known(e *engine.Engine) {
	if e == nil {
		return
	}
	for id, f := range e.Flows() {
		rts := slices.Concat(insight.Values(f, "reporter_type"), []string{"other", "none"})
		dts := slices.Concat(insight.Values(f, "damage_type"), []string{"other", "none"})
		for _, rt := range rts {
			for _, dt := range dts {
				m.filedByType.WithLabelValues(id, rt, dt)
			}
		}
		for _, sid := range f.Order {
			if st := f.States[sid]; st.Waits() {
				m.handoffs.WithLabelValues(id, sid)
			}
		}
	}
}
