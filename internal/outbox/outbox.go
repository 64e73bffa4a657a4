// Package outbox delivers filed claims to the backend's webhook (CONTRACT
// §3) and lets operators see, replay and purge them (`claimbot outbox`).
//
// A claim enters the outbox when the chat turn that files it appends it to
// its shard's stream (shard.Outbox) in the same Lua script that marks the
// session filed; Enqueue does the same append. Every entry holds the claim
// id, the webhook body exactly as it is POSTed on every attempt, and the
// filing time.
//
// A Sender delivers them at least once:
//
//   - New entries are read through the consumer group shard.Group, one
//     blocking reader per shard, and posted on a pool of workers, so one
//     slow or failing claim never holds up the others.
//   - A 2xx answer acknowledges and deletes the entry and keeps a copy
//     under shard.Delivered for the retention period (one script, which
//     the deliveries that end within a few ms share); an
//     entry purged while its POST was in flight gets no copy.
//   - A failed attempt (any other answer, a timeout, a refused connection,
//     a redirect) records the attempt count and error in shard.Meta and
//     schedules the next attempt in shard.Due after the next delay of the
//     schedule, with jitter, and never before the receiver's Retry-After.
//   - 410 Gone, or the failure of the last scheduled attempt, moves the
//     entry to the shard's dead-letter stream (shard.Dead), which is never
//     trimmed; Retry and RetryAllDead put dead letters back.
//   - Scheduled entries are taken under a lease: the poller pushes their due
//     time Lease ahead before it delivers them, so a second instance does
//     not retry the same claim at once, and a crashed instance's retries
//     come due again when the lease runs out.
//   - Entries that a crashed instance read but never finished stay in the
//     group's pending list; XAUTOCLAIM hands them to a live instance once
//     they were idle for Lease.
//
// An entry leaves the outbox only by the acknowledge, dead-letter and purge
// scripts, so a crash, a Redis restart or a receiver outage may deliver a
// claim twice but never loses one. The backend dedupes on the webhook-id,
// webhook.MessageID(claim id), which is the same on every attempt.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/shard"
)

// ErrNotFound says that a claim is neither in the outbox nor dead-lettered.
var ErrNotFound = errors.New("outbox: no such claim")

// ErrInFlight says that Retry left a claim alone because an attempt to
// deliver it is being made now.
var ErrInFlight = errors.New("outbox: an attempt is in flight now")

// Enqueue appends a claim to its shard's outbox, as the submit script of a
// chat turn does, and returns the entry id. body is the webhook body,
// posted unchanged on every attempt; at is when the claim was filed.
func Enqueue(ctx context.Context, rdb redis.UniversalClient, claimID string, body []byte, at time.Time) (string, error) {
	n, ok := shard.OfClaim(claimID)
	if !ok {
		return "", fmt.Errorf("outbox: enqueue %q: not a claim id", claimID)
	}
	id, err := rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: shard.Outbox(n),
		Values: []any{shard.FieldClaim, claimID, shard.FieldBody, body, shard.FieldAt, at.UnixMilli()},
	}).Result()
	if err != nil {
		return "", fmt.Errorf("outbox: enqueue %s: %w", claimID, err)
	}
	return id, nil
}

// The Lua scripts below touch only keys of one shard, which share a hash
// tag, so they run unchanged on Redis Cluster (ackManyScript, in acker.go,
// takes several shards' entries only when Redis is no cluster). Meta fields are
// "<entry id>:attempts", "<entry id>:error" and, while a scheduled retry
// is being attempted, "<entry id>:lease", the end of its lease in unix ms.

// deadScript moves an entry to the dead letters, unless it is gone already
// (delivered by another instance, or purged).
// KEYS: outbox, due, meta, dead. ARGV: group, entry id, attempts, error, dead_at ms.
var deadScript = redis.NewScript(`
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2] .. ':attempts', ARGV[2] .. ':error', ARGV[2] .. ':lease')
if #e == 0 then return 0 end
local f = e[1][2]
local args = {}
for i = 1, #f, 2 do
  if f[i] ~= 'attempts' and f[i] ~= 'error' and f[i] ~= 'dead_at' then
    args[#args + 1] = f[i]
    args[#args + 1] = f[i + 1]
  end
end
args[#args + 1] = 'attempts'
args[#args + 1] = ARGV[3]
args[#args + 1] = 'error'
args[#args + 1] = ARGV[4]
args[#args + 1] = 'dead_at'
args[#args + 1] = ARGV[5]
redis.call('XADD', KEYS[4], '*', unpack(args))
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
`)

