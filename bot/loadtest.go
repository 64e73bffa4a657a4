package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/loadtest"
)

func init() {
	register("loadtest", "drive simulated people through complete claims over WebSockets and report throughput and latency", loadtestCmd)
}

func loadtestCmd(args []string) error {
	fs := newFlags("loadtest", "[--url ws://127.0.0.1:8080/ws [--token-secret S]] [--conversations N] [--duration D | --total N] [--rate R] [--idle N] [--bare] [--rounds K [--rate R] [--in-process]] [--backlog N] [--redis URL] [--chaos [--refuse 30s]] [--json FILE]")
	url := fs.String("url", "", "the server's WebSocket (ws://host:port/ws); unset: --rounds and --idle start claimbot serve as a process of its own, the other modes start the server in-process, as go run ./bot does in dev mode")
	tokenSecret := envFlag(fs, "token-secret", "CLAIMBOT_BANNER_SECRET", "with --url: mint banner tokens with this `secret` (CLAIMBOT_BANNER_SECRET); unset: dev mode's ?user=")
	allowRemote := fs.Bool("allow-remote", false, "allow a --url that is not on loopback")
	conversations := fs.Int("conversations", 0, "closed loop: conversations at once (default 50); open loop: connections in the pool (default rate/5, at least 20)")
	duration := fs.Duration("duration", 0, "how long to offer load (default 10s; with --total, at most 10m); backlog: the most a drain may take (default 5m)")
	total := fs.Int("total", 0, "stop after this many conversations")
	rate := fs.Float64("rate", 0, "open loop: turns per second offered whatever the replies; latency runs from the scheduled send")
	idle := fs.Int("idle", 0, "open this many connections, hold them, and report the server's memory per connection; without --url on a server started fresh for it (a server whose heap grew in earlier runs shows less)")
	hold := fs.Duration("hold", 3*time.Second, "with --idle: how long to hold the connections before measuring")
	bare := fs.Bool("bare", false, "drive the bare loop (one read, one Redis compare-and-set, one write per turn) on --redis instead of the server")
	rounds := fs.Int("rounds", 0, "alternate this many bare and real rounds of --duration each (closed loop; open loop with --rate) and print the ratios of turns/s, latency and processor time per turn; without --url the server, the bare loop and redis-server each run as a process of their own, Redis flushed first, deliveries going to a receiver in this process")
	inProcess := fs.Bool("in-process", false, "with --rounds or --idle and no --url: run the server and the bare loop in this process, as before (dev mode, the built-in receiver)")
	serverBin := fs.String("server-bin", "", "with --rounds or --idle and no --url: the claimbot binary to start (default: this one)")
	redisConf := fs.String("redis-conf", "redis.conf", "with --rounds or --idle, no --url and no --redis: the config of the redis-server started for the run")
	bareServe := fs.String("bare-serve", "", "serve the bare loop alone on this `address` with --redis, until stopped (how --rounds starts it as a process)")
	backlog := fs.Int("backlog", 0, "pre-fill the outbox in --redis with this many claims and measure how fast a sender drains it")
	redisURL := envFlag(fs, "redis", "REDIS_URL", "Redis `URL` for --bare, --backlog and the server the load tool starts (REDIS_URL; with --rounds or --idle and no --url its database is flushed first); unset: an embedded Redis, or for --rounds and --idle a redis-server started for the run")
	filedReplicas := fs.Int("filed-replicas", -1, "in-process server: CLAIMBOT_FILED_REPLICAS (default: 1 with --cluster, else 0)")
	clusterURL := envFlag(fs, "cluster", "REDIS_CLUSTER_URL", "a Redis Cluster's `URL` for the in-process server (REDIS_CLUSTER_URL); --bare, --backlog and --rounds' Redis time take one server")
	flowsDir := fs.String("flows", env("CLAIMBOT_FLOWS", "flows"), "in-process server: folder of flow files (CLAIMBOT_FLOWS)")
	localesDir := fs.String("locales", env("CLAIMBOT_LOCALES", "locales"), "in-process server: folder of message files (CLAIMBOT_LOCALES)")
	stillFileNo := fs.Float64("still-file-no", 0.3, "share of paid-service users who, told of their service's measure, file no claim")
	seed := fs.Uint64("seed", 0, "seed of the simulated people (0: random)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress line")
	probe := fs.Duration("probe", time.Second, "closed and open loop: spin one thread this long before the load and report how often the machine paused it (0: no probe)")
	chaosMode := fs.Bool("chaos", false, "the chaos run: a 3-master, 3-replica Redis Cluster and 3 bot instances started here, --conversations whole claims (default 1000) while a master, an instance and the receiver fail; fails when a claim is lost or doubled")
	refuse := fs.Duration("refuse", 30*time.Second, "with --chaos: how long the receiver refuses deliveries")
	chaosDir := fs.String("chaos-dir", "", "with --chaos: folder for the processes' data and logs (default: a new temporary folder)")
	prof := addProfileFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *bareServe != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		stopProfiles, err := prof.start() // to compare the bare loop's profile with the server's
		defer stopProfiles()
		if err != nil {
			return err
		}
		if err := loadtest.ServeBare(ctx, *bareServe, *redisURL); err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		return nil
	}
	if *chaosMode {
		if *url != "" || *rate > 0 || *idle > 0 || *backlog > 0 || *rounds > 0 || *bare {
			return errors.New("loadtest: --chaos starts its own cluster and instances: drop --url, --rate, --idle, --backlog, --rounds and --bare")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		n := *conversations
		if n == 0 {
			n = 1000
		}
		return runChaos(ctx, chaosOptions{conversations: n, refuse: *refuse, dir: *chaosDir, jsonOut: *jsonOut,
			quiet: *quiet, seed: *seed, flows: *flowsDir, locales: *localesDir})
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errSilent
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	modes := 0
	for _, on := range []bool{*rate > 0 && *rounds == 0, *idle > 0, *backlog > 0, *rounds > 0} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		return errors.New("loadtest: --rate, --idle, --backlog and --rounds are separate modes: pick one (or --rounds with --rate for open-loop rounds)")
	case *rate < 0 || *idle < 0 || *backlog < 0 || *rounds < 0 || *total < 0 || *conversations < 0 || *probe < 0:
		return errors.New("loadtest: counts and rates must not be negative")
	case set["probe"] && (*idle > 0 || *backlog > 0 || *rounds > 0):
		return errors.New("loadtest: --probe goes with the closed or open loop (--rounds reports the steal of each round)")
	case *probe > time.Minute:
		return errors.New("loadtest: --probe is at most 1m")
	case *bare && (*idle > 0 || *backlog > 0):
		return errors.New("loadtest: --bare goes with the closed or open loop, or --rounds")
	case *url != "" && *bare && *rounds == 0:
		return errors.New("loadtest: --bare serves its own loop: drop --url (or add --rounds K to compare the two)")
	case (set["in-process"] || set["server-bin"] || set["redis-conf"]) && (*url != "" || (*rounds == 0 && *idle == 0)):
		return errors.New("loadtest: --in-process, --server-bin and --redis-conf go with --rounds or --idle, without --url")
	case *url == "" && set["token-secret"]:
		return errors.New("loadtest: --token-secret goes with --url (the in-process server runs in dev mode)")
	case *url == "":
		*tokenSecret = "" // CLAIMBOT_BANNER_SECRET is for --url; the in-process server runs in dev mode
	}

	cmdline := loadtestCommandLine(args)
	nofile, nofileErr := loadtest.RaiseNoFile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var prog *loadtest.Progress
	if !*quiet {
		prog = loadtest.NewProgress(os.Stderr)
	}
	opts := loadtest.Options{Conversations: *conversations, Duration: *duration, Total: *total, Rate: *rate,
		StillFileNo: *stillFileNo, Seed: *seed, Progress: prog, RedisURL: *redisURL, Probe: *probe}

	stopProfiles, err := prof.start()
	defer stopProfiles()
	if err != nil {
		return err
	}
	var rep *loadtest.Report
	if *backlog > 0 {
		rep, err = loadtest.RunBacklog(ctx, *redisURL, *backlog, *duration, prog)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		return loadtestFinish(rep, cmdline, *jsonOut)
	}

	var bareT, realT loadtest.Target
	var stack *loadtest.Stack
	// --rounds and --idle run the server (and the bare loop) in processes
	// of their own unless told otherwise: the production shape, and a
	// fresh server for --idle.
	spawn := *url == "" && !*inProcess && *clusterURL == "" && (*rounds > 0 || *idle > 0)
	if spawn || (*url != "" && *rounds > 0) {
		stack, err = loadtest.StartStack(ctx, loadtest.StackOptions{Binary: *serverBin, RedisURL: *redisURL, RedisConf: *redisConf,
			Flows: *flowsDir, Locales: *localesDir, Server: spawn, Bare: *rounds > 0})
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		defer stack.Close()
		if spawn || *redisURL != "" {
			// Not the Redis the bare loop got for itself when the server at
			// --url runs on another: its time would be the bare loop's alone.
			opts.RedisURL = stack.RedisURL
		}
		if *rounds > 0 {
			bareT = stack.BareTarget()
		}
		if spawn {
			realT = stack.ServerTarget()
		}
	}
	if bareT.URL == "" && (*bare || *rounds > 0) {
		b, err := loadtest.StartBare(*redisURL)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		defer b.Close()
		bareT = b.Target()
	}
	if realT.URL == "" && (!*bare || *rounds > 0) {
		if *url != "" {
			u, err := loadtest.ParseURL(*url, *allowRemote)
			if err != nil {
				return fmt.Errorf("loadtest: %w", err)
			}
			realT = loadtest.Target{URL: u.String(), MetricsURL: loadtest.MetricsURLOf(u), TokenSecret: *tokenSecret}
		} else {
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			// Not stopped by Ctrl-C before the report has read its counters.
			r, err := loadtest.StartDev(context.WithoutCancel(ctx), loadtest.DevOptions{RedisURL: *redisURL, ClusterURL: *clusterURL, FiledReplicas: *filedReplicas, Flows: *flowsDir, Locales: *localesDir, Logger: log})
			if err != nil {
				return fmt.Errorf("loadtest: in-process server: %w", err)
			}
			defer r.Stop()
			realT = loadtest.DevTarget(r)
			where := "embedded Redis"
			if *redisURL != "" {
				where = "redis " + loadtestRedact(*redisURL)
			}
			realT.Name = fmt.Sprintf("%s (in-process server, dev mode, %s; it shares the machine and the process with the load)", realT.URL, where)
		}
	}
	for _, t := range []loadtest.Target{bareT, realT} {
		if t.URL == "" {
			continue
		}
		if err := t.Preflight(ctx); err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
	}

	switch {
	case *rounds > 0:
		rep, err = loadtest.RunRounds(ctx, realT, bareT, *rounds, opts)
	case *idle > 0:
		rep, err = loadtest.RunIdle(ctx, realT, *idle, *hold, prog)
		switch {
		case err != nil:
		case spawn:
			rep.Notes = append(rep.Notes, fmt.Sprintf("a server started fresh for this run (pid %d, Redis flushed first): the memory per connection of a fresh server, the only one that means anything", realT.PID))
		case *url == "":
			rep.Notes = append(rep.Notes, "in-process server: the memory per connection includes the load tester's own end of each connection")
		default:
			rep.Notes = append(rep.Notes, "the server at --url may have grown its heap in earlier runs, and then shows less memory per connection than it takes: only a fresh server's figure means anything (drop --url and the load tool starts one)")
		}
	case *bare:
		rep, err = loadtest.Run(ctx, bareT, opts)
	default:
		rep, err = loadtest.Run(ctx, realT, opts)
	}
	if err == nil && stack != nil {
		if f := stack.Flushed(); f != "" {
			rep.Notes = append(rep.Notes, "redis "+loadtestRedact(stack.RedisURL)+": "+f+" before the run")
		}
		if stack.Receiver != nil {
			distinct, repeated := stack.Receiver.Claims()
			rep.Notes = append(rep.Notes, fmt.Sprintf("receiver in the load tool's process: %d deliveries accepted (%d distinct claims, %d repeated), %d with a bad signature",
				stack.Receiver.Accepted(), distinct, repeated, stack.Receiver.Bad()))
		}
	}
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	if nofileErr != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("could not raise RLIMIT_NOFILE (now %d): %v", nofile, nofileErr))
	}
	if err := loadtestFinish(rep, cmdline, *jsonOut); err != nil {
		return err
	}
	if rep.Load != nil && rep.Load.Conversations.Completed == 0 {
		fmt.Fprintln(os.Stderr, "claimbot loadtest: no conversation completed")
		return errSilent
	}
	return nil
}

