package store

import (
	"context"
	"sync"
	"time"
)

// turnContext is context.WithDeadline(parent, deadline) for a turn's
// Redis calls, but its timer is made only when something waits on Done.
// A turn's calls read the deadline (rbatch gives up by it, the script's
// fence is computed from it) and check Err; Done is waited on only by a
// call queued for a batch slot. So most turns start no timer: no
// allocations for it, and nothing added to and taken from the runtime's
// timer heap.
//
// It behaves as the context WithDeadline returns: Deadline is the sooner
// of deadline and the parent's, Err is the parent's error, or
// DeadlineExceeded once the deadline has passed, or Canceled once stop
// was called, whichever came first, and stays so; Done is closed by then.
type turnContext struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	err    error              // the first error Err gave, or stop's
	inner  context.Context    // WithDeadline(parent, deadline), made by Done
	cancel context.CancelFunc // inner's
}

// newTurnContext returns a context that ends at deadline, or with parent.
func newTurnContext(parent context.Context, deadline time.Time) *turnContext {
	if d, ok := parent.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return &turnContext{parent: parent, deadline: deadline}
}

func (c *turnContext) Deadline() (time.Time, bool) { return c.deadline, true }

// closedDone is the Done of a context that ended before anything waited.
var closedDone = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (c *turnContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		if c.err != nil {
			return closedDone
		}
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.inner.Done()
}

func (c *turnContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended()
}

// ended is Err; c.mu is held.
func (c *turnContext) ended() error {
	if c.err != nil {
		return c.err
	}
	switch {
	case c.inner != nil:
		c.err = c.inner.Err()
	case c.parent.Err() != nil:
		c.err = c.parent.Err()
	case !time.Now().Before(c.deadline):
		c.err = context.DeadlineExceeded
	}
	return c.err
}

// Value is the parent's; once Done made the timer, the timer context's,
// so a context derived from this one is cancelled with it as it would be
// with WithDeadline's (without a goroutine to watch it).
func (c *turnContext) Value(key any) any {
	c.mu.Lock()
	inner := c.inner
	c.mu.Unlock()
	if inner != nil {
		return inner.Value(key)
	}
	return c.parent.Value(key)
}

// stop ends the context, as WithDeadline's cancel does: Err is Canceled
// from then on, unless it had ended already (its deadline passed, or its
// parent ended).
func (c *turnContext) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner != nil {
		c.cancel()
		c.ended()
		return
	}
	if c.ended() == nil {
		c.err = context.Canceled
	}
}
