package server_test

// Browser tests of the chat page's evidence uploads (CONTRACT §2 files,
// §7): a phone-sized Chromium picks files at the files question, the page
// uploads them over tus and attaches them, and an upload cut by a reload
// continues from the server's offset. The server sits behind a proxy in
// the test that slows PATCH bodies down, so "mid-upload" is a moment the
// test controls, and that records every /uploads/ request.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/claimbot/claimbot/internal/config"
)

// uploadProxy forwards everything to the server (WebSocket upgrades
// too), records the /uploads/ requests, and while slow is set feeds PATCH
// bodies to the server at about 1 MiB/s.
type uploadProxy struct {
	srv     *http.Server
	addr    string
	target  atomic.Pointer[url.URL]
	slow    atomic.Bool
	patched atomic.Int64 // PATCH body bytes handed to the server
	cutAt   atomic.Int64 // >0: drop the phone's connection once that many PATCH bytes went through

	wsDown atomic.Bool // refuse /ws: the page's socket stays down, its uploads go on

	mu      sync.Mutex
	seen    []tusRequest
	wsConns []net.Conn
}

type tusRequest struct {
	Method, Path string
	Offset       int64 // the request's Upload-Offset; -1 when it has none
	Status       int   // 0 while it runs
}

func startUploadProxy(t *testing.T) *uploadProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &uploadProxy{addr: ln.Addr().String()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.target.Load())
			r.Out.Host = r.In.Host // the server judges Origin and links by the page's host
		},
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			if p.wsDown.Load() {
				http.Error(w, "the socket is down", http.StatusServiceUnavailable)
				return
			}
			if conn, ok := r.Context().Value(connKey{}).(net.Conn); ok {
				p.mu.Lock()
				p.wsConns = append(p.wsConns, conn)
				p.mu.Unlock()
			}
		}
		if !strings.HasPrefix(r.URL.Path, "/uploads/") {
			rp.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPatch && r.Body != nil {
			conn, _ := r.Context().Value(connKey{}).(net.Conn)
			r.Body = &slowBody{r: r.Body, p: p, conn: conn}
		}
		off := int64(-1)
		if v := r.Header.Get("Upload-Offset"); v != "" {
			off, _ = strconv.ParseInt(v, 10, 64)
		}
		p.mu.Lock()
		i := len(p.seen)
		p.seen = append(p.seen, tusRequest{Method: r.Method, Path: r.URL.Path, Offset: off})
		p.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		p.mu.Lock()
		p.seen[i].Status = rec.status
		p.mu.Unlock()
	})}
	p.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *uploadProxy) url() string { return "http://" + p.addr }

// dropWS closes the page's WebSocket and refuses new ones until wsDown
// is cleared: the file frame of an upload finished meanwhile waits.
func (p *uploadProxy) dropWS() {
	p.wsDown.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.wsConns {
		c.Close()
	}
	p.wsConns = nil
}

func (p *uploadProxy) requests() []tusRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]tusRequest(nil), p.seen...)
}

// statusRecorder keeps the status; Unwrap lets the proxy reach the
// connection for upgrades and flushes.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int)        { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type connKey struct{}

// slowBody hands a PATCH body on in 32 KiB pieces, one every 30 ms while
// the proxy is slow; at cutAt it drops the phone's connection, as a
// network that goes away does.
type slowBody struct {
	r    io.ReadCloser
	p    *uploadProxy
	conn net.Conn
}

func (b *slowBody) Read(buf []byte) (int, error) {
	if b.p.slow.Load() {
		if len(buf) > 32<<10 {
			buf = buf[:32<<10]
		}
		time.Sleep(30 * time.Millisecond)
	}
	if at := b.p.cutAt.Load(); at > 0 && b.p.patched.Load() >= at && b.conn != nil && b.p.cutAt.CompareAndSwap(at, 0) {
		b.conn.Close()
		return 0, errors.New("proxy: the network went away")
	}
	n, err := b.r.Read(buf)
	b.p.patched.Add(int64(n))
	return n, err
}

func (b *slowBody) Close() error { return b.r.Close() }

// withUploads keeps evidence files in a temporary folder and gives out
// links on the proxy's address, as CLAIMBOT_UPLOADS and
// CLAIMBOT_PUBLIC_URL would.
func withUploads(dir, public string) option {
	return func(c *config.Config) { c.Uploads, c.PublicURL = dir, public }
}

