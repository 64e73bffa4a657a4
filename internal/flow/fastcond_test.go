package flow

import (
	"fmt"
	"strings"
	"testing"
)

// condEnv types keys as check does: s and t are asked as text or choice
// (string), b and c are confirm questions (bool), i an amount (int64), n
// and m computed by set: (unknown).
var condEnv = map[string]any{"s": "", "t": "", "b": false, "c": false, "i": int64(0), "n": nil, "m": nil}

func mustCond(t testing.TB, src string) *Branch {
	t.Helper()
	prog, err := compileCond(src, condEnv)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return &Branch{If: src, prog: prog, fast: fastCond(prog)}
}

type myString string

// TestConditionFastPathEdgeCases pins what a condition gives for answers
// not known yet and of unexpected types, on expr's VM and on the closures
// alike.
func TestConditionFastPathEdgeCases(t *testing.T) {
	missing := map[string]any{}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	str := "x"
	tests := []struct {
		cond    string
		answers map[string]any
		want    bool
	}{
		// A bare confirm key: true only for the bool true.
		{"b", missing, false},
		{"b", with("b", true), true},
		{"b", with("b", false), false},
		{"b", with("b", nil), false},
		{"b", with("b", "yes"), false},
		{"b", with("b", int64(1)), false},
		{"b", with("b", 1.0), false},
		// key == "literal" on a string key: OpEqualString fails on
		// anything but a Go string, a missing answer included.
		{`s == "x"`, missing, false},
		{`s == "x"`, with("s", "x"), true},
		{`s == "x"`, with("s", "y"), false},
		{`s == "x"`, with("s", true), false},
		{`s == "x"`, with("s", int64(0)), false},
		{`s == "x"`, with("s", 0.5), false},
		{`s == "x"`, with("s", nil), false},
		{`s == "x"`, with("s", myString("x")), false},
		{`"x" == s`, with("s", "x"), true},
		// ... so != does not hold while the answer is unknown or odd.
		{`s != "x"`, missing, false},
		{`s != "x"`, with("s", nil), false},
		{`s != "x"`, with("s", true), false},
		{`s != "x"`, with("s", float64(1)), false},
		{`s != "x"`, with("s", "y"), true},
		{`s != "x"`, with("s", "x"), false},
		// A computed key is typed unknown: runtime.Equal, which never fails.
		{`n == "x"`, missing, false},
		{`n == "x"`, with("n", "x"), true},
		{`n == "x"`, with("n", true), false},
		{`n == "x"`, with("n", &str), false},
		{`n != "x"`, missing, true},
		{`n != "x"`, with("n", nil), true},
		{`n != "x"`, with("n", int64(1)), true},
		{`n != "x"`, with("n", "x"), false},
		{`s == n`, missing, true}, // nil == nil
		{`s == n`, with("s", "x", "n", "x"), true},
		{`b == c`, missing, true},
		{`b == c`, with("b", true), false},
		// &&, || need a bool on the left; the right is their value.
		{`b && s == "x"`, with("s", "x"), false},
		{`b && s == "x"`, with("b", false), false},
		{`b && s == "x"`, with("b", true), false},
		{`b && s == "x"`, with("b", true, "s", "x"), true},
		{`b && s == "x"`, with("b", "yes", "s", "x"), false},
		{`b && c`, with("b", true, "c", "yes"), false},
		{`b && c`, with("b", true), false},
		{`b and c`, with("b", true, "c", true), true},
		{`b || s == "x"`, with("b", true, "s", int64(1)), true},
		{`b || s == "x"`, with("b", false, "s", "x"), true},
		{`b || s == "x"`, with("s", "x"), false},
		{`s == "x" || b`, with("b", true), false},
		{`s == "y" || b`, with("s", "x", "b", "yes"), false},
		{`s == "y" or b`, with("s", "x", "b", true), true},
		{`s == "x" || (t == "y" && b)`, with("s", "z", "t", "y", "b", true), true},
		{`s == "x" || (t == "y" && b)`, with("s", "z", "t", "y"), false},
		// A failure on the left is no mere false: ! does not turn it true.
		{`!(b && c)`, with("b", "yes"), false},
		{`!(b || c)`, missing, false},
		{`!(b || c)`, with("b", false, "c", false), true},
		// ! and not need a bool.
		{`!b`, missing, false},
		{`!b`, with("b", false), true},
		{`!b`, with("b", "no"), false},
		{`not (s == "x")`, missing, false},
		{`not (s == "x")`, with("s", "y"), true},
		{`!(n == "x")`, missing, true},
	}
	for _, tc := range tests {
		b := mustCond(t, tc.cond)
		if b.fast == nil {
			t.Errorf("%s: no fast path", tc.cond)
			continue
		}
		if got := holds(b.prog, tc.answers); got != tc.want {
			t.Errorf("VM: %s for %v = %v, want %v", tc.cond, tc.answers, got, tc.want)
		}
		if got := b.Holds(tc.answers); got != tc.want {
			t.Errorf("closures: %s for %v = %v, want %v", tc.cond, tc.answers, got, tc.want)
		}
	}
}

// TestConditionOutsideSubsetKeepsVM: what the closures do not cover runs on
// the VM as before.
func TestConditionOutsideSubsetKeepsVM(t *testing.T) {
	for _, tc := range []struct {
		cond    string
		answers map[string]any
		want    bool
	}{
		{`i <= 300000`, map[string]any{"i": int64(250000)}, true},
		{`i == 5`, map[string]any{"i": int64(5)}, true},
		{`s in ["x", "y"]`, map[string]any{"s": "y"}, true},
		{`s matches "^x"`, map[string]any{"s": "xy"}, true},
		{`len(s) > 1`, map[string]any{"s": "x"}, false},
		{`n ?? false`, map[string]any{}, false},
		{`b ? c : !c`, map[string]any{"b": false, "c": false}, true},
	} {
		b := mustCond(t, tc.cond)
		if b.fast != nil {
			t.Errorf("%s: translated, want the VM", tc.cond)
		}
		if got := b.Holds(tc.answers); got != tc.want {
			t.Errorf("%s for %v = %v, want %v", tc.cond, tc.answers, got, tc.want)
		}
	}
}

// TestShippedConditionsAreFast: every condition of the shipped flow runs
// without the VM.
func TestShippedConditionsAreFast(t *testing.T) {
	f, ps := Load("../../flows/damage-1015.yaml")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Error())
	}
	n := 0
	for _, id := range f.Order {
		for _, b := range f.States[id].Next {
			if b.If == "" {
				continue
			}
			n++
			if b.fast == nil {
				t.Errorf("state %s: if %q runs on the VM", id, b.If)
			}
		}
	}
	if n == 0 {
		t.Fatal("no conditions")
	}
}

// condGen builds a condition of the subset and an answers map from fuzz
// bytes.
type condGen struct {
	data []byte
	sb   strings.Builder
}

func (g *condGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *condGen) pick(xs ...string) string { return xs[int(g.byte())%len(xs)] }

var condLits = []string{`"x"`, `"y"`, `""`, `"paid"`, `"한국"`}

// operand of == and !=.
func (g *condGen) operand() string {
	switch g.byte() % 4 {
	case 0:
		return g.pick("s", "t")
	case 1:
		return g.pick("n", "m")
	}
	return g.pick(condLits...)
}

// cond writes a bool-typed condition; depth bounds the nesting.
func (g *condGen) cond(depth int) {
	k := g.byte() % 9
	if depth <= 0 {
		k %= 4
	}
	switch k {
	case 0:
		g.sb.WriteString(g.pick("b", "c"))
	case 1, 2:
		g.sb.WriteString(g.operand())
		g.sb.WriteString(g.pick(" == ", " != "))
		g.sb.WriteString(g.operand())
	case 3:
		switch g.byte() % 4 {
		case 0:
			g.sb.WriteString(g.pick("true", "false"))
		default:
			g.sb.WriteString(g.pick("b", "c"))
			g.sb.WriteString(g.pick(" == ", " != "))
			g.sb.WriteString(g.pick("b", "c", "true", "false"))
		}
	case 4:
		g.sb.WriteString(g.pick("!", "not "))
		g.sb.WriteString("(")
		g.cond(depth - 1)
		g.sb.WriteString(")")
	case 5, 6:
		g.sb.WriteString("(")
		g.cond(depth - 1)
		g.sb.WriteString(g.pick(" && ", " || ", " and ", " or "))
		g.cond(depth - 1)
		g.sb.WriteString(")")
	default:
		g.cond(depth - 1)
		g.sb.WriteString(g.pick(" && ", " || "))
		g.cond(depth - 1)
	}
}

var condValues = func() []any {
	x := "x"
	return []any{nil, "x", "y", "", "paid", "한국", true, false, int64(0), int64(1), 1.5, float64(0), 1, myString("x"), &x, []any{"x"}}
}()

func (g *condGen) answers() map[string]any {
	m := map[string]any{}
	for _, k := range []string{"s", "t", "b", "c", "n", "m", "i"} {
		if v := int(g.byte()); v < len(condValues) { // else: not answered yet
			m[k] = condValues[v]
		}
	}
	return m
}

// FuzzConditionFastPath: for random conditions of the subset and random
// answers, the closures give what expr's VM gives.
func FuzzConditionFastPath(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte{5, 1, 0, 0, 4, 0, 2, 1, 1, 3}, []byte{1, 1, 7, 6, 0, 255, 2})
	f.Add([]byte{6, 2, 0, 1, 2, 3, 4, 4, 0, 1, 2, 2, 1, 3}, []byte{255, 255, 255, 255, 255, 255, 255})
	f.Add([]byte{7, 0, 1, 8, 1, 2, 0, 0, 5}, []byte{13, 14, 15, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, shape, values []byte) {
		g := &condGen{data: shape}
		g.cond(4)
		src := g.sb.String()
		b := mustCond(t, src)
		if b.fast == nil {
			t.Fatalf("%s: in the subset but not translated", src)
		}
		g.data = values
		for range 4 {
			answers := g.answers()
			if vm, fast := holds(b.prog, answers), b.fast(answers); vm != fast {
				t.Fatalf("%s for %s: VM %v, closures %v", src, show(answers), vm, fast)
			}
		}
	})
}

func show(m map[string]any) string {
	var sb strings.Builder
	for _, k := range []string{"s", "t", "b", "c", "n", "m", "i"} {
		if v, ok := m[k]; ok {
			fmt.Fprintf(&sb, "%s=%#v ", k, v)
		}
	}
	return sb.String()
}
