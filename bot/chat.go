package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/claimbot/claimbot/internal/convo"
	"github.com/claimbot/claimbot/internal/kakao"
)

func init() {
	register("chat", "chat with the bot in the terminal (/attach FILE sends a file); --save writes the conversation as a test script", runChat)
}

func runChat(args []string) error {
	fs := newFlags("chat", "[--url ws://host/ws] [--token-secret S] [--redis URL | --cluster URL] [--lang en] [--flow F] [--save FILE.convo.yaml] [--flows DIR] [--locales DIR] | --kakao http://host/kakao/skill [--skill-key K] [--user ID] [--lang en]")
	redisSettings := redisFlags(fs, "for the in-process run's sessions and outbox (unset: an embedded Redis; never a server's)")
	url := fs.String("url", "", "chat with a server's WebSocket (ws://host/ws) instead of in-process")
	tokenSecret := envFlag(fs, "token-secret", "CLAIMBOT_BANNER_SECRET", "with --url: mint a banner token with this `secret` (CLAIMBOT_BANNER_SECRET); unset: dev mode's ?user=")
	kakaoURL := fs.String("kakao", "", "chat through a skill endpoint (http://host/kakao/skill) as the messenger's chatbot builder would")
	skillKey := envFlag(fs, "skill-key", "CLAIMBOT_KAKAO_SKILL_KEY", "with --kakao: the X-Claimbot-Skill-Key `value` (CLAIMBOT_KAKAO_SKILL_KEY)")
	user := fs.String("user", "", "with --kakao: the builder's user id (default: a new one)")
	lang := fs.String("lang", "", "ko (default) or en")
	flowID := fs.String("flow", "", "flow id (default: the default flow)")
	save := fs.String("save", "", "write the conversation to this *.convo.yaml file")
	flowsDir := fs.String("flows", env("CLAIMBOT_FLOWS", "flows"), "folder of flow files (CLAIMBOT_FLOWS)")
	localesDir := fs.String("locales", env("CLAIMBOT_LOCALES", "locales"), "folder of message files (CLAIMBOT_LOCALES)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errSilent
	}
	if *lang != "" && *lang != "ko" && *lang != "en" {
		return fmt.Errorf("chat: --lang is ko or en")
	}
	if *kakaoURL != "" {
		if *url != "" || *save != "" || *flowID != "" {
			return fmt.Errorf("chat: --kakao goes without --url, --save and --flow (the endpoint serves its default flow)")
		}
		if *user == "" {
			*user = fmt.Sprintf("chat-%d", time.Now().UnixNano())
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		c := &kakao.Client{URL: *kakaoURL, Key: *skillKey, User: *user, Lang: *lang}
		if err := c.Chat(ctx, os.Stdin, os.Stdout); err != nil {
			return fmt.Errorf("chat: %w", err)
		}
		return nil
	}
	var backend convo.Backend
	if *url != "" {
		r, err := convo.NewRemote(convo.RemoteOptions{URL: *url, TokenSecret: *tokenSecret})
		if err != nil {
			return fmt.Errorf("chat: %w", err)
		}
		backend = r
	} else {
		rs := redisSettings()
		p, err := convo.NewInProcess(convo.InProcessOptions{Flows: *flowsDir, Locales: *localesDir,
			DefaultFlow: env("CLAIMBOT_DEFAULT_FLOW", "damage-1015"), RedisURL: rs.URL, ClusterURL: rs.ClusterURL})
		if err != nil {
			return fmt.Errorf("chat: %w", err)
		}
		backend = p
	}
	defer backend.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := convo.Chat(ctx, backend, os.Stdin, os.Stdout, convo.ChatOptions{Flow: *flowID, Lang: *lang, Save: *save}); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}
