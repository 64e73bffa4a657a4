package engine

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

// A server that runs for weeks while product staff edit a flow keeps only
// the MaxVersions most recently used older versions, and their plans; the
// current flows' plans stay.
func TestOlderVersionsAreBounded(t *testing.T) {
	flows, ps := flow.LoadDir("../../flows")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	cat, ps := locale.Load("../../locales", flows)
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	versions := NewVersions()
	e := New(flows, cat, versions)
	cur := flows["damage-1015"]
	src, err := os.ReadFile(cur.Path)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(i int) *flow.Flow {
		f, ps := flow.Parse(cur.Path, append(bytes.Clone(src), fmt.Sprintf("\n# edit %d\n", i)...))
		if f == nil || len(ps.Errors()) > 0 || f.Version == cur.Version {
			t.Fatalf("edit %d: %v", i, ps.Errors())
		}
		return f
	}

	var old []*flow.Flow
	for i := range MaxVersions {
		f := edit(i)
		versions.Add(f)
		old = append(old, f)
		if e.plan(f) != e.plan(f) {
			t.Fatalf("version %d: the plan is made again on each use", i)
		}
	}
	// Used again, the first stays; the second, least recently used, goes.
	if versions.Get(cur.ID, old[0].Version) == nil {
		t.Fatal("the first edit is gone before the store is full")
	}
	e.plan(old[0])
	last := edit(MaxVersions)
	versions.Add(last)
	e.plan(last)
	if versions.Len() != MaxVersions || e.oldPlans.Len() != MaxVersions {
		t.Errorf("kept %d versions and %d older plans, want %d each", versions.Len(), e.oldPlans.Len(), MaxVersions)
	}
	key := func(f *flow.Flow) string { return f.ID + "@" + f.Version }
	if versions.Get(cur.ID, old[0].Version) == nil || !e.oldPlans.Contains(key(old[0])) {
		t.Error("the version used again was dropped")
	}
	if versions.Get(cur.ID, old[1].Version) != nil || e.oldPlans.Contains(key(old[1])) {
		t.Error("the least recently used version was kept")
	}
	// The current flow's plan is not among the older ones, and stays.
	p := e.plan(cur)
	if e.oldPlans.Contains(key(cur)) || e.plan(cur) != p {
		t.Error("the current flow's plan is not kept apart")
	}
	// A version loaded again (a new *flow.Flow of the same source) gets a
	// plan of its own, in the place of the stale one.
	again := edit(0)
	if pa := e.plan(again); pa.f != again || e.oldPlans.Len() != MaxVersions {
		t.Errorf("the version loaded again has the old plan, or the cache grew to %d", e.oldPlans.Len())
	}
}
