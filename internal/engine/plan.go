package engine

import (
	"context"
	"errors"
	"slices"
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
	// moves are the flow's moves as its state machine makes them: from →
	// event → the state it is in after the event (see movesOf).
	moves map[string]map[string]string
}

// replies are a flow's quick replies in one language. A language the
// catalogue does not have gets an empty set, and the turn works its
// replies out on every call, as before.
type replies struct {
	choices map[string][]Choice          // choice or confirm state id → its quick replies, without back
	options map[string][]validate.Option // the same state id → its quick replies as the matcher sees them
	edit    map[string]string            // state id → the label of the summary choice that changes its answer
	labels  map[string]any               // state id → its label, as the summary's template data
	asked   map[string]*asked            // question id → its reply's parts, when they read nothing of the session
	// lines are the summary's line of each state with an answer, split at
	// the answer (locale.Catalog.Around): the text before it, and after.
	lines map[string][2]string
	// pieces are the quick replies the summary and ends put together from
	// a turn's history and receipt, each written as JSON.
	pieces *encoded
}

// asked is what a question's reply is made of in one language when none
// of its texts reads the session (see newAsked): built once per plan, and
// shared by every reply that asks it with no other message, unanswered.
// What it holds is never changed: its slices have no room to grow, so a
// step that adds to a reply's messages or choices makes new ones.
type asked struct {
	msgs    []string
	choices [2][]Choice // without back, with back
	enc     [2]*encoded // msgs with choices[i], as JSON
	refuse  bool        // its refusals read nothing of the session either
	refused sync.Map    // refusal code → *refused, made on first use
}

// refused is the reply to a refused answer of an asked question, as
// refuse makes it: the refusal, then the question again.
type refused struct {
	msgs []string
	enc  [2]*encoded // msgs with asked.choices[i], as JSON
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
	p := &plan{f: f, edit: map[string]string{}, langs: map[string]*replies{}, moves: movesOf(f)}
	for id, st := range f.States {
		if st.Save != "" {
			p.edit[id] = flow.EditPrefix + st.Save
		}
	}
	for _, lang := range e.cat.Languages() {
		r := &replies{choices: map[string][]Choice{}, options: map[string][]validate.Option{}, edit: map[string]string{},
			labels: map[string]any{}, asked: map[string]*asked{}, lines: map[string][2]string{}}
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
				if before, after, ok := e.cat.Around(lang, "bot.summary.line", "value", map[string]any{"label": r.labels[id]}); ok {
					r.lines[id] = [2]string{before, after}
				}
			}
		}
		p.langs[lang] = r
		r.pieces = e.newPieces(p, r, lang)
		for _, st := range f.States {
			if a := e.newAsked(p, st, lang); a != nil {
				r.asked[st.ID] = a
			}
		}
	}
	return p
}

// newAsked builds the parts of question st's reply in lang, as ask builds
// them, when none of them depends on the session; else it returns nil.
// Conservatively: a question that waits for a typed answer or a quick
// reply (not the summary, not files, whose replies list answers and
// files), whose messages are no templates in lang. Its quick replies and
// back are texts without data already, and its fields are the state's.
func (e *Engine) newAsked(p *plan, st *flow.State, lang string) *asked {
	if !st.Waits() || st.Ask == flow.InputSummary || st.Ask == flow.InputFiles {
		return nil
	}
	for _, txt := range st.Say {
		if !constant(e.cat, lang, txt) {
			return nil
		}
	}
	a := &asked{refuse: st.Invalid == nil || constant(e.cat, lang, *st.Invalid)}
	for i, history := range [][]string{nil, {st.ID}} {
		t := &turn{e: e, f: p.f, p: p, s: &Session{Lang: lang, History: history}, uncached: true}
		r := t.ask(st)
		if i == 0 {
			a.msgs = slices.Clip(r.Messages)
		}
		a.choices[i] = slices.Clip(r.Choices)
		a.enc[i] = encode(a.msgs, a.choices[i])
	}
	return a
}

// newPieces writes as JSON the quick replies of lang that the summary and
// ends put together: submit, each summary choice that changes an answer,
// back, restart and attach, as choices, restart and endChoices make them.
func (e *Engine) newPieces(p *plan, r *replies, lang string) *encoded {
	t := &turn{e: e, f: p.f, p: p, s: &Session{Lang: lang}, uncached: true}
	cs := []Choice{{Value: flow.ValueSubmit, Label: t.text("bot.choice.submit", nil)},
		{Value: flow.ValueBack, Label: t.text("bot.choice.back", nil)},
		{Value: ValueAttach, Label: t.text("bot.choice.attach", nil)}}
	cs = append(cs, t.restart()...)
	for _, id := range p.f.Order {
		if label, ok := r.edit[id]; ok {
			cs = append(cs, Choice{Value: p.edit[id], Label: label})
		}
	}
	enc := &encoded{pieces: map[string]piece{}}
	for _, c := range cs {
		// Two questions may save the same key, with labels of their own:
		// the first one's in the flow is kept, and the other's is written
		// as any choice (appendPieces compares the whole choice).
		if _, ok := enc.pieces[c.Value]; !ok {
			enc.pieces[c.Value] = piece{c: c, json: appendChoice(nil, c)}
		}
	}
	return enc
}

// constant reports whether flow text txt renders the same in lang
// whatever the data (see say).
func constant(cat *locale.Catalog, lang string, txt flow.Text) bool {
	return (txt.Tmpl == nil && lang == locale.Source) || cat.Constant(lang, txt.ID)
}

// movesOf asks a state machine of f for every move of the flow (f.Edges,
// which the machine is built from) where it ends up; a move it refuses is
// left out, for fire to ask the machine again and fail as it does. The
// machine has no callbacks: where an event takes it depends only on the
// state it is in, so a turn looks its moves up instead of firing them.
func movesOf(f *flow.Flow) map[string]map[string]string {
	moves := map[string]map[string]string{}
	m := f.Machine(f.Start)
	for _, e := range f.Edges() {
		m.SetState(e.From)
		if err := m.Event(context.Background(), e.Event); err != nil {
			var nt fsm.NoTransitionError
			if !errors.As(err, &nt) {
				continue
			}
		}
		if moves[e.From] == nil {
			moves[e.From] = map[string]string{}
		}
		moves[e.From][e.Event] = m.Current()
	}
	return moves
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
