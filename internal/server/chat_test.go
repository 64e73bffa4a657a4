package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/config"
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

// A cookie whose flow has been taken out since, and dev mode's ?flow=
// naming no flow, get the same 403 page: not a chat page whose WebSocket
// is refused again and again.
func TestChatFlowGone(t *testing.T) {
	e := startEnv(t)
	gone, err := token.Mint(token.CookieKey([]byte(bannerSecret)), "user-flow-gone", "retired-flow", "en", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, body := chatGet(t, e.run.URL()+"/chat", &http.Cookie{Name: "claimbot_session", Value: gone})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This intake is not available") {
		t.Errorf("cookie of a removed flow: HTTP %d: %s", resp.StatusCode, body)
	}
	dev := startDev(t)
	resp, body = chatGet(t, dev.URL()+"/chat?flow=no-such-flow")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "이 접수는 지금 이용할 수 없어요") {
		t.Errorf("dev mode, unknown ?flow=: HTTP %d: %s", resp.StatusCode, body)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("dev mode, unknown ?flow=: sets cookies %v", resp.Cookies())
	}
}

// checkSessionCookie checks a session cookie's attributes and that it is
// valid for a whole session TTL from now.
func checkSessionCookie(t *testing.T, e *env, c *http.Cookie) {
	t.Helper()
	ttl := e.cfg.SessionTTL
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int(ttl.Seconds()) {
		t.Errorf("cookie %s: want HttpOnly, SameSite=Lax, Path=/, Max-Age=%d", c, int(ttl.Seconds()))
	}
	claims, err := token.Verify(token.CookieKey([]byte(bannerSecret)), c.Value, time.Now())
	if err != nil {
		t.Fatalf("cookie value: %v", err)
	}
	if left := time.Until(claims.ExpiresAt.Time); left < ttl-5*time.Second || left > ttl {
		t.Errorf("cookie exp in %v, want the session TTL %v", left, ttl)
	}
}

