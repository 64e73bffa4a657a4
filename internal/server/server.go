// Package server is the surface people and operators touch: the web chat
// page behind the banner link, the WebSocket chat, and the operations
// endpoints (contract §1, §2, §6).
package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/kakao"
	"github.com/claimbot/claimbot/internal/privacy"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/upload"
)

//go:embed web
var webFS embed.FS

// The session cookie's names: over HTTPS the __Host- prefix, which a
// browser accepts only Secure, host-only and on Path=/, so a sibling
// subdomain cannot plant its own session cookie on ours.
const (
	cookieName       = "claimbot_session"
	secureCookieName = "__Host-" + cookieName
)

// Server serves the chat. Build it with New; swap flows with SetEngine.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	rdb     redis.UniversalClient
	store   *store.Store
	eng     atomic.Pointer[engine.Engine]
	metrics *Metrics
	extra   map[string]http.Handler // more routes (the dev receiver)
	uploads *upload.Service         // evidence uploads; nil: off (uploads.go)

	upgrader  websocket.Upgrader
	pages     *template.Template
	bannerKey []byte
	cookieKey []byte
	now       func() time.Time
	pseud     *privacy.Pseudonymizer

	// A connection's pings and when it parks: the package's defaults
	// when the server was made (tests change those).
	pingPeriod, pongWait, quietWait time.Duration
	pumpers                         *pumpers // run the connections' pumps (pumpers.go)

	mu       sync.Mutex
	conns    map[*conn]struct{}
	users    map[string]*userConns // users with open sockets, by user id
	stopping bool
}

// Options are what New needs besides the configuration.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Redis   redis.UniversalClient
	Engine  *engine.Engine
	Metrics *Metrics
	Routes  map[string]http.Handler // extra routes, e.g. "/dev/claims"
	Now     func() time.Time
	// Pseudonyms turns user ids into the session pseudonyms of log lines;
	// nil: keyed with the banner secret, so every instance gives the same
	// (dev mode, which has none: a random key of this process).
	Pseudonyms *privacy.Pseudonymizer
}

// devCookieKey signs dev mode's anonymous cookies. Dev mode listens on
// loopback only, so a fixed key is fine, and a restarted dev server still
// knows its browser.
var devCookieKey = []byte("claimbot dev mode: loopback only")

// New builds a Server.
func New(o Options) *Server {
	s := &Server{cfg: o.Config, log: o.Logger, rdb: o.Redis, metrics: o.Metrics, extra: o.Routes, now: o.Now,
		pseud: o.Pseudonyms, conns: map[*conn]struct{}{}, users: map[string]*userConns{},
		pingPeriod: pingPeriod, pongWait: pongWait, quietWait: quietWait, pumpers: newPumpers(quietWait)}
	if s.pseud == nil {
		s.pseud = LogPseudonyms(s.cfg)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(nil)
	}
	s.eng.Store(o.Engine)
	s.metrics.known(o.Engine)
	s.store = store.New(o.Redis, s.engine, store.Options{TTL: s.cfg.SessionTTL, Now: s.now, FiledReplicas: s.cfg.FiledReplicas, NoCounts: s.cfg.NoCounts,
		Link: s.fileLink,
		OnUnreplicated: func(acked int, err error) {
			s.metrics.unreplicated.Inc()
			s.log.Warn("claim filed before its replicas confirmed it: the receipt was shown; a failover of its master in the next moment could lose it",
				"replicas_wanted", s.cfg.FiledReplicas, "replicas_acked", acked, "err", err)
		},
		OnClockSkew: func(skew time.Duration) {
			s.metrics.clockSkew.Inc()
			s.log.Error("Redis's clock is ahead of this instance's: turns are refused as late; synchronise the clocks (NTP)", "skew", skew)
		}})
	s.cookieKey = devCookieKey
	if !s.cfg.Dev() {
		s.bannerKey = []byte(s.cfg.BannerSecret)
		s.cookieKey = token.CookieKey(s.bannerKey)
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  0, // the hijacked reader, ours (idleread.go)
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before the upgrade, with a 403
	}
	s.pages = template.Must(template.ParseFS(webFS, "web/chat.html", "web/expired.html"))
	return s
}

func (s *Server) engine() *engine.Engine { return s.eng.Load() }

