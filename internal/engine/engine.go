package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/looplab/fsm"
	"golang.org/x/text/unicode/norm"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
	"github.com/claimbot/claimbot/internal/validate"
)

// Kind is what a client frame carries.
type Kind int

// The kinds of input.
const (
	Resume  Kind = iota // a (re)connect: reply with the current question
	Text                // typed text
	Choose              // a quick reply's value
	Command             // back, restart or handoff
	Attach              // a file frame: a finished upload to attach (CONTRACT §2, §7)
)

// Input is one client frame, decoded.
type Input struct {
	Kind  Kind
	Text  string // Text: what was typed; Choose: the value; Command: the name; Attach: the upload's id
	ID    string // the frame id, for de-duplication (optional)
	State string // the state the client answers (optional)
	// Attach: the upload as the server found it, when it may be attached
	// at all; else Problem says why not (one of the Problem… values). The
	// engine then checks it against the question's own limits.
	File    *Attachment
	Problem string
}

// Why an upload cannot be attached, as the server that looked it up says
// (Input.Problem), or the engine (ProblemCount).
const (
	ProblemUnknown    = "unknown"    // no such upload, or gone
	ProblemNotYours   = "not_yours"  // another user's
	ProblemUnfinished = "unfinished" // not all its bytes arrived
	ProblemType       = "type"       // its bytes are not of an accepted type
	ProblemSize       = "size"       // larger than the question accepts
	ProblemCount      = "count"      // one file too many
	ProblemSent       = "sent"       // already sent with a claim: upload it again
	ProblemNoFiles    = "no_files"   // the server takes no uploads (CLAIMBOT_UPLOADS unset)
)

// Attachment is a finished upload attached to a claim: what the webhook
// tells the backend of it (CONTRACT §3), but the link, which the outbox
// signs.
type Attachment struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Env is what a step needs from the outside world.
type Env struct {
	Now time.Time
	// ClaimID returns a new receipt number; called only when a claim is
	// filed, or for the id of a handoff request: both are outbox entries
	// with an id from the same reserved space.
	ClaimID func() string
}

// Claim is a filed claim, for the outbox.
type Claim struct {
	ID          string
	User        string
	Lang        string
	Flow        string
	Version     string
	SubmittedAt time.Time
	Answers     map[string]any
	Attachments []Attachment // the files, when the answers say evidence is attached
}

// Evidence is files a returning user attached to a claim already filed
// (CONTRACT §3 claim.evidence_added), for the outbox.
type Evidence struct {
	ID          string // the event's own id, from the receipt space
	ClaimID     string
	User        string
	Lang        string
	Flow        string
	Version     string
	Attachments []Attachment // the new files only
	AddedAt     time.Time
}

// Handoff is a request for a person (CONTRACT §3 handoff.requested), for
// the outbox.
type Handoff struct {
	ID          string
	User        string
	Lang        string
	Flow        string
	Version     string
	State       string // where the user asked
	Answers     map[string]any
	Phone       string // normalised; "" when none was given
	RequestedAt time.Time
}

// Result is what a step produced.
type Result struct {
	Session *Session // the session after the step (a copy; nil if unchanged)
	Reply   Reply
	Claim   *Claim   // set when the step filed a claim
	Handoff *Handoff // set when the step asked for a person
	// Evidence is set when the step attached files to a filed claim.
	Evidence *Evidence
	Applied  bool        // the input was applied (false: duplicate id or stale state)
	Moves    []flow.Edge // the flow's transitions this step took, in order
}

// Engine steps sessions through a set of flows with a catalogue of texts.
// It is immutable; build a new one when flows are reloaded.
type Engine struct {
	flows    map[string]*flow.Flow
	versions *Versions
	cat      *locale.Catalog
	words    map[string]map[string]string // lang → normalized command word → command
	maxWord  int                          // the longest command word, in bytes
	plans    sync.Map                     // current flows: *flow.Flow → *plan
	oldPlans *lru.Cache[string, *plan]    // older versions' (id@version), the MaxVersions most recently used
	// fireMachine makes every move fire the flow's state machine instead
	// of looking it up in the plan's moves: for the tests that compare
	// the two.
	fireMachine bool
	// noReplyCache makes every reply be built anew instead of sharing the
	// plan's asked parts: for the tests that compare the two.
	noReplyCache bool
}

// New builds an engine over flows (by id) and their catalogue. versions
// keeps older versions of flows for conversations pinned to them; it may
// be nil.
func New(flows map[string]*flow.Flow, cat *locale.Catalog, versions *Versions) *Engine {
	if versions == nil {
		versions = NewVersions()
	}
	for _, f := range flows {
		versions.Add(f)
	}
	oldPlans, err := lru.New[string, *plan](MaxVersions)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	e := &Engine{flows: flows, versions: versions, cat: cat, words: map[string]map[string]string{}, oldPlans: oldPlans}
	for _, lang := range cat.Languages() {
		e.words[lang] = map[string]string{}
		for _, cmd := range []string{flow.ValueBack, flow.ValueRestart, flow.ValueHandoff} {
			for _, w := range strings.Split(cat.Text(lang, "bot.command."+cmd, nil), ",") {
				if w = normWord(w); w != "" {
					e.words[lang][w] = cmd
					e.maxWord = max(e.maxWord, len(w))
				}
			}
		}
	}
	return e
}

