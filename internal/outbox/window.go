package outbox

import (
	"context"
	"sync"
	"time"
)

// Bounds of the delivery window.
const (
	windowMin   = 4                     // deliveries in flight at the least
	windowGrow  = 50 * time.Millisecond // a wait for a slot this long doubles the window
	windowCheck = time.Second           // how often the window may shrink
)

// window bounds the deliveries in flight, between windowMin and the
// sender's Workers. It starts small: a receiver nearby that answers at once
// needs only a few deliveries in flight, and many at once crowd the chat
// turns out of the CPU (at 5,000 turns/s, with 64 deliveries allowed in
// flight to the built-in receiver, the turns' p99 was 12–27 ms; with 4,
// 6–9 ms). A delivery that waits for a
// slot longer than windowGrow doubles it, once per windowGrow however many
// wait, so a slow or distant receiver, or a backlog, gets every worker
// within a few tenths of a second; a second in which no more than a
// quarter of it was used halves it.
type window struct {
	max int

	mu       sync.Mutex
	limit    int       // deliveries allowed in flight now
	inflight int       // deliveries in flight
	peak     int       // the most in flight since checked
	checked  time.Time // when the window last considered shrinking
	grown    time.Time // when it last doubled
	freed    chan struct{}
}

func newWindow(workers int) *window {
	min := min(windowMin, workers)
	return &window{max: workers, limit: min, freed: make(chan struct{}, 1), checked: time.Now()}
}

// acquire waits for a slot; an error only when ctx ends first.
func (w *window) acquire(ctx context.Context) error {
	var since time.Time // when this delivery began to wait
	var tick *time.Timer
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		w.mu.Lock()
		now := time.Now()
		if w.inflight >= w.limit && w.limit < w.max && !since.IsZero() &&
			now.Sub(since) >= windowGrow && now.Sub(w.grown) >= windowGrow {
			// Claims have waited a while for a slot: the receiver is slow
			// or there is a backlog. Once per windowGrow, however many
			// deliveries wait.
			w.limit = min(2*w.limit, w.max)
			w.grown = now
		}
		if w.inflight < w.limit {
			w.inflight++
			w.peak = max(w.peak, w.inflight)
			room := w.inflight < w.limit
			w.mu.Unlock()
			if room {
				w.signal() // another waiter may take the next slot
			}
			return nil
		}
		w.mu.Unlock()
		if since.IsZero() {
			since = now
			tick = time.NewTimer(windowGrow)
		} else {
			tick.Reset(windowGrow)
		}
		select {
		case <-w.freed:
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// signal wakes one waiting delivery, if any, to look for a slot.
func (w *window) signal() {
	select {
	case w.freed <- struct{}{}:
	default:
	}
}

// release frees a slot.
func (w *window) release() {
	w.mu.Lock()
	w.inflight--
	if now := time.Now(); now.Sub(w.checked) >= windowCheck {
		if w.peak <= w.limit/4 {
			w.limit = max(min(windowMin, w.max), w.limit/2)
		}
		w.peak, w.checked = w.inflight, now
	}
	w.mu.Unlock()
	w.signal()
}

// free is how many more deliveries may start now.
func (w *window) free() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(0, w.limit-w.inflight)
}

// size is the window now.
func (w *window) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit
}

// busy is how many deliveries are in flight now.
func (w *window) busy() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inflight
}
