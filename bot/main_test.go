package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/token"
)

// bin is the claimbot binary built once for the command tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "claimbot-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "claimbot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// claimbot runs the binary from the repository's top.
func claimbot(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestLintShippedFlows(t *testing.T) {
	out, errOut, code := claimbot(t, nil, "lint", "--strict", "flows/")
	if code != 0 {
		t.Fatalf("lint --strict flows/ exited %d:\n%s%s", code, out, errOut)
	}
}

func TestLintNamesEveryProblem(t *testing.T) {
	src, err := os.ReadFile("../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), "    next: phone\n", "    next: phnoe\n", 1)
	s = strings.Replace(s, "    label: 제목\n", "    lable: 제목\n", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "damage-1015.yaml")
	os.WriteFile(path, []byte(s), 0o644)
	out, _, code := claimbot(t, nil, "lint", dir)
	if code == 0 {
		t.Fatal("lint exited 0 on a broken flow")
	}
	for _, want := range []string{path + `:`, `state "email": next "phnoe": no such state`, `state "title": state: unknown key "lable"`} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
	// Each problem carries file:line:col.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, path+":") || strings.Count(line, ":") < 4 {
			t.Errorf("not file:line:col: %q", line)
		}
	}
}

func TestGraphMatchesGolden(t *testing.T) {
	out, errOut, code := claimbot(t, nil, "graph", "damage-1015")
	if code != 0 {
		t.Fatalf("graph exited %d: %s", code, errOut)
	}
	want, _ := os.ReadFile("../internal/flow/testdata/damage-1015.mermaid.golden")
	if out != string(want) {
		t.Errorf("graph output differs from the golden file")
	}
}

func TestTokenCommand(t *testing.T) {
	out, _, code := claimbot(t, nil, "token", "--user", "u-1", "--lang", "en", "--token-secret", "s3cret")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %d %q", code, out)
	}
	_, errOut, code := claimbot(t, []string{"CLAIMBOT_BANNER_SECRET="}, "token", "--user", "u-1")
	if code == 0 || !strings.Contains(errOut, "secret") {
		t.Errorf("token without a secret: %d %q", code, errOut)
	}
}

// productionSecret is a banner secret long enough for production (32 bytes
// and more), so the refusals below are about the settings they leave out.
const productionSecret = "production-banner-secret-0123456789"

func TestProductionRefusesWithoutSettings(t *testing.T) {
	_, errOut, code := claimbot(t, []string{"CLAIMBOT_BANNER_SECRET=" + productionSecret, "REDIS_URL=", "CLAIMBOT_WEBHOOK_URL=", "CLAIMBOT_WEBHOOK_SECRET="}, "serve")
	if code == 0 {
		t.Errorf("production without settings: exit 0")
	}
	for _, v := range []string{"REDIS_URL", "CLAIMBOT_WEBHOOK_URL", "CLAIMBOT_WEBHOOK_SECRET"} {
		if !strings.Contains(errOut, v) {
			t.Errorf("production without settings: the error does not name %s: %q", v, errOut)
		}
	}
	// Each missing one is named, and only those.
	for _, tc := range []struct{ set, missing, present string }{
		{"REDIS_URL=redis://127.0.0.1:1/0", "CLAIMBOT_WEBHOOK_URL", "REDIS_URL"},
		{"CLAIMBOT_WEBHOOK_URL=http://127.0.0.1:1/", "REDIS_URL", "CLAIMBOT_WEBHOOK_URL"},
	} {
		_, errOut, code = claimbot(t, []string{"CLAIMBOT_BANNER_SECRET=" + productionSecret, "REDIS_URL=", "CLAIMBOT_WEBHOOK_URL=", "CLAIMBOT_WEBHOOK_SECRET=", tc.set}, "serve")
		if code == 0 || !strings.Contains(errOut, tc.missing) || !strings.Contains(errOut, "CLAIMBOT_WEBHOOK_SECRET") || strings.Contains(errOut, tc.present) {
			t.Errorf("production with only %s: exit %d, want %s and CLAIMBOT_WEBHOOK_SECRET named, not %s: %q", tc.set, code, tc.missing, tc.present, errOut)
		}
	}
	_, errOut, code = claimbot(t, []string{"CLAIMBOT_BANNER_SECRET=", "CLAIMBOT_ADDR=0.0.0.0:8080"}, "serve")
	if code == 0 || !strings.Contains(errOut, "loopback") {
		t.Errorf("dev mode on a public address: %d %q", code, errOut)
	}
}