// Engine returns the engine of the flows now live.
func (s *Server) Engine() *engine.Engine { return s.engine() }

// SetEngine swaps in the engine of a newly loaded flow set. Conversations
// in progress carry on: each stays on its flow version (see engine.Versions).
func (s *Server) SetEngine(e *engine.Engine) {
	s.eng.Store(e)
	s.metrics.known(e)
	if err := s.saveFlows(e); err != nil {
		// Other instances, and this one once the version is no longer
		// among those it keeps in memory, load a conversation's version
		// from Redis: keep trying in the background.
		s.log.Warn("flows: could not keep their sources in redis; retrying", "err", err)
		go s.retrySaveFlows(e)
	}
}

// saveFlowsFor bounds the retries of a failed SaveFlows; longer than any
// Redis restart, shorter than a session's idle life.
const saveFlowsFor = time.Hour

func (s *Server) saveFlows(e *engine.Engine) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.store.SaveFlows(ctx, e.Flows())
}

func (s *Server) retrySaveFlows(e *engine.Engine) {
	give := time.Now().Add(saveFlowsFor)
	for wait := time.Second; time.Now().Before(give); wait = min(2*wait, 30*time.Second) {
		time.Sleep(wait)
		if s.isStopping() {
			return
		}
		if err := s.saveFlows(e); err == nil {
			s.log.Info("flows: sources kept in redis")
			return
		}
	}
	s.log.Error("flows: could not keep their sources in redis; conversations pinned to them may move to the current version on other instances")
}

// Store returns the session store.
func (s *Server) Store() *store.Store { return s.store }

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Only what the pages load: no listing, no mock messenger, no chat.html
	// without the headers /chat gives it.
	for _, name := range []string{"chat.css", "chat.js", "tus.min.js"} {
		mux.Handle("GET /static/"+name, staticFile(name))
	}
	mux.HandleFunc("GET /chat", s.chat)
	mux.HandleFunc("POST /chat/switch", s.chatSwitch)
	mux.HandleFunc("GET /ws", s.ws)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /{$}", s.home)
	if s.cfg.Dev() {
		mux.HandleFunc("GET /dev/flows", s.devFlows) // devflows.go
	}
	if s.cfg.KakaoSkillKey != "" {
		mux.Handle("POST /kakao/skill", &kakao.Handler{Key: s.cfg.KakaoSkillKey, Store: s.store, Engine: s.engine,
			Flow: func() string { return s.cfg.DefaultFlow }, Log: s.log, Observe: s.metrics.observeTurn,
			BannerSecret: s.bannerKey, Now: s.now, PublicURL: s.cfg.PublicURL, // bannerKey: nil in dev mode, so a files question gives no link
			Touch: s.touchFiles})
	}
	if s.uploads != nil {
		// Every method: tus answers OPTIONS, POST, HEAD, PATCH and DELETE.
		up := s.uploadRoutes(s.uploads.Handler())
		mux.Handle(uploadsPath, up)
		mux.Handle(strings.TrimSuffix(uploadsPath, "/"), up)
		mux.Handle("GET "+filesPath, s.uploads.Files())
	}
	for path, h := range s.extra {
		mux.Handle(path, h)
	}
	if s.cfg.Dev() {
		return loopbackHost(mux)
	}
	return mux
}

