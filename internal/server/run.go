package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/upload"
	"github.com/claimbot/claimbot/internal/webhook"
)

// LoadEngine loads the flows and locales: see engine.Load.
func LoadEngine(flowsDir, localesDir string, versions *engine.Versions) (*engine.Engine, flow.Problems, error) {
	return engine.Load(flowsDir, localesDir, versions)
}

// logProblems logs every flow and locale problem with its file:line.
func logProblems(log *slog.Logger, ps flow.Problems) {
	for _, p := range ps {
		if p.Warning {
			log.Warn("flows: " + p.String())
		} else {
			log.Error("flows: " + p.String())
		}
	}
}

// Running is a started server.
type Running struct {
	Addr     string // the address it listens on
	OpsAddr  string // where /metrics, /healthz and /readyz are served: Addr unless CLAIMBOT_OPS_ADDR is set
	RedisURL string
	Server   *Server
	Dev      *webhook.DevReceiver // the built-in receiver, when no webhook URL is set

	stop func()
	done chan error
	once sync.Once
	err  error
}

// URL is the server's base URL.
func (r *Running) URL() string { return "http://" + r.Addr }

// Stop shuts the server down gracefully and waits for it.
func (r *Running) Stop() error {
	r.stop()
	return r.Wait()
}

// Wait waits until the server stops; any number of callers may wait.
func (r *Running) Wait() error {
	r.once.Do(func() { r.err = <-r.done })
	return r.err
}

// shutdownWatchdog bounds a graceful shutdown.
const shutdownWatchdog = 20 * time.Second

