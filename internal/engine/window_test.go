package engine_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

// The window of testdata/flows/window.yaml, and times around it.
var (
	beforeOpening = time.Date(2022, 10, 18, 12, 0, 0, 0, time.UTC)
	inWindow      = time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC)
	afterClosing  = time.Date(2022, 11, 6, 9, 0, 0, 0, time.UTC) // 18:00 KST
)

// windowEngine loads testdata/flows/window.yaml, its source changed by
// edit (old, new pairs), as a server would after staff edited it.
func windowEngine(t testing.TB, edit ...string) *engine.Engine {
	t.Helper()
	const path = "testdata/flows/window.yaml"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edit); i += 2 {
		if !bytes.Contains(src, []byte(edit[i])) {
			t.Fatalf("%s has no %q", path, edit[i])
		}
		src = bytes.Replace(src, []byte(edit[i]), []byte(edit[i+1]), 1)
	}
	return engineOf(t, path, src)
}

// engineOf builds an engine over one flow source, with the shipped locales.
func engineOf(t testing.TB, path string, src []byte) *engine.Engine {
	t.Helper()
	f, ps := flow.Parse(path, src)
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	flows := map[string]*flow.Flow{f.ID: f}
	cat, ps := locale.Load("../../locales", flows)
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors().Error())
	}
	return engine.New(flows, cat, nil)
}

func windowChat(t testing.TB, e *engine.Engine, now time.Time) *chat {
	t.Helper()
	c := &chat{t: t, e: e, s: engine.NewSession("u-1", "window", "ko"), now: now}
	c.step(engine.Input{Kind: engine.Resume})
	return c
}

// wantClosed checks the reply is the closed message of a conversation over
// (contract §2: done, input none, only restart offered), and that no claim
// was filed.
func (c *chat) wantClosed(state string) *chat {
	c.t.Helper()
	r := c.r
	if !r.Done || r.Input != "none" || r.State != state || r.ClaimID != "" || len(r.Choices) != 1 || r.Choices[0].Value != "restart" {
		c.t.Fatalf("want the closed message at %s, got %+v", state, r)
	}
	if len(c.claims) != 0 {
		c.t.Fatalf("claim filed outside the window: %+v", c.claims[0])
	}
	return c.says("접수 기간이 아니에요")
}

// TestWindowClosesMidConversation: once the window has closed, every turn
// of an unfinished conversation, a resume and a restart included, gets the
// closed message as a finished conversation; nothing is applied or filed,
// and the answers stay for when the window is extended.
func TestWindowClosesMidConversation(t *testing.T) {
	c := windowChat(t, windowEngine(t), inWindow)
	c.want("consent").choose("yes").want("email").text("me@example.com").want("summary")
	answers := c.s.Clone().Answers

	c.now = afterClosing
	for _, in := range []engine.Input{
		{Kind: engine.Choose, Text: "submit"},
		{Kind: engine.Resume},
		{Kind: engine.Text, Text: "아무 말"},
		{Kind: engine.Command, Text: "back"},
		{Kind: engine.Choose, Text: "edit_email"},
		{Kind: engine.Command, Text: "restart"},
		{Kind: engine.Choose, Text: "restart"},
		{Kind: engine.Text, Text: "처음으로"},
	} {
		c.step(in).wantClosed("summary").says("2022년 10월 19일 09:00").says("2022년 11월 6일 18:00")
		// A choice the closed conversation does not offer is refused.
		if offered := in.Kind != engine.Choose || in.Text == "restart" || in.Text == "back"; c.r.Invalid == offered {
			t.Errorf("%+v: invalid %v", in, c.r.Invalid)
		}
	}
	if c.s.State != "summary" || c.s.Done || len(c.s.Answers) != len(answers) || c.s.Answers["email"] != "me@example.com" {
		t.Fatalf("session changed outside the window: %+v", c.s)
	}

	// A question asked before the close is not answered after it.
	c = windowChat(t, windowEngine(t), inWindow)
	c.choose("yes").want("email")
	c.now = afterClosing
	c.step(engine.Input{Kind: engine.Resume}).wantClosed("email")
	c.text("me@example.com").wantClosed("email")
	if _, ok := c.s.Answers["email"]; ok || c.s.State != "email" {
		t.Fatalf("answer applied after the close: %+v", c.s)
	}
}

// TestWindowExtended: the answers kept at the close carry on when staff
// extend the window (a new flow version).
func TestWindowExtended(t *testing.T) {
	c := windowChat(t, windowEngine(t), inWindow)
	c.choose("yes").text("me@example.com").want("summary")
	c.now = afterClosing
	c.choose("submit").wantClosed("summary")

	c.e = windowEngine(t, "closes: 2022-11-06T18:00", "closes: 2022-11-13T18:00")
	c.step(engine.Input{Kind: engine.Resume}).want("summary").says("me@example.com")
	c.choose("submit")
	if !c.r.Done || c.r.ClaimID == "" || len(c.claims) != 1 || c.claims[0].Answers["email"] != "me@example.com" {
		t.Fatalf("submit after the extension: %+v, claims %v", c.r, c.claims)
	}
}

