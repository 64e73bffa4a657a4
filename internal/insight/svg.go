package insight

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-graphviz"

	"github.com/claimbot/claimbot/internal/flow"
)

// edgeLine and nodeLine are the lines of looplab/fsm's Graphviz output.
var (
	edgeLine = regexp.MustCompile(`^(\s*"[^"]*" -> "[^"]*" \[ label = ")(.*)(" \];)$`)
	nodeLine = regexp.MustCompile(`^(\s*)"([^"]*)"(?: \[(.*)\])?;$`)
)

// DOT is the flow's Graphviz diagram (fsm.VisualizeWithType) made valid
// for a Graphviz parser: the conditions on its edges keep their quotes,
// escaped. With a report, each state is labelled with how many
// conversations reached it and stopped there.
func DOT(f *flow.Flow, r *Report) (string, error) {
	src, err := f.Graph("dot")
	if err != nil {
		return "", err
	}
	counts := map[string]FunnelState{}
	if r != nil {
		for _, s := range r.Funnel {
			counts[s.State] = s
		}
	}
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if m := edgeLine.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + strings.ReplaceAll(strings.ReplaceAll(m[2], `\`, `\\`), `"`, `\"`) + m[3]
			continue
		}
		m := nodeLine.FindStringSubmatch(l)
		if m == nil || r == nil {
			continue
		}
		attrs := []string{}
		if m[3] != "" {
			attrs = append(attrs, m[3])
		}
		c := counts[m[2]]
		attrs = append(attrs, fmt.Sprintf(`label = "%s\nreached %d · stopped %d"`, m[2], c.Reached, c.Stopped))
		if c.Stopped > 0 {
			attrs = append(attrs, `style = "filled"`, `fillcolor = "#fde2e1"`)
		}
		lines[i] = fmt.Sprintf(`%s"%s" [%s];`, m[1], m[2], strings.Join(attrs, ", "))
	}
	return strings.Join(lines, "\n"), nil
}

// SVG draws the flow's diagram as SVG (with counts when r is not nil),
// rendered by Graphviz compiled to WebAssembly: no dot binary needed.
func SVG(ctx context.Context, f *flow.Flow, r *Report) ([]byte, error) {
	src, err := DOT(f, r)
	if err != nil {
		return nil, err
	}
	g, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("graph: svg: %w", err)
	}
	defer g.Close()
	graph, err := graphviz.ParseBytes([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("graph: svg: parse: %w", err)
	}
	defer graph.Close()
	var buf bytes.Buffer
	if err := g.Render(ctx, graph, graphviz.SVG, &buf); err != nil {
		return nil, fmt.Errorf("graph: svg: %w", err)
	}
	return buf.Bytes(), nil
}
