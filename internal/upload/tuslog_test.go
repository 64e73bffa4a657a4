package upload

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	expslog "golang.org/x/exp/slog"
)

// TestTusLogKeepsNoAddressOrClientText: tusd's warnings and errors reach
// the package's logger with the upload's id and the request's method and
// path, the error's text without network addresses, and nothing a client
// chose (its X-Request-ID); its info lines not at all.
func TestTusLogKeepsNoAddressOrClientText(t *testing.T) {
	var buf bytes.Buffer
	log := expslog.New(&tusLog{log: slog.New(slog.NewJSONHandler(&buf, nil))}).
		With("method", "PATCH", "path", "/uploads/u-1", "requestId", "hong@example.com").With("id", "u-1")
	log.Info("RequestIncoming")
	log.Error("BodyReadError", "error", "read tcp 10.0.0.7:8080->203.0.113.5:51234: i/o timeout")
	log.Warn("NetworkControlError", "error", "write tcp [2001:db8::1]:8080->[2001:db8::2]:443: broken pipe")
	out := buf.String()
	for _, want := range []string{`"msg":"upload: tus: BodyReadError"`, `"level":"ERROR"`, `"id":"u-1"`, `"method":"PATCH"`,
		`"path":"/uploads/u-1"`, `read tcp <addr>-><addr>: i/o timeout`, `"msg":"upload: tus: NetworkControlError"`, `write tcp <addr>-><addr>: broken pipe`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, leak := range []string{"203.0.113.5", "10.0.0.7", "2001:db8", "hong@example.com", "RequestIncoming"} {
		if strings.Contains(out, leak) {
			t.Errorf("log has %q:\n%s", leak, out)
		}
	}
}