func loadtestFinish(rep *loadtest.Report, cmdline, jsonOut string) error {
	rep.Command = cmdline
	rep.WriteText(os.Stdout)
	if jsonOut != "" {
		if err := rep.WriteJSON(jsonOut); err != nil {
			return fmt.Errorf("loadtest: --json: %w", err)
		}
	}
	return nil
}

// loadtestCommandLine is the command as typed, quoted where needed, with the
// token secret and Redis passwords hidden.
func loadtestCommandLine(args []string) string {
	parts := []string{"claimbot", "loadtest"}
	hideNext := false
	for _, a := range args {
		switch {
		case hideNext:
			a, hideNext = "…", false
		case a == "--token-secret" || a == "-token-secret":
			hideNext = true
		case strings.HasPrefix(a, "--token-secret=") || strings.HasPrefix(a, "-token-secret="):
			a = a[:strings.IndexByte(a, '=')+1] + "…"
		case strings.Contains(a, "redis://") || strings.Contains(a, "rediss://"):
			a = loadtestRedact(a)
		}
		if a == "" || strings.ContainsAny(a, " \t\"'$\\*?") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// loadtestRedact hides the password of a Redis URL inside s.
func loadtestRedact(s string) string {
	i := strings.Index(s, "redis")
	if i < 0 {
		return s
	}
	opt, err := redis.ParseURL(s[i:])
	if err != nil || opt.Password == "" {
		return s
	}
	return strings.Replace(s, opt.Password, "…", 1)
}