// startUploadEnv is startEnv with uploads on, behind an uploadProxy.
func startUploadEnv(t *testing.T) (*env, *uploadProxy) {
	t.Helper()
	p := startUploadProxy(t)
	e := startEnv(t, withUploads(t.TempDir(), p.url()))
	p.target.Store(&url.URL{Scheme: "http", Host: e.run.Addr})
	return e, p
}

// newPhone is newBrowser with a longer deadline: an upload test walks the
// whole claim and moves megabytes through a slowed proxy.
func newPhone(t *testing.T, name string, timeout time.Duration) *browser {
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
	tctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelTimeout() })
	b := &browser{t: t, ctx: ctx, name: name, dir: dir}
	b.do(chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
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

// pdfFile writes a PDF of about n bytes (the server judges the type by
// the bytes: "%PDF-" first) and returns its path and SHA-256.
func pdfFile(t *testing.T, dir, name string, n int) (string, string) {
	t.Helper()
	var buf strings.Builder
	buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")
	line := "% evidence padding 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
	for i := 0; buf.Len() < n-len("%%EOF\n"); i++ {
		fmt.Fprintf(&buf, "%08d %s", i, line)
	}
	buf.WriteString("%%EOF\n")
	if pad := n - buf.Len(); pad > 0 {
		buf.WriteString(strings.Repeat("%", pad-1) + "\n")
	}
	if buf.Len() > n { // exactly n bytes: the last lines cut to fit
		s := buf.String()[:n-len("\n%%EOF\n")] + "\n%%EOF\n"
		buf.Reset()
		buf.WriteString(s)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(buf.String()))
	return path, hex.EncodeToString(sum[:])
}

// pageToEvidence walks the page from the consent to damage-1015's evidence
// question: a small business with a free service's monetary loss of
// 600,000 KRW (over 500,000: evidence_review).
func pageToEvidence(t *testing.T, b *browser) reply {
	t.Helper()
	expectReply(t, "greeting", b.waitGreeting(), "privacy_consent")
	expectReply(t, "consent", b.choose("yes"), "reporter_type")
	expectReply(t, "reporter", b.choose("small_business"), "service")
	expectReply(t, "service", b.choose("messenger"), "damage_type")
	expectReply(t, "damage", b.choose("free_monetary"), "business_name")
	expectReply(t, "business name", b.typeText("행복분식"), "business_number")
	expectReply(t, "business number", b.typeText("220-81-62517"), "loss_amount")
	ev := b.typeText("60만원")
	expectReply(t, "amount", ev, "evidence")
	if ev.Input != "files" {
		t.Fatalf("evidence: input %q, want files", ev.Input)
	}
	return ev
}

// choiceValues are the data-value of the quick replies on the page.
func (b *browser) choiceValues() []string {
	b.t.Helper()
	return eval[[]string](b, `Array.from(document.querySelectorAll('#choices button.choice')).map(function (e) { return e.getAttribute('data-value'); })`)
}

// lastNotice is the text of the page's last notice in #log.
func (b *browser) lastNotice() string {
	b.t.Helper()
	return eval[string](b, `(function () { var n = document.querySelectorAll('#log .notice'); return n.length ? n[n.length - 1].textContent : ''; })()`)
}

// pick chooses files in the 📎 input, as a person would in the picker.
func (b *browser) pick(paths ...string) {
	b.t.Helper()
	b.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), paths))
}

// filesFrame is the part of a files reply the page works from.
type filesFrame struct {
	State  string `json:"state"`
	Input  string `json:"input"`
	Upload *struct {
		URL      string   `json:"url"`
		MaxFiles int      `json:"max_files"`
		MaxBytes int64    `json:"max_bytes"`
		Accept   []string `json:"accept"`
	} `json:"upload"`
	Files []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Size int64  `json:"size"`
	} `json:"files"`
	Invalid bool `json:"invalid"`
}

func (b *browser) lastFiles() filesFrame {
	b.t.Helper()
	return eval[filesFrame](b, "window.claimbot.received[window.claimbot.received.length - 1]")
}

