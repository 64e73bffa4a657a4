package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Noise is what the machine itself adds to latency: a shared or virtual
// machine pauses threads to run something else, and a pause lands on every
// turn in flight. A latency quantile that is below the machine's pauses is
// the server's; one above them may be the machine's.
type Noise struct {
	// A thread spinning on its own before the load, reading the clock: the
	// gaps between two readings of over pauseFloor are pauses.
	ProbeSeconds float64 `json:"probe_s,omitempty"`
	Pauses       int     `json:"pauses,omitempty"`          // gaps over pauseFloor
	PausesOver1  int     `json:"pauses_over_1ms,omitempty"` // of those, over 1 ms
	LostShare    float64 `json:"lost_share,omitempty"`      // the pauses' share of the probe
	LongestMs    float64 `json:"longest_ms,omitempty"`
	// StealShare is the share of the processors' time during the load
	// that the hypervisor gave to other machines (/proc/stat); nil where
	// unknown.
	StealShare *float64 `json:"steal_share,omitempty"`
}

// pauseFloor is the shortest gap a probe counts as a pause: far longer
// than two clock readings, shorter than any latency target.
const pauseFloor = 100 * time.Microsecond

// probePauses spins one thread for d, reading the clock, and counts the
// gaps between readings: times the thread did not run although it wanted
// to. Run it with the machine otherwise idle: it keeps one processor busy.
func probePauses(d time.Duration) *Noise {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return pauses(d, time.Now)
}

// pauses is probePauses on the clock now.
func pauses(d time.Duration, clock func() time.Time) *Noise {
	n := &Noise{ProbeSeconds: d.Seconds()}
	start := clock()
	last, end := start, start.Add(d)
	var lost time.Duration
	for last.Before(end) {
		now := clock()
		if g := now.Sub(last); g > pauseFloor {
			n.Pauses++
			if g > time.Millisecond {
				n.PausesOver1++
			}
			lost += g
			n.LongestMs = max(n.LongestMs, ms(g))
		}
		last = now
	}
	n.LostShare = float64(lost) / float64(last.Sub(start))
	return n
}

// cpuTimes is the machine's processor time in clock ticks, from the first
// line of /proc/stat: all of it and the hypervisor's steal.
type cpuTimes struct{ total, steal, busy uint64 }

func readCPUTimes() (cpuTimes, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return cpuTimes{}, false
	}
	return parseCPUTimes(sc.Text())
}

// parseCPUTimes reads "cpu  user nice system idle iowait irq softirq
// steal guest guest_nice"; guest time is already counted in user.
func parseCPUTimes(line string) (cpuTimes, bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, false
	}
	var t cpuTimes
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, false
		}
		t.total += v
		switch i {
		case 7:
			t.steal = v
		case 0, 1, 2, 5, 6: // user, nice, system, irq, softirq
			t.busy += v
		}
	}
	return t, true
}

// stealClock measures the steal share over a stretch of time.
type stealClock struct {
	start cpuTimes
	ok    bool
}

func startSteal() stealClock {
	t, ok := readCPUTimes()
	return stealClock{start: t, ok: ok}
}

// share is the steal share since start; nil where unknown.
func (c stealClock) share() *float64 {
	s, _ := c.shares(-1)
	return s
}

// shares is the steal share since start, and the share of the machine's
// processor time that processes other than the run's used: the machine's
// busy time (user, nice, system, interrupts) less ours, the run's
// processes' processor seconds since start (below zero: unknown). Steal
// is the hypervisor's, for other machines; the others' share is this
// machine's own other work (other load tests, builds), which steal does
// not show.
func (c stealClock) shares(ours float64) (steal, others *float64) {
	end, ok := readCPUTimes()
	if !c.ok || !ok || end.total <= c.start.total || end.steal < c.start.steal {
		return nil, nil
	}
	total := float64(end.total - c.start.total)
	s := float64(end.steal-c.start.steal) / total
	if ours >= 0 && end.busy >= c.start.busy {
		o := max(0, (float64(end.busy-c.start.busy)/clockTicks-ours)/(total/clockTicks))
		others = &o
	}
	return &s, others
}

// String is the report's line.
func (n *Noise) String() string {
	var parts []string
	if n.ProbeSeconds > 0 {
		parts = append(parts, fmt.Sprintf("a thread spinning %.1f s before the load was paused %d times (%d over 1 ms), %.1f %% of the time, the longest %.1f ms",
			n.ProbeSeconds, n.Pauses, n.PausesOver1, 100*n.LostShare, n.LongestMs))
	}
	if n.StealShare != nil {
		parts = append(parts, fmt.Sprintf("the hypervisor took %.1f %% of the processors during the load (steal)", 100**n.StealShare))
	}
	return strings.Join(parts, "; ")
}
