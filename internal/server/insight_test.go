package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/insight"
)

// Two instances sharing one Redis file claims; both stop, Redis restarts,
// two new instances file more: the counts hold every claim once, and
// /metrics counts each instance's claims by reporter and damage type.
func TestIntakeCountsAcrossInstancesAndRestart(t *testing.T) {
	a := startEnv(t)
	second := func() *env {
		cfg := *a.cfg
		cfg.Addr = "127.0.0.1:0"
		b := &env{t: t, redis: a.redis, recv: a.recv, cfg: &cfg, secret: a.secret}
		b.start()
		return b
	}
	b := second()
	file := func(e *env, user string, answers ...string) {
		t.Helper()
		c := e.dial(user)
		for _, s := range answers {
			if r := c.text(s); r.Invalid {
				t.Fatalf("%s: %q refused: %+v", user, s, r)
			}
		}
		for _, s := range []string{"me@example.com", "010-1234-5678", "접수 제목", "접수 내용입니다."} {
			if r := c.text(s); r.Invalid {
				t.Fatalf("%s: %q refused: %+v", user, s, r)
			}
		}
		if r := c.choose("submit"); r.ClaimID == "" {
			t.Fatalf("%s: no claim: %+v", user, r)
		}
	}
	file(a, "u-ins-1", "네", "일반 이용자", "결제", "유료")
	file(b, "u-ins-2", "네", "소상공인", "메신저", "무료 서비스 금전 피해", "행복분식", "220-81-62517", "25만원")
	file(b, "u-ins-3", "네", "일반 이용자", "메신저", "금전 피해 없음", "문의")
	c := a.dial("u-ins-left")
	for _, s := range []string{"네", "일반 이용자", "메신저", "무료 서비스 금전 피해"} {
		c.text(s)
	}
	if c.last.State != "loss_amount" {
		t.Fatalf("not at loss_amount: %+v", c.last)
	}
	_, body := httpGet(t, a.run.URL()+"/metrics")
	if want := `claimbot_claims_filed_by_type_total{damage_type="paid",flow="damage-1015",reporter_type="general"} 1`; !strings.Contains(body, want) {
		t.Errorf("/metrics of the first instance lacks %s", want)
	}
	_, body = httpGet(t, b.run.URL()+"/metrics")
	for _, want := range []string{`claimbot_claims_filed_by_type_total{damage_type="free_monetary",flow="damage-1015",reporter_type="small_business"} 1`,
		`claimbot_claims_filed_by_type_total{damage_type="non_monetary",flow="damage-1015",reporter_type="general"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics of the second instance lacks %s", want)
		}
	}

	a.run.Stop()
	b.run.Stop()
	if a.redis.Real {
		a.redis.Restart()
	}
	a.start()
	b = second()
	file(a, "u-ins-4", "네", "기업", "결제", "유료", "큰회사", "220-81-62517", "100만원")
	file(b, "u-ins-5", "네", "소상공인", "메신저", "무료 서비스 금전 피해", "행복분식", "220-81-62517", "60만원", "나중에 낼게요")

	f, ps := flow.Load("../../flows/damage-1015.yaml")
	if len(ps.Errors()) > 0 {
		t.Fatal(ps.Errors())
	}
	r, err := insight.Read(context.Background(), a.redis.Client(t), f, time.Now().Add(a.cfg.SessionTTL+time.Minute), a.cfg.SessionTTL)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]int64{
		"claims":                       {r.Claims, 5},
		"reporter_type general":        {r.ByReporterType.Get("general"), 2},
		"reporter_type small_business": {r.ByReporterType.Get("small_business"), 2},
		"reporter_type enterprise":     {r.ByReporterType.Get("enterprise"), 1},
		"damage_type paid":             {r.ByDamageType.Get("paid"), 2},
		"damage_type free_monetary":    {r.ByDamageType.Get("free_monetary"), 2},
		"damage_type non_monetary":     {r.ByDamageType.Get("non_monetary"), 1},
		"tier_30k":                     {r.BySupportTier.Get("tier_30k"), 1},
		"evidence_review":              {r.BySupportTier.Get("evidence_review"), 1},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %d, want %d", name, got[0], got[1])
		}
	}
	for _, s := range r.Funnel {
		switch s.State {
		case "privacy_consent":
			if s.Reached != 6 || s.Answered != 6 || s.Stopped != 0 {
				t.Errorf("funnel %+v", s)
			}
		case "loss_amount":
			if s.Reached != 4 || s.Answered != 3 || s.Stopped != 1 {
				t.Errorf("the conversation left at loss_amount did not stop there: %+v", s)
			}
		default:
			if s.Stopped != 0 {
				t.Errorf("stopped at %+v", s)
			}
		}
	}
}
