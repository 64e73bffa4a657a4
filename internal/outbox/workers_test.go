package outbox

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Deliveries one after another reuse one worker; wait ends the idle ones
// and waits for the busy ones.
func TestWorkersReuseAndEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorkers()
	var ran atomic.Int32
	for range 50 {
		done := make(chan struct{})
		w.run(func() { ran.Add(1); close(done) })
		<-done
		time.Sleep(time.Millisecond) // for the worker to wait again
	}
	if n := w.started.Load(); n > 3 {
		t.Errorf("%d workers started for 50 deliveries one after another, want 1 (a few at worst)", n)
	}
	// Several at once take as many workers: all three wait together.
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Add(3)
	for range 3 {
		w.run(func() { wg.Done(); <-release; ran.Add(1) })
	}
	wg.Wait()
	close(release)
	w.wait()
	if ran.Load() != 53 {
		t.Errorf("%d deliveries ran, want 53", ran.Load())
	}
	eventually(t, time.Second, "the workers to end", func() bool { return runtime.NumGoroutine() <= before })
}
