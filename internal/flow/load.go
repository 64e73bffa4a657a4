package flow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	idRE       = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	flowIDRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// LoadDir loads every *.yaml flow directly in dir (not *.convo.yaml and not
// sub-folders). It returns the flows that have no errors and every problem.
func LoadDir(dir string) (map[string]*Flow, Problems) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Problems{{File: dir, Msg: err.Error()}}
	}
	flows := map[string]*Flow{}
	var all Problems
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !IsFlowFile(name) {
			continue
		}
		f, ps := Load(filepath.Join(dir, name))
		all = append(all, ps...)
		if f != nil && len(ps.Errors()) == 0 {
			flows[f.ID] = f
		}
	}
	if len(flows) == 0 && len(all.Errors()) == 0 {
		all = append(all, Problem{File: dir, Msg: "no flow files (*.yaml) found"})
	}
	all.Sort()
	return flows, all
}

// IsFlowFile reports whether a file name is a flow file.
func IsFlowFile(name string) bool {
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) &&
		!strings.HasSuffix(name, ".convo.yaml") && !strings.HasSuffix(name, ".convo.yml")
}

// Load reads and checks one flow file.
func Load(path string) (*Flow, Problems) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	return Parse(path, src)
}

// Parse checks a flow's source. Problems carry file:line:col. The flow is
// returned even with problems (nil only when it cannot be read at all);
// callers use it only when Problems.Errors() is empty.
func Parse(path string, src []byte) (*Flow, Problems) {
	p := &parser{file: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		p.yamlError(err)
		return nil, p.problems
	}
	if len(doc.Content) == 0 {
		p.errorf(Pos{1, 1}, "", "the file is empty")
		return nil, p.problems
	}
	stem := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
	f := &Flow{ID: stem, Path: path, Source: src, Version: Version(src), States: map[string]*State{}, Fields: map[string]*State{}}
	p.flow(doc.Content[0], f)
	p.check(f) // even after syntax problems: staff fix them all at once
	p.problems.Sort()
	return f, p.problems
}

type parser struct {
	file     string
	problems Problems
}

func (p *parser) errorf(pos Pos, state, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Pos: pos, State: state, Msg: fmt.Sprintf(format, args...)})
}

// warnf reports a warning: the flow loads, and lint --strict fails.
func (p *parser) warnf(pos Pos, state, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Pos: pos, State: state, Msg: fmt.Sprintf(format, args...), Warning: true})
}

func (p *parser) yamlError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			p.yamlLine(e)
		}
		return
	}
	p.yamlLine(err.Error())
}

func (p *parser) yamlLine(msg string) {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errorf(Pos{line, 1}, "", "yaml: %s", m[2])
		return
	}
	p.errorf(Pos{}, "", "%s", msg)
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// mapping walks a mapping node, reporting unknown and repeated keys.
func (p *parser) mapping(n *yaml.Node, state, what string, known map[string]func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(pos(n), state, "%s: want a map of keys, got %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errorf(pos(k), state, "%s: key %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		fn, ok := known[k.Value]
		if !ok {
			p.errorf(pos(k), state, "%s: unknown key %q (known: %s)", what, k.Value, keyList(known))
			continue
		}
		fn(k, v)
	}
}

