package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// pumpers run connections' pumps. A pump ends when its connection parks or
// closes; its goroutine then waits a while for the next connection that
// needs one (a parked connection woken, a new one that cannot park),
// instead of a new goroutine for each. A new goroutine starts on a 2 KiB
// stack that a turn grows, copying it, to 8 KiB or more: about 17 µs for
// every conversation's first answer. A waiting pumper keeps its grown
// stack (the collector halves a stack that is mostly unused, so a pumper
// left waiting long costs less), and at most maxIdlePumpers wait, each for
// at most keep.
type pumpers struct {
	work chan func() // unbuffered: a send is taken only by a waiting pumper
	idle atomic.Int32
	keep time.Duration
	done chan struct{} // closed by stop: no pumper waits any more
	once sync.Once
}

// maxIdlePumpers bounds the pumpers waiting for work: enough for the
// conversations that end and begin at once on a busy server, nothing next
// to the thousands of parked connections.
const maxIdlePumpers = 32

func newPumpers(keep time.Duration) *pumpers {
	return &pumpers{work: make(chan func()), keep: keep, done: make(chan struct{})}
}

// stop ends the waiting pumpers (the server shut down); pumps running go
// on to their end.
func (p *pumpers) stop() { p.once.Do(func() { close(p.done) }) }

// run runs pump (a connection's) on a waiting pumper, or on a new one.
func (p *pumpers) run(pump func()) {
	select {
	case p.work <- pump:
	default:
		go p.loop(pump)
	}
}

func (p *pumpers) loop(pump func()) {
	var t *time.Timer
	for {
		pump()
		pump = nil // its connection not kept alive by a waiting pumper
		if p.idle.Add(1) > maxIdlePumpers {
			p.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(p.keep)
		} else {
			t.Reset(p.keep)
		}
		select {
		case pump = <-p.work:
			p.idle.Add(-1)
			t.Stop()
		case <-t.C:
			p.idle.Add(-1)
			return
		case <-p.done:
			p.idle.Add(-1)
			t.Stop()
			return
		}
	}
}
