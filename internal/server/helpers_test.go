package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/webhook"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

const bannerSecret = "test-banner-secret-0123456789abcdef"

// env is a running server with its Redis and webhook receiver.
type env struct {
	t      *testing.T
	run    *server.Running
	redis  *redistest.Server
	recv   *webhooktest.Receiver
	cfg    *config.Config
	secret string
}

type option func(*config.Config)

func withRateLimit(r float64) option { return func(c *config.Config) { c.RateLimit = r } }
func withFlows(dir string) option    { return func(c *config.Config) { c.Flows = dir } }

// logs collects a server's log lines for the test to read.
var logSink = struct {
	sync.Mutex
	bytes.Buffer
}{}

type sinkWriter struct{}

func (sinkWriter) Write(p []byte) (int, error) {
	logSink.Lock()
	defer logSink.Unlock()
	return logSink.Write(p)
}

func testLogger(t testing.TB) *slog.Logger {
	var w io.Writer = sinkWriter{}
	if testing.Verbose() {
		w = io.MultiWriter(os.Stderr, w)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startEnv starts a production-mode server on a real Redis (when
// installed) with a webhooktest receiver.
func startEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, redis: redistest.Start(t), secret: secret}
	e.recv = webhooktest.NewReceiver(t, secret)
	e.cfg = &config.Config{
		Addr: "127.0.0.1:0", RedisURL: e.redis.URL, Flows: "../../flows", Locales: "../../locales",
		DefaultFlow: "damage-1015", BannerSecret: bannerSecret, WebhookURL: e.recv.URL(), WebhookSecret: secret,
		SessionTTL: time.Hour, Retention: time.Hour, Uploads: t.TempDir(), PublicURL: "http://claimbot.test",
		RetrySchedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
		LogLevel:      slog.LevelInfo,
	}
	for _, o := range opts {
		o(e.cfg)
	}
	e.start()
	return e
}

func (e *env) start() {
	e.t.Helper()
	r, err := server.Start(context.Background(), e.cfg, testLogger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	e.run = r
	e.cfg.Addr = r.Addr // a restart listens on the same port
	e.t.Cleanup(func() { r.Stop() })
}

func (e *env) token(user string, mods ...func(*string)) string {
	tok, err := token.Mint([]byte(bannerSecret), user, "", "", time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// client is a WebSocket chat client speaking the contract's frames.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	last reply
	n    int
	pre  string
}

type reply struct {
	Type     string   `json:"type"`
	State    string   `json:"state"`
	Field    string   `json:"field"`
	Input    string   `json:"input"`
	Messages []string `json:"messages"`
	Choices  []struct {
		Value string `json:"value"`
		Label string `json:"label"`
	} `json:"choices"`
	Upload *struct {
		URL      string   `json:"url"`
		MaxFiles int      `json:"max_files"`
		MaxBytes int64    `json:"max_bytes"`
		Accept   []string `json:"accept"`
	} `json:"upload"`
	Files []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Size int64  `json:"size"`
	} `json:"files"`
	Invalid bool   `json:"invalid"`
	Done    bool   `json:"done"`
	ClaimID string `json:"claim_id"`
	Code    string `json:"code"`
	Text    string `json:"text"`
}

func (e *env) dial(user string) *client {
	e.t.Helper()
	return dialURL(e.t, "ws://"+e.run.Addr+"/ws?t="+e.token(user), nil)
}

func dialURL(t testing.TB, url string, h http.Header) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	c := &client{t: t, ws: ws, pre: fmt.Sprintf("p%d", time.Now().UnixNano()%100000)}
	t.Cleanup(func() { ws.Close() })
	c.last = c.read()
	return c
}

func (c *client) read() reply {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var r reply
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	if r.Type == "reply" {
		c.last = r
	}
	return r
}

func (c *client) sendFrame(f map[string]any) reply {
	c.t.Helper()
	c.n++
	if _, ok := f["id"]; !ok {
		f["id"] = fmt.Sprintf("%s-%d", c.pre, c.n)
	}
	if _, ok := f["state"]; !ok && f["type"] != "command" {
		f["state"] = c.last.State
	}
	if err := c.ws.WriteJSON(f); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return c.read()
}

func (c *client) text(s string) reply { return c.sendFrame(map[string]any{"type": "text", "text": s}) }
func (c *client) choose(v string) reply {
	return c.sendFrame(map[string]any{"type": "choice", "value": v})
}

// answerAll answers a general user's paid claim to the summary.
func (c *client) toSummary(title string) {
	c.t.Helper()
	for _, step := range [][2]string{{"choice", "yes"}, {"choice", "general"}, {"choice", "pay"}, {"choice", "paid"},
		{"text", "me@example.com"}, {"text", "010 1234 5678"}, {"text", title}, {"text", "결제가 두 번 되었습니다."}} {
		var r reply
		if step[0] == "choice" {
			r = c.choose(step[1])
		} else {
			r = c.text(step[1])
		}
		if r.Type != "reply" || r.Invalid {
			c.t.Fatalf("%v: %+v", step, r)
		}
	}
	if c.last.State != "summary" {
		c.t.Fatalf("not at the summary: %+v", c.last)
	}
}

// closeCode reads until the server closes and returns the close code.
func (c *client) closeCode() int {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code
		}
		c.t.Fatalf("want a close frame, got %v", err)
	}
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func contains(msgs []string, sub string) bool { return strings.Contains(strings.Join(msgs, "\n"), sub) }

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
