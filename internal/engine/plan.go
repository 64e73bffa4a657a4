package engine

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/looplab/fsm"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
	"github.com/claimbot/claimbot/internal/validate"
)

// plan is what every step in one flow version needs again and again,
// worked out once per engine: flows and the catalogue are immutable, so
// the quick replies of a state in a language never change.
type plan struct {
	f        *flow.Flow
	machines sync.Pool           // *fsm.FSM of the flow, for fire
	edit     map[string]string   // state id → the summary choice that changes its answer
	langs    map[string]*replies // catalogue language → the flow's quick replies in it
	// arrivals remembers where walks of the flow stopped at a question
	// (see turn.derive); nil when the flow's walks may not be resumed there.
	arrivals *arrivals
}

// replies are a flow's quick replies in one language. A language the
// catalogue does not have gets an empty set, and the turn works its
// replies out on every call, as before.
type replies struct {
	choices map[string][]Choice          // choice or confirm state id → its quick replies, without back
	options map[string][]validate.Option // the same state id → its quick replies as the matcher sees them
	edit    map[string]string            // state id → the label of the summary choice that changes its answer
	labels  map[string]any               // state id → its label, as the summary's template data
}

// plan returns the plan of flow f, making it on first use: older versions
// of a flow reach the engine after New, when a session pinned to them comes.
// The current flows' plans stay for the engine's life; older versions'
// are kept while they are among the MaxVersions most recently used.
func (e *Engine) plan(f *flow.Flow) *plan {
	if e.flows[f.ID] != f {
		// An older version: kept while recently used, by id and version,
		// so a version loaded again from Redis replaces its stale plan.
		// Two turns may build it at once; either plan serves.
		key := f.ID + "@" + f.Version
		if p, ok := e.oldPlans.Get(key); ok && p.f == f {
			return p
		}
		p := e.newPlan(f)
		e.oldPlans.Add(key, p)
		return p
	}
	if p, ok := e.plans.Load(f); ok {
		return p.(*plan)
	}
	p, _ := e.plans.LoadOrStore(f, e.newPlan(f))
	return p.(*plan)
}

func (e *Engine) newPlan(f *flow.Flow) *plan {
	p := &plan{f: f, edit: map[string]string{}, langs: map[string]*replies{}}
	for id, st := range f.States {
		if st.Save != "" {
			p.edit[id] = flow.EditPrefix + st.Save
		}
	}
	for _, lang := range e.cat.Languages() {
		r := &replies{choices: map[string][]Choice{}, options: map[string][]validate.Option{}, edit: map[string]string{},
			labels: map[string]any{}}
		for id, st := range f.States {
			switch st.Ask {
			case flow.InputChoice, flow.InputConfirm:
				cs := e.quickReplies(f, st, lang)
				r.choices[id] = cs
				r.options[id] = matcherOptions(st, cs)
			}
			if st.Save != "" {
				r.edit[id] = e.editLabel(st, lang)
				r.labels[id] = say(e.cat, lang, st.Label, nil)
			}
		}
		p.langs[lang] = r
	}
	if resumable(f) {
		p.arrivals = &arrivals{cur: map[string][]answer{}}
	}
	return p
}

// A walk of a flow (turn.derive) from its start to the first arrival at a
// state X is a function of what it reads on the way: whether the states it
// passes were skipped (s.Skipped), and the answers of the questions it
// passes, which are the history it has at X. Everything else it reads is
// what it computed itself: the kept answers, over which the set: and next:
// expressions run. So two walks of one flow version that arrive at X with
// the same history, the same answers to its questions and the same skipped
// states have the same kept answers there; the second may start at X with
// the first one's kept answers instead of walking from the start. That
// holds when the expressions are functions of the kept answers alone (no
// now(), nothing that depends on a map's order), and when the walk passes
// no state twice (no loop, where it would panic after many hops).

// arrivals are walks that stopped at a question, by their arrival key (see
// appendAnswered): for each, the answers it computed (set:) on the way, as
// they were on arriving; the others are the history's answers, which the
// key holds. Bounded: the older half is dropped when full.
type arrivals struct {
	mu       sync.Mutex
	cur, old map[string][]answer
	hits     int // how many walks started at a question (for the tests)
}

