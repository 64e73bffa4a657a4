package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// rawConn is a client TCP connection that speaks HTTP/1.1 by hand, so the
// test decides when it is idle.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// get sends one keep-alive request and reads its answer.
func (c *rawConn) get(t testing.TB, path string) (int, error) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// closedByServer waits up to d for the server to close the connection.
func (c *rawConn) closedByServer(d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.r.ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// Issue 18 item 15: a connection that stays silent, before its first
// request or after one (keep-alive), is closed after the idle timeout;
// none is left holding a descriptor.
func TestOpsIdleConnectionsClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	ops := freeAddr(t)
	e := startEnv(t, withIdleTimeout(idle), withOpsAddr(ops))
	metrics := "http://" + ops + "/metrics"
	var silent, kept []*rawConn
	for range 20 {
		silent = append(silent, dialRaw(t, e.run.Addr))
		c := dialRaw(t, e.run.Addr)
		if status, err := c.get(t, "/static/chat.js"); err != nil || status != 200 {
			t.Fatalf("GET /static/chat.js: %d %v", status, err)
		}
		kept = append(kept, c)
	}
	start := time.Now()
	stillOpen := 0
	for _, c := range append(silent, kept...) {
		if !c.closedByServer(idle + 2*time.Second - time.Since(start)) {
			stillOpen++
		}
	}
	if stillOpen > 0 {
		t.Fatalf("%d of 40 sockets (20 silent, 20 after one request) still open %v after the idle timeout of %v", stillOpen, time.Since(start), idle)
	}
	deadline := time.Now().Add(2 * time.Second)
	n, _ := metric(t, metrics, "claimbot_tcp_connections")
	for n != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, _ = metric(t, metrics, "claimbot_tcp_connections")
	}
	if n != 0 {
		t.Errorf("claimbot_tcp_connections = %v after every client idled out, want 0", n)
	}
	// A WebSocket is not an idle HTTP connection: it outlives the timeout.
	c := e.dial("u-idle")
	time.Sleep(2 * idle)
	if r := c.choose("yes"); r.Type != "reply" {
		t.Errorf("a WebSocket after the idle timeout: %+v", r)
	}
}

// Issue 18 item 15: past CLAIMBOT_MAX_CONNS a new connection is answered
// 503 and closed, so idle sockets cannot take every descriptor; one slot
// freed, the next client gets in.
func TestOpsMaxConns(t *testing.T) {
	const max = 10
	ops := freeAddr(t)
	e := startEnv(t, withMaxConns(max), withOpsAddr(ops))
	var held []*rawConn
	for range max {
		c := dialRaw(t, e.run.Addr)
		if status, err := c.get(t, "/static/chat.js"); err != nil || status != 200 {
			t.Fatalf("GET under the cap: %d %v", status, err)
		}
		held = append(held, c)
	}
	over := dialRaw(t, e.run.Addr)
	if status, err := over.get(t, "/static/chat.js"); err == nil && status != 503 {
		t.Errorf("connection %d of a cap of %d: HTTP %d, want 503 or a closed connection", max+1, max, status)
	}
	if !over.closedByServer(time.Second) {
		t.Errorf("connection over the cap left open")
	}
	if n, ok := metric(t, "http://"+ops+"/metrics", "claimbot_tcp_refused_total"); !ok || n < 1 {
		t.Errorf("claimbot_tcp_refused_total = %v (present %v), want 1 or more", n, ok)
	}
	// A WebSocket counts too: held open, it is refused.
	if _, _, err := websocketDial("ws://" + e.run.Addr + "/ws?t=" + e.token("u-cap")); err == nil {
		t.Errorf("a WebSocket over the cap was accepted")
	}
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := dialRaw(t, e.run.Addr)
		status, err := c.get(t, "/static/chat.js")
		if err == nil && status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a freed slot was not given back: %d %v", status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