func keyList(m map[string]func(k, v *yaml.Node)) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func (p *parser) str(n *yaml.Node, state, key string) string {
	if n.Kind != yaml.ScalarNode {
		p.errorf(pos(n), state, "%s: want text, got %s", key, kindName(n))
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, state, key string) bool {
	s := p.str(n, state, key)
	switch s {
	case "true", "yes":
		return true
	case "false", "no", "":
		return false
	}
	p.errorf(pos(n), state, "%s: want true or false, got %q", key, s)
	return false
}

func (p *parser) integer(n *yaml.Node, state, key string) int64 {
	s := strings.ReplaceAll(p.str(n, state, key), "_", "")
	v, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil && s != "" {
		p.errorf(pos(n), state, "%s: want a whole number, got %q", key, s)
	}
	return v
}

// strs reads a string or a list of strings.
func (p *parser) strs(n *yaml.Node, state, key string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(pos(n), state, "%s: want text or a list of texts, got %s", key, kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		out = append(out, p.str(c, state, key))
	}
	return out
}

func (p *parser) text(f *Flow, n *yaml.Node, state, key, id string) Text {
	src := p.str(n, state, key)
	t := Text{ID: f.ID + "." + id, Source: src, Pos: pos(n)}
	if strings.Contains(src, "{{") {
		tmpl, err := template.New(t.ID).Option("missingkey=zero").Parse(src)
		if err != nil {
			p.errorf(pos(n), state, "%s: %v", key, err)
		}
		t.Tmpl = tmpl
	}
	return t
}

func (p *parser) flow(n *yaml.Node, f *Flow) {
	var statesNode *yaml.Node
	p.mapping(n, "", "flow", map[string]func(k, v *yaml.Node){
		"flow": func(k, v *yaml.Node) {
			id := p.str(v, "", "flow")
			if id != f.ID {
				p.errorf(pos(v), "", "flow: id %q differs from the file name %q: name the file %s.yaml", id, f.ID, id)
			}
		},
		"title":   func(k, v *yaml.Node) { f.Title = p.text(f, v, "", "title", "title") },
		"start":   func(k, v *yaml.Node) { f.Start = p.str(v, "", "start") },
		"intake":  func(k, v *yaml.Node) { f.Intake = p.intake(f, v) },
		"handoff": func(k, v *yaml.Node) { f.Handoff = p.handoff(f, v) },
		"states":  func(k, v *yaml.Node) { statesNode = v },
	})
	if !flowIDRE.MatchString(f.ID) {
		p.errorf(Pos{1, 1}, "", "flow id %q: use lower-case letters, digits, - and _", f.ID)
	}
	if statesNode == nil {
		p.errorf(pos(n), "", "flow: no states")
		return
	}
	if f.Start == "" {
		p.errorf(pos(n), "", "flow: no start state (start: <state id>)")
	}
	if statesNode.Kind != yaml.MappingNode {
		p.errorf(pos(statesNode), "", "states: want a map of state ids, got %s", kindName(statesNode))
		return
	}
	for i := 0; i+1 < len(statesNode.Content); i += 2 {
		k, v := statesNode.Content[i], statesNode.Content[i+1]
		id := k.Value
		if !idRE.MatchString(id) {
			p.errorf(pos(k), id, "state ids are lower-case ASCII snake_case (Korean goes into say and label)")
		}
		if id == ValueHandoff {
			p.errorf(pos(k), id, "the state id handoff is the bot's own (the call-back question)")
		}
		if _, dup := f.States[id]; dup {
			p.errorf(pos(k), id, "state given twice")
			continue
		}
		s := p.state(f, id, v)
		s.Pos = pos(k)
		f.States[id] = s
		f.Order = append(f.Order, id)
	}
}

func (p *parser) intake(f *Flow, n *yaml.Node) *Window {
	w := &Window{}
	// A date without a time is the whole day: opens at its start, closes
	// at its end (24:00, the next day's 00:00), so "closes: 2022-11-06"
	// still takes claims on 6 November, as staff who write it mean.
	parse := func(v *yaml.Node, key string) time.Time {
		s := p.str(v, "", "intake."+key)
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", dateOnly} {
			if t, err := time.ParseInLocation(layout, s, kst); err == nil {
				if layout == dateOnly && key == "closes" {
					t = t.AddDate(0, 0, 1)
				}
				return t
			}
		}
		p.errorf(pos(v), "", "intake.%s: want a date like 2022-10-19 or 2022-10-19T09:00:00+09:00, got %q", key, s)
		return time.Time{}
	}
	p.mapping(n, "", "intake", map[string]func(k, v *yaml.Node){
		"opens":  func(k, v *yaml.Node) { w.Opens = parse(v, "opens") },
		"closes": func(k, v *yaml.Node) { w.Closes = parse(v, "closes") },
		"closed": func(k, v *yaml.Node) {
			t := p.text(f, v, "", "intake.closed", "intake.closed")
			w.Closed = &t
			for _, name := range templateFields(t) {
				if !closedKeys[name] {
					p.errorf(pos(v), "", "intake.closed: {{.%s}}: this text knows only {{.opens}}, {{.closes}} and {{.ended}}", name)
				}
			}
		},
	})
	if !w.Opens.IsZero() && !w.Closes.IsZero() && !w.Opens.Before(w.Closes) {
		p.errorf(pos(n), "", "intake: opens must come before closes")
	}
	return w
}

