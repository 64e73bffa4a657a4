package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/token"
)

func TestFullClaimOverWebSocket(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-full")
	if c.last.Field != "privacy_consent" || !contains(c.last.Messages, "개인정보") {
		t.Fatalf("first frame %+v", c.last)
	}
	c.toSummary("결제 오류")
	r := c.choose("submit")
	if !r.Done || r.ClaimID == "" || r.Input != "none" {
		t.Fatalf("submit: %+v", r)
	}
	e.recv.WaitAccepted(t, 1, 10*time.Second)
	got := e.recv.Accepted()[0]
	var ev struct {
		Data struct {
			ClaimID string         `json:"claim_id"`
			UserID  string         `json:"user_id"`
			Answers map[string]any `json:"answers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Data.ClaimID != r.ClaimID || ev.Data.UserID != "user-full" || ev.Data.Answers["phone"] != "010-1234-5678" {
		t.Errorf("delivered %s", got.Body)
	}
	// Coming back shows the receipt and offers another claim.
	c2 := e.dial("user-full")
	if !c2.last.Done || c2.last.ClaimID != r.ClaimID || !contains(c2.last.Messages, r.ClaimID) {
		t.Errorf("come back: %+v", c2.last)
	}
	if r := c2.choose("restart"); r.Field != "privacy_consent" {
		t.Errorf("restart after done: %+v", r)
	}
}

func TestResumeAfterDrop(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-drop")
	c.choose("yes")
	c.text("소상공인이에요")
	c.ws.Close()
	c2 := e.dial("user-drop")
	if c2.last.Field != "service" {
		t.Fatalf("resumed at %+v, want the service question", c2.last)
	}
	// Back still knows the earlier answer.
	r := c2.sendFrame(map[string]any{"type": "command", "name": "back"})
	if r.Field != "reporter_type" || !contains(r.Messages, "소상공인") {
		t.Errorf("back after resume: %+v", r)
	}
}

func TestRepeatedFrameIDIsNotAppliedTwice(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-dup")
	c.sendFrame(map[string]any{"type": "choice", "value": "yes", "id": "a-1", "state": "privacy_consent"})
	r := c.sendFrame(map[string]any{"type": "choice", "value": "yes", "id": "a-1", "state": "privacy_consent"})
	if r.Field != "reporter_type" || r.Invalid {
		t.Errorf("repeated id: %+v", r)
	}
	// A frame for another question is not applied; the current reply comes.
	r = c.sendFrame(map[string]any{"type": "text", "text": "택시", "id": "a-2", "state": "service"})
	if r.Field != "reporter_type" || r.Invalid {
		t.Errorf("stale state: %+v", r)
	}
}

// Two sockets of one user sending at once: every frame gets one reply,
// every applied answer is kept, none is applied to a state it was not
// meant for.
func TestTwoSocketsOfOneUser(t *testing.T) {
	e := startEnv(t)
	a, b := e.dial("user-two"), e.dial("user-two")
	a.choose("yes")
	b.last.State = "reporter_type" // both pages now answer the same question at once
	// Whichever socket wins the reporter type, both go on to the email:
	// each can answer the business questions an enterprise is asked.
	sentBy := []map[string]string{
		{"reporter_type": "general", "service": "taxi", "damage_type": "non_monetary", "inquiry_type": "opinion",
			"business_name": "가나상회", "business_number": "120-81-01340"},
		{"reporter_type": "enterprise", "service": "mail", "damage_type": "non_monetary", "inquiry_type": "complaint",
			"business_name": "다라물산", "business_number": "120-81-01340"},
	}
	var wg sync.WaitGroup
	for i, c := range []*client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 12; n++ {
				state := c.last.State
				v, ok := sentBy[i][state]
				if !ok {
					return
				}
				send := c.choose
				if c.last.Input == "text" || c.last.Input == "business_number" {
					send = c.text
				}
				r := send(v) // every frame gets exactly one reply (read() fails the test otherwise)
				if r.Type != "reply" {
					t.Errorf("frame %d of socket %d: %+v", n, i, r)
					return
				}
				if r.Invalid {
					t.Errorf("an answer was refused (%s=%s): it was applied to another question", state, v)
				}
			}
		}()
	}
	wg.Wait()
	// Every question was answered, each by a frame meant for it.
	c := e.dial("user-two")
	if c.last.Field != "email" {
		t.Fatalf("after the race: %+v", c.last)
	}
	val, err := e.redis.Client(t).Get(context.Background(), shard.Session("user-two", "damage-1015")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	_, sess, err := store.Decode(val)
	if err != nil {
		t.Fatal(err)
	}
	for key := range sentBy[0] {
		got, ok := sess.Answers[key]
		if !ok && strings.HasPrefix(key, "business_") {
			continue // a general user is not asked
		}
		if got != sentBy[0][key] && got != sentBy[1][key] {
			t.Errorf("%s = %v, which no socket sent for that question", key, got)
		}
	}
}

func TestRefusedBeforeUpgrade(t *testing.T) {
	e := startEnv(t)
	base := "ws://" + e.run.Addr + "/ws"
	forged, _ := token.Mint([]byte("not-the-secret-not-the-secret-00"), "u", "", "", time.Hour, time.Now())
	expired, _ := token.Mint([]byte(bannerSecret), "u", "", "", -time.Minute, time.Now())
	wrongFlow, _ := token.Mint([]byte(bannerSecret), "u", "no-such-flow", "", time.Hour, time.Now())
	good := e.token("u")
	for _, tt := range []struct {
		name   string
		url    string
		origin string
		status int
	}{
		{"forged signature", base + "?t=" + forged, "", 401},
		{"expired", base + "?t=" + expired, "", 401},
		{"garbage", base + "?t=abc.def.ghi", "", 401},
		{"no token", base, "", 401},
		{"dev user in production", base + "?user=u", "", 401},
		{"unknown flow", base + "?t=" + wrongFlow, "", 403},
		{"foreign origin", base + "?t=" + good, "https://evil.example", 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			_, resp, err := websocket.DefaultDialer.Dial(tt.url, h)
			if err == nil {
				t.Fatal("upgraded")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("got %v, want HTTP %d", resp, tt.status)
			}
		})
	}
	// The page's own origin is fine.
	h := http.Header{"Origin": {"http://" + e.run.Addr}}
	dialURL(t, base+"?t="+good, h)
}

func TestFrameProblems(t *testing.T) {
	e := startEnv(t, withRateLimit(5))
	user := "user-frames"
	c := e.dial(user)
	c.choose("yes")
	check := func(t *testing.T, name string) {
		t.Helper()
		c2 := e.dial(user)
		if c2.last.Field != "reporter_type" {
			t.Fatalf("%s: session not intact: %+v", name, c2.last)
		}
		c2.ws.Close()
	}
	// Error frames; the connection stays open.
	for _, tt := range []struct {
		name, frame, code string
	}{
		{"invalid JSON", `{"type":"text",`, "bad_frame"},
		{"unknown type", `{"type":"shout","text":"x"}`, "bad_frame"},
		{"too large", `{"type":"text","text":"` + strings.Repeat("가", 6000) + `"}`, "too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			time.Sleep(250 * time.Millisecond) // stay under the rate limit
			c.ws.WriteMessage(websocket.TextMessage, []byte(tt.frame))
			r := c.read()
			if r.Type != "error" || r.Code != tt.code || r.Text == "" {
				t.Fatalf("got %+v, want error %s", r, tt.code)
			}
			if r := c.text("일반"); r.Field != "service" && r.Field != "damage_type" && r.Field != "reporter_type" {
				t.Fatalf("connection unusable after %s: %+v", tt.name, r)
			}
			c.sendFrame(map[string]any{"type": "command", "name": "back"})
		})
	}
	check(t, "error frames")
	// Close codes.
	for _, tt := range []struct {
		name string
		send func(ws *websocket.Conn)
		code int
	}{
		{"over 64 KiB", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"text","text":"`+strings.Repeat("a", 70<<10)+`"}`))
		}, websocket.CloseMessageTooBig},
		{"invalid UTF-8", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte("{\"type\":\"text\",\"text\":\"\xff\xfe\"}"))
		}, websocket.CloseInvalidFramePayloadData},
		{"binary", func(ws *websocket.Conn) { ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}) }, websocket.CloseUnsupportedData},
		{"flood", func(ws *websocket.Conn) {
			for i := 0; i < 60; i++ {
				ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"text","text":"x","id":"f-%d","state":"nope"}`, i)))
			}
		}, websocket.ClosePolicyViolation},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(user)
			tt.send(c.ws)
			if got := c.closeCode(); got != tt.code {
				t.Fatalf("close code %d, want %d", got, tt.code)
			}
			check(t, tt.name)
		})
	}
}

// Error frames speak the session's language, as its replies do, not the
// language of the token that resumed it.
func TestErrorTextInSessionLanguage(t *testing.T) {
	e := startEnv(t)
	ko := e.dial("user-lang") // a Korean session
	ko.choose("yes")
	ko.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"text",`))
	want := ko.read()
	if want.Type != "error" || want.Code != "bad_frame" || want.Text == "" {
		t.Fatalf("bad frame on the Korean session: %+v", want)
	}
	ko.ws.Close()

	en, err := token.Mint([]byte(bannerSecret), "user-lang", "", "en", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := dialURL(t, "ws://"+e.run.Addr+"/ws?t="+en, nil)
	if c.last.Field != "reporter_type" || !strings.ContainsFunc(strings.Join(c.last.Messages, ""), isHangul) {
		t.Fatalf("resumed with lang=en: %+v, want the Korean session's question", c.last)
	}
	c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"text",`))
	if r := c.read(); r.Type != "error" || r.Code != "bad_frame" || r.Text != want.Text {
		t.Errorf("resumed with lang=en: %+v, want the Korean text %q", r, want.Text)
	}
}

func isHangul(r rune) bool { return unicode.Is(unicode.Hangul, r) }

func TestRateLimitedFrameIsNotApplied(t *testing.T) {
	e := startEnv(t, withRateLimit(1))
	c := e.dial("user-rate")
	limited := 0
	for i := 0; i < 5; i++ {
		c.ws.WriteJSON(map[string]any{"type": "choice", "value": "yes", "id": fmt.Sprintf("r-%d", i), "state": "privacy_consent"})
	}
	for i := 0; i < 5; i++ {
		r := c.read()
		if r.Type == "error" && r.Code == "rate_limited" {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no rate_limited error")
	}
}

// A rate below half a frame per second still lets a frame through now
// and then: the burst is at least one frame.
func TestSlowRateLimitAllowsAFrame(t *testing.T) {
	for _, perSecond := range []float64{0.25, 0.7} {
		t.Run(fmt.Sprint(perSecond), func(t *testing.T) {
			e := startEnv(t, withRateLimit(perSecond))
			c := e.dial("user-slow-rate")
			if r := c.choose("yes"); r.Type != "reply" || r.Field != "reporter_type" {
				t.Fatalf("first frame: %+v, want it applied", r)
			}
			if perSecond < 0.5 {
				if r := c.choose("general"); r.Type != "error" || r.Code != "rate_limited" {
					t.Fatalf("second frame at once: %+v, want rate_limited", r)
				}
			}
		})
	}
}

func TestOperationsEndpoints(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-ops")
	c.choose("yes")
	c.text("아무말")
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready",
		"/metrics": "process_resident_memory_bytes"} {
		code, body := httpGet(t, e.run.URL()+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body[:min(len(body), 200)])
		}
	}
	_, body := httpGet(t, e.run.URL()+"/metrics")
	for _, m := range []string{"claimbot_connections", "claimbot_turns_total", "claimbot_turn_duration_seconds",
		`claimbot_refusals_total{flow="damage-1015",state="reporter_type"} 1`, "claimbot_state_entered_total",
		"claimbot_claims_filed_total", "claimbot_outbox_pending", "claimbot_outbox_dead"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	// Not ready when Redis is down.
	if e.redis.Real {
		e.redis.Kill()
		if code, _ := httpGet(t, e.run.URL()+"/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz with Redis down: %d", code)
		}
	}
}

// Personal data never reaches a log unmasked: everything a full claim
// logs, at debug level, holds none of what the user typed.
func TestLogsHoldNoPersonalData(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-logs-010")
	c.toSummary("비밀제목XYZ")
	c.choose("submit")
	e.recv.WaitAccepted(t, 1, 10*time.Second)
	e.run.Stop()
	logSink.Lock()
	logs := logSink.String()
	logSink.Unlock()
	if !strings.Contains(logs, "claim filed") {
		t.Fatalf("the test saw no logs: %q", logs[:min(len(logs), 300)])
	}
	for _, secret := range []string{"me@example.com", "010-1234-5678", "01012345678", "비밀제목XYZ", "결제가 두 번", "user-logs-010", bannerSecret, e.secret} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q", secret)
		}
	}
}

// Shutdown lets the turn in flight reply, then closes with 1012 so the
// page reconnects (elsewhere, if need be).
func TestShutdownClosesWith1012(t *testing.T) {
	e := startEnv(t)
	c := e.dial("user-shutdown")
	c.ws.WriteJSON(map[string]any{"type": "choice", "value": "yes", "id": "s-1", "state": "privacy_consent"})
	time.Sleep(50 * time.Millisecond) // the frame is in flight or answered
	go e.run.Stop()
	replies := 0
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			ce, ok := err.(*websocket.CloseError)
			if !ok || ce.Code != websocket.CloseServiceRestart {
				t.Fatalf("want close 1012, got %v", err)
			}
			break
		}
		if strings.Contains(string(data), `"reporter_type"`) {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("the frame sent before the shutdown got %d replies, want 1", replies)
	}
}
