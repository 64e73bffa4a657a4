package convo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/upload"
	"github.com/claimbot/claimbot/internal/webhook"
)

// claimWait is how long a claim check waits for the claim's delivery.
const claimWait = 5 * time.Second

// InProcessOptions configure an in-process backend.
type InProcessOptions struct {
	Flows, Locales string // folders (default flows, locales)
	DefaultFlow    string // default damage-1015
	// RedisURL is a Redis of the run's own; empty starts an embedded one.
	// Its outbox is delivered to the run's receiver: never point it at a
	// Redis that a server uses.
	RedisURL string
	// ClusterURL is a Redis Cluster of the run's own, instead of RedisURL.
	ClusterURL string
	Logger     *slog.Logger // default: discards
}

// InProcess runs conversations on the real engine and session store, with
// an outbox sender delivering filed claims to a development receiver over
// HTTP, signed with a secret of the run: a claim check sees the payload the
// backend would get, its signature verified. Files are uploaded over tus to
// the real upload service (a temporary folder, the same Redis), and file
// frames are looked up there before the turn, as the server does.
type InProcess struct {
	eng         *engine.Engine
	st          *store.Store
	rdb         redis.UniversalClient
	recv        *webhook.DevReceiver
	uploads     *upload.Service
	uploadURL   *url.URL // the test server of uploads.Handler
	defaultFlow string
	close       func()
}

// NewInProcess loads the flows and locales and starts the Redis, the
// receiver and the sender.
func NewInProcess(opt InProcessOptions) (*InProcess, error) {
	if opt.Flows == "" {
		opt.Flows = "flows"
	}
	if opt.Locales == "" {
		opt.Locales = "locales"
	}
	if opt.DefaultFlow == "" {
		opt.DefaultFlow = "damage-1015"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	eng, ps, err := server.LoadEngine(opt.Flows, opt.Locales, nil)
	if err != nil {
		var lines []string
		for _, p := range ps.Errors() {
			lines = append(lines, p.String())
		}
		return nil, fmt.Errorf("convo: %w\n%s", err, strings.Join(lines, "\n"))
	}
	if eng.Flow(opt.DefaultFlow) == nil {
		return nil, fmt.Errorf("convo: default flow %q is not in %s", opt.DefaultFlow, opt.Flows)
	}

	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	rs := redisconn.Settings{URL: opt.RedisURL, ClusterURL: opt.ClusterURL}
	own := rs.URL != "" || rs.ClusterURL != ""
	if !own {
		url, stop, err := redisconn.Embedded()
		if err != nil {
			return nil, fmt.Errorf("convo: %w", err)
		}
		cleanups = append(cleanups, stop)
		rs.URL = url
	}
	rdb, err := redisconn.Open(rs, redisconn.Turns, 0)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("convo: %w", err)
	}
	cleanups = append(cleanups, func() { rdb.Close() })
	if own {
		if err := ownRedis(rdb); err != nil {
			cleanup()
			return nil, err
		}
	}

	secretText, err := webhook.NewSecret()
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("convo: webhook secret: %w", err)
	}
	secret, err := webhook.ParseSecret(secretText)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("convo: webhook secret: %w", err)
	}
	recv := webhook.NewDevReceiver(secret, opt.Logger)
	hs := httptest.NewServer(recv)
	cleanups = append(cleanups, hs.Close)

	// The uploads come first: the sender keeps a claim's files before it
	// posts the claim.
	p := &InProcess{}
	if err := p.startUploads(rdb, opt.Logger, &cleanups); err != nil {
		cleanup()
		return nil, err
	}
	consumer := testConsumer + randomHex(6)
	ocfg := outbox.Config{URL: hs.URL, Secret: secret, Workers: 8, Jitter: -1, Consumer: consumer, Files: p.uploads,
		Schedule:     []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond},
		PollInterval: 10 * time.Millisecond, Logger: opt.Logger}
	srdb, err := redisconn.Open(rs, redisconn.Background, ocfg.PoolSize()+outbox.ReaderConns)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("convo: %w", err)
	}
	sender := outbox.NewSender(srdb, ocfg)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sender.Run(ctx)
	}()
	cleanups = append(cleanups, func() {
		// Every claim a script checked was delivered: closing the client
		// ends the blocking reads at once instead of after their timeout.
		stop()
		srdb.Close()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
		}
		if own {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			for n := range shard.Count {
				rdb.XGroupDelConsumer(ctx, shard.Outbox(n), shard.Group, consumer)
			}
		}
	})

	p.eng, p.rdb, p.recv, p.defaultFlow, p.close = eng, rdb, recv, opt.DefaultFlow, cleanup
	// A claim's files go in its body with their signed links, as the
	// server's do.
	p.st = store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour,
		Link: func(id string) string { return p.uploads.Link(id, time.Time{}) }})
	return p, nil
}

