// Package convo runs scripted conversations (CONTRACT §5): the
// *.convo.yaml files testers write under flows/, played against the real
// engine and store in-process or against a running server over its
// WebSocket, with the claims they file checked as the backend would receive
// them. It also holds the terminal chat of `claimbot chat`, which can save
// what was typed as such a script.
//
// A script:
//
//	name: 소상공인 - 매출 손실 25만원은 3만원 구간
//	flow: damage-1015          # optional: the default flow
//	lang: ko                   # optional: ko or en
//	steps:
//	  - bot: 개인정보           # the reply's messages contain this
//	  - bot: /매출.*손실/        # … or match this regular expression
//	  - bot: {field: loss_amount, invalid: true}
//	  - user: 25만원            # type text
//	  - choose: "yes"          # press the quick reply whose value is yes
//	  - command: back          # back, restart or handoff, as a command frame
//	  - attach: files/확인서.pdf  # upload this file (relative to the script) and attach it
//	claim:                     # answers the filed claim must hold
//	  loss_amount: 250000
//	  business_number: ~       # null: the key must be absent
//
// A bot map may hold state, field, input, invalid, done, text (a
// substring of the messages) and choices (labels, or values, that must all
// be offered). Several bot steps in a row check the same reply. `claim:
// none` says no claim may be filed; otherwise the last claim filed is
// checked.
//
// An attach step uploads its file over tus, as the chat page does, to the
// upload endpoint the current files question names, as the conversation's
// user, and sends a file frame naming the upload. A file whose bytes the
// server refuses (a type it does not take) is still named in a file frame,
// so the bot's refusal can be checked. Fixture files live in a folder under
// flows/ (flows/files/): flow loading and lint read only *.yaml directly in
// flows/, and no fixture is a *.convo.yaml.
package convo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Script is one scripted conversation.
type Script struct {
	File  string // the path it was read from
	Name  string
	Flow  string // empty: the default flow
	Lang  string // empty: ko
	Steps []Step

	// Claim is the subset of the filed answers the script expects; a nil
	// value means the key must be absent. NoClaim is `claim: none`.
	Claim     map[string]any
	ClaimKeys []string // Claim's keys in file order
	NoClaim   bool
	ClaimLine int
}

// Kind is what a step does.
type Kind int

// The kinds of step.
const (
	Bot     Kind = iota // check the last reply
	User                // type text
	Choose              // press a quick reply
	Command             // back or restart
	Attach              // upload a file and attach it
)

var kindNames = map[Kind]string{Bot: "bot", User: "user", Choose: "choose", Command: "command", Attach: "attach"}

func (k Kind) String() string { return kindNames[k] }

// Step is one line of a script.
type Step struct {
	Kind   Kind
	Line   int
	Text   string  // User: the text; Choose: the value; Command: the name; Attach: the path as written
	Path   string  // Attach: the file, relative to the working folder
	Expect *Expect // Bot
}

// Expect is what a bot step checks. Nil fields are not checked.
type Expect struct {
	Substr  *string        // the joined messages contain it
	Regexp  *regexp.Regexp // the joined messages match it
	State   *string
	Field   *string
	Input   *string
	Invalid *bool
	Done    *bool
	Choices []string // labels (or values) that must all be offered
	Source  string   // as written, for reports
}

// Problem is something wrong in a script file.
type Problem struct {
	File      string
	Line, Col int
	Msg       string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
	}
	return p.File + ": " + p.Msg
}

// Problems are every problem of a file; as an error, one per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Inputs are the input kinds a reply may name (CONTRACT §2).
var Inputs = []string{"choice", "text", "email", "phone", "amount", "business_number", "confirm", "files", "none"}

// Commands are the command names of a command step.
var Commands = []string{"back", "restart", "handoff"}

// Suffix is the file name ending of scripts.
const Suffix = ".convo.yaml"

