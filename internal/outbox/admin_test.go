package outbox

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	gone, failing := newClaimID(1), newClaimID(2)
	e.recv.Respond(func(_ int, id string) (int, http.Header) {
		switch id {
		case webhook.MessageID(gone):
			return http.StatusGone, nil
		case webhook.MessageID(failing):
			return http.StatusInternalServerError, nil
		}
		return 0, nil
	})
	e.start(e.config(10*time.Millisecond, 20*time.Millisecond))
	e.enqueueID(gone)
	e.enqueueID(failing)

	var pending, dead []Entry
	eventually(t, 3*time.Second, "both claims dead-lettered", func() bool {
		var err error
		pending, dead, err = List(ctx, e.rdb)
		return err == nil && len(dead) == 2 && len(pending) == 0
	})
	byClaim := map[string]Entry{}
	for _, d := range dead {
		byClaim[d.ClaimID] = d
	}
	for _, tc := range []struct {
		claim    string
		attempts int
		lastErr  string
	}{
		{gone, 1, "HTTP 410"},
		{failing, 3, "HTTP 500"},
	} {
		d, ok := byClaim[tc.claim]
		switch {
		case !ok:
			t.Errorf("%s not listed as dead", tc.claim)
		case !d.Dead || d.Attempts != tc.attempts || !strings.Contains(d.LastError, tc.lastErr):
			t.Errorf("%s: dead %v, %d attempts, last error %q; want dead, %d attempts, %q",
				tc.claim, d.Dead, d.Attempts, d.LastError, tc.attempts, tc.lastErr)
		case d.DeadAt.IsZero() || d.SubmittedAt.IsZero() || len(d.Body) == 0:
			t.Errorf("%s: dead at %v, submitted at %v, %d body bytes", tc.claim, d.DeadAt, d.SubmittedAt, len(d.Body))
		}
	}
	attemptsBefore := len(e.recv.Attempts())
	if attemptsBefore != 4 {
		t.Errorf("%d attempts, want 4 (410 once, 500 three times)", attemptsBefore)
	}

	var table strings.Builder
	if err := WriteTable(&table, pending, dead); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{gone, failing, "dead", "HTTP 410 Gone", "HTTP 500 Internal Server Error"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, personal := range []string{"owner@example.com", "010-5555-1234", "user-"} {
		if strings.Contains(table.String(), personal) {
			t.Errorf("table shows personal data %q:\n%s", personal, table.String())
		}
	}

	// Replayed, both are delivered with the webhook-id of their first attempts.
	e.recv.Respond(nil)
	if err := Retry(ctx, e.rdb, gone); err != nil {
		t.Fatal(err)
	}
	e.recv.WaitAccepted(t, 1, 3*time.Second)
	n, err := RetryAllDead(ctx, e.rdb)
	if err != nil || n != 1 {
		t.Fatalf("RetryAllDead = %d, %v; want 1, nil", n, err)
	}
	e.recv.WaitAccepted(t, 2, 3*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce([]string{gone, failing})
	if _, dead, _ := List(ctx, e.rdb); len(dead) != 0 {
		t.Errorf("%d dead letters left after replay", len(dead))
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	gone := newClaimID(5)
	e.recv.Respond(func(int, string) (int, http.Header) { return http.StatusGone, nil })
	r := e.start(e.config())
	e.enqueueID(gone)
	eventually(t, 3*time.Second, "claim dead-lettered", func() bool {
		_, dead, err := List(ctx, e.rdb)
		return err == nil && len(dead) == 1
	})
	r.Stop()

	pending := e.enqueue(2) // not delivered: no sender runs
	for _, id := range []string{gone, pending[0]} {
		if err := Purge(ctx, e.rdb, id); err != nil {
			t.Errorf("Purge(%s): %v", id, err)
		}
		if err := Purge(ctx, e.rdb, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Purge(%s) again: %v, want ErrNotFound", id, err)
		}
		if err := Retry(ctx, e.rdb, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Retry(%s) after purge: %v, want ErrNotFound", id, err)
		}
	}
	p, d, err := List(ctx, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].ClaimID != pending[1] || len(d) != 0 {
		t.Errorf("after purges: pending %v, dead %v; want only %s pending", claims(p), claims(d), pending[1])
	}
}

func TestRetryPending(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	e.recv.FailFirst(1, http.StatusServiceUnavailable)
	r := e.start(e.config(time.Hour))
	id := e.enqueue(1)[0]
	eventually(t, 3*time.Second, "retry scheduled in an hour", func() bool {
		p, _, err := List(ctx, e.rdb)
		return err == nil && len(p) == 1 && p[0].Attempts == 1 && time.Until(p[0].DueAt) > 50*time.Minute
	})
	r.Stop()

	if err := Retry(ctx, e.rdb, id); err != nil {
		t.Fatal(err)
	}
	p, _, err := List(ctx, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || time.Until(p[0].DueAt) > 0 || p[0].Attempts != 1 || p[0].LastError == "" {
		t.Fatalf("after Retry: %+v, want one entry due now, its attempt and error kept", p)
	}
	// A claim not yet tried is due already: Retry leaves it alone.
	fresh := e.enqueue(1)[0]
	if err := Retry(ctx, e.rdb, fresh); err != nil {
		t.Fatal(err)
	}
	e.start(e.config(time.Hour))
	e.recv.WaitAccepted(t, 2, 3*time.Second)
	e.waitDrained(2 * time.Second)
	e.acceptedOnce([]string{id, fresh})
}

func TestWriteTable(t *testing.T) {
	now := time.Now()
	pending := []Entry{
		{ClaimID: "7K3M-Q9XD", SubmittedAt: now.Add(-90 * time.Minute), Attempts: 2, LastError: "HTTP 503 Service Unavailable", DueAt: now.Add(30*time.Minute + 5*time.Second), Body: []byte(`{"secret":"x"}`)},
		{ClaimID: "0AAA-BBBB", SubmittedAt: now.Add(-5 * time.Second), Attachments: 3},
	}
	dead := []Entry{
		{ClaimID: "1CCC-DDDD", SubmittedAt: now.Add(-80 * time.Hour), Attempts: 10, LastError: "dial tcp 10.0.0.1:443: connect:\nconnection refused", Dead: true, DeadAt: now.Add(-5 * time.Hour), Body: []byte(`{"secret":"y"}`)},
	}
	var b strings.Builder
	if err := WriteTable(&b, pending, dead); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header and 3 rows:\n%s", len(lines), got)
	}
	for i, want := range [][]string{
		{"CLAIM", "STATE", "AGE", "ATTEMPTS", "FILES", "LAST ERROR"},
		{"7K3M-Q9XD", "pending", "1h30m", "2", "in 30m", "HTTP 503 Service Unavailable"},
		{"0AAA-BBBB", "pending", "5s", "0", "now", "-"},
		{"1CCC-DDDD", "dead", "3d08h", "10", "dead 5h00m ago", "connect: connection refused"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q: %s", i, w, lines[i])
			}
		}
	}
	if strings.Contains(got, "secret") {
		t.Errorf("table prints a body:\n%s", got)
	}
	// The files column: 0 for a claim without, the count for one with.
	for i, re := range []string{`7K3M-Q9XD +pending +1h30m +2 +0 +in 30m`, `0AAA-BBBB +pending +5s +0 +3 +now`, `1CCC-DDDD +dead +3d08h +10 +0 +dead`} {
		if !regexp.MustCompile(re).MatchString(lines[i+1]) {
			t.Errorf("line %d does not match %s: %s", i+1, re, lines[i+1])
		}
	}
}

// List counts the files each pending claim and dead letter lists.
func TestListCountsFiles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	with, without := newClaimID(9), newClaimID(9)
	e.enqueueFiles(with, "up_1", "up_2")
	e.enqueueID(without)
	deadOne := newClaimID(1)
	deadLetter(t, e.rdb, 1, e.enqueueFiles(deadOne, "up_3"))
	pending, dead, err := List(ctx, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, en := range append(pending, dead...) {
		got[en.ClaimID] = en.Attachments
	}
	if got[with] != 2 || got[without] != 0 || got[deadOne] != 1 || len(got) != 3 {
		t.Errorf("attachments per claim %v; want %s 2, %s 0, %s 1", got, with, without, deadOne)
	}
}

func claims(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ClaimID
	}
	return out
}

func TestMalformedEntryIsDeadLettered(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, redistest.Start(t))
	e.start(e.config())
	if err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: shard.Outbox(7), Values: []any{"claim", newClaimID(7)}}).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "malformed entry dead-lettered", func() bool {
		_, dead, err := List(ctx, e.rdb)
		return err == nil && len(dead) == 1 && strings.Contains(dead[0].LastError, "malformed")
	})
	if n := len(e.recv.Attempts()); n != 0 {
		t.Errorf("%d attempts to post a malformed entry", n)
	}
}