// Catalog returns the engine's texts.
func (e *Engine) Catalog() *locale.Catalog { return e.cat }

// Flow returns the current version of a flow, or nil.
func (e *Engine) Flow(id string) *flow.Flow { return e.flows[id] }

// Flows returns the current flows by id.
func (e *Engine) Flows() map[string]*flow.Flow { return e.flows }

// Versions returns the store of flow versions.
func (e *Engine) Versions() *Versions { return e.versions }

// normWord is how command words are compared: normalized, in lower case,
// without white space.
func normWord(s string) string {
	w, _ := appendWord(nil, s, -1)
	return string(w)
}

// appendWord appends normWord(s) to b; it is
// strings.ToLower(strings.Join(strings.Fields(validate.Normalize(s)), ""))
// rune by rune. With limit ≥ 0 it gives up (ok false) once the word is longer
// than limit bytes.
func appendWord(b []byte, s string, limit int) (_ []byte, ok bool) {
	start := len(b)
	for _, r := range validate.Normalize(s) {
		if unicode.IsSpace(r) {
			continue
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
		if limit >= 0 && len(b)-start > limit {
			return b, false
		}
	}
	return b, true
}

// commandOf returns the command an input gives in lang: a command frame's
// name (as sent: apply refuses one it does not know), the choice values
// back, restart and handoff, or a typed command word; "" for none.
func (e *Engine) commandOf(lang string, in *Input) string {
	switch in.Kind {
	case Command:
		return in.Text
	case Choose:
		if isCommand(in.Text) {
			return in.Text
		}
	case Text:
		return e.command(lang, in.Text)
	}
	return ""
}

// isCommand reports whether a choice value runs a command.
func isCommand(value string) bool {
	return value == flow.ValueBack || value == flow.ValueRestart || value == flow.ValueHandoff
}

// unoffered reports whether an input is a choice frame other than back,
// restart and handoff: in a conversation that is over, one it does not offer.
func unoffered(in *Input) bool {
	return in.Kind == Choose && !isCommand(in.Text)
}

// command returns the command a typed text names in lang, or "".
func (e *Engine) command(lang, text string) string {
	words := e.words[lang]
	if len(words) == 0 {
		return ""
	}
	// Command words are short: a long text is none of them, and is not
	// normalized whole to find that out.
	if longerThan(text, e.maxWord) {
		return ""
	}
	// Build the text's word on the stack, and give up as soon as it is
	// longer than any of them.
	var buf [64]byte
	w, ok := appendWord(buf[:0], text, e.maxWord)
	if !ok {
		return ""
	}
	return words[string(w)]
}

// longerThan reports whether normWord(s) is surely longer than limit
// bytes, reading no more of s than it needs: whether the runes of s that
// start a rune of the word of their own make more than limit bytes,
// counting one byte for each, three for a Hangul syllable (which stays a
// syllable). Those are the runes NFC never combines with the rune before
// them (norm.Properties.BoundaryBefore: each starts a segment of its own,
// which normalizes to at least one rune), invalid bytes (each becomes
// U+FFFD), but neither white space nor the zero-width characters
// validate.Normalize drops, which are not in the word. It may say false
// for a word that is too long; appendWord finds that out.
func longerThan(s string, limit int) bool {
	if len(s) <= limit {
		return false // not that many runes
	}
	n := 0
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case r >= 0xAC00 && r <= 0xD7A3:
			// A Hangul syllable: it combines with a trailing jamo after
			// it, never with what comes before, into a syllable again,
			// which is three bytes of the word.
			if n += 3; n > limit {
				return true
			}
		case unicode.IsSpace(r), r == 0x200b, r == 0x2060, r == 0xfeff:
		case r < utf8.RuneSelf, r == utf8.RuneError && size == 1, norm.NFC.PropertiesString(s[i:]).BoundaryBefore():
			if n++; n > limit {
				return true
			}
		}
		i += size
	}
	return false
}

// resolve finds the flow a session runs on. A session stays on the version
// it started on while any instance knows that version; otherwise it moves to
// the current version if its state still exists there, and starts over if not.
func (e *Engine) resolve(s *Session) (f *flow.Flow, moved bool, err error) {
	cur := e.flows[s.Flow]
	if cur == nil {
		return nil, false, fmt.Errorf("engine: unknown flow %q", s.Flow)
	}
	if s.Version == "" || s.Version == cur.Version {
		return cur, false, nil
	}
	if old := e.versions.Get(s.Flow, s.Version); old != nil {
		return old, false, nil
	}
	return cur, true, nil
}

// ErrUnknownFlow is returned for a session whose flow is not loaded.
var ErrUnknownFlow = errors.New("engine: unknown flow")

