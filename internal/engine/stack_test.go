package engine_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/claimbot/claimbot/internal/engine"
)

// stackPadEnv, when set, makes TestStepStack the child that runs a whole
// conversation under that many bytes of frames, in a stack that may not
// grow past 8 KiB.
const stackPadEnv = "ENGINE_TEST_STACK_PAD"

// serverFrames is about how many bytes of frames the server has on a
// connection's goroutine above the function that calls Engine.Step
// (store.Conv.turn, whose frame is much like the test's own caller's):
// server.pumpers.loop, conn.pump, next, frame and turn, and store.Conv.Turn
// come to 2.7 KiB in issue 17's build.
const serverFrames = 2752

// TestStepStack checks that every step of a whole claim fits, under the
// server's frames, in a goroutine stack of 8 KiB: Go grows a stack by
// copying it to one twice the size, and shrinks an idle connection's, so a
// turn that needs more than 8 KiB pays for a copy after every shrink
// (issue 17: stack growth was a sixth of derive's time). It runs the
// conversation in a child process with the stack capped (debug.SetMaxStack:
// growing past it is fatal), under ever more frames, and logs the most it
// fits under: 1216 bytes before issue 17, 3328 after, with Go 1.26. The
// deepest calls are a computed answer's, on expr's VM (1.2 KiB of frame)
// under Step, apply and derive.
func TestStepStack(t *testing.T) {
	if pad := os.Getenv(stackPadEnv); pad != "" {
		n, err := strconv.Atoi(pad)
		if err != nil {
			t.Fatal(err)
		}
		stackChild(t, n)
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	if raceEnabled {
		t.Skip("measures the frames of the build without the race detector")
	}
	fits := func(pad int) bool {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStepStack$", "-test.count=1")
		// A goroutine starts with the smallest stack, not the average one
		// the runtime may have seen.
		cmd.Env = append(os.Environ(), stackPadEnv+"="+strconv.Itoa(pad), "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		if err != nil && !strings.Contains(string(out), "stack overflow") {
			t.Fatalf("child under %d bytes: %v\n%s", pad, err, out)
		}
		return err == nil
	}
	if !fits(0) {
		t.Fatal("a conversation's steps do not fit in 8 KiB even on their own")
	}
	// The most bytes of frames, in steps of 64, the steps fit under.
	lo, hi := 0, 8192
	for hi-lo > 64 {
		mid := (lo + hi) / 2 / 64 * 64
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	t.Logf("a whole claim's steps fit in 8 KiB under %d bytes of frames (the server has about %d)", lo, serverFrames)
	if lo < serverFrames {
		t.Errorf("the steps fit in 8 KiB under only %d bytes of frames, less than the server's %d: every turn grows the stack", lo, serverFrames)
	}
}

// stackChild files a whole claim, every step under pad bytes of frames in
// one goroutine whose stack may not grow past 8 KiB.
func stackChild(t *testing.T, pad int) {
	e := testEngine(t)
	answers := map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "owner@example.com", "phone": "010-5555-1234", "title": "주문 알림 누락", "content": "10월 15일 저녁 주문 알림이 오지 않았습니다.",
		"submit": "submit"}
	env := engine.Env{Now: duringIntake, ClaimID: func() string { return "T001-TEST" }}
	// The conversation's inputs, worked out first on this goroutine.
	s := engine.NewSession("u-1", "damage-1015", "ko")
	var inputs []engine.Input
	in := engine.Input{Kind: engine.Resume}
	for range 40 {
		res, err := e.Step(s, in, env)
		if err != nil {
			t.Fatal(err)
		}
		if res.Session != nil {
			s = res.Session
		}
		inputs = append(inputs, in)
		if res.Reply.Done {
			break
		}
		key := res.Reply.Field
		if res.Reply.State == "summary" {
			key = "submit"
		}
		v, ok := answers[key]
		if !ok {
			t.Fatalf("asked %q", key)
		}
		in = engine.Input{Kind: engine.Text, Text: v}
		switch res.Reply.Input {
		case "choice", "confirm", "summary":
			in.Kind = engine.Choose
		}
	}
	if s.ClaimID == "" {
		t.Fatal("no claim filed")
	}
	done := make(chan error)
	debug.SetMaxStack(8 << 10)
	go func() {
		var err error
		below(pad, func() {
			s := engine.NewSession("u-1", "damage-1015", "ko")
			for _, in := range inputs {
				res, e2 := e.Step(s, in, env)
				if e2 != nil {
					err = e2
					return
				}
				if res.Session != nil {
					s = res.Session
				}
			}
			if s.ClaimID == "" {
				err = fmt.Errorf("no claim filed")
			}
		})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// below calls f under pad bytes of frames of its own, give or take one.
func below(pad int, f func()) {
	var top byte
	belowFrom(&top, pad, f)
}

// belowFrom calls f once its frames reach pad bytes under top, a local of
// the first one: a pointer, which moves with the stack when it grows.
//
//go:noinline
func belowFrom(top *byte, pad int, f func()) byte {
	var b [48]byte
	if int(uintptr(unsafe.Pointer(top))-uintptr(unsafe.Pointer(&b[0]))) >= pad {
		f()
		return b[0]
	}
	b[pad%len(b)] = byte(pad)
	return b[pad%len(b)] + belowFrom(top, pad, f)
}
