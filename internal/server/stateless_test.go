package server_test

import (
	"testing"
)

// Two tabs of one user on one instance share the conversation, but a
// frame without state answers the question its own tab last showed
// (contract §2): tab B, still showing the title question after tab A
// answered it, types a title with no state, and it is not taken as the
// content; B is shown the content question instead.
func TestStatelessFrameOfASecondTab(t *testing.T) {
	e := startEnv(t)
	a := e.dial("user-stateless")
	for _, v := range []string{"yes", "general", "pay", "paid"} {
		a.choose(v)
	}
	a.text("me@example.com")
	a.text("010 1234 5678")
	if a.last.Field != "title" {
		t.Fatalf("not asked for the title: %+v", a.last)
	}
	b := e.dial("user-stateless") // tab B opens at the same question
	if b.last.Field != "title" {
		t.Fatalf("tab B opened at %+v", b.last)
	}
	if r := a.text("A의 제목"); r.Invalid || r.Field != "content" {
		t.Fatalf("tab A's title: %+v", r)
	}
	r := b.sendFrame(map[string]any{"type": "text", "text": "B가 제목으로 쓴 글", "state": ""})
	if r.Type != "reply" || r.Field != "content" || r.Invalid {
		t.Fatalf("tab B's stateless title: %+v; want the current reply, the content question", r)
	}
	// Tab A's next answer is the content: had B's title been taken as the
	// content, A would be at the summary already and this would be refused.
	if r := a.text("A의 내용"); r.State != "summary" || contains(r.Messages, "B가 제목으로 쓴 글") {
		t.Fatalf("after tab B's frame: %+v", r)
	}
}
