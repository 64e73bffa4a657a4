// Package insight keeps the intake counts and reads them back as the
// report: claims filed by reporter type, damage type, support tier and
// evidence, handoffs by state, and each state's funnel (conversations that
// reached it, answered it, stopped there).
//
// The counts are written by the script a turn already runs (the store's
// turn.lua), in the user's shard, so counting costs no Redis round trip and
// works on a Redis Cluster: the key carries the shard's hash tag. The
// report sums the 24 shards.
//
//	claimbot:{T}:counts:<flow>  hash: field → count (see Field names below)
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
//	in:<state>, out:<state> times a conversation came to wait in the state, and left it
//	stopped:<state>         stops counted one by one by earlier versions (see below)
//
// A turn adds one to all it counts through one field that joins their
// names with spaces ("answered:contact reached:loss_amount out:contact
// in:loss_amount"): one HINCRBY a turn, whatever it counts, and nothing
// else (a script's every call costs a turn several microseconds). The
// report splits every field on its spaces and adds its count to each
// name, so a count is the sum of the fields that name it.
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
// expired, or is due to. Every conversation that has not ended waits in
// exactly one state, so in:<state> − out:<state> is the number of
// conversations waiting there, under way or stopped. The report reads the
// flow's sessions to find those under way (a session Redis holds that has
// not ended nor been idle for the TTL by the report's time); the others
// stopped there. So a report counts every conversation stopped by its
// time, once, however many instances wrote it, and a conversation that
// restarts has not stopped: it starts again (out of where it waited, in at
// the start). A user who comes back after the session expired starts a new
// conversation; the old one stays stopped.
//
// The report's two reads (the counts, then the sessions) are not one
// snapshot: a conversation that moves between them can be off by one in
// the stopped column of that report (never below zero), and right in the
// next. Counts written before moves were counted keep their stopped:<state>
// fields, which the report adds; conversations under way across that
// upgrade have no in:<state>, which the floor at zero absorbs. The live
// and at keys of those versions are no longer read and may be deleted.
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
