package engine

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// pieces of strings that appendString treats apart: escapes, the bytes
// around U+2028 and U+2029 (other runes that start with E2 among them),
// invalid and cut UTF-8, Korean, emoji.
var stringPieces = []string{"", "a", "plain text ", "\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", " ",
	"\u2028", "\u2029", "\u2027", "\u202a", "…", "€", "\u2000", "\xe2", "\xe2\x80", "\xe2\x80\xa8\xa8", "\xff", "\xc3",
	"é", "한글", "행복분식", "🙂", "<>&", "\ufffd"}

// appendString gives what the rune-by-rune writer gives for every string.
func TestAppendStringAsRunes(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 1))
	check := func(s string) {
		t.Helper()
		got, want := appendString([]byte("x"), s), appendRunes([]byte("x"), s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	}
	for _, p := range stringPieces {
		check(p)
	}
	for range 100000 {
		var s []byte
		for range rng.IntN(8) {
			s = append(s, stringPieces[rng.IntN(len(stringPieces))]...)
		}
		check(string(s))
	}
	for range 20000 { // any bytes at all
		s := make([]byte, rng.IntN(12))
		for i := range s {
			s[i] = byte(rng.UintN(256))
		}
		check(string(s))
	}
}

func FuzzAppendString(f *testing.F) {
	for _, p := range stringPieces {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), appendRunes(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	})
}

// BenchmarkAppendString writes a session's Korean text as JSON.
func BenchmarkAppendString(b *testing.B) {
	s := "10월 15일 저녁 주문 알림이 오지 않았습니다. \"행복분식\" 매장 주문을 놓쳤습니다."
	buf := make([]byte, 0, 256)
	b.Run("appendString", func(b *testing.B) {
		for b.Loop() {
			buf = appendString(buf[:0], s)
		}
	})
	b.Run("appendRunes", func(b *testing.B) {
		for b.Loop() {
			buf = appendRunes(buf[:0], s)
		}
	})
}

// appendRunes is appendString rune by rune, for any string: the writer
// appendString replaced, which the tests hold it to.
func appendRunes(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
