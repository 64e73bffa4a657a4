// Package locale holds the bot's texts in every language, built with
// github.com/nicksnyder/go-i18n/v2 from the message files under locales/
// and the Korean source texts of the flows.
//
// Korean is the source language: flow texts are written in Korean in the
// flow files, and the bot's own texts in locales/bot.ko.yaml. Translations
// live in locales/bot.<lang>.yaml and locales/<flow>.<lang>.yaml, with flat
// message ids (damage-1015.loss_amount.say.0) and the go-i18n "hash" of the
// Korean text they were translated from, so lint can tell stale ones.
//
// A Catalog is immutable: the server builds a new one with every loaded flow
// set and swaps the pair atomically.
package locale

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v3"

	"github.com/claimbot/claimbot/internal/flow"
)

// Source is the source language.
const Source = "ko"

type entry struct {
	text  string
	hash  string // the source hash a translation was made from
	tmpl  *i18n.MessageTemplate
	parts []part // the template as literals and {{.field}}s, when that is all it is
}

// part is a literal, or a field of the template data when field is set.
type part struct{ lit, field string }

// simpleParts splits a template made only of literals and {{.field}}
// actions, which is most of them, so rendering one needs no text/template.
func simpleParts(src string) ([]part, bool) {
	var parts []part
	for src != "" {
		i := strings.Index(src, "{{")
		if i < 0 {
			parts = append(parts, part{lit: src})
			break
		}
		if i > 0 {
			parts = append(parts, part{lit: src[:i]})
		}
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			return nil, false
		}
		action := strings.TrimSpace(src[i+2 : i+j])
		name := strings.TrimPrefix(action, ".")
		if name == action || name == "" || strings.ContainsAny(name, " .|()$\"-") {
			return nil, false
		}
		parts = append(parts, part{field: name})
		src = src[i+j+2:]
	}
	return parts, true
}

func (e *entry) render(data map[string]any) string {
	var b strings.Builder
	e.write(&b, e.parts, data)
	return b.String()
}

func (e *entry) write(b *strings.Builder, parts []part, data map[string]any) {
	for _, p := range parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		WriteValue(b, data[p.field])
	}
}

// WriteValue writes a value of template data as a text made of literals
// and {{.field}}s shows it.
func WriteValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		b.WriteString(v)
	case nil:
	default:
		fmt.Fprint(b, v)
	}
}

// Around splits message id in lang at its one {{.field}}: Text(lang, id,
// m) is before, then m[field] as WriteValue writes it, then after, for
// every m that holds what data holds besides field. ok is false when the
// text is not made of literals and {{.field}}s only, or has field other
// than once; the caller then renders it with Text.
func (c *Catalog) Around(lang, id, field string, data map[string]any) (before, after string, ok bool) {
	e := c.langs[lang][id]
	if e == nil {
		e = c.langs[Source][id]
	}
	if e == nil || e.tmpl == nil || e.parts == nil {
		return "", "", false
	}
	at := -1
	for i, p := range e.parts {
		if p.field == field {
			if at >= 0 {
				return "", "", false
			}
			at = i
		}
	}
	if at < 0 {
		return "", "", false
	}
	var b, a strings.Builder
	e.write(&b, e.parts[:at], data)
	e.write(&a, e.parts[at+1:], data)
	return b.String(), a.String(), true
}

// Catalog maps language → message id → text.
type Catalog struct {
	langs  map[string]map[string]*entry
	bundle *i18n.Bundle
}

// Languages lists the catalogue's languages, the source first.
func (c *Catalog) Languages() []string {
	out := []string{Source}
	for l := range c.langs {
		if l != Source {
			out = append(out, l)
		}
	}
	sort.Strings(out[1:])
	return out
}

// Has reports whether lang has its own text for id.
func (c *Catalog) Has(lang, id string) bool { _, ok := c.langs[lang][id]; return ok }

