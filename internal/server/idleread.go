package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A connection's pump waits for the client's next frame on the socket, not
// inside gorilla: waiting in gorilla's NextReader (its frame parser, the
// buffered reader and the socket's read below it) takes a 4 KiB stack;
// waiting for the socket to become readable through its descriptor takes
// under 2 KiB. After quietWait without a frame, or at once when the
// connection has only shown its first question, the connection is parked
// instead (park_linux.go): no goroutine at all until the socket is
// readable. The client's answers to the server's pings (pongs) arrive
// every pingPeriod on every idle socket; the empty ones, which answer our
// empty pings, are taken off the socket while waiting, and a connection
// woken by one parks again at once.
//
// The buffered reader is ours, handed to gorilla through the hijack
// (gorilla reuses a hijacked reader when the upgrader asks for no read
// buffer of its own), so the pump knows whether a frame's bytes are
// already buffered: a socket with nothing more to read while a frame waits
// in the buffer would otherwise never wake it. Between frames the stream
// is at a frame boundary whenever the buffer is empty.

// readBufferSize is a connection's read buffer: a client's frames are
// short answers; gorilla needs more than 256 bytes to reuse it.
const readBufferSize = 512

// ownReader is the http.ResponseWriter given to gorilla's Upgrade, whose
// Hijack hands gorilla a buffered reader of ours.
type ownReader struct {
	http.ResponseWriter
	br *bufio.Reader
	sr sockReader
}

// sockReader is the socket under a connection's buffered reader. While
// the pump's readiness check runs (fd ≥ 0: inside RawConn.Read, which
// holds the socket's read lock) it reads the descriptor without blocking
// and says errWouldBlock when nothing is there, so the check fills the
// buffer gorilla then parses: one read a frame, as gorilla alone would
// do, not a peek and a read. Otherwise it is the connection's Read.
type sockReader struct {
	nc net.Conn
	fd int
}

// errWouldBlock is sockReader's "nothing to read yet" during the check;
// the buffered reader drops it with the check's Peek.
var errWouldBlock = errors.New("would block")

func (r *sockReader) Read(p []byte) (int, error) {
	if r.fd < 0 {
		return r.nc.Read(p)
	}
	return readNow(r.fd, p)
}

func (o *ownReader) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := o.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("websocket: response does not implement http.Hijacker")
	}
	nc, brw, err := h.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return nc, brw, err // gorilla refuses data sent before the handshake ended
	}
	o.sr = sockReader{nc: nc, fd: -1}
	o.br = bufio.NewReaderSize(&o.sr, readBufferSize)
	return nc, bufio.NewReadWriter(o.br, brw.Writer), nil
}

// idleReader waits for a connection's input on a small stack, and parks
// the connection when it has been quiet a while. Its zero value, for a
// socket without a descriptor (or a platform without the calls), does not
// wait: gorilla does.
type idleReader struct {
	br       *bufio.Reader
	sr       *sockReader // br's
	raw      syscall.RawConn
	readable func(fd uintptr) bool // in.fill, made once
	ponged   bool                  // readable took a pong off the socket

	// Used by the pump's goroutine only.
	lastFrame time.Time // when the last frame was read: quietWait from then, it parks
	noPark    bool      // parking failed once: wait as before
	resumed   bool      // the poller woke it: read what woke it before parking again

	seen atomic.Int64 // unix ns of the last input, frame or pong: for ping

	pmu    sync.Mutex
	parked bool // no goroutine: the poller starts one when the socket is readable
	ended  bool // stop ran
}

// quietWait is how long a connection's pump waits after a frame before
// parking the connection (a variable for tests). People answer within
// seconds while they are at it; one who went away costs no goroutine.
var quietWait = 10 * time.Second

