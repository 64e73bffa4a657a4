package server_test

import (
	"net/http"
	"testing"
)

// Over HTTPS the session cookie carries the __Host- prefix (Secure,
// host-only, Path=/), and a plain-named cookie, which a sibling subdomain
// could have planted, does not count there.
func TestCookieHostPrefixOverHTTPS(t *testing.T) {
	e := startEnv(t)
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	req, _ := http.NewRequest(http.MethodGet, e.run.URL()+"/chat?t="+e.token("user-host-prefix"), nil)
	req.Header = https.Clone()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-claimbot_session" || !cookies[0].Secure || cookies[0].Path != "/" || cookies[0].Domain != "" {
		t.Fatalf("cookies %v, want one __Host-claimbot_session, Secure, Path=/, no Domain", cookies)
	}
	checkSessionCookie(t, e, cookies[0])

	get := func(name, value string) int {
		req, _ := http.NewRequest(http.MethodGet, e.run.URL()+"/chat", nil)
		req.Header = https.Clone()
		req.AddCookie(&http.Cookie{Name: name, Value: value})
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := get("__Host-claimbot_session", cookies[0].Value); status != http.StatusOK {
		t.Errorf("HTTPS with the __Host- cookie: HTTP %d, want 200", status)
	}
	if status := get("claimbot_session", cookies[0].Value); status != http.StatusUnauthorized {
		t.Errorf("HTTPS with a plain-named cookie: HTTP %d, want 401 (it does not count)", status)
	}
}