// TestBrowserUploadEvidence reaches the evidence question on a phone,
// is told before any byte is sent that a file is too big or too many,
// uploads a PDF through a slow network with a progress bar, reloads the
// page mid-upload, chooses the file again and sees it continue from the
// server's offset (no new upload) and attach; adds and removes a second
// file with its ×; presses done and files the claim, whose webhook
// carries the file.
func TestBrowserUploadEvidence(t *testing.T) {
	e, p := startUploadEnv(t)
	b := newPhone(t, "upload", 120*time.Second)
	dir := t.TempDir()
	b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, "browser-upload-user", "", time.Hour, time.Now())))

	pageToEvidence(t, b)
	b.waitFor("the 📎 button", "document.getElementById('attach') && document.getElementById('attach').offsetParent !== null")
	if accept := eval[string](b, "document.getElementById('file-input').accept"); !strings.Contains(accept, "application/pdf") || !strings.Contains(accept, "image/jpeg") {
		t.Errorf("the 📎 input's accept = %q, want the reply's types", accept)
	}
	if !eval[bool](b, "document.getElementById('file-input').multiple") {
		t.Errorf("the 📎 input takes one file at a time")
	}
	// A phone is offered its camera for the image types.
	if got := eval[string](b, "(function () { var c = document.getElementById('camera-input'); return document.getElementById('camera').hidden ? 'hidden' : c.accept + ' ' + c.getAttribute('capture'); })()"); !strings.Contains(got, "image/jpeg") || !strings.Contains(got, "environment") {
		t.Errorf("the 📷 input on a phone: %q, want the image types and capture=environment", got)
	}
	if label := eval[string](b, "document.getElementById('attach').textContent"); !strings.Contains(label, "파일 첨부") {
		t.Errorf("the 📎 button's label is %q, want 파일 첨부", label)
	}
	if vals := b.choiceValues(); !containsString(vals, "later") || containsString(vals, "done") {
		t.Errorf("quick replies before any file: %q, want later and no done", vals)
	}
	b.shot("evidence")

	// The page's own checks, in Korean, before anything is sent.
	big := filepath.Join(dir, "big.pdf")
	if err := os.WriteFile(big, []byte("%PDF-1.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := b.lastFiles().Upload
	if lim == nil || lim.MaxBytes != 20<<20 {
		t.Fatalf("evidence: upload limits %+v, want max_bytes 20 MiB", lim)
	}
	if err := os.Truncate(big, lim.MaxBytes+1); err != nil {
		t.Fatal(err)
	}
	b.pick(big)
	b.waitFor("the too-big notice", "document.querySelectorAll('#log .notice').length > 0")
	if got := b.lastNotice(); !strings.Contains(got, "big.pdf") || !strings.Contains(got, "20MB") || !strings.Contains(got, "넘어") {
		t.Errorf("a file over 20 MiB: the page says %q, want the Korean size message", got)
	}
	var many []string
	for i := range 11 {
		path, _ := pdfFile(t, dir, fmt.Sprintf("page-%02d.pdf", i), 2<<10)
		many = append(many, path)
	}
	b.pick(many...)
	b.waitFor("the too-many notice", "document.querySelectorAll('#log .notice').length > 1")
	if got := b.lastNotice(); !strings.Contains(got, "10개까지") {
		t.Errorf("11 files: the page says %q, want the Korean count message", got)
	}
	if n := len(p.requests()); n != 0 {
		t.Errorf("the page sent %d upload requests for files it refused itself: %+v", n, p.requests())
	}
	b.shot("refused-by-page")

	// A slow network: the upload shows its progress.
	const size = 6 << 20
	doc, digest := pdfFile(t, dir, "매출증빙.pdf", size)
	p.slow.Store(true)
	b.pick(doc)
	b.waitFor("progress", "(document.querySelector('#file-list li.uploading progress') || {}).value > 0")
	if label := eval[string](b, "document.querySelector('#file-list li.uploading progress').getAttribute('aria-label')"); !strings.Contains(label, "매출증빙.pdf") {
		t.Errorf("the progress bar's label is %q, want the file's name", label)
	}
	if live := eval[string](b, "document.getElementById('file-live').getAttribute('aria-live')"); live != "polite" {
		t.Errorf("#file-live aria-live = %q", live)
	}
	// Mid-upload: the server holds a part, not all.
	deadline := time.Now().Add(20 * time.Second)
	for p.patched.Load() < 1<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := p.patched.Load(); got < 1<<20 || got >= size {
		t.Fatalf("before the reload the server got %d of %d bytes, want a part", got, size)
	}
	b.shot("uploading")
	var created string // the upload's URL path, as its first PATCH names it
	for _, r := range p.requests() {
		if r.Method == http.MethodPatch && created == "" {
			created = r.Path
		}
	}

	b.do(chromedp.Reload())
	p.slow.Store(false)
	greet := b.waitGreeting()
	expectReply(t, "after the reload", greet, "evidence")
	// The page remembers the unfinished upload and asks for the file again.
	b.waitFor("the unfinished upload's row", "document.querySelector('#file-list li.unfinished') !== null")
	if got := eval[string](b, "document.querySelector('#file-list li.unfinished').textContent"); !strings.Contains(got, "매출증빙.pdf") || !strings.Contains(got, "이어서") {
		t.Errorf("the unfinished upload's row says %q", got)
	}
	b.shot("reloaded")
	before := len(p.requests())
	b.pick(doc)
	b.waitFor("the file attached", "document.querySelector('#file-list li.attached') !== null")
	if ups := eval[[]map[string]any](b, "window.claimbot.uploads"); len(ups) == 0 || ups[0]["resumed"] != true {
		t.Errorf("after the reload the page's upload did not resume: %v", ups)
	}
	after := p.requests()[before:]
	resumedAt := int64(-1)
	for _, r := range after {
		if r.Method == http.MethodPost {
			t.Errorf("after the reload the page created a new upload: %+v", after)
		}
		if r.Method == http.MethodPatch && resumedAt < 0 {
			resumedAt = r.Offset
			if r.Path != created {
				t.Errorf("the resumed PATCH went to %s, the upload is %s", r.Path, created)
			}
		}
	}
	if resumedAt <= 0 || resumedAt >= size {
		t.Errorf("after the reload the first PATCH started at offset %d, want the server's part (0 < offset < %d): %+v", resumedAt, size, after)
	}
	got := b.lastFiles()
	if len(got.Files) != 1 || got.Files[0].Name != "매출증빙.pdf" || got.Files[0].Size != size {
		t.Fatalf("after the upload the reply lists %+v, want 매출증빙.pdf of %d bytes", got.Files, size)
	}
	attached := got.Files[0]
	fileFrames := eval[[]map[string]any](b, "window.claimbot.sent.filter(function (f) { return f.type === 'file'; })")
	if len(fileFrames) != 1 || fileFrames[0]["state"] != "evidence" || !strings.HasSuffix(fmt.Sprint(fileFrames[0]["upload"]), "/"+got.Files[0].ID) {
		t.Errorf("file frames sent: %v, want one for upload %s at state evidence", fileFrames, got.Files[0].ID)
	}
	if vals := b.choiceValues(); !containsString(vals, "done") || !containsString(vals, "later") {
		t.Errorf("quick replies with a file: %q, want done and later", vals)
	}
	for _, v := range b.choiceValues() {
		if strings.HasPrefix(v, "remove_") {
			t.Errorf("a remove choice %q shows as a quick reply", v)
		}
	}
	b.shot("attached")

	// A second file, then its × takes it back.
	small, _ := pdfFile(t, dir, "거래내역.pdf", 40<<10)
	b.pick(small)
	b.waitFor("two files attached", "document.querySelectorAll('#file-list li.attached').length === 2")
	b.shot("two-files")
	label := eval[string](b, `(function () { var l = document.querySelectorAll('#file-list li.attached'); return l[l.length - 1].querySelector('button.remove').getAttribute('aria-label'); })()`)
	if !strings.Contains(label, "거래내역.pdf") {
		t.Errorf("the second file's × is labelled %q", label)
	}
	removed := b.answer(chromedp.Click(chromedp.CSS(`#file-list li.attached:last-child button.remove:enabled`)))
	expectReply(t, "remove", removed, "evidence")
	if got := b.lastFiles(); len(got.Files) != 1 || got.Files[0].Name != "매출증빙.pdf" {
		t.Errorf("after × the reply lists %+v, want only 매출증빙.pdf", got.Files)
	}
	b.waitFor("one file listed", "document.querySelectorAll('#file-list li.attached').length === 1")
	sentRemove := eval[[]map[string]any](b, "window.claimbot.sent.filter(function (f) { return f.type === 'choice' && /^remove_/.test(f.value); })")
	if len(sentRemove) != 1 {
		t.Errorf("remove choices sent: %v, want one", sentRemove)
	}

	expectReply(t, "done", b.choose("done"), "email")
	b.waitFor("the files box gone", "document.getElementById('files').hidden && document.getElementById('attach-box').hidden")
	expectReply(t, "email", b.typeText("owner@example.com"), "phone")
	expectReply(t, "phone", b.typeText("010-5555-1234"), "title")
	expectReply(t, "title", b.typeText("채널 주문 누락"), "content")
	expectReply(t, "content", b.typeText("10월 15일부터 주문 알림이 오지 않았습니다."), "summary")
	done := b.choose("submit")
	if !done.Done || done.ClaimID == "" {
		t.Fatalf("submit: got %+v, want done with a claim_id", done)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("#receipt .receipt-id")))
	b.shot("receipt")
	noDuplicateBubbles(t, b.logTexts("#log .msg.bot"))
	if b.dialogs.Load() != 0 {
		t.Errorf("the page opened %d dialogs", b.dialogs.Load())
	}

	acc := e.recv.WaitAccepted(t, 1, 10*time.Second)
	var body struct {
		Data struct {
			ClaimID string         `json:"claim_id"`
			Answers map[string]any `json:"answers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(acc[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Data.ClaimID != done.ClaimID || body.Data.Answers["evidence"] != "attached" || body.Data.Answers["support_tier"] != "evidence_review" {
		t.Errorf("webhook: claim %q, answers %v; want %q with evidence attached", body.Data.ClaimID, body.Data.Answers, done.ClaimID)
	}
	// The bytes kept are the file's, though they came in two PATCHes
	// around a reload.
	kept, err := e.run.Server.Uploads().Info(context.Background(), attached.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !kept.Done || kept.Size != size || kept.SHA256 != digest || kept.Type != "application/pdf" || kept.Name != "매출증빙.pdf" {
		t.Errorf("the upload kept: %+v, want 매출증빙.pdf, application/pdf, %d bytes, sha256 %s", kept, size, digest)
	}
}

// TestBrowserUploadHintInApp opens the evidence question in a messenger's
// in-app browser, whose file picker may not open: the page says to open
// it in the phone's browser, in Korean and in English, and the English
// page's own checks speak English.
func TestBrowserUploadHintInApp(t *testing.T) {
	e, p := startUploadEnv(t)
	const kakaoUA = "Mozilla/5.0 (Linux; Android 14; SM-S918N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36;KAKAOTALK 2410450"
	for _, tc := range []struct{ lang, want, tooBig string }{
		{"", "휴대폰의 브라우저", "넘어"},
		{"en", "phone's browser", "larger than"},
	} {
		user := "browser-inapp-" + tc.lang
		c := dialURL(t, "ws://"+e.run.Addr+"/ws?t="+mintToken(t, user, tc.lang, time.Hour, time.Now()), nil)
		for _, v := range []string{"yes", "small_business", "messenger", "free_monetary"} {
			c.choose(v)
		}
		for _, s := range []string{"행복분식", "220-81-62517", "600000"} {
			c.text(s)
		}
		if c.last.State != "evidence" {
			t.Fatalf("lang %q: the session is at %q, want evidence", tc.lang, c.last.State)
		}
		c.ws.Close()

		b := newBrowser(t, "inapp-"+map[string]string{"": "ko", "en": "en"}[tc.lang])
		if _, err := chromedp.Call(b.ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: kakaoUA}); err != nil {
			t.Fatalf("browser: user agent: %v", err)
		}
		b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, user, tc.lang, time.Hour, time.Now())))
		expectReply(t, "greeting", b.waitGreeting(), "evidence")
		b.waitFor("the in-app hint", "document.getElementById('file-hint') && document.getElementById('file-hint').offsetParent !== null")
		if got := run(b, chromedp.TextContent(chromedp.ID("file-hint"))); !strings.Contains(got, tc.want) {
			t.Errorf("lang %q: the in-app hint says %q, want %q", tc.lang, got, tc.want)
		}
		// The picker is still offered: it may work.
		b.waitFor("the 📎 button", "document.getElementById('attach') && document.getElementById('attach').offsetParent !== null")
		big := filepath.Join(t.TempDir(), "big.pdf")
		if err := os.WriteFile(big, []byte("%PDF-1.4\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(big, 21<<20); err != nil {
			t.Fatal(err)
		}
		b.pick(big)
		b.waitFor("the too-big notice", "document.querySelectorAll('#log .notice').length > 0")
		if got := b.lastNotice(); !strings.Contains(got, tc.tooBig) {
			t.Errorf("lang %q: a file over the limit: the page says %q, want %q", tc.lang, got, tc.tooBig)
		}
		b.shot("hint")
	}
	// A browser with its own picker shows no hint.
	b := newBrowser(t, "no-hint")
	b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, "browser-inapp-", "", time.Hour, time.Now())))
	expectReply(t, "greeting", b.waitGreeting(), "evidence")
	b.waitFor("the 📎 button", "document.getElementById('attach') && document.getElementById('attach').offsetParent !== null")
	if eval[bool](b, "!document.getElementById('file-hint').hidden") {
		t.Errorf("a plain browser shows the in-app hint")
	}

	// A webview without file inputs (type=file stays text): no 📎, and
	// the page says where files can be sent.
	b = newBrowser(t, "no-picker")
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(function () {
		var d = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "type");
		Object.defineProperty(HTMLInputElement.prototype, "type", { configurable: true, set: d.set,
			get: function () { var v = d.get.call(this); return v === "file" ? "text" : v; } });
	})();`}); err != nil {
		t.Fatalf("browser: %v", err)
	}
	b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, "browser-inapp-", "", time.Hour, time.Now())))
	expectReply(t, "greeting", b.waitGreeting(), "evidence")
	b.waitFor("the no-picker hint", "document.getElementById('file-hint').offsetParent !== null")
	if got := run(b, chromedp.TextContent(chromedp.ID("file-hint"))); !strings.Contains(got, "파일을 고를 수 없어요") || !strings.Contains(got, "휴대폰의 브라우저") {
		t.Errorf("without a file picker the page says %q", got)
	}
	if eval[bool](b, "document.getElementById('attach').offsetParent !== null") {
		t.Errorf("without a file picker the page still shows 📎")
	}
	b.shot("no-picker")
}

