package outbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestRequestAsNewRequest: an attempt's request, made from the template
// parsed in NewSender, is the one http.NewRequestWithContext makes of the
// URL and the body (the old path): same fields, same body from Body and
// from GetBody, same context; and a bad URL makes none.
func TestRequestAsNewRequest(t *testing.T) {
	text, _ := webhook.NewSecret()
	secret, _ := webhook.ParseSecret(text)
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, 1)
	read := func(rc io.ReadCloser, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		return string(b)
	}
	for _, u := range []string{"http://127.0.0.1:8080/hook?x=1", "https://Example.com:443/a%20b/", "http://user:pw@[::1]:/h",
		"http://example.com", "::not a url", "ftp://example.com/x"} {
		s := NewSender(nil, Config{URL: u, Secret: secret})
		for _, body := range []string{`{"type":"claim.submitted"}`, ""} {
			want, werr := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader([]byte(body)))
			got := s.request(ctx, []byte(body))
			if (got == nil) != (werr != nil) {
				t.Fatalf("%s: request %v, NewRequest error %v", u, got, werr)
			}
			if got == nil {
				continue
			}
			for _, c := range []struct {
				what      string
				got, want any
			}{
				{"method", got.Method, want.Method},
				{"URL", *got.URL, *want.URL},
				{"host", got.Host, want.Host},
				{"proto", [3]any{got.Proto, got.ProtoMajor, got.ProtoMinor}, [3]any{want.Proto, want.ProtoMajor, want.ProtoMinor}},
				{"length", got.ContentLength, want.ContentLength},
				{"header", got.Header, want.Header},
				{"body type", bodyType(got.Body), bodyType(want.Body)},
				{"context", got.Context(), want.Context()},
				{"GetBody set", got.GetBody != nil, want.GetBody != nil},
				{"rest", fmt.Sprint(got.Close, got.Form, got.Trailer, got.TLS, got.Cancel, got.Response, got.Pattern, got.TransferEncoding),
					fmt.Sprint(want.Close, want.Form, want.Trailer, want.TLS, want.Cancel, want.Response, want.Pattern, want.TransferEncoding)},
			} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s, body %q: %s %v, want %v", u, body, c.what, c.got, c.want)
				}
			}
			if g, w := read(got.GetBody()), read(want.GetBody()); g != w || g != body {
				t.Errorf("%s: GetBody gave %q, want %q", u, g, w)
			}
			if g := read(got.Body, nil); g != body {
				t.Errorf("%s: body %q, want %q", u, g, body)
			}
			if g := read(got.GetBody()); g != body { // again, after Body was read
				t.Errorf("%s: GetBody again gave %q, want %q", u, g, body)
			}
		}
	}
}

// bodyType names a request body's type and, for io.NopCloser's, the
// reader's inside (which decides whether net/http takes it as in memory).
func bodyType(rc io.ReadCloser) string {
	if v := reflect.ValueOf(rc); v.Kind() == reflect.Struct && v.NumField() > 0 {
		return fmt.Sprintf("%T(%v)", rc, v.Field(0).Elem().Type())
	}
	return fmt.Sprintf("%T", rc)
}

// TestAnswersLeaveTheConnectionReusable: whatever answer the receiver
// gives within the drain limit (no body, a body of a known length, a
// chunked one, an error's), the next attempt goes on the same connection;
// after an answer longer than the limit, which is not read to its end,
// on a new one.
func TestAnswersLeaveTheConnectionReusable(t *testing.T) {
	text, _ := webhook.NewSecret()
	secret, _ := webhook.ParseSecret(text)
	recv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Query().Get("a") {
		case "204":
			w.WriteHeader(http.StatusNoContent)
		case "empty":
			w.Header().Set("Content-Length", "0")
		case "length":
			w.Header().Set("Content-Length", "5000")
			_, _ = w.Write(bytes.Repeat([]byte("x"), 5000))
		case "chunked":
			for range 3 {
				_, _ = w.Write(bytes.Repeat([]byte("y"), 3000))
				w.(http.Flusher).Flush()
			}
		case "error":
			http.Error(w, "no", http.StatusInternalServerError)
		case "limit":
			w.Header().Set("Content-Length", strconv.Itoa(answerDrain))
			_, _ = w.Write(make([]byte, answerDrain))
		case "huge":
			_, _ = w.Write(make([]byte, 4*answerDrain))
		}
	}))
	var conns atomic.Int32
	recv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	recv.Start()
	defer recv.Close()
	j := job{shard: 1, id: "1-1", claim: "C-1", body: []byte(`{"type":"claim.submitted"}`)}
	shared := newHTTPClient(4).Transport.(*http.Transport) // one for all, as a sender has
	defer shared.CloseIdleConnections()
	post := func(answer string, status int) {
		t.Helper()
		s := NewSender(nil, Config{URL: recv.URL + "/?a=" + answer, Secret: secret})
		s.direct = shared
		if r := s.post(context.Background(), j); r.status != status {
			t.Fatalf("answer %s: %+v, want status %d", answer, r, status)
		}
	}
	post("204", http.StatusNoContent)
	for _, a := range []struct {
		answer string
		status int
	}{{"204", 204}, {"empty", 200}, {"length", 200}, {"chunked", 200}, {"error", 500}, {"limit", 200}} {
		post(a.answer, a.status)
		post("204", http.StatusNoContent)
		if n := conns.Load(); n != 1 {
			t.Fatalf("after answer %s: %d connections, want 1", a.answer, n)
		}
	}
	post("huge", http.StatusOK)
	post("204", http.StatusNoContent)
	if n := conns.Load(); n != 2 {
		t.Errorf("after an answer over the limit: %d connections, want 2", n)
	}
}
