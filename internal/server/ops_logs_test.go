package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/privacy"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/webhook"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

// lockedBuffer is a log destination the test reads while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Issue 18 item 5: credentials in the webhook URL, in its user info or its
// query, never reach the log; its scheme, host and path do.
func TestOpsStartLogHidesURLCredentials(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t)
	recv := webhooktest.NewReceiver(t, secret)
	host := strings.TrimPrefix(recv.URL(), "http://")
	hook := "http://hook-user:hook-pass-7f3a@" + host + "/claims?api_key=SUPERSECRET-91c2&x=1#frag-secret"
	cfg := &config.Config{
		Addr: "127.0.0.1:0", RedisURL: rs.URL + "/0?client_name=probe-secret-55", Flows: "../../flows", Locales: "../../locales",
		DefaultFlow: "damage-1015", BannerSecret: bannerSecret, WebhookURL: hook, WebhookSecret: secret,
		SessionTTL: time.Hour, Retention: time.Hour, RetrySchedule: []time.Duration{10 * time.Millisecond}, LogLevel: slog.LevelDebug,
		Uploads: t.TempDir(), PublicURL: "http://claimbot.test",
	}
	var logs lockedBuffer
	r, err := server.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	out := logs.String()
	for _, secret := range []string{"hook-user", "hook-pass-7f3a", "SUPERSECRET-91c2", "api_key", "frag-secret", "probe-secret-55"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q:\n%s", secret, out)
		}
	}
	if want := `"webhook":"http://` + host + `/claims"`; !strings.Contains(out, want) {
		t.Errorf("the start line lacks %s:\n%s", want, out)
	}
}

// Issue 18 item 4: a session's log lines carry a keyed pseudonym (HMAC
// under a key derived from the banner secret, 16 hex characters), not the
// user id's bare hash, which anyone can compute from the id alone.
func TestOpsLogPseudonymIsKeyed(t *testing.T) {
	e := startEnv(t)
	user := "8120345-" + strings.ReplaceAll(t.Name(), "/", "-")
	c := e.dial(user)
	c.toSummary("결제 오류")
	if r := c.choose("submit"); !r.Done || r.ClaimID == "" {
		t.Fatalf("submit: %+v", r)
	}
	want := privacy.NewPseudonymizer([]byte(bannerSecret)).UserID(user + "/damage-1015")
	sum := sha256.Sum256([]byte(user + "/damage-1015"))
	bare := hex.EncodeToString(sum[:])[:10]
	var line string
	deadline := time.Now().Add(5 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		logSink.Lock()
		for l := range strings.SplitSeq(logSink.String(), "\n") {
			if strings.Contains(l, `"msg":"claim filed"`) && (strings.Contains(l, want) || strings.Contains(l, bare)) {
				line = l
			}
		}
		logSink.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(line, `"session":"`+want+`"`) {
		t.Fatalf("the claim's log line does not carry the keyed pseudonym %s: %q", want, line)
	}
	if len(want) < 16 || strings.Contains(line, user) || strings.Contains(line, bare) {
		t.Errorf("pseudonym %q: want 16 hex characters or more, neither the id nor its bare hash %s: %q", want, bare, line)
	}
}
