package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/shard"
)

// Files keeps the uploads a claim carries (upload.Service): Keep marks an
// upload as attached to a claim, so nothing deletes it before the claim's
// retention does. It must be idempotent: a claim's files are kept again
// before every attempt.
type Files interface {
	Keep(ctx context.Context, id string) error
}

// attachmentIDs are the ids of the files a webhook body lists in
// data.attachments; nil when it lists none (or is no JSON: the receiver
// decides what such a body is worth).
func attachmentIDs(body []byte) []string {
	if !bytes.Contains(body, []byte(`"attachments"`)) {
		return nil
	}
	var b struct {
		Data struct {
			Attachments []struct {
				ID string `json:"id"`
			} `json:"attachments"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	var ids []string
	for _, a := range b.Data.Attachments {
		if a.ID != "" {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// filesArgs are a script's trailing arguments: a time, then the ids.
func filesArgs(args []any, at time.Time, ids []string) []any {
	args = append(args, at.UnixMilli())
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

// sweepLimit is the most files SweepFiles deletes in one call.
const sweepLimit = 100

// sweepLease is how long a file taken by SweepFiles is left to it: another
// instance's sweep takes it only after that, so a file whose deletion failed
// (or whose sweeper died) is tried again then.
var sweepLease = 5 * time.Minute

// sweepTakeScript takes up to limit files due by now, moving their due time
// to the lease's end, and returns their ids.
// KEYS: files. ARGV: now ms, lease end ms, limit.
var sweepTakeScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
end
return ids
`)

// sweepDoneScript forgets a deleted file, unless it was scheduled again
// meanwhile (its due time is no longer this sweep's lease end).
// KEYS: files. ARGV: lease end ms, id.
var sweepDoneScript = redis.NewScript(`
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2])) == tonumber(ARGV[1]) then
  return redis.call('ZREM', KEYS[1], ARGV[2])
end
return 0
`)

// SweepFiles deletes the uploaded files that are due by now: those of
// claims delivered longer ago than the retention, and of claims purged. It
// takes at most sweepLimit of them from all shards, calls del for each, and
// forgets a file only when del succeeded; a failed one is tried again by a
// later sweep, after sweepLease. del must take a file already gone as
// deleted (upload.Service.Delete does). It returns how many it deleted,
// and the errors of those it could not delete or of Redis. Call it from a
// ticker, on any number of instances.
//
// Dead-lettered and pending claims are never in the schedule: their files
// stay until the claim is delivered and its retention ends, or it is
// purged.
func SweepFiles(ctx context.Context, rdb redis.UniversalClient, now time.Time, del func(ctx context.Context, id string) error) (int, error) {
	deleted, left := 0, sweepLimit
	var errs []error
	for n := 0; n < shard.Count && left > 0; n++ {
		lease := now.Add(sweepLease).UnixMilli()
		ids, err := sweepTakeScript.Run(ctx, rdb, []string{shard.Files(n)}, now.UnixMilli(), lease, left).StringSlice()
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox: sweep files of shard %d: %w", n, err))
			continue
		}
		left -= len(ids)
		for _, id := range ids {
			if err := del(ctx, id); err != nil {
				errs = append(errs, fmt.Errorf("outbox: delete file of shard %d: %w", n, err))
				continue
			}
			deleted++
			if err := sweepDoneScript.Run(ctx, rdb, []string{shard.Files(n)}, lease, id).Err(); err != nil {
				// Deleted but still scheduled: the next sweep deletes it
				// again, which is no error.
				errs = append(errs, fmt.Errorf("outbox: sweep files of shard %d: %w", n, err))
			}
		}
	}
	return deleted, errors.Join(errs...)
}
