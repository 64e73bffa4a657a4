package convo

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/claimbot/claimbot/internal/engine"
)

// typed is a small business filing a claim, one line per question:
// numbers press buttons, the rest is typed.
var typed = []string{
	"1",            // 동의합니다
	"소상공인이에요",      // typed, matched to a button
	"1",            // 메신저
	"/back",        // back to the reporter type
	"2",            // 소상공인
	"1",            // 메신저
	"2",            // 무료 서비스 금전 피해
	"행복분식",         //
	"220-81-62518", // refused: check digit
	"220-81-62517", //
	"25만원",         //
	"owner@example.com",
	"010-5555-1234",
	"채널 주문 누락",
	"10월 15일 저녁 주문 알림이 오지 않았습니다.",
	"1", // 접수하기
}

func TestChatSaves(t *testing.T) {
	p := newInProcess(t)
	save := filepath.Join(t.TempDir(), "recorded.convo.yaml")
	var out bytes.Buffer
	in := strings.NewReader(strings.Join(typed, "\n") + "\n")
	if err := Chat(context.Background(), p, in, &out, ChatOptions{Save: save}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1) 동의합니다   2) 동의하지 않아요", "bot!  사업자등록번호를 다시 확인해 주세요", "접수번호는", "saved " + save} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("chat output lacks %q:\n%s", want, out.String())
		}
	}
	checkSaved(t, p, save)
}

func TestChatEndsOnEOFAndQuit(t *testing.T) {
	p := newInProcess(t)
	for _, input := range []string{"1\n2", "1\n/quit\n1\n"} {
		save := filepath.Join(t.TempDir(), "partial.convo.yaml")
		var out bytes.Buffer
		if err := Chat(context.Background(), p, strings.NewReader(input), &out, ChatOptions{Save: save}); err != nil {
			t.Fatal(err)
		}
		s, err := Parse(save)
		if err != nil {
			t.Fatal(err)
		}
		if !s.NoClaim {
			t.Errorf("%q: a chat without a claim saved no claim: none", input)
		}
		if res := (&Runner{Backend: p}).One(context.Background(), s); !res.Passed() {
			t.Errorf("%q: the saved chat fails:\n%s", input, res.Failure.Detail())
		}
	}
}

func TestParseChatLine(t *testing.T) {
	choice := Reply{}
	choice.Input = "choice"
	choice.Choices = []engine.Choice{{Value: "a", Label: "A"}, {Value: "back", Label: "이전"}}
	amount := Reply{}
	amount.Input = "amount"
	amount.Choices = choice.Choices[1:]
	for _, tc := range []struct {
		line string
		last Reply
		want Frame
		ok   bool
	}{
		{"1", choice, Frame{Type: "choice", Value: "a"}, true},
		{"2", choice, Frame{Type: "choice", Value: "back"}, true},
		{"3", choice, Frame{Type: "text", Text: "3"}, true},
		{"1", amount, Frame{Type: "text", Text: "1"}, true},
		{"/back", amount, Frame{Type: "command", Name: "back"}, true},
		{"/restart", choice, Frame{Type: "command", Name: "restart"}, true},
		{"/handoff", amount, Frame{Type: "command", Name: "handoff"}, true},
		{"/help", choice, Frame{}, false},
		{"", choice, Frame{}, false},
		{"소상공인", choice, Frame{Type: "text", Text: "소상공인"}, true},
		{"/attach a.pdf", amount, Frame{Type: "file"}, true},
		{"/attach", amount, Frame{}, false},
		{"/attachment", amount, Frame{}, false},
	} {
		_, f, ok := parseChatLine(tc.line, tc.last)
		if ok != tc.ok || f != tc.want {
			t.Errorf("%q at %s: %+v %v, want %+v %v", tc.line, tc.last.Input, f, ok, tc.want, tc.ok)
		}
	}
}

func TestParseChatLineAttach(t *testing.T) {
	for line, want := range map[string]string{
		"/attach a.pdf":                  "a.pdf",
		"/attach   ~/My Documents/a.pdf": "~/My Documents/a.pdf",
		`/attach "my file.pdf"`:          "my file.pdf",
		`/attach 'my file.pdf'`:          "my file.pdf",
		`/attach my\ file.pdf`:           "my file.pdf",
	} {
		st, _, ok := parseChatLine(line, Reply{})
		if !ok || st.Kind != Attach || st.Path != want {
			t.Errorf("%q: %+v %v, want attach %q", line, st, ok, want)
		}
	}
}