// Find lists the scripts under the paths: a file is taken as it is, a
// folder is searched (recursively) for *.convo.yaml. The result is sorted
// per path and free of duplicates.
func Find(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("convo: %w", err)
		}
		var found []string
		if !fi.IsDir() {
			found = []string{p}
		} else {
			err := filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.HasSuffix(d.Name(), Suffix) {
					found = append(found, path)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("convo: %w", err)
			}
			sort.Strings(found)
		}
		for _, f := range found {
			if !seen[filepath.Clean(f)] {
				seen[filepath.Clean(f)] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// Parse reads a script. Every problem of the file comes back at once, each
// with its file:line:col.
func Parse(path string) (*Script, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("convo: %w", err)
	}
	return ParseBytes(path, src)
}

// ParseBytes reads a script from src; path names it in problems.
func ParseBytes(path string, src []byte) (s *Script, err error) {
	p := &parser{file: path}
	defer func() {
		// yaml.v3 has panicked on some malformed input: a problem, not a crash.
		if r := recover(); r != nil {
			s, err = nil, Problems{{File: path, Msg: fmt.Sprintf("yaml: cannot read the file: %v", r)}}
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		p.yamlError(err)
		return nil, p.probs
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.errorf(nil, "empty file: want name, steps and an optional claim")
		return nil, p.probs
	}
	s = p.script(doc.Content[0])
	if len(p.probs) > 0 {
		return nil, p.probs
	}
	return s, nil
}

type parser struct {
	file  string
	probs Problems
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	pr := Problem{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.probs = append(p.probs, pr)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns yaml.v3's "yaml: line 3: did not find expected key" into
// a problem at that line.
func (p *parser) yamlError(err error) {
	for _, msg := range strings.Split(err.Error(), "\n") {
		msg = strings.TrimSpace(msg)
		if msg == "" || msg == "yaml: unmarshal errors:" {
			continue
		}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			if strings.HasPrefix(m[2], "did not find expected") {
				line++ // yaml.v3 counts the lines of parser errors from 0
			}
			p.probs = append(p.probs, Problem{File: p.file, Line: line, Col: 1, Msg: "yaml: " + m[2]})
			continue
		}
		p.probs = append(p.probs, Problem{File: p.file, Msg: msg})
	}
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
}

// str reads a scalar as its text; numbers and booleans are taken as typed.
func (p *parser) str(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s: want text, got %s", key, kindOf(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, key string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "%s: want true or false, got %q", key, n.Value)
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "%s: %v", key, err)
		return false, false
	}
	return b, true
}

// pairs walks a mapping, reporting unknown and repeated keys.
func (p *parser) pairs(n *yaml.Node, what string, known []string, each func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a map, got %s", what, kindOf(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !contains(known, k.Value):
			p.errorf(k, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(known, ", "))
		case seen[k.Value]:
			p.errorf(k, "%s: %q given twice", what, k.Value)
		default:
			seen[k.Value] = true
			each(k, v)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) script(n *yaml.Node) *Script {
	s := &Script{File: p.file}
	var steps *yaml.Node
	p.pairs(n, "script", []string{"name", "flow", "lang", "steps", "claim"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			s.Name, _ = p.str(v, "name")
		case "flow":
			s.Flow, _ = p.str(v, "flow")
		case "lang":
			if l, ok := p.str(v, "lang"); ok {
				if l != "ko" && l != "en" {
					p.errorf(v, "lang: want ko or en, got %q", l)
				}
				s.Lang = l
			}
		case "steps":
			steps = v
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "steps: want a list, got %s", kindOf(v))
				return
			}
			for _, st := range v.Content {
				if step, ok := p.step(st); ok {
					s.Steps = append(s.Steps, step)
				}
			}
		case "claim":
			p.claim(s, k, v)
		}
	})
	if n.Kind != yaml.MappingNode {
		return s
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(p.file), Suffix)
	}
	if steps == nil {
		p.errorf(n, "script: no steps")
	} else if len(steps.Content) == 0 {
		p.errorf(steps, "steps: the list is empty")
	}
	return s
}

func (p *parser) step(n *yaml.Node) (Step, bool) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		p.errorf(n, "step: want one of bot:, user:, choose:, command:, attach:, got %s", kindOf(n))
		if n.Kind == yaml.MappingNode && len(n.Content) > 2 {
			p.probs[len(p.probs)-1].Msg = "step: one key per step, got " + strconv.Itoa(len(n.Content)/2) + " (start another step with -)"
		}
		return Step{}, false
	}
	k, v := n.Content[0], n.Content[1]
	st := Step{Line: k.Line}
	switch k.Value {
	case "bot":
		st.Kind = Bot
		e, ok := p.expect(v)
		st.Expect = e
		return st, ok
	case "user":
		st.Kind = User
		t, ok := p.str(v, "user")
		st.Text = t
		return st, ok
	case "choose":
		st.Kind = Choose
		t, ok := p.str(v, "choose")
		if ok && t == "" {
			p.errorf(v, "choose: want a choice value")
			ok = false
		}
		st.Text = t
		return st, ok
	case "command":
		st.Kind = Command
		t, ok := p.str(v, "command")
		if ok && !contains(Commands, t) {
			p.errorf(v, "command: want back, restart or handoff, got %q", t)
			ok = false
		}
		st.Text = t
		return st, ok
	case "attach":
		st.Kind = Attach
		t, ok := p.str(v, "attach")
		if !ok {
			return st, false
		}
		st.Text, st.Path = t, p.attachPath(v, t)
		return st, st.Path != ""
	}
	p.errorf(k, "step: unknown key %q (want bot, user, choose, command or attach)", k.Value)
	return Step{}, false
}

