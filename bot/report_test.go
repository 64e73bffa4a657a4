package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/locale"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/store"
)

// claimbot report --json prints the contract's object with the claims
// filed so far, counted exactly, every key present; the text report and
// --svg draw the same counts.
func TestReportCommand(t *testing.T) {
	rs := redistest.Start(t)
	if !rs.Real {
		t.Skip("claimbot report needs a Redis it can reach: a real redis-server")
	}
	rdb := rs.Client(t)
	flows, ps := flow.LoadDir("../flows")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	cat, _ := locale.Load("../locales", flows)
	eng := engine.New(flows, cat, nil)
	st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour})
	ctx := context.Background()
	say := func(user string, inputs ...string) engine.Reply {
		c, res, err := st.Open(ctx, user, "damage-1015", "ko")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range inputs {
			if res, err = c.Turn(ctx, engine.Input{Kind: engine.Text, Text: s}); err != nil || res.Reply.Invalid {
				t.Fatalf("%s: %q: %v %v", user, s, err, res.Reply.Messages)
			}
		}
		return res.Reply
	}
	contact := []string{"me@example.com", "010-1234-5678", "결제 실패", "결제가 두 번 됐어요", "접수"}
	if r := say("u-1", append([]string{"네", "일반 이용자", "결제", "유료 서비스"}, contact...)...); r.ClaimID == "" {
		t.Fatalf("no claim: %+v", r)
	}
	if r := say("u-2", append([]string{"네", "소상공인", "메신저", "무료 서비스 금전 피해", "행복분식", "220-81-62517", "25만원"}, contact...)...); r.ClaimID == "" {
		t.Fatalf("no claim: %+v", r)
	}
	env := []string{"REDIS_URL=redis://" + rs.Addr, "REDIS_CLUSTER_URL="}
	out, errOut, code := claimbot(t, env, "report", "--json")
	if code != 0 {
		t.Fatalf("report --json exited %d: %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	head := `{"flow":"damage-1015","claims":2,"by_reporter_type":{"general":1,"small_business":1,"enterprise":0},` +
		`"by_damage_type":{"paid":1,"free_monetary":1,"non_monetary":0},"by_support_tier":{"tier_30k":1,"tier_50k":0,"evidence_review":0},` +
		`"evidence":{"attached":0,"later":0},"handoffs":0,"funnel":[{"state":"privacy_consent","reached":2,"answered":2,"stopped":0},`
	if !strings.HasPrefix(out, head) {
		t.Errorf("report --json:\n got %s\nwant %s…", out, head)
	}
	if n := len(got["funnel"].([]any)); n != len(flows["damage-1015"].Order) {
		t.Errorf("funnel has %d states, the flow %d", n, len(flows["damage-1015"].Order))
	}

	svg := filepath.Join(t.TempDir(), "funnel.svg")
	out, errOut, code = claimbot(t, env, "report", "--svg", svg)
	if code != 0 {
		t.Fatalf("report exited %d: %s", code, errOut)
	}
	for _, want := range []string{"2 claims filed", "50.0 %", "loss_amount"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.Contains(string(b), "reached 2 · stopped 0") || !strings.Contains(string(b), "<svg") {
		t.Errorf("--svg: %v\n%.300s", err, b)
	}

	// Without a Redis it says how to give one.
	_, errOut, code = claimbot(t, []string{"REDIS_URL=", "REDIS_CLUSTER_URL="}, "report")
	if code == 0 || !strings.Contains(errOut, "--redis URL") {
		t.Errorf("report without Redis: exit %d: %s", code, errOut)
	}
}