// Step applies one input to a session. It never changes s.
func (e *Engine) Step(s *Session, in Input, env Env) (res Result, err error) {
	f, moved, err := e.resolve(s)
	if err != nil {
		return Result{}, fmt.Errorf("%w %q", ErrUnknownFlow, s.Flow)
	}
	t := &turn{e: e, f: f, env: env, uncached: e.noReplyCache}
	fresh := s.State == "" || (moved && f.States[s.State] == nil)
	// Step's frame is under every call of the turn, the deepest included
	// (see TestStepStack): what goes in it is the turn, and little else.
	// The result is written where the caller gets it, by result or
	// unchanged, and the replies where they stay, in the turn, by functions
	// not inlined here.
	if !e.flows[s.Flow].Intake.Open(env.Now) {
		// Outside the intake window nothing is applied and nothing is
		// written. A conversation not finished is over for now: every
		// input gets the closed message, so its answers stay for when the
		// window is extended. Nothing starts either, not even on restart
		// (which the closed message offers: it gets the message again). A
		// finished one shows its receipt, or the closed message.
		t.s = s
		t.outside(&in, fresh)
		t.unchanged(&res)
		return res, nil
	}
	if fresh {
		// A new conversation, or one whose flow version is gone and whose
		// state no longer exists: (re)start on the current version.
		t.s = s.Clone()
		t.start()
		t.s.remember(in.ID)
		t.result(&res, true)
		return res, nil
	}
	if in.Kind == Resume {
		if moved {
			t.s = s.Clone()
			t.s.Version = f.Version
			t.showCurrent()
			t.result(&res, true)
			return res, nil
		}
		t.s = s
		t.showCurrent()
		t.unchanged(&res)
		return res, nil
	}
	if s.Seen(in.ID) || (in.State != "" && in.State != s.waiting()) {
		t.s = s
		t.showCurrent()
		t.unchanged(&res)
		return res, nil
	}
	// The answers stay shared with s until the step changes them (see
	// turn.sharedAnswers): most steps re-derive them anew.
	t.s, t.sharedAnswers = s.cloneForStep(), true
	if moved {
		t.s.Version = f.Version
	}
	t.s.remember(in.ID)
	t.apply(&in)
	t.result(&res, true)
	return res, nil
}

// outside sets the reply of a step outside the intake window (see Step).
// Not inlined: the reply closed returns would be copied in Step's frame.
//
//go:noinline
func (t *turn) outside(in *Input, fresh bool) {
	s := t.s
	if fresh || !s.Done || t.e.commandOf(s.Lang, in) == flow.ValueRestart {
		t.reply = t.closed()
	} else {
		t.showCurrent()
	}
	t.reply.Invalid = unoffered(in)
}

// turn is the working state of one Step.
type turn struct {
	e     *Engine
	f     *flow.Flow
	p     *plan // the plan of f; see plan()
	s     *Session
	env   Env
	reply Reply
	claim *Claim
	hand  *Handoff
	ev    *Evidence
	// fileName is the name of the file an Attach input carries, for the
	// messages about it.
	fileName string
	msgs     []string // messages of states passed through on the way
	moves    []flow.Edge
	// uncached builds every reply anew, as the plan's asked parts are.
	uncached bool

	// sharedAnswers is set while s.Answers is still the map of the session
	// the step was given, which it must not change: derive builds a new map,
	// and result copies one still shared.
	sharedAnswers bool
	// given is the answer just given (when ok): derive reads s.Answers
	// with it added.
	given struct {
		ok  bool
		key string
		v   any
	}
}

// result is what the step produced: the session changed.
//
//go:noinline
func (t *turn) result(res *Result, applied bool) {
	if t.sharedAnswers {
		t.s.Answers, t.sharedAnswers = maps.Clone(t.s.Answers), false
	}
	t.s.Updated = t.env.Now
	*res = Result{Session: t.s, Reply: t.reply, Claim: t.claim, Handoff: t.hand, Evidence: t.ev, Applied: applied, Moves: t.moves}
}

// unchanged is the result of a step that changed nothing: its reply.
//
//go:noinline
func (t *turn) unchanged(res *Result) {
	*res = Result{Reply: t.reply}
}

// plan returns the plan of the turn's flow.
func (t *turn) plan() *plan {
	if t.p == nil || t.p.f != t.f {
		t.p = t.e.plan(t.f)
	}
	return t.p
}

func (t *turn) text(id string, data any) string { return t.e.cat.Text(t.s.Lang, id, data) }

func (t *turn) say(txt flow.Text, data any) string { return say(t.e.cat, t.s.Lang, txt, data) }

// start begins a new conversation on the flow's current version.
func (t *turn) start() {
	cur := t.e.flows[t.s.Flow]
	t.f = cur
	s := t.s
	s.Version, s.State, s.Answers, s.History, s.Skipped = cur.Version, "", nil, nil, nil
	s.Refused, s.Done, s.Handoff = 0, false, ""
	s.Files, s.Adding = nil, ""
	t.sharedAnswers = false
	t.derive(nil)
}