// TestWindowNotOpenYet: before the window opens nothing starts, so a
// person who came early is asked the first question once it opens.
func TestWindowNotOpenYet(t *testing.T) {
	c := windowChat(t, windowEngine(t), beforeOpening)
	c.wantClosed("consent").says("2022년 10월 19일 09:00")
	c.choose("yes").wantClosed("consent")
	c.text("처음으로").wantClosed("consent")
	c.now = inWindow
	c.step(engine.Input{Kind: engine.Resume}).want("consent")
	if c.r.Done || c.r.Input != "confirm" {
		t.Fatalf("first question once open: %+v", c.r)
	}
	c.choose("yes").want("email")
}

// TestWindowClosedAfterFiling: a person who filed and comes back after the
// close sees their receipt; restart gets the closed message, and the
// receipt stays.
func TestWindowClosedAfterFiling(t *testing.T) {
	c := windowChat(t, windowEngine(t), inWindow)
	c.choose("yes").text("me@example.com").choose("submit")
	id := c.r.ClaimID
	if !c.r.Done || id == "" {
		t.Fatalf("submit: %+v", c.r)
	}
	filed := c.claims
	c.claims, c.now = nil, afterClosing
	c.step(engine.Input{Kind: engine.Resume})
	if !c.r.Done || c.r.ClaimID != id {
		t.Fatalf("come back after the close: %+v", c.r)
	}
	c.choose("restart").wantClosed("submit")
	c.step(engine.Input{Kind: engine.Resume})
	if c.r.ClaimID != id || len(filed) != 1 {
		t.Fatalf("receipt after a restart outside the window: %+v", c.r)
	}
}

// TestWindowClosedFinishedWritesNothing: outside the window every input to
// a finished conversation, filed or refused, gets the current reply (its
// receipt, or the closed message) and is not applied: no session to store,
// so its expiry, remembered ids and last update stay. A choice frame it does
// not offer is still refused; restart, which the closed reply offers, gets
// the closed message again. The same on a new version of the flow (staff
// edited it after the close) that has the conversation's state.
func TestWindowClosedFinishedWritesNothing(t *testing.T) {
	filed := windowChat(t, windowEngine(t), inWindow)
	filed.choose("yes").text("me@example.com").choose("submit")
	refused := windowChat(t, windowEngine(t), inWindow)
	refused.choose("no")
	edited := windowEngine(t, "title: 기간이 있는 접수", "title: 기간이 지난 접수")
	for _, c := range []*chat{filed, refused, {t: t, e: edited, s: filed.s}, {t: t, e: edited, s: refused.s}} {
		if !c.s.Done {
			t.Fatalf("not finished: %+v", c.r)
		}
		before := c.s.Clone()
		for i, in := range []engine.Input{
			{Kind: engine.Resume},
			{Kind: engine.Text, Text: "아무 말"},
			{Kind: engine.Text, Text: "이전"},
			{Kind: engine.Text, Text: "처음으로"},
			{Kind: engine.Command, Text: "back"},
			{Kind: engine.Command, Text: "restart"},
			{Kind: engine.Choose, Text: "back"},
			{Kind: engine.Choose, Text: "restart"},
			{Kind: engine.Choose, Text: "submit"},
			{Kind: engine.Choose, Text: "edit_email"},
		} {
			in.ID = fmt.Sprintf("late-%d", i)
			res, err := c.e.Step(c.s, in, engine.Env{Now: afterClosing, ClaimID: func() string { return "NEW" }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Session != nil || res.Applied || res.Claim != nil || len(res.Moves) != 0 {
				t.Errorf("%s %+v: written or applied outside the window: session %+v, applied %v", c.s.State, in, res.Session, res.Applied)
			}
			r := res.Reply
			if !r.Done || r.Input != "none" || len(r.Choices) != 1 || r.Choices[0].Value != "restart" {
				t.Errorf("%s %+v: want a done reply offering restart, got %+v", c.s.State, in, r)
			}
			if want := in.Kind == engine.Choose && in.Text != "back" && in.Text != "restart"; r.Invalid != want {
				t.Errorf("%s %+v: invalid %v, want %v", c.s.State, in, r.Invalid, want)
			}
		}
		if c.s.State != before.State || !c.s.Updated.Equal(before.Updated) || c.s.Seen("late-0") {
			t.Fatalf("session changed: %+v", c.s)
		}
	}
}
