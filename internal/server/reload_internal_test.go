//go:build unix

package server

import (
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
)

// The watch is armed when newFlowWatch returns, before the server serves:
// an edit made at once is seen, and a SIGHUP reaches the reload instead of
// ending the process.
func TestFlowWatchArmedAtOnce(t *testing.T) {
	dir := t.TempDir()
	fw := newFlowWatch(&config.Config{Flows: dir, Locales: dir}, slog.New(slog.DiscardHandler))
	defer signal.Stop(fw.hup)
	if fw.w == nil {
		t.Skip("this system cannot watch files")
	}
	defer fw.w.Close()

	if err := os.WriteFile(filepath.Join(dir, "damage-1015.yaml"), []byte("id: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fw.w.Events:
	case err := <-fw.w.Errors:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("an edit made right after the watch was set up was not seen")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fw.hup:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not reach the watch")
	}
}