// startUploads serves the upload service on a temporary folder, its
// requests authenticated as dev mode's are (?user=).
func (p *InProcess) startUploads(rdb redis.UniversalClient, logger *slog.Logger, cleanups *[]func()) error {
	dir, err := os.MkdirTemp("", "claimbot-test-uploads-")
	if err != nil {
		return fmt.Errorf("convo: uploads: %w", err)
	}
	*cleanups = append(*cleanups, func() { os.RemoveAll(dir) })
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	*cleanups = append(*cleanups, hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := upload.New(ctx, upload.Config{Storage: dir, PublicURL: hs.URL, Secret: []byte(randomHex(32)),
		Redis: rdb, Logger: logger, Unattached: time.Hour,
		Auth: func(r *http.Request) (string, bool) {
			u := r.URL.Query().Get("user")
			return u, u != ""
		}})
	if err != nil {
		return fmt.Errorf("convo: uploads: %w", err)
	}
	mux.Handle(engine.UploadPath, svc.Handler())
	mux.Handle(strings.TrimSuffix(engine.UploadPath, "/"), svc.Handler())
	mux.Handle("/files/", svc.Files())
	p.uploads = svc
	p.uploadURL, _ = url.Parse(hs.URL)
	return nil
}

// testConsumer starts the consumer names of the runs' senders.
const testConsumer = "claimbot-test-"

// ownRedis refuses a Redis whose outbox another sender is working on: the
// run's sender would take real claims from it.
func ownRedis(rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("convo: REDIS_URL: %w", err)
	}
	busy := errors.New("convo: REDIS_URL: another claimbot delivers claims from this Redis; " +
		"scripts need a Redis of their own (unset REDIS_URL to use an embedded one)")
	// A sender waits on the outbox streams in XREADGROUP; a blocked read
	// does not show as a consumer yet, but shows in the client list.
	reading := redisconn.Masters(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
		if list, err := node.ClientList(ctx).Result(); err == nil && strings.Contains(list, "cmd=xreadgroup") {
			return busy
		}
		return nil
	})
	if reading != nil {
		return busy
	}
	for n := range shard.Count {
		groups, err := rdb.XInfoGroups(ctx, shard.Outbox(n)).Result()
		if err != nil {
			continue // no stream yet
		}
		for _, g := range groups {
			if g.Name != shard.Group {
				continue
			}
			cs, err := rdb.XInfoConsumers(ctx, shard.Outbox(n), g.Name).Result()
			if err != nil {
				continue
			}
			for _, c := range cs {
				if !strings.HasPrefix(c.Name, testConsumer) && c.Idle < 10*time.Minute {
					return busy
				}
			}
		}
	}
	return nil
}

// Engine returns the loaded engine.
func (p *InProcess) Engine() *engine.Engine { return p.eng }

// DefaultFlow is the flow of scripts that name none.
func (p *InProcess) DefaultFlow() string { return p.defaultFlow }

// TakesFiles: the run has an upload service of its own.
func (p *InProcess) TakesFiles() bool { return true }

// Close stops the sender, the receiver and the Redis.
func (p *InProcess) Close() error {
	p.close()
	return nil
}

// Driver starts a conversation.
func (p *InProcess) Driver(ctx context.Context, user, flowID, lang string) (Driver, error) {
	if flowID == "" {
		flowID = p.defaultFlow
	}
	if p.eng.Flow(flowID) == nil {
		ids := make([]string, 0, len(p.eng.Flows()))
		for id := range p.eng.Flows() {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return nil, fmt.Errorf("flow %q: no such flow (have %s)", flowID, strings.Join(ids, ", "))
	}
	if lang == "" {
		lang = "ko"
	}
	return &inProcessDriver{p: p, user: user, flow: flowID, lang: lang}, nil
}

type inProcessDriver struct {
	p                *InProcess
	user, flow, lang string
	conv             *store.Conv
	shown            engine.Reply // the reply last shown, whose question a file frame answers
}

func (d *inProcessDriver) Open(ctx context.Context) (Reply, error) {
	conv, res, err := d.p.st.Open(ctx, d.user, d.flow, d.lang)
	if err != nil {
		return Reply{}, err
	}
	d.conv = conv
	d.shown = res.Reply
	return Reply{Reply: res.Reply, Moves: res.Moves}, nil
}

func (d *inProcessDriver) Send(ctx context.Context, f Frame) (Reply, error) {
	if d.conv == nil {
		return Reply{}, errors.New("convo: send before open")
	}
	in, err := f.Input()
	if err != nil {
		return Reply{}, err
	}
	// As the server does: the engine gets the upload's facts, under the
	// limits of the question this page last showed.
	if err := d.p.uploads.Resolve(ctx, &in, d.user, upload.LimitsOf(d.shown)); err != nil {
		return Reply{}, err
	}
	res, err := d.conv.Turn(ctx, in)
	if err != nil {
		return Reply{}, err
	}
	d.shown = res.Reply
	return Reply{Reply: res.Reply, Moves: res.Moves}, nil
}

// Upload sends a file over tus to the run's upload service.
func (d *inProcessDriver) Upload(ctx context.Context, name string, data []byte, last Reply) (string, error) {
	endpoint, err := uploadEndpoint(d.p.uploadURL, last)
	if err != nil {
		return "", err
	}
	c := &tusClient{auth: url.Values{"user": {d.user}}}
	return c.upload(ctx, endpoint, name, data)
}

func (d *inProcessDriver) Claim(ctx context.Context, claimID string) (map[string]any, bool, error) {
	a, err := awaitClaim(ctx, d.p.recv, claimID)
	return a, true, err
}

func (d *inProcessDriver) Close() error { return nil }

// awaitClaim waits for a claim to reach the receiver.
func awaitClaim(ctx context.Context, recv *webhook.DevReceiver, claimID string) (map[string]any, error) {
	deadline := time.NewTimer(claimWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		claims := recv.Claims()
		if i := slices.IndexFunc(claims, func(e webhook.Event) bool { return e.Data.ClaimID == claimID }); i >= 0 {
			return claims[i].Data.Answers, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("claim %s was not delivered within %s", claimID, claimWait)
		case <-tick.C:
		}
	}
}