// Constant reports whether Text(lang, id, data) is the same text whatever
// the data: the text it renders (lang's, else Korean's) is no template, or
// there is none and Text gives the id. A template counts as varying even
// when it reads nothing, so a caller may keep a constant text for good.
func (c *Catalog) Constant(lang, id string) bool {
	e := c.langs[lang][id]
	if e == nil {
		e = c.langs[Source][id]
	}
	return e == nil || e.tmpl == nil
}

// Text renders message id in lang with data (a map or struct for Go
// template actions), falling back to Korean, then to the id itself.
func (c *Catalog) Text(lang, id string, data any) string {
	e := c.langs[lang][id]
	if e == nil {
		e = c.langs[Source][id]
	}
	if e == nil {
		return id
	}
	if e.tmpl == nil {
		return e.text
	}
	if m, ok := data.(map[string]any); ok && e.parts != nil {
		return e.render(m)
	}
	out, err := e.tmpl.Execute("other", data, nil)
	if err != nil {
		return e.text
	}
	return out
}

// Hash is go-i18n's hash of a source text.
func Hash(src string) string {
	sum := sha1.Sum([]byte(src))
	return "sha1-" + hex.EncodeToString(sum[:])
}

// Load builds the catalogue from the message files in dir (bot.<lang>.yaml
// and <flow>.<lang>.yaml) and the flows' Korean texts. Problems about
// translations are warnings; a file that cannot be read is an error.
func Load(dir string, flows map[string]*flow.Flow) (*Catalog, flow.Problems) {
	c := &Catalog{langs: map[string]map[string]*entry{Source: {}}, bundle: i18n.NewBundle(language.Korean)}
	c.bundle.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	var ps flow.Problems
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, flow.Problems{{File: dir, Msg: "no message files (bot.ko.yaml, bot.en.yaml, …)"}}
	}
	sort.Strings(files)
	for _, path := range files {
		buf, err := os.ReadFile(path)
		if err != nil {
			ps = append(ps, flow.Problem{File: path, Msg: err.Error()})
			continue
		}
		mf, err := c.bundle.ParseMessageFileBytes(buf, path)
		if err != nil {
			ps = append(ps, flow.Problem{File: path, Msg: "messages: " + err.Error()})
			continue
		}
		lang := baseLang(mf.Tag)
		for _, m := range mf.Messages {
			c.add(lang, m)
		}
	}
	// The flows' Korean texts are the source; they win over any file.
	ids := make([]string, 0, len(flows))
	for id := range flows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, t := range flows[id].Texts() {
			m := &i18n.Message{ID: t.ID, Other: t.Source}
			c.add(Source, m)
			if err := c.bundle.AddMessages(language.Korean, m); err != nil {
				ps = append(ps, flow.Problem{File: flows[id].Path, Pos: t.Pos, Msg: err.Error()})
			}
		}
	}
	for _, p := range c.checkBot() {
		ps = append(ps, flow.Problem{File: filepath.Join(dir, "bot."+p.lang+".yaml"), Msg: p.msg, Warning: p.warning})
	}
	for _, id := range ids {
		ps = append(ps, c.CheckFlow(dir, flows[id])...)
	}
	ps.Sort()
	return c, ps
}

func baseLang(t language.Tag) string {
	b, _ := t.Base()
	return b.String()
}

func (c *Catalog) add(lang string, m *i18n.Message) {
	if lang != Source && strings.TrimSpace(m.Other) == "" {
		return // not translated yet: fall back to Korean, and lint says it is missing
	}
	if c.langs[lang] == nil {
		c.langs[lang] = map[string]*entry{}
	}
	e := &entry{text: m.Other, hash: m.Hash}
	if strings.Contains(m.Other, "{{") {
		e.tmpl = i18n.NewMessageTemplate(m)
		e.parts, _ = simpleParts(m.Other)
	}
	c.langs[lang][m.ID] = e
}

type botProblem struct {
	lang, msg string
	warning   bool
}

