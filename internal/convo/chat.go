package convo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ChatOptions configure a terminal chat.
type ChatOptions struct {
	Flow, Lang string // empty: the default flow, ko
	// Save, when set, is where the conversation is written as a script
	// that `claimbot test` passes.
	Save string
}

// Chat runs one conversation in a terminal: it prints the bot's messages
// and choices as numbered options, and sends what is typed. A number
// presses that option (where the question takes a button); /back,
// /restart, /handoff and /quit do what they say; /attach PATH uploads that
// file as the chat page does and attaches it; anything else is sent as
// text. It ends when the conversation is done, on /quit or at the end of in.
func Chat(ctx context.Context, b Backend, in io.Reader, out io.Writer, opt ChatOptions) error {
	flowID := opt.Flow
	if flowID == "" {
		flowID = b.DefaultFlow()
	}
	d, err := b.Driver(ctx, NewUser(), opt.Flow, opt.Lang)
	if err != nil {
		return err
	}
	defer d.Close()
	last, err := d.Open(ctx)
	if err != nil {
		return err
	}
	rec := &recording{flow: flowID, lang: opt.Lang, dir: filepath.Dir(opt.Save)}
	rec.reply(last)
	show(out, last)
	fmt.Fprintln(out, "(a number presses that button; /back, /restart, /handoff, /attach FILE, /quit)")
	frames := newFrames()
	lines := bufio.NewReader(in)
	for !last.Done {
		fmt.Fprint(out, "> ")
		line, err := lines.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || strings.TrimSpace(line) == "") {
			fmt.Fprintln(out)
			break
		}
		line = strings.TrimSpace(line)
		if line == "/quit" {
			break
		}
		step, f, ok := parseChatLine(line, last)
		if !ok {
			if line != "" {
				fmt.Fprintln(out, "  (commands: /back, /restart, /handoff, /attach FILE, /quit; a number presses that button)")
			}
			continue
		}
		if step.Kind == Attach {
			var refused error
			if f, refused, err = attachFrame(ctx, d, step.Path, last); err != nil {
				fmt.Fprintf(out, "  (%s was not sent: %v)\n", step.Path, err)
				continue
			}
			if refused != nil {
				fmt.Fprintf(out, "  (the server took %s but refused it: %v)\n", step.Path, refused)
			}
		}
		rep, err := d.Send(ctx, frames.next(f, last))
		if err != nil {
			return err
		}
		rec.step(step)
		rec.reply(rep)
		last = rep
		show(out, last)
	}
	if opt.Save == "" {
		return nil
	}
	if id := rec.claimID; id != "" {
		answers, checked, err := d.Claim(ctx, id)
		if err != nil {
			return fmt.Errorf("chat: claim %s: %w", id, err)
		}
		if !checked {
			rec.unchecked = true
		}
		rec.answers = answers
	}
	src, err := rec.yaml(opt.Save)
	if err != nil {
		return err
	}
	if err := os.WriteFile(opt.Save, src, 0o644); err != nil {
		return fmt.Errorf("chat: save: %w", err)
	}
	fmt.Fprintf(out, "saved %s (run it: claimbot test %s)\n", opt.Save, opt.Save)
	return nil
}

// parseChatLine turns a typed line into a script step and its frame.
func parseChatLine(line string, last Reply) (Step, Frame, bool) {
	switch line {
	case "":
		return Step{}, Frame{}, false
	case "/back", "/restart", "/handoff":
		name := line[1:]
		return Step{Kind: Command, Text: name}, Frame{Type: "command", Name: name}, true
	}
	if rest, ok := strings.CutPrefix(line, "/attach"); ok && (rest == "" || rest[0] == ' ') {
		path := unquotePath(strings.TrimSpace(rest))
		if path == "" {
			return Step{}, Frame{}, false
		}
		return Step{Kind: Attach, Text: path, Path: path}, Frame{Type: "file"}, true
	}
	if strings.HasPrefix(line, "/") {
		return Step{}, Frame{}, false
	}
	if n, err := strconv.Atoi(line); err == nil && buttons(last) && n >= 1 && n <= len(last.Choices) {
		v := last.Choices[n-1].Value
		return Step{Kind: Choose, Text: v}, Frame{Type: "choice", Value: v}, true
	}
	return Step{Kind: User, Text: line}, Frame{Type: "text", Text: line}, true
}

// unquotePath reads a path as a terminal pastes or drops it: in quotes,
// or with its spaces escaped.
func unquotePath(p string) string {
	if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
		return p[1 : len(p)-1]
	}
	return strings.ReplaceAll(p, `\ `, " ")
}

// buttons reports whether numbers press buttons: not where the bot waits
// for typed text, where a number is an answer.
func buttons(r Reply) bool {
	switch r.Input {
	case "choice", "confirm", "files", "none", "":
		return true
	}
	return false
}

