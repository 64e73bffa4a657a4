package insight

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/shard"
)

// Report is what intake looks like so far in one flow (contract §6).
type Report struct {
	Flow           string        `json:"flow"`
	Claims         int64         `json:"claims"`
	ByReporterType Counts        `json:"by_reporter_type"`
	ByDamageType   Counts        `json:"by_damage_type"`
	BySupportTier  Counts        `json:"by_support_tier"`
	Evidence       Counts        `json:"evidence"`
	Handoffs       int64         `json:"handoffs"`
	HandoffsAt     Counts        `json:"-"` // by state, in the flow's order
	Funnel         []FunnelState `json:"funnel"`
}

// FunnelState is one state's row of the funnel.
type FunnelState struct {
	State    string `json:"state"`
	Reached  int64  `json:"reached"`
	Answered int64  `json:"answered"`
	Stopped  int64  `json:"stopped"`
}

// Counts are counts by value, in a fixed order; as JSON, an object in that
// order.
type Counts []Count

// Count is one value's count.
type Count struct {
	Value string
	N     int64
}

// MarshalJSON writes the counts as an object, in order.
func (c Counts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, e := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ':')
		b = strconv.AppendInt(b, e.N, 10)
	}
	return append(b, '}'), nil
}

// Get returns a value's count.
func (c Counts) Get(v string) int64 {
	for _, e := range c {
		if e.Value == v {
			return e.N
		}
	}
	return 0
}

// sum is the total of the counts.
func (c Counts) sum() int64 {
	var n int64
	for _, e := range c {
		n += e.N
	}
	return n
}

// foldBatch is how many stopped conversations one run of readScript folds.
const foldBatch = 1000

// readLua folds the shard's stopped conversations (see the package
// comment) into its counts, at most ARGV[2] of them, and returns
// {more, HGETALL counts}; more is 1 when some are left to fold.
const readLua = `
local counts, live, at = KEYS[1], KEYS[2], KEYS[3]
local old = redis.call('ZRANGEBYSCORE', live, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, u in ipairs(old) do
  local v = redis.call('HGET', at, u)
  local st, due = string.match(v or '', '^([^|]*)|(%d+)|')
  if st and tonumber(due) > tonumber(ARGV[1]) then
    redis.call('ZADD', live, due, u) -- it moved since: not stopped
  else
    if st then
      redis.call('HINCRBY', counts, 'stopped:' .. st, 1)
      redis.call('HDEL', at, u)
    end
    redis.call('ZREM', live, u)
  end
end
local more = 0
if #old == tonumber(ARGV[2]) then more = 1 end
return {more, redis.call('HGETALL', counts)}
`

// Read sums the counts of flow f over every shard, first folding the
// conversations stopped by now. One pipeline: on a cluster, one round trip
// to each master.
func Read(ctx context.Context, rdb redis.UniversalClient, f *flow.Flow, now time.Time) (*Report, error) {
	total := map[string]int64{}
	pending := make([]int, shard.Count)
	for n := range pending {
		pending[n] = n
	}
	for len(pending) > 0 {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(pending))
		for i, n := range pending {
			cmds[i] = pipe.Eval(ctx, readLua, []string{CountsKey(n, f.ID), LiveKey(n, f.ID), AtKey(n, f.ID)}, now.UnixMilli(), foldBatch)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("insight: read counts: %w", err)
		}
		var again []int
		for i, cmd := range cmds {
			out, _ := cmd.Val().([]any)
			if len(out) != 2 {
				return nil, fmt.Errorf("insight: read counts: unexpected reply %v", cmd.Val())
			}
			if more, _ := out[0].(int64); more == 1 {
				again = append(again, pending[i]) // read again once all is folded
				continue
			}
			kv, _ := out[1].([]any)
			for j := 0; j+1 < len(kv); j += 2 {
				k, _ := kv[j].(string)
				v, _ := kv[j+1].(string)
				n, _ := strconv.ParseInt(v, 10, 64)
				total[k] += n
			}
		}
		pending = again
	}
	return build(f, total), nil
}

// build makes the report of flow f from its summed counts.
func build(f *flow.Flow, total map[string]int64) *Report {
	r := &Report{Flow: f.ID, Claims: total["claims"]}
	by := func(key string) Counts {
		var c Counts
		for _, v := range Values(f, key) {
			c = append(c, Count{v, total[key+":"+v]})
		}
		return c
	}
	r.ByReporterType, r.ByDamageType = by("reporter_type"), by("damage_type")
	r.BySupportTier, r.Evidence = by("support_tier"), by("evidence")
	r.Funnel = make([]FunnelState, 0, len(f.Order))
	for _, id := range f.Order {
		r.Funnel = append(r.Funnel, FunnelState{State: id,
			Reached: total["reached:"+id], Answered: total["answered:"+id], Stopped: total["stopped:"+id]})
		if n := total["handoff:"+id]; n > 0 {
			r.HandoffsAt = append(r.HandoffsAt, Count{id, n})
		}
	}
	r.Handoffs = total["handoffs"]
	return r
}

// Labels name the values of the published classification in the text report.
var labels = map[string]string{
	"general": "일반 이용자 (general)", "small_business": "소상공인 (small business)", "enterprise": "기업 (enterprise)",
	"paid": "유료 서비스 피해 (paid)", "free_monetary": "무료 서비스 금전 피해 (free, monetary)", "non_monetary": "금전 피해 없음 (no monetary loss)",
}

// Text writes the report as tables: the classification with counts and
// shares, the tiers, evidence, handoffs, and the funnel in the flow's order.
func (r *Report) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "flow %s: %d claims filed\t\n", r.Flow, r.Claims)
	table := func(title string, c Counts, of int64) {
		fmt.Fprintf(tw, "\n%s\tclaims\tshare\t\n", title)
		for _, e := range c {
			name := e.Value
			if l, ok := labels[name]; ok {
				name = l
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t\n", name, e.N, share(e.N, of))
		}
	}
	table("reporter type", r.ByReporterType, r.Claims)
	table("damage type", r.ByDamageType, r.Claims)
	table("support tier", r.BySupportTier, r.BySupportTier.sum())
	table("evidence", r.Evidence, r.Evidence.sum())
	fmt.Fprintf(tw, "\nhandoffs\t%d\t\t\n", r.Handoffs)
	for _, e := range r.HandoffsAt {
		fmt.Fprintf(tw, "  at %s\t%d\t\t\n", e.Value, e.N)
	}
	fmt.Fprintf(tw, "\nstate\treached\tanswered\tstopped\t\n")
	for _, s := range r.Funnel {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", s.State, s.Reached, s.Answered, s.Stopped)
	}
	return tw.Flush()
}

// share is n of total as a percentage with one decimal, "-" of nothing.
func share(n, total int64) string {
	if total == 0 {
		return "-"
	}
	return strings.TrimSpace(strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64)) + " %"
}