// handoff reads a flow's handoff settings.
func (p *parser) handoff(f *Flow, n *yaml.Node) Handoff {
	var h Handoff
	text := func(v *yaml.Node, key string, names map[string]bool) *Text {
		t := p.text(f, v, "", "handoff."+key, "handoff."+key)
		for _, name := range templateFields(t) {
			if !names[name] {
				p.errorf(pos(v), "", "handoff.%s: {{.%s}}: this text knows no such value", key, name)
			}
		}
		return &t
	}
	p.mapping(n, "", "handoff", map[string]func(k, v *yaml.Node){
		"off":       func(k, v *yaml.Node) { h.Off = p.boolean(v, "", "handoff.off") },
		"centre":    func(k, v *yaml.Node) { h.Centre = text(v, "centre", nil) },
		"phone":     func(k, v *yaml.Node) { h.Phone = text(v, "phone", nil) },
		"requested": func(k, v *yaml.Node) { h.Requested = text(v, "requested", map[string]bool{"phone": true}) },
	})
	return h
}

// closedKeys are the names the intake's closed text may use (see the
// engine's closed reply): no answers are shown there.
var closedKeys = map[string]bool{"opens": true, "closes": true, "ended": true}

// dateOnly is the layout of an intake date without a time.
const dateOnly = "2006-01-02"

// kst is Korea Standard Time: dates without a zone in flow files are Korean.
var kst = time.FixedZone("KST", 9*60*60)

func (p *parser) state(f *Flow, id string, n *yaml.Node) *State {
	s := &State{ID: id, keyPos: map[string]Pos{}}
	at := func(k *yaml.Node) { s.keyPos[k.Value] = pos(k) }
	p.mapping(n, id, "state", map[string]func(k, v *yaml.Node){
		"say": func(k, v *yaml.Node) {
			at(k)
			if v.Kind == yaml.ScalarNode {
				s.Say = append(s.Say, p.text(f, v, id, "say", id+".say"))
				return
			}
			if v.Kind != yaml.SequenceNode {
				p.errorf(pos(v), id, "say: want text or a list of texts")
				return
			}
			for i, c := range v.Content {
				s.Say = append(s.Say, p.text(f, c, id, "say", fmt.Sprintf("%s.say.%d", id, i)))
			}
		},
		"ask": func(k, v *yaml.Node) {
			at(k)
			s.Ask = Input(p.str(v, id, "ask"))
			ok := false
			for _, in := range Inputs {
				ok = ok || in == s.Ask
			}
			if !ok {
				p.errorf(pos(v), id, "ask: unknown input kind %q (one of %s)", s.Ask, inputList())
			}
		},
		"save":     func(k, v *yaml.Node) { at(k); s.Save = p.str(v, id, "save") },
		"label":    func(k, v *yaml.Node) { at(k); s.Label = p.text(f, v, id, "label", id+".label") },
		"choices":  func(k, v *yaml.Node) { at(k); s.Choices = p.choices(f, s, v) },
		"min":      func(k, v *yaml.Node) { at(k); s.Min = p.integer(v, id, "min") },
		"max":      func(k, v *yaml.Node) { at(k); s.Max = p.integer(v, id, "max") },
		"invalid":  func(k, v *yaml.Node) { at(k); t := p.text(f, v, id, "invalid", id+".invalid"); s.Invalid = &t },
		"tries":    func(k, v *yaml.Node) { at(k); s.Tries = int(p.integer(v, id, "tries")) },
		"fallback": func(k, v *yaml.Node) { at(k); s.Fallback = p.str(v, id, "fallback") },
		"set": func(k, v *yaml.Node) {
			at(k)
			if v.Kind != yaml.MappingNode {
				p.errorf(pos(v), id, "set: want a map of answer key: expression")
			}
			for i := 0; v.Kind == yaml.MappingNode && i+1 < len(v.Content); i += 2 {
				kk, vv := v.Content[i], v.Content[i+1]
				s.Set = append(s.Set, Assign{Key: kk.Value, Expr: p.str(vv, id, "set."+kk.Value), Pos: pos(vv)})
			}
		},
		"next":   func(k, v *yaml.Node) { at(k); s.Next = p.next(s, v) },
		"end":    func(k, v *yaml.Node) { at(k); s.End = p.boolean(v, id, "end") },
		"submit": func(k, v *yaml.Node) { at(k); s.Submit = p.boolean(v, id, "submit") },
		"except": func(k, v *yaml.Node) { at(k); s.Except = p.strs(v, id, "except") },
		"files":  func(k, v *yaml.Node) { at(k); s.Files = p.files(s, v) },
	})
	if s.Ask != "" && s.Ask != InputSummary && s.Save == "" {
		s.Save = id
	}
	if s.Ask == InputFiles && s.Files == nil {
		s.Files = &Files{Pos: s.Pos}
	}
	if fs := s.Files; fs != nil {
		if fs.MaxFiles == 0 {
			fs.MaxFiles = DefaultMaxFiles
		}
		if fs.MaxBytes == 0 {
			fs.MaxBytes = DefaultMaxBytes
		}
		if len(fs.Accept) == 0 {
			fs.Accept = append([]string(nil), DefaultAccept...)
		}
	}
	return s
}

