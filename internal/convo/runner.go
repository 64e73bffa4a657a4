package convo

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
)

// Result is the outcome of one script.
type Result struct {
	Script   *Script
	Duration time.Duration
	Failure  *Failure // nil: passed
	// ClaimNotChecked: the script expects a claim but the backend cannot
	// see deliveries (a server without --webhook-listen).
	ClaimNotChecked bool
	// Skipped says why the script was not run: it attaches files and the
	// backend's channel takes none (the skill endpoint, CONTRACT §8).
	Skipped string
}

// Passed reports whether the script passed.
func (r Result) Passed() bool { return r.Failure == nil }

// Failure says where a script failed and why.
type Failure struct {
	File     string
	Line     int    // the step's line (0: the file as a whole)
	Step     string // the step as written
	Expected string
	Actual   *Reply // the bot's last reply, when there was one
	Err      error  // a transport or backend problem
	// Claim lists the answers that differ ("key: expected …, actual …")
	// and Answers what was delivered, for a claim: mismatch.
	Claim   []string
	Answers map[string]any
}

// Runner runs scripts.
type Runner struct {
	Backend Backend
	Workers int            // default GOMAXPROCS*4
	Filter  *regexp.Regexp // runs only scripts whose name matches
	// Coverage, when set, records the flow states and transitions the
	// scripts visit (in-process backends report them).
	Coverage *Coverage
}

// Run runs the scripts in parallel, each as a user of its own, and calls
// report (if set) with each result in the order of scripts as soon as it
// and every earlier one are done. It returns every result, in order.
// Scripts the filter leaves out are skipped.
func (r *Runner) Run(ctx context.Context, scripts []*Script, report func(Result)) []Result {
	var todo []*Script
	for _, s := range scripts {
		if r.Filter == nil || r.Filter.MatchString(s.Name) {
			todo = append(todo, s)
		}
	}
	workers := r.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0) * 4
	}
	results := make([]Result, len(todo))
	done := make([]chan struct{}, len(todo))
	for i := range done {
		done[i] = make(chan struct{})
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(todo)) {
		wg.Go(func() {
			for i := range jobs {
				results[i] = r.One(ctx, todo[i])
				close(done[i])
			}
		})
	}
	go func() {
		for i := range todo {
			jobs <- i
		}
		close(jobs)
	}()
	for i := range todo {
		<-done[i]
		if report != nil {
			report(results[i])
		}
	}
	wg.Wait()
	return results
}

// FileBackend is a backend whose conversations can upload files: their
// drivers are Uploaders. Scripts with attach steps are skipped on others.
type FileBackend interface {
	Backend
	TakesFiles() bool
}

// One runs one script.
func (r *Runner) One(ctx context.Context, s *Script) Result {
	start := time.Now()
	res := Result{Script: s}
	if fb, ok := r.Backend.(FileBackend); (!ok || !fb.TakesFiles()) && s.attaches() {
		res.Skipped = "it attaches files, which this channel does not take"
		return res
	}
	res.Failure, res.ClaimNotChecked = r.play(ctx, s)
	res.Duration = time.Since(start)
	return res
}

func (r *Runner) play(ctx context.Context, s *Script) (*Failure, bool) {
	fail := func(line int, step, expected string, last *Reply, err error) *Failure {
		return &Failure{File: s.File, Line: line, Step: step, Expected: expected, Actual: last, Err: err}
	}
	flowID := s.Flow
	if flowID == "" {
		flowID = r.Backend.DefaultFlow()
	}
	d, err := r.Backend.Driver(ctx, NewUser(), s.Flow, s.Lang)
	if err != nil {
		return fail(0, "", "", nil, err), false
	}
	defer d.Close()
	last, err := d.Open(ctx)
	if err != nil {
		return fail(0, "", "the first reply", nil, err), false
	}
	visit := func(Reply) {}
	if r.Coverage != nil {
		r.Coverage.start(flowID)
		visit = func(rep Reply) { r.Coverage.visit(flowID, rep.Moves) }
	}
	visit(last)
	frames := newFrames()
	var claims []string // receipt numbers filed, in order
	noteClaim := func(rep Reply) {
		if rep.ClaimID != "" && (len(claims) == 0 || claims[len(claims)-1] != rep.ClaimID) {
			claims = append(claims, rep.ClaimID)
		}
	}
	for _, st := range s.Steps {
		var f Frame
		switch st.Kind {
		case Bot:
			if want := st.Expect.check(last); want != "" {
				return fail(st.Line, "bot: "+st.Expect.Source, want, &last, nil), false
			}
			continue
		case User:
			f = Frame{Type: "text", Text: st.Text}
		case Choose:
			f = Frame{Type: "choice", Value: st.Text}
		case Command:
			f = Frame{Type: "command", Name: st.Text}
		case Attach:
			var err error
			if f, _, err = attachFrame(ctx, d, st.Path, last); err != nil {
				return fail(st.Line, "attach: "+st.Text, "the file uploaded", &last, err), false
			}
		}
		rep, err := d.Send(ctx, frames.next(f, last))
		if err != nil {
			return fail(st.Line, st.Kind.String()+": "+st.Text, "a reply", &last, err), false
		}
		visit(rep)
		noteClaim(rep)
		last = rep
	}
	switch {
	case s.NoClaim && len(claims) > 0:
		return fail(s.ClaimLine, "claim: none", "no claim filed, but the bot filed "+strings.Join(claims, ", "), &last, nil), false
	case s.Claim == nil:
		return nil, false
	case len(claims) == 0:
		return fail(s.ClaimLine, "claim:", "a claim filed, but no reply carried a claim_id", &last, nil), false
	}
	id := claims[len(claims)-1]
	answers, checked, err := d.Claim(ctx, id)
	if err != nil {
		return fail(s.ClaimLine, "claim:", "claim "+id+" delivered to the webhook", &last, err), false
	}
	if !checked {
		return nil, true
	}
	if miss := compareClaim(s, answers); len(miss) > 0 {
		f := fail(s.ClaimLine, "claim: (receipt "+id+")", "", nil, nil)
		f.Claim, f.Answers = miss, answers
		return f, false
	}
	return nil, false
}

