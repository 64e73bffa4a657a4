package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// getHost asks for url with this Host header.
func getHost(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Dev mode answers loopback host names only: a site the developer visits
// whose name rebinds to 127.0.0.1 (DNS rebinding) reaches neither the
// claims list, nor the chat, nor the WebSocket.
func TestDevModeRefusesForeignHost(t *testing.T) {
	dev := startDev(t)
	_, port, _ := strings.Cut(dev.Addr, ":")
	for _, path := range []string{"/dev/claims", "/chat", "/", "/static/chat.js", "/healthz"} {
		for _, host := range []string{"evil.example:8080", "evil.example", "localhost.evil.example:" + port, "127.0.0.1.nip.io:" + port, "10.0.0.1:" + port, "[::2]:" + port} {
			status, body := getHost(t, dev.URL()+path, host)
			if status != http.StatusMisdirectedRequest || !strings.Contains(body, "loopback") {
				t.Errorf("GET %s Host %q: HTTP %d %.100q, want 421 saying loopback only", path, host, status, body)
			}
		}
		for _, host := range []string{"localhost:8080", "localhost", "LOCALHOST:" + port, "127.0.0.1:" + port, "127.0.0.1",
			"[::1]:" + port, "[::1]", "app.localhost:" + port, "localhost.:" + port} {
			if status, body := getHost(t, dev.URL()+path, host); status == http.StatusMisdirectedRequest {
				t.Errorf("GET %s Host %q: HTTP %d %.100q, want served", path, host, status, body)
			}
		}
	}
	// The WebSocket as well, before the upgrade.
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+dev.Addr+"/ws?user=rebind", http.Header{"Host": {"evil.example:" + port}})
	if ws != nil {
		ws.Close()
	}
	if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("WebSocket with Host evil.example: %v %v, want 421", resp, err)
	}
	c := dialURL(t, "ws://"+dev.Addr+"/ws?user=loopback", http.Header{"Host": {"localhost:" + port}})
	if c.last.Type != "reply" {
		t.Errorf("WebSocket with Host localhost: %+v", c.last)
	}
}

// Production mode has no such check: it is reached by its public name.
func TestProductionServesAnyHost(t *testing.T) {
	e := startEnv(t)
	if status, _ := getHost(t, e.run.URL()+"/healthz", "claims.example.com"); status != http.StatusOK {
		t.Errorf("production /healthz Host claims.example.com: HTTP %d", status)
	}
}