// answer is one kept answer of an arrival.
type answer struct {
	key string
	v   any
}

// maxArrivals is how many arrivals a flow version keeps, twice over: one for
// every conversation in progress on an instance is plenty.
const maxArrivals = 4096

// get returns the computed answers of the arrival with that key, which the
// caller must not change.
func (a *arrivals) get(key []byte) ([]answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	computed, ok := a.cur[string(key)]
	if !ok {
		computed, ok = a.old[string(key)]
	}
	if ok {
		a.hits++
	}
	return computed, ok
}

// put remembers an arrival with its kept answers, of which the walk
// computed those under the keys sets (repeats allowed); unless it knows it
// already: the same key has the same answers.
func (a *arrivals) put(key []byte, kept map[string]any, sets []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.cur[string(key)]; ok {
		return
	}
	var computed []answer
	for i, k := range sets {
		if slices.Contains(sets[:i], k) {
			continue
		}
		v := kept[k]
		switch v.(type) {
		case string, bool, int64, int, float64:
		default:
			return // a value the sessions starting from it would share
		}
		computed = append(computed, answer{k, v})
	}
	if len(a.cur) >= maxArrivals {
		a.old, a.cur = a.cur, make(map[string][]answer, maxArrivals)
	}
	a.cur[string(key)] = computed
}

// resumable reports whether walks of f may start at an arrival (see
// arrivals): its set: and next: expressions use neither now() nor $env (a
// conservative test of their text), and the walk's moves (next:, a
// choice's to:, fallback:) form no loop.
func resumable(f *flow.Flow) bool {
	for _, st := range f.States {
		for _, a := range st.Set {
			if impure(a.Expr) {
				return false
			}
		}
		for _, b := range st.Next {
			if impure(b.If) {
				return false
			}
		}
	}
	const (
		unseen = iota
		open
		done
	)
	mark := map[string]int{}
	var loops func(id string) bool
	loops = func(id string) bool {
		switch mark[id] {
		case open:
			return true
		case done:
			return false
		}
		mark[id] = open
		st := f.States[id]
		if st != nil {
			for _, c := range st.Choices {
				if c.To != "" && loops(c.To) {
					return true
				}
			}
			for _, b := range st.Next {
				if loops(b.To) {
					return true
				}
			}
			if st.Fallback != "" && loops(st.Fallback) {
				return true
			}
		}
		mark[id] = done
		return false
	}
	for id := range f.States {
		if loops(id) {
			return false
		}
	}
	return true
}

func impure(expr string) bool { return strings.Contains(expr, "now") || strings.Contains(expr, "$env") }

// An arrival key tells a walk's arrival at a question: the questions on
// its history, each with its answer as the walk knows it ('h' entries, see
// appendAnswered), then the skipped states ('k') and the question ('@').
// The parts are length-prefixed, so different arrivals have different keys.

// appendHistory appends the history entries of the turn's walk arriving
// with that history, and adds their answers to kept; ok is false when the
// walk may not be remembered nor resumed (see appendAnswered).
func (t *turn) appendHistory(b []byte, history []string, kept map[string]any) (_ []byte, ok bool) {
	for _, id := range history {
		st := t.f.States[id]
		if st == nil || st.Ask == flow.InputSummary {
			return b, false
		}
		v, ok := t.known(st.Save)
		if !ok {
			return b, false
		}
		if b, ok = appendAnswered(b, id, v); !ok {
			return b, false
		}
		kept[st.Save] = v
	}
	return b, true
}

// appendAnswered appends the history entry of question id answered v; ok
// is false for an answer of a kind the key does not tell apart. (Nor may a
// summary be on the way: a walk from the summary passes it, any other
// stops there; derive keeps no key then.)
func appendAnswered(b []byte, id string, v any) (_ []byte, ok bool) {
	b = appendKeyString(append(b, 'h'), id)
	switch v := v.(type) {
	case string:
		b = appendKeyString(append(b, 's'), v)
	case bool:
		if v {
			b = append(b, 't')
		} else {
			b = append(b, 'f')
		}
	case int64:
		b = binary.AppendVarint(append(b, 'i'), v)
	default:
		return b, false
	}
	return b, true
}