// attaches reports whether the script has attach steps.
func (s *Script) attaches() bool {
	for _, st := range s.Steps {
		if st.Kind == Attach {
			return true
		}
	}
	return false
}

// check returns what the reply lacks, or "".
func (e *Expect) check(r Reply) string {
	var miss []string
	str := func(name string, want *string, got string) {
		if want != nil && *want != got {
			miss = append(miss, fmt.Sprintf("%s %q, got %q", name, *want, got))
		}
	}
	str("state", e.State, r.State)
	str("field", e.Field, r.Field)
	str("input", e.Input, r.Input)
	if e.Invalid != nil && *e.Invalid != r.Invalid {
		miss = append(miss, fmt.Sprintf("invalid %v, got %v", *e.Invalid, r.Invalid))
	}
	if e.Done != nil && *e.Done != r.Done {
		miss = append(miss, fmt.Sprintf("done %v, got %v", *e.Done, r.Done))
	}
	text := strings.Join(r.Messages, "\n")
	if e.Substr != nil && !strings.Contains(text, *e.Substr) {
		miss = append(miss, fmt.Sprintf("messages containing %q", *e.Substr))
	}
	if e.Regexp != nil && !e.Regexp.MatchString(text) {
		miss = append(miss, fmt.Sprintf("messages matching /%s/", e.Regexp))
	}
	for _, want := range e.Choices {
		found := false
		for _, c := range r.Choices {
			found = found || c.Label == want || c.Value == want
		}
		if !found {
			miss = append(miss, fmt.Sprintf("choice %q offered", want))
		}
	}
	return strings.Join(miss, "; ")
}

// compareClaim compares the expected answers with the delivered ones.
func compareClaim(s *Script, answers map[string]any) []string {
	var miss []string
	for _, k := range s.ClaimKeys {
		want := s.Claim[k]
		got, ok := answers[k]
		switch {
		case want == nil && ok:
			miss = append(miss, fmt.Sprintf("%s: expected absent, actual %s", k, jsonText(got)))
		case want == nil:
		case !ok:
			miss = append(miss, fmt.Sprintf("%s: expected %s, actual absent", k, jsonText(want)))
		case jsonText(want) != jsonText(got):
			miss = append(miss, fmt.Sprintf("%s: expected %s, actual %s", k, jsonText(want), jsonText(got)))
		}
	}
	return miss
}

// jsonText is a value as the webhook's JSON writes it.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Coverage records the states and transitions scripts visit per flow.
type Coverage struct {
	flows  map[string]*flow.Flow
	mu     sync.Mutex
	states map[string]map[string]bool
	edges  map[string]map[flow.Edge]bool
}

// NewCoverage records visits to the flows.
func NewCoverage(flows map[string]*flow.Flow) *Coverage {
	return &Coverage{flows: flows, states: map[string]map[string]bool{}, edges: map[string]map[flow.Edge]bool{}}
}

func (c *Coverage) start(flowID string) {
	f := c.flows[flowID]
	if f == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states[flowID] == nil {
		c.states[flowID] = map[string]bool{}
		c.edges[flowID] = map[flow.Edge]bool{}
	}
	c.states[flowID][f.Start] = true
}

func (c *Coverage) visit(flowID string, moves []flow.Edge) {
	if len(moves) == 0 || c.flows[flowID] == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range moves {
		c.states[flowID][m.From] = true
		c.states[flowID][m.To] = true
		c.edges[flowID][m] = true
	}
}

// FlowCoverage is what the scripts visited of one flow.
type FlowCoverage struct {
	Flow                    string
	States, StatesVisited   int
	Edges, EdgesTaken       int
	UnvisitedStates         []string    // in file order
	UntakenEdges            []flow.Edge // in file order
	StatePct, TransitionPct float64
}

// Report lists the coverage of every flow a script ran, by flow id.
func (c *Coverage) Report() []FlowCoverage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []FlowCoverage
	for _, id := range ids {
		f := c.flows[id]
		fc := FlowCoverage{Flow: id, States: len(f.Order)}
		for _, s := range f.Order {
			if c.states[id][s] {
				fc.StatesVisited++
			} else {
				fc.UnvisitedStates = append(fc.UnvisitedStates, s)
			}
		}
		edges := uniqueEdges(f.Edges())
		fc.Edges = len(edges)
		for _, e := range edges {
			if c.edges[id][e] {
				fc.EdgesTaken++
			} else {
				fc.UntakenEdges = append(fc.UntakenEdges, e)
			}
		}
		fc.StatePct = pct(fc.StatesVisited, fc.States)
		fc.TransitionPct = pct(fc.EdgesTaken, fc.Edges)
		out = append(out, fc)
	}
	return out
}

func uniqueEdges(edges []flow.Edge) []flow.Edge {
	seen := map[flow.Edge]bool{}
	out := edges[:0:0]
	for _, e := range edges {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func pct(n, of int) float64 {
	if of == 0 {
		return 100
	}
	return 100 * float64(n) / float64(of)
}
