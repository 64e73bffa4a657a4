package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

// bodyWithFiles is a claim's body listing files, as the store writes it.
func bodyWithFiles(t testing.TB, claimID string, at time.Time, ids ...string) []byte {
	t.Helper()
	var c webhook.Claim
	if err := json.Unmarshal(claimBody(t, claimID, at), &struct{ Data *webhook.Claim }{&c}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		c.Attachments = append(c.Attachments, webhook.Attachment{ID: id, Name: id + ".pdf", Type: "application/pdf", Size: 10,
			SHA256: strings.Repeat("0", 64), URL: "https://bot.example/files/" + id + "?sig=x"})
	}
	b, err := json.Marshal(webhook.NewEvent(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.ValidateBody(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// enqueueFiles files a claim listing files and returns its entry id.
func (e *env) enqueueFiles(claimID string, ids ...string) string {
	e.t.Helper()
	now := time.Now()
	entry, err := Enqueue(context.Background(), e.rdb, claimID, bodyWithFiles(e.t, claimID, now, ids...), now)
	if err != nil {
		e.t.Fatal(err)
	}
	return entry
}

// fakeFiles records Keep calls and fails while fail is set.
type fakeFiles struct {
	mu     sync.Mutex
	kept   []string
	posted func() int // POSTs the receiver saw when Keep was called
	before []int
	fail   error
}

func (f *fakeFiles) Keep(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kept = append(f.kept, id)
	f.before = append(f.before, f.posted())
	return f.fail
}

func (f *fakeFiles) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeFiles) calls() ([]string, []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.kept), slices.Clone(f.before)
}

// filesDue is shard n's schedule of files to delete.
func filesDue(t testing.TB, rdb redis.UniversalClient, n int) map[string]time.Time {
	t.Helper()
	zs, err := rdb.ZRangeWithScores(context.Background(), shard.Files(n), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		out[str(z.Member)] = time.UnixMilli(int64(z.Score))
	}
	return out
}

// A body's files are kept before it is posted, and scheduled for deletion
// when the delivered claim's retention ends, by the acknowledgement.
func TestFilesKeptThenRetained(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	files := &fakeFiles{posted: func() int { return len(e.recv.Attempts()) }}
	cfg := e.config()
	cfg.Files = files
	cfg.Retention = time.Hour
	e.start(cfg)
	id, plain := newClaimID(7), newClaimID(7)
	e.enqueueFiles(id, "up_1", "up_2")
	e.enqueueID(plain)
	e.recv.WaitAccepted(t, 2, 3*time.Second)
	e.waitDrained(3 * time.Second)
	kept, before := files.calls()
	if !slices.Equal(kept, []string{"up_1", "up_2"}) {
		t.Errorf("kept %v, want the claim's two files (and nothing for a claim without files)", kept)
	}
	for i, n := range before {
		for _, a := range e.recv.Attempts()[:n] {
			if a.ID == webhook.MessageID(id) {
				t.Errorf("Keep(%s) called after the claim was posted", kept[i])
			}
		}
	}
	due := filesDue(t, e.rdb, 7)
	want := time.Now().Add(time.Hour)
	if len(due) != 2 {
		t.Fatalf("files scheduled %v, want up_1 and up_2", due)
	}
	for _, f := range []string{"up_1", "up_2"} {
		if d := due[f].Sub(want); d > time.Second || d < -5*time.Second {
			t.Errorf("%s due at %s, want about %s (the retention's end)", f, due[f], want)
		}
	}
	if ttl := e.rdb.PTTL(context.Background(), shard.Delivered(7, id)).Val(); ttl <= 0 {
		t.Errorf("delivered copy ttl %s", ttl)
	}
}

// A failure to keep the files is not an attempt: nothing is posted, the
// attempt count stays, and the claim is tried again soon.
func TestFilesNotKeptIsNoAttempt(t *testing.T) {
	defer func(d time.Duration) { filesRetry = d }(filesRetry)
	filesRetry = 30 * time.Millisecond
	e := newEnv(t, redistest.Start(t))
	files := &fakeFiles{posted: func() int { return len(e.recv.Attempts()) }, fail: errors.New("storage down")}
	cfg := e.config(10*time.Millisecond, 10*time.Millisecond) // two retries, then dead
	cfg.Files = files
	m := NewMetrics(nil, e.rdb)
	cfg.Metrics = m
	e.start(cfg)
	id := newClaimID(2)
	e.enqueueFiles(id, "up_x")
	eventually(t, 3*time.Second, "Keep tried several times", func() bool { k, _ := files.calls(); return len(k) >= 5 })
	if n := len(e.recv.Attempts()); n != 0 {
		t.Fatalf("%d POSTs while the files could not be kept", n)
	}
	pending, dead, err := List(context.Background(), e.rdb)
	if err != nil || len(pending) != 1 || len(dead) != 0 {
		t.Fatalf("List: %v %v %v", pending, dead, err)
	}
	if pending[0].Attempts != 0 || !strings.Contains(pending[0].LastError, "files not kept") {
		t.Errorf("entry %+v: want 0 attempts and the files' problem", pending[0])
	}
	for _, r := range []string{resultOK, resultRetry, resultError, resultDead} {
		if v := testutil.ToFloat64(m.attempts.WithLabelValues(r)); v != 0 {
			t.Errorf("attempts{%s} = %v, want none counted", r, v)
		}
	}
	files.setFail(nil)
	e.recv.WaitAccepted(t, 1, 3*time.Second)
	e.waitDrained(3 * time.Second)
	if n := len(e.recv.Attempts()); n != 1 {
		t.Errorf("%d POSTs, want 1", n)
	}
	if _, ok := filesDue(t, e.rdb, 2)["up_x"]; !ok {
		t.Error("the delivered claim's file is not scheduled for deletion")
	}
}

// A dead-lettered claim keeps its files; purging it, or a pending claim,
// schedules them for deletion at once.
func TestPurgeSchedulesFiles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	e.recv.Respond(func(int, string) (int, http.Header) { return http.StatusGone, nil })
	r := e.start(e.config())
	dead := newClaimID(4)
	e.enqueueFiles(dead, "up_d1", "up_d2")
	eventually(t, 3*time.Second, "claim dead-lettered", func() bool {
		_, d, err := List(ctx, e.rdb)
		return err == nil && len(d) == 1
	})
	r.Stop()
	if due := filesDue(t, e.rdb, 4); len(due) != 0 {
		t.Errorf("a dead letter's files scheduled for deletion: %v", due)
	}
	pending := newClaimID(4)
	e.enqueueFiles(pending, "up_p")
	before := time.Now()
	for _, id := range []string{dead, pending} {
		if err := Purge(ctx, e.rdb, id); err != nil {
			t.Fatal(err)
		}
	}
	due := filesDue(t, e.rdb, 4)
	if len(due) != 3 {
		t.Fatalf("scheduled %v, want the purged claims' three files", due)
	}
	for f, at := range due {
		if at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("%s due at %s, want now", f, at)
		}
	}
	// A sweep then deletes them.
	var deleted []string
	n, err := SweepFiles(ctx, e.rdb, time.Now(), func(_ context.Context, id string) error { deleted = append(deleted, id); return nil })
	slices.Sort(deleted)
	if err != nil || n != 3 || !slices.Equal(deleted, []string{"up_d1", "up_d2", "up_p"}) {
		t.Errorf("SweepFiles = %d, %v; deleted %v", n, err, deleted)
	}
}

