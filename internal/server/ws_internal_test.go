package server

import (
	"context"
	"testing"
)

// see records what a connection's last reply left, and lang and the
// close's count read it: the session's language over the token's, its
// flow and state.
func TestSeeRecordsTheConversation(t *testing.T) {
	s := newTestServer(t)
	conv, _, err := s.store.Open(context.Background(), "see-user", "damage-1015", "en")
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{s: s, tokenLang: "ko"}
	if got := c.lang(); got != "ko" {
		t.Errorf("before a conversation: lang %q, want the token's ko", got)
	}
	c.conv = conv
	c.see()
	v := c.seen()
	if v.lang != "en" || v.flow != "damage-1015" || v.state != conv.Session().State || v.state == "" || v.done {
		t.Errorf("seen %+v, want lang en, flow damage-1015, state %q, not done", v, conv.Session().State)
	}
	if got := c.lang(); got != "en" {
		t.Errorf("lang %q, want the session's en", got)
	}
}

// A turn's record of what the connection saw.
func BenchmarkSee(b *testing.B) {
	s := newTestServer(b)
	conv, _, err := s.store.Open(context.Background(), "see-bench", "damage-1015", "ko")
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{s: s, conv: conv, tokenLang: "ko"}
	b.ReportAllocs()
	for b.Loop() {
		c.see()
	}
}
