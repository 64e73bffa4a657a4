package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/validate"
	"github.com/claimbot/claimbot/internal/webhook"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

// startServer starts the server in-process as the command does, on a
// redistest Redis.
func startServer(t *testing.T) Target {
	t.Helper()
	rd := redistest.Start(t)
	r, err := StartDev(context.Background(), DevOptions{RedisURL: rd.URL, Flows: "../../flows", Locales: "../../locales"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	tg := DevTarget(r)
	if err := tg.Preflight(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tg
}

func text(r *Report) string {
	var b bytes.Buffer
	r.Command = "claimbot loadtest (test)"
	r.WriteText(&b)
	return b.String()
}

func TestClosedLoopFilesEveryClaim(t *testing.T) {
	tg := startServer(t)
	r, err := Run(context.Background(), tg, Options{Conversations: 5, Total: 20, Duration: 15 * time.Second, StillFileNo: 0})
	if err != nil {
		t.Fatal(err)
	}
	out := text(r)
	t.Log("\n" + out)
	l := r.Load
	if n := l.Errors(); n != 0 {
		t.Errorf("%d errors: frames %v, client %v, closes %v", n, l.ErrorFrames, l.Problems, l.CloseCodes)
	}
	if l.Conversations.Completed != 20 || l.Conversations.Started != 20 {
		t.Errorf("conversations %+v, want 20 started and completed", l.Conversations)
	}
	c := r.Claims
	if c.Filed != l.Conversations.Completed {
		t.Errorf("receipts %d, conversations completed %d", c.Filed, l.Conversations.Completed)
	}
	if c.ServerFiled == nil || *c.ServerFiled != float64(c.Filed) || *c.ServerDelivered != float64(c.Filed) {
		t.Errorf("server counters: %+v (note %q), want filed = delivered = %d", c, c.Note, c.Filed)
	}
	if l.Turns < 20*10 || l.Latency.Count != l.Turns || l.Latency.P50 <= 0 || l.Latency.Max < l.Latency.P99 {
		t.Errorf("turns %d, latency %+v", l.Turns, l.Latency)
	}
	for _, want := range []string{"closed loop", "turn latency", "p99", "server: filed +20, delivered +20", "machine", "command"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	var back Report
	buf, _ := os.ReadFile(path)
	if err := json.Unmarshal(buf, &back); err != nil || back.Load.Conversations.Completed != 20 || back.Machine.CPUs == 0 {
		t.Errorf("JSON report: %v, %s", err, buf)
	}
}

// TestTokenSecret drives a production-mode server with minted banner
// tokens; without the secret the preflight says what is missing.
func TestTokenSecret(t *testing.T) {
	const banner = "loadtest-banner-secret-0123456789"
	secret, _ := webhook.NewSecret()
	recv := webhooktest.NewReceiver(t, secret)
	rd := redistest.Start(t)
	cfg := &config.Config{Addr: "127.0.0.1:0", RedisURL: rd.URL, Flows: "../../flows", Locales: "../../locales",
		DefaultFlow: "damage-1015", BannerSecret: banner, WebhookURL: recv.URL(), WebhookSecret: secret,
		SessionTTL: time.Hour, Retention: time.Hour, RetrySchedule: []time.Duration{10 * time.Millisecond}, LogLevel: slog.LevelError,
		Uploads: t.TempDir(), PublicURL: "http://claimbot.test"}
	run, err := server.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Stop() })
	tg := DevTarget(run)
	if err := tg.Preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "--token-secret") {
		t.Errorf("preflight without the secret: %v", err)
	}
	tg.TokenSecret = banner
	if err := tg.Preflight(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), tg, Options{Conversations: 3, Total: 6})
	if err != nil {
		t.Fatal(err)
	}
	if l := r.Load; l.Errors() != 0 || l.Conversations.Completed != 6 || r.Claims.Filed != l.Conversations.WithClaim ||
		*r.Claims.ServerDelivered != float64(r.Claims.Filed) {
		t.Errorf("with tokens:\n%s", text(r))
	}
}

