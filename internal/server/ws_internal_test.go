package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/token"
)

// see records what a connection's last reply left, and lang and the
// close's count read it: the session's language over the token's, its
// flow and state.
func TestSeeRecordsTheConversation(t *testing.T) {
	s := newTestServer(t)
	conv, _, err := s.store.Open(context.Background(), "see-user", "damage-1015", "en")
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{s: s, tokenLang: "ko"}
	if got := c.lang(); got != "ko" {
		t.Errorf("before a conversation: lang %q, want the token's ko", got)
	}
	c.conv = conv
	c.see()
	v := c.seen()
	if v.lang != "en" || v.flow != "damage-1015" || v.state != conv.Session().State || v.state == "" || v.done {
		t.Errorf("seen %+v, want lang en, flow damage-1015, state %q, not done", v, conv.Session().State)
	}
	if got := c.lang(); got != "en" {
		t.Errorf("lang %q, want the session's en", got)
	}
}

// A turn's record of what the connection saw.
func BenchmarkSee(b *testing.B) {
	s := newTestServer(b)
	conv, _, err := s.store.Open(context.Background(), "see-bench", "damage-1015", "ko")
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{s: s, conv: conv, tokenLang: "ko"}
	b.ReportAllocs()
	for b.Loop() {
		c.see()
	}
}

// An open WebSocket keeps nothing of the HTTP request that opened it:
// net/http's response, and through it the request and its connection's
// read and write buffers (8 KiB, and as much again of structures), are
// garbage once the upgrade is done, not kept as long as the socket is open.
func TestOpenWebSocketKeepsNoHTTPRequest(t *testing.T) {
	s := newTestServer(t)
	h := s.Handler()
	var (
		mu   sync.Mutex
		reqs []weak.Pointer[http.Request]
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, weak.Make(r))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	for i := range 3 {
		tok, err := token.Mint([]byte(testSecret), fmt.Sprint("kept-", i), "", "", time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws?t="+tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil { // the first reply: the handler is done
			t.Fatal(err)
		}
	}
	kept := func() (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range reqs {
			if p.Value() != nil {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(3 * time.Second); kept() > 0 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if n := kept(); n > 0 {
		t.Errorf("%d of 3 open WebSockets keep the HTTP request that opened them (and net/http's buffers with it)", n)
	}
	if n := gaugeValue(t, s.metrics.connections); n != 3 {
		t.Errorf("claimbot_connections = %v, want the 3 still open", n)
	}
}

// The heap an open WebSocket holds, the test's client side (gorilla's
// buffers) included: 200 sockets, each past its first reply.
func BenchmarkHeapPerOpenSocket(b *testing.B) {
	s := newTestServer(b)
	hs := httptest.NewServer(s.Handler())
	b.Cleanup(hs.Close)
	const n = 200
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for b.Loop() {
		before := heap()
		var socks []*websocket.Conn
		for i := range n {
			tok, err := token.Mint([]byte(testSecret), fmt.Sprint("heap-", i), "", "", time.Hour, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws?t="+tok, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := ws.ReadMessage(); err != nil {
				b.Fatal(err)
			}
			socks = append(socks, ws)
		}
		time.Sleep(50 * time.Millisecond) // the handlers return after the first reply
		b.ReportMetric(float64(heap()-before)/n, "B/socket")
		for _, ws := range socks {
			ws.Close()
		}
		for gaugeValue(b, s.metrics.connections) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
