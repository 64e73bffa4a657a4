package server_test

import (
	"runtime"
	"strings"
	"testing"
	"time"
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

// TestIdleConnectionsWaitOnTheSocket: an idle connection's pump waits for
// the socket to become readable (a stack of 2 KiB), not inside gorilla's
// NextReader: after its first question, after a turn, and after the
// client's answer to a ping, which is taken on the way. (What that saves,
// the goroutine stacks per idle connection of `claimbot loadtest --idle`
// show: 4.0 KiB before, 2.1 KiB now.)
func TestIdleConnectionsWaitOnTheSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the wait on the socket is Linux's (idleread_linux.go)")
	}
	e := startEnv(t)
	e.dial("idle-fresh")
	turned := e.dial("idle-turned")
	turned.choose("yes")
	ponged := e.dial("idle-ponged")
	if _, err := ponged.ws.NetConn().Write(clientFrame(opPong, "")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		socket, gorilla := pumps()
		if socket == 3 && gorilla == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pumps wait on the socket and %d in gorilla's NextReader, want 3 and 0", socket, gorilla)
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
