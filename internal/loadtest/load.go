// Package loadtest drives claimbot's chat with simulated people over real
// WebSockets and reports how it held up (`claimbot loadtest`).
//
// Every simulated person runs a complete damage-1015 conversation: a
// Persona answers each reply by its field and input (the shares of the
// 2022 reports, the forms people type, some answers refused first), frames
// carry the reply's state and an id, and a done frame ends the
// conversation; the next one starts with a new user id.
//
//   - closed loop: N conversations at once, each sending its next answer
//     as soon as its reply comes;
//   - open loop: turns offered at a fixed rate whatever the replies; the
//     latency of a turn runs from the time it was scheduled, so a server
//     that falls behind shows it (no coordinated omission);
//   - idle: N connections opened and held, for the server's memory per
//     connection;
//   - bare: the same client against a server that does the least a turn
//     can cost (one read, one Redis compare-and-set, one write), and
//     rounds alternating it with the real server, closed or open loops,
//     for their ratios; a Stack runs both, and Redis, as processes of
//     their own, with the webhook receiver in the load tool;
//   - backlog: an outbox pre-filled with N claims, drained by a sender to a
//     receiver that answers 204 at once.
//
// Every loop is bounded in count and time and stops by itself.
package loadtest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and bounds of a run.
const (
	DefaultConversations = 50
	DefaultDuration      = 10 * time.Second
	// MaxDuration bounds a run given only --total.
	MaxDuration = 10 * time.Minute
	// openGrace is how long an open loop keeps sending turns scheduled
	// before its end that were still queued.
	openGrace = 3 * time.Second
	maxPool   = 10000
)

// Options shape a closed or open loop.
type Options struct {
	Conversations int           // closed: conversations at once; open: connections in the pool
	Duration      time.Duration // how long load is offered (default 10 s; MaxDuration with Total)
	Total         int           // stop after this many conversations started (0: no limit)
	Rate          float64       // > 0: open loop, turns per second offered
	StillFileNo   float64       // share who do not file after hearing their service's measure
	Seed          uint64        // 0: random
	Progress      *Progress
	Label         string        // prefix of the progress line
	RedisURL      string        // rounds: the Redis whose processor time is counted (INFO cpu); empty: not counted
	Probe         time.Duration // Run: how long to probe the machine's pauses before the load (0: not)
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
		if o.Total > 0 {
			o.Duration = MaxDuration
		}
	}
	o.Duration = min(o.Duration, 24*time.Hour)
	if o.Conversations <= 0 {
		o.Conversations = DefaultConversations
		if o.Rate > 0 {
			o.Conversations = min(max(20, int(math.Ceil(o.Rate/5))), maxPool)
		}
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
}

// Convs counts conversations.
type Convs struct {
	Started      int64 `json:"started"`   // connected
	Completed    int64 `json:"completed"` // reached done
	WithClaim    int64 `json:"with_claim"`
	WithoutClaim int64 `json:"without_claim"` // done without a claim (settled by the measure)
	Unfinished   int64 `json:"unfinished"`    // in progress when the run stopped
	Failed       int64 `json:"failed"`        // abandoned on an error (counted there)
}

// Load is the outcome of a closed or open loop.
type Load struct {
	Seconds       float64          `json:"duration_s"`
	Conversations Convs            `json:"conversations"`
	Turns         int64            `json:"turns"`
	TurnsPerSec   float64          `json:"turns_per_s"`
	ConvsPerSec   float64          `json:"conversations_per_s"`
	Refused       int64            `json:"refused_answers"`
	Latency       Latency          `json:"turn_latency"`
	Connect       Latency          `json:"connect_latency"`
	OfferedFor    float64          `json:"offered_for_s,omitempty"` // open loop: how long turns were scheduled
	Offered       int64            `json:"offered_turns,omitempty"` // open loop
	Unsent        int64            `json:"unsent_turns,omitempty"`  // open loop: offered, never sent
	ErrorFrames   map[string]int64 `json:"error_frames"`
	Problems      map[string]int64 `json:"client_problems"`
	CloseCodes    map[string]int64 `json:"close_codes"`
}

