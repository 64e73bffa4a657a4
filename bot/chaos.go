package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/chaos"
	"github.com/claimbot/claimbot/internal/loadtest"
)

// chaosOptions are the flags of loadtest --chaos.
type chaosOptions struct {
	conversations int
	refuse        time.Duration
	dir           string
	jsonOut       string
	quiet         bool
	seed          uint64
	flows         string
	locales       string
}

// runChaos is `claimbot loadtest --chaos`: see package chaos. It fails
// (exit 1) when a claim was lost, doubled or delivered under two ids.
func runChaos(ctx context.Context, o chaosOptions) error {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "claimbot-chaos-")
		if err != nil {
			return err
		}
		dir = d
	}
	var done, total atomic.Int64
	var prog *loadtest.Progress
	if !o.quiet {
		prog = loadtest.NewProgress(os.Stderr)
	}
	start := time.Now()
	stop := prog.Show(func() string {
		t := max(total.Load(), 1)
		return fmt.Sprintf("chaos %s %d/%d conversations  %v", loadtest.Bar(float64(done.Load())/float64(t)), done.Load(), t, time.Since(start).Round(time.Second))
	})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The run's own probe keeps dialling the killed master until its
	// replica takes over: that is the fault, not news.
	redis.SetLogger(quietRedis{})
	rep, err := chaos.Run(ctx, dir, chaos.Options{
		Conversations: o.conversations, RefuseFor: o.refuse, Seed: o.seed, Flows: o.flows, Locales: o.locales, Logger: log,
		Progress: func(d, t int) { done.Store(int64(d)); total.Store(int64(t)) },
	})
	stop()
	if rep == nil {
		return fmt.Errorf("loadtest --chaos: %w (logs in %s)", err, dir)
	}
	rep.Write(os.Stdout)
	fmt.Printf("  logs in %s\n", dir)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if werr := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("loadtest --chaos: %w", err)
	}
	if !rep.OK() {
		return errors.New("loadtest --chaos: claims were lost, doubled or unfinished")
	}
	return nil
}

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
