package main

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The SVG drawing of the default flow is the golden file's: Graphviz's
// layout is deterministic, so a change shows up in review.
func TestGraphSVGMatchesGolden(t *testing.T) {
	out, errOut, code := claimbot(t, nil, "graph", "--format", "svg", "damage-1015")
	if code != 0 {
		t.Fatalf("graph --format svg exited %d: %s", code, errOut)
	}
	const golden = "testdata/damage-1015.svg.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("graph --format svg differs from %s (go test -run TestGraphSVGMatchesGolden -update to accept)", golden)
	}
}
