package locale

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/claimbot/claimbot/internal/flow"
)

const tinyFlow = `flow: tiny
title: 작은 흐름
start: name
states:
  name:
    say: "이름을 알려 주세요."
    ask: text
    label: 이름
    next: done
  done:
    say:
      - "고마워요, {{.name}}님."
      - |-
        첫 줄

        셋째 줄
    submit: true
`

func parseTiny(t *testing.T, src string) *flow.Flow {
	t.Helper()
	f, ps := flow.Parse(filepath.Join(t.TempDir(), "tiny.yaml"), []byte(src))
	if len(ps.Errors()) > 0 {
		t.Fatalf("tiny flow:\n%v", ps)
	}
	return f
}

func TestStub(t *testing.T) {
	f := parseTiny(t, tinyFlow)
	existing := map[string]Translation{
		"tiny.title":      {Hash: Hash("작은 흐름"), Other: "Tiny flow"},            // current
		"tiny.name.say":   {Hash: Hash("이름이 뭐예요?"), Other: "What's your name?"}, // stale
		"tiny.name.label": {Hash: Hash("이름이요"), Other: ""},                      // stale but empty
		"tiny.gone.say":   {Hash: Hash("없어진 말"), Other: "Gone"},                 // no longer in the flow
	}
	want := `# The en texts of flow tiny. Made by ` + "`claimbot translate`" + `; keep this format.
# Above each entry is its Korean source. Translate it in ` + "`other`" + ` and leave
# ` + "`hash`" + ` alone: it is the hash of the Korean translated. When lint says an
# entry is stale, update ` + "`other`" + ` and set ` + "`hash`" + ` to the one lint gives.

# 작은 흐름
tiny.title:
  hash: ` + Hash("작은 흐름") + `
  other: "Tiny flow"

# 이름을 알려 주세요.
tiny.name.say:
  hash: ` + Hash("이름이 뭐예요?") + `
  other: "What's your name?"

# 이름
tiny.name.label:
  hash: ` + Hash("이름") + `
  other: ""

# 고마워요, {{.name}}님.
tiny.done.say.0:
  hash: ` + Hash("고마워요, {{.name}}님.") + `
  other: ""

# 첫 줄
#
# 셋째 줄
tiny.done.say.1:
  hash: ` + Hash("첫 줄\n\n셋째 줄") + `
  other: ""
`
	got := string(Stub(f, "en", existing))
	if got != want {
		t.Errorf("Stub:\n%s\nwant:\n%s", got, want)
	}
	if again := string(Stub(f, "en", existing)); again != got {
		t.Errorf("Stub is not stable:\n%s\nthen:\n%s", got, again)
	}
}

