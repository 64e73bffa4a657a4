package insight

import (
	"strconv"
	"testing"
)

// A turn's field goes to the script as the string Of made, interned:
// the same field gives the same box, any field gives its own string, and
// the interned ones stay within maxFieldArgs.
func TestFieldArgInterned(t *testing.T) {
	for i := range maxFieldArgs + 500 {
		f := "reached:s" + strconv.Itoa(i) + " out:x"
		a, b := fieldArg([]byte(f)), fieldArg([]byte(f))
		if a.(string) != f || b.(string) != f {
			t.Fatalf("field %q came back as %q and %q", f, a, b)
		}
		tu := Turn{Field: f, arg: a}
		if got := tu.Append(nil); len(got) != 1 || got[0] != any(f) {
			t.Fatalf("Append gave %v for %q", got, f)
		}
	}
	if n := len(*fieldArgs.m.Load()); n > maxFieldArgs {
		t.Errorf("%d fields interned, want at most %d", n, maxFieldArgs)
	}
	// A field changed after Of goes as it is.
	tu := Turn{Field: "claims", arg: fieldArg([]byte("claims"))}
	tu.Field = "handoffs"
	if got := tu.Append(nil); got[0] != any("handoffs") {
		t.Errorf("Append gave %v after Field changed", got)
	}
	if n := testing.AllocsPerRun(100, func() { fieldArg([]byte("reached:s1 out:x")) }); n != 0 {
		t.Errorf("an interned field allocates %v times", n)
	}
}
