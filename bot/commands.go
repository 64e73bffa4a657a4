package main

import (
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

// parse parses a command's flags; -h is not a failure.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		return errSilent
	}
	return nil
}

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
