package server

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// poller holds the parked connections: one epoll instance over their
// descriptors, and one goroutine waiting on it that starts a parked
// connection's pump when its socket becomes readable (a frame, a pong, a
// close, or the peer gone). Each registration is one-shot: a connection
// is woken once per park. The goroutine waits in Go's own poller, on the
// epoll descriptor (readable when it has events), not in a blocking
// epoll_wait: a thread blocked in a system call costs every wake a hand-off
// of the processor between threads (11.5 µs of server time a turn in
// BenchmarkBuildAgainst, the first frame of each conversation waking it).
type poller struct {
	epfd  int
	file  *os.File // epfd in Go's poller; kept, or it would be closed
	mu    sync.Mutex
	conns map[int32]*conn // by descriptor
}

var thePoller struct {
	once sync.Once
	p    *poller // nil: epoll unavailable; connections do not park
}

// parking is the process's poller, started at first use; nil when epoll
// is unavailable.
func parking() *poller {
	thePoller.once.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			return
		}
		p := &poller{epfd: fd, file: os.NewFile(uintptr(fd), "parked connections"), conns: map[int32]*conn{}}
		raw, err := p.file.SyscallConn()
		if err != nil {
			p.file.Close()
			return
		}
		go p.run(raw)
		thePoller.p = p
	})
	return thePoller.p
}

func (p *poller) run(raw syscall.RawConn) {
	events := make([]syscall.EpollEvent, 128)
	// The callback takes every event there is, then answers false: Go's
	// poller parks this goroutine until the epoll descriptor is readable
	// again (edge-triggered: an event after the last look wakes it).
	_ = raw.Read(func(uintptr) bool {
		for {
			n, err := syscall.EpollWait(p.epfd, events, 0)
			if errors.Is(err, syscall.EINTR) {
				continue // events may be waiting: look again, or no edge would come
			}
			if err != nil {
				return false
			}
			for _, ev := range events[:n] {
				p.mu.Lock()
				c := p.conns[ev.Fd]
				delete(p.conns, ev.Fd)
				p.mu.Unlock()
				if c != nil {
					c.unpark()
				}
			}
			if n < len(events) {
				return false
			}
		}
	})
}

// add registers c's descriptor fd, to wake c once when it is readable
// (at once if it already is). The caller holds c.pmu.
func (p *poller) add(fd int, c *conn) error {
	p.mu.Lock()
	p.conns[int32(fd)] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
	if errors.Is(err, syscall.ENOENT) { // not registered since it was opened
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		p.remove(fd, c)
	}
	return err
}

// remove forgets c's descriptor fd, before it is closed. The caller holds
// c.pmu.
func (p *poller) remove(fd int, c *conn) {
	p.mu.Lock()
	if p.conns[int32(fd)] == c {
		delete(p.conns, int32(fd))
	}
	p.mu.Unlock()
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// parked is how many connections are registered.
func (p *poller) parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
