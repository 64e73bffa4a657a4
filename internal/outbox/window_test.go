package outbox

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A delivery that waits for a slot widens the window, up to the workers;
// one that gives up leaves it as it was.
func TestWindowGrowsWhileDeliveriesWait(t *testing.T) {
	w := newWindow(10)
	ctx := context.Background()
	for range windowMin {
		if err := w.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if w.free() != 0 || w.size() != windowMin {
		t.Fatalf("window %d with %d free, want %d full", w.size(), w.free(), windowMin)
	}
	// Nothing is released: only waiting can make room.
	for i := windowMin; i < 10; i++ {
		if err := w.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if w.size() != 10 {
		t.Errorf("window %d after waiting deliveries, want the 10 workers", w.size())
	}
	short, cancel := context.WithTimeout(ctx, 3*windowGrow)
	defer cancel()
	if err := w.acquire(short); err == nil {
		t.Fatal("an 11th delivery in flight with 10 workers")
	}
	w.release()
	if err := w.acquire(ctx); err != nil {
		t.Fatalf("a freed slot: %v", err)
	}
}

// Deliveries that never wait keep the window small; an idle second halves
// a wide one, down to the least.
func TestWindowShrinksWhenIdle(t *testing.T) {
	w := newWindow(64)
	ctx := context.Background()
	for range 100 {
		w.acquire(ctx)
		w.release()
	}
	if w.size() != windowMin {
		t.Fatalf("window %d after deliveries one at a time, want %d", w.size(), windowMin)
	}
	for range 32 {
		w.acquire(ctx)
	}
	if w.size() != 32 {
		t.Fatalf("window %d with 32 in flight, want 32", w.size())
	}
	for range 32 {
		w.release()
	}
	w.mu.Lock()
	w.checked = time.Now().Add(-windowCheck) // a second has passed
	w.peak = 0
	w.mu.Unlock()
	w.acquire(ctx)
	w.release()
	if w.size() != 16 {
		t.Errorf("window %d after an idle second, want 16", w.size())
	}
}

func TestWindowOfFewWorkers(t *testing.T) {
	w := newWindow(2)
	if w.size() != 2 {
		t.Errorf("window %d with 2 workers, want 2", w.size())
	}
}

// Many deliveries waiting at once double the window once per windowGrow,
// not once each: five waiting for a full window of 4 need 9 slots, and get
// a window of 16, not the 64 workers.
func TestWindowGrowsOnceForManyWaiting(t *testing.T) {
	w := newWindow(64)
	ctx := context.Background()
	for range windowMin {
		w.acquire(ctx)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if err := w.acquire(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := w.size(); n > 16 {
		t.Errorf("window %d for 9 deliveries in flight, want at most 16", n)
	}
}