// scheduleScript records a failed attempt and when to try again (the
// attempt's lease is over), unless the entry is gone already.
// KEYS: outbox, due, meta. ARGV: entry id, due ms, attempts, error.
var scheduleScript = redis.NewScript(`
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1] .. ':attempts', ARGV[1] .. ':error', ARGV[1] .. ':lease')
  return 0
end
redis.call('HSET', KEYS[3], ARGV[1] .. ':attempts', ARGV[3], ARGV[1] .. ':error', ARGV[4])
redis.call('HDEL', KEYS[3], ARGV[1] .. ':lease')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`)

// pollScript takes up to limit due entries under a lease: their due time
// moves to the lease's end, which meta records as the entry's lease (an
// attempt is in flight until then), and they are claimed by this consumer. Due
// entries that are gone are dropped from the schedule; entries no consumer
// has read yet are left to the readers. It returns {id, fields, attempts}
// per entry taken.
// KEYS: outbox, due, meta. ARGV: group, consumer, now ms, lease end ms, limit.
var pollScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(ids) do
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #e == 0 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id .. ':attempts', id .. ':error', id .. ':lease')
  elseif #redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID') == 0 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id .. ':lease')
  else
    redis.call('ZADD', KEYS[2], ARGV[4], id)
    redis.call('HSET', KEYS[3], id .. ':lease', ARGV[4])
    out[#out + 1] = {id, e[1][2], redis.call('HGET', KEYS[3], id .. ':attempts') or '0'}
  end
end
return out
`)

// recoverScript claims entries that were read but left unfinished for at
// least min idle, and returns those that are not scheduled (a scheduled
// one is the poller's business) with their fields and attempts, after the
// next cursor: {cursor, {{id, fields, attempts}, ...}}.
// KEYS: outbox, due, meta. ARGV: group, consumer, min idle ms, cursor, count.
var recoverScript = redis.NewScript(`
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'JUSTID')
local out = {}
for _, id in ipairs(r[2]) do
  if not redis.call('ZSCORE', KEYS[2], id) then
    local e = redis.call('XRANGE', KEYS[1], id, id)
    if #e > 0 then
      out[#out + 1] = {id, e[1][2], redis.call('HGET', KEYS[3], id .. ':attempts') or '0'}
    end
  end
end
if r[3] then
  for _, id in ipairs(r[3]) do
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id .. ':attempts', id .. ':error', id .. ':lease')
  end
end
return {r[1], out}
`)

// reviveScript moves a dead letter back to the outbox as a new entry with
// the same claim id, body and filing time, attempts reset. It returns the
// new entry id, or nil when the dead letter is gone.
// KEYS: dead, outbox. ARGV: dead entry id.
var reviveScript = redis.NewScript(`
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return false end
local f = e[1][2]
local args = {}
for i = 1, #f, 2 do
  if f[i] == 'claim' or f[i] == 'body' or f[i] == 'at' then
    args[#args + 1] = f[i]
    args[#args + 1] = f[i + 1]
  end
end
local id = redis.call('XADD', KEYS[2], '*', unpack(args))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
`)

// dueNowScript makes a scheduled retry due at once. An entry that is not
// scheduled is waiting for, or in, its first attempt (or a crashed
// instance's, which recovery takes over); one whose scheduled retry is
// being attempted under a lease that has not run out is in flight. Making
// either due could deliver it twice at once, so they are left alone. It
// returns 0 when the entry is gone, 2 when a retry is in flight, else 1.
// KEYS: outbox, due, meta. ARGV: entry id, now ms.
var dueNowScript = redis.NewScript(`
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
local lease = tonumber(redis.call('HGET', KEYS[3], ARGV[1] .. ':lease'))
local due = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
if lease and due and due == lease and lease > tonumber(ARGV[2]) then return 2 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
return 1
`)

// purgeScript removes an entry from the outbox and a dead letter for good,
// and when it removed either, schedules the claim's files for deletion at
// once (earlier than any schedule they had).
// KEYS: outbox, due, meta, dead, files. ARGV: group, outbox entry id or "",
// dead entry id or "", now ms, then the ids of the claim's files.
var purgeScript = redis.NewScript(`
local n = 0
if ARGV[2] ~= '' then
  redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
  n = n + redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2] .. ':attempts', ARGV[2] .. ':error', ARGV[2] .. ':lease')
