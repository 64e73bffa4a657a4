package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/webhook"
)

// LoadEngine loads the flows and locales and builds an engine over them;
// versions (may be nil) keeps the older flow versions of a running server.
// Warnings come back with a nil error; any error fails the load.
func LoadEngine(flowsDir, localesDir string, versions *engine.Versions) (*engine.Engine, flow.Problems, error) {
	flows, ps := flow.LoadDir(flowsDir)
	if len(ps.Errors()) > 0 {
		return nil, ps, fmt.Errorf("flows: %d problems", len(ps.Errors()))
	}
	cat, lps := locale.Load(localesDir, flows)
	ps = append(ps, lps...)
	if len(lps.Errors()) > 0 {
		return nil, ps, fmt.Errorf("locales: %d problems", len(lps.Errors()))
	}
	return engine.New(flows, cat, versions), ps, nil
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

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("serve: listen: %w", err)
	}
	addr := ln.Addr().String()

	metrics := NewMetrics(nil)
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
	om := outbox.NewMetrics(metrics.Registry, rdb)
	sender := outbox.NewSender(senderRDB, outbox.Config{URL: webhookURL, Secret: secret, Schedule: cfg.RetrySchedule,
		Retention: cfg.Retention, Logger: log.With("component", "sender"), Metrics: om})

	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	runCtx, cancel := context.WithCancel(ctx)
	r := &Running{Addr: addr, RedisURL: redisURL, Server: srv, Dev: dev, stop: cancel, done: make(chan error, 1)}

	var wg sync.WaitGroup
	senderCtx, stopSender := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sender.Run(senderCtx); err != nil {
			log.Error("sender stopped", "err", err)
		}
	}()
	fw := newFlowWatch(cfg, log)
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchFlows(runCtx, fw, cfg, srv, versions, log)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	if cfg.Dev() {
		log.Warn("DEV MODE: no CLAIMBOT_BANNER_SECRET; anyone on this machine can chat as any user; loopback only")
		log.Info("open the mock messenger", "url", "http://"+addr+"/")
		if dev != nil {
			log.Info("received claims (dev receiver)", "url", "http://"+addr+"/dev/claims")
		}
	}
	log.Info("claimbot listening", "addr", addr, "flows", len(eng.Flows()), "redis", rs.String(), "webhook", redactURL(webhookURL))

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

func redactURL(raw string) string {
	u, err := urlParse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u
}

// redisLogger sends go-redis's own messages (reconnects) to slog at debug:
// an unreachable Redis is reported once per turn by the store instead.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}
