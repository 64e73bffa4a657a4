package outbox

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/webhook"
)

// TestPostDirectAsClient: posting on the transport of the sender's own
// client gives the same outcomes, and sends the same request, as posting
// through that client (the old path, still taken for a client given in
// Config or a URL with a user name).
func TestPostDirectAsClient(t *testing.T) {
	text, _ := webhook.NewSecret()
	secret, _ := webhook.ParseSecret(text)
	type seen struct {
		method, ua, ctype, id, auth string
		verify                      error
		body                        string
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{r.Method, r.UserAgent(), r.Header.Get("Content-Type"), r.Header.Get(webhook.HeaderID),
			r.Header.Get("Authorization"), secret.Verify(r.Header, body, time.Now()), string(body)})
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/busy":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/gone":
			w.WriteHeader(http.StatusGone)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer recv.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + l.Addr().String() + "/ok"
	l.Close()
	withUser := strings.Replace(recv.URL, "http://", "http://user:pass@", 1) + "/ok"

	j := job{shard: 1, id: "1-1", claim: "C-1", body: []byte(`{"type":"claim.submitted"}`)}
	for _, u := range []string{recv.URL + "/ok", recv.URL + "/redirect", recv.URL + "/busy", recv.URL + "/gone",
		recv.URL + "/slow", refused, withUser} {
		cfg := Config{URL: u, Secret: secret, Timeout: 100 * time.Millisecond, Workers: 4}
		direct := NewSender(nil, cfg)
		cfg.HTTPClient = newHTTPClient(4)
		client := NewSender(nil, cfg)
		if (direct.direct == nil) != (u == withUser) {
			t.Errorf("%s: direct transport %v", u, direct.direct)
		}
		if client.direct != nil {
			t.Errorf("%s: a client of the caller's is passed by", u)
		}
		mu.Lock()
		got = nil
		mu.Unlock()
		rd, rc := direct.post(context.Background(), j), client.post(context.Background(), j)
		if rd != rc {
			t.Errorf("%s: direct %+v, through the client %+v", u, rd, rc)
		}
		if u == refused {
			continue
		}
		mu.Lock()
		reqs := got
		mu.Unlock()
		if len(reqs) != 2 || reqs[0] != reqs[1] {
			t.Errorf("%s: requests seen %+v, want two the same", u, reqs)
			continue
		}
		if s := reqs[0]; s.method != http.MethodPost || s.ua != "claimbot" || s.ctype != "application/json" ||
			s.id != webhook.MessageID(j.claim) || s.verify != nil || s.body != string(j.body) {
			t.Errorf("%s: request %+v", u, s)
		}
		if (reqs[0].auth != "") != (u == withUser) {
			t.Errorf("%s: Authorization %q", u, reqs[0].auth)
		}
	}
}
