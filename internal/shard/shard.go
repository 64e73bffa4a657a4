// Package shard names the Redis keys of claimbot. Every key a chat turn
// touches carries one hash tag derived from the user, {cbN} with N the
// user's shard (0–15), and each shard has its own outbox stream. So a turn,
// including the submit that marks the session filed and appends the claim
// to the outbox, touches a single Redis Cluster slot, and the same code runs
// on one Redis or on a cluster.
//
//	claimbot:{cbN}:session:<flow>:<user>  the conversation (string, idle TTL)
//	claimbot:{cbN}:outbox                 claims to deliver (stream, group "senders")
//	claimbot:{cbN}:due                    retry schedule (zset: entry id → due unix ms)
//	claimbot:{cbN}:meta                   attempts and last error (hash: <entry id>:attempts, <entry id>:error)
//	claimbot:{cbN}:dead                   dead letters (stream)
//	claimbot:{cbN}:delivered:<claim id>   a delivered claim, kept for the retention period
//	claimbot:{cbN}:receipt:<claim id>     a receipt number in use (keeps ids unique)
//	claimbot:flow:<flow>:<version>        a flow version's source, for sessions pinned to it
package shard

import (
	"hash/fnv"
	"strconv"
)

// Count is the number of shards. Changing it moves users to other shards:
// drain the outboxes first.
const Count = 16

// Of returns the user's shard.
func Of(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return int(h.Sum32() % Count)
}

func prefix(n int) string { return "claimbot:{cb" + strconv.Itoa(n) + "}:" }

// Session is the key of a user's conversation in a flow.
func Session(user, flow string) string { return prefix(Of(user)) + "session:" + flow + ":" + user }

// Outbox is the shard's stream of claims to deliver.
func Outbox(n int) string { return prefix(n) + "outbox" }

// Due is the shard's retry schedule.
func Due(n int) string { return prefix(n) + "due" }

// Meta is the shard's hash of delivery attempts and last errors.
func Meta(n int) string { return prefix(n) + "meta" }

// Dead is the shard's stream of dead letters.
func Dead(n int) string { return prefix(n) + "dead" }

// Delivered is the key of a delivered claim, kept for the retention period.
func Delivered(n int, claimID string) string { return prefix(n) + "delivered:" + claimID }

// ClaimReservation is the key that reserves a receipt number.
func ClaimReservation(n int, claimID string) string { return prefix(n) + "receipt:" + claimID }

// FlowSource is the key of a flow version's source.
func FlowSource(flow, version string) string { return "claimbot:flow:" + flow + ":" + version }

// Group is the outbox streams' consumer group.
const Group = "senders"

// Fields of an outbox or dead-letter entry.
const (
	FieldClaim    = "claim"    // the claim id
	FieldBody     = "body"     // the webhook body, exactly as it is sent
	FieldAt       = "at"       // when it was filed, unix ms
	FieldAttempts = "attempts" // dead letters: attempts made
	FieldError    = "error"    // dead letters: the last error
	FieldDeadAt   = "dead_at"  // dead letters: when, unix ms
)

// crockford is Crockford's base-32 alphabet: no I, L, O or U, so a receipt
// read aloud over the phone is not misheard.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewClaimID returns a receipt number such as "7K3M-Q9XD": the first
// character is the shard (0–F), the other seven are random (35 bits). The
// submit script refuses an id already used in the shard, so ids are unique
// across any number of server instances.
func NewClaimID(n int, random []byte) string {
	var b [9]byte
	b[0] = crockford[n%Count]
	var acc uint64
	for i := 0; i < 5 && i < len(random); i++ {
		acc = acc<<8 | uint64(random[i])
	}
	for i := 0; i < 7; i++ {
		b[1+i+boolInt(i >= 3)] = crockford[acc&31]
		acc >>= 5
	}
	b[4] = '-'
	return string(b[:])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OfClaim returns the shard of a receipt number.
func OfClaim(id string) (int, bool) {
	if len(id) != 9 || id[4] != '-' {
		return 0, false
	}
	for i := 0; i < Count; i++ {
		if crockford[i] == id[0] {
			return i, true
		}
	}
	return 0, false
}
