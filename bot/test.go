package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/claimbot/claimbot/internal/convo"
)

func init() {
	register("test", "run scripted conversations (*.convo.yaml), in-process or against a server", runTest)
}

func runTest(args []string) error {
	fs := newFlags("test", "[--url ws://host/ws] [--token-secret S] [--redis URL | --cluster URL] [--webhook-listen ADDR --webhook-secret S] [--kakao http://host/kakao/skill [--skill-key K]] [--run REGEX] [--coverage] [--junit FILE] [--flows DIR] [--locales DIR] [PATH…]")
	redisSettings := redisFlags(fs, "for the in-process run's sessions and outbox (unset: an embedded Redis; never a server's)")
	url := fs.String("url", "", "run against a server's WebSocket (ws://host/ws) instead of in-process")
	tokenSecret := envFlag(fs, "token-secret", "CLAIMBOT_BANNER_SECRET", "with --url: mint banner tokens with this `secret` (CLAIMBOT_BANNER_SECRET); unset: dev mode's ?user=")
	webhookListen := fs.String("webhook-listen", "", "with --url: receive the server's claim webhooks on this address, to check claim:")
	webhookSecret := envFlag(fs, "webhook-secret", "CLAIMBOT_WEBHOOK_SECRET", "with --webhook-listen: the server's whsec_ signing `secret` (CLAIMBOT_WEBHOOK_SECRET)")
	kakaoURL := fs.String("kakao", "", "run through a skill endpoint (http://host/kakao/skill) as the messenger's chatbot builder would; claims are not checked")
	skillKey := envFlag(fs, "skill-key", "CLAIMBOT_KAKAO_SKILL_KEY", "with --kakao: the X-Claimbot-Skill-Key `value` (CLAIMBOT_KAKAO_SKILL_KEY)")
	runRe := fs.String("run", "", "run only the scripts whose name matches this regular expression")
	coverage := fs.Bool("coverage", false, "report the flow states and transitions the scripts visit (in-process)")
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file")
	flowsDir := fs.String("flows", env("CLAIMBOT_FLOWS", "flows"), "folder of flow files (CLAIMBOT_FLOWS)")
	localesDir := fs.String("locales", env("CLAIMBOT_LOCALES", "locales"), "folder of message files (CLAIMBOT_LOCALES)")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	var filter *regexp.Regexp
	if *runRe != "" {
		if filter, err = regexp.Compile(*runRe); err != nil {
			return fmt.Errorf("test: --run: %w", err)
		}
	}
	if *kakaoURL != "" && *url != "" {
		return errors.New("test: --kakao or --url, not both")
	}
	if *url == "" && (*webhookListen != "") {
		return errors.New("test: --webhook-listen needs --url (in-process runs check claims by themselves)")
	}
	if len(paths) == 0 {
		paths = []string{*flowsDir}
	}
	files, err := convo.Find(paths)
	if err != nil {
		return fmt.Errorf("test: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("test: no *%s files under %s", convo.Suffix, strings.Join(paths, ", "))
	}

	var scripts []*convo.Script
	var broken []convo.Result
	for _, f := range files {
		s, err := convo.Parse(f)
		if err != nil {
			broken = append(broken, convo.Broken(f, err))
			continue
		}
		scripts = append(scripts, s)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var backend convo.Backend
	var cov *convo.Coverage
	if *kakaoURL != "" {
		k, err := convo.NewKakao(*kakaoURL, *skillKey, env("CLAIMBOT_DEFAULT_FLOW", "damage-1015"))
		if err != nil {
			return fmt.Errorf("test: %w", err)
		}
		backend = k
	} else if *url != "" {
		r, err := convo.NewRemote(convo.RemoteOptions{URL: *url, TokenSecret: *tokenSecret,
			WebhookListen: *webhookListen, WebhookSecret: *webhookSecret})
		if err != nil {
			return fmt.Errorf("test: %w", err)
		}
		backend = r
	} else {
		rs := redisSettings()
		p, err := convo.NewInProcess(convo.InProcessOptions{Flows: *flowsDir, Locales: *localesDir,
			DefaultFlow: env("CLAIMBOT_DEFAULT_FLOW", "damage-1015"), RedisURL: rs.URL, ClusterURL: rs.ClusterURL})
		if err != nil {
			return fmt.Errorf("test: %w", err)
		}
		backend = p
		if *coverage {
			cov = convo.NewCoverage(p.Engine().Flows())
		}
	}
	defer backend.Close()

	for _, b := range broken {
		convo.WriteResult(os.Stdout, b)
	}
	runner := &convo.Runner{Backend: backend, Filter: filter, Coverage: cov}
	results := runner.Run(ctx, scripts, func(r convo.Result) { convo.WriteResult(os.Stdout, r) })
	if filter != nil && len(results) == 0 {
		fmt.Fprintf(os.Stderr, "claimbot test: no script name matches --run %q\n", *runRe)
	}
	results = append(broken, results...)
	if cov != nil {
		convo.WriteCoverage(os.Stdout, cov.Report())
	} else if *coverage {
		fmt.Println("coverage: only in-process runs see the flow's transitions (drop --url)")
	}
	convo.WriteSummary(os.Stdout, results)
	if *junit != "" {
		if err := convo.WriteJUnit(*junit, results, time.Since(start)); err != nil {
			return err
		}
	}
	if _, failed := convo.Summary(results); failed > 0 || len(results) == 0 {
		return errSilent
	}
	return nil
}
