package locale

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"github.com/claimbot/claimbot/internal/flow"
)

const (
	localesDir = "../../locales"
	flowsDir   = "../../flows"
)

func loadFlows(t *testing.T) map[string]*flow.Flow {
	t.Helper()
	flows, ps := flow.LoadDir(flowsDir)
	if len(ps) > 0 {
		t.Fatalf("flows:\n%v", ps)
	}
	return flows
}

func loadCatalog(t *testing.T, flows map[string]*flow.Flow) *Catalog {
	t.Helper()
	cat, ps := Load(localesDir, flows)
	if len(ps.Errors()) > 0 {
		t.Fatalf("catalogue:\n%v", ps)
	}
	return cat
}

// TestShippedCatalog: the catalogue as shipped has no problem at all, not
// even a warning: every flow text is translated and none is stale.
func TestShippedCatalog(t *testing.T) {
	flows := loadFlows(t)
	cat, ps := Load(localesDir, flows)
	if len(ps) > 0 {
		t.Fatalf("catalogue problems:\n%v", ps)
	}
	if got := cat.Languages(); len(got) < 2 || got[0] != Source {
		t.Errorf("languages %v: want %s first and at least one translation", got, Source)
	}
	for _, lang := range cat.Languages() {
		for _, f := range flows {
			for _, tx := range f.Texts() {
				if !cat.Has(lang, tx.ID) {
					t.Errorf("%s: %s: missing", lang, tx.ID)
				}
			}
		}
	}
}

// TestBotMessages: every id of bot.ko.yaml exists, non-empty, in every
// language, and no language has an id that Korean lacks.
func TestBotMessages(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(localesDir, "bot.*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	byLang := map[string]map[string]Translation{}
	for _, path := range files {
		lang := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "bot."), ".yaml")
		if byLang[lang], err = ReadTranslations(path); err != nil {
			t.Fatal(err)
		}
	}
	src := byLang[Source]
	if len(src) == 0 {
		t.Fatalf("no messages in bot.%s.yaml", Source)
	}
	if len(byLang) < 2 {
		t.Fatalf("only %d bot message file(s)", len(byLang))
	}
	for lang, msgs := range byLang {
		for id := range src {
			if strings.TrimSpace(msgs[id].Other) == "" {
				t.Errorf("bot.%s.yaml: %s: missing or empty", lang, id)
			}
		}
		for id := range msgs {
			if _, ok := src[id]; !ok {
				t.Errorf("bot.%s.yaml: %s: not in bot.%s.yaml", lang, id, Source)
			}
			if !strings.HasPrefix(id, BotPrefix) {
				t.Errorf("bot.%s.yaml: %s: bot ids start with %q", lang, id, BotPrefix)
			}
		}
	}
}

var actionRE = regexp.MustCompile(`{{[^}]*}}`)

func actions(s string) string {
	a := actionRE.FindAllString(s, -1)
	sort.Strings(a)
	return strings.Join(a, " ")
}

