package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// A turn's context behaves as context.WithDeadline's: each case is run on
// both, and they must say the same at every point.
func TestTurnContextAsWithDeadline(t *testing.T) {
	type ctxs struct {
		ctx  context.Context
		stop func()
	}
	makers := map[string]func(parent context.Context, d time.Time) ctxs{
		"WithDeadline": func(parent context.Context, d time.Time) ctxs {
			ctx, cancel := context.WithDeadline(parent, d)
			return ctxs{ctx, cancel}
		},
		"turnContext": func(parent context.Context, d time.Time) ctxs {
			c := newTurnContext(parent, d)
			return ctxs{c, c.stop}
		},
	}
	done := func(c context.Context) bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}
	// state is what a context says: its deadline, error, whether Done is
	// closed (looked at only when wait is set, as that makes the timer),
	// and a value of the parent's.
	type state struct {
		deadline time.Time
		err      error
		done     bool
		value    any
	}
	look := func(c context.Context, wait bool) state {
		d, _ := c.Deadline()
		s := state{deadline: d, err: c.Err(), value: c.Value(ctxKey{})}
		if wait {
			s.done = done(c)
		}
		return s
	}
	base := context.WithValue(context.Background(), ctxKey{}, "v")
	for _, wait := range []bool{false, true} {
		cases := []struct {
			name string
			run  func(mk func(context.Context, time.Time) ctxs) []state
		}{
			{"running", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(time.Hour))
				defer c.stop()
				return []state{look(c.ctx, wait)}
			}},
			{"deadline passed", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(20*time.Millisecond))
				defer c.stop()
				before := look(c.ctx, wait)
				time.Sleep(60 * time.Millisecond)
				return []state{before, look(c.ctx, wait), look(c.ctx, true)}
			}},
			{"deadline gone already", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(-time.Second))
				defer c.stop()
				return []state{look(c.ctx, wait), look(c.ctx, true)}
			}},
			{"parent cancelled", func(mk func(context.Context, time.Time) ctxs) []state {
				parent, cancel := context.WithCancel(base)
				c := mk(parent, time.Now().Add(time.Hour))
				defer c.stop()
				before := look(c.ctx, wait)
				cancel()
				time.Sleep(10 * time.Millisecond) // the cancel reaches a child's Done
				return []state{before, look(c.ctx, wait), look(c.ctx, true)}
			}},
			{"parent's deadline sooner", func(mk func(context.Context, time.Time) ctxs) []state {
				parent, cancel := context.WithDeadline(base, time.Now().Add(20*time.Millisecond))
				defer cancel()
				c := mk(parent, time.Now().Add(time.Hour))
				defer c.stop()
				before := look(c.ctx, wait)
				time.Sleep(60 * time.Millisecond)
				return []state{before, look(c.ctx, wait), look(c.ctx, true)}
			}},
			{"stopped", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(time.Hour))
				before := look(c.ctx, wait)
				c.stop()
				after := look(c.ctx, wait)
				c.stop()
				return []state{before, after, look(c.ctx, true)}
			}},
			{"stopped after its deadline", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(10*time.Millisecond))
				before := look(c.ctx, wait)
				time.Sleep(40 * time.Millisecond)
				c.stop()
				return []state{before, look(c.ctx, wait), look(c.ctx, true)}
			}},
			{"child cancelled with it", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(time.Hour))
				child, cancel := context.WithCancel(c.ctx)
				defer cancel()
				before := look(child, wait)
				c.stop()
				return []state{before, look(child, true)}
			}},
			{"child's deadline", func(mk func(context.Context, time.Time) ctxs) []state {
				c := mk(base, time.Now().Add(20*time.Millisecond))
				defer c.stop()
				child, cancel := context.WithTimeout(c.ctx, time.Hour)
				defer cancel()
				before := look(child, wait)
				time.Sleep(60 * time.Millisecond)
				return []state{before, look(child, true)}
			}},
		}
		for _, tc := range cases {
			got := tc.run(makers["turnContext"])
			want := tc.run(makers["WithDeadline"])
			if len(got) != len(want) {
				t.Fatalf("%s: %d looks, want %d", tc.name, len(got), len(want))
			}
			for i := range got {
				g, w := got[i], want[i]
				// The deadlines are each run's own: only whether they
				// are an hour out or not.
				far := func(d time.Time) bool { return time.Until(d) > 30*time.Minute }
				if far(g.deadline) != far(w.deadline) || !errors.Is(g.err, w.err) || !errors.Is(w.err, g.err) ||
					g.done != w.done || g.value != w.value {
					t.Errorf("%s (wait %v), look %d: %+v, WithDeadline %+v", tc.name, wait, i, g, w)
				}
			}
		}
	}
}

// A turn's context that nothing waits on makes no timer: one allocation,
// where context.WithTimeout makes four.
func TestTurnContextStartsNoTimer(t *testing.T) {
	parent := context.Background()
	n := testing.AllocsPerRun(100, func() {
		c := newTurnContext(parent, time.Now().Add(time.Second))
		var ctx context.Context = c
		if _, ok := ctx.Deadline(); !ok || ctx.Err() != nil {
			t.Fatal("no deadline, or ended")
		}
		c.stop()
	})
	if n > 1 {
		t.Errorf("a turn's context allocates %v times, want at most 1", n)
	}
}

// BenchmarkTurnContext is a turn's context as most turns use it: made,
// its deadline read, checked, ended.
func BenchmarkTurnContext(b *testing.B) {
	parent := context.Background()
	b.Run("WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, time.Second)
			ctx.Deadline()
			_ = ctx.Err()
			cancel()
		}
	})
	b.Run("turnContext", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newTurnContext(parent, time.Now().Add(time.Second))
			var ctx context.Context = c
			ctx.Deadline()
			_ = ctx.Err()
			c.stop()
		}
	})
}
