package convo

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/webhook"
)

const (
	flowsDir   = "../../flows"
	localesDir = "../../locales"
)

// newInProcess starts an in-process backend over the shipped flows.
func newInProcess(t testing.TB) *InProcess {
	t.Helper()
	p, err := NewInProcess(InProcessOptions{Flows: flowsDir, Locales: localesDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// shippedScripts parses every flows/*.convo.yaml, as `claimbot test` does
// by default.
func shippedScripts(t testing.TB) []*Script {
	t.Helper()
	files, err := Find([]string{flowsDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts under flows/")
	}
	var out []*Script
	for _, f := range files {
		s, err := Parse(f)
		if err != nil {
			t.Fatalf("%v", err)
		}
		out = append(out, s)
	}
	return out
}

// report fails a subtest per failed script, with the report claimbot test
// would print.
func report(t *testing.T, results []Result) {
	t.Helper()
	for _, r := range results {
		t.Run(filepath.Base(r.Script.File), func(t *testing.T) {
			var b bytes.Buffer
			WriteResult(&b, r)
			if !r.Passed() {
				t.Error(b.String())
			}
			if r.ClaimNotChecked {
				t.Error("claim not checked")
			}
		})
	}
}

// TestSuite runs the shipped scripts in-process, as `claimbot test` does,
// and requires them to visit every state of the default flow.
func TestSuite(t *testing.T) {
	p := newInProcess(t)
	cov := NewCoverage(p.Engine().Flows())
	r := &Runner{Backend: p, Coverage: cov}
	results := r.Run(context.Background(), shippedScripts(t), nil)
	report(t, results)

	var b bytes.Buffer
	WriteCoverage(&b, cov.Report())
	t.Log("\n" + b.String())
	found := false
	for _, c := range cov.Report() {
		if c.Flow != "damage-1015" {
			continue
		}
		found = true
		if c.StatesVisited != c.States {
			t.Errorf("the scripts visit %d of %d states of damage-1015; never: %v", c.StatesVisited, c.States, c.UnvisitedStates)
		}
		if c.EdgesTaken != c.Edges {
			t.Errorf("the scripts take %d of %d transitions of damage-1015; never: %v", c.EdgesTaken, c.Edges, c.UntakenEdges)
		}
	}
	if !found {
		t.Error("no script runs damage-1015")
	}
}

// TestRemote runs the shipped scripts against a running server over its
// WebSocket, with claims posted to the runner's webhook receiver.
func TestRemote(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	rs := redistest.Start(t)
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	startServer := func(t *testing.T, webhookAddr, bannerSecret string) *server.Running {
		cfg := &config.Config{
			Addr: "127.0.0.1:0", RedisURL: rs.URL, Flows: flowsDir, Locales: localesDir,
			DefaultFlow: "damage-1015", BannerSecret: bannerSecret,
			SessionTTL: time.Hour, Retention: time.Hour,
			RetrySchedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
			WebhookURL:    "http://" + webhookAddr + "/", WebhookSecret: secret,
			Uploads: t.TempDir(), PublicURL: "http://claimbot.test",
		}
		srv, err := server.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop() })
		return srv
	}

	listen := func(t *testing.T) net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}

	t.Run("dev", func(t *testing.T) {
		ln := listen(t)
		srv := startServer(t, ln.Addr().String(), "")
		remote, err := NewRemote(RemoteOptions{URL: "ws://" + srv.Addr + "/ws", WebhookListener: ln, WebhookSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { remote.Close() })
		results := (&Runner{Backend: remote}).Run(context.Background(), withUploads(t, srv.Addr, shippedScripts(t)), nil)
		report(t, results)
	})

	t.Run("token", func(t *testing.T) {
		const banner = "test-banner-secret-0123456789abcdef"
		ln := listen(t)
		srv := startServer(t, ln.Addr().String(), banner)
		remote, err := NewRemote(RemoteOptions{URL: "http://" + srv.Addr, TokenSecret: banner, WebhookListener: ln, WebhookSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { remote.Close() })
		var scripts []*Script
		for _, s := range shippedScripts(t) {
			if s.Lang == "en" || filepath.Base(s.File) == "damage-1015.contract-example.convo.yaml" {
				scripts = append(scripts, s)
			}
		}
		report(t, (&Runner{Backend: remote}).Run(context.Background(), scripts, nil))

		// Without a receiver, claims are reported as not checked.
		bare, err := NewRemote(RemoteOptions{URL: "ws://" + srv.Addr + "/ws", TokenSecret: banner})
		if err != nil {
			t.Fatal(err)
		}
		res := (&Runner{Backend: bare}).Run(context.Background(), scripts[:1], nil)
		if !res[0].Passed() || !res[0].ClaimNotChecked {
			t.Errorf("without a receiver: passed %v, claim not checked %v", res[0].Passed(), res[0].ClaimNotChecked)
		}
		var b bytes.Buffer
		WriteResult(&b, res[0])
		if !bytes.Contains(b.Bytes(), []byte("claim: not checked")) {
			t.Errorf("report lacks \"claim: not checked\":\n%s", b.String())
		}

		// A wrong banner secret is refused before the upgrade.
		wrong, _ := NewRemote(RemoteOptions{URL: "ws://" + srv.Addr + "/ws", TokenSecret: "wrong"})
		res = (&Runner{Backend: wrong}).Run(context.Background(), scripts[:1], nil)
		if res[0].Passed() || res[0].Failure.Err == nil {
			t.Errorf("a wrong token secret passed: %+v", res[0].Failure)
		}
	})
}

// withUploads leaves out the scripts that attach files when the server
// does not speak tus at /uploads/ yet (its wiring of uploads), saying so.
func withUploads(t *testing.T, addr string, scripts []*Script) []*Script {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, "http://"+addr+engine.UploadPath, nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		if res.Header.Get("Tus-Version") != "" {
			return scripts
		}
	}
	var out []*Script
	for _, s := range scripts {
		if slices.ContainsFunc(s.Steps, func(st Step) bool { return st.Kind == Attach }) {
			t.Logf("skipped %s: the server serves no uploads", filepath.Base(s.File))
			continue
		}
		out = append(out, s)
	}
	return out
}

func TestWebSocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:8080/ws":  "ws://127.0.0.1:8080/ws",
		"http://127.0.0.1:8080":   "ws://127.0.0.1:8080/ws",
		"https://chat.example/":   "wss://chat.example/ws",
		"wss://chat.example/x/ws": "wss://chat.example/x/ws",
	} {
		u, err := WebSocketURL(in)
		if err != nil || u.String() != want {
			t.Errorf("WebSocketURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x/ws", "ws://"} {
		if _, err := WebSocketURL(bad); err == nil {
			t.Errorf("WebSocketURL(%q) accepted", bad)
		}
	}
}
