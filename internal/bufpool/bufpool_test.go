package bufpool

import "testing"

func TestPool(t *testing.T) {
	p := New(64)
	b := p.Get()
	if len(*b) != 0 || cap(*b) < 64 {
		t.Fatalf("new buffer: len %d cap %d", len(*b), cap(*b))
	}
	*b = append(*b, "reply"...)
	p.Put(b)
	if c := p.Get(); len(*c) != 0 {
		t.Fatalf("a lent buffer must come back empty, got %q", *c)
	}
	big := make([]byte, 0, 17*64)
	p.Put(&big) // dropped, not kept
}

func BenchmarkGetPut(b *testing.B) {
	p := New(512)
	b.ReportAllocs()
	for b.Loop() {
		buf := p.Get()
		*buf = append(*buf, "0123456789"...)
		p.Put(buf)
	}
}
