package insight

import (
	"slices"
	"strconv"
	"strings"
	"sync"

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
	// Waiting is the state the conversation waits in after the turn; ""
	// when it ended (a terminal state), and then it leaves the live set.
	Waiting string
	// Once are counted once per conversation: reached:<state> and
	// answered:<state>, each with its token in the visited list.
	Once []Field
	// Always are counted each time: claims and the filed claim's values.
	Always []string
	// Handoff is the state in which the turn asked for a person (counted
	// as handoff:<state>), from engine.Result.Handoff.
	Handoff string
}

// Field is a count kept once per conversation, with its short token.
type Field struct{ Token, Name string }

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
type stateFields struct{ reached, answered Field }

// fields caches them, per loaded flow.
var fields sync.Map // *flow.Flow → map[string]stateFields

func fieldsOf(f *flow.Flow) map[string]stateFields {
	if v, ok := fields.Load(f); ok {
		return v.(map[string]stateFields)
	}
	m := make(map[string]stateFields, len(f.Order))
	for i, id := range f.Order {
		n := strconv.Itoa(i)
		m[id] = stateFields{Field{"r" + n, "reached:" + id}, Field{"a" + n, "answered:" + id}}
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
// nor rewrites a list of its own, and a turn's counts cost Redis a
// HINCRBY per new field and one HSET.
func Of(f *flow.Flow, before *engine.Session, res engine.Result, fresh bool) Turn {
	after := res.Session
	var t Turn
	fs := fieldsOf(f)
	t.Started = fresh || restarted(f, before, after)
	visited := before.Visited
	if t.Started {
		visited = "" // a new conversation: what the last one visited is forgotten
	}
	once := func(kind byte, state string) {
		sf, ok := fs[state]
		if !ok {
			return // a state of an older version that the current one lacks
		}
		field := sf.reached
		if kind == 'a' {
			field = sf.answered
		}
		if seen(visited, field.Token) {
			return
		}
		visited += "," + field.Token
		t.Once = append(t.Once, field)
	}
	if t.Started {
		once('r', f.Start)
	}
	if res.Applied && len(res.Moves) > 0 {
		// The first move leaves the state the input answered; a fallback
		// (too many refusals) leaves it unanswered.
		if m := res.Moves[0]; m.From == before.State && m.Event != flow.EventFallback {
			once('a', m.From)
		}
		for _, m := range res.Moves {
			once('r', m.To)
		}
	}
	if !after.Done {
		t.Waiting = after.State
	}
	if h := res.Handoff; h != nil {
		t.Always = append(t.Always, "handoffs")
		if _, ok := fs[h.State]; ok {
			t.Handoff = h.State // a state the current version lacks counts in handoffs only
		}
	}
	after.Visited = visited
	if cl := res.Claim; cl != nil {
		t.Always = append(t.Always, "claims")
		sets := valueSet(f)
		for _, k := range Keys {
			if v, ok := cl.Answers[k].(string); ok && sets[k][v] {
				t.Always = append(t.Always, k+":"+v)
			}
		}
	}
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

// Append adds the turn's arguments for the turn script: the user, the time
// of the turn and when the conversation stops if it makes no other move
// (unix ms), then the turn.
func (t Turn) Append(args []any, user string, now, stop int64) []any {
	started := "0"
	if t.Started {
		started = "1"
	}
	plain := len(t.Always)
	if t.Handoff != "" {
		plain++
	}
	args = append(args, user, now, stop, t.Waiting, started, plain)
	for _, f := range t.Always {
		args = append(args, f)
	}
	if t.Handoff != "" {
		args = append(args, "handoff:"+t.Handoff)
	}
	args = append(args, len(t.Once))
	for _, f := range t.Once {
		args = append(args, f.Token, f.Name)
	}
	return args
}
