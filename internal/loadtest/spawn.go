package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redisproc"
)

// ChildEnv is set in the environment of the processes a Stack starts
// (claimbot serve, the bare loop), so a test binary standing in for
// claimbot knows it is one.
const ChildEnv = "CLAIMBOT_LOADTEST_CHILD"

// BareServeFlag is the loadtest flag that makes the claimbot binary serve
// the bare loop alone on an address (a Stack's bare process).
const BareServeFlag = "--bare-serve"

// StackOptions shape the processes of a load test in production's shape.
type StackOptions struct {
	// Binary is the claimbot binary to start (`serve`, and `loadtest
	// --bare-serve` for the bare loop); default: this process's own.
	Binary string
	// RedisURL is a Redis to use instead of starting one; its database is
	// flushed before the server starts (and not at all when no server is
	// started here). Empty: a redis-server started here
	// with RedisConf.
	RedisURL  string
	RedisConf string   // default: ./redis.conf when there is one
	Flows     string   // default flows
	Locales   string   // default locales
	Server    bool     // start `claimbot serve`
	Bare      bool     // start the bare loop in a process of its own
	ServerEnv []string // more of the server's environment (tests)
	// Dir keeps the processes' logs and Redis's data; default a new
	// temporary folder, removed by Close.
	Dir string
}

// Stack is the production shape for a load test: Redis, the chat server
// and the bare loop each in a process of its own, the webhook receiver in
// the load tool's process. Processor time is read per process from
// /proc/<pid>/stat.
type Stack struct {
	RedisURL string
	RedisPID int // 0: unknown (not on this machine, or not Linux)
	Redis    *redisproc.Node
	Server   *Proc
	Bare     *Proc
	Receiver *Receiver
	Dir      string

	ownDir bool
	flushs string
}