// Start starts everything `claimbot serve` runs: the chat, the outbox
// sender, the flow reloader, and in dev mode the embedded Redis and the
// built-in webhook receiver. It returns once the server listens.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Running, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	versions := engine.NewVersions()
	eng, ps, err := LoadEngine(cfg.Flows, cfg.Locales, versions)
	logProblems(log, ps)
	if err != nil {
		return nil, fmt.Errorf("serve: %w (run: claimbot lint %s)", err, cfg.Flows)
	}

	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	rs := cfg.Redis()
	redisURL := rs.URL
	if rs.URL == "" && rs.ClusterURL == "" {
		url, stop, err := redisconn.Embedded()
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		cleanups = append(cleanups, stop)
		rs.URL, redisURL = url, url
		log.Warn("REDIS_URL is not set: using an embedded in-process Redis; every session and claim is LOST when the server stops", "redis_url", redisURL)
	}
	if rs.ClusterURL != "" {
		redisURL = rs.ClusterURL
	}
	// Turns: a turn's deadline (the store's Timeout) bounds its socket
	// reads and writes, retries included, so "unavailable" comes in time.
	rdb, err := redisconn.Open(rs, redisconn.Turns, 64)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("serve: %w", err)
	}
	cleanups = append(cleanups, func() { rdb.Close() })
	// The sender's own client: its blocking reads never hold the turns'
	// connections. Its pool has room for its workers, its readers (one
	// per shard on a cluster) and a few for the admin endpoints.
	senderRDB, err := redisconn.Open(rs, redisconn.Background, outbox.Config{}.PoolSize()+outbox.ReaderConns+4)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("serve: %w", err)
	}
	cleanups = append(cleanups, func() { senderRDB.Close() })

	metrics := NewMetrics(nil)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("serve: listen: %w", err)
	}
	addr := ln.Addr().String()
	ln = &capListener{Listener: ln, max: int64(cfg.ConnLimit()), open: metrics.tcpOpen, refused: metrics.tcpRefused}
	opsAddr := addr
	var opsLn net.Listener
	if cfg.OpsAddr != "" {
		if opsLn, err = net.Listen("tcp", cfg.OpsAddr); err != nil {
			ln.Close()
			cleanup()
			return nil, fmt.Errorf("serve: listen on CLAIMBOT_OPS_ADDR: %w", err)
		}
		opsAddr = opsLn.Addr().String()
	}
	routes := map[string]http.Handler{}
	webhookURL, secretText := cfg.WebhookURL, cfg.WebhookSecret
	var dev *webhook.DevReceiver
	if secretText == "" {
		secretText, _ = webhook.NewSecret()
		log.Warn("CLAIMBOT_WEBHOOK_SECRET is not set: signing with a secret generated for this run", "secret", "whsec_…")
	}
	secret, err := webhook.ParseSecret(secretText)
	if err != nil {
		ln.Close()
		if opsLn != nil {
			opsLn.Close()
		}
		cleanup()
		return nil, fmt.Errorf("serve: CLAIMBOT_WEBHOOK_SECRET: %w", err)
	}
	if webhookURL == "" {
		dev = webhook.NewDevReceiver(secret, log.With("component", "dev-receiver"))
		routes["/dev/claims"] = loopbackOnly(dev)
		webhookURL = "http://" + addr + "/dev/claims"
	}

	srv := New(Options{Config: cfg, Logger: log, Redis: rdb, Engine: eng, Metrics: metrics, Routes: routes})
	srv.SetEngine(eng)
	// Evidence uploads: in dev mode always (a temp folder unless
	// CLAIMBOT_UPLOADS says otherwise); in production when configured,
	// which a flow asking for files requires.
	storage, publicURL, err := cfg.Evidence(asksFiles(eng), addr)
	if err == nil && storage != "" {
		var svc *upload.Service
		svc, err = srv.newUploads(ctx, storage, publicURL, LinksSecret(secret))
		srv.SetUploads(svc)
	}
	if err != nil {
		ln.Close()
		if opsLn != nil {
			opsLn.Close()
		}
		cleanup()
		return nil, fmt.Errorf("serve: %w", err)
	}
	om := outbox.NewMetrics(metrics.Registry, rdb)
	ocfg := outbox.Config{URL: webhookURL, Secret: secret, Schedule: cfg.RetrySchedule,
		Retention: cfg.Retention, Logger: log.With("component", "sender"), Metrics: om}
	if svc := srv.Uploads(); svc != nil {
		ocfg.Files = svc // a claim's files are kept before the claim is posted
	}
	sender := outbox.NewSender(senderRDB, ocfg)

	handler := srv.Handler()
	var opsSrv *http.Server
	if opsLn != nil {
		// The operations endpoints on their own listener, and only there:
		// they need not face the internet.
		opsSrv = newHTTPServer(cfg, onlyPaths(handler, opsPaths, true), log)
		handler = onlyPaths(handler, opsPaths, false)
	}
	httpSrv := newHTTPServer(cfg, handler, log)
	runCtx, cancel := context.WithCancel(ctx)
	r := &Running{Addr: addr, OpsAddr: opsAddr, RedisURL: redisURL, Server: srv, Dev: dev, stop: cancel, done: make(chan error, 1)}

	var wg sync.WaitGroup
	senderCtx, stopSender := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sender.Run(senderCtx); err != nil {
			log.Error("sender stopped", "err", err)
		}
	}()
	if svc := srv.Uploads(); svc != nil {
		sweeper := &Sweeper{Uploads: svc, ClaimFiles: claimFilesSweep(senderRDB, svc), Log: log.With("component", "uploads")}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sweeper.Run(runCtx)
		}()
	}
	fw := newFlowWatch(cfg, log)
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchFlows(runCtx, fw, cfg, srv, versions, log)
	}()
	serveErr := make(chan error, 2)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	if opsSrv != nil {
		go func() { serveErr <- opsSrv.Serve(opsLn) }()
	}

	if cfg.Dev() {
		log.Warn("DEV MODE: no CLAIMBOT_BANNER_SECRET; anyone on this machine can chat as any user; loopback only")
		log.Info("open the mock messenger", "url", "http://"+addr+"/")
		if dev != nil {
			log.Info("received claims (dev receiver)", "url", "http://"+addr+"/dev/claims")
		}
	}
	if svc := srv.Uploads(); svc != nil {
		log.Info("evidence uploads", "kept_in", svc.Where(), "links", logURL(publicURL+filesPath))
	} else {
		log.Info("evidence uploads are off: no CLAIMBOT_UPLOADS and no flow asks for files")
	}
	log.Info("claimbot listening", "addr", addr, "ops_addr", opsAddr, "flows", len(eng.Flows()), "redis", rs.String(), "webhook", logURL(webhookURL),
		"max_conns", cfg.ConnLimit())

	go func() {
		var err error
		select {
		case <-runCtx.Done():
		case err = <-serveErr:
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
		}
		log.Info("shutting down")
		watchdog := time.AfterFunc(shutdownWatchdog, func() {
			log.Error("shutdown took too long; stopping anyway")
			r.done <- errors.New("serve: shutdown watchdog expired")
		})
		sctx, scancel := context.WithTimeout(context.Background(), shutdownWatchdog)
		defer scancel()
		// Stop accepting, let turns in flight reply, close sockets with 1012.
		go httpSrv.Shutdown(sctx)
		srv.Shutdown(sctx)
		httpSrv.Close()
		if opsSrv != nil {
			opsSrv.Close() // probes and scrapes answer until the chat is down
		}
		// The sender finishes its current deliveries.
		stopSender()
		cancel()
		wg.Wait()
		cleanup()
		if watchdog.Stop() {
			r.done <- err
		}
	}()
	return r, nil
}