end
if ARGV[3] ~= '' then
  n = n + redis.call('XDEL', KEYS[4], ARGV[3])
end
if n > 0 then
  for i = 5, #ARGV do
    redis.call('ZADD', KEYS[5], 'LT', ARGV[4], ARGV[i])
  end
end
return n
`)

// shardKeys are the outbox, due and meta keys of shard n, in script order.
func shardKeys(n int, more ...string) []string {
	return append([]string{shard.Outbox(n), shard.Due(n), shard.Meta(n)}, more...)
}

// job is one delivery attempt to make.
type job struct {
	shard    int
	id       string // the outbox entry id
	claim    string
	body     []byte
	at       int64 // filed, unix ms
	attempts int   // attempts made before this one
}

// entryKey names an entry among all shards.
type entryKey struct {
	shard int
	id    string
}

// key names the entry among all shards: a value, where a string made of
// both cost an allocation a delivery.
func (j job) key() entryKey { return entryKey{j.shard, j.id} }

// jobOf reads an entry's fields.
func jobOf(n int, id string, values map[string]any, attempts int) job {
	j := job{shard: n, id: id, claim: str(values[shard.FieldClaim]), attempts: attempts}
	if b, ok := values[shard.FieldBody]; ok {
		j.body = []byte(str(b))
	}
	j.at, _ = strconv.ParseInt(str(values[shard.FieldAt]), 10, 64)
	return j
}

// scriptJobs decodes the {id, fields, attempts} triples that pollScript
// and recoverScript return.
func scriptJobs(n int, v any) ([]job, error) {
	rows, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("outbox: script answered %T, want an array", v)
	}
	jobs := make([]job, 0, len(rows))
	for _, r := range rows {
		row, ok := r.([]any)
		if !ok || len(row) != 3 {
			return nil, fmt.Errorf("outbox: script answered a malformed entry %v", r)
		}
		flat, _ := row[1].([]any)
		values := make(map[string]any, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			values[str(flat[i])] = flat[i+1]
		}
		attempts, _ := strconv.Atoi(str(row[2]))
		jobs = append(jobs, jobOf(n, str(row[0]), values, attempts))
	}
	return jobs, nil
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// idTime is the time in a stream entry id ("<unix ms>-<seq>").
func idTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// nextID is the smallest stream entry id after id, to page with XRANGE.
func nextID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || s == ^uint64(0) {
		m, _ := strconv.ParseUint(ms, 10, 64)
		return strconv.FormatUint(m+1, 10) + "-0"
	}
	return ms + "-" + strconv.FormatUint(s+1, 10)
}

// scanStream calls f with every entry of a stream, oldest first, reading
// it in pages so a long stream is not one huge reply.
func scanStream(ctx context.Context, rdb redis.UniversalClient, key string, f func(redis.XMessage) error) error {
	const page = 512
	start := "-"
	for {
		msgs, err := rdb.XRangeN(ctx, key, start, "+", page).Result()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := f(m); err != nil {
				return err
			}
		}
		if len(msgs) < page {
			return nil
		}
		start = nextID(msgs[len(msgs)-1].ID)
	}
}

func isBusyGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") }

// isWrongType reports a key that holds another type of value than the
// command needs (an outbox key overwritten by hand, say), also when a
// script met it.
func isWrongType(err error) bool { return err != nil && strings.Contains(err.Error(), "WRONGTYPE") }

// isNoGroup reports a missing consumer group, also when a script met it.
func isNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }
