package flow

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// The flows' conditions are nearly all of a small subset of expr: answer
// keys, string (and bool) literals, ==, !=, &&, ||, ! and parentheses.
// Such a condition is translated, once when the flow loads, into Go
// closures over the answers map, which Holds calls instead of expr's VM.
//
// The closures follow the bytecode expr compiles from the same checked
// tree, step for step, so they give what the VM gives for every answers
// map, odd ones included:
//   - a key with no answer reads as nil (OpLoadFast reads the map);
//   - == between two operands the checker typed string is OpEqualString,
//     which fails (the VM recovers; the condition does not hold) when
//     either value is not a Go string: a missing answer included, so
//     `k != "x"` does not hold while k is unknown. Any other == is
//     runtime.Equal, so a computed key (typed unknown) that is missing
//     makes `k != "x"` hold;
//   - != is == negated; ! and the left of && and || fail on a non-bool;
//     the right of && and || is their value as it is;
//   - the result is cast to bool as expr.AsBool asks: nil is false,
//     anything else but a bool fails.
//
// A failure is ok == false all the way up: like the VM's error, it makes
// the condition not hold whatever the rest would give.

// value evaluates one node of a condition.
type value func(answers map[string]any) (v any, ok bool)

// fastCond returns the closure that decides the compiled condition prog,
// or nil when its tree leaves the subset (the VM runs it then).
func fastCond(prog *vm.Program) func(answers map[string]any) bool {
	if prog == nil {
		return nil
	}
	e := fastNode(prog.Node())
	if e == nil {
		return nil
	}
	return func(answers map[string]any) bool {
		v, ok := e(answers)
		b, _ := v.(bool)
		return ok && b
	}
}

func fastNode(n ast.Node) value {
	switch n := n.(type) {
	case *ast.BoolNode:
		var v any = n.Value
		return func(map[string]any) (any, bool) { return v, true }
	case *ast.StringNode:
		var v any = n.Value
		return func(map[string]any) (any, bool) { return v, true }
	case *ast.IdentifierNode:
		if n.Value == "$env" || deref(n) {
			return nil
		}
		key := n.Value
		return func(answers map[string]any) (any, bool) { return answers[key], true }
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" || deref(n.Node) {
			return nil
		}
		x := fastNode(n.Node)
		if x == nil {
			return nil
		}
		return func(answers map[string]any) (any, bool) {
			v, ok := x(answers)
			b, isBool := v.(bool)
			if !ok || !isBool {
				return nil, false
			}
			return !b, true
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "==":
			return fastEqual(n, false)
		case "!=":
			return fastEqual(n, true)
		case "&&", "and":
			return fastJoin(n, false)
		case "||", "or":
			return fastJoin(n, true)
		}
	}
	return nil
}

// fastJoin is && (or false) and || (or true) with expr's short circuit:
// the left must be a bool; when it decides, it is the value, else the
// right is.
func fastJoin(n *ast.BinaryNode, or bool) value {
	if deref(n.Left) || deref(n.Right) {
		return nil
	}
	l, r := fastNode(n.Left), fastNode(n.Right)
	if l == nil || r == nil {
		return nil
	}
	return func(answers map[string]any) (any, bool) {
		v, ok := l(answers)
		b, isBool := v.(bool)
		switch {
		case !ok || !isBool:
			return nil, false
		case b == or:
			return v, true
		}
		return r(answers)
	}
}

// fastEqual is == (or != when neg), with the compiler's choice between
// OpEqualString and runtime.Equal.
func fastEqual(n *ast.BinaryNode, neg bool) value {
	lk, rk := kind(n.Left), kind(n.Right)
	simple := builtin(n.Left) && builtin(n.Right)
	if lk == rk && lk == reflect.Int && simple || deref(n.Left) || deref(n.Right) {
		return nil // OpEqualInt: not in the flows' subset
	}
	strict := lk == rk && lk == reflect.String && simple
	id, isID := n.Left.(*ast.IdentifierNode)
	lit, isLit := n.Right.(*ast.StringNode)
	if isID && isLit && id.Value != "$env" {
		// The usual shape, key == "literal", in one closure.
		key, s := id.Value, lit.Value
		var sv any = s
		if strict {
			return func(answers map[string]any) (any, bool) {
				v, isStr := answers[key].(string)
				if !isStr {
					return nil, false
				}
				return (v == s) != neg, true
			}
		}
		return func(answers map[string]any) (any, bool) {
			return runtime.Equal(answers[key], sv) != neg, true
		}
	}
	l, r := fastNode(n.Left), fastNode(n.Right)
	if l == nil || r == nil {
		return nil
	}
	return func(answers map[string]any) (any, bool) {
		a, okA := l(answers)
		b, okB := r(answers)
		if !okA || !okB {
			return nil, false
		}
		if !strict {
			return runtime.Equal(a, b) != neg, true
		}
		as, isA := a.(string)
		bs, isB := b.(string)
		if !isA || !isB {
			return nil, false
		}
		return (as == bs) != neg, true
	}
}

func kind(n ast.Node) reflect.Kind {
	if t := n.Type(); t != nil {
		return t.Kind()
	}
	return reflect.Invalid
}

// builtin is the compiler's isSimpleType: a type of no package.
func builtin(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.PkgPath() == ""
}

// deref tells whether the compiler dereferences the node's value
// (OpDeref): never for the flows' keys, which are typed string, bool,
// int64 or (computed) unknown; such a node is left to the VM.
func deref(n ast.Node) bool {
	if n.Nature().Nil {
		return false
	}
	k := kind(n)
	return k == reflect.Ptr || k == reflect.Interface
}
