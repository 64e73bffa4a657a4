package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/token"
)

// chatGet asks for a /chat URL as a browser holding cookies would, without
// following a redirect.
func chatGet(t *testing.T, url string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// sessionCookie exchanges a banner token for the session cookie.
func (e *env) sessionCookie(t *testing.T, tok string) *http.Cookie {
	t.Helper()
	resp, _ := chatGet(t, e.run.URL()+"/chat?t="+tok)
	for _, c := range resp.Cookies() {
		if c.Name == "claimbot_session" {
			return c
		}
	}
	t.Fatalf("/chat?t= answered %d with no session cookie", resp.StatusCode)
	return nil
}

// A valid token naming a flow the server does not run is refused with 403
// and a page saying so in the token's language; a cookie the browser holds
// (maybe another user's) is neither used nor replaced.
func TestChatUnknownFlow(t *testing.T) {
	e := startEnv(t)
	other := e.sessionCookie(t, e.token("user-cookie-owner"))
	for _, tt := range []struct{ lang, want string }{
		{"", "이 접수는 지금 이용할 수 없어요"},
		{"en", "This intake is not available"},
	} {
		t.Run("lang "+tt.lang, func(t *testing.T) {
			tok, err := token.Mint([]byte(bannerSecret), "user-unknown-flow", "no-such-flow", tt.lang, time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for name, cookies := range map[string][]*http.Cookie{"no cookie": nil, "another user's cookie": {other}} {
				resp, body := chatGet(t, e.run.URL()+"/chat?t="+tok, cookies...)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s: HTTP %d (Location %q), want 403", name, resp.StatusCode, resp.Header.Get("Location"))
				}
				if !strings.Contains(body, tt.want) {
					t.Errorf("%s: page lacks %q: %s", name, tt.want, body)
				}
				if len(resp.Cookies()) != 0 {
					t.Errorf("%s: sets cookies %v", name, resp.Cookies())
				}
			}
		})
	}
}
