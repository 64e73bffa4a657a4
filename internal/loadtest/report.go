package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is what a run found; WriteText prints it, WriteJSON keeps it for
// tracking.
type Report struct {
	Mode    string    `json:"mode"` // closed, open, idle, bare, rounds, backlog
	Setup   string    `json:"setup"`
	Target  string    `json:"target"`
	Started time.Time `json:"started"`
	Load    *Load     `json:"load,omitempty"`
	Claims  *Claims   `json:"claims,omitempty"`
	Idle    *Idle     `json:"idle,omitempty"`
	Rounds  *Rounds   `json:"rounds,omitempty"`
	Backlog *Backlog  `json:"backlog,omitempty"`
	Notes   []string  `json:"notes,omitempty"`
	Noise   *Noise    `json:"noise,omitempty"`
	Machine Machine   `json:"machine"`
	Command string    `json:"command"`
}

// Claims compares the receipts the simulated people got with the server's
// own counters (read from /metrics before and after the run).
type Claims struct {
	Filed           int64    `json:"filed"`                      // receipts (claim_id) received
	ServerFiled     *float64 `json:"server_filed,omitempty"`     // claimbot_claims_filed_total, after − before
	ServerDelivered *float64 `json:"server_delivered,omitempty"` // claimbot_claims_delivered_total, after − before
	Note            string   `json:"note,omitempty"`
}

// Machine is where the load tester ran.
type Machine struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	Go       string `json:"go"`
}

// ThisMachine describes the machine running the load tester.
func ThisMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func newReport(mode, setup, target string) *Report {
	return &Report{Mode: mode, Setup: setup, Target: target, Started: time.Now().UTC().Truncate(time.Second), Machine: ThisMachine()}
}

// WriteJSON writes the report to a file, indented.
func (r *Report) WriteJSON(path string) error {
	buf, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(buf, '\n'), 0o644)
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	line := func(k, format string, args ...any) { fmt.Fprintf(w, "%-14s %s\n", k, fmt.Sprintf(format, args...)) }
	line("mode", "%s", r.Setup)
	line("target", "%s", r.Target)
	if r.Load != nil {
		writeLoad(line, r.Load, r.Mode == "open")
	}
	if c := r.Claims; c != nil {
		s := fmt.Sprintf("%d filed (receipts received)", c.Filed)
		if c.ServerFiled != nil {
			s += fmt.Sprintf("; server: filed +%.0f, delivered +%.0f", *c.ServerFiled, *c.ServerDelivered)
		}
		if c.Note != "" {
			s += "; " + c.Note
		}
		line("claims", "%s", s)
	}
	if i := r.Idle; i != nil {
		line("connections", "%d of %d opened in %.2f s, held %.1f s (server counts %.0f open; RLIMIT_NOFILE %d)",
			i.Opened, i.Connections, i.OpenSeconds, i.HeldSeconds, i.ServerConnections, i.NoFile)
		up := ""
		if i.ServerUpSeconds > 0 {
			up = fmt.Sprintf(" (the server had run %s when they opened)", time.Duration(i.ServerUpSeconds*float64(time.Second)).Round(100*time.Millisecond))
		}
		line("server RSS", "%s before, %s after: %s per connection%s",
			mib(float64(i.RSSBefore)), mib(float64(i.RSSAfter)), kib(i.PerConnection), up)
		if i.HeapPerConnection != 0 || i.StackPerConnection != 0 {
			line("of which", "Go heap in use %s, goroutine stacks %s, %.1f goroutines a connection",
				kib(i.HeapPerConnection), kib(i.StackPerConnection), i.GoroutinesPerConn)
		}
		if len(i.Problems) > 0 {
			line("errors", "%s", counts(i.Problems))
		}
	}
	if rr := r.Rounds; rr != nil {
		fmt.Fprintf(w, "%-14s %-5s %10s %10s %9s %9s %9s %7s %7s %7s\n", "rounds", "kind", "turns/s", "conv/s", "p50 ms", "p99 ms", "max ms", "errors", "steal", "others")
		for _, rd := range rr.Rounds {
			l := rd.Load
			share := func(v *float64) string {
				if v == nil {
					return "?"
				}
				return fmt.Sprintf("%.1f%%", 100**v)
			}
			fmt.Fprintf(w, "%-14d %-5s %10.0f %10.1f %9.3f %9.3f %9.2f %7d %7s %7s\n", rd.N, rd.Kind, l.TurnsPerSec, l.ConvsPerSec,
				l.Latency.P50, l.Latency.P99, l.Latency.Max, l.Errors(), share(rd.Steal), share(rd.Others))
		}
		line("bare", "%.0f turns/s, p50 %.3f ms, p99 %.3f ms", rr.Bare.TurnsPerSec, rr.Bare.P50, rr.Bare.P99)
		line("real", "%.0f turns/s, p50 %.3f ms, p99 %.3f ms", rr.Real.TurnsPerSec, rr.Real.P50, rr.Real.P99)
		if rr.Rate > 0 {
			line("ratio", "real/bare p99 %.2f× (p50 %.2f×) at %g turns/s offered; turns/s real/bare %.3f",
				rr.P99Ratio, rr.LatencyRatio, rr.Rate, rr.ThroughputRatio)
		} else {
			line("ratio", "real/bare turns/s %.3f (the bare loop is %.1f× as fast); p50 latency real/bare %.1f×; p99 %.1f×",
				rr.ThroughputRatio, 1/rr.ThroughputRatio, rr.LatencyRatio, rr.P99Ratio)
		}
		if b, c := rr.Bare.CPU, rr.Real.CPU; b != nil && c != nil && b.Total > 0 {
			line("cpu per turn", "bare %s; real %s", b, c)
			if rr.CPURatio > 0 {
				what := "all processes, load tester included"
				if c.Server != nil {
					what = "serving side: server process + redis"
				}
				line("cpu ratio", "real/bare %.2f× (%s: %.0f against %.0f µs a turn)", rr.CPURatio, what, c.Serving(), b.Serving())
			}
		}
		var receipts int64
		var filed, delivered float64
		known := true
		for _, rd := range rr.Rounds {
			if c := rd.Claims; c != nil {
				receipts += c.Filed
				if c.ServerFiled == nil {
					known = false
					continue
				}
				filed, delivered = filed+*c.ServerFiled, delivered+*c.ServerDelivered
			}
		}
		if known && receipts > 0 {
			line("claims", "real rounds: %d receipts received; server: filed %.0f, delivered %.0f (each round waits for its deliveries, up to %s)", receipts, filed, delivered, claimsWait)
		}
		if len(rr.Rounds) > 0 && rr.Rounds[0].Others != nil {
			line("others", "the share of the processors that processes outside this run used during each round (other work on this machine; steal does not show it)")
		}
	}
	if b := r.Backlog; b != nil {
		line("backlog", "%d claims enqueued in %.2f s (%.0f/s)", b.Claims, b.FillSeconds, b.FillPerSec)
		state := "drained"
		if !b.Drained {
			state = "NOT drained"
		}
		line("drain", "%s: %d delivered in %.2f s: %.0f claims/s (%d workers, receiver answers 204 at once)",
			state, b.Delivered, b.DrainSeconds, b.PerSec, b.Workers)
	}
	for _, n := range r.Notes {
		line("note", "%s", n)
	}
	if r.Noise != nil {
		if s := r.Noise.String(); s != "" {
			line("machine noise", "%s", s)
		}
	}
	m := r.Machine
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "CPU model unknown"
	}
	line("machine", "%s/%s, %d CPUs, %s, %s", m.OS, m.Arch, m.CPUs, cpu, m.Go)
	line("command", "%s", r.Command)
}