// A purge that finds the claim gone (delivered meanwhile) leaves the files
// to the delivered claim's retention.
func TestPurgeOfNothingSchedulesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	e.rdb.ZAdd(ctx, shard.Files(5), redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "up_r"})
	if err := Purge(ctx, e.rdb, newClaimID(5)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Purge = %v", err)
	}
	if due := filesDue(t, e.rdb, 5); len(due) != 1 || time.Until(due["up_r"]) < 50*time.Minute {
		t.Errorf("schedule changed: %v", due)
	}
}

func TestSweepFiles(t *testing.T) {
	defer func(d time.Duration) { sweepLease = d }(sweepLease)
	sweepLease = time.Minute
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	now := time.Now()
	add := func(n int, id string, at time.Time) {
		if err := e.rdb.ZAdd(ctx, shard.Files(n), redis.Z{Score: float64(at.UnixMilli()), Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 150 {
		add(0, "up_a"+strconv.Itoa(i), now.Add(-time.Minute))
	}
	add(3, "up_fail", now.Add(-time.Second))
	add(3, "up_later", now.Add(time.Hour))
	add(23, "up_last", now)
	var mu sync.Mutex
	deleted := map[string]int{}
	del := func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		if id == "up_fail" {
			return fmt.Errorf("storage says no")
		}
		deleted[id]++
		return nil
	}
	total := 0
	for i := 0; i < 3; i++ {
		n, err := SweepFiles(ctx, e.rdb, now, del)
		if i == 0 && n != sweepLimit {
			t.Errorf("first sweep deleted %d, want the bound %d", n, sweepLimit)
		}
		if n > sweepLimit {
			t.Errorf("sweep %d deleted %d, over the bound", i, n)
		}
		if i == 1 && (err == nil || !strings.Contains(err.Error(), "storage says no")) {
			t.Errorf("second sweep: error %v, want the failed deletion", err)
		}
		total += n
	}
	if total != 151 || len(deleted) != 151 || deleted["up_last"] != 1 || deleted["up_later"] != 0 {
		t.Errorf("deleted %d (%d distinct), up_last %d, up_later %d", total, len(deleted), deleted["up_last"], deleted["up_later"])
	}
	for id, c := range deleted {
		if c != 1 {
			t.Errorf("%s deleted %d times", id, c)
		}
	}
	// The failed file stays, due again after the lease: then it is tried
	// again, and forgotten once deleted.
	due := filesDue(t, e.rdb, 3)
	if _, ok := due["up_fail"]; !ok || len(filesDue(t, e.rdb, 0)) != 0 || len(filesDue(t, e.rdb, 23)) != 0 {
		t.Fatalf("after sweeps: shard 3 %v, shard 0 %d left, shard 23 %d left", due, len(filesDue(t, e.rdb, 0)), len(filesDue(t, e.rdb, 23)))
	}
	if n, _ := SweepFiles(ctx, e.rdb, now.Add(30*time.Second), del); n != 0 {
		t.Errorf("retried within the lease: %d", n)
	}
	ok := func(_ context.Context, id string) error { deleted[id]++; return nil }
	if n, err := SweepFiles(ctx, e.rdb, now.Add(2*time.Minute), ok); n != 1 || err != nil || deleted["up_fail"] != 1 {
		t.Errorf("after the lease: %d %v", n, err)
	}
	if due := filesDue(t, e.rdb, 3); len(due) != 1 {
		t.Errorf("shard 3 left %v, want only up_later", due)
	}
}

// Purging a claim purges the claim.evidence_added entries for it that are
// still pending or dead (their own ids), and schedules their files, even
// when the claim itself was delivered already; another claim's evidence
// stays.
func TestPurgeTakesTheClaimsEvidence(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	claim, other := newClaimID(6), newClaimID(6)
	evidence := func(eventID, claimID string, files ...string) {
		t.Helper()
		var atts []webhook.Attachment
		for _, id := range files {
			atts = append(atts, webhook.Attachment{ID: id, Name: id + ".pdf", Type: "application/pdf", Size: 10,
				SHA256: strings.Repeat("0", 64), URL: "https://bot.example/files/" + id + "?sig=x"})
		}
		b, err := json.Marshal(webhook.NewEvidenceEvent(webhook.Evidence{ClaimID: claimID, UserID: "u", Attachments: atts}, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if err := webhook.ValidateBody(b); err != nil {
			t.Fatal(err)
		}
		if _, err := Enqueue(ctx, e.rdb, eventID, b, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	mine, theirs := newClaimID(6), newClaimID(6)
	evidence(mine, claim, "up_e1")
	evidence(theirs, other, "up_o1")
	// The claim itself is not in the outbox (delivered): its evidence is.
	if err := Purge(ctx, e.rdb, claim); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	pending, _, err := List(ctx, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ClaimID != theirs {
		t.Errorf("left in the outbox: %+v, want only the other claim's evidence", pending)
	}
	if due := filesDue(t, e.rdb, 6); len(due) != 1 || due["up_e1"].IsZero() {
		t.Errorf("scheduled %v, want the purged evidence's file", due)
	}
	if err := Purge(ctx, e.rdb, newClaimID(6)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a purge that finds nothing: %v", err)
	}
}

// A file that is gone for good (Keep says fs.ErrNotExist) does not hold the
// claim back for ever: the claim is posted, with the body it has.
func TestFileGoneDoesNotHoldTheClaim(t *testing.T) {
	e := newEnv(t, redistest.Start(t))
	files := &fakeFiles{posted: func() int { return len(e.recv.Attempts()) },
		fail: fmt.Errorf("upload: keep: %w", fs.ErrNotExist)}
	cfg := e.config()
	cfg.Files = files
	e.start(cfg)
	e.enqueueFiles(newClaimID(3), "up_gone")
	e.recv.WaitAccepted(t, 1, 3*time.Second)
	e.waitDrained(3 * time.Second)
	if k, _ := files.calls(); len(k) != 1 {
		t.Errorf("Keep called %d times, want once", len(k))
	}
}
