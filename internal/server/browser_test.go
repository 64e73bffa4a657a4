package server_test

// Browser tests of the web chat page: a real Chromium, driven with
// chromedp, talks to a real server, as a phone behind the banner would.
// They skip when no Chromium is installed, unless CLAIMBOT_REQUIRE_REAL=1.
// Screenshots (390x844, a phone) go to $CLAIMBOT_ARTIFACTS when set.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/webhook"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

// findChromium returns the browser to drive: /usr/bin/chromium, or one on
// the PATH. Without one the test is skipped, or fails when
// CLAIMBOT_REQUIRE_REAL=1 (CI must not skip).
func findChromium(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if redistest.RequireReal() {
		t.Fatal("browser: no Chromium found (/usr/bin/chromium, chromium, chromium-browser, google-chrome) and CLAIMBOT_REQUIRE_REAL=1")
	}
	t.Skip("browser: no Chromium installed")
	return ""
}

// browser is one headless Chromium tab with a phone's viewport.
type browser struct {
	t       *testing.T
	ctx     context.Context
	name    string // short test name, for screenshots
	dir     string // where screenshots go
	shots   int
	dialogs atomic.Int32 // JavaScript dialogs (alert…) the page opened
}

const (
	phoneWidth, phoneHeight = 390, 844
	browserTestTimeout      = 30 * time.Second
)

func newBrowser(t *testing.T, name string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := findChromium(t)
	dir := os.Getenv("CLAIMBOT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(phoneWidth, phoneHeight),
	)
	opts = append(opts, extra...) // a fresh, temporary --user-data-dir: chromedp makes one and removes it
	tctx, cancelTimeout := context.WithTimeout(context.Background(), browserTestTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelTimeout() })

	b := &browser{t: t, ctx: ctx, name: name, dir: dir}
	b.do(chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	// An alert would block the page: count it and close it.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.dialogs.Add(1)
			t.Logf("browser: the page opened a %s dialog: %q", ev.Type, ev.Message)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failed")
		b.t.Fatalf("browser: %v", err)
	}
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.shot("failed")
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// eval evaluates a JavaScript expression whose value is JSON-encoded by the
// page and decoded into T here.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	raw := run(b, chromedp.Evaluate[string]("JSON.stringify((function(){ return "+expr+"; })())"))
	var v T
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		b.t.Fatalf("browser: %s = %s: %v", expr, raw, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is truthy.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		b.shot("failed")
		b.t.Fatalf("browser: waiting for %s (%s): %v", what, expr, err)
	}
}

// shot saves a screenshot of the viewport as browser-<test>-NN-<step>.png.
func (b *browser) shot(step string) {
	b.t.Helper()
	// Bubbles fade in: shoot what the user sees once they are in.
	chromedp.Run(b.ctx, chromedp.Poll[bool](
		"document.getAnimations().every(function (a) { return a.playState !== 'running'; })",
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(2*time.Second)))
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("browser: screenshot %s: %v", step, err)
		return
	}
	b.shots++
	name := fmt.Sprintf("browser-%s-%02d-%s.png", b.name, b.shots, step)
	if err := os.WriteFile(filepath.Join(b.dir, name), buf, 0o644); err != nil {
		b.t.Errorf("browser: screenshot: %v", err)
		return
	}
	b.t.Logf("browser: screenshot %s", filepath.Join(b.dir, name))
}

// frames is how many frames the page received.
func (b *browser) frames() int {
	b.t.Helper()
	return eval[int](b, "window.claimbot ? window.claimbot.received.length : 0")
}

// frame returns the i-th frame the page received.
func (b *browser) frame(i int) reply {
	b.t.Helper()
	return eval[reply](b, fmt.Sprintf("window.claimbot.received[%d]", i))
}

