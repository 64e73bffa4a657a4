package upload

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/redis/go-redis/v9"
)

// finished makes a finished PDF upload of user and returns its id.
func finished(t *testing.T, in *instance, user string) string {
	t.Helper()
	data := fakePDF(t, 3000)
	url, code := create(t, in, user, "a.pdf", "application/pdf", int64(len(data)))
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	sendAll(t, url, user, 0, data, len(data))
	return idOf(url)
}

func linkStatus(t *testing.T, link string) int {
	t.Helper()
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestTouchDefersSweep: a session kept alive past its TTL keeps its
// files: each turn's Touch pushes their sweep (and their record's expiry)
// to the session's new expiry.
func TestTouchDefersSweep(t *testing.T) {
	rdb := newRedis(t)
	ttl := time.Hour
	in := newInstance(t, t.TempDir(), rdb, 1<<20, func(c *Config) { c.Unattached = ttl })
	ctx := context.Background()
	id := finished(t, in, "alice")
	now := time.Now()
	// The session lives on: a turn 50 minutes in, another at 100.
	for _, at := range []time.Duration{50 * time.Minute, 100 * time.Minute} {
		if err := in.svc.Touch(ctx, []string{id, "made-up"}, now.Add(at+ttl)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := in.svc.Sweep(ctx, now.Add(ttl+time.Minute)); err != nil || n != 0 {
		t.Fatalf("sweep past the first TTL: %d, %v", n, err)
	}
	if _, err := in.svc.Check(ctx, id, "alice", Limits{}); err != nil {
		t.Fatalf("the file of a live session: %v", err)
	}
	if d := rdb.PTTL(ctx, recordKey(id)).Val(); d < 150*time.Minute {
		t.Errorf("the record's expiry was not pushed: %v", d)
	}
	if rdb.Exists(ctx, "upload:{made-up}:file").Val() != 0 || rdb.ZScore(ctx, pendingKey, "made-up").Err() != redis.Nil {
		t.Error("Touch made up an upload")
	}
	// An earlier Touch (a late turn of another tab) moves nothing back.
	if err := in.svc.Touch(ctx, []string{id}, now.Add(ttl)); err != nil {
		t.Fatal(err)
	}
	if n, _ := in.svc.Sweep(ctx, now.Add(ttl+time.Minute)); n != 0 {
		t.Fatalf("an earlier Touch brought the sweep forward")
	}
	// Once the session is idle past its TTL, the file goes.
	if n, err := in.svc.Sweep(ctx, now.Add(100*time.Minute+ttl+time.Second)); err != nil || n != 1 {
		t.Fatalf("sweep after the session's end: %d, %v", n, err)
	}
	// A kept file is untouched by Touch: its record stays without expiry.
	kept := finished(t, in, "alice")
	if err := in.svc.Keep(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if err := in.svc.Touch(ctx, []string{kept}, now.Add(ttl)); err != nil {
		t.Fatal(err)
	}
	if d := rdb.TTL(ctx, recordKey(kept)).Val(); d != -1 {
		t.Errorf("Touch gave a kept record an expiry: %v", d)
	}
	if rdb.ZScore(ctx, pendingKey, kept).Err() != redis.Nil {
		t.Error("Touch listed a kept file for the sweep")
	}
}

// TestKeepDeletedFails: Keep of a file that is gone fails, so the
// sender's Keep before it posts a claim does not pass a dead link.
func TestKeepDeletedFails(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	ctx := context.Background()
	id := finished(t, in, "alice")
	if _, err := in.svc.Sweep(ctx, time.Now().Add(DefaultUnattached+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := in.svc.Keep(ctx, id); !errors.Is(err, ErrUnknown) {
		t.Errorf("Keep of a swept file: %v", err)
	}
	if err := in.svc.Keep(ctx, "never-was"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Keep of an unknown id: %v", err)
	}
	other := finished(t, in, "alice")
	if err := in.svc.Keep(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := in.svc.Keep(ctx, other); err != nil {
		t.Errorf("Keep again (a retry): %v", err)
	}
}

// afterFirst runs f once, after the first command that reads the sweep's
// list (a ZRANGEBYSCORE or a script) that the client sends once armed.
type afterFirst struct {
	mu    sync.Mutex
	armed bool
	f     func()
}

func (h *afterFirst) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *afterFirst) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		switch cmd.Name() {
		case "zrangebyscore", "evalsha", "eval":
		default:
			return err // the connection's hello, a script not loaded yet
		}
		if err != nil {
			return err
		}
		h.mu.Lock()
		f := h.f
		if !h.armed {
			f = nil
		}
		h.armed = false
		h.mu.Unlock()
		if f != nil {
			f()
		}
		return err
	}
}
func (h *afterFirst) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestSweepLosesToKeep: a claim that keeps a file while the sweep is
// already at work (it has read the due ids) keeps it.
func TestSweepLosesToKeep(t *testing.T) {
	r := newRedis(t)
	addr := r.(*redis.Client).Options().Addr
	sweeper := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { sweeper.Close() })
	dir := t.TempDir()
	in := newInstance(t, dir, r, 1<<20)
	sw := newInstance(t, dir, sweeper, 1<<20)
	ctx := context.Background()
	id := finished(t, in, "alice")
	var keepErr error
	hook := &afterFirst{f: func() { keepErr = in.svc.Keep(ctx, id) }}
	sweeper.AddHook(hook)
	hook.mu.Lock()
	hook.armed = true
	hook.mu.Unlock()
	n, err := sw.svc.Sweep(ctx, time.Now().Add(DefaultUnattached+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if keepErr != nil {
		t.Fatalf("Keep during the sweep: %v", keepErr)
	}
	if n != 0 || linkStatus(t, in.svc.Link(id, time.Time{})) != http.StatusOK {
		t.Fatalf("the sweep deleted a file kept while it ran (deleted %d)", n)
	}
}

// TestKeptNotAttachedAgain: a file that went with a claim goes with no
// other, nor again with the same one.
func TestKeptNotAttachedAgain(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	ctx := context.Background()
	id := finished(t, in, "alice")
	if err := in.svc.Keep(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := in.svc.Check(ctx, id, "alice", Limits{}); !errors.Is(err, ErrKept) {
		t.Fatalf("Check of a kept file: %v", err)
	}
	input := engine.Input{Kind: engine.Attach, Text: id}
	if err := in.svc.Resolve(ctx, &input, "alice", Limits{}); err != nil || input.Problem != engine.ProblemSent {
		t.Fatalf("Resolve of a kept file: %v, problem %q", err, input.Problem)
	}
	if f, err := in.svc.Info(ctx, id); err != nil || !f.Kept {
		t.Errorf("Info of a kept file: %+v, %v", f, err)
	}
}

// TestServedWhateverTypesToday: a file accepted when it arrived is served
// by an instance whose flows no longer take its type (a restart with
// other flows); a file refused then stays refused.
func TestServedWhateverTypesToday(t *testing.T) {
	rdb := newRedis(t)
	dir := t.TempDir()
	before := newInstance(t, dir, rdb, 1<<20)
	ctx := context.Background()
	id := finished(t, before, "alice")
	if err := before.svc.Keep(ctx, id); err != nil {
		t.Fatal(err)
	}
	page := []byte("<!DOCTYPE html><html><body>x</body></html>\n")
	url, _ := create(t, before, "alice", "a.pdf", "application/pdf", int64(len(page)))
	if code := patch(t, url, "alice", 0, page); code != http.StatusUnsupportedMediaType {
		t.Fatalf("HTML: %d", code)
	}
	after := newInstance(t, dir, rdb, 1<<20, func(c *Config) { c.Types = []string{"image/png", "text/html"} })
	if code := linkStatus(t, after.svc.Link(id, time.Time{})); code != http.StatusOK {
		t.Errorf("a kept PDF after a restart without PDFs: %d", code)
	}
	if code := linkStatus(t, after.svc.Link(idOf(url), time.Time{})); code != http.StatusNotFound {
		t.Errorf("a file refused when it arrived, now that its type is taken: %d", code)
	}
	if _, err := after.svc.Check(ctx, idOf(url), "alice", Limits{}); !errors.Is(err, ErrType) {
		t.Errorf("Check of a file refused when it arrived: %v", err)
	}
}

// TestTerminateFinishedRefused: tus DELETE of a finished upload (maybe
// attached, maybe a claim's) is refused and its link works on; an
// unfinished one may be terminated.
func TestTerminateFinishedRefused(t *testing.T) {
	in := newInstance(t, t.TempDir(), newRedis(t), 1<<20)
	id := finished(t, in, "alice")
	url := in.srv.URL + "/uploads/" + id
	if code := do(t, tusReq(t, http.MethodDelete, url, "alice", nil)).StatusCode; code != http.StatusConflict {
		t.Errorf("DELETE of a finished upload: %d", code)
	}
	if code := linkStatus(t, in.svc.Link(id, time.Time{})); code != http.StatusOK {
		t.Errorf("its link after the DELETE: %d", code)
	}
	half, _ := create(t, in, "alice", "b.pdf", "application/pdf", 3000)
	patch(t, half, "alice", 0, fakePDF(t, 3000)[:1000])
	if code := do(t, tusReq(t, http.MethodDelete, half, "alice", nil)).StatusCode; code != http.StatusNoContent {
		t.Errorf("DELETE of an unfinished upload: %d", code)
	}
	if _, code := head(t, half, "alice"); code != http.StatusNotFound {
		t.Errorf("HEAD of the terminated upload: %d", code)
	}
}

// TestSweepCarriesOnPastErrors: a file the storage will not delete does
// not stop the sweep of the others; it is tried again after a lease.
func TestSweepCarriesOnPastErrors(t *testing.T) {
	rdb := newRedis(t)
	dir := t.TempDir()
	in := newInstance(t, dir, rdb, 1<<20)
	ctx := context.Background()
	bad := finished(t, in, "alice")
	good := finished(t, in, "alice")
	// bad comes first; its bytes cannot be removed (a non-empty folder
	// where the file was).
	rdb.ZAdd(ctx, pendingKey, redis.Z{Score: float64(time.Now().Unix()), Member: bad})
	bin := filepath.Join(dir, bad)
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(bin, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(DefaultUnattached + time.Minute)
	n, err := in.svc.Sweep(ctx, now)
	if err == nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if _, err := in.svc.Info(ctx, good); !errors.Is(err, ErrUnknown) {
		t.Errorf("the good file after the bad one: %v", err)
	}
	if n, err := in.svc.Sweep(ctx, now.Add(time.Second)); n != 0 || err != nil {
		t.Errorf("the bad file retried within the lease: %d, %v", n, err)
	}
	os.RemoveAll(bin)
	if n, err := in.svc.Sweep(ctx, now.Add(sweepLease+time.Second)); n != 1 || err != nil {
		t.Errorf("the bad file after the lease: %d, %v", n, err)
	}
	if rdb.Exists(ctx, recordKey(bad)).Val() != 0 || rdb.ZCard(ctx, pendingKey).Val() != 0 {
		t.Error("the bad file's record or listing stayed")
	}
}
