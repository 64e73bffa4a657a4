package config

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// production is the least environment production mode starts with.
var production = map[string]string{
	"CLAIMBOT_BANNER_SECRET":  "banner-secret-of-at-least-32-bytes",
	"REDIS_URL":               "redis://127.0.0.1:6379/0",
	"CLAIMBOT_WEBHOOK_URL":    "https://backend.example/claims",
	"CLAIMBOT_WEBHOOK_SECRET": "whsec_c2VjcmV0",
}

// fromEnv reads a Config from base with over on top; "" unsets.
func fromEnv(base, over map[string]string) (*Config, error) {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for k, v := range over {
		env[k] = v
	}
	return FromEnv(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	contractSchedule := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
	for _, tc := range []struct {
		name      string
		env       map[string]string
		dev       bool
		addr      string
		rateLimit float64
	}{
		{"dev", nil, true, "127.0.0.1:8080", 0},
		{"production", production, false, ":8080", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fromEnv(tc.env, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := &Config{
				Addr: tc.addr, Flows: "flows", Locales: "locales", DefaultFlow: "damage-1015",
				SessionTTL: 72 * time.Hour, Retention: 168 * time.Hour, RetrySchedule: contractSchedule,
				RateLimit: tc.rateLimit, LogLevel: slog.LevelInfo, IdleTimeout: time.Minute, SocketsPerUser: 5,
				RedisURL: tc.env["REDIS_URL"], BannerSecret: tc.env["CLAIMBOT_BANNER_SECRET"],
				WebhookURL: tc.env["CLAIMBOT_WEBHOOK_URL"], WebhookSecret: tc.env["CLAIMBOT_WEBHOOK_SECRET"],
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
			if c.Dev() != tc.dev {
				t.Errorf("Dev() = %v, want %v", c.Dev(), tc.dev)
			}
		})
	}
}

// Every variable reaches its field, in both modes where the mode matters.
func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  map[string]string
		env   map[string]string
		field func(*Config) any
		want  any
	}{
		{"addr", nil, map[string]string{"CLAIMBOT_ADDR": "127.0.0.1:9090"}, func(c *Config) any { return c.Addr }, "127.0.0.1:9090"},
		{"addr production", production, map[string]string{"CLAIMBOT_ADDR": "0.0.0.0:80"}, func(c *Config) any { return c.Addr }, "0.0.0.0:80"},
		{"addr localhost", nil, map[string]string{"CLAIMBOT_ADDR": "localhost:8081"}, func(c *Config) any { return c.Addr }, "localhost:8081"},
		{"addr ipv6 loopback", nil, map[string]string{"CLAIMBOT_ADDR": "[::1]:8081"}, func(c *Config) any { return c.Addr }, "[::1]:8081"},
		{"redis", nil, map[string]string{"REDIS_URL": "rediss://:pw@redis.example:6380/2"}, func(c *Config) any { return c.RedisURL }, "rediss://:pw@redis.example:6380/2"},
		{"flows", nil, map[string]string{"CLAIMBOT_FLOWS": "/srv/flows"}, func(c *Config) any { return c.Flows }, "/srv/flows"},
		{"locales", nil, map[string]string{"CLAIMBOT_LOCALES": "/srv/locales"}, func(c *Config) any { return c.Locales }, "/srv/locales"},
		{"default flow", nil, map[string]string{"CLAIMBOT_DEFAULT_FLOW": "outage-2025"}, func(c *Config) any { return c.DefaultFlow }, "outage-2025"},
		{"banner secret", production, nil, func(c *Config) any { return c.BannerSecret }, "banner-secret-of-at-least-32-bytes"},
		{"ops addr", nil, map[string]string{"CLAIMBOT_OPS_ADDR": "127.0.0.1:9090"}, func(c *Config) any { return c.OpsAddr }, "127.0.0.1:9090"},
		{"ops addr production", production, map[string]string{"CLAIMBOT_OPS_ADDR": ":9090"}, func(c *Config) any { return c.OpsAddr }, ":9090"},
		{"idle timeout", nil, map[string]string{"CLAIMBOT_IDLE_TIMEOUT": "15s"}, func(c *Config) any { return c.IdleTimeout }, 15 * time.Second},
		{"max conns", production, map[string]string{"CLAIMBOT_MAX_CONNS": "20000"}, func(c *Config) any { return c.MaxConns }, 20000},
		{"sockets per user", production, map[string]string{"CLAIMBOT_SOCKETS_PER_USER": "2"}, func(c *Config) any { return c.SocketsPerUser }, 2},
		{"webhook url", nil, map[string]string{"CLAIMBOT_WEBHOOK_URL": "http://127.0.0.1:9000/"}, func(c *Config) any { return c.WebhookURL }, "http://127.0.0.1:9000/"},
		{"webhook secret", nil, map[string]string{"CLAIMBOT_WEBHOOK_SECRET": "whsec_abc"}, func(c *Config) any { return c.WebhookSecret }, "whsec_abc"},
		{"session ttl", nil, map[string]string{"CLAIMBOT_SESSION_TTL": "90m"}, func(c *Config) any { return c.SessionTTL }, 90 * time.Minute},
		{"retention", nil, map[string]string{"CLAIMBOT_RETENTION": "720h"}, func(c *Config) any { return c.Retention }, 720 * time.Hour},
		{"retry schedule", nil, map[string]string{"CLAIMBOT_RETRY_SCHEDULE": "1s, 1m ,1h"}, func(c *Config) any { return c.RetrySchedule },
			[]time.Duration{time.Second, time.Minute, time.Hour}},
		{"retry schedule one", nil, map[string]string{"CLAIMBOT_RETRY_SCHEDULE": "0s"}, func(c *Config) any { return c.RetrySchedule }, []time.Duration{0}},
		{"rate limit dev", nil, map[string]string{"CLAIMBOT_RATE_LIMIT": "2.5"}, func(c *Config) any { return c.RateLimit }, 2.5},
		{"rate limit production", production, map[string]string{"CLAIMBOT_RATE_LIMIT": "20"}, func(c *Config) any { return c.RateLimit }, 20.0},
		{"rate limit off in production", production, map[string]string{"CLAIMBOT_RATE_LIMIT": "0"}, func(c *Config) any { return c.RateLimit }, 0.0},
		{"log level debug", nil, map[string]string{"CLAIMBOT_LOG_LEVEL": "debug"}, func(c *Config) any { return c.LogLevel }, slog.LevelDebug},
		{"log level info", nil, map[string]string{"CLAIMBOT_LOG_LEVEL": "info"}, func(c *Config) any { return c.LogLevel }, slog.LevelInfo},
		{"log level warn", nil, map[string]string{"CLAIMBOT_LOG_LEVEL": "WARN"}, func(c *Config) any { return c.LogLevel }, slog.LevelWarn},
		{"log level error", nil, map[string]string{"CLAIMBOT_LOG_LEVEL": "error"}, func(c *Config) any { return c.LogLevel }, slog.LevelError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fromEnv(tc.base, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.field(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAllowedOrigins(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"https://chat.example", []string{"https://chat.example"}},
		{"https://a.example,https://b.example", []string{"https://a.example", "https://b.example"}},
		{" https://a.example , https://b.example/ ", []string{"https://a.example", "https://b.example"}},
		{"https://a.example,, ,", []string{"https://a.example"}},
		{" , ", nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := fromEnv(nil, map[string]string{"CLAIMBOT_ALLOWED_ORIGINS": tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.AllowedOrigins, tc.want) {
				t.Errorf("got %q, want %q", c.AllowedOrigins, tc.want)
			}
		})
	}
}

// A bad value is an error that names its variable and what was given.
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		name, value string
	}{
		{"CLAIMBOT_SESSION_TTL", "72"},
		{"CLAIMBOT_SESSION_TTL", "three days"},
		{"CLAIMBOT_SESSION_TTL", "0s"},
		{"CLAIMBOT_SESSION_TTL", "-1h"},
		{"CLAIMBOT_RETENTION", "1w"},
		{"CLAIMBOT_RETENTION", "-5m"},
		{"CLAIMBOT_RETRY_SCHEDULE", "soon"},
		{"CLAIMBOT_RETRY_SCHEDULE", "5s,,5m"},
		{"CLAIMBOT_RETRY_SCHEDULE", "5s,-5m"},
		{"CLAIMBOT_RETRY_SCHEDULE", "5s;5m"},
		{"CLAIMBOT_RETRY_SCHEDULE", ","},
		{"CLAIMBOT_RATE_LIMIT", "fast"},
		{"CLAIMBOT_RATE_LIMIT", "-1"},
		{"CLAIMBOT_RATE_LIMIT", "NaN"},
		{"CLAIMBOT_RATE_LIMIT", "nan"},
		{"CLAIMBOT_RATE_LIMIT", "Inf"},
		{"CLAIMBOT_RATE_LIMIT", "+Inf"},
		{"CLAIMBOT_RATE_LIMIT", "-Inf"},
		{"CLAIMBOT_RATE_LIMIT", "infinity"},
		{"CLAIMBOT_RATE_LIMIT", "1e400"},
		{"CLAIMBOT_LOG_LEVEL", "verbose"},
		{"CLAIMBOT_IDLE_TIMEOUT", "60"},
		{"CLAIMBOT_IDLE_TIMEOUT", "0s"},
		{"CLAIMBOT_MAX_CONNS", "0"},
		{"CLAIMBOT_MAX_CONNS", "lots"},
		{"CLAIMBOT_SOCKETS_PER_USER", "-1"},
		{"CLAIMBOT_SOCKETS_PER_USER", "2.5"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			for _, base := range []map[string]string{nil, production} {
				_, err := fromEnv(base, map[string]string{tc.name: tc.value})
				if err == nil {
					t.Fatalf("accepted")
				}
				if msg := err.Error(); !strings.Contains(msg, tc.name+":") || !strings.Contains(msg, tc.value) {
					t.Errorf("error does not name %s and %q: %v", tc.name, tc.value, err)
				}
			}
		})
	}
}

