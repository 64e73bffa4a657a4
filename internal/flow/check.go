package flow

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Event names of the state machine that are not choice values.
const (
	EventNext     = "next"
	EventFallback = "fallback"
)

// templateFields returns the names a text's template reads from its data
// ({{.x}}, {{.x.y}}, {{$.x}}), each once, in order: every field of every
// action, pipeline and branch ({{if and .ended .email}} reads ended and
// email). A field inside with or range counts too, though dot is not the
// data there: flow texts do not use them, and a lint that errs on their side
// is no harm. nil for a text without actions, or whose template did not
// parse (that error is reported already).
func templateFields(t Text) []string {
	if t.Tmpl == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.FieldNode:
			add(n.Ident[0])
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				add(n.Ident[1])
			}
		}
	}
	// The text's own tree first, then any it defines, by name.
	trees := []*template.Template{t.Tmpl}
	others := t.Tmpl.Templates()
	sort.Slice(others, func(i, j int) bool { return others[i].Name() < others[j].Name() })
	for _, o := range others {
		if o != t.Tmpl {
			trees = append(trees, o)
		}
	}
	for _, tt := range trees {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	return out
}

// TemplateKeys are the names a message may use besides answer keys.
var TemplateKeys = map[string]bool{"claim_id": true, "opens": true, "closes": true, "value": true, "label": true, "tries": true}

// check runs the semantic checks of a parsed flow and compiles its expressions.
func (p *parser) check(f *Flow) {
	if f.Start != "" && f.States[f.Start] == nil {
		p.errorf(Pos{1, 1}, "", "start: no such state %q", f.Start)
	}
	// Answer keys: one asking state each; computed keys from set.
	env := map[string]any{}
	computed := map[string]bool{}
	for _, id := range f.Order {
		s := f.States[id]
		if s.Save != "" {
			if !idRE.MatchString(s.Save) {
				p.errorf(s.keyPos["save"], id, "save: answer keys are lower-case ASCII snake_case, got %q", s.Save)
			}
			if other, dup := f.Fields[s.Save]; dup {
				p.errorf(s.keyPos["save"], id, "save: answer key %q is already asked by state %q", s.Save, other.ID)
				continue
			}
			f.Fields[s.Save] = s
			env[s.Save] = zeroOf(s.Ask)
		}
	}
	for _, id := range f.Order {
		for _, a := range f.States[id].Set {
			if !idRE.MatchString(a.Key) {
				p.errorf(a.Pos, id, "set: answer keys are lower-case ASCII snake_case, got %q", a.Key)
			}
			if s, asked := f.Fields[a.Key]; asked {
				p.errorf(a.Pos, id, "set: %q is asked by state %q; a computed answer needs its own key", a.Key, s.ID)
			}
			computed[a.Key] = true
			env[a.Key] = nil
		}
	}
	for k := range env {
		f.Keys = append(f.Keys, k)
	}
	sort.Strings(f.Keys)

	for _, id := range f.Order {
		p.checkState(f, f.States[id], env)
	}
	if len(p.problems.Errors()) > 0 {
		return
	}
	p.checkReach(f)
}

func zeroOf(in Input) any {
	switch in {
	case InputConfirm:
		return false
	case InputAmount:
		return int64(0)
	}
	return ""
}

func (p *parser) target(f *Flow, s *State, at Pos, what, to string) {
	if to == "" {
		p.errorf(at, s.ID, "%s: no state named", what)
		return
	}
	if f.States[to] == nil {
		p.errorf(at, s.ID, "%s %q: no such state%s", what, to, suggest(f, to))
	}
}

