package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// /static/ serves the files the pages load, and nothing else: no
// listing, no mock messenger, no chat.html or expired.html without the
// headers /chat gives them.
func TestStaticServesOnlyPageAssets(t *testing.T) {
	e := startEnv(t)
	dev := startDev(t)
	for name, base := range map[string]string{"production": e.run.URL(), "dev mode": dev.URL()} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/static/", "/static", "/static/messenger.html", "/static/chat.html",
				"/static/expired.html", "/static/.", "/static/../static/chat.html", "/static/web/chat.js"} {
				if status, body := httpGet(t, base+path); status != http.StatusNotFound {
					t.Errorf("GET %s: HTTP %d, want 404: %.200s", path, status, body)
				}
			}
			for path, ctype := range map[string]string{"/static/chat.js": "text/javascript", "/static/chat.css": "text/css"} {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
					t.Errorf("GET %s: HTTP %d %s, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), ctype)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("ETag") == "" {
					t.Errorf("GET %s: headers %v, want nosniff and an ETag", path, resp.Header)
				}
				// An unchanged file is not sent again.
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
				again, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				again.Body.Close()
				if again.StatusCode != http.StatusNotModified {
					t.Errorf("GET %s with its ETag: HTTP %d, want 304", path, again.StatusCode)
				}
			}
		})
	}
	// The mock messenger is dev mode's home page, and only there.
	if status, body := httpGet(t, dev.URL()+"/"); status != http.StatusOK || !strings.Contains(body, `id="banner"`) {
		t.Errorf("dev mode /: HTTP %d", status)
	}
	if status, _ := httpGet(t, e.run.URL()+"/"); status != http.StatusNotFound {
		t.Errorf("production /: HTTP %d, want 404", status)
	}
}
