package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/shard"
)

// Entry is a claim in the outbox or a dead letter, for `claimbot outbox`.
type Entry struct {
	Shard       int
	EntryID     string // the stream entry id
	ClaimID     string
	SubmittedAt time.Time
	Attempts    int       // attempts made
	LastError   string    // of the last failed attempt
	DueAt       time.Time // pending: the next attempt; zero when it is not scheduled (first attempt)
	Dead        bool
	DeadAt      time.Time
	Body        []byte // the webhook body: personal data, never print it
	Attachments int    // how many files the body lists
}

// List returns the claims in the outbox, oldest first, and the dead
// letters, oldest death first.
func List(ctx context.Context, rdb redis.UniversalClient) (pending, dead []Entry, err error) {
	for n := range shard.Count {
		p, d, err := listShard(ctx, rdb, n)
		if err != nil {
			return nil, nil, fmt.Errorf("outbox: list shard %d: %w", n, err)
		}
		pending = append(pending, p...)
		dead = append(dead, d...)
	}
	sort.SliceStable(pending, func(i, k int) bool { return pending[i].SubmittedAt.Before(pending[k].SubmittedAt) })
	sort.SliceStable(dead, func(i, k int) bool { return dead[i].DeadAt.Before(dead[k].DeadAt) })
	return pending, dead, nil
}