// TestStubQuoting checks that any translation survives Stub, both for
// ReadTranslations and for the catalogue (go-i18n and its templates).
func TestStubQuoting(t *testing.T) {
	others := []string{
		"{{.name}}",
		"Thanks, {{.name}}: \"quoted\" and 'single' # not a comment",
		"yes",
		"null",
		"~",
		"- a dash",
		"50% off: [a], {b}, &c, *d, !e, |f, >g, @h",
		" leading and trailing spaces ",
		"tab\there",
		"line one\nline two",
		"line one\n\nline three\n",
		"  indented first line\nsecond",
		"trailing space \non a line",
		"back\\slash and unicode · … ✓",
	}
	f := parseTiny(t, tinyFlow)
	texts := f.Texts()
	if len(texts) == 0 {
		t.Fatal("the tiny flow has no texts")
	}
	for _, other := range others {
		t.Run(other, func(t *testing.T) {
			existing := map[string]Translation{}
			for _, tx := range texts {
				existing[tx.ID] = Translation{Hash: Hash(tx.Source), Other: other}
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "tiny.en.yaml")
			if err := os.WriteFile(path, Stub(f, "en", existing), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTranslations(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, existing) {
				t.Errorf("read back %q, want %q", got, existing)
			}
			writeBotTexts(t, dir)
			cat, ps := Load(dir, map[string]*flow.Flow{f.ID: f})
			if len(ps.Errors()) > 0 {
				t.Fatalf("Load:\n%v", ps)
			}
			for _, tx := range texts {
				if !cat.Has("en", tx.ID) {
					t.Errorf("%s: not in the catalogue", tx.ID)
				}
			}
			if !strings.Contains(other, "{{") {
				if s := cat.Text("en", "tiny.title", nil); s != other {
					t.Errorf("catalogue text %q, want %q", s, other)
				}
			}
		})
	}
}

func TestStubStale(t *testing.T) {
	// A stub keeps a stale translation and its old hash, so the catalogue
	// built from it still reports the translation as stale.
	f := parseTiny(t, tinyFlow)
	existing := map[string]Translation{}
	for _, tx := range f.Texts() {
		existing[tx.ID] = Translation{Hash: Hash(tx.Source), Other: "x"}
	}
	existing["tiny.name.say"] = Translation{Hash: Hash("옛 문장"), Other: "Old text"}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tiny.en.yaml"), Stub(f, "en", existing), 0o644); err != nil {
		t.Fatal(err)
	}
	writeBotTexts(t, dir)
	_, ps := Load(dir, map[string]*flow.Flow{f.ID: f})
	if len(ps) != 1 || !ps[0].Warning || !strings.Contains(ps[0].Msg, "tiny.name.say") || !strings.Contains(ps[0].Msg, "stale") {
		t.Errorf("problems:\n%v\nwant one stale warning for tiny.name.say", ps)
	}
}

func TestReadTranslations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("maps and plain texts", func(t *testing.T) {
		path := write("a.en.yaml", "# comment\nbot.choice.yes: \"Yes\"\nx.say:\n  hash: sha1-00\n  other: \"{{.claim_id}}\"\nx.label:\n  other: Label\n")
		got, err := ReadTranslations(path)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]Translation{
			"bot.choice.yes": {Other: "Yes"},
			"x.say":          {Hash: "sha1-00", Other: "{{.claim_id}}"},
			"x.label":        {Other: "Label"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		got, err := ReadTranslations(write("empty.en.yaml", ""))
		if err != nil || len(got) != 0 {
			t.Errorf("got %q, %v; want nothing", got, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := ReadTranslations(filepath.Join(dir, "none.en.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
		}
	})
	for name, src := range map[string]string{
		"not yaml":  "x: [",
		"a list":    "- a\n- b\n",
		"list item": "x:\n  - a\n",
		"nested":    "x:\n  other: [a]\n",
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := ReadTranslations(write("bad.en.yaml", src)); err == nil {
				t.Errorf("got %q, want an error", got)
			}
		})
	}
}

// writeBotTexts gives a test's locales folder the default refusal text the
// tiny flow's question relies on.
func writeBotTexts(t *testing.T, dir string) {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "bot.ko.yaml"), []byte("bot.invalid.text: 다시 입력해 주세요.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bot.en.yaml"), []byte("bot.invalid.text: Please try again.\n"), 0o644)
}

// TestStubWritesEmojiAsThemselves: a translation with 📎 is written with
// the 📎 a translator must keep, not yaml.v3's \U0001F4CE, and reads back
// the same; a backslash and a U the translator typed stay as typed.
func TestStubWritesEmojiAsThemselves(t *testing.T) {
	for _, other := range []string{
		"With the 📎 button you can send files.",
		`a typed \U0001F4CE stays`,
		"tab\tand 📎 and \"quotes\" and \\",
	} {
		b := stubEntry("x.say.1", "sha1-0", other)
		if strings.Contains(other, "📎") && (!strings.Contains(string(b), "📎") || strings.Contains(string(b), `\U0001F4CE`)) {
			t.Errorf("%q written as %s", other, b)
		}
		var got map[string]Translation
		if err := yaml.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if got["x.say.1"].Other != other {
			t.Errorf("%q written as %s, read back as %q", other, b, got["x.say.1"].Other)
		}
	}
}
