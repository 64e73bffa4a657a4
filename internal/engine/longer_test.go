package engine

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Pieces of text around what normalization joins, drops or splits:
// combining marks, Hangul jamo (decomposed 처음으로 among them), spaces of
// every kind, zero-width characters, singletons (Kelvin, Ohm), letters
// that lower to other lengths, invalid bytes.
var longPieces = []string{"a", "B", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\u2060", "\ufeff",
	"\u200d", "e\u0301", "\u0301", "\u0323\u0302", "\u0344", "\u212a", "\u2126", "İ", "ß", "\u1100\u1161", "\u11a8",
	"\u110e\u1165\u110b\u1173\u11b7\u110b\u1173\u1105\u1169", "처음으로", "이전", "상담원", "가", "\xff", "\xe2\x80", "🙂", "ｂａｃｋ",
	"back", "restart", "\u0f73", "\u0b47\u0b3e", "\u0340", "가\u11a8", "힣\u0301", "\ud7a3", "\uac00\u11c2\u11a8", "처음", "으로"}

// longerThan says a text's word is longer than limit only when it is.
func TestLongerThanOnlyWhenLonger(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	check := func(s string) {
		t.Helper()
		w := normWord(s)
		for limit := 0; limit <= 40; limit++ {
			if longerThan(s, limit) && len(w) <= limit {
				t.Fatalf("%q: longer than %d, but its word %q has %d bytes", s, limit, w, len(w))
			}
		}
	}
	for _, s := range wordSeeds {
		check(s)
	}
	for range 40000 {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(longPieces[rng.IntN(len(longPieces))])
		}
		check(b.String())
	}
}

// Every rune longerThan counts gives at least one rune of a word, even
// alone; a Hangul syllable, counted without looking it up, is a rune NFC
// never joins to the one before it.
func TestLongerThanCountsWordRunes(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		counted := longerThan(strings.Repeat(s, 2), 1)
		if r >= 0xAC00 && r <= 0xD7A3 && !norm.NFC.PropertiesString(s).BoundaryBefore() {
			t.Fatalf("%U: a Hangul syllable that combines backward", r)
		}
		if counted && normWord(s) == "" {
			t.Fatalf("%U is counted, but its word is empty", r)
		}
		if r >= 0xAC00 && r <= 0xD7A3 {
			// Counted as three bytes: alone, or with a trailing jamo or a
			// mark after it, it is a syllable of the word.
			for _, after := range []string{"", "\u11a8", "\u11c2", "\u0301", "\u1161"} {
				if w := normWord(s + after); len(w) < 3 || !utf8.ValidString(w[:3]) || []rune(w)[0] < 0xAC00 || []rune(w)[0] > 0xD7A3 {
					t.Fatalf("%U%q: word %q does not start with a syllable", r, after, w)
				}
			}
		}
	}
}

// How long the word of a long answer takes to rule out.
func BenchmarkCommandLongText(b *testing.B) {
	e := wordEngine(b)
	for _, s := range []string{"owner@example.com", "처음으로",
		"10월 15일 저녁 주문 알림이 오지 않았습니다. 행복분식 매장 주문을 놓쳤습니다. 확인 부탁드립니다."} {
		b.Run(strings.Fields(s)[0], func(b *testing.B) {
			for b.Loop() {
				e.command("ko", s)
			}
		})
	}
}