// answer runs act (a click, typing) and returns the server's one answer to it.
func (b *browser) answer(act chromedp.Action[chromedp.Void]) reply {
	b.t.Helper()
	n := b.frames()
	b.do(act)
	b.waitFor("the answer", fmt.Sprintf("window.claimbot.received.length > %d", n))
	return b.frame(n)
}

// waitGreeting waits for the first frame of a (re)opened connection and
// returns it.
func (b *browser) waitGreeting() reply {
	b.t.Helper()
	b.waitFor("the first frame", "window.claimbot && window.claimbot.received.length > 0")
	return b.frame(0)
}

// choose clicks the quick reply with that value.
func (b *browser) choose(value string) reply {
	b.t.Helper()
	return b.answer(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#choices button.choice[data-value=%q]:enabled`, value))))
}

// typeText types into the composer and presses Enter.
func (b *browser) typeText(s string) reply {
	b.t.Helper()
	return b.answer(chromedp.SendKeys(chromedp.CSS("#input:enabled"), s+"\n"))
}

// typeAndSend is typeText that taps 보내기 instead of pressing Enter.
func (b *browser) typeAndSend(s string) reply {
	b.t.Helper()
	return b.answer(chromedp.Steps(chromedp.SendKeys(chromedp.CSS("#input:enabled"), s), chromedp.Click(chromedp.ID("send"))))
}

func expectReply(t *testing.T, step string, r reply, state string) {
	t.Helper()
	if r.Type != "reply" || r.Invalid || r.State != state {
		t.Fatalf("%s: got %+v, want a valid reply at state %q", step, r, state)
	}
}

// logTexts returns the text of every bubble in #log, in order.
func (b *browser) logTexts(sel string) []string {
	b.t.Helper()
	return eval[[]string](b, fmt.Sprintf("Array.from(document.querySelectorAll(%q)).map(function(e){ return e.textContent; })", sel))
}

// noDuplicateBubbles fails when a bot message shows twice in a row in #log
// (a resumed or reconnected page must not repeat the question).
func noDuplicateBubbles(t *testing.T, texts []string) {
	t.Helper()
	seen := map[string]int{}
	for i, s := range texts {
		if j, ok := seen[s]; ok {
			t.Errorf("#log shows %q twice (bubbles %d and %d): %q", s, j, i, texts)
		}
		seen[s] = i
	}
}

func mintToken(t *testing.T, user, lang string, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := token.Mint([]byte(bannerSecret), user, "", lang, ttl, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBrowserFilesClaim files a small business's claim through the banner
// link: the token leaves the address bar, a wrong business number is shown
// as such, a reload after the token expired resumes, markup typed by the
// user stays text, and the receipt matches the webhook.
func TestBrowserFilesClaim(t *testing.T) {
	e := startEnv(t)
	b := newBrowser(t, "claim")
	// A token that lives 4 s: long enough to open the page, expired by the
	// time the conversation reaches the title.
	issued := time.Now()
	tok := mintToken(t, "browser-claim-user", "", 4*time.Second, issued)

	b.do(chromedp.Navigate("http://" + e.run.Addr + "/chat?t=" + tok))
	first := b.waitGreeting()
	expectReply(t, "greeting", first, "privacy_consent")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#choices button.choice[data-value="yes"]`)))
	if href := run(b, chromedp.Location()); strings.Contains(href, "t=") || strings.Contains(href, tok) {
		t.Errorf("the token is still in the address bar: %s", href)
	}
	if text := run(b, chromedp.TextContent(chromedp.ID("log"))); !strings.Contains(text, "개인정보") {
		t.Errorf("first question: #log = %q, want the consent text", text)
	}
	b.shot("consent")

	expectReply(t, "consent", b.choose("yes"), "reporter_type")
	expectReply(t, "reporter", b.choose("small_business"), "service")
	expectReply(t, "service typed", b.typeText("메신저"), "damage_type")
	expectReply(t, "damage", b.choose("free_monetary"), "business_name")
	expectReply(t, "business name", b.typeText("행복분식"), "business_number")

	bad := b.typeText("123-45-67890")
	if bad.Type != "reply" || !bad.Invalid || bad.State != "business_number" {
		t.Fatalf("wrong business number: got %+v, want invalid at business_number", bad)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("#log .msg.bot.invalid")))
	if n := eval[int](b, "document.querySelectorAll('#log .msg.bot.invalid').length"); n == 0 {
		t.Errorf("no .invalid bubble for a refused answer")
	}
	b.shot("invalid")

	expectReply(t, "business number", b.typeText("220-81-62517"), "loss_amount")
	expectReply(t, "amount", b.typeAndSend("25만원"), "email")
	expectReply(t, "email", b.typeText("hong@example.com"), "phone")
	expectReply(t, "phone", b.typeText("010-1234-5678"), "title")

	// The banner token expires; the cookie must carry the session on.
	if wait := time.Until(issued.Add(4*time.Second + 1100*time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	if status, _ := httpGet(t, "http://"+e.run.Addr+"/chat?t="+tok); status != http.StatusUnauthorized {
		t.Fatalf("the token should have expired by now: GET /chat?t= without a cookie = %d", status)
	}
	b.do(chromedp.Reload())
	resumed := b.waitGreeting()
	expectReply(t, "resumed", resumed, "title")
	b.do(chromedp.WaitVisible(chromedp.CSS("#log .msg.bot")))
	if text := run(b, chromedp.TextContent(chromedp.ID("log"))); !strings.Contains(text, "접수 제목") {
		t.Errorf("after the reload #log = %q, want the title question back", text)
	}
	if n := eval[int](b, "document.querySelectorAll('.card-icon').length"); n != 0 {
		t.Errorf("the reload shows the expired page")
	}
	b.shot("reloaded")

	// Markup typed by the user is text, on the page and in the claim.
	const title = `<img src=x onerror=alert(1)>`
	b.do(chromedp.Evaluate[chromedp.Void](`window.alert = function () { window.__alerted = true; }`))
	expectReply(t, "title", b.typeText(title), "content")
	const content = "10월 15일부터 주문 알림이 오지 않아 주문을 받지 못했습니다."
	sum := b.typeText(content)
	expectReply(t, "content", sum, "summary")
	if !contains(sum.Messages, title) {
		t.Errorf("summary messages %q lack the title verbatim", sum.Messages)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS(`#choices button.choice[data-value="submit"]`)))
	users := b.logTexts("#log .msg.user")
	if !containsString(users, title) {
		t.Errorf("user bubbles %q lack the title as text", users)
	}
	if bots := b.logTexts("#log .msg.bot"); !strings.Contains(strings.Join(bots, "\n"), title) {
		t.Errorf("the summary bubble does not show the title as text: %q", bots)
	}
	if n := eval[int](b, "document.querySelectorAll('#log img').length"); n != 0 {
		t.Errorf("#log has %d <img> elements: user text became markup", n)
	}
	if eval[bool](b, "window.__alerted === true") || b.dialogs.Load() != 0 {
		t.Errorf("a script ran from the user's text")
	}
	b.shot("summary")

	done := b.choose("submit")
	if done.Type != "reply" || !done.Done || done.ClaimID == "" {
		t.Fatalf("submit: got %+v, want done with a claim_id", done)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("#receipt .receipt-id")))
	if id := strings.TrimSpace(run(b, chromedp.TextContent(chromedp.CSS("#receipt .receipt-id")))); id != done.ClaimID {
		t.Errorf("#receipt shows %q, want %q", id, done.ClaimID)
	}
	b.shot("receipt")
	noDuplicateBubbles(t, b.logTexts("#log .msg.bot"))

	acc := e.recv.WaitAccepted(t, 1, 10*time.Second)
	ev, err := acc[0].Event()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.ClaimID != done.ClaimID {
		t.Errorf("webhook claim_id %q, the page showed %q", ev.Data.ClaimID, done.ClaimID)
	}
	for k, want := range map[string]any{"title": title, "content": content, "business_number": "220-81-62517",
		"reporter_type": "small_business", "service": "messenger", "damage_type": "free_monetary",
		"email": "hong@example.com", "support_tier": "tier_30k"} {
		if got := ev.Data.Answers[k]; got != want {
			t.Errorf("webhook answers[%s] = %#v, want %#v", k, got, want)
		}
	}
	if got := fmt.Sprint(ev.Data.Answers["loss_amount"]); got != "250000" {
		t.Errorf("webhook loss_amount = %s, want 250000", got)
	}
	if b.dialogs.Load() != 0 {
		t.Errorf("the page opened %d dialogs", b.dialogs.Load())
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestBrowserExpiredLink opens an expired banner link with no cookie: a
// short page in the token's language asks to open the banner again.
func TestBrowserExpiredLink(t *testing.T) {
	e := startEnv(t)
	b := newBrowser(t, "expired")
	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct{ lang, want, htmlLang string }{
		{"", "링크가 만료되었어요", "ko"},
		{"en", "This link has expired", "en"},
	} {
		tok := mintToken(t, "browser-expired-user", tc.lang, time.Minute, past)
		resp := run(b, chromedp.NavigateResponse("http://"+e.run.Addr+"/chat?t="+tok))
		if resp.Status != http.StatusUnauthorized {
			t.Errorf("lang %q: HTTP %d, want 401", tc.lang, resp.Status)
		}
		b.do(chromedp.WaitVisible(chromedp.CSS("main.card p")))
		if text := run(b, chromedp.TextContent(chromedp.CSS("main.card"))); !strings.Contains(text, tc.want) {
			t.Errorf("lang %q: the page says %q, want %q", tc.lang, text, tc.want)
		}
		if got := eval[string](b, "document.documentElement.lang"); got != tc.htmlLang {
			t.Errorf("lang %q: <html lang=%q>, want %q", tc.lang, got, tc.htmlLang)
		}
		if n := eval[int](b, "document.querySelectorAll('#log, #input').length"); n != 0 {
			t.Errorf("lang %q: the expired page shows the chat", tc.lang)
		}
		b.shot("expired-" + tc.htmlLang)
	}
}

// startDev starts a dev-mode server as `go run ./bot` does: no banner
// secret, the built-in webhook receiver.
func startDev(t *testing.T) *server.Running {
	t.Helper()
	cfg := &config.Config{
		Addr: "127.0.0.1:0", RedisURL: redistest.Start(t).URL, Flows: "../../flows", Locales: "../../locales",
		DefaultFlow: "damage-1015", SessionTTL: time.Hour, Retention: time.Hour,
		RetrySchedule: []time.Duration{10 * time.Millisecond}, LogLevel: slog.LevelInfo,
	}
	r, err := server.Start(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	if r.Dev == nil {
		t.Fatal("dev mode without the built-in receiver")
	}
	return r
}

// TestBrowserDevBanner walks the "go run ./bot, then a browser at
// localhost:8080" path: the mock messenger, its banner, a claim filed by
// clicking and typing, and the claim on /dev/claims with personal data
// masked.
func TestBrowserDevBanner(t *testing.T) {
	r := startDev(t)
	b := newBrowser(t, "dev")
	b.do(chromedp.Navigate(r.URL() + "/"))
	b.do(chromedp.WaitVisible(chromedp.ID("banner")))
	b.shot("messenger")

	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.ID("banner"))) // waits for the chat page
	if err != nil {
		t.Fatalf("click #banner: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Errorf("the banner's page: HTTP %d", resp.Status)
	}
	expectReply(t, "greeting", b.waitGreeting(), "privacy_consent")
	if href := run(b, chromedp.Location()); !strings.HasSuffix(href, "/chat") {
		t.Errorf("the banner opened %s, want /chat", href)
	}
	b.shot("chat")

	expectReply(t, "consent", b.choose("yes"), "reporter_type")
	expectReply(t, "reporter", b.typeText("일반 이용자"), "service")
	expectReply(t, "service", b.choose("pay"), "damage_type")
	expectReply(t, "damage", b.choose("paid"), "email")
	expectReply(t, "email", b.typeText("hong@example.com"), "phone")
	expectReply(t, "phone", b.typeText("010 1234 5678"), "title")
	expectReply(t, "title", b.typeText("결제가 두 번 되었어요"), "content")
	expectReply(t, "content", b.typeAndSend("10월 15일 오후에 택시비가 두 번 결제되었습니다."), "summary")
	done := b.choose("submit")
	if !done.Done || done.ClaimID == "" {
		t.Fatalf("submit: got %+v, want done with a claim_id", done)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("#receipt .receipt-id")))
	if id := strings.TrimSpace(run(b, chromedp.TextContent(chromedp.CSS("#receipt .receipt-id")))); id != done.ClaimID {
		t.Errorf("#receipt shows %q, want %q", id, done.ClaimID)
	}
	b.shot("receipt")

	deadline := time.Now().Add(10 * time.Second)
	for len(r.Dev.Claims()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b.do(chromedp.Navigate(r.URL() + "/dev/claims"))
	b.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
	text := run(b, chromedp.TextContent(chromedp.CSS("main")))
	if !strings.Contains(text, done.ClaimID) {
		t.Errorf("/dev/claims does not list %s: %q", done.ClaimID, text)
	}
	if strings.Contains(text, "hong@example.com") || strings.Contains(text, "010-1234-5678") {
		t.Errorf("/dev/claims shows personal data in full: %q", text)
	}
	if !regexp.MustCompile(`h\*\*\*@example\.com`).MatchString(text) {
		t.Errorf("/dev/claims does not show the masked email h***@example.com: %q", text)
	}
	b.shot("dev-claims")
}

// stoppable is a production-mode server that a test can stop and start
// again on the same address and the same Redis.
type stoppable struct {
	t    *testing.T
	cfg  *config.Config
	run  *server.Running
	stop func()
}

func (s *stoppable) start() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := server.Start(ctx, s.cfg, testLogger(s.t))
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	s.run = r
	s.cfg.Addr = r.Addr
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := r.Wait(); err != nil && !errors.Is(err, context.Canceled) {
				s.t.Logf("server stopped: %v", err)
			}
		})
	}
	s.t.Cleanup(s.stop)
}

