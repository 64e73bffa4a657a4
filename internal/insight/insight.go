// Package insight keeps the intake counts and reads them back as the
// report: claims filed by reporter type, damage type, support tier and
// evidence, handoffs by state, and each state's funnel (conversations that
// reached it, answered it, stopped there).
//
// The counts are written by the script a turn already runs (the store's
// turn.lua), in the user's shard, so counting costs no Redis round trip and
// works on a Redis Cluster: every key below carries the shard's hash tag.
// The report sums the 24 shards.
//
//	claimbot:{T}:counts:<flow>  hash: field → count (see Field names below)
//	claimbot:{T}:live:<flow>    zset: user → the earliest the conversation can stop, unix ms
//	claimbot:{T}:at:<flow>      hash: user → "<state>|<stops at, unix ms>|" of a conversation under way
//
// What a conversation has counted once already is kept in its session
// (engine.Session.Visited), which the same script writes: see Of.
//
// # Fields of the counts hash
//
//	claims                  claims filed
//	<key>:<value>           claims filed with that answer, for the keys in Keys;
//	                        only values the flow offers (its choices, or the
//	                        string literals of the expression that computes it):
//	                        never free text, so the fields are bounded
//	handoffs                handoffs requested (handoff.requested posted)
//	handoff:<state>         handoffs requested in that state
//	reached:<state>         conversations that entered the state
//	answered:<state>        conversations that left it by an applied answer
//	stopped:<state>         conversations that stopped there (folded; see below)
//
// # What reached, answered and stopped mean, exactly
//
// A conversation runs from its start (the first write of a session, or a
// restart) to its end (a terminal state) or until it stops. It reaches a
// state when a move of the flow enters it (the start state: when the
// conversation starts), and answers a state when an applied input moves it
// out of the state (not its fallback after too many refusals). Each is
// counted once per conversation: going back, or changing an answer at the
// summary, passes states again without counting them again.
//
// A conversation stops at the state where it waits when it has made no
// move for the session's idle time (the store's TTL): its session has
// expired, or is due to. The at hash holds, for each conversation under
// way, where it waits and when it stops (its last write plus the TTL); a
// finished conversation leaves it. The live set indexes them by when they
// stop, as of their start (so a turn costs no write to it): whoever finds
// one there that has moved on since puts its time right. A stop is folded
// into stopped:<state> by whichever comes first: the user's next turn
// (which then starts a new conversation), the start of another
// conversation in the shard (each looks at up to four due), or the report (which
// folds every one due by its time). So a report counts every conversation
// stopped by its time, once. A conversation that restarts has not stopped:
// it starts again.
package insight

import (
	"regexp"
	"slices"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/shard"
)

// Keys are the answer keys whose values a filed claim is counted by, in the
// report's order.
var Keys = []string{"reporter_type", "damage_type", "support_tier", "evidence"}

// defaults are the values of Keys the contract (§4) names: the report
// shows them even for a flow that does not ask the key.
var defaults = map[string][]string{
	"reporter_type": {"general", "small_business", "enterprise"},
	"damage_type":   {"paid", "free_monetary", "non_monetary"},
	"support_tier":  {"tier_30k", "tier_50k", "evidence_review"},
	"evidence":      {"attached", "later"},
}

func prefix(n int) string { return "claimbot:{" + shard.Tags[n] + "}:" }

// CountsKey is shard n's hash of counts of a flow.
func CountsKey(n int, flowID string) string { return prefix(n) + "counts:" + flowID }

// LiveKey is shard n's set of conversations under way in a flow, by when
// they stop.
func LiveKey(n int, flowID string) string { return prefix(n) + "live:" + flowID }

// AtKey is shard n's hash of where each conversation under way waits.
func AtKey(n int, flowID string) string { return prefix(n) + "at:" + flowID }

// literal matches a string literal of an expression.
var literal = regexp.MustCompile(`"([A-Za-z0-9_]+)"`)

// Values returns the values of an answer key that are counted, in order:
// the contract's, then those the flow adds (the choices of the state that
// asks the key, or the string literals of the expressions that compute it).
func Values(f *flow.Flow, key string) []string {
	out := slices.Clone(defaults[key])
	add := func(v string) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if f == nil {
		return out
	}
	for _, id := range f.Order {
		st := f.States[id]
		if st.Save == key && (st.Ask == flow.InputChoice) {
			for _, c := range st.Choices {
				add(c.Value)
			}
		}
		for _, a := range st.Set {
			if a.Key == key {
				for _, m := range literal.FindAllStringSubmatch(a.Expr, -1) {
					add(m[1])
				}
			}
		}
	}
	return out
}
