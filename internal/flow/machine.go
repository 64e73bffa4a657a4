package flow

import (
	"fmt"
	"sync"

	"github.com/expr-lang/expr/vm"
	"github.com/looplab/fsm"
)

// vms are reusable expression machines: a machine keeps its stack between
// runs, so a turn's conditions do not each allocate one. A machine runs one
// program at a time.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

func run(prog *vm.Program, answers map[string]any) (any, error) {
	m := vms.Get().(*vm.VM)
	out, err := m.Run(prog, answers)
	vms.Put(m)
	return out, err
}

// Holds reports whether the branch is taken for these answers. A condition
// that cannot be evaluated (an answer it names is not known yet) does not hold.
// A condition of the flows' usual subset runs as Go closures (fastcond.go),
// any other on expr's VM; both give the same.
func (b *Branch) Holds(answers map[string]any) bool {
	if b.If == "" {
		return true
	}
	if b.fast != nil {
		return b.fast(answers)
	}
	return holds(b.prog, answers)
}

// holds runs the condition prog on expr's VM.
func holds(prog *vm.Program, answers map[string]any) bool {
	out, err := run(prog, answers)
	if err != nil {
		return false
	}
	ok, _ := out.(bool)
	return ok
}

// Eval computes the assignment over the answers. An assignment that cannot
// be evaluated yet yields ok == false and the key stays unset.
func (a *Assign) Eval(answers map[string]any) (any, bool) {
	out, err := run(a.prog, answers)
	if err != nil || out == nil {
		return nil, false
	}
	switch v := out.(type) {
	case int:
		return int64(v), true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	}
	return out, true
}

// Next returns the branch taken from s for these answers.
func (s *State) NextBranch(answers map[string]any) (Branch, bool) {
	for _, b := range s.Next {
		if b.Holds(answers) {
			return b, true
		}
	}
	return Branch{}, false
}

// Machine builds a looplab/fsm state machine of the flow, in state initial.
// The machine is the flow's transition table: the engine fires the event of
// every move it makes, so a move the flow does not allow is an error.
func (f *Flow) Machine(initial string) *fsm.FSM {
	edges := f.Edges()
	events := make(fsm.Events, 0, len(edges))
	for _, e := range edges {
		events = append(events, fsm.EventDesc{Name: e.Event, Src: []string{e.From}, Dst: e.To})
	}
	return fsm.NewFSM(initial, events, nil)
}

// Graph draws the flow as Mermaid (format "mermaid") or Graphviz ("dot")
// with looplab/fsm's visualizers. The output is sorted and stable.
func (f *Flow) Graph(format string) (string, error) {
	m := f.Machine(f.Start)
	switch format {
	case "", "mermaid":
		return fsm.VisualizeForMermaidWithGraphType(m, fsm.StateDiagram)
	case "dot", "graphviz":
		return fsm.VisualizeWithType(m, fsm.GRAPHVIZ)
	}
	return "", fmt.Errorf("graph: unknown format %q (mermaid or dot)", format)
}