// Every bad value is reported at once.
func TestBadValuesTogether(t *testing.T) {
	_, err := fromEnv(nil, map[string]string{"CLAIMBOT_SESSION_TTL": "x", "CLAIMBOT_RATE_LIMIT": "NaN", "CLAIMBOT_LOG_LEVEL": "loud"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, name := range []string{"CLAIMBOT_SESSION_TTL", "CLAIMBOT_RATE_LIMIT", "CLAIMBOT_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error lacks %s: %v", name, err)
		}
	}
}

// The modes' rules: production names every setting it lacks; dev mode
// listens on loopback only.
func TestModeRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		base    map[string]string
		env     map[string]string
		want    []string // in the error; none: no error
		notWant []string
	}{
		{name: "production bare", env: map[string]string{"CLAIMBOT_BANNER_SECRET": "banner-secret-of-at-least-32-bytes"},
			want: []string{"production mode", "REDIS_URL", "CLAIMBOT_WEBHOOK_URL", "CLAIMBOT_WEBHOOK_SECRET"}},
		{name: "production bare with a short secret", env: map[string]string{"CLAIMBOT_BANNER_SECRET": "b"},
			want: []string{"CLAIMBOT_BANNER_SECRET must be at least 32 bytes", "REDIS_URL", "CLAIMBOT_WEBHOOK_URL", "CLAIMBOT_WEBHOOK_SECRET"}},
		{name: "production without redis", base: production, env: map[string]string{"REDIS_URL": ""},
			want: []string{"REDIS_URL"}, notWant: []string{"CLAIMBOT_WEBHOOK_URL", "CLAIMBOT_WEBHOOK_SECRET"}},
		{name: "production without webhook url", base: production, env: map[string]string{"CLAIMBOT_WEBHOOK_URL": ""},
			want: []string{"CLAIMBOT_WEBHOOK_URL"}, notWant: []string{"REDIS_URL", "CLAIMBOT_WEBHOOK_SECRET"}},
		{name: "production without webhook secret", base: production, env: map[string]string{"CLAIMBOT_WEBHOOK_SECRET": ""},
			want: []string{"CLAIMBOT_WEBHOOK_SECRET"}, notWant: []string{"REDIS_URL", "CLAIMBOT_WEBHOOK_URL"}},
		{name: "dev on all interfaces", env: map[string]string{"CLAIMBOT_ADDR": ":8080"}, want: []string{"loopback", `":8080"`}},
		{name: "dev on a public address", env: map[string]string{"CLAIMBOT_ADDR": "0.0.0.0:8080"}, want: []string{"loopback"}},
		{name: "dev on a host name", env: map[string]string{"CLAIMBOT_ADDR": "chat.example:8080"}, want: []string{"loopback"}},
		{name: "dev without a port", env: map[string]string{"CLAIMBOT_ADDR": "127.0.0.1"}, want: []string{"loopback"}},
		{name: "production on all interfaces", base: production, env: map[string]string{"CLAIMBOT_ADDR": ":8080"}},
		{name: "dev ops on all interfaces", env: map[string]string{"CLAIMBOT_OPS_ADDR": ":9090"}, want: []string{"loopback", `":9090"`, "CLAIMBOT_OPS_ADDR"}},
		{name: "dev ops on loopback", env: map[string]string{"CLAIMBOT_OPS_ADDR": "127.0.0.1:9090"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fromEnv(tc.base, tc.env)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error names %q, which is set: %v", w, err)
				}
			}
		})
	}
}