func (t *turn) apply(in *Input) {
	s := t.s
	switch t.e.commandOf(s.Lang, in) {
	case flow.ValueRestart:
		t.start()
		return
	case flow.ValueBack:
		if s.Adding != "" {
			// Back from adding files to a filed claim: nothing is added.
			s.Adding, s.Files = "", nil
			t.showCurrent()
			return
		}
		if s.Handoff != "" && !s.Done {
			// Back from the call-back question: to the question it was
			// asked at, as it was.
			s.Handoff = ""
			t.showCurrent()
			return
		}
		t.back()
		return
	case flow.ValueHandoff:
		t.handoff()
		return
	case "":
	default:
		t.showCurrent()
		t.reply.Invalid = true
		return
	}
	if s.Done && t.lateFiles(in) {
		return
	}
	if s.Done {
		// Typed text gets the reply again; a choice value it does not
		// offer is an answer problem (contract §2).
		t.showCurrent()
		t.reply.Invalid = unoffered(in)
		return
	}
	if s.Handoff != "" {
		t.callBack(in)
		return
	}
	st := t.f.States[s.State]
	if st == nil || !st.Waits() {
		t.derive(nil)
		return
	}
	switch {
	case in.Kind == Attach && st.Ask != flow.InputFiles:
		t.notNow()
		return
	case st.Ask == flow.InputSummary:
		t.summaryAnswer(st, in)
		return
	case st.Ask == flow.InputFiles:
		t.filesAnswer(st, in)
		return
	}
	v, code, ok := t.answer(st, in)
	if !ok {
		t.refuse(st, code)
		return
	}
	// derive adds the answer to the ones it keeps: no need to copy
	// s.Answers to change it first.
	t.given.ok, t.given.key, t.given.v = true, st.Save, v
	s.Refused = 0
	t.derive(st)
}

// answer validates an input for a waiting state.
func (t *turn) answer(st *flow.State, in *Input) (v any, code string, ok bool) {
	switch st.Ask {
	case flow.InputChoice, flow.InputConfirm:
		value := t.pick(st, in)
		if value == "" && in.Kind == Text && st.Ask == flow.InputConfirm {
			if yes, ok := validate.Confirm(in.Text); ok {
				value = choiceValue(yes)
			}
		}
		if value == "" {
			return nil, "", false
		}
		if st.Ask == flow.InputConfirm {
			return value == flow.ValueYes, "", true
		}
		return value, "", true
	}
	if in.Kind != Text {
		return nil, "", false
	}
	var err error
	switch st.Ask {
	case flow.InputText:
		v, err = validate.Text(in.Text, int(st.Min), int(st.Max))
	case flow.InputEmail:
		v, err = validate.Email(in.Text)
	case flow.InputPhone:
		v, err = validate.Phone(in.Text)
	case flow.InputBusinessNumber:
		v, err = validate.BusinessNumber(in.Text)
	case flow.InputAmount:
		var n int64
		n, err = validate.Amount(in.Text)
		switch {
		case err != nil:
		case st.Max > 0 && n > st.Max:
			err = &validate.Error{Kind: "amount", Code: "too_large"}
		case n < st.Min:
			err = &validate.Error{Kind: "amount", Code: "too_small"}
		}
		v = n
	default:
		return nil, "", false
	}
	if err != nil {
		var ve *validate.Error
		if errors.As(err, &ve) {
			return nil, ve.Code, false
		}
		return nil, "", false
	}
	return v, "", true
}

// pick returns the value of the quick reply an input selects: a choice
// frame by its value, typed text by its label or a close variant; "" when
// none.
func (t *turn) pick(st *flow.State, in *Input) string {
	if in.Kind == Choose && st.Ask == flow.InputSummary {
		// The summary's choice frames (submit, or change an answer) are
		// checked without building its labels.
		return t.summaryValue(st, in.Text)
	}
	opts := t.options(st)
	if in.Kind == Choose {
		return chosen(opts, in.Text)
	}
	if i := validate.MatchChoice(in.Text, opts); i >= 0 {
		return opts[i].Value
	}
	return ""
}

// chosen is the option with value, as a choice frame picks it; "" when
// none.
func chosen(opts []validate.Option, value string) string {
	for _, o := range opts {
		if o.Value == value {
			return o.Value
		}
	}
	return ""
}

// summaryValue is chosen(t.options(st), value) for the summary st: value
// when it is one of the quick replies choices gives it (submit, and the
// one that changes each answer on the path it lists), else "".
func (t *turn) summaryValue(st *flow.State, value string) string {
	if value == flow.ValueSubmit {
		return value
	}
	if !strings.HasPrefix(value, flow.EditPrefix) {
		return "" // none of the others is
	}
	p := t.plan()
	for _, id := range t.s.History {
		q := t.f.States[id]
		if q == nil || q.Save == "" || !st.Editable(q.Save) {
			continue
		}
		if p.edit[id] == value {
			return value
		}
	}
	return ""
}

// options are a state's quick replies as the matcher sees them (see
// matcherOptions); the matcher only reads them.
func (t *turn) options(st *flow.State) []validate.Option {
	if opts, ok := t.plan().replies(t.s.Lang).options[st.ID]; ok {
		return opts
	}
	return matcherOptions(st, t.choices(st, 0))
}

