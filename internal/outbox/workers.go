package outbox

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long a delivery worker waits for the next delivery
// before it ends.
const workerIdle = 10 * time.Second

// workers runs deliveries on goroutines that outlive one delivery. A
// delivery's stack grows to some 16 KB in net/http; a goroutine made for
// each delivery grew it again, copying it each time, which cost about 2 %
// of the server's processor time under load. A worker left idle for
// workerIdle ends, so a quiet sender holds none.
type workers struct {
	wg      sync.WaitGroup
	next    chan func() // unbuffered: a send succeeds only into an idle worker
	quit    chan struct{}
	started atomic.Int64 // workers started, for tests
}

func newWorkers() *workers {
	return &workers{next: make(chan func()), quit: make(chan struct{})}
}

// run starts fn on an idle worker, or on a new one.
func (w *workers) run(fn func()) {
	select {
	case w.next <- fn:
	default:
		w.started.Add(1)
		w.wg.Go(func() {
			fn()
			w.loop()
		})
	}
}

func (w *workers) loop() {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case fn := <-w.next:
			fn()
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		case <-w.quit:
			return
		}
	}
}

// wait ends the idle workers and waits for the busy ones to finish. No run
// may follow it.
func (w *workers) wait() {
	close(w.quit)
	w.wg.Wait()
}
