package server

import (
	"github.com/claimbot/claimbot/internal/upload"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/redistest"
)

// A production server started with uploads off (its flows asked for no
// files) refuses a reload that brings a flow asking for files: it could
// not keep them. The running flows stay.
func TestReloadRefusesFilesFlowWithUploadsOff(t *testing.T) {
	dir := t.TempDir()
	copyFlowFile(t, dir, "testdata/nofiles.yaml") // a flow that asks for no files
	cfg := &config.Config{Flows: dir, Locales: "../../locales", DefaultFlow: "nofiles", BannerSecret: "test-banner-secret-0123456789abcdef",
		SessionTTL: time.Hour}
	versions := engine.NewVersions()
	eng, _, err := LoadEngine(cfg.Flows, cfg.Locales, versions)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s := New(Options{Config: cfg, Logger: log, Redis: redistest.Start(t).Client(t), Engine: eng})
	src, err := os.ReadFile("../../flows/damage-1015.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "damage-1015.yaml"), src, 0o644)
	reload(cfg, s, versions, log, "test")
	if s.Engine().Flow("damage-1015") != nil {
		t.Fatal("a flow asking for files was loaded with uploads off")
	}
	if s.Engine().Flow("nofiles") == nil {
		t.Fatal("the running flows are gone")
	}
}

// A reload may not widen what the running upload service takes: larger
// files or other types would be offered on the page and refused.
func TestReloadBeyondUploadLimits(t *testing.T) {
	eng, _, err := LoadEngine("../../flows", "../../locales", engine.NewVersions())
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"application/pdf", "image/jpeg", "image/png", "image/heic"}
	for _, tt := range []struct {
		lim  upload.Limits
		want string
	}{
		{upload.Limits{MaxSize: 20 << 20, Types: all}, ""},
		{upload.Limits{MaxSize: 30 << 20, Types: append(all, "image/webp")}, ""},
		{upload.Limits{MaxSize: 10 << 20, Types: all}, "more than"},
		{upload.Limits{MaxSize: 20 << 20, Types: all[:3]}, "image/heic"},
	} {
		if got := beyondLimits(eng, tt.lim); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("beyondLimits(%+v) = %q, want %q", tt.lim, got, tt.want)
		}
	}
}

// copyFlowFile copies a flow file into a test's flows folder.
func copyFlowFile(t *testing.T, dir, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), src, 0o644); err != nil {
		t.Fatal(err)
	}
}
