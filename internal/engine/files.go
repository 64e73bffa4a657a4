package engine

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/validate"
)

// ValueAttach is the quick reply of a finished conversation that lets a
// returning user add files to the claim it filed (CONTRACT §4).
const ValueAttach = "attach"

// A files question (CONTRACT §2, §7) takes finished uploads that the server
// looked up (Input.File, or Input.Problem when it may not be attached at
// all), checks them against the question's own limits, and lists them in
// its reply. done (offered once a file is attached) answers "attached",
// later answers "later" and drops the files; remove_<id> takes one back.
// The files go with the claim when its answer is "attached".

// filesAnswer takes an input at the flow's files question.
func (t *turn) filesAnswer(st *flow.State, in *Input) {
	s := t.s
	if in.Kind == Attach {
		if code := t.attach(st.Files, in); code != "" {
			t.refuse(st, code)
			return
		}
		s.Refused = 0
		t.asks(st)
		t.reply.Messages = []string{t.attachedText(st.Files)}
		return
	}
	value := t.pick(st, in)
	switch {
	case value == flow.ValueDone:
		t.given.ok, t.given.key, t.given.v = true, st.Save, flow.ValueAttached
		s.Refused = 0
		t.derive(st)
	case value == flow.ValueLater:
		// The files stay uploaded but attached to nothing: they are
		// deleted when the session expires.
		s.Files = nil
		t.given.ok, t.given.key, t.given.v = true, st.Save, flow.ValueLater
		s.Refused = 0
		t.derive(st)
	case strings.HasPrefix(value, flow.RemovePrefix):
		name := t.remove(strings.TrimPrefix(value, flow.RemovePrefix))
		if len(s.Files) == 0 && s.Answers[st.Save] == flow.ValueAttached {
			// Nothing is attached any more: the answer is gone too.
			if t.sharedAnswers {
				s.Answers, t.sharedAnswers = maps.Clone(s.Answers), false
			}
			delete(s.Answers, st.Save)
		}
		s.Refused = 0
		t.asks(st)
		t.reply.Messages = []string{t.text("bot.files.removed", map[string]any{"name": name})}
	default:
		t.refuse(st, "")
	}
}

// attach adds the input's file to the session's files; it returns why not
// ("" when attached, or when it was attached already).
func (t *turn) attach(fs *flow.Files, in *Input) string {
	s := t.s
	if in.File != nil {
		t.fileName = in.File.Name
	}
	if in.Problem != "" {
		return in.Problem
	}
	f := in.File
	if f == nil || f.ID == "" {
		return ProblemUnknown
	}
	for _, g := range s.Files {
		if g.ID == f.ID {
			return "" // the same upload again: it is attached once
		}
	}
	switch {
	case !slices.Contains(fs.Accept, f.Type):
		return ProblemType
	case f.Size > fs.MaxBytes:
		return ProblemSize
	case len(s.Files) >= fs.MaxFiles:
		return ProblemCount
	}
	s.Files = append(s.Files, *f)
	return ""
}

// remove takes the file with that id off the session's files and returns
// its name.
func (t *turn) remove(id string) string {
	s := t.s
	for i, f := range s.Files {
		if f.ID == id {
			s.Files = slices.Delete(s.Files, i, i+1)
			return f.Name
		}
	}
	return ""
}

func (t *turn) attachedText(fs *flow.Files) string {
	return t.text("bot.files.attached", map[string]any{"name": t.fileName, "count": len(t.s.Files), "max_files": fs.MaxFiles})
}

// filesReply adds a files question's upload limits and files to r.
func (t *turn) filesReply(r *Reply, st *flow.State) {
	fs := st.Files
	r.Upload = &Upload{URL: UploadPath, MaxFiles: fs.MaxFiles, MaxBytes: fs.MaxBytes, Accept: fs.Accept}
	if len(t.s.Files) > 0 {
		r.Files = make([]FileShown, len(t.s.Files))
		for i, f := range t.s.Files {
			r.Files[i] = FileShown{ID: f.ID, Name: f.Name, Size: f.Size}
		}
	}
}

// filesChoices are a files question's quick replies: done once a file is
// attached, later (not while adding files to a filed claim), and one to
// take back each file; with room for that many more.
func (t *turn) filesChoices(later bool, room int) []Choice {
	files := t.s.Files
	out := make([]Choice, 0, len(files)+2+room)
	if len(files) > 0 {
		out = append(out, Choice{Value: flow.ValueDone, Label: t.text("bot.choice.done", nil)})
	}
	if later {
		out = append(out, Choice{Value: flow.ValueLater, Label: t.text("bot.choice.later", nil)})
	}
	for _, f := range files {
		out = append(out, Choice{Value: flow.RemovePrefix + f.ID, Label: t.text("bot.choice.remove", map[string]any{"name": f.Name})})
	}
	return out
}

// filesValue shows a files question's answer: the files' names, or later.
func (t *turn) filesValue(v any) any {
	if v != flow.ValueAttached {
		return t.text("bot.value.later", nil)
	}
	names := make([]string, len(t.s.Files))
	for i, f := range t.s.Files {
		names[i] = f.Name
	}
	return t.text("bot.value.files", map[string]any{"names": strings.Join(names, ", "), "count": len(names)})
}

