package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// claimsWait bounds the wait, after a run, for the server's sender to
// deliver the claims the run filed.
const claimsWait = 10 * time.Second

// Run drives a closed loop (or an open loop when o.Rate > 0) against t and
// reports it, with the server's claims filed and delivered when its
// /metrics is reachable.
func Run(ctx context.Context, t Target, o Options) (*Report, error) {
	o.defaults()
	mode, setup := "closed", fmt.Sprintf("closed loop: %d conversations at once", o.Conversations)
	if o.Rate > 0 {
		mode, setup = "open", fmt.Sprintf("open loop: %g turns/s offered over %d connections", o.Rate, o.Conversations)
	}
	if o.Total > 0 {
		setup += fmt.Sprintf(", %d conversations (at most %s)", o.Total, o.Duration)
	} else {
		setup += fmt.Sprintf(", for %s", o.Duration)
	}
	r := newReport(mode, setup, t.name())
	r.Noise = &Noise{}
	if o.Probe > 0 {
		r.Noise = probePauses(o.Probe)
	}
	before, merr := scrape(ctx, t.MetricsURL)
	steal := startSteal()
	l, err := Drive(ctx, t, o)
	if err != nil {
		return nil, err
	}
	r.Load = l
	r.Noise.StealShare = steal.share()
	if ctx.Err() != nil {
		r.Notes = append(r.Notes, "interrupted: the figures cover the run until then")
	}
	if t.Bare {
		r.Notes = append(r.Notes, "the bare loop's replies are canned: no claim is filed, its receipts are not counted")
	} else {
		r.Claims = claimsOf(ctx, t, l.Conversations.WithClaim, before, merr)
	}
	return r, nil
}

