package locale

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/claimbot/claimbot/internal/flow"
)

// Translation is one entry of a message file: the translated text and the
// hash of the Korean text it was translated from.
type Translation struct {
	Hash  string
	Other string
}

// ReadTranslations reads a message file (locales/<flow>.<lang>.yaml or
// bot.<lang>.yaml) into message id → translation. An entry may be a map
// with hash and other, or a plain string (no hash). A file that does not
// exist is an error that wraps fs.ErrNotExist.
func ReadTranslations(path string) (map[string]Translation, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("translations: %w", err)
	}
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(buf, &raw); err != nil {
		return nil, fmt.Errorf("translations: %s: %w", path, err)
	}
	out := make(map[string]Translation, len(raw))
	for id, n := range raw {
		var t Translation
		switch n.Kind {
		case yaml.ScalarNode:
			t.Other = n.Value
		case yaml.MappingNode:
			var m struct{ Hash, Other string }
			if err := n.Decode(&m); err != nil {
				return nil, fmt.Errorf("translations: %s:%d:%d: %s: %w", path, n.Line, n.Column, id, err)
			}
			t = Translation{Hash: m.Hash, Other: m.Other}
		default:
			return nil, fmt.Errorf("translations: %s:%d:%d: %s: want a text or a map with hash and other", path, n.Line, n.Column, id)
		}
		out[id] = t
	}
	return out, nil
}

// Stub returns the message file of flow f in lang, for translators: every
// text of the flow in order, its Korean source as a comment, its hash and
// its translation. A text already in existing keeps its translation, and
// its old hash when that is stale (so lint still reports it) unless the
// translation is empty; a new text gets the hash of its Korean source and
// an empty translation. Entries of existing that the flow no longer has
// are left out. The output depends only on its arguments.
func Stub(f *flow.Flow, lang string, existing map[string]Translation) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# The %s texts of flow %s. Made by `claimbot translate`; keep this format.\n", lang, f.ID)
	b.WriteString("# Above each entry is its Korean source. Translate it in `other` and leave\n")
	b.WriteString("# `hash` alone: it is the hash of the Korean translated. When lint says an\n")
	b.WriteString("# entry is stale, update `other` and set `hash` to the one lint gives.\n")
	for _, t := range f.Texts() {
		hash, other := Hash(t.Source), ""
		if old, ok := existing[t.ID]; ok && old.Other != "" {
			hash, other = old.Hash, old.Other
		}
		b.WriteString("\n")
		for _, line := range strings.Split(t.Source, "\n") {
			b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
		b.Write(stubEntry(t.ID, hash, other))
	}
	return b.Bytes()
}

// stubEntry encodes one message with yaml.v3, so that any text (templates
// {{.x}}, quotes, colons, several lines) reads back as it was.
func stubEntry(id, hash, other string) []byte {
	style := yaml.DoubleQuotedStyle
	if strings.Contains(other, "\n") {
		style = yaml.LiteralStyle
	}
	scalar := func(v string, s yaml.Style) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: s}
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		scalar(id, 0),
		{Kind: yaml.MappingNode, Content: []*yaml.Node{
			scalar("hash", 0), scalar(hash, 0),
			scalar("other", 0), scalar(other, style),
		}},
	}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		// Encoding a tree of string scalars cannot fail.
		panic("locale: encode " + id + ": " + err.Error())
	}
	_ = enc.Close()
	return unescapeWide(b.Bytes())
}

// unescapeWide writes back as themselves the characters beyond U+FFFF
// (emoji: 📎) that yaml.v3 escapes as \UXXXXXXXX in a double-quoted
// scalar, so a translator reads the 📎 they are to keep. YAML reads either
// form as the same text; an escaped backslash followed by a U is left as
// it is.
func unescapeWide(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\U`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'U' && i+10 <= len(b) {
			if r, err := strconv.ParseUint(string(b[i+2:i+10]), 16, 32); err == nil && unicode.IsPrint(rune(r)) {
				out = utf8.AppendRune(out, rune(r))
				i += 9
				continue
			}
		}
		out = append(out, b[i], b[i+1]) // this escape, or an escaped backslash, as it was
		i++
	}
	return out
}