// staticFile serves one embedded file with its type, nosniff, and an ETag
// of its bytes, so a deploy's new file is fetched and an unchanged one is
// not sent again.
func staticFile(name string) http.Handler {
	body, err := webFS.ReadFile("web/" + name)
	if err != nil {
		panic("server: no embedded web/" + name)
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// loopbackHost refuses, in dev mode, every request whose Host is not a
// loopback name: dev mode lets anyone chat as anyone and lists claims, and
// a site the developer visits could otherwise reach it through DNS
// rebinding (its own name resolving to 127.0.0.1).
func loopbackHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			http.Error(w, "dev mode answers only loopback host names (localhost, 127.0.0.1, [::1])", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackHost reports whether a Host header (with or without a port)
// names this machine: localhost, a *.localhost name (RFC 6761: always
// loopback), or a loopback IP literal.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
		return
	}
	if e := s.engine(); e == nil || len(e.Flows()) == 0 {
		http.Error(w, "no flows loaded", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// home is dev mode's mock messenger screen with the banner.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Dev() {
		http.NotFound(w, r)
		return
	}
	page, _ := webFS.ReadFile("web/messenger.html")
	pageHeaders(w)
	w.Write(page)
}

// identity is who a chat belongs to.
type identity struct {
	User, Flow, Lang string
}

// sessionClaims are the cookie's claims.
type sessionClaims struct {
	Flow string `json:"flow,omitempty"`
	Lang string `json:"lang,omitempty"`
	jwt.RegisteredClaims
}

// sessionCookie is a fresh session cookie for id: it stays valid as long
// as the session may idle from now (nil if it cannot be signed).
func (s *Server) sessionCookie(r *http.Request, id identity) *http.Cookie {
	now := s.now()
	c := sessionClaims{Flow: id.Flow, Lang: id.Lang, RegisteredClaims: jwt.RegisteredClaims{
		Subject: id.User, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.SessionTTL))}}
	val, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.cookieKey)
	if err != nil {
		s.log.Error("cookie: sign", "err", err)
		return nil
	}
	name := cookieName
	if secure(r) {
		name = secureCookieName
	}
	// SameSite=Lax, not Strict: the banner is a link from another site,
	// and Strict would leave the cookie out of the navigation that follows
	// the token's 303, and out of the check that a link is another
	// account's, so a link would replace the cookie unseen.
	return &http.Cookie{Name: name, Value: val, Path: "/", MaxAge: int(s.cfg.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r)}
}

// secure reports whether the browser reached us over HTTPS: directly, or
// through a proxy that says so in X-Forwarded-Proto (its first value is the
// browser's side): https, or wss on a WebSocket upgrade (Traefik). A client
// that forges it only makes its own cookie HTTPS-only.
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	proto = strings.TrimSpace(proto)
	return strings.EqualFold(proto, "https") || strings.EqualFold(proto, "wss")
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, id identity) {
	if ck := s.sessionCookie(r, id); ck != nil {
		http.SetCookie(w, ck)
	}
}

// cookie is the identity of the request's session cookie. The __Host-
// one counts always (only an HTTPS response of this host can set it); the
// plain one only over plain HTTP, where there is no other.
func (s *Server) cookie(r *http.Request) (identity, bool) {
	ck, err := r.Cookie(secureCookieName)
	if err != nil && !secure(r) {
		ck, err = r.Cookie(cookieName)
	}
	if err != nil {
		return identity{}, false
	}
	c, err := token.Verify(s.cookieKey, ck.Value, s.now())
	if err != nil {
		return identity{}, false
	}
	return identity{User: c.User(), Flow: c.Flow, Lang: c.Language()}, true
}

