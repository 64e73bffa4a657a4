// Package redistest starts a Redis for tests: a real redis-server when one
// is on the PATH, else the embedded miniredis. With CLAIMBOT_REQUIRE_REAL=1
// (CI) nothing falls back: a missing redis-server fails the test.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// RequireReal reports whether tests must not fall back or skip (CI).
func RequireReal() bool { return os.Getenv("CLAIMBOT_REQUIRE_REAL") == "1" }

// Server is a Redis for one test.
type Server struct {
	URL  string
	Addr string
	Real bool // a redis-server process, which Kill and Restart can stop

	t    testing.TB
	dir  string
	conf string
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
}

// Start starts a real redis-server with the repository's redis.conf when
// one is installed, else miniredis (unless CLAIMBOT_REQUIRE_REAL=1).
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err == nil {
		return startReal(t)
	}
	if RequireReal() {
		t.Fatal("redistest: redis-server is not on the PATH and CLAIMBOT_REQUIRE_REAL=1")
	}
	m := miniredis.RunT(t)
	return &Server{URL: "redis://" + m.Addr(), Addr: m.Addr(), mini: m, t: t}
}

// StartReal starts a real redis-server, for tests that kill or restart it;
// it skips the test when none is installed (and fails it in CI).
func StartReal(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if RequireReal() {
			t.Fatal("redistest: redis-server is not on the PATH and CLAIMBOT_REQUIRE_REAL=1")
		}
		t.Skip("redis-server is not installed")
	}
	return startReal(t)
}

func startReal(t testing.TB) *Server {
	t.Helper()
	conf, err := Conf()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: t.TempDir(), conf: conf, Real: true}
	s.Addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	s.URL = "redis://" + s.Addr
	s.run()
	t.Cleanup(func() { s.Kill() })
	return s
}

// Conf finds the shipped redis.conf at the repository's top.
func Conf() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "redis.conf"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("redistest: no go.mod above the working directory")
		}
		dir = parent
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) run() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", s.conf, "--port", port, "--bind", "127.0.0.1",
		"--dir", s.dir, "--daemonize", "no", "--save", "", "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redistest: redis-server did not answer: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops redis-server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		if s.mini != nil {
			s.mini.Close()
		}
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Freeze stops redis-server with SIGSTOP: it keeps its connections and
// accepts new ones, and answers nothing until Thaw, as a hung server
// would. The test's cleanup thaws it.
func (s *Server) Freeze() {
	s.t.Helper()
	if !s.Real || s.cmd == nil {
		s.t.Fatal("redistest: Freeze needs a running real redis-server")
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("redistest: SIGSTOP: %v", err)
	}
	s.t.Cleanup(s.Thaw)
}

// Thaw lets a frozen redis-server go on (SIGCONT).
func (s *Server) Thaw() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Restart starts redis-server again on the same port and data folder, so
// it loads its append-only file.
func (s *Server) Restart() {
	s.t.Helper()
	if !s.Real {
		s.t.Fatal("redistest: Restart needs a real redis-server")
	}
	s.Kill()
	s.run()
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// ProcessCPU is this process's user and system processor time so far, for
// benchmarks that report processor time per operation beside Redis's.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ServerCPU is the processor time redis-server has used so far, main
// thread and others (INFO cpu: used_cpu_sys + used_cpu_user).
func ServerCPU(ctx context.Context, rdb redis.UniversalClient) (time.Duration, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second)), nil
}

// Scripts is the script calls Redis has run so far and the microseconds
// it spent in them (INFO commandstats: evalsha and eval; the commands a
// script runs are counted apart, under their own names, and inside its
// time).
func Scripts(ctx context.Context, rdb redis.UniversalClient) (calls, usec float64, err error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls += f
			case "usec":
				usec += f
			}
		}
	}
	return calls, usec, nil
}
