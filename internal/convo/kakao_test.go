package convo

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/webhook"
)

// TestKakao runs every shipped script through the skill endpoint, as
// claimbot test --kakao does: the same flows answer the same way in the
// messenger's chatbot builder, numbered choices and handoffs included.
func TestKakao(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	rs := redistest.Start(t)
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	const key = "kakao-skill-key-for-the-suite"
	cfg := &config.Config{
		Addr: "127.0.0.1:0", RedisURL: rs.URL, Flows: flowsDir, Locales: localesDir,
		DefaultFlow: "damage-1015", BannerSecret: "test-banner-secret-0123456789abcdef",
		SessionTTL: time.Hour, Retention: time.Hour, RetrySchedule: []time.Duration{time.Hour},
		WebhookURL: "http://127.0.0.1:1/", WebhookSecret: secret, KakaoSkillKey: key,
		Uploads: t.TempDir(), PublicURL: "http://claimbot.test",
	}
	srv, err := server.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	k, err := NewKakao("http://"+srv.Addr+"/kakao/skill", key, "damage-1015")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range (&Runner{Backend: k}).Run(context.Background(), shippedScripts(t), nil) {
		t.Run(filepath.Base(r.Script.File), func(t *testing.T) {
			if !r.Passed() {
				var b bytes.Buffer
				WriteResult(&b, r)
				t.Error(b.String())
			}
		})
	}
	wrong, _ := NewKakao("http://"+srv.Addr+"/kakao/skill", "wrong", "damage-1015")
	if res := (&Runner{Backend: wrong}).Run(context.Background(), shippedScripts(t)[:1], nil); res[0].Passed() {
		t.Error("a wrong skill key passed")
	}
}
