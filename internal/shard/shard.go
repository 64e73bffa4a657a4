// Package shard names the Redis keys of claimbot and spreads them over a
// Redis Cluster. Every key a chat turn touches carries one hash tag derived
// from the user, {<tag of shard N>} with N the user's shard (0–23), and each
// shard has its own outbox stream. So a turn, including the submit that
// marks the session filed and appends the claim to the outbox, touches a
// single Redis Cluster slot, and the same code runs on one Redis or on a
// cluster.
//
//	claimbot:{T}:session:<flow>:<user>  the conversation (string, idle TTL)
//	claimbot:{T}:outbox                 claims to deliver (stream, group "senders")
//	claimbot:{T}:due                    retry schedule (zset: entry id → due unix ms)
//	claimbot:{T}:meta                   attempts and last error (hash: <entry id>:attempts, <entry id>:error)
//	claimbot:{T}:dead                   dead letters (stream)
//	claimbot:{T}:delivered:<claim id>   a delivered claim, kept for the retention period
//	claimbot:{T}:receipt:<claim id>     a receipt number in use (keeps ids unique)
//	claimbot:{T}:files                  uploaded files to delete (zset: upload id → due unix ms)
//	claimbot:flow:<flow>:<version>      a flow version's source, for sessions pinned to it
//
// # Layout on a cluster
//
// A cluster has 16384 slots, and `redis-cli --cluster create` gives each of
// M masters one contiguous run of 16384/M of them. The shards' tags (Tags)
// were chosen so that shard N's slot lies in the middle of the N-th of 24
// equal runs of slots: slot ≈ (N + ½) × 16384 / 24. Every run boundary of
// a default split over M masters, for M dividing 24 (1, 2, 3, 4, 6, 8, 12,
// 24), falls between two shards, so each master carries 24/M shards: an
// even share of the users and of the outboxes. Other counts (5, 7 masters)
// get shares that differ by one shard. A cluster whose slots were moved by
// hand carries whatever shards its slots hold: CLUSTER KEYSLOT of a tag
// says where it is.
//
// The ceiling: 24 shards can keep at most 24 masters busy; past that,
// more masters hold no shard. Raising Count moves users to other shards,
// so drain the outboxes first (`claimbot outbox` shows none pending).
package shard

import (
	"hash/fnv"
	"strings"
)

// Count is the number of shards. Changing it moves users to other shards:
// drain the outboxes first.
const Count = 24

// Tags are the shards' hash tags: Tags[N]'s cluster slot is the middle of
// the N-th twenty-fourth of the slots (see the package comment). The suffix
// after the dot is only what puts the tag there.
var Tags = [Count]string{
	"cb0.448", "cb1.17689", "cb2.1322", "cb3.3662", "cb4.79", "cb5.28232",
	"cb6.2475", "cb7.2843", "cb8.5864", "cb9.3641", "cb10.11320", "cb11.3478",
	"cb12.4848", "cb13.45852", "cb14.7486", "cb15.19355", "cb16.40140", "cb17.5642",
	"cb18.24948", "cb19.17935", "cb20.7684", "cb21.5529", "cb22.19570", "cb23.5440",
}

// prefixes are the shards' key prefixes, built once.
var prefixes = func() (p [Count]string) {
	for n, tag := range Tags {
		p[n] = "claimbot:{" + tag + "}:"
	}
	return p
}()

// Of returns the user's shard.
func Of(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return int(h.Sum32() % Count)
}

func prefix(n int) string { return prefixes[n] }

// Slot is the Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag,
// or of the whole key when it has none, modulo 16384.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// SlotOf is the cluster slot of shard n's keys.
func SlotOf(n int) int { return Slot(prefix(n)) }

// Session is the key of a user's conversation in a flow.
func Session(user, flow string) string { return prefix(Of(user)) + "session:" + flow + ":" + user }

// SessionPattern matches the keys of every conversation in a flow, in any
// shard (for SCAN).
func SessionPattern(flow string) string { return "claimbot:{*}:session:" + flow + ":*" }

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

// Files is the shard's schedule of uploaded files to delete: those of
// claims delivered (due when the retention ends) or purged (due at once).
func Files(n int) string { return prefix(n) + "files" }

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
// character is the shard (0–9, A–Q in Crockford's alphabet), the other seven are random (35 bits). The
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