// loopbackOnly serves a dev page to loopback clients only.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			http.Error(w, "dev pages are loopback only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// opsPaths are the operations endpoints, served on CLAIMBOT_OPS_ADDR
// when it is set.
var opsPaths = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

// onlyPaths serves h's routes whose path is (in) or is not (!in) one of
// paths; the others are not found.
func onlyPaths(h http.Handler, paths map[string]bool, in bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if paths[r.URL.Path] != in {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// newHTTPServer bounds how long a connection may hold a descriptor without
// a request: ReadHeaderTimeout until the request's header is in, and
// IdleTimeout between requests on a keep-alive connection (without it the
// wait is endless). There is no ReadTimeout: no route reads a large body
// but the dev receiver's, on loopback, and a WebSocket is hijacked from
// the server, which then sets no deadline of its own (gorilla clears
// them; the read pump's pong deadline keeps a WebSocket honest).
func newHTTPServer(cfg *config.Config, h http.Handler, log *slog.Logger) *http.Server {
	idle := cfg.IdleTimeout
	if idle <= 0 {
		idle = config.DefaultIdleTimeout
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: min(10*time.Second, idle), IdleTimeout: idle,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// capListener caps the connections open at once: past max a new one is
// answered 503 and closed at once, so a flood of idle sockets cannot take
// every descriptor the process has (then Accept fails for everyone, and
// Redis cannot be dialled either). It counts every connection until it is
// closed, WebSockets included: a hijacked connection is still this one.
type capListener struct {
	net.Listener
	max     int64
	n       atomic.Int64
	open    prometheus.Gauge
	refused prometheus.Counter
}

// busy is the answer to a connection over the cap.
const busy = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\nContent-Length: 12\r\n\r\nserver busy\n"

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.n.Add(1) > l.max {
			l.n.Add(-1)
			l.refused.Inc()
			// A fresh socket's send buffer is empty: this does not block.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			io.WriteString(c, busy)
			c.Close()
			continue
		}
		l.open.Inc()
		return &countedConn{Conn: c, l: l}, nil
	}
}

// countedConn gives its place back when closed, once.
type countedConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

// SyscallConn is the socket's descriptor access, for waiting on it
// (idleread.go).
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.n.Add(-1)
		c.l.open.Dec()
	})
	return err
}

// logURL shows a URL as scheme, host and path only: user info, the query
// and the fragment may carry credentials (?api_key=…), which never reach a
// log.
func logURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// redisLogger sends go-redis's own messages (reconnects) to slog at debug:
// an unreachable Redis is reported once per turn by the store instead.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// claimFilesSweep is the deletion of claims' files at their retention (or
// when an operator purges the claim), run on the uploads sweeper's tick:
// the outbox schedules them with the delivery's ack, atomically.
func claimFilesSweep(rdb redis.UniversalClient, svc *upload.Service) func(ctx context.Context, now time.Time) (int, error) {
	return func(ctx context.Context, now time.Time) (int, error) {
		return outbox.SweepFiles(ctx, rdb, now, svc.Delete)
	}
}
