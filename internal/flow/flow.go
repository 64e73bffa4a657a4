// Package flow holds the dialog flows that product staff write in YAML
// under flows/: the model, its one loader (used by the server, by
// `claimbot lint` and by tests), the expression language of conditions and
// computed answers, and the state machine drawn from a flow.
package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Input is the kind of answer a state waits for.
type Input string

// The input kinds of the contract (§2), plus summary, which staff write in
// flows and which the wire shows as a choice.
const (
	InputNone           Input = "none"
	InputChoice         Input = "choice"
	InputConfirm        Input = "confirm"
	InputText           Input = "text"
	InputEmail          Input = "email"
	InputPhone          Input = "phone"
	InputAmount         Input = "amount"
	InputBusinessNumber Input = "business_number"
	InputSummary        Input = "summary"
	InputFiles          Input = "files" // evidence uploads (CONTRACT §2, §7)
)

// Inputs lists the kinds a flow may ask for, in the order the docs give them.
var Inputs = []Input{InputChoice, InputConfirm, InputText, InputEmail, InputPhone, InputAmount, InputBusinessNumber, InputFiles, InputSummary}

// Wire is the input kind as the WebSocket frame names it.
func (in Input) Wire() string {
	if in == InputSummary {
		return string(InputChoice)
	}
	if in == "" {
		return string(InputNone)
	}
	return string(in)
}

// Reserved choice values: they run commands in every state.
const (
	ValueBack    = "back"
	ValueRestart = "restart"
	ValueHandoff = "handoff" // ask for a person (CONTRACT §2, §4)
	ValueSubmit  = "submit"
	ValueYes     = "yes"
	ValueNo      = "no"
	EditPrefix   = "edit_"

	// A files question's quick replies: go on with the files attached,
	// go on without them, or take one back (RemovePrefix + its id).
	ValueDone    = "done"
	ValueLater   = "later"
	RemovePrefix = "remove_"
	// The answers a files question saves.
	ValueAttached = "attached"
)

// Defaults of a files question's limits (CONTRACT §2).
const (
	DefaultMaxFiles = 10
	DefaultMaxBytes = 20 << 20
	// MaxBytesLimit bounds what a flow may set: larger files are not
	// documents a phone should send through a chat.
	MaxBytesLimit = 100 << 20
	MaxFilesLimit = 20
)

// DefaultAccept are the types a files question accepts unless it says.
var DefaultAccept = []string{"application/pdf", "image/jpeg", "image/png", "image/heic"}

// AcceptableTypes are the types a flow may accept: the ones the uploads'
// sniffer can tell from the bytes and a backend can open.
var AcceptableTypes = []string{"application/pdf", "image/jpeg", "image/png", "image/heic", "image/heif", "image/webp", "image/gif", "image/tiff"}

// Files are a files question's limits; a files state always has them,
// with the defaults filled in.
type Files struct {
	MaxFiles int      // how many files may be attached
	MaxBytes int64    // bytes per file
	Accept   []string // MIME types, as decided from the bytes
	Pos      Pos
}

// Pos is a place in a flow file.
type Pos struct{ Line, Col int }

// ShortLabel is the most characters (runes) a choice's label may have on
// channels with tight label limits (the messenger's chatbot builder, whose
// quick replies take 14): a longer label wants a short one for them.
const ShortLabel = 14

// Choice is a quick reply.
type Choice struct {
	Value string
	Label string
	// Short is the label on channels with tight label limits (at most
	// ShortLabel characters); empty: the label.
	Short string
	Also  []string // typed synonyms
	To    string   // optional: where this choice leads, before the state's next
	Event string   // the state machine event this choice fires, when To is set
	Pos   Pos
}

// Branch is one entry of a state's next list: the first whose condition
// holds (or that has none) is taken.
type Branch struct {
	If    string
	To    string
	Event string
	Pos   Pos
	prog  *vm.Program
	fast  func(answers map[string]any) bool // prog as Go closures, when it is in their subset
}

// Assign is a computed answer: Key gets the value of Expr on entering the state.
type Assign struct {
	Key  string
	Expr string
	Pos  Pos
	prog *vm.Program
}

// Text is a message shown to the user. ID is its message id in the locale
// catalogue (the Korean source is Source); Tmpl is set when Source holds
// Go template actions.
type Text struct {
	ID     string
	Source string
	Tmpl   *template.Template
	Pos    Pos
}

