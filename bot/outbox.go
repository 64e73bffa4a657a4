package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/redisconn"
)

func init() {
	register("outbox", "list claims waiting for delivery and dead letters; retry or purge them", outboxCmd)
}

func outboxCmd(args []string) error {
	fs := newFlags("outbox", "[--redis URL | --cluster URL] [list | retry CLAIM_ID | retry --all-dead | purge CLAIM_ID]")
	redisSettings := redisFlags(fs, "(for the embedded default, the URL the server printed at start)")
	allDead := fs.Bool("all-dead", false, "with retry: every dead letter")
	// Flags may follow the action: claimbot outbox retry --all-dead.
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	rs := redisSettings()
	if rs.URL == "" && rs.ClusterURL == "" {
		return errors.New("outbox: no Redis: pass --redis URL or --cluster URL, or set REDIS_URL or REDIS_CLUSTER_URL (the server prints the embedded Redis's URL at start)")
	}
	rdb, err := redisconn.Open(rs, redisconn.Background, 0)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	action := "list"
	if len(rest) > 0 {
		action = rest[0]
	}
	switch {
	case action == "list" && len(rest) <= 1:
		pending, dead, err := outbox.List(ctx, rdb)
		if err != nil {
			return err
		}
		outbox.WriteTable(os.Stdout, pending, dead)
		return nil
	case action == "retry" && *allDead && len(rest) == 1:
		n, err := outbox.RetryAllDead(ctx, rdb)
		if err != nil {
			return err
		}
		fmt.Printf("%d dead letters queued again\n", n)
		return nil
	case action == "retry" && len(rest) == 2:
		err := outbox.Retry(ctx, rdb, rest[1])
		if errors.Is(err, outbox.ErrInFlight) {
			fmt.Printf("%s is being delivered now: left alone (if this attempt fails, retry it again)\n", rest[1])
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Printf("%s queued again\n", rest[1])
		return nil
	case action == "purge" && len(rest) == 2:
		if err := outbox.Purge(ctx, rdb, rest[1]); err != nil {
			return err
		}
		fmt.Printf("%s purged\n", rest[1])
		return nil
	}
	fs.Usage()
	return errSilent
}
