package convo

import (
	"strings"
	"testing"
)

// Errors name the server's URL without the credential: a banner token or
// dev mode's user id.
func TestRedact(t *testing.T) {
	for _, raw := range []string{"ws://h/ws?t=eyJsecret.token.sig", "ws://h/ws?user=u-01012345678&lang=en"} {
		got := redact(raw)
		if strings.Contains(got, "secret") || strings.Contains(got, "01012345678") || !strings.HasPrefix(got, "ws://h/ws?") {
			t.Errorf("redact(%q) = %q", raw, got)
		}
	}
}