// Proc is a child process serving on Addr.
type Proc struct {
	Name    string
	Addr    string
	Log     string // the file its output goes to
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// StartStack starts what o asks for, with Redis flushed before the server
// starts. Close stops it all.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	s := &Stack{Dir: o.Dir}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("stack: the claimbot binary: %w", err)
		}
	}
	for p, d := range map[*string]string{&o.Flows: "flows", &o.Locales: "locales"} {
		if *p == "" {
			*p = d
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
	}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "claimbot-loadtest-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	s.RedisURL = o.RedisURL
	if s.RedisURL == "" {
		if o.RedisConf == "" {
			if _, err := os.Stat("redis.conf"); err == nil {
				o.RedisConf = "redis.conf"
			}
		}
		if o.RedisConf != "" {
			if _, err := os.Stat(o.RedisConf); err != nil {
				return nil, fmt.Errorf("stack: redis-server's config: %w (the shipped redis.conf is at the repository's top: run from there, or pass --redis-conf)", err)
			}
			if o.RedisConf, err = filepath.Abs(o.RedisConf); err != nil {
				return nil, err
			}
		}
		port, err := redisproc.FreePort(false)
		if err != nil {
			return nil, err
		}
		rdir := filepath.Join(s.Dir, "redis")
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return nil, err
		}
		if s.Redis, err = redisproc.StartNode(o.RedisConf, rdir, port); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
		s.RedisURL = "redis://" + s.Redis.Addr
	}
	if o.Server || s.Redis != nil {
		// Not a given Redis that only the bare loop uses: it may be the
		// one a server at --url runs on.
		if err := s.flush(ctx); err != nil {
			return nil, err
		}
	}
	s.RedisPID = localRedisPID(ctx, s.RedisURL)
	if o.Server {
		if s.Receiver, err = StartReceiver(); err != nil {
			return nil, err
		}
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		env := []string{
			"CLAIMBOT_ADDR=" + addr, "REDIS_URL=" + s.RedisURL,
			"CLAIMBOT_WEBHOOK_URL=" + s.Receiver.URL, "CLAIMBOT_WEBHOOK_SECRET=" + s.Receiver.SecretText,
			"CLAIMBOT_RATE_LIMIT=0", "CLAIMBOT_LOG_LEVEL=warn",
			"CLAIMBOT_FLOWS=" + o.Flows, "CLAIMBOT_LOCALES=" + o.Locales,
		}
		env = append(env, o.ServerEnv...)
		s.Server, err = startProc(ctx, "server", o.Binary, []string{"serve"}, env, filepath.Join(s.Dir, "server.log"), addr,
			func(ctx context.Context) error { return httpReady(ctx, "http://"+addr+"/readyz") })
		if err != nil {
			return nil, err
		}
	}
	if o.Bare {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s.Bare, err = startProc(ctx, "bare loop", o.Binary, []string{"loadtest", BareServeFlag, addr, "--redis", s.RedisURL}, nil,
			filepath.Join(s.Dir, "bare.log"), addr, func(ctx context.Context) error {
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err == nil {
					c.Close()
				}
				return err
			})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Flushed says how Redis was flushed, for the report.
func (s *Stack) Flushed() string { return s.flushs }

// flush empties Redis before the server starts, as the targets ask: every
// claim leaves a 30-day receipt, and a database grown by earlier runs
// makes Redis slower (and its append-only rewrites, forks of the whole
// dataset, compete for the processors). A redis-server started here is
// flushed whole; a given one only its database.
func (s *Stack) flush(ctx context.Context) error {
	opt, err := redis.ParseURL(s.RedisURL)
	if err != nil {
		return fmt.Errorf("stack: --redis: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if s.Redis != nil {
		err, s.flushs = c.FlushAll(ctx).Err(), "FLUSHALL"
	} else {
		err, s.flushs = c.FlushDB(ctx).Err(), fmt.Sprintf("FLUSHDB of database %d", opt.DB)
	}
	if err != nil {
		return fmt.Errorf("stack: flush redis %s: %w", redactRedis(s.RedisURL), err)
	}
	// Rewrite the append-only file now, so no rewrite of the old data
	// runs during the load.
	if err := c.BgRewriteAOF(ctx).Err(); err == nil {
		s.flushs += ", then BGREWRITEAOF"
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			info, err := c.Info(ctx, "persistence").Result()
			if err != nil || (strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0")) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// ServerTarget is the server process as a load test target.
func (s *Stack) ServerTarget() Target {
	addr := s.Server.Addr
	return Target{URL: "ws://" + addr + "/ws", MetricsURL: "http://" + addr + "/metrics", PID: s.Server.PID(),
		Name: fmt.Sprintf("claimbot serve in its own process (pid %d, %s), redis-server %s, webhook to a receiver in the load tool's process",
			s.Server.PID(), addr, redactRedis(s.RedisURL))}
}

// BareTarget is the bare loop's process as a load test target.
func (s *Stack) BareTarget() Target {
	return Target{URL: "ws://" + s.Bare.Addr + "/ws", Bare: true, PID: s.Bare.PID(),
		Name: fmt.Sprintf("bare loop in its own process (pid %d, %s) on redis %s", s.Bare.PID(), s.Bare.Addr, redactRedis(s.RedisURL))}
}

// Close stops every process (the server first, so its last deliveries
// reach the receiver) and removes a folder made for them.
func (s *Stack) Close() {
	for _, p := range []*Proc{s.Server, s.Bare} {
		if p != nil {
			p.Stop()
		}
	}
	if s.Receiver != nil {
		s.Receiver.Close()
	}
	if s.Redis != nil {
		s.Redis.Kill()
	}
	if s.ownDir {
		os.RemoveAll(s.Dir)
	}
}

func startProc(ctx context.Context, name, bin string, args, env []string, logPath, addr string, ready func(context.Context) error) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(childEnviron(), ChildEnv+"=1"), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C to the load tool reaches it only through
	// Stop, after the report has read its counters.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("stack: start %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, Addr: addr, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := ready(rctx)
		cancel()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("stack: %s exited at start (%v):\n%s", name, p.waitErr, tail(logPath))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("stack: %s not ready within 30 s (%v):\n%s", name, err, tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the process with SIGTERM, and SIGKILL after 10 s.
func (p *Proc) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// childEnviron is this process's environment without claimbot's and
// Redis's settings: the Stack sets those it means (a banner secret would
// put the server in production mode).
func childEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CLAIMBOT_") || strings.HasPrefix(kv, "REDIS_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func freeAddr() (string, error) {
	port, err := redisproc.FreePort(false)
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

func httpReady(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// tail is the end of a log file, for an error.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// localRedisPID is the process id of the Redis at url when it runs on
// this machine (INFO server's process_id, and /proc/<pid>/comm a
// redis-server); 0 otherwise.
func localRedisPID(ctx context.Context, url string) int {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return 0
	}
	host, _, _ := net.SplitHostPort(opt.Addr)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	opt.DialTimeout, opt.ReadTimeout, opt.PoolSize = time.Second, time.Second, 1
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				return 0
			}
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if err != nil || !strings.HasPrefix(string(comm), "redis") {
				return 0
			}
			return pid
		}
	}
	return 0
}
