package flow_test

import (
	"os"
	"strings"
	"testing"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

// TestShortLabels: a choice may give channels with tight label limits (the
// chatbot builder's 14-character quick replies) a short label; lint warns,
// with file:line, about a longer label without one, refuses a short label
// that is itself too long, and a short label is a text to translate.
func TestShortLabels(t *testing.T) {
	base, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, ps := flow.Parse("flows/damage-1015.yaml", base)
	if len(ps) > 0 {
		t.Fatalf("the shipped flow has problems:\n%s", ps.Error())
	}
	c, _ := f.States["damage_type"].Choice("non_monetary")
	if c.Short != "금전 피해 없음" {
		t.Errorf("short label %q", c.Short)
	}
	var found bool
	for _, tx := range f.Texts() {
		if tx.ID == "damage-1015.damage_type.choice.non_monetary.short" {
			found = tx.Source == "금전 피해 없음" && tx.Pos.Line > 0
		}
	}
	if !found {
		t.Error("the short label is not among the texts to translate (with its line)")
	}

	// Without its short label, the long label is warned about at its line.
	src := strings.Replace(string(base), "        short: 금전 피해 없음\n", "", 1)
	if src == string(base) {
		t.Fatal("the edit changed nothing")
	}
	_, ps = flow.Parse("flows/damage-1015.yaml", []byte(src))
	if len(ps.Errors()) > 0 {
		t.Fatalf("a long label is no error:\n%s", ps.Error())
	}
	line := 0
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, "value: non_monetary") {
			line = i + 1
		}
	}
	if len(ps) != 1 || !ps[0].Warning || ps[0].Pos.Line != line ||
		!strings.HasPrefix(ps[0].String(), "flows/damage-1015.yaml:") || !strings.Contains(ps[0].String(), `warning: state "damage_type": choice "non_monetary": label`) ||
		!strings.Contains(ps[0].String(), "short:") {
		t.Errorf("want one warning at line %d about the label; got:\n%s", line, ps.Error())
	}

	// 14 characters fit; a short label over 14 is an error.
	for _, tt := range []struct {
		short string
		ok    bool
	}{{"가나다라마바사아자차카타파하", true}, {"가나다라마바사아자차카타파하거", false}} {
		src := strings.Replace(string(base), "        short: 금전 피해 없음\n", "        short: "+tt.short+"\n", 1)
		_, ps := flow.Parse("flows/damage-1015.yaml", []byte(src))
		if got := len(ps) == 0; got != tt.ok {
			t.Errorf("short %q (%d characters): problems %v, want ok=%v", tt.short, len([]rune(tt.short)), ps, tt.ok)
		}
		if !tt.ok && (len(ps.Errors()) != 1 || !strings.Contains(ps.Errors()[0].Msg, "at most 14")) {
			t.Errorf("want one error about its length; got:\n%s", ps.Error())
		}
	}
}

// TestShortLabelsOfTranslations: lint warns, at the choice's line, about a
// choice whose translated label is longer than 14 characters and that has
// no short label (중대형 기업 fits; "Mid-size or large company" does not),
// and about a short label's translation that is too long.
func TestShortLabelsOfTranslations(t *testing.T) {
	base, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lineOf := func(src, sub string) int {
		for i, l := range strings.Split(src, "\n") {
			if strings.Contains(l, sub) {
				return i + 1
			}
		}
		return 0
	}
	check := func(t *testing.T, src, locales, want string) {
		t.Helper()
		dir := t.TempDir()
		f, ps := flow.Parse(dir+"/damage-1015.yaml", []byte(src))
		if len(ps) > 0 {
			t.Fatalf("modified flow: %v", ps)
		}
		_, lps := locale.Load(locales, map[string]*flow.Flow{f.ID: f})
		line := lineOf(src, "value: enterprise")
		var got []string
		found := false
		for _, p := range lps {
			got = append(got, p.String())
			found = found || (p.Warning && p.Pos.Line == line && strings.Contains(p.Msg, want) && strings.HasPrefix(p.String(), dir+"/damage-1015.yaml:"))
		}
		if !found {
			t.Errorf("want a warning at line %d with %q; got:\n%s", line, want, strings.Join(got, "\n"))
		}
	}
	t.Run("no short label", func(t *testing.T) {
		src := strings.Replace(string(base), "        short: 중대형 기업\n", "", 1)
		check(t, src, "../../locales", `the en label "Mid-size or large company" has more than 14 characters and the choice has no short label`)
	})
	t.Run("short label translated too long", func(t *testing.T) {
		locales := t.TempDir()
		for _, name := range []string{"bot.ko.yaml", "bot.en.yaml", "damage-1015.en.yaml"} {
			b, _ := os.ReadFile("../../locales/" + name)
			if name == "damage-1015.en.yaml" {
				b = []byte(strings.Replace(string(b), `other: "Larger company"`, `other: "Larger company, really"`, 1))
			}
			os.WriteFile(locales+"/"+name, b, 0o644)
		}
		check(t, string(base), locales, `short label "Larger company, really" in`)
	})
	// The shipped flow and its translation: none.
	f, _ := flow.Parse("flows/damage-1015.yaml", base)
	if _, lps := locale.Load("../../locales", map[string]*flow.Flow{f.ID: f}); len(lps) > 0 {
		t.Errorf("shipped: %v", lps)
	}
}