// fileClaim puts the files on the claim being filed when its answers say
// they are attached, and remembers whether the claim may get more later.
func (t *turn) fileClaim() {
	s := t.s
	s.Late = false
	if t.f.FilesState != "" {
		st := t.f.States[t.f.FilesState]
		ev, asked := s.Answers[st.Save]
		if ev == flow.ValueAttached && len(s.Files) > 0 {
			t.claim.Attachments = slices.Clone(s.Files)
		}
		// The question was on the claim's path: its documents are
		// wanted, so a returning user may still send (more of) them.
		s.Late = asked
	}
	s.Files = nil
}

// filesState is the files question of the session's flow, as its current
// version asks it, or nil.
func (t *turn) filesState() *flow.State {
	cur := t.e.flows[t.s.Flow]
	if cur == nil || cur.FilesState == "" {
		return nil
	}
	return cur.States[cur.FilesState]
}

// endChoices are the quick replies of a finished conversation: restart,
// and attach when the claim just shown may still get files.
func (t *turn) endChoices(claimID string) []Choice {
	if claimID == "" || !t.s.Late || t.filesState() == nil {
		return t.restart()
	}
	return []Choice{{Value: ValueAttach, Label: t.text("bot.choice.attach", nil)},
		{Value: flow.ValueRestart, Label: t.text("bot.choice.restart", nil)}}
}

// lateFiles takes an input in a finished conversation that concerns files:
// attach (start adding files to the filed claim), anything while adding,
// and a file frame, which a finished conversation does not take. It
// reports whether it did.
func (t *turn) lateFiles(in *Input) bool {
	s := t.s
	st := t.filesState()
	if st == nil || !s.Late || s.ClaimID == "" {
		if in.Kind == Attach {
			t.notNow()
			return true
		}
		return false
	}
	if s.Adding == "" {
		if t.pickFrom(t.endChoices(s.ClaimID), in) == ValueAttach {
			s.Adding, s.Files = st.ID, nil
			t.reply = t.addingReply(nil)
			return true
		}
		if in.Kind == Attach {
			t.notNow()
			return true
		}
		return false
	}
	if in.Kind == Attach {
		if code := t.attach(st.Files, in); code != "" {
			t.reply = t.addingReply([]string{t.refusal(st, code)})
			t.reply.Invalid = true
			return true
		}
		t.reply = t.addingReply([]string{t.attachedText(st.Files)})
		return true
	}
	value := t.pickFrom(t.filesChoices(false, 0), in)
	switch {
	case value == flow.ValueDone:
		t.ev = &Evidence{ID: t.env.ClaimID(), ClaimID: s.ClaimID, User: s.User, Lang: s.Lang, Flow: t.f.ID,
			Version: t.f.Version, Attachments: slices.Clone(s.Files), AddedAt: t.env.Now.UTC().Truncate(time.Second)}
		t.msgs = []string{t.text("bot.evidence.added", map[string]any{"count": len(s.Files), "claim_id": s.ClaimID})}
		s.Adding, s.Files = "", nil
		t.ends(s.State, s.ClaimID)
	case strings.HasPrefix(value, flow.RemovePrefix):
		name := t.remove(strings.TrimPrefix(value, flow.RemovePrefix))
		t.reply = t.addingReply([]string{t.text("bot.files.removed", map[string]any{"name": name})})
	default:
		t.reply = t.addingReply([]string{t.text("bot.invalid.files.adding", nil)})
		t.reply.Invalid = true
	}
	return true
}

// notNow refuses a file frame where no files question waits.
func (t *turn) notNow() {
	r := t.current()
	r.Invalid = true
	r.Messages = append([]string{t.text("bot.files.not_now", nil)}, r.Messages...)
	t.reply = r
}

// addingReply is the question of a returning user adding files to the
// claim they filed: the files question's limits, the files so far, done
// once there is one, and back to leave without adding any.
func (t *turn) addingReply(msgs []string) Reply {
	s := t.s
	st := t.filesState()
	if msgs == nil {
		msgs = []string{t.text("bot.evidence.add", map[string]any{"claim_id": s.ClaimID})}
	}
	r := Reply{Type: "reply", State: st.ID, Field: st.Save, Input: flow.InputFiles.Wire(), Messages: msgs,
		Choices: t.filesChoices(false, 1)}
	r.Choices = append(r.Choices, Choice{Value: flow.ValueBack, Label: t.text("bot.choice.back", nil)})
	t.filesReply(&r, st)
	return r
}

// pickFrom is pick over quick replies that the flow does not list: a
// choice frame by its value, typed text by its label.
func (t *turn) pickFrom(cs []Choice, in *Input) string {
	switch in.Kind {
	case Choose:
		for _, c := range cs {
			if c.Value == in.Text {
				return c.Value
			}
		}
	case Text:
		opts := make([]validate.Option, len(cs))
		for i, c := range cs {
			opts[i] = validate.Option{Value: c.Value, Label: c.Label}
		}
		if i := validate.MatchChoice(in.Text, opts); i >= 0 {
			return opts[i].Value
		}
	}
	return ""
}

// filesData is what a files question's refusals may say: the limits as a
// person reads them, and the file's name.
func (t *turn) filesData(fs *flow.Files) map[string]any {
	types := make([]string, len(fs.Accept))
	for i, a := range fs.Accept {
		_, sub, _ := strings.Cut(a, "/")
		types[i] = strings.ToUpper(sub)
	}
	name := t.fileName
	if name == "" {
		name = t.text("bot.files.this", nil)
	}
	return map[string]any{"max_files": fs.MaxFiles, "max_size": formatBytes(fs.MaxBytes),
		"types": strings.Join(types, ", "), "name": name}
}

// formatBytes writes a size as people read it: 20MB, 500KB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + "KB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
