package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/claimbot/claimbot/internal/redistest"
)

// No Docker engine runs here, so these test what the Dockerfile and the
// compose file rely on, directly.

// contractVars are the environment variables of contract §0 (and the
// locales folder).
var contractVars = map[string]bool{"CLAIMBOT_ADDR": true, "REDIS_URL": true, "CLAIMBOT_FLOWS": true, "CLAIMBOT_LOCALES": true,
	"CLAIMBOT_DEFAULT_FLOW": true, "CLAIMBOT_BANNER_SECRET": true, "CLAIMBOT_ALLOWED_ORIGINS": true, "CLAIMBOT_WEBHOOK_URL": true,
	"CLAIMBOT_WEBHOOK_SECRET": true, "CLAIMBOT_SESSION_TTL": true, "CLAIMBOT_RETENTION": true, "CLAIMBOT_RETRY_SCHEDULE": true,
	"CLAIMBOT_RATE_LIMIT": true, "CLAIMBOT_LOG_LEVEL": true, "CLAIMBOT_UPLOADS": true, "CLAIMBOT_PUBLIC_URL": true}

func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(src)
	// What it copies exists; what it runs is built where it says.
	for _, m := range regexp.MustCompile(`(?m)^COPY (flows|locales|go\.mod go\.sum) `).FindAllStringSubmatch(df, -1) {
		for _, p := range strings.Fields(m[1]) {
			if _, err := os.Stat(filepath.Join("..", p)); err != nil {
				t.Errorf("Dockerfile copies %s: %v", p, err)
			}
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "./bot", "USER nonroot", `ENTRYPOINT ["/app/claimbot"]`, `CMD ["serve"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`\b(CLAIMBOT_[A-Z_]+|REDIS_URL)=`).FindAllStringSubmatch(df, -1) {
		if !contractVars[m[1]] {
			t.Errorf("Dockerfile sets %s, which the server does not read", m[1])
		}
	}
	// The static build it makes works.
	out := filepath.Join(t.TempDir(), "claimbot")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, b)
	}
	if b, err := exec.Command(out, "serve", "-h").CombinedOutput(); err != nil {
		t.Errorf("claimbot serve -h: %v\n%s", err, b)
	}
}

func TestCompose(t *testing.T) {
	src, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(src, &c); err != nil {
		t.Fatal(err)
	}
	r, bot := c.Services["redis"], c.Services["bot"]
	if len(r.Command) < 2 || r.Command[1] != "/usr/local/etc/redis/redis.conf" {
		t.Errorf("redis does not run the shipped redis.conf: %v", r.Command)
	}
	mounted := false
	for _, v := range r.Volumes {
		mounted = mounted || strings.HasPrefix(v, "./redis.conf:/usr/local/etc/redis/redis.conf")
	}
	if !mounted {
		t.Errorf("redis.conf is not mounted: %v", r.Volumes)
	}
	for k := range bot.Environment {
		if !contractVars[k] {
			t.Errorf("compose sets %s, which the server does not read", k)
		}
	}
	for _, k := range []string{"REDIS_URL", "CLAIMBOT_BANNER_SECRET", "CLAIMBOT_WEBHOOK_URL", "CLAIMBOT_WEBHOOK_SECRET", "CLAIMBOT_UPLOADS", "CLAIMBOT_PUBLIC_URL"} {
		if bot.Environment[k] == "" {
			t.Errorf("compose does not set %s, which production mode needs", k)
		}
	}
}

// The shipped redis.conf gives the persistence the contract promises.
func TestShippedRedisConf(t *testing.T) {
	rs := redistest.StartReal(t)
	rdb := rs.Client(t)
	for key, want := range map[string]string{"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"} {
		got, err := rdb.ConfigGet(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
}
