package engine_test

import (
	"fmt"
	"testing"

	"github.com/claimbot/claimbot/internal/engine"
)

// BenchmarkStep is one typical turn: a valid email answer deep in a
// small business's conversation (the path re-derived from the start).
func BenchmarkStep(b *testing.B) {
	c := newChat(b, "ko")
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary").text("행복분식").text("220-81-62517").text("25만원")
	benchStep(b, c, engine.Input{Kind: engine.Text, Text: "owner@example.com", ID: "x-1", State: "email"})
}

// BenchmarkStepWithIDs is BenchmarkStep in a session that remembers the
// ids of the frames it applied, as it does with clients that send them
// (CONTRACT §2).
func BenchmarkStepWithIDs(b *testing.B) {
	c := newChat(b, "ko")
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary").text("행복분식").text("220-81-62517").text("25만원")
	s := *c.s
	for i := range 7 {
		s.Applied = append(s.Applied, fmt.Sprintf("k3f9-%d", i+1))
	}
	c.s = &s
	benchStep(b, c, engine.Input{Kind: engine.Text, Text: "owner@example.com", ID: "k3f9-8", State: "email"})
}

// BenchmarkStepToSummary changes an answer from the summary: the summary
// lists every answer again.
func BenchmarkStepToSummary(b *testing.B) {
	c := newChat(b, "ko")
	c.fill(map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "a@b.co", "phone": "01012345678", "title": "제목", "content": "내용"})
	c.choose("edit_email")
	benchStep(b, c, engine.Input{Kind: engine.Text, Text: "owner@example.com", ID: "x-1", State: "email"})
}

// BenchmarkStepSubmit files the claim from the summary: the last turn of
// every conversation.
func BenchmarkStepSubmit(b *testing.B) {
	c := newChat(b, "ko")
	c.fill(map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "a@b.co", "phone": "01012345678", "title": "제목", "content": "내용"})
	in := engine.Input{Kind: engine.Choose, Text: "submit", ID: "x-1", State: "summary"}
	env := engine.Env{Now: duringIntake, ClaimID: func() string { return "T001-TEST" }}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.e.Step(c.s, in, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConversation files a whole claim: 15 turns.
func BenchmarkConversation(b *testing.B) {
	answers := map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "owner@example.com", "phone": "010-5555-1234", "title": "주문 알림 누락", "content": "10월 15일 저녁 주문 알림이 오지 않았습니다."}
	b.ReportAllocs()
	for b.Loop() {
		c := newChat(b, "ko")
		c.fill(answers)
		c.choose("submit")
	}
}

// BenchmarkConversationDistinct files a whole claim as BenchmarkConversation,
// but each with a business name of its own: every conversation's answers
// from there on are new to the engine, as they are in production.
func BenchmarkConversationDistinct(b *testing.B) {
	answers := map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "owner@example.com", "phone": "010-5555-1234", "title": "주문 알림 누락", "content": "10월 15일 저녁 주문 알림이 오지 않았습니다."}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		c := newChat(b, "ko")
		c.fill(with(answers, "business_name", fmt.Sprintf("행복분식 %d호점", n)))
		c.choose("submit")
	}
}

// BenchmarkConversationDistinctWire is BenchmarkConversationDistinct with
// every reply written as the WebSocket writes it (Reply.AppendJSON).
func BenchmarkConversationDistinctWire(b *testing.B) {
	answers := map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "owner@example.com", "phone": "010-5555-1234", "title": "주문 알림 누락", "content": "10월 15일 저녁 주문 알림이 오지 않았습니다."}
	b.ReportAllocs()
	n := 0
	wire := make([]byte, 0, 4096)
	for b.Loop() {
		n++
		c := newChat(b, "ko")
		c.wire = wire
		c.fill(with(answers, "business_name", fmt.Sprintf("행복분식 %d호점", n)))
		c.choose("submit")
		wire = c.wire
	}
}

// BenchmarkStepWire is BenchmarkStep with its reply written as the
// WebSocket writes it.
func BenchmarkStepWire(b *testing.B) {
	c := newChat(b, "ko")
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary").text("행복분식").text("220-81-62517").text("25만원")
	in := engine.Input{Kind: engine.Text, Text: "owner@example.com", ID: "x-1", State: "email"}
	env := engine.Env{Now: duringIntake}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.e.Step(c.s, in, env)
		if err != nil {
			b.Fatal(err)
		}
		buf = res.Reply.AppendJSON(buf[:0])
	}
}

// BenchmarkStepChoiceEnglish is a quick reply typed in English: the
// choices are matched by their translated labels.
func BenchmarkStepChoiceEnglish(b *testing.B) {
	c := newChat(b, "en")
	c.choose("yes").choose("small_business")
	benchStep(b, c, engine.Input{Kind: engine.Text, Text: "messenger", ID: "x-1", State: "service"})
}

// benchStep measures one step of c's session with in, the session left as
// it was.
func benchStep(b *testing.B, c *chat, in engine.Input) {
	env := engine.Env{Now: duringIntake}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.e.Step(c.s, in, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplyJSONSummary writes the summary's reply as the WebSocket
// writes it: the answers and the choices that change them, in Korean.
func BenchmarkReplyJSONSummary(b *testing.B) {
	c := newChat(b, "ko")
	c.fill(map[string]string{"privacy_consent": "yes", "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": "25만원",
		"email": "a@b.co", "phone": "01012345678", "title": "제목", "content": "내용"})
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.r.AppendJSON(buf[:0])
	}
}

// BenchmarkStepFreshStack is BenchmarkStep on a goroutine whose stack has
// not grown yet, under about the server's frames (see TestStepStack), as
// a connection's goroutine runs a turn after the garbage collector shrank
// its stack, or a parked connection's new one: the stack growth a step
// causes is part of its cost. Run it with GODEBUG=adaptivestackstart=0 for
// goroutines that start as small as the server's many idle ones make them.
func BenchmarkStepFreshStack(b *testing.B) {
	c := newChat(b, "ko")
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary").text("행복분식").text("220-81-62517").text("25만원")
	in := engine.Input{Kind: engine.Text, Text: "owner@example.com", ID: "x-1", State: "email"}
	env := engine.Env{Now: duringIntake}
	done := make(chan error)
	b.ReportAllocs()
	for b.Loop() {
		go func() {
			var err error
			below(serverFrames, func() { _, err = c.e.Step(c.s, in, env) })
			done <- err
		}()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