// The banner link's token becomes a session cookie and leaves the address
// bar.
func TestChatExchangesTokenForCookie(t *testing.T) {
	e := startEnv(t)
	tok := e.token("user-exchange")
	resp, _ := chatGet(t, e.run.URL()+"/chat?t="+tok)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("HTTP %d, want 303", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/chat" {
		t.Errorf("Location %q, want /chat without the token", loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != "claimbot_session" {
		t.Fatalf("cookies %v, want the session cookie", cookies)
	}
	checkSessionCookie(t, e, cookies[0])
	if cookies[0].Secure {
		t.Errorf("cookie %s is Secure over plain HTTP", cookies[0])
	}
	// The page behind the redirect.
	resp, body := chatGet(t, e.run.URL()+"/chat", cookies[0])
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `lang="ko"`) || strings.Contains(body, "card-icon") {
		t.Errorf("/chat with the cookie: HTTP %d %s", resp.StatusCode, body)
	}
}

// A valid cookie wins over a stale token: the user's own chat, no error.
func TestChatCookieWinsOverStaleToken(t *testing.T) {
	e := startEnv(t)
	ck := e.sessionCookie(t, e.token("user-a"))
	// user-a is at the reporter type question.
	c := e.dial("user-a")
	c.choose("yes")
	c.ws.Close()

	stale, err := token.Mint([]byte(bannerSecret), "user-b", "", "en", time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{"expired": stale, "garbage": "abc.def.ghi"} {
		t.Run(name, func(t *testing.T) {
			resp, body := chatGet(t, e.run.URL()+"/chat?t="+raw, ck)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" {
				t.Fatalf("HTTP %d Location %q, want 303 to /chat: %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			for _, got := range resp.Cookies() {
				if got.Name == "claimbot_session" && got.Value != ck.Value {
					t.Errorf("the cookie was replaced")
				}
			}
			resp, body = chatGet(t, e.run.URL()+"/chat", ck)
			if resp.StatusCode != http.StatusOK || strings.Contains(body, "card-icon") {
				t.Fatalf("/chat: HTTP %d %s", resp.StatusCode, body)
			}
			c := dialURL(t, "ws://"+e.run.Addr+"/ws", http.Header{"Cookie": {ck.Name + "=" + ck.Value}})
			if c.last.Field != "reporter_type" {
				t.Errorf("the chat is not user-a's: %+v", c.last)
			}
		})
	}
}

// In production, /chat with neither token nor cookie asks, in Korean, to
// open the banner again.
func TestChatWithoutTokenOrCookie(t *testing.T) {
	e := startEnv(t)
	resp, body := chatGet(t, e.run.URL()+"/chat")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "링크가 만료되었어요") || !strings.Contains(body, `lang="ko"`) {
		t.Errorf("HTTP %d %s, want 401 and the Korean expired page", resp.StatusCode, body)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("sets cookies %v", resp.Cookies())
	}
}

// Every turn over the socket slides the session's idle expiry: the
// upgrade renews the cookie with it, so a reload later still resumes.
func TestWebSocketRenewsCookie(t *testing.T) {
	e := startEnv(t)
	// A cookie from /chat 50 minutes ago, 10 minutes left of its hour.
	old, err := token.Mint(token.CookieKey([]byte(bannerSecret)), "user-renew", "damage-1015", "ko", e.cfg.SessionTTL, time.Now().Add(-50*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+e.run.Addr+"/ws", http.Header{"Cookie": {"claimbot_session=" + old}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	var renewed *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "claimbot_session" {
			renewed = c
		}
	}
	if renewed == nil {
		t.Fatalf("the upgrade set no session cookie: %v", resp.Header)
	}
	checkSessionCookie(t, e, renewed)
	claims, _ := token.Verify(token.CookieKey([]byte(bannerSecret)), renewed.Value, time.Now())
	if claims == nil || claims.User() != "user-renew" || claims.Flow != "damage-1015" || claims.Language() != "ko" {
		t.Errorf("renewed cookie claims %+v", claims)
	}

	// A socket opened with a banner token has no cookie to renew.
	_, resp, err = websocket.DefaultDialer.Dial("ws://"+e.run.Addr+"/ws?t="+e.token("user-renew"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("a token's upgrade sets cookies %v", resp.Cookies())
	}
}

// With CLAIMBOT_ALLOWED_ORIGINS set, only those origins upgrade; the
// others get 403 before the upgrade.
func TestWebSocketOriginAllowlist(t *testing.T) {
	e := startEnv(t, func(c *config.Config) { c.AllowedOrigins = []string{"https://chat.example", "https://m.chat.example"} })
	url := "ws://" + e.run.Addr + "/ws?t=" + e.token("user-origin")
	for _, tt := range []struct {
		origin string
		status int
	}{
		{"https://chat.example", http.StatusSwitchingProtocols},
		{"https://M.CHAT.example", http.StatusSwitchingProtocols},
		{"https://evil.example", http.StatusForbidden},
		{"http://chat.example", http.StatusForbidden},
		{"http://" + e.run.Addr, http.StatusForbidden}, // the allowlist replaces the own-host default
	} {
		t.Run(tt.origin, func(t *testing.T) {
			ws, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {tt.origin}})
			if ws != nil {
				ws.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// Behind a TLS-terminating proxy that says X-Forwarded-Proto: https, the
// cookie is Secure, on /chat and on the upgrade.
func TestCookieSecureBehindProxy(t *testing.T) {
	e := startEnv(t)
	for _, tt := range []struct {
		proto  string
		secure bool
	}{
		{"", false},
		{"http", false},
		{"https", true},
		{"HTTPS", true},
		{"https, http", true},
		{"http, https", false},
		// Traefik says wss on a WebSocket upgrade.
		{"wss", true},
		{"WSS", true},
		{"wss, ws", true},
		{" wss ,https", true},
		{"ws", false},
		{"ws, wss", false},
	} {
		t.Run("proto "+tt.proto, func(t *testing.T) {
			h := http.Header{}
			if tt.proto != "" {
				h.Set("X-Forwarded-Proto", tt.proto)
			}
			req, _ := http.NewRequest(http.MethodGet, e.run.URL()+"/chat?t="+e.token("user-proxy"), nil)
			req.Header = h.Clone()
			cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if len(cookies) != 1 || cookies[0].Secure != tt.secure {
				t.Fatalf("/chat cookies %v, want one with Secure=%v", cookies, tt.secure)
			}
			h.Set("Cookie", cookies[0].Name+"="+cookies[0].Value)
			ws, resp, err := websocket.DefaultDialer.Dial("ws://"+e.run.Addr+"/ws", h)
			if err != nil {
				t.Fatal(err)
			}
			ws.Close()
			if cookies := resp.Cookies(); len(cookies) != 1 || cookies[0].Secure != tt.secure {
				t.Errorf("upgrade cookies %v, want one with Secure=%v", cookies, tt.secure)
			}
		})
	}
}

// cookieUser is the user of a session cookie the response sets, or "".
func cookieUser(t *testing.T, resp *http.Response) string {
	t.Helper()
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "claimbot_session") {
			claims, err := token.Verify(token.CookieKey([]byte(bannerSecret)), c.Value, time.Now())
			if err != nil {
				t.Fatalf("cookie %s: %v", c.Name, err)
			}
			return claims.User()
		}
	}
	return ""
}

// A valid link of another user than the cookie's does not move the
// browser (login CSRF: any site can navigate here with its own token):
// the page is the cookie's conversation, saying in its language that the
// link is another account's, with a button to switch. The same user's
// link refreshes the cookie as before.
func TestChatLinkOfAnotherAccount(t *testing.T) {
	e := startEnv(t)
	victim := e.sessionCookie(t, e.token("user-victim"))
	c := e.dial("user-victim")
	c.choose("yes")
	c.ws.Close()

	attacker, err := token.Mint([]byte(bannerSecret), "user-attacker", "", "en", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, body := chatGet(t, e.run.URL()+"/chat?t="+attacker, victim)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d (Location %q), want 200: the victim's own chat page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if u := cookieUser(t, resp); u != "" && u != "user-victim" {
		t.Errorf("the response sets a cookie of %q", u)
	}
	for _, want := range []string{`lang="ko"`, "이 링크는 다른 계정의 링크예요", `action="/chat/switch"`, "링크의 계정으로 바꾸기"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q: %s", want, body)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q lets another site frame the switch button", csp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	ws := dialURL(t, "ws://"+e.run.Addr+"/ws", http.Header{"Cookie": {victim.Name + "=" + victim.Value}})
	if ws.last.Field != "reporter_type" {
		t.Errorf("the cookie's conversation is not the victim's: %+v", ws.last)
	}

	// The user's own link with the cookie: refreshed, no notice.
	resp, _ = chatGet(t, e.run.URL()+"/chat?t="+e.token("user-victim"), victim)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" || cookieUser(t, resp) != "user-victim" {
		t.Errorf("own link: HTTP %d Location %q cookie of %q, want 303 to /chat with a fresh cookie",
			resp.StatusCode, resp.Header.Get("Location"), cookieUser(t, resp))
	}
}

// switchPost posts the switch form with these headers and cookies.
func switchPost(t *testing.T, e *env, tok string, h http.Header, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.run.URL()+"/chat/switch", strings.NewReader("t="+tok))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

// Switching to the link's account takes a POST from a page of this
// origin; one from another site is refused with a page saying so, and
// the cookie stays.
func TestChatSwitchAccount(t *testing.T) {
	e := startEnv(t)
	victim := e.sessionCookie(t, e.token("user-victim"))
	self := "http://" + e.run.Addr
	other := e.token("user-other")
	for _, tt := range []struct {
		name   string
		h      http.Header
		tok    string
		status int
		want   string
	}{
		{"another site's Origin", http.Header{"Origin": {"http://evil.example"}}, other, http.StatusForbidden, "계정을 바꾸지 않았어요"},
		{"cross-site fetch metadata", http.Header{"Origin": {self}, "Sec-Fetch-Site": {"cross-site"}}, other, http.StatusForbidden, "계정을 바꾸지 않았어요"},
		{"same-site, not same-origin", http.Header{"Sec-Fetch-Site": {"same-site"}}, other, http.StatusForbidden, "계정을 바꾸지 않았어요"},
		{"no Origin at all", http.Header{}, other, http.StatusForbidden, "계정을 바꾸지 않았어요"},
		{"null Origin", http.Header{"Origin": {"null"}}, other, http.StatusForbidden, "계정을 바꾸지 않았어요"},
		{"same origin, bad token", http.Header{"Origin": {self}, "Sec-Fetch-Site": {"same-origin"}}, "abc.def.ghi", http.StatusUnauthorized, "링크가 만료되었어요"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := switchPost(t, e, tt.tok, tt.h, victim)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("HTTP %d, want %d with %q: %s", resp.StatusCode, tt.status, tt.want, body)
			}
			if u := cookieUser(t, resp); u != "" {
				t.Errorf("sets a cookie of %q", u)
			}
		})
	}
	for name, h := range map[string]http.Header{
		"fetch metadata": {"Origin": {self}, "Sec-Fetch-Site": {"same-origin"}},
		"Origin only":    {"Origin": {self}},
	} {
		t.Run("same origin, "+name, func(t *testing.T) {
			resp, body := switchPost(t, e, other, h, victim)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chat" {
				t.Fatalf("HTTP %d Location %q, want 303 to /chat: %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if u := cookieUser(t, resp); u != "user-other" {
				t.Errorf("cookie of %q, want user-other", u)
			}
		})
	}
}