// State is one step of a dialog.
type State struct {
	ID       string
	Say      []Text
	Ask      Input
	Save     string // the answer key the state fills
	Label    Text   // short name of the answer, shown in the summary
	Choices  []Choice
	Min, Max int64 // text length in runes, or amount bounds
	Invalid  *Text // refusal text; nil means the default of the input kind
	Tries    int   // refusals before Fallback
	Fallback string
	Set      []Assign
	Next     []Branch
	End      bool
	Submit   bool
	Except   []string // summary: answer keys not shown nor changeable
	Files    *Files   // files: its limits (defaults filled in)
	Pos      Pos

	keyPos map[string]Pos
}

// Waits reports whether the state waits for the user.
func (s *State) Waits() bool { return s.Ask != "" }

// Terminal reports whether the conversation ends in the state.
func (s *State) Terminal() bool { return s.End || s.Submit }

// Choice returns the choice with that value.
func (s *State) Choice(value string) (Choice, bool) {
	for _, c := range s.Choices {
		if c.Value == value {
			return c, true
		}
	}
	return Choice{}, false
}

// Handoff is how a flow answers the handoff command (CONTRACT §4): Off
// turns it off; the texts, when set, replace the bot's own (Requested
// knows {{.phone}}).
type Handoff struct {
	Off                      bool
	Centre, Phone, Requested *Text
}

// Window is an intake window: open from Opens, closed from Closes (a
// date-only closes in a flow file is the next day's 00:00 KST). A zero time
// is an open end.
type Window struct {
	Opens, Closes time.Time
	Closed        *Text
}

// Open reports whether intake is open at t.
func (w *Window) Open(t time.Time) bool {
	if w == nil {
		return true
	}
	if !w.Opens.IsZero() && t.Before(w.Opens) {
		return false
	}
	if !w.Closes.IsZero() && !t.Before(w.Closes) {
		return false
	}
	return true
}

// Flow is a loaded, checked and immutable dialog flow.
type Flow struct {
	ID      string
	Title   Text
	Start   string
	Intake  *Window
	Handoff Handoff
	States  map[string]*State
	Order   []string          // state ids in file order
	Fields  map[string]*State // answer key → the state that asks it
	Keys    []string          // every answer key, asked or computed, sorted
	Path    string
	Source  []byte
	Version string // hash of Source
	Summary string // the summary state's id, if any
	// FilesState is the id of the state that asks for files, if any (a
	// flow asks for files at most once).
	FilesState string
}

// Texts lists every text of the flow that a translation must cover.
func (f *Flow) Texts() []Text {
	var out []Text
	add := func(t Text) {
		if t.ID != "" {
			out = append(out, t)
		}
	}
	add(f.Title)
	if f.Intake != nil && f.Intake.Closed != nil {
		add(*f.Intake.Closed)
	}
	for _, t := range []*Text{f.Handoff.Centre, f.Handoff.Phone, f.Handoff.Requested} {
		if t != nil {
			add(*t)
		}
	}
	for _, id := range f.Order {
		s := f.States[id]
		for _, t := range s.Say {
			add(t)
		}
		add(s.Label)
		if s.Invalid != nil {
			add(*s.Invalid)
		}
		for _, c := range s.Choices {
			if c.Label != "" {
				add(Text{ID: f.ChoiceID(id, c.Value), Source: c.Label, Pos: c.Pos})
			}
			if c.Short != "" {
				add(Text{ID: f.ShortID(id, c.Value), Source: c.Short, Pos: c.Pos})
			}
		}
	}
	return out
}

// ChoiceID is the message id of a choice's label.
func (f *Flow) ChoiceID(state, value string) string { return f.ID + "." + state + ".choice." + value }

// ShortID is the message id of a choice's short label.
func (f *Flow) ShortID(state, value string) string { return f.ChoiceID(state, value) + ".short" }

// State returns the state with that id, or nil.
func (f *Flow) State(id string) *State { return f.States[id] }

// Version hashes a flow's source: 12 hex digits of its SHA-256.
func Version(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:6])
}

// Problem is something wrong with a flow file, with where it is.
type Problem struct {
	File    string
	Pos     Pos
	State   string
	Msg     string
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Pos.Line, p.Pos.Col)
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.State != "" {
		fmt.Fprintf(&b, "state %q: ", p.State)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is a list of problems; it is an error when it holds an error.
type Problems []Problem

// Errors returns only the errors (not the warnings).
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Sort orders problems by file and place.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
}

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