// attachPath resolves an attach step's file against the script's folder
// and checks that it is a file; "" when not.
func (p *parser) attachPath(n *yaml.Node, name string) string {
	if name == "" {
		p.errorf(n, "attach: want the path of a file, relative to the script")
		return ""
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.file), filepath.FromSlash(name))
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.errorf(n, "attach: no such file %q (the path is relative to the script: %s)", name, path)
		return ""
	case err != nil:
		p.errorf(n, "attach: %q: %v", name, err)
		return ""
	case !fi.Mode().IsRegular():
		p.errorf(n, "attach: %q is not a file", name)
		return ""
	}
	return path
}

func (p *parser) expect(n *yaml.Node) (*Expect, bool) {
	before := len(p.probs)
	e := &Expect{}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		v := n.Value
		e.Source = strconv.Quote(v)
		if len(v) >= 2 && strings.HasPrefix(v, "/") && strings.HasSuffix(v, "/") {
			re, err := regexp.Compile(v[1 : len(v)-1])
			if err != nil {
				p.errorf(n, "bot: bad regular expression %s: %v", v, err)
				return nil, false
			}
			e.Regexp, e.Source = re, v
			return e, true
		}
		if v == "" {
			p.errorf(n, "bot: empty text checks nothing")
			return nil, false
		}
		e.Substr = &v
		return e, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "bot: want text, /regexp/ or a map of state, field, input, invalid, done, text, choices; got %s", kindOf(n))
		return nil, false
	}
	var src []string
	known := []string{"state", "field", "input", "invalid", "done", "text", "choices"}
	p.pairs(n, "bot", known, func(k, v *yaml.Node) {
		str := func() *string {
			s, ok := p.str(v, "bot: "+k.Value)
			if !ok {
				return nil
			}
			src = append(src, k.Value+": "+v.Value)
			return &s
		}
		switch k.Value {
		case "state":
			e.State = str()
		case "field":
			e.Field = str()
		case "input":
			e.Input = str()
			if e.Input != nil && !contains(Inputs, *e.Input) {
				p.errorf(v, "bot: input: want one of %s, got %q", strings.Join(Inputs, ", "), *e.Input)
			}
		case "text":
			e.Substr = str()
			if e.Substr != nil && *e.Substr == "" {
				p.errorf(v, "bot: text: empty text checks nothing")
			}
		case "invalid", "done":
			b, ok := p.boolean(v, "bot: "+k.Value)
			if !ok {
				return
			}
			if k.Value == "invalid" {
				e.Invalid = &b
			} else {
				e.Done = &b
			}
			src = append(src, k.Value+": "+strconv.FormatBool(b))
		case "choices":
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			var labels []string
			for _, it := range items {
				if l, ok := p.str(it, "bot: choices"); ok {
					e.Choices = append(e.Choices, l)
					labels = append(labels, l)
				}
			}
			src = append(src, "choices: ["+strings.Join(labels, ", ")+"]")
		}
	})
	if len(p.probs) > before {
		return nil, false
	}
	if len(src) == 0 {
		p.errorf(n, "bot: the map checks nothing")
		return nil, false
	}
	e.Source = "{" + strings.Join(src, ", ") + "}"
	return e, true
}

func (p *parser) claim(s *Script, k, v *yaml.Node) {
	s.ClaimLine = k.Line
	if v.Kind == yaml.ScalarNode {
		if v.Value == "none" && v.Tag == "!!str" {
			s.NoClaim = true
			return
		}
		got := strconv.Quote(v.Value)
		if v.Tag == "!!null" {
			got = "nothing"
		}
		p.errorf(v, "claim: want a map of answers or none, got %s", got)
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "claim: want a map of answers or none, got %s", kindOf(v))
		return
	}
	s.Claim = map[string]any{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		if _, dup := s.Claim[key.Value]; dup {
			p.errorf(key, "claim: %q given twice", key.Value)
			continue
		}
		x, err := scalar(val)
		if err != nil {
			p.errorf(val, "claim: %s: %v", key.Value, err)
			continue
		}
		s.Claim[key.Value] = x
		s.ClaimKeys = append(s.ClaimKeys, key.Value)
	}
	if len(s.ClaimKeys) == 0 && len(p.probs) == 0 {
		p.errorf(v, "claim: the map is empty (write claim: none for no claim)")
	}
}

// scalar decodes an answer as the webhook's JSON would carry it.
func scalar(n *yaml.Node) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("want a single value, got %s", kindOf(n))
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, errors.New("number out of range")
		}
		return i, nil
	case "!!float":
		var f float64
		err := n.Decode(&f)
		return f, err
	case "!!str":
		return n.Value, nil
	}
	return nil, fmt.Errorf("unsupported value %s", n.ShortTag())
}