func listShard(ctx context.Context, rdb redis.UniversalClient, n int) (pending, dead []Entry, err error) {
	meta, err := rdb.HGetAll(ctx, shard.Meta(n)).Result()
	if err != nil {
		return nil, nil, err
	}
	due, err := rdb.ZRangeWithScores(ctx, shard.Due(n), 0, -1).Result()
	if err != nil {
		return nil, nil, err
	}
	dueAt := make(map[string]time.Time, len(due))
	for _, z := range due {
		dueAt[str(z.Member)] = time.UnixMilli(int64(z.Score))
	}
	err = scanStream(ctx, rdb, shard.Outbox(n), func(m redis.XMessage) error {
		e := entryOf(n, m)
		e.Attempts, _ = strconv.Atoi(meta[m.ID+":attempts"])
		e.LastError = meta[m.ID+":error"]
		e.DueAt = dueAt[m.ID]
		pending = append(pending, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = scanStream(ctx, rdb, shard.Dead(n), func(m redis.XMessage) error {
		e := entryOf(n, m)
		e.Dead = true
		e.Attempts, _ = strconv.Atoi(str(m.Values[shard.FieldAttempts]))
		e.LastError = str(m.Values[shard.FieldError])
		if ms, err := strconv.ParseInt(str(m.Values[shard.FieldDeadAt]), 10, 64); err == nil {
			e.DeadAt = time.UnixMilli(ms)
		}
		dead = append(dead, e)
		return nil
	})
	return pending, dead, err
}

func entryOf(n int, m redis.XMessage) Entry {
	j := jobOf(n, m.ID, m.Values, 0)
	e := Entry{Shard: n, EntryID: m.ID, ClaimID: j.claim, Body: j.body, Attachments: len(attachmentIDs(j.body))}
	if j.at > 0 {
		e.SubmittedAt = time.UnixMilli(j.at)
	}
	return e
}

// errFound stops a stream scan.
var errFound = errors.New("found")

// lookedUp, when set (by tests), is called after every look for a claim
// in a stream by Retry and Purge, to move the claim meanwhile.
var lookedUp func(key string)

// find returns the id of the claim's entry in a stream, or "".
func find(ctx context.Context, rdb redis.UniversalClient, key, claimID string) (string, error) {
	id, _, err := findBody(ctx, rdb, key, claimID)
	return id, err
}

// findBody returns the id and the body of the claim's entry in a stream,
// or "" and nil.
func findBody(ctx context.Context, rdb redis.UniversalClient, key, claimID string) (string, []byte, error) {
	if lookedUp != nil {
		defer lookedUp(key)
	}
	var id string
	var body []byte
	err := scanStream(ctx, rdb, key, func(m redis.XMessage) error {
		if str(m.Values[shard.FieldClaim]) == claimID {
			id, body = m.ID, []byte(str(m.Values[shard.FieldBody]))
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", nil, err
	}
	return id, body, nil
}

// lookups is how many times Retry and Purge look for a claim that moved
// while they looked: from the outbox to the dead letters, and back.
const lookups = 3

// Retry replays a claim: a dead letter goes back to the outbox with the
// same claim id and body, attempts reset; a pending claim's scheduled
// retry is made due now (one not scheduled is due already; one being
// attempted now is left alone, ErrInFlight). A running Sender then
// delivers it with the same webhook-id.
//
// A claim may move while Retry looks for it: a sender dead-letters it, an
// operator revives it. Retry looks in the outbox first, then in the dead
// letters, and again when the claim was gone from where it was found, so
// it answers ErrNotFound only for a claim that is in neither.
func Retry(ctx context.Context, rdb redis.UniversalClient, claimID string) error {
	n, ok := shard.OfClaim(claimID)
	if !ok {
		return fmt.Errorf("outbox: retry %q: not a claim id", claimID)
	}
	for range lookups {
		done, err := retryOnce(ctx, rdb, n, claimID)
		if err != nil {
			return fmt.Errorf("outbox: retry %s: %w", claimID, err)
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNotFound, claimID)
}

// retryOnce looks for the claim in the outbox, then in the dead letters,
// and replays it where it is found. It reports false when it found the
// claim nowhere, or found it gone when it acted.
func retryOnce(ctx context.Context, rdb redis.UniversalClient, n int, claimID string) (bool, error) {
	id, err := find(ctx, rdb, shard.Outbox(n), claimID)
	if err != nil {
		return false, err
	}
	if id != "" {
		made, err := dueNowScript.Run(ctx, rdb, shardKeys(n), id, time.Now().UnixMilli()).Int()
		if err != nil {
			return false, err
		}
		switch made {
		case 1:
			return true, nil
		case 2:
			return false, ErrInFlight
		}
		// Gone meanwhile: delivered, purged or dead-lettered.
	}
	deadID, err := find(ctx, rdb, shard.Dead(n), claimID)
	if err != nil || deadID == "" {
		return false, err
	}
	err = reviveScript.Run(ctx, rdb, []string{shard.Dead(n), shard.Outbox(n)}, deadID).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil // revived or purged meanwhile
	}
	return err == nil, err
}

// RetryAllDead moves every dead letter back to the outbox, attempts reset,
// and returns how many it moved.
func RetryAllDead(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	total := 0
	for n := range shard.Count {
		var ids []string
		err := scanStream(ctx, rdb, shard.Dead(n), func(m redis.XMessage) error {
			ids = append(ids, m.ID)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("outbox: retry dead letters of shard %d: %w", n, err)
		}
		for _, id := range ids {
			err := reviveScript.Run(ctx, rdb, []string{shard.Dead(n), shard.Outbox(n)}, id).Err()
			if errors.Is(err, redis.Nil) {
				continue // gone meanwhile
			}
			if err != nil {
				return total, fmt.Errorf("outbox: retry dead letter %s of shard %d: %w", id, n, err)
			}
			total++
		}
	}
	return total, nil
}

// Purge removes a claim from the outbox and the dead letters for good,
// and schedules its files for deletion now (SweepFiles deletes them). A
// claim that moved while Purge looked for it is looked for again.
//
// Files a returning user added to the claim travel in claim.evidence_added
// entries of their own ids: those still pending or dead are purged with the
// claim (a deletion request covers them too), even when the claim itself
// was delivered already.
func Purge(ctx context.Context, rdb redis.UniversalClient, claimID string) error {
	n, ok := shard.OfClaim(claimID)
	if !ok {
		return fmt.Errorf("outbox: purge %q: not a claim id", claimID)
	}
	added, err := evidenceOf(ctx, rdb, n, claimID)
	if err != nil {
		return fmt.Errorf("outbox: purge %s: %w", claimID, err)
	}
	purged := 0
	for _, id := range added {
		switch err := purgeOne(ctx, rdb, n, id); {
		case err == nil:
			purged++
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	err = purgeOne(ctx, rdb, n, claimID)
	if errors.Is(err, ErrNotFound) && purged > 0 {
		return nil
	}
	return err
}

// evidenceOf returns the ids of the claim.evidence_added entries for a
// claim, pending or dead, in its shard (a user's entries share a shard).
func evidenceOf(ctx context.Context, rdb redis.UniversalClient, n int, claimID string) ([]string, error) {
	var ids []string
	for _, key := range []string{shard.Outbox(n), shard.Dead(n)} {
		err := scanStream(ctx, rdb, key, func(m redis.XMessage) error {
			body := str(m.Values[shard.FieldBody])
			if !strings.Contains(body, `"claim.evidence_added"`) || !strings.Contains(body, claimID) {
				return nil
			}
			var ev struct {
				Type string `json:"type"`
				Data struct {
					ClaimID string `json:"claim_id"`
				} `json:"data"`
			}
			if json.Unmarshal([]byte(body), &ev) == nil && ev.Type == "claim.evidence_added" && ev.Data.ClaimID == claimID {
				if id := str(m.Values[shard.FieldClaim]); !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// purgeOne is Purge of one outbox entry, by its claim (or event) id.
func purgeOne(ctx context.Context, rdb redis.UniversalClient, n int, claimID string) error {
	for range lookups {
		pendingID, body, err := findBody(ctx, rdb, shard.Outbox(n), claimID)
		if err != nil {
			return fmt.Errorf("outbox: purge %s: %w", claimID, err)
		}
		deadID, deadBody, err := findBody(ctx, rdb, shard.Dead(n), claimID)
		if err != nil {
			return fmt.Errorf("outbox: purge %s: %w", claimID, err)
		}
		if pendingID == "" && deadID == "" {
			continue // or revived between the two looks: look again
		}
		if body == nil {
			body = deadBody // a claim's body is the same wherever it is
		}
		args := filesArgs([]any{shard.Group, pendingID, deadID}, time.Now(), attachmentIDs(body))
		removed, err := purgeScript.Run(ctx, rdb, shardKeys(n, shard.Dead(n), shard.Files(n)), args...).Int()
		if err != nil {
			return fmt.Errorf("outbox: purge %s: %w", claimID, err)
		}
		if removed > 0 {
			return nil
		}
		// Moved meanwhile (dead-lettered, revived) or delivered: look again.
	}
	return fmt.Errorf("%w: %s", ErrNotFound, claimID)
}

// maxErrorWidth is how much of a last error WriteTable shows.
const maxErrorWidth = 60

// WriteTable writes pending and dead claims as a table: claim id, state,
// age, attempts, files attached, next attempt or time of death, last error. It never
// prints bodies, so it shows no personal data.
func WriteTable(w io.Writer, pending, dead []Entry) error {
	now := time.Now()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLAIM\tSTATE\tAGE\tATTEMPTS\tFILES\tNEXT ATTEMPT / DEAD\tLAST ERROR")
	row := func(e Entry, state, when string) {
		age := "-"
		if !e.SubmittedAt.IsZero() {
			age = ago(now.Sub(e.SubmittedAt))
		}
		lastErr := oneLine(e.LastError)
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", e.ClaimID, state, age, e.Attempts, e.Attachments, when, lastErr)
	}
	for _, e := range pending {
		when := "now"
		if d := e.DueAt.Sub(now); !e.DueAt.IsZero() && d > 0 {
			when = "in " + ago(d)
		}
		row(e, "pending", when)
	}
	for _, e := range dead {
		when := "dead"
		if !e.DeadAt.IsZero() {
			when = "dead " + ago(now.Sub(e.DeadAt)) + " ago"
		}
		row(e, "dead", when)
	}
	if len(pending)+len(dead) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t")
	}
	return tw.Flush()
}

// ago formats a duration the way an operator reads it: 45s, 12m, 3h05m, 2d04h.
func ago(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// oneLine keeps an error on one table row.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxErrorWidth {
		s = string([]rune(s)[:maxErrorWidth-1]) + "…"
	}
	return s
}