// TestBrowserUploadNetworkDrop drops the phone's connection in the middle
// of an upload: the page goes on from the server's offset by itself (no
// new upload, no second choice of the file) and attaches the file.
func TestBrowserUploadNetworkDrop(t *testing.T) {
	e, p := startUploadEnv(t)
	const user = "browser-drop-user"
	c := dialURL(t, "ws://"+e.run.Addr+"/ws?t="+mintToken(t, user, "", time.Hour, time.Now()), nil)
	for _, v := range []string{"yes", "small_business", "messenger", "free_monetary"} {
		c.choose(v)
	}
	for _, s := range []string{"행복분식", "220-81-62517", "60만원"} {
		c.text(s)
	}
	if c.last.State != "evidence" {
		t.Fatalf("the session is at %q, want evidence", c.last.State)
	}
	c.ws.Close()

	b := newPhone(t, "network-drop", 60*time.Second)
	b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, user, "", time.Hour, time.Now())))
	expectReply(t, "greeting", b.waitGreeting(), "evidence")
	const size = 3 << 20
	doc, digest := pdfFile(t, t.TempDir(), "정산내역.pdf", size)
	p.slow.Store(true)
	p.cutAt.Store(1 << 20)
	b.pick(doc)
	b.waitFor("the dropped connection", "window.claimbot.uploads.length > 0")
	deadline := time.Now().Add(20 * time.Second)
	for p.cutAt.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p.cutAt.Load() != 0 {
		t.Fatalf("the proxy never dropped the connection (%d bytes went through)", p.patched.Load())
	}
	p.slow.Store(false)
	b.waitFor("the file attached", "document.querySelector('#file-list li.attached') !== null")
	b.shot("attached")

	// The browser may send the cut PATCH again by itself (the server
	// answers 409: it has more than that); the PATCH that ends the upload
	// starts where the server's part ends.
	var posts int
	var finishedFrom int64 = -1
	for _, r := range p.requests() {
		switch {
		case r.Method == http.MethodPost:
			posts++
		case r.Method == http.MethodPatch && r.Status == http.StatusNoContent:
			finishedFrom = r.Offset
		}
	}
	if posts != 1 || finishedFrom <= 0 || finishedFrom >= size {
		t.Errorf("uploads: %d POST, the last PATCH from offset %d; want one upload finished from the server's part: %+v",
			posts, finishedFrom, p.requests())
	}
	got := b.lastFiles()
	if len(got.Files) != 1 || got.Files[0].Name != "정산내역.pdf" || got.Files[0].Size != size {
		t.Fatalf("the reply lists %+v, want 정산내역.pdf of %d bytes", got.Files, size)
	}
	kept, err := e.run.Server.Uploads().Info(context.Background(), got.Files[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if kept.SHA256 != digest || kept.Size != size {
		t.Errorf("the upload kept: %+v, want sha256 %s", kept, digest)
	}
	if n := eval[int](b, "window.claimbot.sent.filter(function (f) { return f.type === 'file'; }).length"); n != 1 {
		t.Errorf("the page sent %d file frames, want 1", n)
	}
}

// TestBrowserUploadSharedBrowser is a shared browser: user A uploads one
// file to its end while the socket is down (its file frame never leaves)
// and leaves another unfinished; then user B opens their own banner link
// in the same browser profile, switches to their account and reaches the
// evidence question. B's page sends no file frame for A's upload, shows
// A's file names nowhere, and drops A's entries from the browser's
// storage. B's own upload, attached, is cleared once B goes on.
func TestBrowserUploadSharedBrowser(t *testing.T) {
	_, p := startUploadEnv(t)
	b := newPhone(t, "shared-browser", 120*time.Second)
	dir := t.TempDir()
	const (
		doneName = "A님-진료비영수증.pdf"
		halfName = "A님-통장사본.pdf"
		stored   = `(function () { var s = ''; for (var i = 0; i < localStorage.length; i++) { var k = localStorage.key(i); s += k + '=' + localStorage.getItem(k) + '\n'; } return s; })()`
	)
	b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, "browser-shared-a", "", time.Hour, time.Now())))
	pageToEvidence(t, b)

	// A: one upload finished while the socket is down, one cut halfway.
	p.dropWS()
	b.waitFor("the page's socket down", "document.getElementById('status').textContent !== ''")
	done, _ := pdfFile(t, dir, doneName, 64<<10)
	b.pick(done)
	b.waitFor("A's finished upload", "window.claimbot.uploads.some(function (u) { return u.event === 'finished'; })")
	half, _ := pdfFile(t, dir, halfName, 4<<20)
	p.slow.Store(true)
	b.pick(half)
	deadline := time.Now().Add(20 * time.Second)
	for p.patched.Load() < 64<<10+256<<10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// The browser holds both, so B's page has something to leak.
	if got := eval[string](b, stored); !strings.Contains(got, doneName) || !strings.Contains(got, halfName) {
		t.Fatalf("A's page keeps %q in localStorage, want both uploads", got)
	}
	if n := eval[int](b, "window.claimbot.sent.filter(function (f) { return f.type === 'file'; }).length"); n != 0 {
		t.Fatalf("A's page sent %d file frames with its socket down", n)
	}
	b.shot("a-left")

	// B, in the same profile: their link, the switch, their own session.
	chat := p.url() + "/chat"
	b.do(chromedp.Navigate(chat + "?t=" + mintToken(t, "browser-shared-b", "", time.Hour, time.Now())))
	p.slow.Store(false)
	b.waitAcross("the chat page with the other-account notice", "document.getElementById('switch-account') !== null")
	b.do(chromedp.Click(chromedp.ID("switch-account")))
	b.waitAcross("B's chat page", "document.readyState === 'complete' && !document.getElementById('other-account') && !!window.claimbot")
	p.wsDown.Store(false)
	if u := b.sessionUser(chat); u != "browser-shared-b" {
		t.Fatalf("after the switch the cookie is %q's, want B's", u)
	}
	eval[bool](b, "window.dispatchEvent(new Event('online'))") // reconnect now, not after the backoff
	pageToEvidence(t, b)
	// Let the page do what it does with stored uploads at a files question
	// (tus's list is read asynchronously).
	time.Sleep(1500 * time.Millisecond)
	b.shot("b-evidence")
	if frames := eval[[]map[string]any](b, "window.claimbot.sent.filter(function (f) { return f.type === 'file'; })"); len(frames) != 0 {
		t.Errorf("B's page sent file frames of A's uploads: %v", frames)
	}
	html := eval[string](b, "document.documentElement.outerHTML")
	for _, name := range []string{doneName, halfName} {
		if strings.Contains(html, name) {
			t.Errorf("B's page shows A's file name %q", name)
		}
	}
	if got := eval[string](b, stored); strings.Contains(got, doneName) || strings.Contains(got, halfName) {
		t.Errorf("after B's files question the browser still keeps A's uploads: %q", got)
	}
	if got := b.lastFiles(); len(got.Files) != 0 {
		t.Errorf("B's evidence question lists %+v, want none", got.Files)
	}

	// B's own upload is attached; once B goes on, nothing of it stays.
	own, _ := pdfFile(t, dir, "B님-계약서.pdf", 32<<10)
	b.pick(own)
	b.waitFor("B's file attached", "document.querySelector('#file-list li.attached') !== null")
	if got := b.lastFiles(); len(got.Files) != 1 || got.Files[0].Name != "B님-계약서.pdf" {
		t.Fatalf("B's evidence question lists %+v, want B's file", got.Files)
	}
	next := b.choose("done")
	if next.State == "evidence" {
		t.Fatalf("done: the page stays at the evidence question: %+v", next)
	}
	if got := eval[string](b, stored); strings.Contains(got, "B님-계약서.pdf") || strings.Contains(got, "claimbot.uploaded=[{") {
		t.Errorf("after done the browser still keeps B's attached upload: %q", got)
	}
}