// refuse answers a refused input: why, and the question again; after the
// state's tries, its fallback.
func (t *turn) refuse(st *flow.State, code string) {
	s := t.s
	s.Refused++
	if st.Tries > 0 && s.Refused >= st.Tries {
		s.Refused = 0
		if prev, ok := s.Answers[st.Save]; ok && st.Save != "" {
			// The question was answered before, and is asked again because
			// the user chose to change the answer at the summary or went
			// back to it. The fallback is for someone who has no answer to
			// give (it skips the question and drops its answer); this user
			// gave a valid one, which they would not expect to lose to a few
			// typos, nor the summary's button to change it. So the previous
			// answer stays, as if given again, and the conversation goes on
			// from it: back to the summary, or to where it was. The reply
			// says which answer stands.
			t.derive(st)
			kept := t.text("bot.current", map[string]any{"value": t.display(st, prev)})
			t.reply.Messages = append([]string{kept}, t.reply.Messages...)
			return
		}
		s.Skipped = append(s.Skipped, st.ID)
		t.derive(st)
		return
	}
	if a := t.asked(st); a != nil && a.refuse {
		t.askedReply(st, a)
		t.reply.Invalid = true
		t.reply.Messages, t.reply.enc = t.refused(st, a, code)
		return
	}
	msg := t.refusal(st, code)
	t.asks(st)
	t.reply.Invalid = true
	again := lastOf(t.reply.Messages)
	if len(again) == 1 && strings.Contains(msg, again[0]) {
		again = nil // the refusal already shows it
	}
	t.reply.Messages = append([]string{msg}, again...)
}

// refused are the messages of refuse for question st, whose parts are a,
// and their JSON with the reply's choices: made on the first refusal with
// that code, as refuse makes them.
func (t *turn) refused(st *flow.State, a *asked, code string) ([]string, *encoded) {
	back := 0
	if len(t.s.History) > 0 {
		back = 1
	}
	if r, ok := a.refused.Load(code); ok {
		return r.(*refused).msgs, r.(*refused).enc[back]
	}
	msg := t.refusal(st, code)
	again := lastOf(a.msgs)
	if len(again) == 1 && strings.Contains(msg, again[0]) {
		again = nil // the refusal already shows it
	}
	r := &refused{msgs: slices.Clip(append([]string{msg}, again...))}
	for i := range r.enc {
		r.enc[i] = encode(r.msgs, a.choices[i])
	}
	v, _ := a.refused.LoadOrStore(code, r)
	return v.(*refused).msgs, v.(*refused).enc[back]
}

func lastOf(msgs []string) []string {
	if len(msgs) <= 1 {
		return msgs
	}
	return msgs[len(msgs)-1:]
}

func (t *turn) refusal(st *flow.State, code string) string {
	if st.Invalid != nil && (st.Ask != flow.InputFiles || code == "") {
		// A files question's own text covers what is not a file; why a
		// file was refused is always the bot's to say.
		return t.say(*st.Invalid, t.s.Answers)
	}
	data := map[string]any{"min": st.Min, "max": st.Max}
	if st.Files != nil {
		data = t.filesData(st.Files)
	}
	if st.Ask == flow.InputAmount {
		data["min"], data["max"] = formatInt(st.Min), formatInt(st.Max)
	}
	if code != "" {
		id := "bot.invalid." + string(st.Ask) + "." + code
		if t.e.cat.Has(t.s.Lang, id) || t.e.cat.Has(locale.Source, id) {
			return t.text(id, data)
		}
	}
	return t.text("bot.invalid."+string(st.Ask), data)
}

// back returns to the previous question; its answer stays known.
func (t *turn) back() {
	s := t.s
	if s.Done || len(s.History) == 0 {
		t.showCurrent()
		return
	}
	prev := s.History[len(s.History)-1]
	s.History = s.History[:len(s.History)-1]
	s.State, s.Refused = prev, 0
	t.asks(t.f.States[prev])
}

// summaryAnswer handles the summary: submit, or change one answer.
func (t *turn) summaryAnswer(st *flow.State, in *Input) {
	value := t.pick(st, in)
	switch {
	case value == flow.ValueSubmit:
		t.s.Refused = 0
		t.derive(st)
	case strings.HasPrefix(value, flow.EditPrefix):
		q := t.f.Fields[strings.TrimPrefix(value, flow.EditPrefix)]
		t.fire(st.ID, value)
		t.s.History = append(t.s.History, st.ID)
		t.s.State, t.s.Refused = q.ID, 0
		t.asks(q)
	default:
		t.refuse(st, "")
	}
}

