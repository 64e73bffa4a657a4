package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
)

// noCountsEnv set to 1 makes this test binary's `serve` leave the intake
// counts alone (config.Config.NoCounts).
const noCountsEnv = "CLAIMBOT_TEST_NO_COUNTS"

// TestMain lets this test binary stand in for claimbot when a Stack
// starts it as a child: `serve` runs the server as `claimbot serve` does
// (settings from the environment), `loadtest --bare-serve ADDR --redis
// URL` the bare loop.
func TestMain(m *testing.M) {
	if os.Getenv(ChildEnv) == "1" && len(os.Args) > 1 {
		os.Exit(testChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func testChild(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case args[0] == "serve":
		var cfg *config.Config
		if cfg, err = config.FromEnv(os.Getenv); err != nil {
			break
		}
		cfg.NoCounts = os.Getenv(noCountsEnv) == "1"
		var r *server.Running
		if r, err = server.Start(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))); err != nil {
			break
		}
		err = r.Wait()
	case len(args) == 5 && args[0] == "loadtest" && args[1] == BareServeFlag && args[3] == "--redis":
		err = ServeBare(ctx, args[2], args[4])
	default:
		err = fmt.Errorf("test child: unknown command %q", args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// needRedisServer skips a test without redis-server (fails it with
// CLAIMBOT_REQUIRE_REAL=1).
func needRedisServer(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if redistest.RequireReal() {
			t.Fatal("redis-server is not on the PATH and CLAIMBOT_REQUIRE_REAL=1")
		}
		t.Skip("redis-server is not installed")
	}
}

func startStack(t testing.TB, o StackOptions) *Stack {
	t.Helper()
	needRedisServer(t)
	o.Flows, o.Locales = "../../flows", "../../locales"
	if o.RedisURL == "" {
		o.RedisConf = "../../redis.conf"
	}
	s, err := StartStack(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, p := range []*Proc{s.Server, s.Bare} {
		if p != nil && p.PID() == os.Getpid() {
			t.Fatalf("%s runs in the test's process", p.Name)
		}
	}
	return s
}

// --rounds in production's shape: the server and the bare loop each in a
// process of its own on one redis-server, flushed first; deliveries reach
// the receiver in the load tool's process; both ratios and each round's
// steal are reported, processor time read per process.
func TestRoundsServerInItsOwnProcess(t *testing.T) {
	needRedisServer(t)
	rd := redistest.StartReal(t)
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rc.Close()
	if err := rc.Set(context.Background(), "left-over-from-an-earlier-run", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, StackOptions{RedisURL: rd.URL, Server: true, Bare: true})
	if n, err := rc.Exists(context.Background(), "left-over-from-an-earlier-run").Result(); err != nil || n != 0 {
		t.Fatalf("redis not flushed before the server started: %d, %v", n, err)
	}
	if s.RedisPID <= 0 {
		t.Fatalf("redis-server's pid unknown")
	}
	real, bare := s.ServerTarget(), s.BareTarget()
	for _, tg := range []Target{real, bare} {
		if err := tg.Preflight(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	r, err := RunRounds(context.Background(), real, bare, 1, Options{Conversations: 10, Duration: 1500 * time.Millisecond, RedisURL: s.RedisURL, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	out := text(r)
	t.Log("\n" + out)
	rr := r.Rounds
	if len(rr.Rounds) != 2 || rr.Rounds[0].Kind != "bare" || rr.Rounds[1].Kind != "real" {
		t.Fatalf("rounds: %+v", rr.Rounds)
	}
	var filed int64
	for _, rd := range rr.Rounds {
		l := rd.Load
		if l.Errors() != 0 || l.Conversations.Completed == 0 {
			t.Errorf("round %s: errors %d, conversations %+v", rd.Kind, l.Errors(), l.Conversations)
		}
		c := rd.CPU
		if c == nil || c.Server == nil || *c.Server <= 0 || c.Redis == nil || *c.Redis <= 0 {
			t.Errorf("round %s: processor time per turn %+v: want the serving process's and redis-server's", rd.Kind, c)
		}
		if _, ok := readCPUTimes(); ok && (rd.Steal == nil || rd.Others == nil || *rd.Others < 0 || *rd.Others > 1) {
			t.Errorf("round %s: steal %v, others %v", rd.Kind, rd.Steal, rd.Others)
		}
		if rd.Kind == "real" {
			filed = l.Conversations.WithClaim
		}
	}
	if rr.ThroughputRatio <= 0 || rr.ThroughputRatio != rr.Real.TurnsPerSec/rr.Bare.TurnsPerSec {
		t.Errorf("turns/s ratio %v", rr.ThroughputRatio)
	}
	b, c := rr.Bare.CPU, rr.Real.CPU
	if b == nil || c == nil || rr.CPURatio <= 0 || rr.CPURatio != c.Serving()/b.Serving() || c.Serving() != *c.Server+*c.Redis {
		t.Errorf("cpu ratio %v of %+v and %+v", rr.CPURatio, c, b)
	}
	// The real round waited for its deliveries, and they went to the
	// receiver in this process (the server has no built-in one here).
	distinct, _ := s.Receiver.Claims()
	if filed == 0 || int64(distinct) < filed || s.Receiver.Bad() != 0 {
		t.Errorf("receiver: %d claims, %d bad deliveries; %d claims filed", distinct, s.Receiver.Bad(), filed)
	}
	if c := rr.Rounds[1].Claims; c == nil || c.Filed != filed || c.ServerDelivered == nil || *c.ServerDelivered < float64(filed) {
		t.Errorf("real round's claims: %+v", c)
	}
	for _, want := range []string{"cpu ratio", "serving side: server process + redis", "real/bare turns/s", "steal", "others", "receipts received"} {
		if !strings.Contains(out, want) {
			t.Errorf("report without %q", want)
		}
	}
}

// --rate R --rounds N: open-loop rounds alternating the bare loop and the
// server, each offered the same rate, and the ratio of their p99.
func TestOpenLoopRoundsReportP99Ratio(t *testing.T) {
	s := startStack(t, StackOptions{Server: true, Bare: true})
	r, err := RunRounds(context.Background(), s.ServerTarget(), s.BareTarget(), 1,
		Options{Rate: 200, Duration: 1500 * time.Millisecond, RedisURL: s.RedisURL, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	out := text(r)
	t.Log("\n" + out)
	rr := r.Rounds
	if rr.Rate != 200 || len(rr.Rounds) != 2 {
		t.Fatalf("rounds: %+v", rr)
	}
	for _, rd := range rr.Rounds {
		l := rd.Load
		// An open loop schedules its turns: offered ones are counted.
		if l.Offered == 0 || l.OfferedFor <= 0 || l.Turns == 0 || l.Errors() != 0 || l.Latency.P99 <= 0 {
			t.Errorf("round %s: not an open loop, or it failed: %+v", rd.Kind, l)
		}
	}
	if rr.P99Ratio <= 0 || rr.P99Ratio != rr.Real.P99/rr.Bare.P99 {
		t.Errorf("p99 ratio %v (real %v, bare %v)", rr.P99Ratio, rr.Real.P99, rr.Bare.P99)
	}
	if !strings.Contains(out, "open loop, 200 turns/s offered") || !strings.Contains(out, "real/bare p99") {
		t.Errorf("report does not say open loop and its p99 ratio:\n%s", out)
	}
}

// --idle measures a server started fresh for it, on a flushed
// redis-server with the shipped redis.conf, and says so.
func TestIdleOnAFreshServer(t *testing.T) {
	s := startStack(t, StackOptions{Server: true})
	if s.Redis == nil || s.Flushed() == "" {
		t.Fatalf("no redis-server started and flushed: %+v", s)
	}
	tg := s.ServerTarget()
	if err := tg.Preflight(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := RunIdle(context.Background(), tg, 200, 300*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := text(r)
	t.Log("\n" + out)
	i := r.Idle
	if i.Opened != 200 || i.ServerConnections < 200 || i.RSSBefore <= 0 || i.RSSAfter <= i.RSSBefore || len(i.Problems) > 0 {
		t.Errorf("idle: %+v", i)
	}
	// Fresh: the server had run only as long as it took to start.
	if i.ServerUpSeconds <= 0 || i.ServerUpSeconds > 30 {
		t.Errorf("server up %v s before the connections", i.ServerUpSeconds)
	}
	if !strings.Contains(out, "per connection (the server had run") {
		t.Errorf("report:\n%s", out)
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (redis (x) y) S 1 4242 4242 0 -1 4194560 300 0 0 0 250 130 0 0 20 0 4 0 123 456 789"
	got, ok := parseProcStat(line)
	if !ok || got != 3.8 {
		t.Errorf("parseProcStat = %v, %v; want 3.8 s (250 + 130 ticks)", got, ok)
	}
	if _, ok := parseProcStat("4242 (x) S 1 2"); ok {
		t.Error("a short line parsed")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	if v, ok := procCPU(os.Getpid()); !ok || v <= 0 {
		t.Errorf("procCPU of this process = %v, %v", v, ok)
	}
}

// A missing redis.conf is a clear error, not a redis-server that died at
// start with its log.
func TestStackRefusesAMissingRedisConf(t *testing.T) {
	_, err := StartStack(context.Background(), StackOptions{RedisConf: "no-such-redis.conf", Server: true, Flows: "../../flows", Locales: "../../locales"})
	if err == nil || !strings.Contains(err.Error(), "--redis-conf") {
		t.Fatalf("err = %v", err)
	}
}
