package server

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goid is the running goroutine's number, from its stack's first line.
func goid() int {
	var b [64]byte
	f := bytes.Fields(b[:runtime.Stack(b[:], false)])
	n, _ := strconv.Atoi(string(f[1]))
	return n
}

// TestPumpersReuseTheirGoroutines: pumps that follow one another run on
// one goroutine (a new one would grow its stack again every time), at most
// maxIdlePumpers wait, none for longer than keep, and none once stopped.
func TestPumpersReuseTheirGoroutines(t *testing.T) {
	p := newPumpers(time.Minute)
	defer p.stop()
	seen := map[int]bool{}
	for range 100 {
		done := make(chan int)
		p.run(func() { done <- goid() })
		seen[<-done] = true
		waitIdle(t, p, 1) // the pumper is about to wait for the next
		// It counts itself idle just before it waits: on a loaded
		// machine a pump given in between would start a goroutine of
		// its own (harmless, but not what this checks).
		time.Sleep(time.Millisecond)
	}
	if len(seen) > 5 { // a new goroutine each time: 100
		t.Errorf("100 pumps one after the other ran on %d goroutines, want about 1", len(seen))
	}

	g0 := runtime.NumGoroutine()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 * maxIdlePumpers {
		wg.Add(1)
		p.run(func() { wg.Done(); <-release })
	}
	wg.Wait()
	close(release)
	waitIdle(t, p, maxIdlePumpers)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) { // the others end
		g := runtime.NumGoroutine() - g0
		if g <= maxIdlePumpers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pumps at once left %d more goroutines, want at most %d waiting", 3*maxIdlePumpers, g, maxIdlePumpers)
		}
	}

	p.stop()
	waitIdle(t, p, 0)

	q := newPumpers(30 * time.Millisecond)
	defer q.stop()
	q.run(func() {})
	waitIdle(t, q, 1)
	waitIdle(t, q, 0) // after keep
}

func waitIdle(t *testing.T, p *pumpers, want int32) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); p.idle.Load() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pumpers wait, want %d", p.idle.Load(), want)
		}
	}
}