// claimbot test runs the shipped suite and shows full state coverage.
func TestTestCommandCoverage(t *testing.T) {
	out, errOut, code := claimbot(t, nil, "test", "--coverage")
	if code != 0 {
		t.Fatalf("claimbot test --coverage exited %d:\n%s%s", code, out, errOut)
	}
	full := regexp.MustCompile(`coverage damage-1015: states (\d+)/(\d+) \(100\.0%\), transitions (\d+)/(\d+) \(100\.0%\)`)
	if !full.MatchString(out) || !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("no full coverage line:\n%s", out)
	}
}

// TestLoadtestProfiles runs the in-process load test with every profiling
// flag: the report comes out and each file is written.
func TestLoadtestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, heap, tr := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "heap.prof"), filepath.Join(dir, "trace.out")
	out, errOut, code := claimbot(t, []string{"REDIS_URL="}, "loadtest", "--total", "3", "--conversations", "3", "--quiet",
		"--cpuprofile", cpu, "--memprofile", heap, "--trace", tr)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "conversations") {
		t.Errorf("no report:\n%s", out)
	}
	for _, f := range []string{cpu, heap, tr} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: not written (%v)", filepath.Base(f), err)
		}
	}
}

// Flags that do not go together are refused at once, with the reason.
func TestLoadtestRefusesMismatchedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "10", "--idle", "5"}, "separate modes"},
		{[]string{"--rounds", "1", "--probe", "1s"}, "--probe goes with the closed or open loop"},
		{[]string{"--idle", "5", "--probe", "1s"}, "--probe goes with the closed or open loop"},
		{[]string{"--probe", "2m"}, "--probe is at most 1m"},
		{[]string{"--in-process"}, "go with --rounds or --idle, without --url"},
		{[]string{"--rounds", "1", "--url", "ws://127.0.0.1:1/ws", "--server-bin", "x"}, "go with --rounds or --idle, without --url"},
	} {
		_, errOut, code := claimbot(t, []string{"REDIS_URL="}, append([]string{"loadtest", "--quiet"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("loadtest %v: exit %d, stderr %q; want an error with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Secrets taken from the environment never show in a command's help or
// flag-error output; the help still names the variable.
func TestSecretsNotInHelp(t *testing.T) {
	const banner, whsec, redisPW = "supersecret123", "whsec_c2VjcmV0LXdlYmhvb2sta2V5LTMyLWJ5dGVzISE=", "redispw456"
	env := []string{"CLAIMBOT_BANNER_SECRET=" + banner, "CLAIMBOT_WEBHOOK_SECRET=" + whsec,
		"REDIS_URL=redis://:" + redisPW + "@127.0.0.1:1/0"}
	for _, tc := range []struct {
		cmd  string
		vars []string // named in -h
	}{
		{"token", []string{"CLAIMBOT_BANNER_SECRET"}},
		{"chat", []string{"CLAIMBOT_BANNER_SECRET"}},
		{"test", []string{"CLAIMBOT_BANNER_SECRET", "CLAIMBOT_WEBHOOK_SECRET"}},
		{"loadtest", []string{"CLAIMBOT_BANNER_SECRET", "REDIS_URL"}},
		{"outbox", []string{"REDIS_URL"}},
	} {
		for _, arg := range []string{"--bogus", "-h"} {
			t.Run(tc.cmd+" "+arg, func(t *testing.T) {
				out, errOut, code := claimbot(t, env, tc.cmd, arg)
				all := out + errOut
				if arg == "--bogus" && code == 0 {
					t.Errorf("exit 0 on a bad flag")
				}
				if !strings.Contains(all, "-h") && !strings.Contains(all, "usage:") {
					t.Fatalf("no usage printed:\n%s", all)
				}
				for _, s := range []string{banner, whsec, redisPW} {
					if strings.Contains(all, s) {
						t.Errorf("output shows the secret %q:\n%s", s, all)
					}
				}
				for _, v := range tc.vars {
					if !strings.Contains(all, v) {
						t.Errorf("help does not name %s:\n%s", v, all)
					}
				}
			})
		}
	}
}

// With the flag left out, the secret still comes from the environment.
func TestSecretFlagsFromEnv(t *testing.T) {
	const banner = "supersecret123"
	out, errOut, code := claimbot(t, []string{"CLAIMBOT_BANNER_SECRET=" + banner}, "token", "--user", "u-1")
	if code != 0 {
		t.Fatalf("token with CLAIMBOT_BANNER_SECRET: exit %d: %s", code, errOut)
	}
	if _, err := token.Verify([]byte(banner), strings.TrimSpace(out), time.Now()); err != nil {
		t.Errorf("token not signed with CLAIMBOT_BANNER_SECRET: %v", err)
	}
	// The flag wins over the environment.
	out, _, _ = claimbot(t, []string{"CLAIMBOT_BANNER_SECRET=" + banner}, "token", "--user", "u-1", "--token-secret", "other")
	if _, err := token.Verify([]byte("other"), strings.TrimSpace(out), time.Now()); err != nil {
		t.Errorf("--token-secret did not win over CLAIMBOT_BANNER_SECRET: %v", err)
	}
	// outbox reaches for REDIS_URL (nothing listens there) rather than
	// asking for one.
	_, errOut, code = claimbot(t, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, "outbox")
	if code == 0 || strings.Contains(errOut, "no Redis") {
		t.Errorf("outbox with REDIS_URL: exit %d: %s", code, errOut)
	}
}

// An explicit empty flag stays empty with its variable set (dev mode, or
// "no secret"); only a flag left out takes the variable. With
// parseInterleaved, a flag given in any part counts as given.
func TestEnvFlagExplicitEmpty(t *testing.T) {
	t.Setenv("CLAIMBOT_TEST_SECRET", "from-env")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "from-env"},
		{[]string{"a", "b"}, "from-env"},
		{[]string{"--s="}, ""},
		{[]string{"--s", ""}, ""},
		{[]string{"--s=", "a", "b"}, ""},
		{[]string{"a", "--s=", "b"}, ""},
		{[]string{"a", "b", "--s="}, ""},
		{[]string{"a", "--s=x", "b"}, "x"},
	} {
		fs := newFlags("x", "")
		s := envFlag(fs, "s", "CLAIMBOT_TEST_SECRET", "")
		if _, err := parseInterleaved(fs, tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if *s != tc.want {
			t.Errorf("%q: flag %q, want %q", tc.args, *s, tc.want)
		}
	}
	// The command: --token-secret="" is no secret, not the environment's.
	_, errOut, code := claimbot(t, []string{"CLAIMBOT_BANNER_SECRET=supersecret123"}, "token", "--user", "u-1", "--token-secret=")
	if code == 0 || !strings.Contains(errOut, "no secret") {
		t.Errorf("token --token-secret= with CLAIMBOT_BANNER_SECRET: exit %d: %s", code, errOut)
	}
}

// A webhook secret in the environment without --webhook-listen is ignored:
// it does not stop claimbot test --url.
func TestTestURLIgnoresWebhookSecretFromEnv(t *testing.T) {
	out, errOut, code := claimbot(t, []string{"CLAIMBOT_WEBHOOK_SECRET=whsec_c2VjcmV0LXdlYmhvb2sta2V5LTMyLWJ5dGVzISE="},
		"test", "--url", "ws://127.0.0.1:1/ws", "flows/damage-1015.contract-example.convo.yaml")
	all := out + errOut
	if strings.Contains(all, "go together") || strings.Contains(all, "webhook") {
		t.Errorf("refused over the environment's webhook secret:\n%s", all)
	}
	// Nothing listens on port 1: the script ran and failed to connect.
	if code == 0 || !strings.Contains(all, "connect") {
		t.Errorf("exit %d, want a connection failure:\n%s", code, all)
	}
	_, errOut, code = claimbot(t, []string{"CLAIMBOT_WEBHOOK_SECRET="}, "test", "--url", "ws://127.0.0.1:1/ws", "--webhook-listen", "127.0.0.1:0",
		"flows/damage-1015.contract-example.convo.yaml")
	if code == 0 || !strings.Contains(errOut, "--webhook-secret") {
		t.Errorf("--webhook-listen without a secret: exit %d: %s", code, errOut)
	}
}
