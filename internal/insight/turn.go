package insight

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
)

// Turn is what one written turn adds to the counts: the store computes it
// from the session before and after the step and passes it to its turn
// script (Append), which applies it with the write, or not at all.
type Turn struct {
	// Started: the conversation starts with this write (the session's
	// first write, or a restart). What it had visited is forgotten.
	Started bool
	// Field names every count the turn adds one to, joined by spaces, in
	// this order: reached:<state> and answered:<state> not counted yet in
	// this conversation (counted against its visited list), claims and
	// the filed claim's values, handoffs and handoff:<state>, then
	// out:<state> and in:<state> when the state the conversation waits in
	// changes; "" for none. The turn script adds one to it as a single
	// field of the counts hash, which the report splits: one HINCRBY
	// however many counts the turn touches. A name holds no space (states
	// and values are identifiers), and the combinations a flow can give
	// are few (the moves a turn can make, times the values of a claim),
	// so the hash stays small.
	Field string
	// arg is Field boxed as the script's argument, interned (see
	// fieldArg); nil when the Turn was not made by Of.
	arg any
}

// fieldArgs interns the turns' fields, each boxed as the turn script's
// argument: a flow gives few of them (see Turn.Field), so a turn finds its
// own there and makes neither the string nor its box. Readers load the
// map without a lock; a new field is added to a copy. It keeps at most
// maxFieldArgs; fields past that are made every time, as before.
var fieldArgs struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]any]
}

const maxFieldArgs = 1024

// fieldArg returns field as a string boxed in an interface, interned.
func fieldArg(field []byte) any {
	if m := fieldArgs.m.Load(); m != nil {
		if v, ok := (*m)[string(field)]; ok {
			return v
		}
	}
	s := string(field)
	var v any = s
	fieldArgs.mu.Lock()
	defer fieldArgs.mu.Unlock()
	old := fieldArgs.m.Load()
	if old != nil {
		if w, ok := (*old)[s]; ok {
			return w // another turn added it meanwhile
		}
		if len(*old) >= maxFieldArgs {
			return v
		}
	}
	m := make(map[string]any, 1+lenOf(old))
	if old != nil {
		maps.Copy(m, *old)
	}
	m[s] = v
	fieldArgs.m.Store(&m)
	return v
}

func lenOf(m *map[string]any) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// field is a count kept once per conversation, with the short token that
// marks it counted in the visited list.
type field struct{ token, name string }

// values caches, per loaded flow, the counted values of Keys; byID holds
// those of the flow version last counted under each flow id.
var values, byID sync.Map // *flow.Flow or flow id → map[string]map[string]bool

func valueSet(f *flow.Flow) map[string]map[string]bool {
	if v, ok := values.Load(f); ok {
		return v.(map[string]map[string]bool)
	}
	m := make(map[string]map[string]bool, len(Keys))
	for _, k := range Keys {
		m[k] = map[string]bool{}
		for _, v := range Values(f, k) {
			m[k][v] = true
		}
	}
	values.Store(f, m)
	byID.Store(f.ID, m)
	return m
}

// Label is a claim's answer to key as a metric label, bounded like the
// counts' fields: a value the flow offers (as of the last turn counted in
// that flow; the contract's before any), "other" for any other value
// (never free text), "none" when the claim has no such answer.
func Label(flowID, key string, answers map[string]any) string {
	v, ok := answers[key].(string)
	if !ok {
		return "none"
	}
	if m, found := byID.Load(flowID); found {
		if m.(map[string]map[string]bool)[key][v] {
			return v
		}
		return "other"
	}
	if slices.Contains(defaults[key], v) {
		return v
	}
	return "other"
}

// stateFields are a state's once-per-conversation fields, made once per
// loaded flow: the visited list holds the tokens (the state's place in the
// flow's order), not the states' names.
type stateFields struct {
	reached, answered field
	in, out           string
}

// fields caches them, per loaded flow.
var fields sync.Map // *flow.Flow → map[string]stateFields

type flowFields map[string]stateFields

// move returns a state's in and out fields; for a state the current
// version lacks (a conversation started on an older one), made anew.
func (fs flowFields) move(state string) stateFields {
	if sf, ok := fs[state]; ok {
		return sf
	}
	return stateFields{in: "in:" + state, out: "out:" + state}
}

func fieldsOf(f *flow.Flow) flowFields {
	if v, ok := fields.Load(f); ok {
		return v.(flowFields)
	}
	m := make(flowFields, len(f.Order))
	for i, id := range f.Order {
		n := strconv.Itoa(i)
		m[id] = stateFields{field{"r" + n, "reached:" + id}, field{"a" + n, "answered:" + id}, "in:" + id, "out:" + id}
	}
	fields.Store(f, m)
	return m
}