// TestBrowserReconnects stops the server under an open page (the sockets
// close with 1012, as in a deploy) and starts it again: the page says it
// is reconnecting, an answer given meanwhile is sent once it is back, the
// conversation goes on, and no message shows twice.
func TestBrowserReconnects(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	recv := webhooktest.NewReceiver(t, secret)
	s := &stoppable{t: t, cfg: &config.Config{
		Addr: "127.0.0.1:0", RedisURL: redistest.Start(t).URL, Flows: "../../flows", Locales: "../../locales",
		DefaultFlow: "damage-1015", BannerSecret: bannerSecret, WebhookURL: recv.URL(), WebhookSecret: secret,
		SessionTTL: time.Hour, Retention: time.Hour, RetrySchedule: []time.Duration{10 * time.Millisecond},
		LogLevel: slog.LevelInfo, Uploads: t.TempDir(), PublicURL: "http://claimbot.test",
	}}
	s.start()
	b := newBrowser(t, "reconnect")
	b.do(chromedp.Navigate(s.run.URL() + "/chat?t=" + mintToken(t, "browser-reconnect-user", "", time.Minute, time.Now())))
	expectReply(t, "greeting", b.waitGreeting(), "privacy_consent")
	expectReply(t, "consent", b.choose("yes"), "reporter_type")

	s.stop()
	b.waitFor("the reconnecting status", "document.getElementById('status').classList.contains('show')")
	if got := run(b, chromedp.TextContent(chromedp.ID("status"))); !strings.Contains(got, "다시 연결하는 중") {
		t.Errorf("#status while the server is down = %q, want the reconnecting text", got)
	}
	b.shot("reconnecting")
	// An answer given while the server is away waits for it.
	n := b.frames()
	b.do(chromedp.Click(chromedp.CSS(`#choices button.choice[data-value="general"]:enabled`)))
	b.do(chromedp.WaitVisible(chromedp.CSS("#log .msg.user.pending")))
	time.Sleep(1500 * time.Millisecond)
	if got := b.frames(); got != n {
		t.Fatalf("the page received %d frames while the server was down", got-n)
	}

	s.start()
	// Once back: a greeting (the current question, not shown again), then
	// the answer to the queued choice.
	b.waitFor("the queued answer's reply", fmt.Sprintf("window.claimbot.received.length >= %d", n+2))
	b.waitFor("the status cleared", "!document.getElementById('status').classList.contains('show')")
	expectReply(t, "greeting after the restart", b.frame(n), "reporter_type")
	expectReply(t, "queued answer", b.frame(n+1), "service")
	b.do(chromedp.WaitNotPresent(chromedp.CSS("#log .msg.user.pending")))
	expectReply(t, "after the reconnect", b.choose("messenger"), "damage_type")
	b.shot("reconnected")

	noDuplicateBubbles(t, b.logTexts("#log .msg.bot"))
	if users := b.logTexts("#log .msg.user"); len(users) != 3 {
		t.Errorf("user bubbles %q, want 3 (one per answer)", users)
	}
	sent := eval[[]map[string]any](b, "window.claimbot.sent")
	ids := map[any]int{}
	for _, f := range sent {
		ids[f["id"]]++
	}
	for id, k := range ids {
		if k > 1 {
			t.Errorf("frame %v was sent %d times", id, k)
		}
	}
}

