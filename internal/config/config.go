// Package config reads claimbot's settings from the environment (contract
// §0). Flags of `claimbot serve` may override them.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/claimbot/claimbot/internal/outbox"
	"github.com/claimbot/claimbot/internal/redisconn"
)

// Config is the server's configuration.
type Config struct {
	Addr     string
	RedisURL string // empty, with no RedisClusterURL: embedded in-process Redis
	// RedisClusterURL is a Redis Cluster's seed nodes, instead of RedisURL.
	RedisClusterURL string
	// FiledReplicas is how many replicas must hold a filed claim before
	// its receipt is shown (Redis WAIT).
	FiledReplicas  int
	Flows          string
	Locales        string
	DefaultFlow    string
	BannerSecret   string // empty: dev mode
	AllowedOrigins []string
	WebhookURL     string // empty: built-in dev receiver
	WebhookSecret  string
	SessionTTL     time.Duration
	Retention      time.Duration
	RetrySchedule  []time.Duration
	RateLimit      float64 // frames per second per user on this instance; 0 is off
	LogLevel       slog.Level

	// OpsAddr is a listener for /metrics, /healthz and /readyz; empty:
	// they are served on Addr.
	OpsAddr string
	// IdleTimeout closes a keep-alive HTTP connection that waits this long
	// for its next request; 0: DefaultIdleTimeout. WebSockets are not
	// HTTP connections once upgraded: pings and pongs keep them.
	IdleTimeout time.Duration
	// MaxConns caps the connections open at once on Addr, WebSockets
	// included; 0: derived from the process's descriptor limit.
	MaxConns int
	// SocketsPerUser caps one user's WebSockets on this instance; the
	// oldest is closed for a new one. 0: DefaultSocketsPerUser.
	SocketsPerUser int
	// KakaoSkillKey is the X-Claimbot-Skill-Key value the chatbot
	// builder sends to POST /kakao/skill; empty: that endpoint answers 404.
	KakaoSkillKey string
	// Uploads is CLAIMBOT_UPLOADS, where evidence files are kept: a
	// folder, or s3://bucket[/prefix]. Empty: in dev mode DevUploads; in
	// production uploads are off, which only a flow set asking no files
	// may run with (see Evidence).
	Uploads string
	// PublicURL is CLAIMBOT_PUBLIC_URL, the base of the links the server
	// gives out (evidence files in webhooks), without a trailing slash.
	// Empty: in dev mode http:// + the address listened on.
	PublicURL string

	// NoCounts leaves the intake counts (package insight) alone. Not a
	// setting: nothing reads it from the environment. It is there to
	// measure what the counts cost a whole turn (loadtest's
	// BenchmarkCountsShareOfTurn runs a server with it and one without).
	NoCounts bool
}

// MinBannerSecret is the shortest banner secret production accepts, in
// bytes: an HS256 key shorter than its hash is guessable offline from any
// one token.
const MinBannerSecret = 32

const (
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultSocketsPerUser is how many WebSockets one user may hold on
	// one instance: a few tabs and a phone.
	DefaultSocketsPerUser = 5
)

// fdReserve is how many descriptors the process keeps for other than
// client connections: the Redis pools (64 for turns, a few dozen for the
// webhook sender), the ops listener, the flow watcher, files.
const fdReserve = 128

// ConnLimit is MaxConns, or when unset what the descriptor limit leaves
// after fdReserve (half the limit when that is small): past the process's
// limit Accept fails for everyone and Redis cannot be dialled either, so
// the cap must come first.
func (c *Config) ConnLimit() int {
	if c.MaxConns > 0 {
		return c.MaxConns
	}
	n := fdLimit()
	switch {
	case n == 0:
		return 10000
	case n < 2*fdReserve:
		return max(1, n/2)
	}
	return n - fdReserve
}

// Dev reports dev mode: no banner secret.
func (c *Config) Dev() bool { return c.BannerSecret == "" }

