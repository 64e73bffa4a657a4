package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names read from the server's /metrics.
const (
	metricRSS       = "process_resident_memory_bytes"
	metricFiled     = "claimbot_claims_filed_total"
	metricDelivered = "claimbot_claims_delivered_total"
	metricConns     = "claimbot_connections"
	metricCPU       = "process_cpu_seconds_total"
	metricStart     = "process_start_time_seconds"
	// Where a connection's memory goes, from the Go collector.
	metricHeap       = "go_memstats_heap_inuse_bytes"
	metricStack      = "go_memstats_stack_inuse_bytes"
	metricGoroutines = "go_goroutines"
)

// scrape reads a Prometheus text exposition and returns each metric's
// value summed over its series (counters and gauges only).
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	if url == "" {
		return nil, fmt.Errorf("no /metrics URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		var sum float64
		ok := false
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
				ok = true
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
				ok = true
			case dto.MetricType_UNTYPED:
				sum += m.GetUntyped().GetValue()
				ok = true
			}
		}
		if ok {
			out[name] = sum
		}
	}
	return out, nil
}