// derive walks the flow from its start over the known answers, stopping at
// the first question without an answer, at the summary, or at an end. So a
// changed answer re-derives the path: answers the new path does not ask are
// dropped, questions it newly needs are asked, and computed answers are
// recomputed. from is the state just answered (nil when none): the machine
// fires the events of every move after it, and the messages of the states
// passed after it are shown.
func (t *turn) derive(from *flow.State) {
	s, f := t.s, t.f
	size := len(s.Answers)
	if t.given.ok {
		size++
	}
	kept := make(map[string]any, size)
	history := s.History[:0]
	// stop waits at cur. Answers past an unanswered question are kept for
	// when the path reaches them again; at the summary or an end, only the
	// answers on the path remain.
	stop := func(cur string, prune bool) {
		if !prune {
			t.keepRest(kept)
		}
		s.State, s.Answers, s.History = cur, kept, history
		t.sharedAnswers = false
	}
	cur, firing := f.Start, from == nil
	var prev, event string
	for hops := 0; ; hops++ {
		if hops > 4*len(f.States) {
			loops(f, cur) // lint rejects such flows
		}
		st := f.States[cur]
		if firing && prev != "" {
			t.fire(prev, event)
		}
		for _, a := range st.Set {
			if v, ok := a.Eval(kept); ok {
				kept[a.Key] = v
			}
		}
		if firing && !st.Waits() && !st.Submit {
			for i := range st.Say {
				t.msgs = append(t.msgs, t.say(st.Say[i], kept))
			}
		}
		switch {
		case st.Ask == flow.InputSummary && (from == nil || from.ID != cur):
			stop(cur, true)
			t.asks(st)
			return
		case st.Terminal():
			stop(cur, true)
			t.finish(st)
			return
		case st.Waits() && st.Ask != flow.InputSummary:
			if s.skipped(cur) {
				prev, event, cur = cur, flow.EventFallback, st.Fallback
				firing = firing || from == st
				continue
			}
			v, ok := t.known(st.Save)
			if !ok {
				stop(cur, false)
				t.asks(st)
				return
			}
			kept[st.Save] = v
			history = append(history, cur)
			if c := choiceOf(st, choiceValue(v)); c != nil && c.To != "" {
				prev, event, cur = cur, c.Event, c.To
			} else {
				prev = cur
				event, cur = next(st, kept)
			}
		default: // a state that does not wait, or the summary just answered
			if st.Ask == flow.InputSummary {
				history = append(history, cur)
			}
			prev = cur
			event, cur = next(st, kept)
		}
		if from != nil && prev == from.ID {
			firing = true
			t.msgs = t.msgs[:0]
		}
	}
}

// keepRest adds to kept the known answers it does not have: those past
// the unanswered question derive stops at. Not inlined into derive, whose
// frame would hold the map iterator on every path.
//
//go:noinline
func (t *turn) keepRest(kept map[string]any) {
	for k, v := range t.s.Answers {
		if t.given.ok && k == t.given.key {
			continue // replaced by the answer just given
		}
		if _, ok := kept[k]; !ok {
			kept[k] = v
		}
	}
	if t.given.ok {
		if _, ok := kept[t.given.key]; !ok {
			kept[t.given.key] = t.given.v
		}
	}
}

// loops panics: derive went round flow f, at cur. Not inlined into derive,
// whose frame would hold the message's arguments.
//
//go:noinline
func loops(f *flow.Flow, cur string) {
	panic(fmt.Sprintf("engine: flow %s loops at %q", f.ID, cur))
}

// known returns the answer to key: the one just given, or one of
// s.Answers.
func (t *turn) known(key string) (any, bool) {
	if t.given.ok && key == t.given.key {
		return t.given.v, true
	}
	v, ok := t.s.Answers[key]
	return v, ok
}

// next is st.NextBranch without copying the branches: the event and
// target of the first branch that holds for the answers, or "" and "".
func next(st *flow.State, answers map[string]any) (event, to string) {
	for i := range st.Next {
		if b := &st.Next[i]; b.Holds(answers) {
			return b.Event, b.To
		}
	}
	return "", ""
}

func choiceValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return flow.ValueYes
		}
		return flow.ValueNo
	}
	return ""
}

// fire moves the flow's state machine along one edge; a move the flow does
// not allow is a bug in the engine, not in the input. Not inlined: the
// move it appends would be in the frames of derive and summaryAnswer.
//
//go:noinline
func (t *turn) fire(from, event string) {
	m := t.machine(from, event)
	t.moves = append(t.moves, flow.Edge{Event: event, From: from, To: m})
}

func (t *turn) machine(from, event string) string {
	p := t.plan()
	if to, ok := p.moves[from][event]; ok && !t.e.fireMachine {
		return to
	}
	m := p.machine(from)
	if err := m.Event(context.Background(), event); err != nil {
		var nt fsm.NoTransitionError
		if !errors.As(err, &nt) {
			panic(fmt.Sprintf("engine: flow %s: %s --%s-->: %v", t.f.ID, from, event, err))
		}
	}
	to := m.Current()
	p.machines.Put(m)
	return to
}

// finish ends the conversation in a terminal state.
func (t *turn) finish(st *flow.State) {
	s := t.s
	s.Done, s.Refused = true, 0
	if st.Submit {
		s.ClaimID = t.env.ClaimID()
		s.Filed++
		t.claim = &Claim{ID: s.ClaimID, User: s.User, Lang: s.Lang, Flow: t.f.ID, Version: t.f.Version,
			SubmittedAt: t.env.Now.UTC().Truncate(time.Second), Answers: s.Answers}
		t.fileClaim()
		data := map[string]any{"claim_id": s.ClaimID}
		for _, txt := range st.Say {
			t.msgs = append(t.msgs, t.say(txt, data))
		}
		s.Answers, s.History, s.Skipped = nil, nil, nil
	}
	claimID := ""
	if st.Submit {
		claimID = s.ClaimID
	}
	t.ends(st.ID, claimID)
}