// checkBot checks the bot's own texts: every id of the Korean file exists,
// non-empty, in every other language.
func (c *Catalog) checkBot() []botProblem {
	var out []botProblem
	src := c.langs[Source]
	for _, lang := range c.Languages() {
		for id, e := range src {
			if !strings.HasPrefix(id, BotPrefix) {
				continue
			}
			t, ok := c.langs[lang][id]
			switch {
			case !ok:
				out = append(out, botProblem{lang, fmt.Sprintf("message %q: missing", id), false})
			case strings.TrimSpace(t.text) == "":
				out = append(out, botProblem{lang, fmt.Sprintf("message %q: empty", id), false})
			case lang != Source && t.hash != "" && t.hash != Hash(e.text):
				out = append(out, botProblem{lang, fmt.Sprintf("message %q: stale: the Korean text changed since it was translated", id), true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].msg < out[j].msg })
	return out
}

// CheckFlow reports the flow's texts that a language lacks (missing) or
// that were translated from an older Korean text (stale), as warnings with
// the place of the Korean text in the flow file.
func (c *Catalog) CheckFlow(dir string, f *flow.Flow) flow.Problems {
	var ps flow.Problems
	// Every question needs a refusal text: its own, or its input kind's default.
	for _, id := range f.Order {
		st := f.States[id]
		if st.Ask == "" || st.Invalid != nil {
			continue
		}
		if key := "bot.invalid." + string(st.Ask); !c.Has(Source, key) {
			ps = append(ps, flow.Problem{File: f.Path, Pos: st.Pos, State: id,
				Msg: fmt.Sprintf("no refusal text: give the state invalid:, or add %s to %s", key, filepath.Join(dir, "bot.ko.yaml"))})
		}
	}
	for _, lang := range c.Languages()[1:] {
		file := filepath.Join(dir, f.ID+"."+lang+".yaml")
		for _, t := range f.Texts() {
			e, ok := c.langs[lang][t.ID]
			switch {
			case !ok:
				ps = append(ps, flow.Problem{File: f.Path, Pos: t.Pos, Warning: true,
					Msg: fmt.Sprintf("%s: no %s translation of %q in %s", t.ID, lang, t.Source, file)})
			case e.hash != Hash(t.Source):
				ps = append(ps, flow.Problem{File: f.Path, Pos: t.Pos, Warning: true,
					Msg: fmt.Sprintf("%s: the %s translation in %s is stale (the Korean changed; hash %s)", t.ID, lang, file, Hash(t.Source))})
			}
		}
		ps = append(ps, c.checkShort(f, lang, file)...)
	}
	return ps
}

// checkShort warns about a choice whose label in lang is longer than
// channels with tight label limits take and that has no short label (the
// flow's lint checks the Korean), and about a short label's translation
// that is itself too long.
func (c *Catalog) checkShort(f *flow.Flow, lang, file string) flow.Problems {
	var ps flow.Problems
	for _, id := range f.Order {
		for _, ch := range f.States[id].Choices {
			tid := f.ChoiceID(id, ch.Value)
			if ch.Short != "" {
				tid = f.ShortID(id, ch.Value)
			}
			e, ok := c.langs[lang][tid]
			if !ok || ch.Label == "" || utf8.RuneCountInString(e.text) <= flow.ShortLabel {
				continue
			}
			msg := fmt.Sprintf("%s: the %s label %q has more than %d characters and the choice has no short label; give it short: and translate that", tid, lang, e.text, flow.ShortLabel)
			if ch.Short != "" {
				msg = fmt.Sprintf("%s: the %s short label %q in %s has more than %d characters", tid, lang, e.text, file, flow.ShortLabel)
			}
			ps = append(ps, flow.Problem{File: f.Path, Pos: ch.Pos, State: id, Warning: true, Msg: msg})
		}
	}
	return ps
}

// BotPrefix starts the ids of the bot's own texts.
const BotPrefix = "bot."