// init readies the wait on nc, whose bytes o's reader buffers for
// gorilla.
func (in *idleReader) init(nc net.Conn, o *ownReader) {
	in.seen.Store(time.Now().UnixNano())
	sc, ok := nc.(syscall.Conn)
	if !ok || o.br == nil || !canReadNow {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	if o.br.Buffered() > 0 {
		return
	}
	// gorilla's Upgrade resets the reader onto the bare socket to learn
	// its size: put it back on ours (nothing is buffered yet), or fill
	// would read the socket blocking, under its read lock.
	o.br.Reset(&o.sr)
	in.br, in.sr, in.raw = o.br, &o.sr, raw
	in.readable = in.fill
}

// fill is the socket's readiness for waitInput, run inside RawConn.Read:
// false (wait) while the socket has nothing to read, else true with what
// it had read into br. A whole empty pong at the head of what was read is
// taken off, with ponged set. An error (a close, a reset) is left for
// gorilla's read, which meets it again.
func (in *idleReader) fill(fd uintptr) bool {
	if in.br.Buffered() == 0 {
		in.sr.fd = int(fd)
		_, err := in.br.Peek(1)
		in.sr.fd = -1
		if err == errWouldBlock {
			return false
		}
	}
	// Only what is buffered: a Peek past it would read the socket
	// blocking, under the read lock this callback runs in.
	if in.br.Buffered() >= emptyPongLen {
		if head, _ := in.br.Peek(emptyPongLen); isEmptyPong(head) {
			in.br.Discard(emptyPongLen)
			in.ponged = true
		}
	}
	return true
}

// waitInput returns false when the client has sent something the pump
// must read: a frame's bytes, a close, an error, or the read deadline
// passed (gorilla's read then says which). Empty pongs are taken on the
// way, each moving the read deadline as gorilla's pong handler does. It
// returns true when it parked the connection instead, quietWait after the
// last frame: the pump's goroutine then ends, and the poller starts
// another when the socket is readable.
func (c *conn) waitInput() (parked bool) {
	in := &c.in
	if in.raw == nil {
		return false
	}
	if in.br.Buffered() > 0 { // frames that came together: the next is here
		c.ws.SetReadDeadline(time.Now().Add(c.s.pongWait))
		return false
	}
	for {
		quiet := !in.noPark && parking() != nil
		var until time.Time
		if quiet {
			until = in.lastFrame.Add(c.s.quietWait)
			if in.resumed {
				in.resumed = false
				until = time.Now().Add(c.s.quietWait)
			} else if !time.Now().Before(until) {
				if c.park() {
					return true
				}
				in.noPark = true
				c.ws.SetReadDeadline(time.Unix(0, in.seen.Load()).Add(c.s.pongWait))
				continue
			}
			c.ws.SetReadDeadline(until) // before the pong deadline: quietWait < pongWait
		}
		if err := in.raw.Read(in.readable); err != nil {
			if quiet && errors.Is(err, os.ErrDeadlineExceeded) {
				continue // quiet long enough: park
			}
			return false
		}
		now := time.Now()
		in.seen.Store(now.UnixNano())
		if !quiet || until.Sub(now) < c.s.quietWait/2 {
			// Room for gorilla to read a frame that is still arriving
			// (and the pong deadline, when not parking). Most frames
			// come well before until, which is left as it is: one
			// deadline set a frame, not two.
			c.ws.SetReadDeadline(now.Add(c.s.pongWait))
		}
		if !in.ponged {
			return false
		}
		in.ponged = false
	}
}

// park hands the connection to the poller; false when it cannot (the
// connection ended, a frame is buffered, no poller), and the pump goes on.
func (c *conn) park() bool {
	in, p := &c.in, parking()
	if p == nil || in.raw == nil || in.br.Buffered() > 0 {
		return false
	}
	in.pmu.Lock()
	defer in.pmu.Unlock()
	if in.ended {
		return false
	}
	var err error
	if cerr := in.raw.Control(func(fd uintptr) { err = p.add(int(fd), c) }); cerr != nil || err != nil {
		return false
	}
	in.parked = true
	return true
}

// unpark is the poller's: the parked connection's socket is readable, so
// a pump goes on with it.
func (c *conn) unpark() {
	in := &c.in
	in.pmu.Lock()
	if !in.parked || in.ended {
		in.pmu.Unlock()
		return
	}
	in.parked = false
	in.pmu.Unlock()
	in.resumed = true
	c.s.pumpers.run(c.pump)
}

// unparkForStop ends a parked connection's registration before its socket
// closes; true when it was parked, and so has no pump to see the close
// and clean up after it. Called once, by stop.
func (c *conn) unparkForStop() bool {
	in := &c.in
	in.pmu.Lock()
	defer in.pmu.Unlock()
	in.ended = true
	if !in.parked {
		return false
	}
	in.parked = false
	if p := parking(); p != nil {
		_ = in.raw.Control(func(fd uintptr) { p.remove(int(fd), c) })
	}
	return true
}

// silent reports whether the connection is parked and has sent nothing,
// not even a pong, for pongWait: a peer gone, which no read deadline
// finds while no pump reads.
func (c *conn) silent() bool {
	in := &c.in
	in.pmu.Lock()
	parked := in.parked
	in.pmu.Unlock()
	return parked && time.Since(time.Unix(0, in.seen.Load())) > c.s.pongWait
}

// emptyPong is the head of a client's pong without application data (a
// client's frames are masked, its 4-byte key follows), what a client
// answers the server's empty pings with.
var emptyPong = [2]byte{0x8A, 0x80}

const emptyPongLen = 2 + 4

// isEmptyPong says whether head starts with a whole empty pong.
func isEmptyPong(head []byte) bool {
	return len(head) >= emptyPongLen && head[0] == emptyPong[0] && head[1] == emptyPong[1]
}
