// Package bufpool lends byte buffers to the steps of a turn that encode
// something and hand it on at once (a reply frame, a session value), so a
// turn leaves less to the garbage collector. A buffer is the borrower's
// until it gives it back; giving it back while anything may still read it
// is a bug.
package bufpool

import "sync"

// Pool lends buffers of at least a given capacity.
type Pool struct {
	size int
	p    sync.Pool
}

// New returns a pool of buffers of capacity size; a buffer that grew past
// 16 × size is dropped when given back, so one huge frame is not kept.
func New(size int) *Pool {
	p := &Pool{size: size}
	p.p.New = func() any {
		b := make([]byte, 0, size)
		return &b
	}
	return p
}

// Get lends an empty buffer.
func (p *Pool) Get() *[]byte {
	b := p.p.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// Put takes a buffer back.
func (p *Pool) Put(b *[]byte) {
	if cap(*b) > 16*p.size {
		return
	}
	p.p.Put(b)
}