// ended is the reply of a finished conversation: the messages so far, the
// receipt number when a claim was filed, and the restart button.
func (t *turn) ended(state, claimID string) Reply {
	t.ends(state, claimID)
	return t.reply
}

// ends sets the turn's reply to ended's, where it stays (see asks).
func (t *turn) ends(state, claimID string) {
	msgs := t.msgs
	if len(msgs) == 0 {
		msgs = []string{t.text("bot.done.ended", nil)}
	}
	choices, enc := t.endChoices(claimID), t.pieces()
	r := &t.reply
	*r = Reply{}
	r.Type, r.State, r.Input, r.Messages, r.Done, r.ClaimID, r.Choices, r.enc = "reply", state, flow.InputNone.Wire(), msgs, true, claimID,
		choices, enc
}

func (t *turn) restart() []Choice {
	return []Choice{{Value: flow.ValueRestart, Label: t.text("bot.choice.restart", nil)}}
}

// closed is the reply outside the intake window: the conversation is over
// (for now), with the window of the flow's current version, which staff
// may have extended since the conversation started.
func (t *turn) closed() Reply {
	cur := t.e.flows[t.s.Flow]
	w := cur.Intake
	// ended tells a flow's own text (a Go template) whether intake is over
	// or not open yet: {{if .ended}}…{{else}}…{{end}}.
	data := map[string]any{"opens": formatDate(w.Opens, t.s.Lang), "closes": formatDate(w.Closes, t.s.Lang),
		"ended": !w.Closes.IsZero() && !t.env.Now.Before(w.Closes)}
	if w.Closes.IsZero() {
		data["closes"] = t.text("bot.intake.open_end", nil)
	}
	msg := t.text("bot.intake.closed", data)
	if w.Closed != nil {
		msg = t.say(*w.Closed, data)
	}
	state := t.s.State
	if cur.States[state] == nil {
		state = cur.Start // not started (or on a state gone): nothing waits yet
	}
	return Reply{Type: "reply", State: state, Input: flow.InputNone.Wire(), Messages: []string{msg}, Done: true,
		Choices: t.restart()}
}

func formatDate(d time.Time, lang string) string {
	if d.IsZero() {
		return ""
	}
	d = d.In(time.FixedZone("KST", 9*60*60))
	if lang == "en" {
		return d.Format("2 Jan 2006 15:04 KST")
	}
	return fmt.Sprintf("%d년 %d월 %d일 %02d:%02d", d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute())
}

// showCurrent sets the turn's reply to current's. Not inlined: the reply
// current returns is copied in the frame of showCurrent, not of apply and
// Step, which are under every turn's deepest calls (see
// TestStepStack).
//
//go:noinline
func (t *turn) showCurrent() { t.reply = t.current() }

// current is the reply for the session as it stands, as sent on connect.
func (t *turn) current() Reply {
	s := t.s
	st := t.f.States[s.State]
	switch {
	case s.Done && s.Adding != "" && t.filesState() != nil:
		return t.addingReply(nil)
	case s.Done && s.ClaimID != "" && st != nil && st.Submit:
		t.msgs = []string{t.text("bot.done.filed", map[string]any{"claim_id": s.ClaimID})}
		return t.ended(s.State, s.ClaimID)
	case s.Done && !t.e.flows[s.Flow].Intake.Open(t.env.Now):
		return t.closed()
	case s.Done:
		t.msgs = nil
		if st != nil {
			for _, txt := range st.Say {
				t.msgs = append(t.msgs, t.say(txt, s.Answers))
			}
		}
		return t.ended(s.State, "")
	case st == nil:
		return Reply{Type: "reply", State: s.State, Input: flow.InputNone.Wire()}
	case s.Handoff != "":
		return t.askPhone()
	}
	return t.ask(st)
}

// ask is the reply for a waiting state: the messages of the states passed on
// the way, the state's own messages, and its choices.
func (t *turn) ask(st *flow.State) Reply {
	t.asks(st)
	return t.reply
}

// asks sets the turn's reply to ask's. It builds the reply where it stays,
// in the turn: a reply returned is one more copy in the frames of ask and
// of its caller, and the turns that ask are the deepest (see
// TestStepStack).
func (t *turn) asks(st *flow.State) {
	s, r := t.s, &t.reply
	if a := t.asked(st); a != nil {
		t.askedReply(st, a)
		return
	}
	// The messages: those on the way, the state's, then the summary or the
	// current answer. Sized once; nil when there are none.
	n := len(t.msgs) + len(st.Say)
	v, answered := s.Answers[st.Save]
	if st.Ask == flow.InputSummary || answered {
		n++
	}
	var msgs []string
	if n > 0 {
		msgs = make([]string, 0, n)
	}
	msgs = append(msgs, t.msgs...)
	for _, txt := range st.Say {
		msgs = append(msgs, t.say(txt, s.Answers))
	}
	if st.Ask == flow.InputSummary {
		msgs = append(msgs, t.summary(st))
	} else if answered {
		msgs = append(msgs, t.text("bot.current", map[string]any{"value": t.display(st, v)}))
	}
	back := len(s.History) > 0
	room := 0
	if back {
		room = 1
	}
	choices := t.choices(st, room)
	*r = Reply{}
	r.Type, r.State, r.Field, r.Input, r.Messages, r.Choices = "reply", st.ID, st.Save, st.Ask.Wire(), msgs, choices
	if st.Ask == flow.InputFiles {
		t.filesReply(r, st)
	}
	if st.Ask == flow.InputSummary {
		r.enc = t.pieces()
	}
	if back {
		r.Choices = append(r.Choices, Choice{Value: flow.ValueBack, Label: t.text("bot.choice.back", nil)})
	}
}