// files reads a files question's limits: max_files, max_bytes (a number
// of bytes, or with KB, MB, KiB, MiB) and accept (MIME types).
func (p *parser) files(s *State, n *yaml.Node) *Files {
	fs := &Files{Pos: pos(n)}
	p.mapping(n, s.ID, "files", map[string]func(k, v *yaml.Node){
		"max_files": func(k, v *yaml.Node) { fs.MaxFiles = int(p.integer(v, s.ID, "max_files")); fs.Pos = pos(v) },
		"max_bytes": func(k, v *yaml.Node) {
			n, err := parseBytes(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode {
				p.errorf(pos(v), s.ID, "files.max_bytes: want a size such as 20MiB or 5000000, not %q", v.Value)
				return
			}
			fs.MaxBytes = n
		},
		"accept": func(k, v *yaml.Node) { fs.Accept = p.strs(v, s.ID, "files.accept") },
	})
	return fs
}

// parseBytes reads 20MiB, 20 MB, 500KB or 5000000.
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

func inputList() string {
	names := make([]string, len(Inputs))
	for i, in := range Inputs {
		names[i] = string(in)
	}
	return strings.Join(names, ", ")
}

func (p *parser) choices(f *Flow, s *State, n *yaml.Node) []Choice {
	if n.Kind != yaml.SequenceNode {
		p.errorf(pos(n), s.ID, "choices: want a list")
		return nil
	}
	var out []Choice
	for _, cn := range n.Content {
		c := Choice{Pos: pos(cn)}
		var labelNode *yaml.Node
		p.mapping(cn, s.ID, "choice", map[string]func(k, v *yaml.Node){
			"value": func(k, v *yaml.Node) { c.Value = p.str(v, s.ID, "value") },
			"label": func(k, v *yaml.Node) { labelNode = v },
			"short": func(k, v *yaml.Node) { c.Short = p.str(v, s.ID, "short") },
			"also":  func(k, v *yaml.Node) { c.Also = p.strs(v, s.ID, "also") },
			"to":    func(k, v *yaml.Node) { c.To = p.str(v, s.ID, "to") },
		})
		if labelNode != nil {
			c.Label = p.str(labelNode, s.ID, "label")
		}
		out = append(out, c)
	}
	return out
}

func (p *parser) next(s *State, n *yaml.Node) []Branch {
	if n.Kind == yaml.ScalarNode {
		return []Branch{{To: n.Value, Pos: pos(n)}}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(pos(n), s.ID, "next: want a state id or a list of {if, to}")
		return nil
	}
	var out []Branch
	for _, bn := range n.Content {
		b := Branch{Pos: pos(bn)}
		p.mapping(bn, s.ID, "next", map[string]func(k, v *yaml.Node){
			"if": func(k, v *yaml.Node) { b.If = p.str(v, s.ID, "if") },
			"to": func(k, v *yaml.Node) { b.To = p.str(v, s.ID, "to"); b.Pos = pos(v) },
		})
		out = append(out, b)
	}
	return out
}
