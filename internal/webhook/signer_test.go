package webhook

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignerSignsAsSecret: a Signer reused over many messages signs each
// as Secret.Sign and SetHeaders do, and the headers of one message are not
// changed by the next.
func TestSignerSignsAsSecret(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	g := s.NewSigner()
	if got := g.Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)); got != vectorSig {
		t.Errorf("Sign = %q, want %q", got, vectorSig)
	}
	var kept []http.Header
	var want []http.Header
	for i := range 200 {
		id := fmt.Sprintf("msg_C-%d", i)
		ts := time.Unix(int64(i)*977, 0) // 1 to 10 digits and more
		if i%2 == 1 {
			ts = time.Unix(vectorTS+int64(i), 0)
		}
		body := []byte(strings.Repeat(`{"n":`+fmt.Sprint(i)+`}`, i%7+1))
		if got, w := g.Sign(id, ts, body), s.Sign(id, ts, body); got != w {
			t.Fatalf("message %d: Signer.Sign = %q, Secret.Sign %q", i, got, w)
		}
		h, wh := http.Header{}, http.Header{}
		g.SetHeaders(h, id, ts, body)
		SetHeaders(wh, s, id, ts, body)
		if err := s.Verify(h, body, ts); err != nil {
			t.Fatalf("message %d: Verify = %v", i, err)
		}
		kept, want = append(kept, h), append(want, wh)
	}
	for i := range kept {
		if fmt.Sprint(kept[i]) != fmt.Sprint(want[i]) {
			t.Errorf("message %d: headers %v, want %v", i, kept[i], want[i])
		}
	}
}

// TestSignerAllocs: SetHeaders of a Signer allocates the header values'
// string and slice only (SetHeaders of a Secret: about 17 times).
func TestSignerAllocs(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	g := s.NewSigner()
	body := []byte(vectorBody)
	ts := time.Unix(vectorTS, 0)
	h := make(http.Header, 8)
	if n := testing.AllocsPerRun(100, func() { g.SetHeaders(h, vectorID, ts, body) }); n > 2 {
		t.Errorf("Signer.SetHeaders allocates %.0f times, want at most 2", n)
	}
}

// TestSignerClaimHeaders: SetClaimHeaders sets, over many messages, the
// headers that SetHeaders sets for MessageID of the claim, and the headers
// of one message are not changed by the next; it allocates no more than
// SetHeaders does, the message id included.
func TestSignerClaimHeaders(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	g, w := s.NewSigner(), s.NewSigner()
	var kept, want []http.Header
	for i := range 200 {
		claim := fmt.Sprintf("C-20221019-%d", i*i)
		ts := time.Unix(int64(i)*977, 0)
		body := []byte(strings.Repeat(`{"n":`+fmt.Sprint(i)+`}`, i%7+1))
		h, wh := http.Header{}, http.Header{}
		g.SetClaimHeaders(h, claim, ts, body)
		w.SetHeaders(wh, MessageID(claim), ts, body)
		if err := s.Verify(h, body, ts); err != nil {
			t.Fatalf("message %d: Verify = %v", i, err)
		}
		kept, want = append(kept, h), append(want, wh)
	}
	for i := range kept {
		if fmt.Sprint(kept[i]) != fmt.Sprint(want[i]) {
			t.Errorf("message %d: headers %v, want %v", i, kept[i], want[i])
		}
	}
	h := make(http.Header, 8)
	body, ts := []byte(vectorBody), time.Unix(vectorTS, 0)
	if n := testing.AllocsPerRun(100, func() { g.SetClaimHeaders(h, "C-20221019-1", ts, body) }); n > 2 {
		t.Errorf("Signer.SetClaimHeaders allocates %.0f times, want at most 2", n)
	}
}

func BenchmarkSetHeaders(b *testing.B) {
	s := mustSecret(b, vectorSecret)
	body := []byte(fullBody)
	ts := time.Unix(vectorTS, 0)
	h := make(http.Header, 8)
	b.Run("Secret", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			SetHeaders(h, s, vectorID, ts, body)
		}
	})
	b.Run("Signer", func(b *testing.B) {
		g := s.NewSigner()
		b.ReportAllocs()
		for b.Loop() {
			g.SetHeaders(h, vectorID, ts, body)
		}
	})
}