// claimsOf reads the server's counters after a run, waiting up to
// claimsWait for the deliveries to catch up with the filings.
func claimsOf(ctx context.Context, t Target, filed int64, before map[string]float64, merr error) *Claims {
	c := &Claims{Filed: filed}
	if merr != nil {
		c.Note = "server counters unknown (/metrics: " + merr.Error() + ")"
		return c
	}
	deadline := time.Now().Add(claimsWait)
	for {
		after, err := scrape(context.WithoutCancel(ctx), t.MetricsURL)
		if err != nil {
			c.Note = "server counters unknown (/metrics after: " + err.Error() + ")"
			return c
		}
		f := after[metricFiled] - before[metricFiled]
		d := after[metricDelivered] - before[metricDelivered]
		c.ServerFiled, c.ServerDelivered = &f, &d
		if d >= f || time.Now().After(deadline) || ctx.Err() != nil {
			switch {
			case d >= f:
			case ctx.Err() != nil:
				c.Note = fmt.Sprintf("%.0f not delivered yet when interrupted", f-d)
			default:
				c.Note = fmt.Sprintf("%.0f not delivered %s after the run", f-d, claimsWait)
			}
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Idle is the outcome of an idle run.
type Idle struct {
	Connections   int     `json:"connections"`
	Opened        int     `json:"opened"`
	OpenSeconds   float64 `json:"open_s"`
	HeldSeconds   float64 `json:"held_s"`
	RSSBefore     int64   `json:"rss_before_bytes"`
	RSSAfter      int64   `json:"rss_after_bytes"`
	PerConnection float64 `json:"per_connection_bytes"`
	// Where it went, per connection: the Go heap in use, goroutine
	// stacks, and goroutines (the Go collector's gauges, before and
	// after); the rest of RSS is the runtime's and the kernel's.
	HeapPerConnection  float64 `json:"heap_per_connection_bytes,omitempty"`
	StackPerConnection float64 `json:"stack_per_connection_bytes,omitempty"`
	GoroutinesPerConn  float64 `json:"goroutines_per_connection,omitempty"`
	ServerConnections  float64 `json:"server_connections"`
	// ServerUpSeconds is how long the server had run when the connections
	// started opening (process_start_time_seconds); 0 where unknown. A
	// server that has run load before has a grown heap, and shows less
	// memory per connection than it takes.
	ServerUpSeconds float64          `json:"server_up_s,omitempty"`
	NoFile          uint64           `json:"rlimit_nofile"`
	Problems        map[string]int64 `json:"problems,omitempty"`
}

// idleDialers is how many connections are opened at once.
const idleDialers = 64

// RunIdle opens n chats, reads their first frame, holds them open for
// hold, and reports the server's resident memory per connection
// (process_resident_memory_bytes from its /metrics, before and after).
func RunIdle(ctx context.Context, t Target, n int, hold time.Duration, prog *Progress) (*Report, error) {
	if t.MetricsURL == "" {
		return nil, fmt.Errorf("idle: the server's /metrics is needed for its memory")
	}
	hold = min(hold, time.Hour)
	nofile, _ := RaiseNoFile()
	r := newReport("idle", fmt.Sprintf("idle: %d connections opened and held %s", n, hold), t.name())
	if nofile > 0 && uint64(n)+64 > nofile {
		r.Notes = append(r.Notes, fmt.Sprintf("RLIMIT_NOFILE is %d: fewer than %d connections may open", nofile, n))
	}
	beforeAt := time.Now()
	before, err := scrape(ctx, t.MetricsURL)
	if err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	st := newStats()
	c := &client{t: &t, st: st, users: newUsers()}
	var mu sync.Mutex
	var open []*websocket.Conn
	var readers sync.WaitGroup
	idx := make(chan int)
	start := time.Now()
	stop := prog.start(func() string {
		mu.Lock()
		k := len(open)
		mu.Unlock()
		return fmt.Sprintf("idle %s %d/%d connections open  errors %d", bar(float64(k)/float64(n)), k, n, st.errorCount())
	})
	var dialers sync.WaitGroup
	for i := range min(idleDialers, n) {
		dialers.Go(func() {
			rng := rngFor(uint64(i)+1, i)
			for range idx {
				cv, err := c.start(ctx, rng)
				if err != nil {
					continue
				}
				ws := cv.ws
				ws.SetReadDeadline(time.Time{}) // held, not waiting for a reply
				mu.Lock()
				open = append(open, ws)
				mu.Unlock()
				// Read on, so the server's pings are answered.
				readers.Go(func() {
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							st.connLost(err)
							return
						}
					}
				})
			}
		})
	}
feed:
	for i := range n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	dialers.Wait()
	opened := time.Since(start)
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	after, err := scrape(context.WithoutCancel(ctx), t.MetricsURL)
	stop()
	st.stopping.Store(true)
	for _, ws := range open {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		ws.Close()
	}
	readers.Wait()
	if err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	i := &Idle{Connections: n, Opened: len(open), OpenSeconds: opened.Seconds(), HeldSeconds: hold.Seconds(),
		RSSBefore: int64(before[metricRSS]), RSSAfter: int64(after[metricRSS]), ServerConnections: after[metricConns],
		NoFile: nofile}
	if st, ok := before[metricStart]; ok && st > 0 {
		i.ServerUpSeconds = max(0, float64(beforeAt.UnixNano())/1e9-st)
	}
	if _, ok := after[metricRSS]; !ok {
		return nil, fmt.Errorf("idle: %s has no %s", t.MetricsURL, metricRSS)
	}
	if i.Opened > 0 {
		n := float64(i.Opened)
		i.PerConnection = float64(i.RSSAfter-i.RSSBefore) / n
		i.HeapPerConnection = (after[metricHeap] - before[metricHeap]) / n
		i.StackPerConnection = (after[metricStack] - before[metricStack]) / n
		i.GoroutinesPerConn = (after[metricGoroutines] - before[metricGoroutines]) / n
	}
	st.mu.Lock()
	i.Problems = copyMap(st.problems)
	for k, v := range st.closeCodes {
		i.Problems[fmt.Sprintf("close %d", k)] += v
	}
	st.mu.Unlock()
	r.Idle = i
	return r, nil
}

// Rounds compares the real server with the bare loop.
type Rounds struct {
	Rounds          []Round   `json:"rounds"`
	Rate            float64   `json:"rate,omitempty"` // open-loop rounds: turns per second offered
	Bare            RoundsSum `json:"bare"`
	Real            RoundsSum `json:"real"`
	ThroughputRatio float64   `json:"throughput_ratio"` // real turns/s ÷ bare turns/s
	LatencyRatio    float64   `json:"latency_ratio"`    // real p50 ÷ bare p50
	P99Ratio        float64   `json:"p99_ratio"`        // real p99 ÷ bare p99
	// CPURatio is the serving side's processor time per turn, real ÷ bare:
	// the server's process and Redis against the bare loop's process and
	// Redis when both serve from processes of their own, else everything
	// (the load tester included). 0 where unknown.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
}

// Round is one bare or real round.
type Round struct {
	N    int    `json:"n"`
	Kind string `json:"kind"` // bare, real
	Load *Load  `json:"load"`
	CPU  *CPU   `json:"cpu_per_turn,omitempty"`
	// Steal is the share of the processors' time the hypervisor took
	// during the round; nil where unknown.
	Steal *float64 `json:"steal_share,omitempty"`
	// Others is the share of the processors' time that processes outside
	// the run (not the load tester, the serving process or Redis) used
	// during the round: other work on a shared machine, which steal does
	// not show. Nil where unknown.
	Others *float64 `json:"others_share,omitempty"`
	// Claims are a real round's receipts and the server's counters of
	// claims filed and delivered (the round waits for its deliveries).
	Claims *Claims `json:"claims,omitempty"`
}

// RoundsSum sums the rounds of one kind: turns over seconds; the mean of
// the rounds' percentiles.
type RoundsSum struct {
	TurnsPerSec float64 `json:"turns_per_s"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	CPU         *CPU    `json:"cpu_per_turn,omitempty"` // over all its rounds' turns
}

// RunRounds alternates k bare and k real rounds of o (the same client
// code, the same conversations at once, the same duration) and reports
// each, and the ratio of the real server to the bare loop. The rounds are
// closed loops, or open loops at o.Rate turns per second offered when
// o.Rate > 0 (latency from each turn's scheduled send).
func RunRounds(ctx context.Context, real, bare Target, k int, o Options) (*Report, error) {
	o.defaults()
	o.Total = 0
	loop := fmt.Sprintf("closed loop, %d conversations at once", o.Conversations)
	if o.Rate > 0 {
		loop = fmt.Sprintf("open loop, %g turns/s offered over %d connections, latency from the scheduled send", o.Rate, o.Conversations)
	}
	r := newReport("rounds", fmt.Sprintf("rounds: %d × (bare, real), %s, %s each", k, loop, o.Duration),
		fmt.Sprintf("real %s; bare %s", real.name(), bare.name()))
	rr := &Rounds{Rate: o.Rate}
	label := o.Label
	clock := newCPUClock(o.RedisURL)
	defer clock.close()
	for i := 1; i <= k; i++ {
		for _, kind := range []string{"bare", "real"} {
			t := bare
			if kind == "real" {
				t = real
			}
			ro := o
			ro.Label = fmt.Sprintf("%sround %d/%d %s ", label, i, k, kind)
			before := clock.read(ctx, t)
			var counters map[string]float64
			var cerr error
			if !t.Bare {
				counters, cerr = scrape(ctx, t.MetricsURL)
			}
			steal := startSteal()
			l, err := Drive(ctx, t, ro)
			if err != nil {
				return nil, err
			}
			after := clock.read(ctx, t)
			stolen, others := steal.shares(before.used(after))
			var claims *Claims
			if !t.Bare {
				// The round's claims are delivered before the next round
				// starts: their deliveries are the round's work, not the
				// next one's.
				claims = claimsOf(ctx, t, l.Conversations.WithClaim, counters, cerr)
			}
			rd := Round{N: i, Kind: kind, Load: l, Steal: stolen, Others: others, Claims: claims}
			rd.CPU = before.perTurn(after, l.Turns)
			rr.Rounds = append(rr.Rounds, rd)
			if ctx.Err() != nil {
				break
			}
		}
		if ctx.Err() != nil {
			r.Notes = append(r.Notes, "interrupted: the figures cover the rounds until then")
			break
		}
	}
	rr.Bare, rr.Real = sumRounds(rr.Rounds, "bare"), sumRounds(rr.Rounds, "real")
	rr.ratios()
	r.Rounds = rr
	if real.PID > 0 && bare.PID > 0 {
		r.Notes = append(r.Notes, "processor time per turn: each serving process from /proc/<pid>/stat, Redis's from its own when it runs here; the serving side is the server (or the bare loop) and Redis")
	} else {
		r.Notes = append(r.Notes, "the ratio is fair when the real server uses the same Redis as the bare loop (--redis for both); Redis's processor time is read from --redis only")
	}
	return r, nil
}

// ratios sets the real server's ratios to the bare loop.
func (rr *Rounds) ratios() {
	div := func(a, b float64) float64 {
		if b > 0 {
			return a / b
		}
		return 0
	}
	rr.ThroughputRatio = div(rr.Real.TurnsPerSec, rr.Bare.TurnsPerSec)
	rr.LatencyRatio = div(rr.Real.P50, rr.Bare.P50)
	rr.P99Ratio = div(rr.Real.P99, rr.Bare.P99)
	if b, c := rr.Bare.CPU, rr.Real.CPU; b != nil && c != nil && (b.Server == nil) == (c.Server == nil) {
		rr.CPURatio = div(c.Serving(), b.Serving())
	}
}

func sumRounds(rs []Round, kind string) RoundsSum {
	var turns int64
	var secs, p50, p99 float64
	n := 0
	var cpus []*CPU
	var cpuTurns []int64
	for _, r := range rs {
		if r.Kind != kind {
			continue
		}
		turns += r.Load.Turns
		secs += r.Load.Seconds
		p50 += r.Load.Latency.P50
		p99 += r.Load.Latency.P99
		n++
		cpus, cpuTurns = append(cpus, r.CPU), append(cpuTurns, r.Load.Turns)
	}
	if n == 0 || secs == 0 {
		return RoundsSum{}
	}
	return RoundsSum{TurnsPerSec: float64(turns) / secs, P50: p50 / float64(n), P99: p99 / float64(n),
		CPU: weighCPU(cpus, cpuTurns)}
}

// weighCPU is the processor time per turn over several rounds, each
// weighed by its turns; nil unless every round has one. A part (server,
// Redis) is counted only when every round has it, and so is the total.
func weighCPU(cs []*CPU, turns []int64) *CPU {
	var self, server, redis float64
	var all int64
	haveServer, haveRedis := true, true
	for i, c := range cs {
		if c == nil {
			return nil
		}
		w := float64(turns[i])
		all += turns[i]
		self += c.LoadTester * w
		if c.Server != nil {
			server += *c.Server * w
		} else {
			haveServer = false
		}
		if c.Redis != nil {
			redis += *c.Redis * w
		} else {
			haveRedis = false
		}
	}
	if all == 0 {
		return nil
	}
	n := float64(all)
	out := &CPU{LoadTester: self / n}
	out.Total = out.LoadTester
	if haveServer {
		v := server / n
		out.Server, out.Total = &v, out.Total+v
	}
	if haveRedis {
		v := redis / n
		out.Redis, out.Total = &v, out.Total+v
	}
	return out
}
