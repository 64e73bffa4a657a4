package convo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/upload"
)

const (
	fixturePDF  = flowsDir + "/files/small-business-certificate.pdf"
	fixtureHTML = flowsDir + "/files/not-a-pdf.pdf"
	banner      = "test-banner-secret-0123456789abcdef"
)

// uploadServer is a server's upload endpoint alone: upload.Service's tus
// handler at /uploads/, authenticated as /ws is (?t= or dev mode's
// ?user=), with a hook in front of it.
type uploadServer struct {
	svc *upload.Service
	srv *httptest.Server
	mu  sync.Mutex
	// requests counts the requests by method.
	requests map[string]int
	// before may answer a request itself (true) instead of the service.
	before func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newUploadServer(t *testing.T, maxSize int64) *uploadServer {
	t.Helper()
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { rdb.Close() })
	us := &uploadServer{requests: map[string]int{}}
	mux := http.NewServeMux()
	us.srv = httptest.NewServer(mux)
	t.Cleanup(us.srv.Close)
	svc, err := upload.New(context.Background(), upload.Config{Storage: t.TempDir(), PublicURL: us.srv.URL,
		Secret: []byte(banner), Redis: rdb, MaxSize: maxSize,
		Auth: func(r *http.Request) (string, bool) {
			q := r.URL.Query()
			if raw := q.Get("t"); raw != "" {
				c, err := token.Verify([]byte(banner), raw, time.Now())
				if err != nil {
					return "", false
				}
				return c.Subject, true
			}
			return q.Get("user"), q.Get("user") != ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	us.svc = svc
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		us.mu.Lock()
		us.requests[r.Method]++
		n, before := us.requests[r.Method], us.before
		us.mu.Unlock()
		if before != nil && before(w, r, n) {
			return
		}
		svc.Handler().ServeHTTP(w, r)
	})
	mux.Handle("/uploads/", h)
	mux.Handle("/uploads", h)
	return us
}

func (us *uploadServer) count(method string) int {
	us.mu.Lock()
	defer us.mu.Unlock()
	return us.requests[method]
}

// filesReply is a files question's reply, naming the upload endpoint.
func filesReply() Reply {
	var r Reply
	r.Input = "files"
	r.Upload = &engine.Upload{URL: engine.UploadPath, MaxFiles: 10, MaxBytes: 20 << 20, Accept: upload.DefaultTypes}
	return r
}

// remoteUploader is the remote driver of a conversation of user with the
// server of us, as `claimbot test --url` makes it.
func remoteUploader(t *testing.T, us *uploadServer, user, tokenSecret string) Uploader {
	t.Helper()
	r, err := NewRemote(RemoteOptions{URL: strings.Replace(us.srv.URL, "http://", "ws://", 1) + "/ws", TokenSecret: tokenSecret})
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Driver(context.Background(), user, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return d.(Uploader)
}

func fakePDF(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	copy(b[size-6:], "%%EOF\n")
	return b
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestRemoteUpload: the remote driver uploads over tus to the server's
// /uploads/, authenticated as its WebSocket is (a token, or dev mode's
// user), in 1 MiB PATCHes; the upload is that user's alone.
func TestRemoteUpload(t *testing.T) {
	us := newUploadServer(t, 20<<20)
	ctx := context.Background()
	pdf := fakePDF(2<<20 + 1234)
	for _, tc := range []struct{ name, secret string }{{"token", banner}, {"dev", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			user := NewUser()
			before := us.count(http.MethodPatch)
			loc, err := remoteUploader(t, us, user, tc.secret).Upload(ctx, "확인서.pdf", pdf, filesReply())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(loc, us.srv.URL+"/uploads/") || strings.Contains(loc, "?") {
				t.Errorf("location %q: want %s/uploads/<id>, with no credential in it", loc, us.srv.URL)
			}
			if n := us.count(http.MethodPatch) - before; n != 3 {
				t.Errorf("%d PATCHes, want 3 of at most 1 MiB", n)
			}
			f, err := us.svc.Check(ctx, engine.UploadID(loc), user, upload.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !f.Done || f.Type != "application/pdf" || f.Name != "확인서.pdf" || f.Size != int64(len(pdf)) || f.SHA256 != digest(pdf) {
				t.Errorf("stored %+v, want the whole PDF", f)
			}
			if _, err := us.svc.Check(ctx, engine.UploadID(loc), "someone-else", upload.Limits{}); !errors.Is(err, upload.ErrNotYours) {
				t.Errorf("another user's check: %v, want ErrNotYours", err)
			}
		})
	}

	// TestRemote's probe of a server's uploads (withUploads) sees them.
	if got := withUploads(t, strings.TrimPrefix(us.srv.URL, "http://"), []*Script{{Steps: []Step{{Kind: Attach}}}}); len(got) != 1 {
		t.Error("withUploads does not see the tus endpoint")
	}

	t.Run("wrong token", func(t *testing.T) {
		_, err := remoteUploader(t, us, NewUser(), "another-secret-0123456789abcdef0123").Upload(ctx, "a.pdf", pdf[:100], filesReply())
		var re *RefusedError
		if !errors.As(err, &re) || re.Status != http.StatusUnauthorized || re.Location != "" {
			t.Errorf("err %v, want a 401 refusal", err)
		}
	})
}

// A PATCH that breaks off half way (a phone losing its network) is
// followed by HEAD, and the upload goes on from the offset the server
// stored, not from the chunk's start.
func TestTusResumes(t *testing.T) {
	us := newUploadServer(t, 20<<20)
	ctx := context.Background()
	pdf := fakePDF(3 << 20)
	var once sync.Once
	var mu sync.Mutex
	var offsets []string
	us.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPatch {
			mu.Lock()
			offsets = append(offsets, r.Header.Get("Upload-Offset"))
			mu.Unlock()
		}
		if r.Method == http.MethodPatch && n == 2 {
			// Half of the second chunk arrives, then the body breaks off.
			once.Do(func() {
				r.Body = io.NopCloser(io.MultiReader(io.LimitReader(r.Body, 300<<10), errReader{}))
			})
		}
		return false
	}
	user := NewUser()
	loc, err := remoteUploader(t, us, user, "").Upload(ctx, "big.pdf", pdf, filesReply())
	if err != nil {
		t.Fatal(err)
	}
	if us.count(http.MethodHead) < 1 {
		t.Error("no HEAD after the broken PATCH")
	}
	// 1 MiB, the broken one (300 KiB stored), then the rest from there.
	want := []string{"0", "1048576", "1355776", "2404352"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(offsets, " ") != strings.Join(want, " ") {
		t.Errorf("PATCHes at %v, want %v (resumed from the stored offset)", offsets, want)
	}
	f, err := us.svc.Check(ctx, engine.UploadID(loc), user, upload.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if f.SHA256 != digest(pdf) || f.Size != int64(len(pdf)) {
		t.Errorf("stored %d bytes %s, want the PDF's %d bytes %s", f.Size, f.SHA256, len(pdf), digest(pdf))
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("network lost") }

// A server that never moves on ends the upload with an error after a few
// attempts instead of retrying for ever.
func TestTusGivesUp(t *testing.T) {
	us := newUploadServer(t, 20<<20)
	us.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPatch {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	done := make(chan error, 1)
	go func() {
		_, err := remoteUploader(t, us, NewUser(), "").Upload(context.Background(), "a.pdf", fakePDF(4096), filesReply())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no progress") {
			t.Errorf("err %v, want no progress", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the upload retries for ever")
	}
	if n := us.count(http.MethodPatch); n != tusStalls {
		t.Errorf("%d PATCHes, want %d", n, tusStalls)
	}
}

// The server's refusals come back as RefusedError: a type it does not take
// (decided by the bytes, at the last PATCH) with the upload's URL, so the
// bot can be told; a file over the limit (at creation) without one.
func TestTusRefusals(t *testing.T) {
	us := newUploadServer(t, 1<<20)
	ctx := context.Background()
	user := NewUser()
	up := remoteUploader(t, us, user, "")
	html, err := os.ReadFile(fixtureHTML)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := up.Upload(ctx, "not-a-pdf.pdf", html, filesReply())
	var re *RefusedError
	if !errors.As(err, &re) || re.Status != http.StatusUnsupportedMediaType || re.Location == "" || re.Location != loc {
		t.Fatalf("HTML named .pdf: %q, %v; want a 415 refusal with the upload's URL", loc, err)
	}
	if _, err := us.svc.Check(ctx, engine.UploadID(re.Location), user, upload.Limits{}); !errors.Is(err, upload.ErrType) {
		t.Errorf("check of the refused upload: %v, want ErrType", err)
	}

	_, err = up.Upload(ctx, "big.pdf", fakePDF(1<<20+1), filesReply())
	if !errors.As(err, &re) || re.Status != http.StatusRequestEntityTooLarge || re.Location != "" {
		t.Errorf("over the limit: %v, want a 413 refusal without a URL", err)
	}
}

// The endpoint is the files question's upload url on the WebSocket's
// host, over http or https; /uploads/ when the reply names none. An upload
// url on another host, scheme or port is refused (want "").
func TestUploadEndpoint(t *testing.T) {
	for _, tc := range []struct {
		ws, path, want string
	}{
		{"ws://127.0.0.1:8080/ws", "/uploads/", "http://127.0.0.1:8080/uploads/"},
		{"wss://chat.example/ws?t=x", "/uploads/", "https://chat.example/uploads/"},
		{"wss://chat.example/x/ws", "", "https://chat.example/uploads/"},
		{"wss://chat.example/ws", "https://chat.example:443/up/", "https://chat.example:443/up/"},
		{"ws://Chat.Example:8080/ws", "http://chat.example:8080/up/", "http://chat.example:8080/up/"},
		{"ws://h/ws", "https://files.example/up/", ""},
		{"ws://h/ws", "//files.example/up/", ""},
		{"ws://h/ws", "https://h/up/", ""},
		{"wss://h/ws", "http://h/up/", ""},
		{"ws://h:8080/ws", "http://h:8081/up/", ""},
		{"ws://h/ws", "http://h.evil.example/up/", ""},
	} {
		u, err := WebSocketURL(tc.ws)
		if err != nil {
			t.Fatal(err)
		}
		r := filesReply()
		r.Upload.URL = tc.path
		got, err := uploadEndpoint(httpURL(u), r)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), "another host") || strings.Contains(err.Error(), "t=x") {
				t.Errorf("%s with %q: %v %v, want a refusal of another host", tc.ws, tc.path, got, err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("%s with %q: %v %v, want %s", tc.ws, tc.path, got, err, tc.want)
		}
	}
}
