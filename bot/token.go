package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/claimbot/claimbot/internal/token"
)

func init() {
	register("token", "mint a banner token, as the messenger backend would", mintToken)
}

func mintToken(args []string) error {
	fs := newFlags("token", "--user U [--flow F] [--lang en] [--ttl 30m] [--token-secret S]")
	user := fs.String("user", "", "the messenger user id (required)")
	flowID := fs.String("flow", "", "flow id (default: the server's default flow)")
	lang := fs.String("lang", "", "ko (default) or en")
	ttl := fs.Duration("ttl", 30*time.Minute, "how long the token is valid")
	secret := envFlag(fs, "token-secret", "CLAIMBOT_BANNER_SECRET", "the banner `secret` (CLAIMBOT_BANNER_SECRET)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *user == "":
		return errors.New("token: --user is required")
	case *secret == "":
		return errors.New("token: no secret: pass --token-secret or set CLAIMBOT_BANNER_SECRET")
	case *lang != "" && *lang != "ko" && *lang != "en":
		return errors.New("token: --lang is ko or en")
	}
	t, err := token.Mint([]byte(*secret), *user, *flowID, *lang, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(t)
	return nil
}
