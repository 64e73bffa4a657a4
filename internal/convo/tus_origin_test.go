package convo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recorder is an HTTP server that notes every request it gets and
// answers with answer (204 when nil).
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []string // method, URL and Referer of each request
	answer func(w http.ResponseWriter, r *http.Request)
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.got = append(rec.got, r.Method+" "+r.URL.String()+" referer="+r.Referer())
		answer := rec.answer
		rec.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.got...)
}

// TestTusStaysOnServer: the upload's credential (a banner token, or dev
// mode's user) and the file go to the WebSocket's server only. An upload
// url in a reply, a Location from the server's creation, or a redirect
// that names another host is refused with an error that does not carry
// the credential, and the other host receives nothing.
func TestTusStaysOnServer(t *testing.T) {
	ctx := context.Background()
	pdf := fakePDF(4096)
	for _, tc := range []struct {
		name string
		// server answers the WebSocket's server's requests; reply is the
		// files question, given the other host's URL.
		server func(other string) func(w http.ResponseWriter, r *http.Request)
		reply  func(other string) Reply
	}{
		{"upload url", nil, func(other string) Reply {
			r := filesReply()
			r.Upload.URL = other + "/uploads/"
			return r
		}},
		{"location", func(other string) func(w http.ResponseWriter, r *http.Request) {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", other+"/uploads/abc")
				w.WriteHeader(http.StatusCreated)
			}
		}, nil},
		{"redirect", func(other string) func(w http.ResponseWriter, r *http.Request) {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other+"/uploads/", http.StatusTemporaryRedirect)
			}
		}, nil},
	} {
		for _, secret := range []string{banner, ""} {
			name := tc.name + "/token"
			if secret == "" {
				name = tc.name + "/dev"
			}
			t.Run(name, func(t *testing.T) {
				server, other := newRecorder(t), newRecorder(t)
				if tc.server != nil {
					server.answer = tc.server(other.srv.URL)
				}
				reply := filesReply()
				if tc.reply != nil {
					reply = tc.reply(other.srv.URL)
				}
				r, err := NewRemote(RemoteOptions{URL: strings.Replace(server.srv.URL, "http://", "ws://", 1) + "/ws", TokenSecret: secret})
				if err != nil {
					t.Fatal(err)
				}
				user := NewUser()
				d, err := r.Driver(ctx, user, "", "")
				if err != nil {
					t.Fatal(err)
				}
				cred := d.(*remoteDriver).auth.Get("t")
				if secret == "" {
					cred = user
				}
				if cred == "" {
					t.Fatal("no credential to look for")
				}

				loc, err := d.(Uploader).Upload(ctx, "a.pdf", pdf, reply)
				if got := other.requests(); len(got) != 0 {
					t.Errorf("the other host received %q", got)
				}
				if err == nil || !strings.Contains(err.Error(), "another host") {
					t.Fatalf("upload: %q, %v; want a refusal of another host", loc, err)
				}
				t.Logf("refused: %v", err)
				if strings.Contains(err.Error(), cred) {
					t.Errorf("the error %q shows the credential", err)
				}
				if !strings.Contains(err.Error(), strings.TrimPrefix(other.srv.URL, "http://")) {
					t.Errorf("the error %q does not name the other host", err)
				}
				if tc.reply != nil {
					if got := server.requests(); len(got) != 0 {
						t.Errorf("a refused upload url still sent %q to the server", got)
					}
				}
			})
		}
	}
}
