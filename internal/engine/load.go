package engine

import (
	"fmt"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
)

// Load reads the flows and their message files from two folders and
// builds an engine over them: the one loader of the server, its reload,
// the scripted-conversation runs and the tests. It returns every problem
// found (warnings with no error too); the error says why no engine was
// built.
func Load(flowsDir, localesDir string, versions *Versions) (*Engine, flow.Problems, error) {
	flows, ps := flow.LoadDir(flowsDir)
	if len(ps.Errors()) > 0 {
		return nil, ps, fmt.Errorf("flows: %d problems", len(ps.Errors()))
	}
	cat, lps := locale.Load(localesDir, flows)
	ps = append(ps, lps...)
	if len(lps.Errors()) > 0 {
		return nil, ps, fmt.Errorf("locales: %d problems", len(lps.Errors()))
	}
	return New(flows, cat, versions), ps, nil
}
