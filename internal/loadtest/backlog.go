package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/validate"
	"github.com/claimbot/claimbot/internal/webhook"
)

// Backlog is the outcome of a backlog run.
type Backlog struct {
	Claims       int     `json:"claims"`
	FillSeconds  float64 `json:"fill_s"`
	FillPerSec   float64 `json:"fill_per_s"`
	Delivered    int64   `json:"delivered"`
	DrainSeconds float64 `json:"drain_s"`
	PerSec       float64 `json:"claims_per_s"`
	Drained      bool    `json:"drained"`
	Workers      int     `json:"workers"`
}

// DefaultBacklogLimit bounds a drain.
const DefaultBacklogLimit = 5 * time.Minute

const backlogFillers = 32

// RunBacklog pre-fills the outbox in Redis at redisURL (empty: an
// embedded miniredis) with n claims, as filed chats would, then runs an
// outbox sender against a local receiver that answers 204 at once, and
// reports how fast it drains. It refuses an outbox that holds claims or
// that a sender read from within the last minute: a running server would
// deliver the fake claims to its webhook.
func RunBacklog(ctx context.Context, redisURL string, n int, limit time.Duration, prog *Progress) (*Report, error) {
	if n <= 0 {
		return nil, errors.New("backlog: want a number of claims > 0")
	}
	if limit <= 0 {
		limit = DefaultBacklogLimit
	}
	target := "redis " + redactRedis(redisURL)
	var notes []string
	if redisURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("backlog: embedded redis: %w", err)
		}
		defer m.Close()
		redisURL = "redis://" + m.Addr()
		target = "an embedded miniredis (pass --redis for a real Redis)"
		notes = append(notes, "the embedded miniredis is far slower than a real Redis: figures are not comparable")
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("backlog: --redis: %w", err)
	}
	cfg := outbox.Config{Retention: 10 * time.Minute, Consumer: "loadtest-" + randomHex(4),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	opt.PoolSize = max(cfg.PoolSize(), backlogFillers)
	opt.ReadTimeout = 5 * time.Second // longer than the sender's blocking reads
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := outboxFree(ctx, rdb); err != nil {
		return nil, err
	}
	r := newReport("backlog", fmt.Sprintf("backlog: %d claims pre-filled, then drained by one outbox sender (at most %s)", n, limit), target)
	r.Notes = notes

	// The receiver: 204 at once.
	var got atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go recv.Serve(ln)
	defer recv.Close()

	// Fill.
	b := &Backlog{Claims: n}
	var filled atomic.Int64
	fillStart := time.Now()
	stopLine := prog.start(func() string {
		return fmt.Sprintf("backlog fill %s %d/%d", bar(float64(filled.Load())/float64(n)), filled.Load(), n)
	})
	if err := fill(ctx, rdb, n, &filled); err != nil {
		stopLine()
		return nil, err
	}
	stopLine()
	b.FillSeconds = time.Since(fillStart).Seconds()
	b.FillPerSec = float64(n) / b.FillSeconds

	// Drain.
	text, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	cfg.Secret, _ = webhook.ParseSecret(text)
	cfg.URL = "http://" + ln.Addr().String() + "/"
	s := outbox.NewSender(rdb, cfg)
	b.Workers = outbox.DefaultWorkers
	runCtx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		_ = s.Run(runCtx)
	}()
	stopLine = prog.start(func() string {
		el := time.Since(start).Seconds()
		return fmt.Sprintf("backlog drain %s %d/%d delivered (%.0f/s)", bar(float64(got.Load())/float64(n)), got.Load(), n,
			float64(got.Load())/max(el, 1e-9))
	})
	deadline := start.Add(limit)
	for {
		if got.Load() >= int64(n) {
			if left, err := outboxLen(ctx, rdb); err == nil && left == 0 {
				b.Drained = true
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	stopLine()
	stopSender()
	<-done
	b.Delivered, b.DrainSeconds = got.Load(), took.Seconds()
	b.PerSec = float64(b.Delivered) / b.DrainSeconds
	forgetConsumer(context.WithoutCancel(ctx), rdb, cfg.Consumer)
	r.Backlog = b
	if !b.Drained {
		r.Notes = append(r.Notes, fmt.Sprintf("stopped after %s with %d of %d delivered", took.Round(time.Millisecond), b.Delivered, n))
	}
	return r, nil
}

// outboxFree refuses an outbox in use.
func outboxFree(ctx context.Context, rdb *redis.Client) error {
	left, err := outboxLen(ctx, rdb)
	if err != nil {
		return fmt.Errorf("backlog: redis: %w", err)
	}
	if left > 0 {
		return fmt.Errorf("backlog: the outbox in this Redis holds %d claims: point --backlog at a Redis of its own (e.g. another database, redis://host:port/15)", left)
	}
	for n := range shard.Count {
		cs, err := rdb.XInfoConsumers(ctx, shard.Outbox(n), shard.Group).Result()
		if err != nil {
			continue // no stream, no group, or a Redis without XINFO: no sender
		}
		for _, c := range cs {
			if c.Idle < time.Minute {
				return fmt.Errorf("backlog: an outbox sender (%s) is reading this Redis: a running server would deliver the fake claims; use a Redis of its own (e.g. redis://host:port/15)", c.Name)
			}
		}
	}
	return nil
}

func outboxLen(ctx context.Context, rdb *redis.Client) (int64, error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.IntCmd, shard.Count)
	for n := range shard.Count {
		cmds[n] = pipe.XLen(ctx, shard.Outbox(n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var total int64
	for _, c := range cmds {
		total += c.Val()
	}
	return total, nil
}

func forgetConsumer(ctx context.Context, rdb *redis.Client, name string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for n := range shard.Count {
		rdb.XGroupDelConsumer(ctx, shard.Outbox(n), shard.Group, name)
	}
}

// fill enqueues n claims with outbox.Enqueue, from backlogFillers
// goroutines.
func fill(ctx context.Context, rdb *redis.Client, n int, filled *atomic.Int64) error {
	now := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	prefix := "lt-backlog-" + randomHex(3) + "-"
	for w := range min(backlogFillers, n) {
		wg.Go(func() {
			rng := rngFor(uint64(now.UnixNano()), w)
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					return
				}
				user := prefix + fmt.Sprint(i)
				var rnd [5]byte
				_, _ = rand.Read(rnd[:])
				id := shard.NewClaimID(shard.Of(user), rnd[:])
				ev := webhook.NewEvent(webhook.Claim{ClaimID: id, UserID: user, Locale: "ko",
					Flow: webhook.Flow{ID: "damage-1015", Version: "loadtest"}, SubmittedAt: now, Answers: ClaimAnswers(rng)})
				body, err := json.Marshal(ev)
				if err == nil {
					_, err = outbox.Enqueue(ctx, rdb, id, body, now)
				}
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				filled.Add(1)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("backlog: %w", first)
	}
	return ctx.Err()
}

// ClaimAnswers are the answers of one filed damage-1015 claim, as the
// server keeps them: the Persona's typing normalised by the server's own
// validators, and only the keys its path asks.
func ClaimAnswers(rng *mrand.Rand) map[string]any {
	p := NewPersona(rng, 0)
	p.reporter = p.pick(reporterShares)
	damage := p.pick(damageShares)
	services := []string{"messenger", "mail", "taxi", "pay", "webtoon", "music", "emoticon", "gift", "shopping", "tv", "other"}
	service := p.one(services)
	a := map[string]any{"privacy_consent": true, "reporter_type": p.reporter, "service": service, "damage_type": damage}
	switch {
	case damage == "non_monetary":
		a["inquiry_type"] = p.one([]string{"inquiry", "opinion", "complaint", "encouragement"})
	case damage == "paid" && strings.Contains(" gift shopping emoticon webtoon tv music ", " "+service+" "):
		a["still_file"] = true
	}
	if p.reporter != "general" {
		a["business_name"] = p.shopName()
		a["business_number"], _ = validate.BusinessNumber(p.businessNumber(false))
	}
	if damage == "free_monetary" || (damage == "paid" && p.reporter != "general") {
		v, _ := validate.Amount(p.amount())
		a["loss_amount"] = v
		if p.reporter == "small_business" {
			switch {
			case v <= 300000:
				a["support_tier"] = "tier_30k"
			case v <= 500000:
				a["support_tier"] = "tier_50k"
			default:
				a["support_tier"] = "evidence_review"
			}
		}
	}
	a["email"], _ = validate.Email(p.email())
	a["phone"], _ = validate.Phone(p.phone())
	a["title"] = p.one(titles)
	a["content"] = p.content()
	return a
}