func writeLoad(line func(k, format string, args ...any), l *Load, open bool) {
	if open {
		line("duration", "%.2f s (turns scheduled for %.2f s, then those due were finished for up to %s)", l.Seconds, l.OfferedFor, openGrace)
	} else {
		line("duration", "%.2f s", l.Seconds)
	}
	c := l.Conversations
	line("conversations", "%d completed (%.1f/s): %d with a claim, %d without; %d started, %d unfinished at the end, %d failed",
		c.Completed, l.ConvsPerSec, c.WithClaim, c.WithoutClaim, c.Started, c.Unfinished, c.Failed)
	if open {
		line("turns", "%d sent of %d offered (%.1f/s); %d never sent (their wait counts in the latency); %d answers refused",
			l.Turns, l.Offered, l.TurnsPerSec, l.Unsent, l.Refused)
	} else {
		line("turns", "%d (%.1f/s); %d answers refused (the simulated people's planned mistakes)", l.Turns, l.TurnsPerSec, l.Refused)
	}
	from := "send"
	if open {
		from = "scheduled send"
	}
	line("turn latency", "p50 %s  p90 %s  p99 %s  max %s  (mean %s; %s → reply)",
		msText(l.Latency.P50), msText(l.Latency.P90), msText(l.Latency.P99), msText(l.Latency.Max), msText(l.Latency.Mean), from)
	line("connect", "p50 %s  p99 %s  max %s  (dial → first frame)", msText(l.Connect.P50), msText(l.Connect.P99), msText(l.Connect.Max))
	errs := "none"
	if len(l.ErrorFrames) > 0 {
		errs = counts(l.ErrorFrames)
	}
	line("error frames", "%s", errs)
	if len(l.Problems) > 0 {
		line("client errors", "%s", counts(l.Problems))
	}
	closes := "none"
	if len(l.CloseCodes) > 0 {
		closes = counts(l.CloseCodes)
	}
	line("close codes", "%s", closes)
}

func counts(m map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func msText(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.3fms", v)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }

// String reads "71 µs (load tester 53, redis 18)".
func (c *CPU) String() string {
	parts := []string{fmt.Sprintf("load tester %.0f", c.LoadTester)}
	if c.Server != nil {
		parts = append(parts, fmt.Sprintf("server %.0f", *c.Server))
	}
	if c.Redis != nil {
		parts = append(parts, fmt.Sprintf("redis %.0f", *c.Redis))
	}
	return fmt.Sprintf("%.0f µs (%s)", c.Total, strings.Join(parts, ", "))
}
