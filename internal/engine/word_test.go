package engine

import (
	"strings"
	"testing"

	"github.com/claimbot/claimbot/internal/locale"
	"github.com/claimbot/claimbot/internal/validate"
)

// oldNormWord is how command words were first normalized; normWord and
// Engine.command must give the same words without building it.
func oldNormWord(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(validate.Normalize(s)), ""))
}

func wordEngine(t testing.TB) *Engine {
	cat, ps := locale.Load("../../locales", nil)
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	return New(nil, cat, nil)
}

var wordSeeds = []string{"", " ", "back", "BACK", " b a c k ", "Restart", "처음으로", "처음 으로", "이전", "ｂａｃｋ", "\u3000이전\u00a0",
	"\xff\xfe", "KELVIN \u212a", "İstanbul", "back\u200b", "restart please", strings.Repeat("가", 40), "a\u0085b\u2028c",
	// Texts past the longest word in bytes whose word is a command: decomposed
	// jamo, spaces and zero-width characters between its letters.
	"\u110e\u1165\u110b\u1173\u11b7\u110b\u1173\u1105\u1169", " 처 \u200b 음 \u3000 으 \u00a0 로 \u200b\u200b\u200b ",
	"b\u200ba\u200bc\u200bk\u200b\u200b\u200b\u200b\u200b\u200b", strings.Repeat(" ", 30) + "back" + strings.Repeat("\n", 30),
	strings.Repeat("e\u0301", 30), strings.Repeat("\u212a", 30)}

func TestCommandWords(t *testing.T) {
	e := wordEngine(t)
	for _, s := range wordSeeds {
		t.Run(s, func(t *testing.T) {
			if got, want := normWord(s), oldNormWord(s); got != want {
				t.Errorf("normWord = %q, want %q", got, want)
			}
			for lang, words := range e.words {
				if got, want := e.command(lang, s), words[oldNormWord(s)]; got != want {
					t.Errorf("%s: command = %q, want %q", lang, got, want)
				}
			}
		})
	}
}

func FuzzCommandWords(f *testing.F) {
	for _, s := range wordSeeds {
		f.Add(s)
	}
	e := wordEngine(f)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := normWord(s), oldNormWord(s); got != want {
			t.Fatalf("normWord(%q) = %q, want %q", s, got, want)
		}
		for lang, words := range e.words {
			if got, want := e.command(lang, s), words[oldNormWord(s)]; got != want {
				t.Fatalf("%s: command(%q) = %q, want %q", lang, s, got, want)
			}
		}
	})
}
