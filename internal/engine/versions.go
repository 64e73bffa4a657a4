package engine

import (
	"sync"

	"github.com/claimbot/claimbot/internal/flow"
)

// Versions keeps every flow version this process has loaded or fetched, so
// a conversation stays on the version it started on across reloads. The
// server also keeps each version's source in Redis, so that other
// instances, and this one after a restart, can load it again.
type Versions struct {
	mu sync.RWMutex
	m  map[string]*flow.Flow // id + "@" + version
}

// NewVersions returns an empty store.
func NewVersions() *Versions { return &Versions{m: map[string]*flow.Flow{}} }

// Add keeps a flow version.
func (v *Versions) Add(f *flow.Flow) {
	v.mu.Lock()
	v.m[f.ID+"@"+f.Version] = f
	v.mu.Unlock()
}

// Get returns a kept version, or nil.
func (v *Versions) Get(id, version string) *flow.Flow {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.m[id+"@"+version]
}