// Of is what a step adds to the counts of flow f (the flow's current
// version: its states and values bound the fields). before is the session
// the step was given, res its result (res.Session is written); fresh
// says the session did not exist in Redis yet.
//
// The once-per-conversation fields are counted against the session's own
// list of what it counted (engine.Session.Visited): Of leaves out those
// already there and adds the new ones to res.Session.Visited, which the
// store writes with the counts in one script. So the script neither reads
// nor rewrites a list of its own, and a turn's counts cost Redis one
// HINCRBY (of the composite field, see Append) and nothing else.
//
// Where conversations wait is counted by their moves: in:<state> when a
// conversation comes to wait in a state, out:<state> when it leaves it
// (for another, an end, or a new conversation). So in − out of a state is
// how many conversations last waited there without ending: those under
// way, whose sessions the report finds, and those that stopped (see the
// package comment).
func Of(f *flow.Flow, before *engine.Session, res engine.Result, fresh bool) Turn {
	after := res.Session
	fs := fieldsOf(f)
	t := Turn{Started: fresh || restarted(f, before, after)}
	visited := before.Visited
	if t.Started {
		visited = "" // a new conversation: what the last one visited is forgotten
	}
	var fieldBuf [192]byte
	field := fieldBuf[:0]
	add := func(name ...string) { // one name, from its parts
		if len(field) > 0 {
			field = append(field, ' ')
		}
		for _, part := range name {
			field = append(field, part...)
		}
	}
	var newBuf [32]byte
	added := newBuf[:0] // tokens new to the visited list: ",r4,a3"
	count := func(kind byte, state string) {
		sf, ok := fs[state]
		if !ok {
			return // a state of an older version that the current one lacks
		}
		fd := sf.reached
		if kind == 'a' {
			fd = sf.answered
		}
		if seen(visited, fd.token) || seen(string(added), fd.token) {
			return
		}
		added = append(append(added, ','), fd.token...)
		add(fd.name)
	}
	if t.Started {
		count('r', f.Start)
	}
	if res.Applied && len(res.Moves) > 0 {
		// The first move leaves the state the input answered; a fallback
		// (too many refusals) leaves it unanswered.
		if m := res.Moves[0]; m.From == before.State && m.Event != flow.EventFallback {
			count('a', m.From)
		}
		for _, m := range res.Moves {
			count('r', m.To)
		}
	}
	after.Visited = visited + string(added)
	if cl := res.Claim; cl != nil {
		add("claims")
		sets := valueSet(f)
		for _, k := range Keys {
			if v, ok := cl.Answers[k].(string); ok && sets[k][v] {
				add(k, ":", v)
			}
		}
	}
	if h := res.Handoff; h != nil {
		add("handoffs")
		if _, ok := fs[h.State]; ok {
			add("handoff:", h.State) // a state the current version lacks counts in handoffs only
		}
	}
	// The state the conversation waited in before the turn and waits in
	// after it ("" for none: a new session, or an ended conversation).
	var was, is string
	if !fresh && !before.Done {
		was = before.State
	}
	if !after.Done {
		is = after.State
	}
	if was != is || (t.Started && was != "") {
		if was != "" {
			add(fs.move(was).out)
		}
		if is != "" {
			add(fs.move(is).in)
		}
	}
	t.arg = fieldArg(field)
	t.Field = t.arg.(string)
	return t
}

// seen reports whether a visited list (",r0,a0,r3") holds a token.
func seen(visited, token string) bool {
	for i := 0; ; {
		j := strings.Index(visited[i:], token)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(token)
		if j > 0 && visited[j-1] == ',' && (end == len(visited) || visited[end] == ',') {
			return true
		}
		i = j + 1
	}
}

// restarted reports whether a step started the conversation over: it
// waits at the start with nothing answered, and did not before.
func restarted(f *flow.Flow, before, after *engine.Session) bool {
	atStart := func(s *engine.Session) bool {
		return s.State == f.Start && len(s.Answers) == 0 && len(s.History) == 0 && !s.Done
	}
	return atStart(after) && !atStart(before)
}

// Append adds the turn's argument for the turn script: its Field.
func (t Turn) Append(args []any) []any {
	if t.arg != nil && t.arg.(string) == t.Field {
		return append(args, t.arg)
	}
	return append(args, t.Field)
}