// Errors is every error frame, client-side problem and unexpected close.
func (l *Load) Errors() int64 {
	var n int64
	for _, m := range []map[string]int64{l.ErrorFrames, l.Problems, l.CloseCodes} {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// Drive runs a closed loop, or an open loop when o.Rate > 0, against t.
func Drive(ctx context.Context, t Target, o Options) (*Load, error) {
	o.defaults()
	st := newStats()
	c := &client{t: &t, st: st, users: newUsers(), stillFileNo: o.StillFileNo}
	// A cancelled ctx (Ctrl-C) closes every connection; what fails after
	// that is not counted.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			st.stopping.Store(true)
			c.open.closeAll()
		case <-finished:
		}
	}()
	var unfinished atomic.Int64
	var elapsed time.Duration
	var offered, unsent int64
	if o.Rate > 0 {
		elapsed, offered, unsent = openLoop(ctx, c, o, &unfinished)
	} else {
		elapsed = closedLoop(ctx, c, o, &unfinished)
	}
	if err := ctx.Err(); err != nil && st.turns.Count() == 0 {
		return nil, err
	}
	l := &Load{Seconds: elapsed.Seconds(), Turns: st.turns.Count() - unsent, Refused: st.refused.Load(),
		Latency: st.turns.Summary(), Connect: st.connects.Summary(), Offered: offered, Unsent: unsent}
	if o.Rate > 0 {
		l.OfferedFor = o.Duration.Seconds()
	}
	l.Conversations = Convs{Started: st.started.Load(), Completed: st.completed.Load(), WithClaim: st.claims.Load(),
		Unfinished: unfinished.Load()}
	l.Conversations.WithoutClaim = l.Conversations.Completed - l.Conversations.WithClaim
	l.Conversations.Failed = max(0, l.Conversations.Started-l.Conversations.Completed-l.Conversations.Unfinished)
	if s := elapsed.Seconds(); s > 0 {
		l.TurnsPerSec = float64(l.Turns) / s
		l.ConvsPerSec = float64(l.Conversations.Completed) / s
	}
	st.mu.Lock()
	l.ErrorFrames, l.Problems = copyMap(st.errFrames), copyMap(st.problems)
	l.CloseCodes = map[string]int64{}
	for k, v := range st.closeCodes {
		l.CloseCodes[strconv.Itoa(k)] = v
	}
	st.mu.Unlock()
	return l, nil
}

func rngFor(seed uint64, i int) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(i)+1)) }

