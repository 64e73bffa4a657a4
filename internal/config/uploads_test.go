package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CLAIMBOT_UPLOADS and CLAIMBOT_PUBLIC_URL reach their fields; a trailing
// slash of the public URL goes, since links append paths to it.
func TestUploadsFromEnv(t *testing.T) {
	c, err := fromEnv(production, map[string]string{"CLAIMBOT_UPLOADS": "s3://evidence/claims", "CLAIMBOT_PUBLIC_URL": "https://chat.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Uploads != "s3://evidence/claims" || c.PublicURL != "https://chat.example.com" {
		t.Fatalf("Uploads %q, PublicURL %q", c.Uploads, c.PublicURL)
	}
	c, err = fromEnv(nil, map[string]string{"CLAIMBOT_UPLOADS": "/srv/evidence"})
	if err != nil || c.Uploads != "/srv/evidence" {
		t.Fatalf("a folder: %q, %v", c.Uploads, err)
	}
}

// Malformed values refuse to start, naming the variable, and never show a
// password that the URL carried.
func TestUploadsBadValues(t *testing.T) {
	for _, kv := range [][2]string{
		{"CLAIMBOT_UPLOADS", "s3://"},
		{"CLAIMBOT_UPLOADS", "s3:///prefix"},
		{"CLAIMBOT_UPLOADS", "gs://bucket"},
		{"CLAIMBOT_UPLOADS", "https://bucket.example"},
		{"CLAIMBOT_PUBLIC_URL", "chat.example.com"},
		{"CLAIMBOT_PUBLIC_URL", "ftp://chat.example.com"},
		{"CLAIMBOT_PUBLIC_URL", "https://"},
		{"CLAIMBOT_PUBLIC_URL", "https://chat.example.com/?x=1"},
		{"CLAIMBOT_PUBLIC_URL", "https://chat.example.com/#top"},
		{"CLAIMBOT_PUBLIC_URL", "https://admin:hunter2@chat.example.com"},
	} {
		for name, base := range map[string]map[string]string{"dev": nil, "production": production} {
			_, err := fromEnv(base, map[string]string{kv[0]: kv[1]})
			if err == nil || !strings.Contains(err.Error(), kv[0]) {
				t.Errorf("%s %s=%q: want an error naming it, got %v", name, kv[0], kv[1], err)
				continue
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		}
	}
}

func TestEvidence(t *testing.T) {
	t.Run("dev defaults", func(t *testing.T) {
		c, err := fromEnv(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		storage, public, err := c.Evidence(true, "127.0.0.1:8123")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(storage, os.TempDir()) || storage != filepath.Join(os.TempDir(), "claimbot-uploads") {
			t.Errorf("dev storage %q: want a folder under %s", storage, os.TempDir())
		}
		if public != "http://127.0.0.1:8123" {
			t.Errorf("dev public URL %q", public)
		}
	})
	t.Run("dev set", func(t *testing.T) {
		c, err := fromEnv(nil, map[string]string{"CLAIMBOT_UPLOADS": "/tmp/x", "CLAIMBOT_PUBLIC_URL": "http://localhost:9"})
		if err != nil {
			t.Fatal(err)
		}
		if storage, public, err := c.Evidence(true, "127.0.0.1:8123"); err != nil || storage != "/tmp/x" || public != "http://localhost:9" {
			t.Errorf("%q %q %v", storage, public, err)
		}
	})
	t.Run("production needs uploads for a files flow", func(t *testing.T) {
		c, err := fromEnv(production, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Evidence(true, ":8080"); err == nil || !strings.Contains(err.Error(), "CLAIMBOT_UPLOADS") {
			t.Errorf("a files flow without CLAIMBOT_UPLOADS: %v", err)
		}
		storage, _, err := c.Evidence(false, ":8080")
		if err != nil || storage != "" {
			t.Errorf("no files flow, no CLAIMBOT_UPLOADS: uploads off, got %q, %v", storage, err)
		}
	})
	t.Run("production needs a public URL with uploads", func(t *testing.T) {
		c, err := fromEnv(production, map[string]string{"CLAIMBOT_UPLOADS": "/srv/evidence"})
		if err != nil {
			t.Fatal(err)
		}
		for _, need := range []bool{true, false} {
			if _, _, err := c.Evidence(need, ":8080"); err == nil || !strings.Contains(err.Error(), "CLAIMBOT_PUBLIC_URL") {
				t.Errorf("uploads on (files flow %v) without CLAIMBOT_PUBLIC_URL: %v", need, err)
			}
		}
		c.PublicURL = "https://chat.example.com"
		storage, public, err := c.Evidence(true, ":8080")
		if err != nil || storage != "/srv/evidence" || public != "https://chat.example.com" {
			t.Errorf("%q %q %v", storage, public, err)
		}
	})
}
