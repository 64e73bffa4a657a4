package insight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/redisconn"
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

// Read sums the counts of flow f over every shard and finds, among the
// conversations that wait in each state (in − out), those under way: the
// flow's sessions in Redis that have not ended nor been idle for ttl by
// now (ttl 0: every session Redis still holds; it expires them at their
// idle time). The rest stopped there. The counts are one pipeline (on a
// cluster, one round trip to each master); the sessions are scanned on
// every master, so a report costs time in proportion to the keys Redis
// holds: an operator's command, not a turn's.
func Read(ctx context.Context, rdb redis.UniversalClient, f *flow.Flow, now time.Time, ttl time.Duration) (*Report, error) {
	total := map[string]int64{}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, shard.Count)
	for n := range cmds {
		cmds[n] = pipe.HGetAll(ctx, CountsKey(n, f.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("insight: read counts: %w", err)
	}
	for _, cmd := range cmds {
		for k, v := range cmd.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			for _, name := range strings.Fields(k) { // a turn's composite field (Turn.Append)
				total[name] += n
			}
		}
	}
	waiting, err := underWay(ctx, rdb, f.ID, now, ttl)
	if err != nil {
		return nil, err
	}
	return build(f, total, waiting), nil
}

// underWay counts the conversations of a flow under way by the state they
// wait in: it scans every master for the flow's sessions and reads them.
func underWay(ctx context.Context, rdb redis.UniversalClient, flowID string, now time.Time, ttl time.Duration) (map[string]int64, error) {
	seen := map[string]bool{} // SCAN may return a key twice
	var keys []string
	var mu sync.Mutex
	err := redisconn.Masters(ctx, rdb, func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, shard.SessionPattern(flowID), 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			if k := iter.Val(); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("insight: find sessions: %w", err)
	}
	waiting := map[string]int64{}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		pipe := rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.Get(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("insight: read sessions: %w", err)
		}
		for _, cmd := range cmds {
			val, err := cmd.Bytes()
			if err != nil {
				continue // expired since the scan
			}
			_, js, ok := bytes.Cut(val, []byte{'\n'}) // "<revision>\n{json}"
			var s struct {
				State   string    `json:"s"`
				Done    bool      `json:"d"`
				Updated time.Time `json:"t"`
			}
			if !ok || json.Unmarshal(js, &s) != nil {
				continue
			}
			if !s.Done && s.State != "" && (ttl <= 0 || s.Updated.Add(ttl).After(now)) {
				waiting[s.State]++
			}
		}
	}
	return waiting, nil
}

// build makes the report of flow f from its summed counts and the
// conversations under way by state.
func build(f *flow.Flow, total, underWay map[string]int64) *Report {
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
		// Those that wait there and are not under way stopped there.
		// stopped:<state> holds the stops counted one by one before the
		// moves were counted (none since). Never below zero: a
		// conversation under way since before then has no in:<state>.
		stopped := max(0, total["in:"+id]-total["out:"+id]-underWay[id])
		r.Funnel = append(r.Funnel, FunnelState{State: id,
			Reached: total["reached:"+id], Answered: total["answered:"+id], Stopped: total["stopped:"+id] + stopped})
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
