package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
)

// Dev mode's /dev/flows shows each loaded flow's diagram with its live
// counts, and what lint finds in the files on disk now: here a file saved
// with a typo since the server loaded the flows. Seen in a real browser
// (screenshot in $CLAIMBOT_ARTIFACTS).
func TestDevFlowsPage(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "damage-1015.yaml"), src, 0o644)
	cfg := &config.Config{
		Addr: "127.0.0.1:0", RedisURL: redistest.Start(t).URL, Flows: dir, Locales: "../../locales",
		DefaultFlow: "damage-1015", SessionTTL: time.Hour, Retention: time.Hour,
		RetrySchedule: []time.Duration{10 * time.Millisecond}, LogLevel: slog.LevelInfo,
	}
	r, err := server.Start(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	c := dialURL(t, "ws://"+r.Addr+"/ws?user=dev-flows", nil)
	c.choose("yes")
	c.choose("general")
	broken := strings.Replace(string(src), "    next: phone\n", "    next: phnoe\n", 1)
	os.WriteFile(filepath.Join(dir, "damage-1015.yaml"), []byte(broken), 0o644)

	status, body := httpGet(t, r.URL()+"/dev/flows")
	if status != http.StatusOK {
		t.Fatalf("/dev/flows: HTTP %d", status)
	}
	for _, want := range []string{"<svg", `id="damage-1015"`, "reached 1 · stopped 0", "reached 0 · stopped 0",
		`state &#34;email&#34;: next &#34;phnoe&#34;: no such state`, "<td>service</td><td>1</td><td>0</td><td>0</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("/dev/flows lacks %q", want)
		}
	}

	b := newBrowser(t, "dev-flows")
	b.do(chromedp.Navigate(r.URL() + "/dev/flows"))
	b.waitFor("the diagram", "document.querySelector('.diagram svg g.node')")
	if n := eval[int](b, "document.querySelectorAll('.diagram svg g.node').length"); n < 20 {
		t.Errorf("the diagram shows %d states", n)
	}
	b.shot("flows")
}
