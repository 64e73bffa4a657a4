package engine

import (
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/claimbot/claimbot/internal/flow"
)

// MaxVersions is how many flow versions a Versions keeps, and how many
// older versions' plans an Engine keeps: the most recently used. Product
// staff may edit a flow many times a day while the server runs for weeks;
// a version dropped here is loaded again from Redis by the next
// conversation pinned to it (store.ensureVersion), so this bounds memory,
// not which versions conversations can finish on.
const MaxVersions = 32

// Versions keeps the flow versions this process has loaded or fetched, so
// a conversation stays on the version it started on across reloads. The
// server also keeps each version's source in Redis, so that other
// instances, and this one after a restart or an eviction, can load it
// again.
type Versions struct {
	c *lru.Cache[string, *flow.Flow] // id + "@" + version
}

// NewVersions returns an empty store.
func NewVersions() *Versions {
	c, err := lru.New[string, *flow.Flow](MaxVersions)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return &Versions{c: c}
}

// Add keeps a flow version, dropping the least recently used beyond
// MaxVersions.
func (v *Versions) Add(f *flow.Flow) { v.c.Add(f.ID+"@"+f.Version, f) }

// Get returns a kept version, or nil.
func (v *Versions) Get(id, version string) *flow.Flow {
	f, _ := v.c.Get(id + "@" + version)
	return f
}

// Len is how many versions are kept.
func (v *Versions) Len() int { return v.c.Len() }