// TestTemplateActions: a translation uses the same template actions
// ({{.claim_id}}, …) as its Korean source.
func TestTemplateActions(t *testing.T) {
	flows := loadFlows(t)
	files, err := filepath.Glob(filepath.Join(localesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]string{}
	ko, err := ReadTranslations(filepath.Join(localesDir, "bot."+Source+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for id, tr := range ko {
		src[id] = tr.Other
	}
	for _, f := range flows {
		for _, tx := range f.Texts() {
			src[tx.ID] = tx.Source
		}
	}
	for _, path := range files {
		msgs, err := ReadTranslations(path)
		if err != nil {
			t.Fatal(err)
		}
		for id, tr := range msgs {
			if s, ok := src[id]; ok && actions(tr.Other) != actions(s) {
				t.Errorf("%s: %s: actions %q, the Korean has %q", filepath.Base(path), id, actions(tr.Other), actions(s))
			}
		}
	}
}

// TestFlowTranslationProblems: a Korean text changed since it was
// translated makes its translation stale, and a new one is missing; both
// are warnings that name the message id.
func TestFlowTranslationProblems(t *testing.T) {
	path := filepath.Join(flowsDir, "damage-1015.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mod := strings.Replace(string(src), `"동의하시나요?"`, `"동의하십니까?"`, 1)
	mod = strings.Replace(mod, "    ask: email\n", "    ask: email\n    invalid: \"이메일 주소를 다시 확인해 주세요.\"\n", 1)
	if mod == string(src) || strings.Count(mod, "invalid:") != strings.Count(string(src), "invalid:")+1 {
		t.Fatal("the flow changed: update the edits of this test")
	}
	f, ps := flow.Parse(filepath.Join(t.TempDir(), "damage-1015.yaml"), []byte(mod))
	if len(ps) > 0 {
		t.Fatalf("modified flow:\n%v", ps)
	}
	_, ps = Load(localesDir, map[string]*flow.Flow{f.ID: f})
	want := map[string]string{
		"damage-1015.privacy_consent.say.2": "stale",
		"damage-1015.email.invalid":         "no en translation",
	}
	if len(ps) != len(want) {
		t.Errorf("problems:\n%v\nwant %d", ps, len(want))
	}
	for _, p := range ps {
		id, _, _ := strings.Cut(p.Msg, ":")
		what, ok := want[id]
		switch {
		case !ok:
			t.Errorf("unexpected problem: %v", p)
		case !p.Warning:
			t.Errorf("%s: an error, want a warning: %v", id, p)
		case !strings.Contains(p.Msg, what):
			t.Errorf("%s: %q, want %q", id, p.Msg, what)
		case p.File != f.Path || p.Pos.Line == 0:
			t.Errorf("%s: at %s:%d, want a place in %s", id, p.File, p.Pos.Line, f.Path)
		}
		delete(want, id)
	}
	for id, what := range want {
		t.Errorf("%s: no %q warning", id, what)
	}
}

func TestText(t *testing.T) {
	flows := loadFlows(t)
	cat := loadCatalog(t, flows)
	label := map[string]any{"label": "이메일"}
	tests := []struct {
		lang, id string
		data     any
		want     string
	}{
		{"ko", "bot.summary.edit", label, "이메일 고치기"},
		{"en", "bot.summary.edit", map[string]any{"label": "Email"}, "Change Email"},
		{"ko", "damage-1015.submit.say.0", map[string]any{"claim_id": "C-42"}, "접수되었습니다. 접수번호는 C-42 입니다."},
		{"en", "damage-1015.submit.say.0", map[string]any{"claim_id": "C-42"}, "Your claim has been received. Your receipt number is C-42."},
		{"en", "damage-1015.service.choice.other", nil, "Other"},
		{"fr", "bot.choice.back", nil, "이전"}, // an unknown language falls back to Korean
		{"en", "no.such.id", nil, "no.such.id"},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.id, func(t *testing.T) {
			if got := cat.Text(tt.lang, tt.id, tt.data); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("en falls back to Korean", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(flowsDir, "damage-1015.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		mod := strings.Replace(string(src), "    ask: email\n", "    ask: email\n    invalid: \"{{.label}}을 다시 확인해 주세요.\"\n", 1)
		f, ps := flow.Parse(filepath.Join(t.TempDir(), "damage-1015.yaml"), []byte(mod))
		if len(ps.Errors()) > 0 {
			t.Fatalf("modified flow:\n%v", ps)
		}
		cat := loadCatalog(t, map[string]*flow.Flow{f.ID: f})
		id := "damage-1015.email.invalid"
		if cat.Has("en", id) {
			t.Fatalf("%s: has an en text", id)
		}
		if got, want := cat.Text("en", id, label), "이메일을 다시 확인해 주세요."; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// TestShippedTranslationsFormat: every flow translation file is exactly
// what Stub makes of it, so the files stay in the generated format.
func TestShippedTranslationsFormat(t *testing.T) {
	flows := loadFlows(t)
	n := 0
	for _, f := range flows {
		paths, err := filepath.Glob(filepath.Join(localesDir, f.ID+".*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			lang := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), f.ID+"."), ".yaml")
			t.Run(filepath.Base(path), func(t *testing.T) {
				have, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				existing, err := ReadTranslations(path)
				if err != nil {
					t.Fatal(err)
				}
				if got := Stub(f, lang, existing); !bytes.Equal(got, have) {
					t.Errorf("%s is not in the format Stub makes; Stub gives:\n%s", path, got)
				}
			})
			n++
		}
	}
	if n == 0 {
		t.Error("no flow translation files")
	}
}

// A question with no refusal text of its own and no default for its input
// kind is an error: the user would see a message id.
func TestMissingRefusalText(t *testing.T) {
	dir := t.TempDir()
	ko, err := os.ReadFile("../../locales/bot.ko.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(ko), "\n") {
		if !strings.HasPrefix(line, "bot.invalid.email:") {
			kept = append(kept, line)
		}
	}
	os.WriteFile(filepath.Join(dir, "bot.ko.yaml"), []byte(strings.Join(kept, "\n")), 0o644)
	flows, ps := flow.LoadDir("../../flows")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	_, ps = Load(dir, flows)
	found := false
	for _, p := range ps.Errors() {
		found = found || (p.State == "email" && strings.Contains(p.Msg, "no refusal text") && p.Pos.Line > 0)
	}
	if !found {
		t.Errorf("no error for the email question's missing refusal text:\n%s", ps.Error())
	}
}

// TestConstant: a text Constant calls constant renders the same whatever
// the data, in every language (and one the catalogue lacks), for every id
// of the catalogue and for one it lacks; and every template is not.
func TestConstant(t *testing.T) {
	cat := loadCatalog(t, loadFlows(t))
	data := []any{nil, map[string]any{}, map[string]any{"label": "라벨", "value": "값", "claim_id": "C-1", "min": 1, "max": 9,
		"name": "x.pdf", "count": 2, "max_files": 3, "tier": "top"}}
	constant, varying := 0, 0
	for _, lang := range append(cat.Languages(), "fr") {
		ids := []string{"no.such.id"}
		for id := range cat.langs[Source] {
			ids = append(ids, id)
		}
		for id := range cat.langs[lang] {
			ids = append(ids, id)
		}
		for _, id := range ids {
			e := cat.langs[lang][id]
			if e == nil {
				e = cat.langs[Source][id]
			}
			if !cat.Constant(lang, id) {
				varying++
				if e == nil || !strings.Contains(e.text, "{{") {
					t.Errorf("%s %s: not constant, but %v is no template", lang, id, e)
				}
				continue
			}
			constant++
			want := cat.Text(lang, id, nil)
			for _, d := range data {
				if got := cat.Text(lang, id, d); got != want {
					t.Errorf("%s %s: constant, but %q with %v, %q without", lang, id, got, d, want)
				}
			}
			if e != nil && strings.Contains(e.text, "{{") {
				t.Errorf("%s %s: constant, but a template: %q", lang, id, e.text)
			}
		}
	}
	if constant < 50 || varying < 10 {
		t.Errorf("only %d constant and %d varying texts", constant, varying)
	}
}

// TestAround: for every text of every language made of literals and
// {{.field}}s, and each of its fields, Around splits it so that before,
// the value and after are what Text renders with that value, for values
// of every kind; and a text with a field twice, with none, or with more
// than fields is not split.
func TestAround(t *testing.T) {
	cat := loadCatalog(t, loadFlows(t))
	field := regexp.MustCompile(`{{\s*\.([a-z_]+)\s*}}`)
	split := 0
	for _, lang := range cat.Languages() {
		for id, e := range cat.langs[lang] {
			names := map[string]int{}
			for _, m := range field.FindAllStringSubmatch(e.text, -1) {
				names[m[1]]++
			}
			names["absent"] = 0
			for name, n := range names {
				data := map[string]any{}
				for other := range names {
					if other != name {
						data[other] = "«" + other + "»"
					}
				}
				before, after, ok := cat.Around(lang, id, name, data)
				if !ok {
					if n == 1 && e.parts != nil {
						t.Errorf("%s %s: %q not split at %s", lang, id, e.text, name)
					}
					continue
				}
				if n != 1 || e.parts == nil {
					t.Errorf("%s %s: %q split at %s, which it has %d times", lang, id, e.text, name, n)
					continue
				}
				split++
				for _, v := range []any{"값", "", 25, int64(-3), 1.5, true, nil, []string{"a"}} {
					m := map[string]any{name: v}
					for k, x := range data {
						m[k] = x
					}
					var b strings.Builder
					b.WriteString(before)
					WriteValue(&b, v)
					b.WriteString(after)
					if want := cat.Text(lang, id, m); b.String() != want {
						t.Errorf("%s %s at %s with %v: %q, Text gives %q", lang, id, name, v, b.String(), want)
					}
				}
			}
		}
	}
	if split < 20 {
		t.Errorf("only %d texts split", split)
	}
	c := &Catalog{langs: map[string]map[string]*entry{Source: {}}}
	for id, src := range map[string]string{"twice": "{{.a}} {{.a}}", "if": "{{if .a}}{{.a}}{{end}}", "none": "가나다", "pipe": "{{.a | print}}"} {
		c.add(Source, &i18n.Message{ID: id, Other: src})
		if _, _, ok := c.Around(Source, id, "a", nil); ok {
			t.Errorf("%q split at a", src)
		}
	}
}