// A banner secret shorter than 32 bytes refuses to start: the error names
// the variable and the minimum, never the secret itself (contract §0).
func TestShortBannerSecret(t *testing.T) {
	for _, secret := range []string{"kq7", "banner", strings.Repeat("s", 31), "비밀번호비밀번호비밀"} { // the last: 10 runes, 30 bytes
		t.Run(secret, func(t *testing.T) {
			_, err := fromEnv(production, map[string]string{"CLAIMBOT_BANNER_SECRET": secret})
			if err == nil {
				t.Fatalf("a %d-byte banner secret was accepted", len(secret))
			}
			msg := err.Error()
			if !strings.Contains(msg, "CLAIMBOT_BANNER_SECRET") || !strings.Contains(msg, "32 bytes") {
				t.Errorf("error does not name CLAIMBOT_BANNER_SECRET and its minimum of 32 bytes: %v", err)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
	for _, secret := range []string{strings.Repeat("s", 32), "비밀번호비밀번호비밀번"} { // 11 runes, 33 bytes
		if _, err := fromEnv(production, map[string]string{"CLAIMBOT_BANNER_SECRET": secret}); err != nil {
			t.Errorf("a %d-byte banner secret: %v", len(secret), err)
		}
	}
}

// The connection cap: as set, or below the descriptor limit.
func TestConnLimit(t *testing.T) {
	if got := (&Config{MaxConns: 123}).ConnLimit(); got != 123 {
		t.Errorf("MaxConns 123: ConnLimit %d", got)
	}
	got := (&Config{}).ConnLimit()
	if limit := fdLimit(); limit > 0 && (got < 1 || got >= limit) {
		t.Errorf("ConnLimit %d with a descriptor limit of %d: want from 1 to below it", got, limit)
	}
}
