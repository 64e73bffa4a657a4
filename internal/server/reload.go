package server

import (
	"context"
	"fmt"
	"github.com/claimbot/claimbot/internal/upload"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/engine"
)

// reloadDebounce lets an editor finish writing before the flows are read.
const reloadDebounce = 250 * time.Millisecond

// flowWatch is what watchFlows listens to, armed before the server starts
// serving: an edit or a SIGHUP right after the start is not missed (and a
// SIGHUP never falls to its default action, which ends the process).
type flowWatch struct {
	w   *fsnotify.Watcher // nil when the system cannot watch
	hup chan os.Signal
}

func newFlowWatch(cfg *config.Config, log *slog.Logger) *flowWatch {
	fw := &flowWatch{hup: make(chan os.Signal, 1)}
	signal.Notify(fw.hup, syscall.SIGHUP)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("flows: cannot watch for changes; reload with SIGHUP", "err", err)
		return fw
	}
	for _, dir := range []string{cfg.Flows, cfg.Locales} {
		if err := w.Add(dir); err != nil {
			log.Warn("flows: cannot watch", "dir", dir, "err", err)
		}
	}
	fw.w = w
	return fw
}

// watchFlows reloads the flows and locales when a file under them changes
// or on SIGHUP. A set with errors is not swapped in: the running flows stay
// and every problem is logged with file:line.
func watchFlows(ctx context.Context, fw *flowWatch, cfg *config.Config, srv *Server, versions *engine.Versions, log *slog.Logger) {
	hup := fw.hup
	defer signal.Stop(hup)
	var events chan fsnotify.Event
	var errs chan error
	if w := fw.w; w != nil {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Remove|fsnotify.Rename) == 0 {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(reloadDebounce)
			} else {
				timer.Reset(reloadDebounce)
			}
			fire = timer.C
		case err := <-errs:
			log.Warn("flows: watch", "err", err)
		case <-hup:
			reload(cfg, srv, versions, log, "SIGHUP")
		case <-fire:
			fire = nil
			reload(cfg, srv, versions, log, "file change")
		}
	}
}

func reload(cfg *config.Config, srv *Server, versions *engine.Versions, log *slog.Logger, why string) {
	eng, ps, err := LoadEngine(cfg.Flows, cfg.Locales, versions)
	logProblems(log, ps)
	if err != nil {
		log.Error("flows: reload refused; the running flows stay", "why", why, "err", err)
		return
	}
	if srv.Uploads() == nil && asksFiles(eng) {
		log.Error("flows: reload refused; the running flows stay", "why", why,
			"err", "a flow asks for files but uploads are off: set CLAIMBOT_UPLOADS and CLAIMBOT_PUBLIC_URL, and restart")
		return
	}
	if svc := srv.Uploads(); svc != nil {
		// The upload service's limits were set from the flows at start: a
		// flow that asks for larger files or other types than those would
		// offer them on the page and then refuse every one.
		if problem := beyondLimits(eng, svc.Limits()); problem != "" {
			log.Error("flows: reload refused; the running flows stay", "why", why,
				"err", problem+": restart to apply it")
			return
		}
	}
	srv.SetEngine(eng)
	for id, f := range eng.Flows() {
		log.Info("flows: reloaded", "why", why, "flow", id, "version", f.Version)
	}
}

// beyondLimits says how a flow set's files questions go beyond the upload
// service's limits ("" when they do not).
func beyondLimits(e *engine.Engine, lim upload.Limits) string {
	maxSize, types := fileLimits(e)
	if maxSize > lim.MaxSize {
		return fmt.Sprintf("a flow accepts files of %d bytes, more than the %d the running upload service takes", maxSize, lim.MaxSize)
	}
	for _, t := range types {
		if !slices.Contains(lim.Types, t) {
			return fmt.Sprintf("a flow accepts %s, which the running upload service does not keep", t)
		}
	}
	return ""
}
