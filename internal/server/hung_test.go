package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/redistest"
)

// A Redis that keeps its connections and answers nothing (stopped with
// SIGSTOP, as a hung server would be) still gets every frame its
// "unavailable" within the contract's 2 s, however many connections send
// at once; once Redis answers again the same answer is applied; and the
// error logged names no user.
func TestRedisHungUnavailableWithin2s(t *testing.T) {
	e := startEnv(t)
	if !e.redis.Real {
		redistest.StartReal(t) // skips (or fails in CI): SIGSTOP needs a real redis-server
	}
	const n = 12
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.dial(fmt.Sprintf("user-hung-%02d", i))
		if r := clients[i].choose("yes"); r.State != "reporter_type" {
			t.Fatalf("consent: %+v", r)
		}
	}
	e.redis.Freeze()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			start := time.Now()
			c.ws.WriteJSON(map[string]any{"type": "choice", "value": "general", "id": fmt.Sprintf("h-%d", i), "state": "reporter_type"})
			c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			var r reply
			if err := c.ws.ReadJSON(&r); err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("client %d: the reply came after %v; the contract says within 2 s", i, d.Round(time.Millisecond))
			}
			if r.Type != "error" || r.Code != "unavailable" || r.Text == "" {
				t.Errorf("client %d: %+v, want an unavailable error", i, r)
			}
		})
	}
	wg.Wait()
	// Frames sent back to back on one connection: each is answered within
	// 2 s of being sent, though the connection runs its turns in order.
	c := clients[1]
	sent := make([]time.Time, 3)
	for i := range sent {
		sent[i] = time.Now()
		c.ws.WriteJSON(map[string]any{"type": "text", "text": "일반", "id": fmt.Sprintf("b-%d", i), "state": "reporter_type"})
	}
	for i := range sent {
		r := c.read()
		if d := time.Since(sent[i]); d > 2*time.Second {
			t.Errorf("frame %d of 3 sent at once: answered after %v; the contract says within 2 s", i+1, d.Round(time.Millisecond))
		}
		if r.Type != "error" || r.Code != "unavailable" {
			t.Errorf("frame %d of 3 sent at once: %+v, want an unavailable error", i+1, r)
		}
	}
	e.redis.Thaw()
	time.Sleep(600 * time.Millisecond) // past the gap in which a connection answers unavailable at once
	// The user sends the same answer again (a new frame id): it is applied.
	// (Had Redis taken the first one when it woke, the reply is the same:
	// the frame names the state it answers, which has moved on.)
	c = clients[0]
	c.ws.WriteJSON(map[string]any{"type": "choice", "value": "general", "id": "h-again", "state": "reporter_type"})
	if r := c.read(); r.State != "service" {
		t.Fatalf("after Redis answered again: %+v", r)
	}
	logSink.Lock()
	logs := logSink.String()
	logSink.Unlock()
	if !strings.Contains(logs, "unavailable") {
		t.Fatalf("no unavailable turn was logged")
	}
	if strings.Contains(logs, "user-hung-") {
		t.Errorf("the logs name a user: %s", logs[strings.Index(logs, "user-hung-")-min(200, strings.Index(logs, "user-hung-")):][:300])
	}
}