// chat serves the chat page behind the banner link.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var other string // a valid link of another user than the cookie's
	if raw := r.URL.Query().Get("t"); raw != "" {
		if !s.cfg.Dev() {
			c, err := token.Verify(s.bannerKey, raw, s.now())
			switch {
			case err == nil && s.engine().Flow(s.flowOf(c.Flow)) == nil:
				// The backend vouched for this user but names an intake we do
				// not run: say so, and never fall back on a cookie, which may
				// be another user's on a shared browser.
				s.notice(w, http.StatusForbidden, c.Language(), "bot.page.unavailable")
				return
			case err == nil:
				if had, ok := s.cookie(r); ok && had.User != c.User() {
					// A link never moves a browser into another user's
					// session by itself: a page on any site can navigate
					// here with its own token (login CSRF). Keep this
					// browser's conversation and say so; switching takes
					// the same-origin POST of /chat/switch.
					other = raw
					break
				}
				s.setCookie(w, r, identity{User: c.User(), Flow: s.flowOf(c.Flow), Lang: c.Language()})
				http.Redirect(w, r, "/chat", http.StatusSeeOther)
				return
			default:
				if _, ok := s.cookie(r); ok { // a valid cookie wins over a stale token
					http.Redirect(w, r, "/chat", http.StatusSeeOther)
					return
				}
				s.notice(w, http.StatusUnauthorized, unverifiedLang(raw), "bot.page.expired")
				return
			}
		}
	}
	id, ok := s.cookie(r)
	switch {
	case ok:
	case !s.cfg.Dev():
		s.notice(w, http.StatusUnauthorized, "ko", "bot.page.expired")
		return
	default:
		// Dev mode: an anonymous user, kept in a cookie so a reload resumes.
		id = identity{User: "dev-" + randomHex(6), Flow: s.flowOf(r.URL.Query().Get("flow")), Lang: langOf(r.URL.Query().Get("lang"))}
	}
	if s.engine().Flow(id.Flow) == nil {
		// A cookie of a flow taken out since, or dev mode's ?flow= naming
		// none: the page would only be refused its WebSocket, again and
		// again. Say so instead.
		s.notice(w, http.StatusForbidden, id.Lang, "bot.page.unavailable")
		return
	}
	s.setCookie(w, r, id) // the cookie lives as long as the session may idle
	cat := s.engine().Catalog()
	page := chatPage{Lang: id.Lang, Title: cat.Text(id.Lang, "bot.page.title", nil), WSURL: "/ws"}
	// Owner tags what the page keeps in the browser (uploads) with the
	// user its socket speaks as, without naming them: on a shared browser
	// the next user's page neither shows nor sends another's uploads.
	owner := id.User
	if u := r.URL.Query().Get("user"); s.cfg.Dev() && u != "" {
		owner = u // dev mode's ?user= goes along to /ws and /uploads/
	}
	mac := hmac.New(sha256.New, s.cookieKey)
	mac.Write([]byte("chat-page-owner\x00" + owner))
	page.Owner = hex.EncodeToString(mac.Sum(nil)[:16])
	if other != "" {
		page.Other = cat.Text(id.Lang, "bot.page.other_account", nil)
		page.Switch = cat.Text(id.Lang, "bot.page.switch_account", nil)
		page.Token = other
	}
	pageHeaders(w)
	s.pages.ExecuteTemplate(w, "chat.html", page)
}

// chatPage is what chat.html shows. Other, Switch and Token are set when
// the link opened is another account's than the browser's cookie.
type chatPage struct {
	Lang, Title, WSURL   string
	Other, Switch, Token string
	Owner                string // an opaque tag of the user (see chat)
}

// pageHeaders are the headers of every HTML page: never cached (a page
// may carry a token or another's conversation), never framed (no site
// can overlay the switch button and have it clicked), forms only to us.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "+
		"frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
}

// maxSwitchForm bounds the body of /chat/switch: one token.
const maxSwitchForm = 8 << 10

// chatSwitch moves this browser to the account of a banner link, on the
// user's confirmation: the button of the other-account notice, a form
// POST that only a page of this origin can make (Sec-Fetch-Site, or
// Origin where a browser sends no Fetch Metadata).
func (s *Server) chatSwitch(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Dev() {
		http.NotFound(w, r) // dev mode has no banner tokens
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSwitchForm)
	raw := ""
	if err := r.ParseForm(); err == nil {
		raw = r.PostForm.Get("t")
	}
	lang := "ko"
	if id, ok := s.cookie(r); ok {
		lang = id.Lang
	} else if raw != "" {
		lang = unverifiedLang(raw)
	}
	if !s.sameOrigin(r) {
		s.notice(w, http.StatusForbidden, lang, "bot.page.switch_refused")
		return
	}
	c, err := token.Verify(s.bannerKey, raw, s.now())
	if err != nil {
		s.notice(w, http.StatusUnauthorized, lang, "bot.page.expired")
		return
	}
	if s.engine().Flow(s.flowOf(c.Flow)) == nil {
		s.notice(w, http.StatusForbidden, c.Language(), "bot.page.unavailable")
		return
	}
	s.setCookie(w, r, identity{User: c.User(), Flow: s.flowOf(c.Flow), Lang: c.Language()})
	http.Redirect(w, r, "/chat", http.StatusSeeOther)
}

// sameOrigin reports whether a browser's request comes from a page of
// this origin. Fetch Metadata says so where the browser sends it; else
// the Origin must be ours (the request's host, or one of the allowed
// origins). A request with neither is refused: every browser sends
// Origin on a POST, and other clients have no need to switch.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	if r.Header.Get("Origin") == "" {
		return false
	}
	return s.originAllowed(r)
}

