package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"
)

// An idle connection holds one goroutine, its pump, waiting for the
// client's next frame. Waiting inside gorilla's NextReader (its frame
// parser, the buffered reader and the socket's read below it) takes a
// 4 KiB stack; waiting for the socket to become readable through its
// descriptor takes under 2 KiB, and with 9,000 connections open (people
// who opened the chat and have its first question) the difference is
// 17 MiB. It costs a turn one more system call, a peek, which
// BenchmarkBuildAgainst does not tell from its noise (server −0.9 µs,
// Redis +0.5 µs a turn against the build before, 10 rounds side by side). So the pump waits that way first, when nothing of
// the next frame is buffered, and then lets gorilla read a frame that is
// there. The client's answers to the server's pings (pongs) arrive every
// pingPeriod on every idle socket; the empty ones, which answer our empty
// pings, are taken off the socket while waiting, so they do not wake a
// pump into gorilla's deep wait (a connection that waited there once
// would keep its 4 KiB).
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
	o.br = bufio.NewReaderSize(nc, readBufferSize)
	return nc, bufio.NewReadWriter(o.br, brw.Writer), nil
}

// idleReader waits for a connection's input on a small stack. Its zero
// value, for a socket without a descriptor (or a platform without the
// calls), does not wait: gorilla does.
type idleReader struct {
	br       *bufio.Reader
	raw      syscall.RawConn
	readable func(fd uintptr) bool // in.readable, made once
	ponged   bool                  // readable took a pong off the socket
}

// init readies the wait on nc, whose bytes br buffers for gorilla.
func (in *idleReader) init(nc net.Conn, br *bufio.Reader) {
	sc, ok := nc.(syscall.Conn)
	if !ok || br == nil || !canPeek {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	in.br, in.raw = br, raw
	in.readable = in.peek
}

// waitInput returns when the client has sent something the pump must
// read: a frame's bytes, a close, an error, or the read deadline passed
// (gorilla's read then says which). Empty pongs are taken on the way, each
// moving the read deadline as gorilla's pong handler does.
func (c *conn) waitInput() {
	in := &c.in
	if in.raw == nil {
		return
	}
	for in.br.Buffered() == 0 {
		if err := in.raw.Read(in.readable); err != nil {
			return
		}
		if !in.ponged {
			return
		}
		in.ponged = false
		c.ws.SetReadDeadline(time.Now().Add(pongWait))
	}
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