// TestBrowserUploadRestartDropsKept: an upload finished while the page's
// socket was down waits in the browser for its file frame; meanwhile the
// conversation goes on elsewhere (the same user's other tab) past the
// files question and starts again. The page, reloaded, keeps nothing of
// it: reaching the next conversation's evidence question it sends no file
// frame of the previous one's upload.
func TestBrowserUploadRestartDropsKept(t *testing.T) {
	e, p := startUploadEnv(t)
	const user = "browser-restart-user"
	b := newPhone(t, "restart-kept", 120*time.Second)
	b.do(chromedp.Navigate(p.url() + "/chat?t=" + mintToken(t, user, "", time.Hour, time.Now())))
	pageToEvidence(t, b)
	p.dropWS()
	b.waitFor("the page's socket down", "document.getElementById('status').textContent !== ''")
	doc, _ := pdfFile(t, t.TempDir(), "지난접수-영수증.pdf", 64<<10)
	b.pick(doc)
	b.waitFor("the finished upload", "window.claimbot.uploads.some(function (u) { return u.event === 'finished'; })")
	if got := eval[string](b, "localStorage.getItem('claimbot.uploaded') || ''"); !strings.Contains(got, "지난접수-영수증.pdf") {
		t.Fatalf("the page keeps %q, want the finished upload waiting for its file frame", got)
	}

	// The other tab: past the files question without it, then restart.
	c := dialURL(t, "ws://"+e.run.Addr+"/ws?t="+mintToken(t, user, "", time.Hour, time.Now()), nil)
	if c.last.State != "evidence" {
		t.Fatalf("the other tab shows %q, want evidence", c.last.State)
	}
	if r := c.choose("later"); r.State == "evidence" {
		t.Fatalf("later: still at evidence: %+v", r)
	}
	first := c.choose("restart")
	c.ws.Close()

	p.wsDown.Store(false)
	b.do(chromedp.Reload())
	expectReply(t, "after the reload", b.waitGreeting(), first.State)
	if got := eval[string](b, "localStorage.getItem('claimbot.uploaded') || ''"); got != "" {
		t.Errorf("after the conversation left the files question the page keeps %q", got)
	}
	steps := []struct{ choice, text, want string }{
		{"yes", "", "reporter_type"}, {"small_business", "", "service"}, {"messenger", "", "damage_type"},
		{"free_monetary", "", "business_name"}, {"", "행복분식", "business_number"}, {"", "220-81-62517", "loss_amount"},
		{"", "60만원", "evidence"},
	}
	if first.State != "privacy_consent" {
		steps = steps[1:]
	}
	for _, s := range steps {
		if s.choice != "" {
			expectReply(t, s.choice, b.choose(s.choice), s.want)
		} else {
			expectReply(t, s.text, b.typeText(s.text), s.want)
		}
	}
	time.Sleep(time.Second) // what the page does with kept uploads at a files question
	if frames := eval[[]map[string]any](b, "window.claimbot.sent.filter(function (f) { return f.type === 'file'; })"); len(frames) != 0 {
		t.Errorf("the next conversation's evidence question got the previous one's upload: %v", frames)
	}
	if got := b.lastFiles(); len(got.Files) != 0 {
		t.Errorf("the next conversation's evidence question lists %+v, want none", got.Files)
	}
}
