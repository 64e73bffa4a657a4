package flow_test

import (
	"testing"

	"github.com/claimbot/claimbot/internal/flow"
)

// BenchmarkHolds evaluates every condition of the shipped flow once for a
// small business's answers (a full walk's worth of branches): the cost of
// the flow's conditions in one derivation of the path.
func BenchmarkHolds(b *testing.B) {
	f, ps := flow.Load("../../flows/damage-1015.yaml")
	if len(ps.Errors()) > 0 {
		b.Fatal(ps.Error())
	}
	answers := map[string]any{"privacy_consent": true, "reporter_type": "small_business", "service": "messenger",
		"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": int64(250000),
		"support_tier": "tier_30k", "email": "owner@example.com"}
	var conds []*flow.Branch
	for _, id := range f.Order {
		st := f.States[id]
		for i := range st.Next {
			if st.Next[i].If != "" {
				conds = append(conds, &st.Next[i])
			}
		}
	}
	b.ReportMetric(float64(len(conds)), "conds/op")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, c := range conds {
			if c.Holds(answers) {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("no condition held")
	}
}