// FromEnv reads the environment through getenv (os.Getenv in production).
func FromEnv(getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{
		Addr:            getenv("CLAIMBOT_ADDR"),
		RedisURL:        getenv("REDIS_URL"),
		RedisClusterURL: getenv("REDIS_CLUSTER_URL"),
		Flows:           or(getenv("CLAIMBOT_FLOWS"), "flows"),
		Locales:         or(getenv("CLAIMBOT_LOCALES"), "locales"),
		DefaultFlow:     or(getenv("CLAIMBOT_DEFAULT_FLOW"), "damage-1015"),
		BannerSecret:    getenv("CLAIMBOT_BANNER_SECRET"),
		WebhookURL:      getenv("CLAIMBOT_WEBHOOK_URL"),
		WebhookSecret:   getenv("CLAIMBOT_WEBHOOK_SECRET"),
		OpsAddr:         getenv("CLAIMBOT_OPS_ADDR"),
		KakaoSkillKey:   getenv("CLAIMBOT_KAKAO_SKILL_KEY"),
		Uploads:         getenv("CLAIMBOT_UPLOADS"),
		PublicURL:       strings.TrimRight(getenv("CLAIMBOT_PUBLIC_URL"), "/"),
	}
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a duration like 72h, got %q", name, v))
			return def
		}
		return d
	}
	c.SessionTTL = dur("CLAIMBOT_SESSION_TTL", 72*time.Hour)
	c.Retention = dur("CLAIMBOT_RETENTION", 168*time.Hour)
	c.IdleTimeout = dur("CLAIMBOT_IDLE_TIMEOUT", DefaultIdleTimeout)
	count := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a whole number from 1 up, got %q", name, v))
			return def
		}
		return n
	}
	c.MaxConns = count("CLAIMBOT_MAX_CONNS", 0)
	c.SocketsPerUser = count("CLAIMBOT_SOCKETS_PER_USER", DefaultSocketsPerUser)
	c.RetrySchedule = outbox.DefaultSchedule
	if v := getenv("CLAIMBOT_RETRY_SCHEDULE"); v != "" {
		s, err := ParseSchedule(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("CLAIMBOT_RETRY_SCHEDULE: %w", err))
		} else {
			c.RetrySchedule = s
		}
	}
	if v := getenv("CLAIMBOT_ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimRight(o, "/"))
			}
		}
	}
	if c.RedisClusterURL != "" {
		c.FiledReplicas = 1
	}
	if v := getenv("CLAIMBOT_FILED_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 16 {
			errs = append(errs, fmt.Errorf("CLAIMBOT_FILED_REPLICAS: want a whole number of replicas from 0 (do not wait) to 16, got %q", v))
		} else {
			c.FiledReplicas = n
		}
	}
	c.RateLimit = 5
	if c.Dev() {
		c.RateLimit = 0
	}
	if v := getenv("CLAIMBOT_RATE_LIMIT"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
			errs = append(errs, fmt.Errorf("CLAIMBOT_RATE_LIMIT: want frames per second, a number from 0 (off) up, got %q", v))
		} else {
			c.RateLimit = r
		}
	}
	switch strings.ToLower(or(getenv("CLAIMBOT_LOG_LEVEL"), "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("CLAIMBOT_LOG_LEVEL: want debug, info, warn or error, got %q", getenv("CLAIMBOT_LOG_LEVEL")))
	}
	if c.Addr == "" {
		c.Addr = ":8080"
		if c.Dev() {
			c.Addr = "127.0.0.1:8080"
		}
	}
	if err := c.Check(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Check enforces the rules of the modes: production never keeps real claims
// in memory nor signs with a secret the backend cannot know or an attacker
// can guess; dev mode listens on loopback only.
func (c *Config) Check() error {
	if err := c.Redis().Check(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := checkUploads(c.Uploads); err != nil {
		return err
	}
	if err := checkPublicURL(c.PublicURL); err != nil {
		return err
	}
	if !c.Dev() {
		var errs []error
		if n := len(c.BannerSecret); n < MinBannerSecret {
			// Its length only: the secret itself never reaches a log.
			errs = append(errs, fmt.Errorf("config: CLAIMBOT_BANNER_SECRET must be at least %d bytes, got %d bytes: use a random one (openssl rand -base64 32)", MinBannerSecret, n))
		}
		var missing []string
		for _, kv := range [][2]string{{"REDIS_URL (or REDIS_CLUSTER_URL)", c.RedisURL + c.RedisClusterURL}, {"CLAIMBOT_WEBHOOK_URL", c.WebhookURL}, {"CLAIMBOT_WEBHOOK_SECRET", c.WebhookSecret}} {
			if kv[1] == "" {
				missing = append(missing, kv[0])
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("config: production mode (CLAIMBOT_BANNER_SECRET is set) needs %s", strings.Join(missing, ", ")))
		}
		return errors.Join(errs...)
	}
	if !Loopback(c.Addr) {
		return fmt.Errorf("config: dev mode (no CLAIMBOT_BANNER_SECRET) listens on loopback only, not %q: set CLAIMBOT_ADDR=127.0.0.1:8080, or a banner secret for production", c.Addr)
	}
	if c.OpsAddr != "" && !Loopback(c.OpsAddr) {
		return fmt.Errorf("config: dev mode (no CLAIMBOT_BANNER_SECRET) listens on loopback only, not %q: set CLAIMBOT_OPS_ADDR=127.0.0.1:9090, or a banner secret for production", c.OpsAddr)
	}
	return nil
}

// DevUploads is where dev mode keeps evidence files when CLAIMBOT_UPLOADS
// is unset: one folder under the system's temp dir, the same on every
// start, so a restarted dev server still has the files its sessions
// name. The start-up output says where it is.
func DevUploads() string { return filepath.Join(os.TempDir(), "claimbot-uploads") }

// Evidence resolves where evidence files go and the public base of their
// links, for a server listening on addr whose loaded flows ask for files
// when needFiles. storage is empty when uploads are off: production with
// no CLAIMBOT_UPLOADS and no flow asking for files. Production refuses to
// start, naming the variable, without CLAIMBOT_UPLOADS when a flow asks
// for files (else it would take files it cannot keep) and without
// CLAIMBOT_PUBLIC_URL when uploads are on (else the webhook's links would
// point nowhere the backend can reach).
func (c *Config) Evidence(needFiles bool, addr string) (storage, publicURL string, err error) {
	storage, publicURL = c.Uploads, c.PublicURL
	if c.Dev() {
		if storage == "" {
			storage = DevUploads()
		}
		if publicURL == "" {
			publicURL = "http://" + addr
		}
		return storage, publicURL, nil
	}
	if storage == "" {
		if needFiles {
			return "", "", errors.New("config: production mode needs CLAIMBOT_UPLOADS (a folder, or s3://bucket[/prefix]): a loaded flow asks for files")
		}
		return "", publicURL, nil
	}
	if publicURL == "" {
		return "", "", errors.New("config: production mode needs CLAIMBOT_PUBLIC_URL (like https://chat.example.com) when uploads are on: the webhook's evidence links start with it")
	}
	return storage, publicURL, nil
}

// checkUploads accepts a folder path or s3://bucket[/prefix].
func checkUploads(v string) error {
	if v == "" {
		return nil
	}
	if i := strings.Index(v, "://"); i >= 0 {
		scheme := v[:i]
		if !strings.EqualFold(scheme, "s3") {
			return fmt.Errorf("config: CLAIMBOT_UPLOADS: want a folder path or s3://bucket[/prefix], got a %s:// URL", scheme)
		}
		bucket, _, _ := strings.Cut(v[i+3:], "/")
		if bucket == "" {
			return fmt.Errorf("config: CLAIMBOT_UPLOADS: want s3://bucket[/prefix], got %q with no bucket", v)
		}
	}
	return nil
}

// checkPublicURL accepts an absolute http(s) URL with no query, fragment
// or credentials: links are made by appending paths to it.
func checkPublicURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(v, "?") || strings.HasSuffix(v, "#") {
		return fmt.Errorf("config: CLAIMBOT_PUBLIC_URL: want the server's public base URL, like https://chat.example.com, got %q", logSafe(v))
	}
	return nil
}

// logSafe shows a malformed URL without what may be a credential in it.
func logSafe(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		u.User = url.User("…")
		return u.String()
	}
	return v
}

// Redis is where Redis is.
func (c *Config) Redis() redisconn.Settings {
	return redisconn.Settings{URL: c.RedisURL, ClusterURL: c.RedisClusterURL}
}

// Loopback reports whether a listen address is on loopback only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseSchedule reads "5s,5m,30m".
func ParseSchedule(v string) ([]time.Duration, error) {
	var out []time.Duration
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("want delays like 5s,5m,30m, got %q: delay %d is empty", v, i+1)
		}
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("want delays like 5s,5m,30m, got %q: delay %d, %q, is not a duration of 0 or more", v, i+1, part)
		}
		out = append(out, d)
	}
	return out, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