// closedLoop keeps o.Conversations conversations going, each answering
// as soon as its reply comes, until the duration is up or o.Total
// conversations were started; a turn in flight at the end finishes.
func closedLoop(ctx context.Context, c *client, o Options, unfinished *atomic.Int64) time.Duration {
	start := time.Now()
	deadline := start.Add(o.Duration)
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var admitted atomic.Int64
	stop := o.Progress.start(func() string { return loadLine(o, c.st, start, nil) })
	var wg sync.WaitGroup
	for i := range o.Conversations {
		wg.Go(func() {
			rng := rngFor(o.Seed, i)
			var bo backoff
			for !over() {
				if o.Total > 0 && admitted.Add(1) > int64(o.Total) {
					return
				}
				cv, err := c.start(ctx, rng)
				if err != nil {
					bo.wait(waitCtx)
					continue
				}
				bo.reset()
				for {
					if over() {
						unfinished.Add(1)
						break
					}
					if done, err := cv.step(time.Now()); done || err != nil {
						if err != nil && c.st.stopping.Load() {
							unfinished.Add(1)
						}
						break
					}
				}
				c.finish(cv)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	return elapsed
}

// openLoop offers o.Rate turns per second to a pool of o.Conversations
// connections whatever the replies. Each turn's latency runs from the
// time it was scheduled: a turn that waited for a free connection waited
// in the server's name. Turns still waiting or in flight openGrace after
// the end are counted as unsent, with the time they waited so far.
func openLoop(ctx context.Context, c *client, o Options, unfinished *atomic.Int64) (elapsed time.Duration, offered, unsent int64) {
	interval := time.Duration(float64(time.Second) / o.Rate)
	if interval <= 0 {
		interval = 1
	}
	ticks := make(chan time.Time, int(min(o.Rate*o.Duration.Seconds()+1, 1<<20)))

	// Open the pool first: the schedule starts once every connection
	// had its first frame (or failed).
	var ready sync.WaitGroup
	ready.Add(o.Conversations)
	var started atomic.Bool
	var next atomic.Int64 // turns handed to the connections
	var start time.Time
	var hardStop context.Context
	hardReady := make(chan struct{})
	var lostMu sync.Mutex
	var lost []time.Time
	stopLine := o.Progress.start(func() string {
		if !started.Load() {
			return fmt.Sprintf("%sopening %d connections…", o.Label, o.Conversations)
		}
		return loadLine(o, c.st, start, &next)
	})
	var wg sync.WaitGroup
	for i := range o.Conversations {
		wg.Go(func() {
			rng := rngFor(o.Seed, i)
			var bo backoff
			var cv *conv
			first := true
			defer func() {
				if cv != nil {
					if !cv.finished {
						unfinished.Add(1)
					}
					c.finish(cv)
				}
			}()
			for {
				if cv == nil {
					var err error
					dctx := ctx
					if !first {
						dctx = hardStop
					}
					cv, err = c.start(dctx, rng)
					if first {
						first = false
						ready.Done()
						<-hardReady
					}
					if err != nil {
						cv = nil
						if hardStop.Err() != nil {
							return
						}
						bo.wait(hardStop)
						continue
					}
					bo.reset()
				}
				var t time.Time
				select {
				case <-hardStop.Done():
					return
				case tt, ok := <-ticks:
					if !ok {
						return
					}
					t = tt
				}
				if done, err := cv.step(t); done || err != nil {
					if err != nil && c.st.stopping.Load() {
						unfinished.Add(1)
						lostMu.Lock()
						lost = append(lost, t) // in flight at the hard stop
						lostMu.Unlock()
					}
					c.finish(cv)
					cv = nil
				}
			}
		})
	}
	ready.Wait()
	start = time.Now()
	deadline := start.Add(o.Duration)
	var cancelHard context.CancelFunc
	hardStop, cancelHard = context.WithDeadline(ctx, deadline.Add(openGrace))
	defer cancelHard()
	started.Store(true)
	close(hardReady)
	// The hard stop ends the turns still in flight: their wait so far counts.
	go func() {
		<-hardStop.Done()
		c.st.stopping.Store(true)
		c.open.closeAll()
	}()

	// The schedule: turn i is due at start + i×interval.
	genCtx, cancelGen := context.WithDeadline(ctx, deadline)
	defer cancelGen()
	due := func(i int64) time.Time { return start.Add(time.Duration(i) * interval) }
	enough := func() bool { return o.Total > 0 && c.st.completed.Load() >= int64(o.Total) }
	var pending []time.Time // scheduled, never handed to a connection
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
gen:
	for i := int64(0); due(i).Before(deadline) && !enough(); i++ {
		if d := time.Until(due(i)); d > 0 {
			timer.Reset(d)
			select {
			case <-genCtx.Done():
				break gen
			case <-timer.C:
			}
		}
		select {
		case ticks <- due(i):
			next.Add(1)
		case <-genCtx.Done():
			break gen
		}
	}
	// Turns due before the end that no connection was free to take.
	if ctx.Err() == nil && !enough() {
		for i := next.Load(); due(i).Before(deadline); i++ {
			pending = append(pending, due(i))
		}
	}
	neverHanded := int64(len(pending))
	close(ticks)
	wg.Wait()
	end := time.Now()
	for t := range ticks {
		pending = append(pending, t)
	}
	pending = append(pending, lost...)
	for _, t := range pending {
		c.st.turns.Record(end.Sub(t))
	}
	stopLine()
	return end.Sub(start), next.Load() + neverHanded, int64(len(pending))
}

func loadLine(o Options, st *stats, start time.Time, offered *atomic.Int64) string {
	el := time.Since(start)
	frac := el.Seconds() / o.Duration.Seconds()
	if o.Total > 0 {
		frac = max(frac, float64(st.started.Load())/float64(o.Total))
	}
	s := fmt.Sprintf("%s%s %5.1fs  conv %d  turns %d (%.0f/s)  p99 %.2fms  errors %d",
		o.Label, bar(frac), el.Seconds(), st.completed.Load(), st.turns.Count(),
		float64(st.turns.Count())/max(el.Seconds(), 1e-9), ms(st.turns.Quantile(.99)), st.errorCount())
	if offered != nil {
		s += fmt.Sprintf("  sent %d of %.0f/s", offered.Load(), o.Rate)
	}
	return s
}