// notice answers with a short page in lang saying the message msgID: an
// expired link (401), an intake not available (403).
func (s *Server) notice(w http.ResponseWriter, status int, lang, msgID string) {
	cat := s.engine().Catalog()
	pageHeaders(w)
	w.WriteHeader(status)
	s.pages.ExecuteTemplate(w, "expired.html", map[string]string{"Lang": lang, "Title": cat.Text(lang, "bot.page.title", nil),
		"Message": cat.Text(lang, msgID, nil)})
}

// unverifiedLang reads a token's lang claim without trusting it, to say
// "expired" in the right language.
func unverifiedLang(raw string) string {
	var c token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		return "ko"
	}
	return c.Language()
}

func langOf(v string) string {
	if v == "en" {
		return "en"
	}
	return "ko"
}

func (s *Server) flowOf(id string) string {
	if id == "" {
		return s.cfg.DefaultFlow
	}
	return id
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// authenticate finds who opens a WebSocket: the cookie, a banner token in
// ?t= (tests, load tools), or in dev mode ?user=. byCookie says it was the
// cookie.
func (s *Server) authenticate(r *http.Request) (id identity, byCookie bool, status int) {
	q := r.URL.Query()
	if raw := q.Get("t"); raw != "" {
		if s.cfg.Dev() {
			return identity{}, false, http.StatusUnauthorized
		}
		c, err := token.Verify(s.bannerKey, raw, s.now())
		if err != nil {
			return identity{}, false, http.StatusUnauthorized
		}
		return identity{User: c.User(), Flow: s.flowOf(c.Flow), Lang: c.Language()}, false, 0
	}
	if s.cfg.Dev() && q.Get("user") != "" {
		user := q.Get("user")
		if n := len([]rune(user)); n > 128 {
			return identity{}, false, http.StatusUnauthorized
		}
		return identity{User: user, Flow: s.flowOf(q.Get("flow")), Lang: langOf(q.Get("lang"))}, false, 0
	}
	if id, ok := s.cookie(r); ok {
		return id, true, 0
	}
	return identity{}, false, http.StatusUnauthorized
}

// originAllowed checks the WebSocket Origin: the allowlist, or the
// request's own host. Clients that send no Origin are not browsers.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.cfg.AllowedOrigins) > 0 {
		for _, o := range s.cfg.AllowedOrigins {
			if strings.EqualFold(o, origin) {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) ws(w http.ResponseWriter, r *http.Request) {
	id, byCookie, status := s.authenticate(r)
	if status != 0 {
		http.Error(w, "unauthorized: reopen the banner", status)
		return
	}
	if s.engine().Flow(id.Flow) == nil {
		http.Error(w, "unknown flow", http.StatusForbidden)
		return
	}
	if !s.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if s.isStopping() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	var hdr http.Header
	if byCookie {
		// Every turn slides the session's idle expiry, which the cookie
		// set by /chat does not follow: renew it on every connect, so a
		// reload while the session lives still resumes.
		if ck := s.sessionCookie(r, id); ck != nil {
			hdr = http.Header{"Set-Cookie": {ck.String()}}
		}
	}
	ow := &ownReader{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(ow, r, hdr)
	if err != nil {
		return // the upgrader answered
	}
	c := &conn{s: s, ws: ws, tokenLang: id.Lang}
	c.in.init(ws.NetConn(), ow)
	// ow lives as long as the connection (its reader is the socket's),
	// but net/http's response is done with: let it go, and with it the
	// request and the 8 KiB of buffers net/http gave the connection, or
	// every open socket would keep about 12 KiB it never uses again.
	ow.ResponseWriter = nil
	if !s.register(c, id.User) {
		// Shutdown took its list of connections between the check above
		// and now: close this one as it closes those.
		c.closeWith(websocket.CloseServiceRestart, "server restarting")
		c.drain()
		c.stop()
		return
	}

	// The rest runs on a pumper, whose stack a turn has already grown: on
	// net/http's goroutine, new for every connection, the session's first
	// step grew the stack, copying it, once a conversation (2 % of the
	// server's processor time under load). The pumper goes on to read the
	// connection's frames, or parks it. net/http is done with the request
	// (hijacked), so the open does not run under its context.
	s.pumpers.run(func() { c.open(id) })
}

// open loads the connection's session and sends its first reply, then
// reads the client's frames: on a pumper (see ws).
func (c *conn) open(id identity) {
	s := c.s
	c.user.turnMu.Lock() // the user's other tabs may be mid-turn
	conv, res, err := s.store.Open(context.Background(), id.User, id.Flow, id.Lang)
	c.conv = conv
	if err == nil {
		c.user.share(conv) // freshly loaded: the user's other tabs go on from it
		c.user.unavailableAt = time.Time{}
		c.see()
	} else {
		// The user's other tabs' queued frames get "unavailable" at once
		// rather than each waiting out a turn of their own.
		c.user.unavailableAt = time.Now()
	}
	c.user.turnMu.Unlock()
	if err != nil {
		c.logger().Warn("open: redis unavailable", "err", err)
		c.problem("unavailable")
		c.closeWith(websocket.CloseTryAgainLater, "try again later")
		s.left(c)
		c.drain()
		c.stop()
		return
	}
	s.metrics.observeTurn(id.Flow, res, nil, 0)
	c.shown, c.limits = res.Reply.State, upload.LimitsOf(res.Reply)
	c.reply(res.Reply)
	c.prepareReading()
	if !c.park() {
		c.pump() // on this pumper: no hand-off to another
	}
}

// burst is the rate limit's burst: twice the rate, and at least one frame,
// or a rate below 0.5 frames per second would refuse every frame.
func burst(perSecond float64) int {
	return max(1, int(math.Ceil(2*perSecond)))
}

// LogPseudonyms is the pseudonymizer of a configuration's log lines: keyed
// with the banner secret in production, so every instance gives a user the
// same pseudonym; in dev mode, which has no secret, a random key of this
// process.
func LogPseudonyms(cfg *config.Config) *privacy.Pseudonymizer {
	if cfg.Dev() {
		return privacy.RandomPseudonymizer()
	}
	return privacy.NewPseudonymizer([]byte(cfg.BannerSecret))
}

// register adds a new connection of user to those Shutdown closes; false
// when the server is already stopping. One lock for both, so no connection
// slips in after Shutdown took its list. It joins the user's other sockets
// here; past the cap the oldest is closed.
func (s *Server) register(c *conn, user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[user]
	if u == nil {
		u = &userConns{id: user}
	}
	if s.cfg.RateLimit > 0 {
		// Contract §0: frames per second per connection, burst twice that.
		c.lim = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), burst(s.cfg.RateLimit))
	}
	c.user = u // before any return: the caller closes c through it
	if s.stopping {
		return false
	}
	s.users[user] = u
	limit := s.cfg.SocketsPerUser
	if limit <= 0 {
		limit = config.DefaultSocketsPerUser
	}
	for len(u.conns) >= limit {
		old := u.conns[0]
		u.conns = slices.Delete(u.conns, 0, 1)
		s.metrics.superseded.Inc()
		go old.supersede() // after its turn in flight, if any
	}
	u.conns = append(u.conns, c)
	s.conns[c] = struct{}{}
	s.metrics.connections.Inc()
	return true
}

// left forgets a closed connection and counts where its user left off.
func (s *Server) left(c *conn) {
	s.mu.Lock()
	_, ok := s.conns[c]
	delete(s.conns, c)
	if u := c.user; ok && u != nil {
		if i := slices.Index(u.conns, c); i >= 0 {
			u.conns = slices.Delete(u.conns, i, i+1)
		}
		if len(u.conns) == 0 && s.users[u.id] == u {
			delete(s.users, u.id)
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	s.metrics.connections.Dec()
	if c.closedByServer() {
		return // a deploy or the user's newer tab, not a user leaving: the page reconnects
	}
	if v := c.seen(); !v.done && v.state != "" {
		s.metrics.abandoned.WithLabelValues(v.flow, v.state).Inc()
	}
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// Shutdown stops taking connections, lets every turn in flight send its
// reply, then closes each connection with 1012 so pages reconnect.
func (s *Server) Shutdown(ctx context.Context) {
	defer s.pumpers.stop()
	s.mu.Lock()
	s.stopping = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); c.shutdown() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	// Let the write pumps send the close frames.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 || ctx.Err() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