// asked returns the plan's parts of question st's reply, when ask would
// build the same now: no messages on the way, and no answer to show.
func (t *turn) asked(st *flow.State) *asked {
	if t.uncached || len(t.msgs) > 0 {
		return nil
	}
	a := t.plan().replies(t.s.Lang).asked[st.ID]
	if a == nil {
		return nil
	}
	if _, answered := t.s.Answers[st.Save]; answered {
		return nil
	}
	return a
}

// pieces are the plan's quick replies written as JSON, for a reply that
// puts some of them together; nil when every reply is built anew.
func (t *turn) pieces() *encoded {
	if t.uncached {
		return nil
	}
	return t.plan().replies(t.s.Lang).pieces
}

// askedReply sets the turn's reply to ask's reply to question st from its
// parts a.
func (t *turn) askedReply(st *flow.State, a *asked) {
	back := 0
	if len(t.s.History) > 0 {
		back = 1
	}
	r := &t.reply
	*r = Reply{}
	r.Type, r.State, r.Field, r.Input, r.Messages, r.Choices, r.enc = "reply", st.ID, st.Save, st.Ask.Wire(), a.msgs, a.choices[back],
		a.enc[back]
}

// choices are the quick replies a state offers, without back, in a new
// slice with room for that many more.
func (t *turn) choices(st *flow.State, room int) []Choice {
	switch st.Ask {
	case flow.InputChoice, flow.InputConfirm:
		cs, ok := t.plan().replies(t.s.Lang).choices[st.ID]
		if !ok {
			cs = t.e.quickReplies(t.f, st, t.s.Lang)
		}
		out := make([]Choice, len(cs), len(cs)+room)
		copy(out, cs)
		return out
	case flow.InputFiles:
		return t.filesChoices(true, room)
	case flow.InputSummary:
		p := t.plan()
		labels := p.replies(t.s.Lang).edit
		out := make([]Choice, 1, 1+len(t.s.History)+room)
		out[0] = Choice{Value: flow.ValueSubmit, Label: t.text("bot.choice.submit", nil)}
		for _, id := range t.s.History {
			q := t.f.States[id]
			if q == nil || q.Save == "" || !st.Editable(q.Save) {
				continue
			}
			label, ok := labels[id]
			if !ok {
				label = t.e.editLabel(q, t.s.Lang)
			}
			out = append(out, Choice{Value: p.edit[id], Label: label})
		}
		return out
	}
	return nil
}

// choiceLabel is the label of the quick reply of a choice or confirm
// state with that value, as choices gives it.
func (t *turn) choiceLabel(st *flow.State, value string) (string, bool) {
	cs, ok := t.plan().replies(t.s.Lang).choices[st.ID]
	if !ok {
		cs = t.e.quickReplies(t.f, st, t.s.Lang)
	}
	for _, c := range cs {
		if c.Value == value {
			return c.Label, true
		}
	}
	return "", false
}

// summary lists the answers on the path, in full: the user's own screen.
func (t *turn) summary(st *flow.State) string {
	var b strings.Builder
	var data map[string]any // the catalogue only reads it: one for every line
	r := t.plan().replies(t.s.Lang)
	for _, id := range t.s.History {
		q := t.f.States[id]
		if q == nil || q.Save == "" || !st.Editable(q.Save) {
			continue
		}
		v, ok := t.s.Answers[q.Save]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		if line, ok := r.lines[id]; ok && !t.uncached {
			b.WriteString(line[0])
			locale.WriteValue(&b, t.display(q, v))
			b.WriteString(line[1])
			continue
		}
		if data == nil {
			data = map[string]any{}
		}
		label, ok := r.labels[id]
		if !ok {
			label = t.say(q.Label, nil)
		}
		data["label"], data["value"] = label, t.display(q, v)
		b.WriteString(t.text("bot.summary.line", data))
	}
	return b.String()
}

// display shows an answer as the user knows it, as template data: a string
// answer is returned as it is, so showing it needs no new interface value.
func (t *turn) display(q *flow.State, v any) any {
	switch q.Ask {
	case flow.InputChoice, flow.InputConfirm:
		if label, ok := t.choiceLabel(q, choiceValue(v)); ok {
			return label
		}
		if b, ok := v.(bool); ok {
			return t.text("bot.value."+choiceValue(b), nil)
		}
	case flow.InputAmount:
		if n, ok := v.(int64); ok {
			return t.text("bot.value.amount", map[string]any{"value": formatInt(n)})
		}
	case flow.InputFiles:
		return t.filesValue(v)
	}
	if _, ok := v.(string); ok {
		return v // what fmt.Sprint gives, without a copy
	}
	return fmt.Sprint(v)
}

// formatInt writes 250000 as 250,000.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
