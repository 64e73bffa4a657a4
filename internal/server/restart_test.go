package server_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
)

// Redis down at submit: the user gets "unavailable" and nothing is filed;
// Redis back on its AOF: the answers are there and submitting files one claim.
func TestRedisKilledBeforeSubmit(t *testing.T) {
	e := startEnv(t)
	if !e.redis.Real {
		redistest.StartReal(t) // skips (or fails in CI): this test needs a real redis-server
	}
	c := e.dial("user-kill-before")
	c.toSummary("결제 오류")
	time.Sleep(1100 * time.Millisecond) // appendfsync everysec: let the AOF catch up (a process kill loses nothing anyway)
	e.redis.Kill()
	start := time.Now()
	r := c.choose("submit")
	if r.Type != "error" || r.Code != "unavailable" || r.Text == "" {
		t.Fatalf("submit with Redis down: %+v", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("unavailable came after %v; the contract says within 2 s", d)
	}
	e.redis.Restart()
	c2 := e.dial("user-kill-before")
	if c2.last.State != "summary" || !contains(c2.last.Messages, "결제 오류") {
		t.Fatalf("after restart: %+v", c2.last)
	}
	r = c2.choose("submit")
	if !r.Done || r.ClaimID == "" {
		t.Fatalf("submit after restart: %+v", r)
	}
	e.recv.WaitAccepted(t, 1, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	if ids := e.recv.AcceptedIDs(); len(ids) != 1 {
		t.Errorf("accepted %v, want exactly one claim", ids)
	}
}

// Redis killed right after the user saw the receipt, restarted on its AOF:
// the claim is delivered.
func TestRedisKilledAfterReceipt(t *testing.T) {
	e := startEnv(t)
	if !e.redis.Real {
		redistest.StartReal(t)
	}
	e.recv.Down() // the backend is down: the claim stays in the outbox
	c := e.dial("user-kill-after")
	c.toSummary("택시 호출 실패")
	r := c.choose("submit")
	if !r.Done || r.ClaimID == "" {
		t.Fatalf("submit: %+v", r)
	}
	e.redis.Kill()
	e.redis.Restart()
	e.recv.Up()
	// Usually within a second. If Redis died between taking a retry's
	// lease and answering, the retry waits for the lease (60 s) to run out.
	defer dumpLogsOnFailure(t)
	e.recv.WaitAccepted(t, 1, 90*time.Second)
	if n := e.recv.AcceptedIDs()["msg_"+r.ClaimID]; n < 1 {
		t.Errorf("claim %s not delivered: %v", r.ClaimID, e.recv.AcceptedIDs())
	}
}

// The server process killed with SIGKILL and started again: the
// conversation resumes at the same question with every answer kept.
func TestResumeAfterServerKill9(t *testing.T) {
	rs := redistest.StartReal(t)
	e := &env{t: t, redis: rs}
	bin := filepath.Join(t.TempDir(), "claimbot")
	if out, err := exec.Command("go", "build", "-o", bin, "../../bot").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	secret := "whsec_" + strings.Repeat("QUJD", 8)
	addr := "127.0.0.1:" + freePort(t)
	uploads := t.TempDir()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CLAIMBOT_ADDR="+addr, "REDIS_URL="+rs.URL, "CLAIMBOT_BANNER_SECRET="+bannerSecret,
			"CLAIMBOT_WEBHOOK_URL=http://127.0.0.1:9/", "CLAIMBOT_WEBHOOK_SECRET="+secret, "CLAIMBOT_LOG_LEVEL=error",
			"CLAIMBOT_UPLOADS="+uploads, "CLAIMBOT_PUBLIC_URL=http://"+addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("server not ready: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cmd := start()
	url := "ws://" + addr + "/ws?t=" + e.token("user-kill9")
	c := dialURL(t, url, nil)
	c.choose("yes")
	c.choose("small_business")
	c.text("선물하기")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	start()
	c2 := dialURL(t, url, nil)
	if c2.last.Field != "damage_type" {
		t.Fatalf("resumed at %+v, want damage_type", c2.last)
	}
	r := c2.sendFrame(map[string]any{"type": "command", "name": "back"})
	if r.Field != "service" || !contains(r.Messages, "선물하기") {
		t.Errorf("earlier answer lost: %+v", r)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), "127.0.0.1:")
	return port
}

// Flows reload under a running server: the change goes live, a
// conversation in progress finishes, and a broken edit leaves the server
// answering with the flows it had.
func TestFlowReload(t *testing.T) {
	dir, path, src := copyFlow(t)
	e := startEnv(t, withFlows(dir))

	inProgress := e.dial("user-reload-a")
	inProgress.choose("yes")
	if !contains(inProgress.last.Messages, "어떤 분으로 접수하시나요?") {
		t.Fatalf("before the edit: %+v", inProgress.last)
	}
	edited := strings.Replace(string(src), "어떤 분으로 접수하시나요?", "접수하시는 분은 누구신가요?", 1)
	os.WriteFile(path, []byte(edited), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; ; n++ {
		c := e.dial("user-reload-new-" + string(rune('a'+n%26)) + time.Now().Format("150405.000"))
		r := c.choose("yes")
		c.ws.Close()
		if contains(r.Messages, "접수하시는 분은 누구신가요?") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edit did not go live within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The conversation in progress finishes on the version it started on.
	for _, v := range []string{"general", "pay", "paid"} {
		if r := inProgress.choose(v); r.Invalid || r.Type != "reply" {
			t.Fatalf("in progress after the edit: %+v", r)
		}
	}
	for _, s := range []string{"me@example.com", "01012345678", "제목", "내용"} {
		inProgress.text(s)
	}
	if r := inProgress.choose("submit"); !r.Done || r.ClaimID == "" {
		t.Fatalf("in-progress conversation did not finish: %+v", r)
	}
	// A broken edit is refused: the server keeps answering with the last good flow.
	os.WriteFile(path, []byte(strings.Replace(edited, "    next: phone\n", "    next: phnoe\n", 1)), 0o644)
	time.Sleep(1500 * time.Millisecond)
	c := e.dial("user-reload-b")
	if r := c.choose("yes"); !contains(r.Messages, "접수하시는 분은 누구신가요?") {
		t.Fatalf("after a broken edit: %+v", r)
	}
	for _, v := range []string{"general", "pay", "paid"} {
		c.choose(v)
	}
	if r := c.text("me@example.com"); r.Field != "phone" {
		t.Fatalf("the broken flow went live: %+v", r)
	}
}

// copyFlow copies the default flow into a folder of the test's own, for a
// server whose flows the test edits: the folder, the file and its source.
func copyFlow(t *testing.T) (dir, path string, src []byte) {
	t.Helper()
	src, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, "damage-1015.yaml")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path, src
}

// dumpLogsOnFailure shows what the servers logged when a test failed.
func dumpLogsOnFailure(t *testing.T) {
	if !t.Failed() {
		return
	}
	logSink.Lock()
	defer logSink.Unlock()
	t.Logf("server logs:\n%s", logSink.String())
}

// A flow edited while Redis is down goes live at once; its source, which
// other instances need for the conversations that start on it, reaches
// Redis once Redis is back.
func TestFlowSourceSavedWhenRedisReturns(t *testing.T) {
	dir, path, src := copyFlow(t)
	e := startEnv(t, withFlows(dir))
	if !e.redis.Real {
		redistest.StartReal(t) // skips (or fails in CI): this test needs a real redis-server
	}
	edited := []byte(strings.Replace(string(src), "어떤 분으로 접수하시나요?", "접수하시는 분은 누구신가요?", 1))
	key := shard.FlowSource("damage-1015", flow.Version(edited))

	e.redis.Kill()
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.run.Server.Engine().Flow("damage-1015").Version != flow.Version(edited) {
		if time.Now().After(deadline) {
			t.Fatal("the edit did not go live with Redis down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // past the first save's own timeout
	e.redis.Restart()
	rdb := e.redis.Client(t)
	deadline = time.Now().Add(15 * time.Second)
	for rdb.Exists(t.Context(), key).Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the edited flow's source never reached Redis")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
