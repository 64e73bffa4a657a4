package loadtest

import (
	"context"
	"errors"
	"fmt"
	"github.com/claimbot/claimbot/internal/convo"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/token"
)

// Target is a chat server to drive.
type Target struct {
	URL         string // ws://host:port/ws
	MetricsURL  string // http://host:port/metrics; empty: not read
	TokenSecret string // mint banner tokens (?t=); empty: dev mode's ?user=
	Name        string // how the report names it (default URL)
	Bare        bool   // the bare loop: its receipts are canned, nothing is filed
	InProcess   bool   // served by this process: its processor time is the load tester's
	// PID is the serving process on this machine: its processor time is
	// read from /proc/<pid>/stat (0: from /metrics, if any).
	PID int
}

// ParseURL reads a --url: ws://host:port/ws (http:// becomes ws://, an
// empty path /ws). Unless allowRemote, the host must be loopback.
func ParseURL(raw string, allowRemote bool) (*url.URL, error) {
	u, err := convo.WebSocketURL(raw)
	if err != nil {
		return nil, err
	}
	if !allowRemote {
		if err := checkLoopback(u.Hostname()); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func checkLoopback(host string) error {
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("--url: %s is not a loopback address: a load test is for your own machine (pass --allow-remote to load a server you run elsewhere)", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("--url: %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("--url: %s resolves to %s, not loopback (pass --allow-remote to load a server you run elsewhere)", host, ip.IP)
		}
	}
	return nil
}

// MetricsURLOf is the /metrics of the server behind a ws:// URL.
func MetricsURLOf(u *url.URL) string {
	m := *u
	m.Scheme = strings.Replace(strings.Replace(m.Scheme, "wss", "https", 1), "ws", "http", 1)
	m.Path, m.RawQuery, m.Fragment = "/metrics", "", ""
	return m.String()
}

// DevOptions configure an in-process server for a load test.
type DevOptions struct {
	RedisURL string // empty: the embedded Redis
	// ClusterURL is a Redis Cluster instead (REDIS_CLUSTER_URL's form).
	ClusterURL string
	// FiledReplicas is CLAIMBOT_FILED_REPLICAS; below zero: its default
	// (1 on a cluster, else 0).
	FiledReplicas int
	Flows         string // default "flows"
	Locales       string // default "locales"
	Logger        *slog.Logger
}

// StartDev starts the server in-process as `go run ./bot` does in dev mode
// (no banner secret: ?user= is accepted; the built-in webhook receiver;
// no rate limit), on a free loopback port.
func StartDev(ctx context.Context, o DevOptions) (*server.Running, error) {
	cfg := &config.Config{
		Addr: "127.0.0.1:0", RedisURL: o.RedisURL, RedisClusterURL: o.ClusterURL, FiledReplicas: filedReplicas(o.ClusterURL, o.FiledReplicas), Flows: o.Flows, Locales: o.Locales, DefaultFlow: "damage-1015",
		SessionTTL: time.Hour, Retention: 10 * time.Minute, RetrySchedule: outbox.DefaultSchedule,
		RateLimit: 0, LogLevel: slog.LevelWarn,
	}
	if cfg.Flows == "" {
		cfg.Flows = "flows"
	}
	if cfg.Locales == "" {
		cfg.Locales = "locales"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return server.Start(ctx, cfg, log)
}

// DevTarget is the target of a server started by StartDev.
func DevTarget(r *server.Running) Target {
	return Target{URL: "ws://" + r.Addr + "/ws", MetricsURL: r.URL() + "/metrics", InProcess: true}
}

func (t *Target) name() string {
	if t.Name != "" {
		return t.Name
	}
	return t.URL
}

// replyWait bounds the wait for one frame.
const replyWait = 15 * time.Second

var dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}

// dial opens a chat as user and returns the connection.
func (t *Target) dial(ctx context.Context, user string) (*websocket.Conn, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if t.TokenSecret != "" {
		tok, err := token.Mint([]byte(t.TokenSecret), user, "", "", time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		q.Set("t", tok)
	} else {
		q.Set("user", user)
	}
	u.RawQuery = q.Encode()
	ws, resp, err := dialer.DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			return nil, &dialError{status: resp.StatusCode, err: fmt.Errorf("connect: %s", resp.Status)}
		}
		return nil, &dialError{err: err}
	}
	return ws, nil
}

type dialError struct {
	status int
	err    error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Preflight opens one chat and reads its first frame, so a wrong URL or a
// refused token fails the run at once with a clear message.
func (t *Target) Preflight(ctx context.Context) error {
	ws, err := t.dial(ctx, "loadtest-preflight-"+randomHex(4))
	if err != nil {
		var de *dialError
		if errors.As(err, &de) && de.status == 401 && t.TokenSecret == "" {
			return fmt.Errorf("%s: %w (the server has a banner secret: pass --token-secret)", t.URL, err)
		}
		return fmt.Errorf("%s: %w", t.URL, err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(replyWait))
	var r Reply
	if err := ws.ReadJSON(&r); err != nil {
		return fmt.Errorf("%s: no first frame: %w", t.URL, err)
	}
	if r.Type != "reply" {
		return fmt.Errorf("%s: first frame is %q (%s %s), not a reply", t.URL, r.Type, r.Code, r.Text)
	}
	return nil
}

// filedReplicas is n, or CLAIMBOT_FILED_REPLICAS' default for the Redis
// given when n is below zero.
func filedReplicas(clusterURL string, n int) int {
	if n >= 0 {
		return n
	}
	if clusterURL != "" {
		return 1
	}
	return 0
}
