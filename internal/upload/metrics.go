package upload

import "github.com/prometheus/client_golang/prometheus"

// Refusal reasons, the reason label of claimbot_uploads_refused_total.
const (
	reasonType       = "type"       // the bytes are not an accepted type
	reasonSize       = "size"       // Upload-Length over the limit (413), or over a flow's limit
	reasonNotYours   = "not_yours"  // a request or an attach on another user's upload
	reasonUnfinished = "unfinished" // attached before its last byte
	reasonUnknown    = "unknown"    // attached, but no such upload (deleted, swept, made up)
	reasonKept       = "kept"       // attached, but it already went with a claim
)

type metrics struct {
	started  prometheus.Counter
	finished prometheus.Counter
	refused  *prometheus.CounterVec
	bytes    prometheus.Counter
}

// newMetrics registers the uploads' metrics on reg; nil counts nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		started: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_uploads_started_total",
			Help: "Uploads created (tus POST answered 201)."}),
		finished: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_uploads_finished_total",
			Help: "Uploads whose last byte arrived and whose type was accepted."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimbot_uploads_refused_total",
			Help: "Uploads or attaches refused, by reason: type, size, not_yours, unfinished, unknown, kept."}, []string{"reason"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "claimbot_upload_bytes_stored_total",
			Help: "Bytes of the files accepted and kept."}),
	}
	for _, r := range []string{reasonType, reasonSize, reasonNotYours, reasonUnfinished, reasonUnknown, reasonKept} {
		m.refused.WithLabelValues(r)
	}
	reg.MustRegister(m.started, m.finished, m.refused, m.bytes)
	return m
}

func (m *metrics) start() {
	if m != nil {
		m.started.Inc()
	}
}

func (m *metrics) finish(size int64) {
	if m != nil {
		m.finished.Inc()
		m.bytes.Add(float64(size))
	}
}

func (m *metrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