// TestChatAttach: /attach uploads a file and attaches it to the files
// question; the files and limits show, numbers press done, a file that
// cannot be read is not sent, and the saved script names the file
// relative to itself and passes.
func TestChatAttach(t *testing.T) {
	p := newInProcess(t)
	pdf, err := filepath.Abs(fixturePDF)
	if err != nil {
		t.Fatal(err)
	}
	save := filepath.Join(t.TempDir(), "attached.convo.yaml")
	lines := []string{"1", "2", "메일", "2", "동네책방", "617-81-02431", "80만원",
		"/attach /no/such/file.pdf", "/attach " + pdf, "1", // 다 보냈어요
		"books@example.com", "010-4444-5555", "메일 주문 누락", "주문서가 도착하지 않았습니다.", "1"}
	var out bytes.Buffer
	if err := Chat(context.Background(), p, strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, ChatOptions{Save: save}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"(/attach FILE sends a file: application/pdf, image/jpeg, image/png, image/heic, up to 20 MB each, 10 files)",
		"(/no/such/file.pdf was not sent: attach: open /no/such/file.pdf: no such file or directory)",
		"'small-business-certificate.pdf' 파일을 첨부했어요 (1/10)",
		"📎 small-business-certificate.pdf (",
		"1) 다 보냈어요   2) 나중에 낼게요",
		"접수번호는",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("chat output lacks %q:\n%s", want, out.String())
		}
	}
	s, err := Parse(save)
	if err != nil {
		t.Fatal(err)
	}
	var attach *Step
	for i := range s.Steps {
		if s.Steps[i].Kind == Attach {
			attach = &s.Steps[i]
		}
	}
	if attach == nil || filepath.IsAbs(attach.Text) || !strings.HasSuffix(attach.Text, "flows/files/small-business-certificate.pdf") {
		t.Fatalf("saved attach step %+v, want the fixture relative to the script", attach)
	}
	if s.Claim["evidence"] != "attached" {
		t.Errorf("saved claim evidence = %#v, want attached", s.Claim["evidence"])
	}
	if res := (&Runner{Backend: p}).One(context.Background(), s); !res.Passed() {
		src, _ := os.ReadFile(save)
		t.Errorf("the saved chat fails:\n%s\n%s", res.Failure.Detail(), src)
	}
}

// checkSaved requires a saved chat to hold the claim and to pass.
func checkSaved(t *testing.T, b Backend, path string) {
	t.Helper()
	s, err := Parse(path)
	if err != nil {
		src, _ := os.ReadFile(path)
		t.Fatalf("%v\n%s", err, src)
	}
	for k, v := range map[string]any{"reporter_type": "small_business", "loss_amount": int64(250000), "support_tier": "tier_30k", "business_number": "220-81-62517"} {
		if s.Claim[k] != v {
			t.Errorf("saved claim %s = %#v, want %#v", k, s.Claim[k], v)
		}
	}
	if res := (&Runner{Backend: b}).One(context.Background(), s); !res.Passed() {
		src, _ := os.ReadFile(path)
		t.Errorf("the saved chat fails:\n%s\n%s", res.Failure.Detail(), src)
	}
}

// TestChatTerminal builds claimbot and files a claim by typing into
// `claimbot chat` on a pseudo-terminal, from the repository's top.
func TestChatTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "claimbot")
	build := exec.Command(goBin, "build", "-o", bin, "../../bot")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	save := filepath.Join(dir, "typed.convo.yaml")
	cmd := exec.Command(bin, "chat", "--save", save)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "REDIS_URL=")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	term := &screen{}
	go io.Copy(term, tty)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})

	term.expect(t, 0, true, "동의하시나요?", "> ")
	for _, line := range typed {
		mark := term.mark()
		if _, err := io.WriteString(tty, line+"\r"); err != nil {
			t.Fatal(err)
		}
		term.expect(t, mark, false, "\n> ", "saved ") // the next prompt, or the end
	}
	term.expect(t, 0, true, "접수번호는", "saved "+save)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("claimbot chat: %v\n%s", err, term.text())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("claimbot chat did not end after the claim:\n%s", term.text())
	}
	checkSaved(t, newInProcess(t), save)
}

// screen collects what a terminal shows.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) mark() int { return len(s.text()) }

// expect waits until the screen shows, after mark, all of want (or, when
// all is false, any of them).
func (s *screen) expect(t *testing.T, mark int, all bool, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		txt := s.text()[mark:]
		n := 0
		for _, w := range want {
			if strings.Contains(txt, w) {
				n++
			}
		}
		if n == len(want) || (!all && n > 0) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the terminal does not show %q:\n%s", want, s.text())
}