// appendArrival ends a key after its history entries: the skipped states
// and the question at.
func (t *turn) appendArrival(b []byte, at string) []byte {
	b = binary.AppendUvarint(append(b, 'k'), uint64(len(t.s.Skipped)))
	for _, id := range t.s.Skipped {
		b = appendKeyString(b, id)
	}
	return appendKeyString(append(b, '@'), at)
}

func appendKeyString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// noReplies stands for the quick replies of a language not in the catalogue.
var noReplies = &replies{}

// replies returns the flow's quick replies in lang.
func (p *plan) replies(lang string) *replies {
	if r := p.langs[lang]; r != nil {
		return r
	}
	return noReplies
}

// machine returns a state machine of the flow from the pool, in state from.
func (p *plan) machine(from string) *fsm.FSM {
	m, _ := p.machines.Get().(*fsm.FSM)
	if m == nil {
		return p.f.Machine(from)
	}
	m.SetState(from)
	return m
}

// quickReplies are the quick replies of a choice or confirm state in lang,
// without back; with their short labels where the flow gives them.
func (e *Engine) quickReplies(f *flow.Flow, st *flow.State, lang string) []Choice {
	if len(st.Choices) == 0 { // confirm with the default labels
		return []Choice{
			{Value: flow.ValueYes, Label: e.cat.Text(lang, "bot.choice.yes", nil)},
			{Value: flow.ValueNo, Label: e.cat.Text(lang, "bot.choice.no", nil)},
		}
	}
	out := make([]Choice, len(st.Choices))
	for i, c := range st.Choices {
		label, short := c.Label, c.Short
		if lang != locale.Source {
			label = e.cat.Text(lang, f.ChoiceID(st.ID, c.Value), nil)
			if short != "" {
				short = e.cat.Text(lang, f.ShortID(st.ID, c.Value), nil)
			}
		}
		out[i] = Choice{Value: c.Value, Label: label, Short: short}
	}
	return out
}

// matcherOptions are a state's quick replies cs as the matcher sees them:
// the label in the session's language, the Korean label, the short labels
// (a quick reply's tap on a channel that shows them sends it as text) and
// the synonyms.
func matcherOptions(st *flow.State, cs []Choice) []validate.Option {
	var opts []validate.Option
	for _, c := range cs {
		o := validate.Option{Value: c.Value, Label: c.Label}
		if c.Short != "" && c.Short != c.Label {
			o.Also = append(o.Also, c.Short)
		}
		if fc := choiceOf(st, c.Value); fc != nil {
			o.Also = append(o.Also, fc.Also...)
			if fc.Label != c.Label && fc.Label != "" {
				o.Also = append(o.Also, fc.Label)
			}
			if fc.Short != "" && fc.Short != c.Short && fc.Short != fc.Label {
				o.Also = append(o.Also, fc.Short)
			}
		}
		opts = append(opts, o)
	}
	return opts
}

// editLabel is the label of the summary choice that changes q's answer.
func (e *Engine) editLabel(q *flow.State, lang string) string {
	return e.cat.Text(lang, "bot.summary.edit", map[string]any{"label": say(e.cat, lang, q.Label, nil)})
}

// say renders a flow text in lang: the Korean source needs no catalogue
// unless it is a template.
func say(cat *locale.Catalog, lang string, txt flow.Text, data any) string {
	if txt.Tmpl == nil && lang == locale.Source {
		return txt.Source
	}
	return cat.Text(lang, txt.ID, data)
}

// choiceOf is st.Choice without copying the choices: the choice with that
// value, or nil.
func choiceOf(st *flow.State, value string) *flow.Choice {
	for i := range st.Choices {
		if st.Choices[i].Value == value {
			return &st.Choices[i]
		}
	}
	return nil
}
