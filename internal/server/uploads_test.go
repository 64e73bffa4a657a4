package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/upload"
	"github.com/claimbot/claimbot/internal/webhook"
)

// tus is a client of /uploads/ authenticated with ?t=<token>, as a load
// tool or a test would be (the page sends its session cookie instead).
type tus struct {
	t   *testing.T
	e   *env
	tok string
}

func (e *env) tus(user string) *tus { return &tus{t: e.t, e: e, tok: e.token(user)} }

func (c *tus) req(method, url string, body io.Reader) *http.Request {
	c.t.Helper()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, url+sep+"t="+c.tok, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	return req
}

func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// create POSTs a new upload and returns its URL (Location) and the status.
func (c *tus) create(name, typ string, length int64) (string, int) {
	c.t.Helper()
	req := c.req(http.MethodPost, c.e.run.URL()+"/uploads/", nil)
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name))+
		",filetype "+base64.StdEncoding.EncodeToString([]byte(typ)))
	res := send(c.t, req)
	return res.Header.Get("Location"), res.StatusCode
}

func (c *tus) head(url string) (int64, int) {
	c.t.Helper()
	res := send(c.t, c.req(http.MethodHead, url, nil))
	off, _ := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	return off, res.StatusCode
}

func (c *tus) patch(url string, offset int64, chunk []byte) int {
	c.t.Helper()
	req := c.req(http.MethodPatch, url, bytes.NewReader(chunk))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	return send(c.t, req).StatusCode
}

// sendAll PATCHes data from offset in chunks; any answer but 204 fails.
func (c *tus) sendAll(url string, offset int64, data []byte, chunk int) {
	c.t.Helper()
	for offset < int64(len(data)) {
		end := min(offset+int64(chunk), int64(len(data)))
		if code := c.patch(url, offset, data[offset:end]); code != http.StatusNoContent {
			c.t.Fatalf("PATCH at %d: %d", offset, code)
		}
		offset = end
	}
}

// upload creates and sends a whole file, returning its URL.
func (c *tus) upload(name, typ string, data []byte) string {
	c.t.Helper()
	url, code := c.create(name, typ, int64(len(data)))
	if code != http.StatusCreated || url == "" {
		c.t.Fatalf("create %s: %d %q", name, code, url)
	}
	c.sendAll(url, 0, data, 256<<10)
	return url
}

// dropPatch sends part of a PATCH body, then drops the connection, as a
// phone losing its network does.
func (c *tus) dropPatch(url string, offset int64, data []byte, sent int) {
	c.t.Helper()
	pr, pw := io.Pipe()
	req := c.req(http.MethodPatch, url, pr)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.ContentLength = int64(len(data)) - offset
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			c.t.Errorf("the dropped PATCH got an answer: %d", res.StatusCode)
		}
	}()
	if _, err := pw.Write(data[offset : offset+int64(sent)]); err != nil {
		c.t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the server store what arrived
	pw.CloseWithError(errors.New("network lost"))
	<-done
}

func uploadID(url string) string { return url[strings.LastIndex(url, "/")+1:] }

func pdfBytes(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	copy(b[size-6:], "%%EOF\n")
	return b
}

// pngBytes is a small PNG image.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// toEvidence answers damage-1015 as a small business with a monetary
// loss over 50만원, up to its evidence question.
func (c *client) toEvidence() {
	c.t.Helper()
	for _, step := range [][2]string{{"choice", "yes"}, {"choice", "small_business"}, {"text", "메일"},
		{"choice", "free_monetary"}, {"text", "동네책방"}, {"text", "617-81-02431"}, {"text", "60만원"}} {
		var r reply
		if step[0] == "choice" {
			r = c.choose(step[1])
		} else {
			r = c.text(step[1])
		}
		if r.Type != "reply" || r.Invalid {
			c.t.Fatalf("%v: %+v", step, r)
		}
	}
	if c.last.State != "evidence" || c.last.Input != "files" || c.last.Upload == nil {
		c.t.Fatalf("not at the evidence question: %+v", c.last)
	}
}

func (c *client) file(url string) reply {
	return c.sendFrame(map[string]any{"type": "file", "upload": url})
}

