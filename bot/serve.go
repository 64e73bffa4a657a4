package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/server"
)

func init() {
	register("serve", "run the chat server (the default); settings come from the environment", serve)
}

func serve(args []string) error {
	fs := newFlags("serve", "[flags]")
	addr := fs.String("addr", "", "listen address (CLAIMBOT_ADDR)")
	opsAddr := fs.String("ops-addr", "", "listen address of /metrics, /healthz and /readyz; unset: on --addr (CLAIMBOT_OPS_ADDR)")
	flows := fs.String("flows", "", "folder of flow files (CLAIMBOT_FLOWS)")
	locales := fs.String("locales", "", "folder of message files (CLAIMBOT_LOCALES)")
	redisURL := fs.String("redis", "", "Redis URL (REDIS_URL)")
	uploads := fs.String("uploads", "", "where evidence files are kept: a folder or s3://bucket[/prefix]; dev mode: a folder under the temp dir (CLAIMBOT_UPLOADS)")
	publicURL := fs.String("public-url", "", "the server's public base URL, for evidence links; dev mode: http:// + the listen address (CLAIMBOT_PUBLIC_URL)")
	prof := addProfileFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	getenv := func(k string) string {
		over := map[string]string{"CLAIMBOT_ADDR": *addr, "CLAIMBOT_OPS_ADDR": *opsAddr, "CLAIMBOT_FLOWS": *flows, "CLAIMBOT_LOCALES": *locales, "REDIS_URL": *redisURL,
			"CLAIMBOT_UPLOADS": *uploads, "CLAIMBOT_PUBLIC_URL": *publicURL}
		if v := over[k]; v != "" {
			return v
		}
		return os.Getenv(k)
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})
	if !cfg.Dev() {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel})
	}
	log := slog.New(h)
	stopProfiles, err := prof.start()
	defer stopProfiles()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := server.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return r.Wait()
}
