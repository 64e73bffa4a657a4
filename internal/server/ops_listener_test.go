package server_test

import (
	"strings"
	"testing"
)

// Issue 18 item 17: with CLAIMBOT_OPS_ADDR set, /metrics, /healthz and
// /readyz are served there and only there; the chat stays on CLAIMBOT_ADDR.
func TestOpsListener(t *testing.T) {
	ops := freeAddr(t)
	e := startEnv(t, withOpsAddr(ops))
	main := "http://" + e.run.Addr
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if status, body := httpGet(t, main+path); status != 404 {
			t.Errorf("main listener %s: HTTP %d, want 404: %.200s", path, status, body)
		}
	}
	status, body := httpGet(t, "http://"+ops+"/metrics")
	if status != 200 || !strings.Contains(body, "claimbot_connections ") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("ops listener /metrics: HTTP %d, want 200 with the claimbot_ and process metrics: %.300s", status, body)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if status, body := httpGet(t, "http://"+ops+path); status != 200 || !strings.Contains(body, want) {
			t.Errorf("ops listener %s: HTTP %d %q, want 200 %q", path, status, body, want)
		}
	}
	// The chat is not on the ops listener, and is still on the main one.
	if status, _ := httpGet(t, "http://"+ops+"/chat"); status != 404 {
		t.Errorf("ops listener /chat: HTTP %d, want 404", status)
	}
	e.dial("u-ops").choose("yes")
}

// Unset, the operations endpoints stay on CLAIMBOT_ADDR (contract §0).
func TestOpsListenerUnset(t *testing.T) {
	e := startEnv(t)
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if status, _ := httpGet(t, "http://"+e.run.Addr+path); status != 200 {
			t.Errorf("%s: HTTP %d, want 200", path, status)
		}
	}
}