// afterEvidence answers the rest of the claim and submits it.
func (c *client) afterEvidence() reply {
	c.t.Helper()
	for _, s := range []string{"books@example.com", "010-4444-5555", "메일 주문 누락", "메일로 받던 단체 주문서가 장애 기간에 도착하지 않았습니다."} {
		if r := c.text(s); r.Invalid || r.Type != "reply" {
			c.t.Fatalf("%q: %+v", s, r)
		}
	}
	if c.last.State != "summary" {
		c.t.Fatalf("not at the summary: %+v", c.last)
	}
	return c.choose("submit")
}

func hangul(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Hangul, r) {
			return true
		}
	}
	return false
}

// TestUploadAttachedToClaim: a PDF uploaded over tus at /uploads/ is
// attached by a file frame at damage-1015's evidence question and goes
// with the claim: the summary names it, and once filed the upload is kept
// (the sweep of unattached uploads leaves it), while a file the user
// uploaded but did not attach is swept.
func TestUploadAttachedToClaim(t *testing.T) {
	e := startEnv(t)
	up := e.tus("files-user")
	pdf := pdfBytes(300 << 10)
	url := up.upload("소상공인 확인서.pdf", "application/pdf", pdf)
	if !strings.HasPrefix(url, e.run.URL()+"/uploads/") {
		t.Fatalf("Location %q is not under /uploads/", url)
	}
	if off, code := up.head(url); code != http.StatusOK || off != int64(len(pdf)) {
		t.Fatalf("HEAD: %d, offset %d", code, off)
	}
	stray := up.upload("다른.pdf", "application/pdf", pdfBytes(1000))

	c := e.dial("files-user")
	c.toEvidence()
	if c.last.Upload.URL != "/uploads/" || c.last.Upload.MaxBytes != 20<<20 {
		t.Fatalf("upload of the files question: %+v", c.last.Upload)
	}
	r := c.file(url)
	if r.Type != "reply" || r.Invalid || r.State != "evidence" || len(r.Files) != 1 ||
		r.Files[0].ID != uploadID(url) || r.Files[0].Name != "소상공인 확인서.pdf" || r.Files[0].Size != int64(len(pdf)) {
		t.Fatalf("file frame: %+v", r)
	}
	if !contains(r.Messages, "소상공인 확인서.pdf") {
		t.Errorf("no word of the attached file: %q", r.Messages)
	}
	if r = c.choose("done"); r.Invalid || r.State != "email" {
		t.Fatalf("done: %+v", r)
	}
	r = c.afterEvidence()
	if !r.Done || r.ClaimID == "" {
		t.Fatalf("submit: %+v", r)
	}

	// A returning user adds a file to the filed claim.
	late := up.upload("정산 내역.png", "image/png", pngBytes(t))
	if r = c.choose("attach"); r.Invalid || r.Input != "files" {
		t.Fatalf("attach after filing: %+v", r)
	}
	if r = c.file(late); r.Invalid || len(r.Files) != 1 {
		t.Fatalf("file frame after filing: %+v", r)
	}
	if r = c.choose("done"); r.Invalid || !r.Done || !contains(r.Messages, r.ClaimID) {
		t.Fatalf("done adding files: %+v", r)
	}

	svc := e.run.Server.Uploads()
	ctx := context.Background()
	// The claim's files are kept (after the turn, in the background); the
	// sweep, a whole session TTL later, deletes the stray one only.
	for _, u := range []string{url, late} {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n, err := e.redis.Client(t).ZScore(ctx, "upload:pending", uploadID(u)).Result()
			if err != nil { // gone from the pending uploads: kept
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the claim's upload %s is still pending a sweep: %v", u, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n, err := svc.Sweep(ctx, time.Now().Add(2*e.cfg.SessionTTL)); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	for _, u := range []string{url, late} {
		if f, err := svc.Info(ctx, uploadID(u)); err != nil || !f.Done {
			t.Fatalf("the claim's file %s after the sweep: %+v, %v", u, f, err)
		}
	}
	if _, err := svc.Info(ctx, uploadID(stray)); !errors.Is(err, upload.ErrUnknown) {
		t.Fatalf("the unattached file after the sweep: %v", err)
	}
}

// TestUploadOwnerAndLimits: an upload is its creator's alone (another
// user's HEAD, PATCH and file frame find nothing), Upload-Length over the
// limit is 413, and /uploads/ needs /ws's authentication and Origin.
func TestUploadOwnerAndLimits(t *testing.T) {
	e := startEnv(t)
	alice, mallory := e.tus("alice-up"), e.tus("mallory-up")
	data := pdfBytes(64 << 10)
	url, code := alice.create("a.pdf", "application/pdf", int64(len(data)))
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	alice.sendAll(url, 0, data[:32<<10], 16<<10)
	if _, code := mallory.head(url); code != http.StatusNotFound {
		t.Errorf("another user's HEAD: %d", code)
	}
	if code := mallory.patch(url, 32<<10, data[32<<10:]); code != http.StatusNotFound {
		t.Errorf("another user's PATCH: %d", code)
	}
	if off, code := alice.head(url); code != http.StatusOK || off != 32<<10 {
		t.Errorf("the owner's HEAD after another's PATCH: %d, offset %d", code, off)
	}
	alice.sendAll(url, 32<<10, data, 16<<10)

	if _, code := alice.create("big.pdf", "application/pdf", 20<<20+1); code != http.StatusRequestEntityTooLarge {
		t.Errorf("Upload-Length over 20 MiB: %d", code)
	}
	// No credential: 401; a foreign Origin: 403; a bad token: 401.
	req, _ := http.NewRequest(http.MethodPost, e.run.URL()+"/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "10")
	if code := send(t, req).StatusCode; code != http.StatusUnauthorized {
		t.Errorf("POST without a credential: %d", code)
	}
	req = alice.req(http.MethodPost, e.run.URL()+"/uploads/", nil)
	req.Header.Set("Upload-Length", "10")
	req.Header.Set("Origin", "https://evil.example")
	if code := send(t, req).StatusCode; code != http.StatusForbidden {
		t.Errorf("POST from a foreign origin: %d", code)
	}
	req, _ = http.NewRequest(http.MethodHead, url+"?t=not-a-token", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	if code := send(t, req).StatusCode; code != http.StatusUnauthorized {
		t.Errorf("HEAD with a bad token: %d", code)
	}

	// Mallory names Alice's finished upload in a file frame: refused, and
	// nothing of it (its name neither) reaches her.
	c := e.dial("mallory-up")
	c.toEvidence()
	r := c.file(url)
	if !r.Invalid || r.State != "evidence" || len(r.Files) != 0 || contains(r.Messages, "a.pdf") || !hangul(strings.Join(r.Messages, "")) {
		t.Fatalf("another user's upload in a file frame: %+v", r)
	}
	// Alice attaches it.
	a := e.dial("alice-up")
	a.toEvidence()
	if r := a.file(url); r.Invalid || len(r.Files) != 1 {
		t.Fatalf("the owner's file frame: %+v", r)
	}
}

// TestUploadHTMLNamedPDFRefused: an HTML page named .pdf is refused by its
// bytes; its file frame answers invalid with a Korean message naming the
// file and the accepted types, and nothing is attached.
func TestUploadHTMLNamedPDFRefused(t *testing.T) {
	e := startEnv(t)
	up := e.tus("html-user")
	page := []byte("<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n")
	url, code := up.create("확인서.pdf", "application/pdf", int64(len(page)))
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if code := up.patch(url, 0, page); code != http.StatusUnsupportedMediaType {
		t.Fatalf("PATCH of an HTML page: %d", code)
	}
	// The server's /metrics counts it (the service registers on its registry).
	if _, body := httpGet(t, e.run.URL()+"/metrics"); !strings.Contains(body, "claimbot_uploads_refused_total") ||
		!strings.Contains(body, "claimbot_uploads_started_total 1") {
		t.Errorf("/metrics lacks the uploads' counters")
	}
	c := e.dial("html-user")
	c.toEvidence()
	r := c.file(url)
	if r.Type != "reply" || !r.Invalid || r.State != "evidence" || len(r.Files) != 0 {
		t.Fatalf("file frame of an HTML page named .pdf: %+v", r)
	}
	msg := strings.Join(r.Messages, "\n")
	if !strings.Contains(msg, "확인서.pdf") || !strings.Contains(msg, "형식") || !strings.Contains(msg, "PDF") {
		t.Fatalf("the refusal does not say why in Korean: %q", msg)
	}
	// A file frame naming no upload at all: refused the same way.
	if r := c.file("/uploads/0123456789abcdef0123456789abcdef"); !r.Invalid || !hangul(strings.Join(r.Messages, "")) || len(r.Files) != 0 {
		t.Fatalf("file frame of an unknown upload: %+v", r)
	}
	// An unfinished one too.
	half, _ := up.create("반쪽.pdf", "application/pdf", 4096)
	up.patch(half, 0, pdfBytes(4096)[:1000])
	if r := c.file(half); !r.Invalid || !contains(r.Messages, "반쪽.pdf") || len(r.Files) != 0 {
		t.Fatalf("file frame of an unfinished upload: %+v", r)
	}
}

// TestUploadResumedAfterDrop: a 12 MiB PDF sent in chunks, the connection
// dropped half way, resumed from HEAD's offset, then attached.
func TestUploadResumedAfterDrop(t *testing.T) {
	e := startEnv(t)
	up := e.tus("phone-user")
	pdf := pdfBytes(12 << 20)
	url, code := up.create("매출 장부.pdf", "application/pdf", int64(len(pdf)))
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	up.sendAll(url, 0, pdf[:2<<20], 1<<20)
	up.dropPatch(url, 2<<20, pdf, 4<<20)
	off, code := up.head(url)
	if code != http.StatusOK || off < 2<<20 || off >= int64(len(pdf)) {
		t.Fatalf("HEAD after the drop: %d, offset %d", code, off)
	}
	c := e.dial("phone-user")
	c.toEvidence()
	if r := c.file(url); !r.Invalid || len(r.Files) != 0 || !contains(r.Messages, "매출 장부.pdf") {
		t.Fatalf("file frame of the half-sent upload: %+v", r)
	}
	up.sendAll(url, off, pdf, 3<<20)
	r := c.file(url)
	if r.Invalid || len(r.Files) != 1 || r.Files[0].Size != int64(len(pdf)) {
		t.Fatalf("file frame of the resumed upload: %+v", r)
	}
	f, err := e.run.Server.Uploads().Info(context.Background(), uploadID(url))
	if err != nil || !f.Done || f.Type != "application/pdf" || f.Size != int64(len(pdf)) {
		t.Fatalf("the resumed file: %+v, %v", f, err)
	}
}

// TestFileFrameRedisUnavailable: with Redis not answering, a file frame
// gets "unavailable" within 2 s and nothing is attached.
func TestFileFrameRedisUnavailable(t *testing.T) {
	e := startEnv(t)
	up := e.tus("frozen-user")
	url := up.upload("a.pdf", "application/pdf", pdfBytes(2000))
	c := e.dial("frozen-user")
	c.toEvidence()
	e.redis.Freeze()
	start := time.Now()
	r := c.file(url)
	if d := time.Since(start); r.Type != "error" || r.Code != "unavailable" || d > 2*time.Second {
		t.Fatalf("file frame with Redis frozen: %+v after %v", r, d)
	}
	e.redis.Thaw()
	time.Sleep(unavailableGapForTest)
	if r := c.file(url); r.Type != "reply" || r.Invalid || len(r.Files) != 1 {
		t.Fatalf("the file frame again, Redis back: %+v", r)
	}
}

// unavailableGapForTest outlasts the server's unavailableGap, in which
// frames get "unavailable" without trying Redis.
const unavailableGapForTest = 600 * time.Millisecond

// TestStartNeedsUploads: production refuses to start, naming the
// variable, without CLAIMBOT_UPLOADS when a flow asks for files, and
// without CLAIMBOT_PUBLIC_URL when uploads are on; dev mode says where its
// files go.
func TestStartNeedsUploads(t *testing.T) {
	e := &env{t: t, redis: redistest.Start(t)}
	secret, _ := webhook.NewSecret()
	base := func() *config.Config {
		return &config.Config{Addr: "127.0.0.1:0", RedisURL: e.redis.URL, Flows: "../../flows", Locales: "../../locales",
			DefaultFlow: "damage-1015", BannerSecret: bannerSecret, WebhookURL: "http://127.0.0.1:1/", WebhookSecret: secret,
			SessionTTL: time.Hour, Retention: time.Hour, RetrySchedule: []time.Duration{time.Second}, LogLevel: slog.LevelInfo}
	}
	cfg := base()
	if r, err := server.Start(context.Background(), cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), "CLAIMBOT_UPLOADS") {
		if err == nil {
			r.Stop()
		}
		t.Fatalf("production, a files flow, no CLAIMBOT_UPLOADS: %v", err)
	}
	cfg = base()
	cfg.Uploads = t.TempDir()
	if r, err := server.Start(context.Background(), cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), "CLAIMBOT_PUBLIC_URL") {
		if err == nil {
			r.Stop()
		}
		t.Fatalf("production, uploads on, no CLAIMBOT_PUBLIC_URL: %v", err)
	}

	// Dev mode: the start-up output names the folder.
	cfg = base()
	cfg.BannerSecret, cfg.WebhookURL, cfg.WebhookSecret = "", "", ""
	var logs bytes.Buffer
	r, err := server.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if !strings.Contains(logs.String(), config.DevUploads()) {
		t.Fatalf("dev mode's start-up does not say where files go:\n%s", logs.String())
	}
}

// TestUploadsOff: production with no flow asking for files and no
// CLAIMBOT_UPLOADS starts with uploads off: /uploads/ is not found and a
// file frame gets a Korean refusal, not a crash.
func TestUploadsOff(t *testing.T) {
	// testdata/nofiles.yaml: a flow that asks for no files.
	e := startEnv(t, withFlows("testdata"), func(c *config.Config) { c.DefaultFlow, c.Uploads, c.PublicURL = "nofiles", "", "" })
	if e.run.Server.Uploads() != nil {
		t.Fatal("uploads are on")
	}
	req := e.tus("off-user").req(http.MethodPost, e.run.URL()+"/uploads/", nil)
	req.Header.Set("Upload-Length", "10")
	if code := send(t, req).StatusCode; code != http.StatusNotFound {
		t.Fatalf("POST /uploads/ with uploads off: %d", code)
	}
	c := e.dial("off-user")
	r := c.file("/uploads/0123456789abcdef")
	if r.Type != "reply" || !r.Invalid || r.State != "email" || !hangul(strings.Join(r.Messages, "")) {
		t.Fatalf("a file frame with uploads off: %+v", r)
	}
	if r := c.text("me@example.com"); !r.Done {
		t.Fatalf("the flow goes on: %+v", r)
	}
}

// TestSweeper: the ticker deletes uploads attached to nothing once a
// session TTL has passed since their creation, and runs the claims'
// files hook on the same tick.
func TestSweeper(t *testing.T) {
	e := startEnv(t, func(c *config.Config) { c.SessionTTL = time.Second })
	up := e.tus("sweep-user")
	url := up.upload("a.pdf", "application/pdf", pdfBytes(2000))
	svc := e.run.Server.Uploads()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook := make(chan time.Time, 100)
	sw := &server.Sweeper{Uploads: svc, Log: testLogger(t), Every: 100 * time.Millisecond,
		ClaimFiles: func(ctx context.Context, now time.Time) (int, error) { hook <- now; return 0, nil }}
	done := make(chan struct{})
	go func() { sw.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := svc.Info(context.Background(), uploadID(url))
		if errors.Is(err, upload.ErrUnknown) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unattached upload outlived its session TTL: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, code := up.head(url); code != http.StatusNotFound {
		t.Errorf("HEAD of the swept upload: %d", code)
	}
	select {
	case <-hook:
	default:
		t.Error("the claims' files hook did not run")
	}
	cancel()
	<-done
}

// TestUploadsTakeNoWebSocketLimits: a user's uploads draw nothing from
// the frame rate limit nor take a socket's place.
func TestUploadsTakeNoWebSocketLimits(t *testing.T) {
	e := startEnv(t, withRateLimit(0.5), func(c *config.Config) { c.SocketsPerUser = 1 })
	c := e.dial("limit-user")
	up := e.tus("limit-user")
	for i := 0; i < 5; i++ {
		up.upload("a.pdf", "application/pdf", pdfBytes(2000))
	}
	if r := c.choose("yes"); r.Type != "reply" || r.Invalid {
		t.Fatalf("a frame after five uploads: %+v", r)
	}
}

// TestFileLinksWorkOnEveryInstance: the links' key is derived from the
// webhook secret, so a link signed by one instance opens on another (and
// after a restart); an upload started on one resumes on the other; a
// changed link is refused.
func TestFileLinksWorkOnEveryInstance(t *testing.T) {
	a := startEnv(t)
	cfg := *a.cfg
	cfg.Addr = "127.0.0.1:0"
	b := &env{t: t, redis: a.redis, recv: a.recv, cfg: &cfg, secret: a.secret}
	b.start()

	pdf := pdfBytes(100 << 10)
	onA, onB := a.tus("links-user"), b.tus("links-user")
	url, code := onA.create("a.pdf", "application/pdf", int64(len(pdf)))
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	onA.sendAll(url, 0, pdf[:50<<10], 25<<10)
	urlB := b.run.URL() + "/uploads/" + uploadID(url)
	if off, code := onB.head(urlB); code != http.StatusOK || off != 50<<10 {
		t.Fatalf("HEAD on the other instance: %d, offset %d", code, off)
	}
	onB.sendAll(urlB, 50<<10, pdf, 25<<10)

	link := a.run.Server.Uploads().Link(uploadID(url), time.Time{})
	if !strings.HasPrefix(link, "http://claimbot.test/files/") {
		t.Fatalf("link %q does not start with CLAIMBOT_PUBLIC_URL", link)
	}
	path := strings.TrimPrefix(link, "http://claimbot.test")
	code, body := httpGet(t, b.run.URL()+path)
	if code != http.StatusOK || body != string(pdf) {
		t.Fatalf("the link on the other instance: %d, %d bytes", code, len(body))
	}
	if code, _ := httpGet(t, b.run.URL()+path+"0"); code != http.StatusForbidden {
		t.Errorf("a changed link: %d", code)
	}
}

// TestUploadAuthAsWebSocket: /uploads/ takes the session cookie that
// /chat gives, as /ws does; and in dev mode ?user=.
func TestUploadAuthAsWebSocket(t *testing.T) {
	e := startEnv(t)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Get(e.run.URL() + "/chat?t=" + e.token("cookie-up"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("no session cookie: %v", cookies)
	}
	post := func(base, query string, ck *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/uploads/"+query, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "2000")
		req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("c.pdf")))
		if ck != nil {
			req.AddCookie(ck)
		}
		res := send(t, req)
		return res, res.Header.Get("Location")
	}
	res, url := post(e.run.URL(), "", cookies[0])
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST with the session cookie: %d", res.StatusCode)
	}
	// The upload is the cookie's user's: that user's token sees it, another's does not.
	if _, code := e.tus("cookie-up").head(url); code != http.StatusOK {
		t.Errorf("HEAD by the cookie's user: %d", code)
	}
	if _, code := e.tus("someone-else").head(url); code != http.StatusNotFound {
		t.Errorf("HEAD by another user: %d", code)
	}

	// Dev mode: ?user=, and a token is refused as /ws refuses it.
	cfg := *e.cfg
	cfg.Addr, cfg.BannerSecret, cfg.WebhookURL, cfg.WebhookSecret = "127.0.0.1:0", "", "", ""
	dev := &env{t: t, redis: e.redis, cfg: &cfg}
	dev.start()
	if res, _ := post(dev.run.URL(), "?user=dev-up", nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("dev mode POST with ?user=: %d", res.StatusCode)
	}
	if res, _ := post(dev.run.URL(), "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dev mode POST with no user: %d", res.StatusCode)
	}
}
