package main

import (
	"github.com/claimbot/claimbot/internal/redisconn"

	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// errSilent fails a command that already said why.
var errSilent = errors.New("failed")

type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func run(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commands["serve"].run(args)
	}
	if args[0] == "help" || args[0] == "--help" {
		usage(os.Stdout)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(os.Stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(args[1:])
}

// parse parses a command's flags; -h is not a failure. Flags defined with
// envFlag and not given then take their environment variable.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		return errSilent
	}
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := f.Value.(*envValue); ok && !v.set {
			v.s = os.Getenv(v.env)
		}
	})
	return nil
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, as parse does, and returns those arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// envFlag defines a string flag that falls back to the environment variable
// envVar when not given; given empty, it stays empty (--token-secret= is
// dev mode even with CLAIMBOT_BANNER_SECRET set). parse reads the variable
// after parsing instead of making it the flag's default, so help and flag
// errors never print its value: these are secrets, or URLs that may carry a
// password. The usage should name the variable.
func envFlag(fs *flag.FlagSet, name, envVar, usage string) *string {
	v := &envValue{env: envVar}
	fs.Var(v, name, usage)
	return &v.s
}

// envValue is the flag.Value of envFlag. set records that the flag was
// given, in any of parseInterleaved's parses.
type envValue struct {
	s, env string
	set    bool
}

func (v *envValue) String() string     { return v.s }
func (v *envValue) Set(s string) error { v.s, v.set = s, true; return nil }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: claimbot [command] [flags]   (no command: serve)")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun claimbot <command> -h for its flags.")
}

// newFlags is a flag set that prints its usage on -h and fails on errors.
func newFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("claimbot "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: claimbot %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// redisFlags defines --redis and --cluster, falling back to REDIS_URL and
// REDIS_CLUSTER_URL; what says what the Redis is for. The returned
// function gives the settings once the flags are parsed.
func redisFlags(fs *flag.FlagSet, what string) func() redisconn.Settings {
	url := envFlag(fs, "redis", "REDIS_URL", "one Redis server's `URL` "+what+" (REDIS_URL)")
	cluster := envFlag(fs, "cluster", "REDIS_CLUSTER_URL", "a Redis Cluster, redis://host:port?addr=host:port&… `URL` "+what+" (REDIS_CLUSTER_URL)")
	return func() redisconn.Settings { return redisconn.Settings{URL: *url, ClusterURL: *cluster} }
}
