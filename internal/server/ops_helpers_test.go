package server_test

import (
	"github.com/claimbot/claimbot/internal/redistest"

	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
)

// Options and readers of the ops_* tests: the limits of issue 18.

func withOpsAddr(addr string) option { return func(c *config.Config) { c.OpsAddr = addr } }
func withIdleTimeout(d time.Duration) option {
	return func(c *config.Config) { c.IdleTimeout = d }
}
func withMaxConns(n int) option       { return func(c *config.Config) { c.MaxConns = n } }
func withSocketsPerUser(n int) option { return func(c *config.Config) { c.SocketsPerUser = n } }

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metric reads one unlabelled sample from a /metrics URL; ok is false when
// the metric is not there.
func metric(t testing.TB, url, name string) (v float64, ok bool) {
	t.Helper()
	status, body := httpGet(t, url)
	if status != 200 {
		t.Fatalf("GET %s: HTTP %d", url, status)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if rest, found := strings.CutPrefix(line, name+" "); found {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			return v, true
		}
	}
	return 0, false
}

// redisCalls is the number of commands Redis has run, by command, from
// INFO commandstats.
func redisCalls(t testing.TB, e *env) map[string]int {
	t.Helper()
	if !e.redis.Real {
		// The embedded Redis keeps no command statistics: this needs a
		// real redis-server (skips without one, fails in CI).
		redistest.StartReal(t)
	}
	rdb := e.redis.Client(t)
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		// cmdstat_get:calls=12,usec=…
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if n, ok := strings.CutPrefix(kv, "calls="); ok {
				calls[name], _ = strconv.Atoi(n)
			}
		}
	}
	return calls
}
