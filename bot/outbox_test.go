package main

import (
	"bufio"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// claimbot outbox works against the embedded default of `claimbot serve`:
// the server prints its embedded Redis's URL at start.
func TestOutboxAgainstEmbeddedDefault(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0") // a backend that refuses every claim
	deadURL := "http://" + dead.Addr().String() + "/"
	dead.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = ".."
	cmd.Env = append(cmd.Environ(), "CLAIMBOT_ADDR="+addr, "REDIS_URL=", "CLAIMBOT_BANNER_SECRET=",
		"CLAIMBOT_WEBHOOK_URL="+deadURL, "CLAIMBOT_RETRY_SCHEDULE=10ms,10ms")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlRE := regexp.MustCompile(`redis_url=(redis://[0-9.:]+)`)
	redisURL := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			redisURL = m[1]
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if redisURL == "" {
		t.Fatal("the server did not print its embedded Redis URL")
	}
	var ws *websocket.Conn
	var err error
	for i := 0; i < 100; i++ {
		ws, _, err = websocket.DefaultDialer.Dial("ws://"+addr+"/ws?user=u-outbox", nil)
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var r struct {
		State   string `json:"state"`
		ClaimID string `json:"claim_id"`
	}
	ws.ReadJSON(&r)
	for _, f := range []map[string]string{{"type": "choice", "value": "yes"}, {"type": "choice", "value": "general"},
		{"type": "choice", "value": "pay"}, {"type": "choice", "value": "paid"}, {"type": "text", "text": "me@example.com"},
		{"type": "text", "text": "01012345678"}, {"type": "text", "text": "제목"}, {"type": "text", "text": "내용"},
		{"type": "choice", "value": "submit"}} {
		ws.WriteJSON(f)
		ws.ReadJSON(&r)
	}
	if r.ClaimID == "" {
		t.Fatalf("no claim filed: %+v", r)
	}
	var out string
	for i := 0; i < 100; i++ {
		out, _, _ = claimbot(t, nil, "outbox", "--redis", redisURL)
		if strings.Contains(out, r.ClaimID) && strings.Contains(out, "dead") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, r.ClaimID) || !strings.Contains(out, "dead") {
		t.Fatalf("outbox list lacks the dead claim %s:\n%s", r.ClaimID, out)
	}
	// Each entry's file count is a column of its own; this claim has none.
	if !regexp.MustCompile(`(?m)^CLAIM +STATE +AGE +ATTEMPTS +FILES `).MatchString(out) ||
		!regexp.MustCompile(regexp.QuoteMeta(r.ClaimID)+` +dead +\S+ +\d+ +0 +dead`).MatchString(out) {
		t.Errorf("outbox list lacks the files column:\n%s", out)
	}
	if strings.Contains(out, "me@example.com") || strings.Contains(out, "010-1234-5678") {
		t.Errorf("outbox list shows personal data:\n%s", out)
	}
	if out, errOut, code := claimbot(t, nil, "outbox", "--redis", redisURL, "retry", "--all-dead"); code != 0 || !strings.Contains(out, "1 dead") {
		t.Fatalf("retry --all-dead: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := claimbot(t, nil, "outbox", "--redis", redisURL, "purge", r.ClaimID); code != 0 {
		t.Fatalf("purge: %d %s", code, errOut)
	}
	out, _, _ = claimbot(t, nil, "outbox", "--redis", redisURL)
	if strings.Contains(out, r.ClaimID) {
		t.Errorf("purged claim still listed:\n%s", out)
	}
}