// show prints a reply: its messages, then its choices, numbered.
func show(out io.Writer, r Reply) {
	fmt.Fprintln(out)
	mark := "bot"
	if r.Invalid {
		mark = "bot!"
	}
	for _, m := range r.Messages {
		for i, l := range strings.Split(m, "\n") {
			if i == 0 {
				fmt.Fprintf(out, "%-4s  %s\n", mark, l)
			} else {
				fmt.Fprintf(out, "      %s\n", l)
			}
		}
	}
	if r.Upload != nil {
		for _, f := range r.Files {
			fmt.Fprintf(out, "      📎 %s (%s)\n", f.Name, sizeText(f.Size))
		}
		fmt.Fprintf(out, "      (/attach FILE sends a file: %s, up to %s each, %d files)\n",
			strings.Join(r.Upload.Accept, ", "), sizeText(r.Upload.MaxBytes), r.Upload.MaxFiles)
	}
	if len(r.Choices) == 0 {
		return
	}
	if buttons(r) {
		opts := make([]string, len(r.Choices))
		for i, c := range r.Choices {
			opts[i] = fmt.Sprintf("%d) %s", i+1, c.Label)
		}
		fmt.Fprintf(out, "      %s\n", strings.Join(opts, "   "))
		return
	}
	for _, c := range r.Choices {
		if c.Value == "back" {
			fmt.Fprintf(out, "      (/back: %s)\n", c.Label)
		}
	}
}

// sizeText is a file size as people read it.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// recording is a chat as a script.
type recording struct {
	flow, lang string
	dir        string // of the saved script, which attach paths are relative to
	steps      []*yaml.Node
	fields     []string // answer keys in the order they were asked
	claimID    string
	answers    map[string]any
	unchecked  bool
}

func scalarNode(v any) *yaml.Node {
	n := &yaml.Node{}
	n.Encode(v)
	return n
}

func pair(m *yaml.Node, k string, v *yaml.Node) {
	m.Content = append(m.Content, scalarNode(k), v)
}

func (r *recording) reply(rep Reply) {
	check := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	if rep.Field != "" {
		pair(check, "field", scalarNode(rep.Field))
		if !contains(r.fields, rep.Field) {
			r.fields = append(r.fields, rep.Field)
		}
	} else {
		pair(check, "state", scalarNode(rep.State))
	}
	if rep.Invalid {
		pair(check, "invalid", scalarNode(true))
	}
	if rep.Done {
		pair(check, "done", scalarNode(true))
	}
	step := &yaml.Node{Kind: yaml.MappingNode}
	pair(step, "bot", check)
	r.steps = append(r.steps, step)
	if rep.ClaimID != "" && rep.Done {
		r.claimID = rep.ClaimID
	}
}

func (r *recording) step(s Step) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	text := s.Text
	if s.Kind == Attach {
		text = r.relative(s.Path)
	}
	pair(n, s.Kind.String(), scalarNode(text))
	r.steps = append(r.steps, n)
}

// relative is an attached file's path as the saved script names it:
// relative to the script's folder.
func (r *recording) relative(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	dir, err := filepath.Abs(r.dir)
	if err != nil {
		return abs
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(rel)
}

// yaml writes the recording as a script.
func (r *recording) yaml(path string) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	doc.HeadComment = "Recorded with `claimbot chat` on " + time.Now().Format("2006-01-02 15:04") + ".\nRename it and tighten the bot: checks as you see fit."
	name := strings.TrimSuffix(filepath.Base(path), Suffix)
	name = strings.TrimSuffix(name, ".yaml")
	pair(doc, "name", scalarNode(name))
	pair(doc, "flow", scalarNode(r.flow))
	if r.lang != "" {
		pair(doc, "lang", scalarNode(r.lang))
	}
	pair(doc, "steps", &yaml.Node{Kind: yaml.SequenceNode, Content: r.steps})
	switch {
	case r.claimID == "":
		pair(doc, "claim", scalarNode("none"))
	case r.unchecked || r.answers == nil:
		doc.FootComment = "claim " + r.claimID + " was filed; its answers were not seen (no webhook receiver)"
	default:
		claim := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range r.answerKeys() {
			v, err := answerValue(r.answers[k])
			if err != nil {
				return nil, fmt.Errorf("chat: claim %s: %w", k, err)
			}
			pair(claim, k, scalarNode(v))
		}
		// Asked on the way but not filed (dropped by a changed answer, or
		// skipped): the claim must not hold them.
		for _, k := range r.fields {
			if _, ok := r.answers[k]; !ok {
				pair(claim, k, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "~"})
			}
		}
		pair(doc, "claim", claim)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("chat: save: %w", err)
	}
	enc.Close()
	return []byte(b.String()), nil
}

// answerKeys orders the claim's keys as the questions came, the rest
// (computed answers) after them by name.
func (r *recording) answerKeys() []string {
	var keys, rest []string
	for _, k := range r.fields {
		if _, ok := r.answers[k]; ok {
			keys = append(keys, k)
		}
	}
	for k := range r.answers {
		if !contains(keys, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// answerValue turns a delivered JSON value into the YAML scalar a script
// compares it with.
func answerValue(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		return v.Float64()
	case string, bool, nil, int64, float64:
		return v, nil
	}
	return nil, fmt.Errorf("unsupported value %T", v)
}