// waitAcross waits until a JavaScript expression is truthy on whatever
// page the tab shows: unlike waitFor it survives the navigations (a
// script's location.replace, a form's POST and 303) that happen meanwhile.
func (b *browser) waitAcross(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.shot("failed")
			b.t.Fatalf("browser: waiting for %s (%s): %v", what, expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionUser is the user of the browser's session cookie for url.
func (b *browser) sessionUser(url string) string {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatalf("browser: cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if strings.HasSuffix(c.Name, "claimbot_session") {
			claims, err := token.Verify(token.CookieKey([]byte(bannerSecret)), c.Value, time.Now())
			if err != nil {
				b.t.Fatalf("browser: cookie %s: %v", c.Name, err)
			}
			return claims.User()
		}
	}
	return ""
}

// TestBrowserLinkOfAnotherAccount is the login CSRF of a banner link: a
// page on another site sends the victim's browser to /chat with the
// attacker's own token. The browser keeps the victim's conversation and
// cookie, and the page says the link is another account's; the victim's
// answers go to the victim's session, never the attacker's. That site's
// POST of the switch is refused; the user's own tap on the page's switch
// button does switch.
func TestBrowserLinkOfAnotherAccount(t *testing.T) {
	e := startEnv(t)
	chat := "http://" + e.run.Addr
	attackerTok := mintToken(t, "browser-attacker", "", time.Hour, time.Now())

	// The attacker's session, where the attacker left it.
	a := e.dial("browser-attacker")
	a.choose("yes")
	a.choose("general")
	a.choose("pay")
	if a.last.State != "damage_type" {
		t.Fatalf("attacker's session: %+v", a.last)
	}
	a.ws.Close()

	// The attacker's site: another site (evil.test, mapped to loopback),
	// not only another port, which would be the same site for cookies.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/":
			fmt.Fprintf(w, `<!doctype html><title>win a prize</title><p>loading…</p>
<script>setTimeout(function () { location.replace(%q); }, 100);</script>`, chat+"/chat?t="+attackerTok)
		case "/switch":
			fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form method="post" action="%s/chat/switch"><input type="hidden" name="t" value="%s"></form>
<script>setTimeout(function () { document.forms[0].submit(); }, 100);</script>`, chat, attackerTok)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(evil.Close)
	_, evilPort, _ := strings.Cut(strings.TrimPrefix(evil.URL, "http://"), ":")
	evilURL := "http://evil.test:" + evilPort

	b := newBrowser(t, "other-account", chromedp.Flag("host-resolver-rules", "MAP evil.test 127.0.0.1"))
	// The victim opens the banner and answers the first question.
	b.do(chromedp.Navigate(chat + "/chat?t=" + mintToken(t, "browser-victim", "", time.Hour, time.Now())))
	expectReply(t, "victim's greeting", b.waitGreeting(), "privacy_consent")
	expectReply(t, "victim's consent", b.choose("yes"), "reporter_type")

	// The victim visits the attacker's site.
	b.do(chromedp.Navigate(evilURL + "/"))
	onChat := fmt.Sprintf("location.host === %q && location.pathname === '/chat'", e.run.Addr)
	b.waitAcross("the chat page after the other site's redirect",
		onChat+" && document.readyState === 'complete' && window.claimbot && window.claimbot.received.length > 0")
	greeting := b.frame(0)
	if greeting.State != "reporter_type" {
		t.Errorf("after the other site's link the page shows state %q (%q), want the victim's reporter_type",
			greeting.State, greeting.Messages)
	}
	if u := b.sessionUser(chat); u != "browser-victim" {
		t.Errorf("the browser's session cookie is %q's, want browser-victim's", u)
	}
	notice := eval[string](b, "(document.getElementById('other-account') || {}).textContent || ''")
	if !strings.Contains(notice, "다른 계정의 링크") {
		t.Errorf("the page does not say the link is another account's: #other-account = %q", notice)
	}
	if href := run(b, chromedp.Location()); strings.Contains(href, "t=") {
		t.Errorf("the other account's token is in the address bar: %s", href)
	}
	b.shot("other-account")

	// The victim answers: it is the victim's session that moves.
	if greeting.State == "reporter_type" {
		expectReply(t, "victim's answer", b.choose("small_business"), "service")
	}
	if got := e.dial("browser-attacker").last; got.State != "damage_type" {
		t.Errorf("the attacker's session moved to %q: the victim answered there", got.State)
	}
	if got := e.dial("browser-victim").last; got.State != "service" {
		t.Errorf("the victim's session is at %q, want service", got.State)
	}

	// The attacker's site cannot switch the browser for the user.
	b.do(chromedp.Navigate(evilURL + "/switch"))
	b.waitAcross("the answer to the other site's switch", fmt.Sprintf("location.host === %q && document.readyState === 'complete'", e.run.Addr))
	if text := eval[string](b, "document.body.textContent"); !strings.Contains(text, "계정을 바꾸지 않았어요") {
		t.Errorf("the other site's switch: the page says %q", text)
	}
	if u := b.sessionUser(chat); u != "browser-victim" {
		t.Errorf("after the other site's switch the cookie is %q's", u)
	}
	b.shot("switch-refused")

	// The user's own tap on the switch button does switch.
	b.do(chromedp.Navigate(evilURL + "/"))
	b.waitAcross("the chat page with the notice", onChat+" && document.getElementById('switch-account')")
	b.do(chromedp.Click(chromedp.ID("switch-account")))
	b.waitAcross("the link's account's chat", onChat+" && document.readyState === 'complete' && !document.getElementById('other-account') && window.claimbot && window.claimbot.received.length > 0")
	if got := b.frame(0); got.State != "damage_type" {
		t.Errorf("after the switch the page shows %q, want the link's account's damage_type", got.State)
	}
	if u := b.sessionUser(chat); u != "browser-attacker" {
		t.Errorf("after the switch the cookie is %q's, want the link's account's", u)
	}
	b.shot("switched")
}