// suggest names the closest state id, for typos.
func suggest(f *Flow, to string) string {
	best, bestD := "", 3
	for id := range f.States {
		if d := distance(id, to); d < bestD || (d == bestD && id < best) {
			best, bestD = id, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of two ASCII ids.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (p *parser) checkState(f *Flow, s *State, env map[string]any) {
	id := s.ID
	kp := func(k string) Pos {
		if at, ok := s.keyPos[k]; ok {
			return at
		}
		return s.Pos
	}
	for _, t := range s.Say {
		p.checkTemplate(f, s, kp("say"), t)
	}
	switch {
	case s.End && s.Submit:
		p.errorf(kp("submit"), id, "a state either ends (end: true) or files the claim (submit: true), not both")
	case s.Terminal() && len(s.Next) > 0:
		p.errorf(kp("next"), id, "next: the conversation ends here, so next is never taken")
	case s.Terminal() && s.Ask != "":
		p.errorf(kp("ask"), id, "ask: the conversation ends here, so nothing can be asked")
	}
	if s.Ask == "" {
		for _, k := range []string{"choices", "save", "min", "max", "invalid", "tries", "fallback", "label", "except", "files"} {
			if _, ok := s.keyPos[k]; ok {
				p.errorf(kp(k), id, "%s: only a state that asks (ask: …) takes %s", k, k)
			}
		}
	}
	switch s.Ask {
	case InputChoice:
		if len(s.Choices) == 0 {
			p.errorf(kp("ask"), id, "ask: choice needs choices")
		}
	case InputConfirm:
		for _, c := range s.Choices {
			if c.Value != ValueYes && c.Value != ValueNo {
				p.errorf(c.Pos, id, "choice %q: a confirm state offers only yes and no", c.Value)
			}
		}
	case InputFiles:
		p.checkFiles(f, s, kp("files"))
	case InputSummary:
		if f.Summary != "" {
			p.errorf(kp("ask"), id, "ask: summary: the flow already has a summary in state %q", f.Summary)
		}
		f.Summary = id
		if _, ok := s.keyPos["choices"]; ok {
			p.errorf(kp("choices"), id, "choices: a summary makes its own (submit and one change button per answer)")
		}
		for _, k := range s.Except {
			if _, ok := env[k]; !ok {
				p.errorf(kp("except"), id, "except: no answer key %q", k)
			}
		}
	default:
		if len(s.Choices) > 0 && s.Ask != "" {
			p.errorf(kp("choices"), id, "choices: %s input takes typed text; use ask: choice for buttons", s.Ask)
		}
	}
	if _, ok := s.keyPos["files"]; ok && s.Ask != InputFiles && s.Ask != "" {
		p.errorf(kp("files"), id, "files: only ask: files takes file limits")
	}
	if s.Ask != InputText && s.Ask != InputAmount && (s.Min != 0 || s.Max != 0) && s.Ask != "" {
		p.errorf(kp("min"), id, "min/max: only text (length) and amount (value) take bounds")
	}
	if s.Min < 0 || (s.Max != 0 && s.Max < s.Min) {
		p.errorf(kp("min"), id, "min/max: want 0 ≤ min ≤ max")
	}
	seen := map[string]bool{}
	for i := range s.Choices {
		c := &s.Choices[i]
		switch {
		case !idRE.MatchString(c.Value):
			p.errorf(c.Pos, id, "choice %q: values are lower-case ASCII snake_case (the label holds the Korean)", c.Value)
		case c.Value == ValueBack || c.Value == ValueRestart || c.Value == ValueHandoff || c.Value == EventNext || c.Value == EventFallback || c.Value == ValueSubmit || strings.HasPrefix(c.Value, EditPrefix):
			p.errorf(c.Pos, id, "choice %q: the value is reserved for the bot's own commands", c.Value)
		case seen[c.Value]:
			p.errorf(c.Pos, id, "choice %q: given twice", c.Value)
		}
		seen[c.Value] = true
		if c.Label == "" && s.Ask == InputChoice {
			p.errorf(c.Pos, id, "choice %q: no label", c.Value)
		}
		switch n := utf8.RuneCountInString(c.Short); {
		case c.Short != "" && c.Label == "":
			p.errorf(c.Pos, id, "choice %q: short: a short label shortens the label; give the choice a label", c.Value)
		case n > ShortLabel:
			p.errorf(c.Pos, id, "choice %q: short: %q has %d characters; a short label has at most %d", c.Value, c.Short, n, ShortLabel)
		case c.Short == "" && utf8.RuneCountInString(c.Label) > ShortLabel:
			p.warnf(c.Pos, id, "choice %q: label %q has %d characters, more than the %d of the chatbot builder's quick replies; give it short: (at most %d)",
				c.Value, c.Label, utf8.RuneCountInString(c.Label), ShortLabel, ShortLabel)
		}
		if c.To != "" {
			p.target(f, s, c.Pos, fmt.Sprintf("choice %q: to", c.Value), c.To)
			c.Event = c.Value
		} else if len(s.Next) == 0 && s.Ask == InputChoice {
			p.errorf(c.Pos, id, "choice %q: leads nowhere (give it to: or give the state next:)", c.Value)
		}
	}
	if s.Fallback != "" {
		p.target(f, s, kp("fallback"), "fallback", s.Fallback)
	}
	if s.Tries < 0 {
		p.errorf(kp("tries"), id, "tries: want a positive number")
	}
	if (s.Tries > 0) != (s.Fallback != "") {
		p.errorf(kp("tries"), id, "tries and fallback go together: after tries refusals, go to fallback")
	}
	for i := range s.Set {
		a := &s.Set[i]
		prog, err := expr.Compile(a.Expr, expr.Env(env))
		if err != nil {
			p.errorf(a.Pos, id, "set %s: %s", a.Key, exprError(err))
			continue
		}
		a.prog = prog
	}
	conds := map[string]bool{}
	for i := range s.Next {
		b := &s.Next[i]
		p.target(f, s, b.Pos, "next", b.To)
		if b.If == "" {
			b.Event = EventNext
			if i != len(s.Next)-1 {
				p.errorf(b.Pos, id, "next: a branch without if must come last (the ones after it are never taken)")
			}
			continue
		}
		if conds[b.If] {
			p.errorf(b.Pos, id, "next: condition %q given twice", b.If)
		}
		conds[b.If] = true
		b.Event = "if " + b.If
		prog, err := compileCond(b.If, env)
		if err != nil {
			p.errorf(b.Pos, id, "next: if %q: %s", b.If, exprError(err))
			continue
		}
		b.prog = prog
		b.fast = fastCond(prog)
	}
	if n := len(s.Next); n > 0 && s.Next[n-1].If != "" {
		p.errorf(s.Next[n-1].Pos, id, "next: the last branch needs no if, so the conversation always goes on")
	}
	if !s.Terminal() && len(s.Next) == 0 && !allChoicesLead(s) {
		p.errorf(s.Pos, id, "no way out: give it next:, or end: true / submit: true")
	}
}

// checkFiles checks a files question: its limits, and that it is the
// flow's only one (a claim carries one list of attachments).
func (p *parser) checkFiles(f *Flow, s *State, at Pos) {
	id := s.ID
	if f.FilesState != "" {
		p.errorf(at, id, "ask: files: the flow already asks for files in state %q (a claim has one list of attachments)", f.FilesState)
	}
	f.FilesState = id
	fs := s.Files
	if fs.MaxFiles < 1 || fs.MaxFiles > MaxFilesLimit {
		p.errorf(fs.Pos, id, "files.max_files: want 1 to %d, got %d", MaxFilesLimit, fs.MaxFiles)
	}
	if fs.MaxBytes < 1 || fs.MaxBytes > MaxBytesLimit {
		p.errorf(fs.Pos, id, "files.max_bytes: want at most %d MiB, got %d bytes", MaxBytesLimit>>20, fs.MaxBytes)
	}
	seen := map[string]bool{}
	for _, t := range fs.Accept {
		ok := false
		for _, a := range AcceptableTypes {
			ok = ok || a == t
		}
		switch {
		case !ok:
			p.errorf(fs.Pos, id, "files.accept: %q is not a type the bot can tell from a file's bytes (one of %s)", t, strings.Join(AcceptableTypes, ", "))
		case seen[t]:
			p.errorf(fs.Pos, id, "files.accept: %q given twice", t)
		}
		seen[t] = true
	}
	if s.Tries != 0 || s.Fallback != "" {
		p.errorf(s.keyPos["tries"], id, "tries/fallback: a files question always offers later, so it needs no fallback")
	}
}

func allChoicesLead(s *State) bool {
	if s.Ask != InputChoice || len(s.Choices) == 0 {
		return false
	}
	for _, c := range s.Choices {
		if c.To == "" {
			return false
		}
	}
	return true
}

// compileCond compiles a branch condition against the flow's answer keys
// (env holds each key's zero value; nil for a computed one).
func compileCond(src string, env map[string]any) (*vm.Program, error) {
	return expr.Compile(src, expr.Env(env), expr.AsBool())
}

func exprError(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func (p *parser) checkTemplate(f *Flow, s *State, at Pos, t Text) {
	for _, name := range templateFields(t) {
		if _, ok := f.Fields[name]; ok || TemplateKeys[name] {
			continue
		}
		known := false
		for _, k := range f.Keys {
			known = known || k == name
		}
		if !known {
			p.errorf(at, s.ID, "say: {{.%s}}: no answer key %q", name, name)
		}
	}
}

// Edge is a transition of the flow's state machine.
type Edge struct{ Event, From, To string }

// Edges lists every transition of the flow, in file order.
func (f *Flow) Edges() []Edge {
	var out []Edge
	for _, id := range f.Order {
		s := f.States[id]
		for _, c := range s.Choices {
			if c.To != "" {
				out = append(out, Edge{c.Event, id, c.To})
			}
		}
		for _, b := range s.Next {
			out = append(out, Edge{b.Event, id, b.To})
		}
		if s.Fallback != "" {
			out = append(out, Edge{EventFallback, id, s.Fallback})
		}
		if s.Ask == InputSummary {
			for _, k := range f.Keys {
				if q := f.Fields[k]; q != nil && editable(s, k) {
					out = append(out, Edge{EditPrefix + k, id, q.ID})
				}
			}
		}
	}
	return out
}

func editable(summary *State, key string) bool {
	for _, k := range summary.Except {
		if k == key {
			return false
		}
	}
	return true
}

// Editable reports whether the summary state lets the user change key.
func (s *State) Editable(key string) bool { return editable(s, key) }

func (p *parser) checkReach(f *Flow) {
	if f.States[f.Start] == nil {
		return
	}
	out := map[string][]string{}
	for _, e := range f.Edges() {
		out[e.From] = append(out[e.From], e.To)
	}
	seen := map[string]bool{f.Start: true}
	queue := []string{f.Start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, to := range out[id] {
			if !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	ends := 0
	for _, id := range f.Order {
		s := f.States[id]
		if !seen[id] {
			p.errorf(s.Pos, id, "unreachable: no path from start %q leads here", f.Start)
		}
		if s.Terminal() {
			ends++
		}
	}
	if ends == 0 {
		p.errorf(Pos{1, 1}, "", "the flow never ends: give a state end: true or submit: true")
	}
	// A loop of states that never wait would spin forever.
	for _, id := range f.Order {
		if s := f.States[id]; !s.Waits() && !s.Terminal() && p.spins(f, id) {
			p.errorf(s.Pos, id, "loop: this state can come back to itself without asking anything")
		}
	}
}

func (p *parser) spins(f *Flow, start string) bool {
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		s := f.States[id]
		for _, b := range s.Next {
			t := f.States[b.To]
			if t == nil || t.Waits() || t.Terminal() {
				continue
			}
			if b.To == start {
				return true
			}
			if !seen[b.To] {
				seen[b.To] = true
				if walk(b.To) {
					return true
				}
			}
		}
		return false
	}
	return walk(start)
}