func TestOpenLoop(t *testing.T) {
	tg := startServer(t)
	var prog bytes.Buffer
	r, err := Run(context.Background(), tg, Options{Rate: 200, Duration: 1500 * time.Millisecond, Conversations: 20,
		StillFileNo: 0.3, Progress: NewProgressTo(&prog, 500*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text(r))
	l := r.Load
	if l.Offered < 290 || l.Offered > 310 {
		t.Errorf("offered %d turns at 200/s for 1.5 s", l.Offered)
	}
	if l.Turns+l.Unsent != l.Offered || l.Turns < l.Offered*9/10 {
		t.Errorf("sent %d + unsent %d of %d offered", l.Turns, l.Unsent, l.Offered)
	}
	if l.Errors() != 0 || l.Conversations.Completed == 0 {
		t.Errorf("errors %d, conversations %+v", l.Errors(), l.Conversations)
	}
	if !strings.Contains(prog.String(), "sent") {
		t.Errorf("progress: %q", prog.String())
	}
	// No probe was asked for; the steal share is read where Linux has it.
	if n := r.Noise; n == nil || n.ProbeSeconds != 0 {
		t.Errorf("noise without a probe: %+v", n)
	} else if _, ok := readCPUTimes(); ok != (n.StealShare != nil) {
		t.Errorf("steal share %v where /proc/stat is readable %v", n.StealShare, ok)
	}
}

func TestIdleReportsMemoryPerConnection(t *testing.T) {
	tg := startServer(t)
	r, err := RunIdle(context.Background(), tg, 50, 200*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := text(r)
	t.Log("\n" + out)
	i := r.Idle
	if i.Opened != 50 || i.ServerConnections < 50 || i.RSSBefore <= 0 || i.RSSAfter <= 0 || len(i.Problems) > 0 {
		t.Errorf("idle: %+v", i)
	}
	if i.PerConnection != float64(i.RSSAfter-i.RSSBefore)/50 || !strings.Contains(out, "per connection") {
		t.Errorf("per connection %.0f; report:\n%s", i.PerConnection, out)
	}
}

func TestBareLoopAndRounds(t *testing.T) {
	rd := redistest.Start(t)
	b, err := StartBare(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bt := b.Target()
	r, err := Run(context.Background(), bt, Options{Conversations: 10, Duration: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text(r))
	if l := r.Load; l.Errors() != 0 || l.Conversations.Completed == 0 || r.Claims != nil {
		t.Errorf("bare: errors %d, conversations %+v", l.Errors(), l.Conversations)
	}
	if b.errs.Load() != 0 {
		t.Errorf("bare: %d Redis failures", b.errs.Load())
	}

	real := startServer(t)
	rr, err := RunRounds(context.Background(), real, bt, 1, Options{Conversations: 10, Duration: 500 * time.Millisecond, RedisURL: rd.URL})
	if err != nil {
		t.Fatal(err)
	}
	out := text(rr)
	t.Log("\n" + out)
	if len(rr.Rounds.Rounds) != 2 || rr.Rounds.ThroughputRatio <= 0 || rr.Rounds.LatencyRatio <= 0 || !strings.Contains(out, "ratio") {
		t.Errorf("rounds: %+v", rr.Rounds)
	}
	// Processor time per turn: the load tester's own always (both targets
	// run in it), Redis's when it is a real redis-server.
	for _, sum := range []RoundsSum{rr.Rounds.Bare, rr.Rounds.Real} {
		c := sum.CPU
		if processCPU() == 0 {
			break // not known on this system
		}
		if c == nil || c.LoadTester <= 0 || c.Server != nil || c.Total < c.LoadTester {
			t.Fatalf("cpu per turn: %+v", c)
		}
		if rd.Real != (c.Redis != nil) {
			t.Errorf("cpu per turn: redis %v on a real redis-server %v", c.Redis, rd.Real)
		}
	}
	if !strings.Contains(out, "cpu per turn") {
		t.Error("the report has no cpu per turn line")
	}
	if _, ok := readCPUTimes(); ok {
		for _, rd := range rr.Rounds.Rounds {
			if rd.Steal == nil || *rd.Steal < 0 || *rd.Steal > 1 {
				t.Errorf("round %d %s: steal %v", rd.N, rd.Kind, rd.Steal)
			}
		}
	}
}

// The probe counts the gaps between two clock readings over pauseFloor:
// here the clock ticks 10 µs a reading, with a 2 ms and a 300 µs pause.
func TestPauses(t *testing.T) {
	start := time.Unix(1e9, 0)
	now, reads := start, 0
	clock := func() time.Time {
		reads++
		switch reads {
		case 1000:
			now = now.Add(2 * time.Millisecond)
		case 2000:
			now = now.Add(300 * time.Microsecond)
		default:
			now = now.Add(10 * time.Microsecond)
		}
		return now
	}
	n := pauses(50*time.Millisecond, clock)
	if n.Pauses != 2 || n.PausesOver1 != 1 || n.LongestMs != 2 {
		t.Errorf("pauses %d, over 1 ms %d, longest %.3f ms; want 2, 1, 2", n.Pauses, n.PausesOver1, n.LongestMs)
	}
	if lost := n.LostShare * 50; lost < 2.29 || lost > 2.31 { // 2.3 ms of 50
		t.Errorf("lost share %.4f, want 2.3/50", n.LostShare)
	}
	if s := n.String(); !strings.Contains(s, "paused 2 times (1 over 1 ms)") || !strings.Contains(s, "longest 2.0 ms") {
		t.Errorf("line %q", s)
	}

	// A real probe of this machine: whatever it finds, it spins as long
	// as asked and its figures hold together.
	p := probePauses(20 * time.Millisecond)
	if p.ProbeSeconds != 0.02 || p.PausesOver1 > p.Pauses || p.LostShare < 0 || p.LostShare > 1 {
		t.Errorf("probe: %+v", p)
	}
}

func TestParseCPUTimes(t *testing.T) {
	a, ok := parseCPUTimes("cpu  100 5 50 800 10 0 5 30 0 0")
	// busy: user, nice, system, irq, softirq (not idle, iowait, steal).
	if !ok || a.total != 1000 || a.steal != 30 || a.busy != 160 {
		t.Fatalf("parse: %+v %v", a, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 3 4 5 6 7 x"} {
		if _, ok := parseCPUTimes(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestRedisCPU(t *testing.T) {
	info := "# CPU\r\nused_cpu_sys:1.50\r\nused_cpu_user:2.25\r\nused_cpu_sys_children:9.0\r\n"
	if got, ok := redisCPU(info); !ok || got != 3.75 {
		t.Errorf("redisCPU = %v %v, want 3.75 true", got, ok)
	}
	if _, ok := redisCPU("# CPU\r\nused_cpu_sys:1.5\r\n"); ok {
		t.Error("redisCPU of half an answer: ok")
	}
	a := cpuReading{self: 1, redis: 10, redisOK: true}
	b := cpuReading{self: 1.5, redis: 10.25, redisOK: true}
	c := a.perTurn(b, 5000)
	if c.LoadTester != 100 || *c.Redis != 50 || c.Server != nil || c.Total != 150 {
		t.Errorf("perTurn = %+v, want 100 µs here and 50 in redis", c)
	}
}

func TestBacklogDrains(t *testing.T) {
	rd := redistest.Start(t)
	r, err := RunBacklog(context.Background(), rd.URL, 500, 15*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text(r))
	b := r.Backlog
	if !b.Drained || b.Delivered != 500 || b.PerSec <= 0 {
		t.Errorf("backlog: %+v", b)
	}
	// The sender is gone and the outbox empty: a second run may go.
	if _, err := RunBacklog(context.Background(), rd.URL, 10, 5*time.Second, nil); err != nil {
		t.Errorf("second run: %v", err)
	}
}

func TestPersonaTypesWhatTheValidatorsTake(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	wrongBN, refusedAmount := 0, 0
	for i := range 2000 {
		p := NewPersona(rng, 0)
		p.reporter = "small_business"
		bn := p.typed("business_number", "business_number", 0)
		if _, err := validate.BusinessNumber(bn); err != nil {
			wrongBN++
			if !strings.Contains(err.Error(), "check_digit") {
				t.Errorf("business number %q: %v", bn, err)
			}
		}
		if bn := p.typed("business_number", "business_number", 1); !validBN(bn) {
			t.Errorf("second business number %q refused", bn)
		}
		a := p.typed("loss_amount", "amount", 0)
		if _, err := validate.Amount(a); err != nil {
			if a != "스무닷새" {
				t.Errorf("amount %q: %v", a, err)
			}
			refusedAmount++
		}
		if a := p.typed("loss_amount", "amount", 1); !validAmount(a) {
			t.Errorf("second amount %q refused", a)
		}
		if e := p.typed("email", "email", 0); !validEmail(e) {
			t.Errorf("email %q refused", e)
		}
		if ph := p.typed("phone", "phone", 0); !validPhone(ph) {
			t.Errorf("phone %q refused", ph)
		}
		for _, f := range []string{"business_name", "title", "content"} {
			if s := p.typed(f, "text", 0); s == "" || len([]rune(s)) > 100 && f != "content" {
				t.Errorf("%s %q", f, s)
			}
		}
		if i < 3 {
			t.Logf("%s | %s | %s | %s", bn, a, p.email(), p.phone())
		}
	}
	if wrongBN < 200 || wrongBN > 400 || refusedAmount < 120 || refusedAmount > 280 {
		t.Errorf("of 2000: %d wrong business numbers first (want ~15 %%), %d refused amounts (want ~10 %%)", wrongBN, refusedAmount)
	}
	for v, want := range map[int64]string{500000: "오십만원", 250000: "이십오만원", 10000: "만원", 1350000: "백삼십오만원", 20000000: "이천만원"} {
		if got := HangulAmount(v); got != want {
			t.Errorf("HangulAmount(%d) = %q, want %q", v, got, want)
		}
		if got, err := validate.Amount(want); err != nil || got != v {
			t.Errorf("validate.Amount(%q) = %d, %v", want, got, err)
		}
	}
	// DOMAIN.md's example number.
	if d := BusinessCheckDigit([9]int{2, 2, 0, 8, 1, 6, 2, 5, 1}); d != 7 {
		t.Errorf("check digit of 220-81-6251x = %d, want 7", d)
	}
}

func TestPersonaShares(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	counts := map[string]int{}
	reporter := []Choice{{Value: "general", Label: "일반 이용자"}, {Value: "small_business", Label: "소상공인"}, {Value: "enterprise", Label: "중대형 기업"}, {Value: "back", Label: "이전"}}
	damage := []Choice{{Value: "paid", Label: ""}, {Value: "free_monetary", Label: ""}, {Value: "non_monetary", Label: ""}}
	const n = 10000
	for range n {
		p := NewPersona(rng, 0)
		counts[p.choice("reporter_type", reporter)]++
		counts[p.choice("damage_type", damage)]++
		if v := p.choice("privacy_consent", []Choice{{Value: "yes", Label: ""}, {Value: "no", Label: ""}}); v != "yes" {
			t.Fatalf("privacy_consent %q", v)
		}
	}
	near := func(k string, share float64) {
		if got := float64(counts[k]) / n; got < share-0.02 || got > share+0.02 {
			t.Errorf("%s: %.3f, want about %.3f", k, got, share)
		}
	}
	near("general", .798)
	near("small_business", .20)
	near("paid", .171)
	near("free_monetary", .151)
	near("non_monetary", .678)
	if counts["back"] != 0 {
		t.Errorf("chose back %d times", counts["back"])
	}
}

func TestClaimAnswersMatchTheSchema(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		a := ClaimAnswers(rng)
		ev := webhook.NewEvent(webhook.Claim{ClaimID: "7K3M-Q9XD", UserID: "u", Locale: "ko",
			Flow: webhook.Flow{ID: "damage-1015", Version: "loadtest"}, SubmittedAt: time.Now(), Answers: a})
		body, _ := json.Marshal(ev)
		if err := webhook.ValidateBody(body); err != nil {
			t.Fatalf("claim %d: %v\n%s", i, err, body)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{.5, 5 * time.Millisecond}, {.9, 9 * time.Millisecond}, {.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.001 || d > 0.02 {
			t.Errorf("q%.2f = %s, want %s (within 2 %%)", c.q, got, c.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %s, count %d", h.Max(), h.Count())
	}
	for v := int64(0); v < 1<<20; v = v*5/4 + 1 {
		if i := bucketOf(v); bucketHigh(i) < v || (i > 0 && bucketHigh(i-1) >= v) {
			t.Fatalf("value %d in bucket %d [.., %d], previous ends %d", v, i, bucketHigh(i), bucketHigh(i-1))
		}
	}
}

func TestParseURLRefusesRemote(t *testing.T) {
	for _, ok := range []string{"ws://127.0.0.1:8080/ws", "ws://localhost:8080", "http://[::1]:8080/ws"} {
		if _, err := ParseURL(ok, false); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if _, err := ParseURL("ws://192.0.2.1:8080/ws", false); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("a remote URL: %v", err)
	}
	if _, err := ParseURL("ws://192.0.2.1:8080/ws", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
	u, _ := ParseURL("ws://127.0.0.1:8080", false)
	if got := MetricsURLOf(u); got != "http://127.0.0.1:8080/metrics" {
		t.Errorf("metrics URL %s", got)
	}
}

func validBN(s string) bool     { _, err := validate.BusinessNumber(s); return err == nil }
func validAmount(s string) bool { _, err := validate.Amount(s); return err == nil }
func validEmail(s string) bool  { _, err := validate.Email(s); return err == nil }
func validPhone(s string) bool  { _, err := validate.Phone(s); return err == nil }

// A part missing from one round is left out of the sum, total included.
func TestWeighCPU(t *testing.T) {
	s1, r1 := 40.0, 20.0
	got := weighCPU([]*CPU{
		{LoadTester: 100, Server: &s1, Redis: &r1, Total: 160},
		{LoadTester: 50, Redis: &r1, Total: 70},
	}, []int64{1000, 3000})
	if got.LoadTester != 62.5 || got.Server != nil || got.Redis == nil || *got.Redis != 20 || got.Total != 82.5 {
		t.Errorf("weighCPU = %+v, want load tester 62.5, no server, redis 20, total 82.5", got)
	}
	if weighCPU([]*CPU{nil}, []int64{5}) != nil {
		t.Error("weighCPU with a round unmeasured: not nil")
	}
}
