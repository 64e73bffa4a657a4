package server_test

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/server"
)

// clientFrame is a client's frame as the wire has it: final, masked with
// the key 0 (which leaves the payload as it is), a payload under 126 bytes.
func clientFrame(opcode byte, payload string) []byte {
	return append([]byte{0x80 | opcode, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

const (
	opText = 0x1
	opPong = 0xA
)

// TestFramesArrivingTogether: frames that reach the server in one packet,
// pongs among them, are each answered. The pump waits on the socket only
// when nothing of a frame is buffered: the second frame here is in the
// buffer once the first is read, and the socket has nothing more to say,
// so a wait on it would never end.
func TestFramesArrivingTogether(t *testing.T) {
	e := startEnv(t)
	c := e.dial("together")
	var packet []byte
	for _, f := range [][]byte{
		clientFrame(opPong, ""), clientFrame(opText, `{"type":"text",`),
		clientFrame(opPong, ""), clientFrame(opPong, "with data"), clientFrame(opText, `{"type":"shout"}`),
	} {
		packet = append(packet, f...)
	}
	if _, err := c.ws.NetConn().Write(packet); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if r := c.read(); r.Type != "error" || r.Code != "bad_frame" {
			t.Fatalf("frame %d answered %+v, want a bad_frame error", i+1, r)
		}
	}
	// A pong alone, taken while the pump waits, then an answer.
	if _, err := c.ws.NetConn().Write(clientFrame(opPong, "")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if r := c.choose("yes"); r.Type != "reply" || r.Invalid {
		t.Fatalf("after a pong: %+v", r)
	}
}

// TestIdleConnectionsHaveNoGoroutine: a connection that has shown its
// first question is parked at once, with no goroutine of its own, and so
// is one whose client answered a ping; one that has answered waits on its
// socket (not inside gorilla's NextReader) until it has been quiet for
// quietWait, and is then parked too. Every one of them still answers.
func TestIdleConnectionsHaveNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parking is Linux's (park_linux.go)")
	}
	t.Cleanup(server.SetQuietWait(time.Second))
	e := startEnv(t)
	parked0 := server.Parked()
	g0 := runtime.NumGoroutine()
	var fresh []*client
	for i := range 20 {
		fresh = append(fresh, e.dial(fmt.Sprintf("idle-fresh-%d", i)))
	}
	turned := e.dial("idle-turned")
	turned.choose("yes")
	ponged := e.dial("idle-ponged")
	if _, err := ponged.ws.NetConn().Write(clientFrame(opPong, "")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, func() (bool, string) {
		socket, gorilla := pumps()
		parked := server.Parked() - parked0
		return socket == 1 && gorilla == 0 && parked == 21,
			fmt.Sprintf("%d pumps wait on the socket, %d in gorilla, %d connections parked; want 1, 0 and 21 before quietWait", socket, gorilla, parked)
	})
	if g := runtime.NumGoroutine() - g0; g > 5 {
		t.Errorf("22 idle connections added %d goroutines, want about one (the answered one's pump)", g)
	}
	waitFor(t, 5*time.Second, func() (bool, string) {
		socket, gorilla := pumps()
		parked := server.Parked() - parked0
		return socket == 0 && gorilla == 0 && parked == 22,
			fmt.Sprintf("%d pumps wait on the socket, %d in gorilla, %d connections parked; want 0, 0 and 22 after quietWait", socket, gorilla, parked)
	})
	for _, c := range append(fresh[:2], turned, ponged) {
		if r := c.choose("yes"); r.Type != "reply" {
			t.Fatalf("a parked connection answered %+v", r)
		}
	}
}

// TestSilentParkedPeerIsClosed: a parked connection has no read deadline
// (nothing reads it), so its ping timer finds a peer gone: one that has
// sent nothing, not even a pong, for pongWait is closed and forgotten,
// while one that answers the pings stays.
func TestSilentParkedPeerIsClosed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parking is Linux's (park_linux.go)")
	}
	t.Cleanup(server.SetPings(150*time.Millisecond, 400*time.Millisecond))
	e := startEnv(t)
	parked0 := server.Parked()
	silent := e.dial("silent-peer") // never reads, so never answers a ping
	alive := e.dial("answering-peer")
	pongs := make(chan error, 1)
	go func() { // gorilla's client answers pings while it reads
		alive.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := alive.ws.ReadMessage()
		pongs <- err
	}()
	time.Sleep(time.Second) // pongWait passes, and pings and pongs go on
	silent.ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, _, err := silent.ws.ReadMessage() // the pings it never answered, then the end
		if err == nil {
			continue
		}
		// Closed by the server: an abnormal close, or the pong to a
		// ping read late meeting a closed socket; not the deadline.
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the silent peer's socket still open after pongWait: %v", err)
		}
		break
	}
	waitFor(t, 3*time.Second, func() (bool, string) {
		n := server.Parked() - parked0
		return n == 1, fmt.Sprintf("%d connections parked, want 1: the answering one", n)
	})
	select {
	case err := <-pongs:
		t.Errorf("the answering peer's socket ended: %v", err)
	default:
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pumps counts the read pumps waiting on their socket and those waiting
// in gorilla's NextReader, from every goroutine's stack.
func pumps() (socket, gorilla int) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "server.(*conn).waitInput"):
			socket++
		case strings.Contains(g, "server.(*conn).next") && strings.Contains(g, "websocket.(*Conn).NextReader"):
			gorilla++
		}
	}
	return socket, gorilla
}

// TestFrameInPieces: a frame longer than the connection's read buffer,
// whose pieces come apart (its header split, then its payload), and a
// pong split after its first two bytes, are read whole: the pump's
// readiness check reads what has come, and gorilla reads the rest.
func TestFrameInPieces(t *testing.T) {
	e := startEnv(t)
	c := e.dial("pieces")
	text := `{"type":"text","text":"` + strings.Repeat("가", 400) + `"}` // 1,224 bytes
	frame := append([]byte{0x80 | opText, 0x80 | 126, byte(len(text) >> 8), byte(len(text)), 0, 0, 0, 0}, text...)
	pong := clientFrame(opPong, "")
	for _, piece := range [][]byte{pong[:2], pong[2:], frame[:3], frame[3:300], frame[300:]} {
		if _, err := c.ws.NetConn().Write(piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if r := c.read(); r.Type != "reply" || !r.Invalid || r.State != "privacy_consent" {
		t.Fatalf("a long text at the consent question: %+v, want it refused there", r)
	}
	if r := c.choose("yes"); r.Type != "reply" || r.Invalid {
		t.Fatalf("the next answer: %+v", r)
	}
}
