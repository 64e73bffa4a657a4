package convo

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// script writes src as a script file and parses it.
func script(t *testing.T, name, src string) *Script {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const filing = `name: 일반 이용자 접수
steps:
  - choose: "yes"
  - choose: general
  - choose: messenger
  - choose: free_monetary
  - user: 25만원
  - user: owner@example.com
  - user: 010-5555-1234
  - user: 채널 주문 누락
  - user: 주문 알림이 오지 않았습니다.
  - choose: submit
  - bot: {done: true}
`

func TestRunnerReportsFailures(t *testing.T) {
	p := newInProcess(t)
	r := &Runner{Backend: p}
	ctx := context.Background()

	t.Run("wrong expectation", func(t *testing.T) {
		s := script(t, "wrong.convo.yaml", `name: 틀린 기대
steps:
  - choose: "yes"
  - choose: general
  - bot: {field: service}
  - choose: messenger
  - bot: {field: loss_amount, invalid: true}
  - bot: 여기까지 오지 않아요
`)
		res := r.One(ctx, s)
		f := res.Failure
		if f == nil {
			t.Fatal("a wrong expectation passed")
		}
		if f.File != s.File || f.Line != 7 {
			t.Errorf("failure at %s:%d, want %s:7", f.File, f.Line, s.File)
		}
		if f.Actual == nil || f.Actual.Field != "damage_type" {
			t.Fatalf("actual reply %+v, want the damage_type question", f.Actual)
		}
		var b bytes.Buffer
		WriteResult(&b, res)
		out := b.String()
		for _, want := range []string{
			"FAIL ", "틀린 기대 (" + s.File + ")",
			s.File + ":7: bot: {field: loss_amount, invalid: true}",
			`expected: field "loss_amount", got "damage_type"; invalid true, got false`,
			`the bot said: state "damage_type", field "damage_type", input "choice", invalid false, done false`,
			"  | 어떤 피해인가요?",
			"choices: 유료 서비스 피해 (paid),",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
		if !strings.HasPrefix(out, "FAIL ") || !strings.Contains(strings.SplitN(out, "\n", 2)[1], "    ") {
			t.Errorf("details are not indented under the FAIL line:\n%s", out)
		}
	})

	t.Run("substring and regexp", func(t *testing.T) {
		s := script(t, "text.convo.yaml", "steps:\n  - bot: 없는 말\n  - bot: /^없는/\n")
		res := r.One(ctx, s)
		if res.Failure == nil || res.Failure.Line != 2 || !strings.Contains(res.Failure.Expected, `messages containing "없는 말"`) {
			t.Errorf("failure %+v", res.Failure)
		}
		s = script(t, "re.convo.yaml", "steps:\n  - bot: 개인정보\n  - bot: /^없는/\n")
		res = r.One(ctx, s)
		if res.Failure == nil || res.Failure.Line != 3 || !strings.Contains(res.Failure.Expected, "messages matching /^없는/") {
			t.Errorf("failure %+v", res.Failure)
		}
	})

	t.Run("claim mismatch", func(t *testing.T) {
		s := script(t, "claim.convo.yaml", filing+`claim:
  reporter_type: general
  loss_amount: 260000
  support_tier: tier_30k
  email: ~
`)
		res := r.One(ctx, s)
		f := res.Failure
		if f == nil {
			t.Fatal("a wrong claim passed")
		}
		if f.Line != 14 {
			t.Errorf("claim failure at line %d, want 14", f.Line)
		}
		want := []string{
			"loss_amount: expected 260000, actual 250000",
			`support_tier: expected "tier_30k", actual absent`,
			`email: expected absent, actual "owner@example.com"`,
		}
		if strings.Join(f.Claim, "\n") != strings.Join(want, "\n") {
			t.Errorf("claim mismatches:\n%s\nwant:\n%s", strings.Join(f.Claim, "\n"), strings.Join(want, "\n"))
		}
		var b bytes.Buffer
		WriteResult(&b, res)
		if !strings.Contains(b.String(), "claim loss_amount: expected 260000, actual 250000") {
			t.Errorf("report:\n%s", b.String())
		}
	})

	t.Run("claim matches", func(t *testing.T) {
		s := script(t, "ok.convo.yaml", filing+"claim:\n  reporter_type: general\n  loss_amount: 250000\n  support_tier: ~\n")
		if res := r.One(ctx, s); !res.Passed() {
			t.Errorf("failed:\n%s", res.Failure.Detail())
		}
	})

	t.Run("claim none", func(t *testing.T) {
		s := script(t, "none.convo.yaml", filing+"claim: none\n")
		res := r.One(ctx, s)
		if res.Failure == nil || res.Failure.Line != 14 || !strings.Contains(res.Failure.Expected, "no claim filed, but the bot filed ") {
			t.Errorf("failure %+v", res.Failure)
		}
	})

	t.Run("claim expected, none filed", func(t *testing.T) {
		s := script(t, "nofile.convo.yaml", "steps:\n  - choose: \"no\"\nclaim:\n  privacy_consent: false\n")
		res := r.One(ctx, s)
		if res.Failure == nil || res.Failure.Line != 3 || !strings.Contains(res.Failure.Expected, "no reply carried a claim_id") {
			t.Errorf("failure %+v", res.Failure)
		}
	})

	t.Run("unknown flow", func(t *testing.T) {
		s := script(t, "flow.convo.yaml", "flow: nope\nsteps:\n  - bot: x\n")
		res := r.One(ctx, s)
		if res.Failure == nil || res.Failure.Err == nil || !strings.Contains(res.Failure.Err.Error(), `flow "nope"`) {
			t.Errorf("failure %+v", res.Failure)
		}
	})
}

func TestRunnerFilterOrderAndJUnit(t *testing.T) {
	p := newInProcess(t)
	var scripts []*Script
	for _, name := range []string{"가 통과", "나 실패", "다 건너뜀", "라 통과"} {
		src := "name: " + name + "\nsteps:\n  - bot: 개인정보\n"
		if strings.Contains(name, "실패") {
			src = "name: " + name + "\nsteps:\n  - bot: {done: true}\n"
		}
		scripts = append(scripts, script(t, "s.convo.yaml", src))
	}
	var reported []string
	r := &Runner{Backend: p, Filter: regexp.MustCompile("통과|실패"), Workers: 3}
	results := r.Run(context.Background(), scripts, func(res Result) { reported = append(reported, res.Script.Name) })
	if strings.Join(reported, ",") != "가 통과,나 실패,라 통과" {
		t.Errorf("reported %v", reported)
	}
	var b bytes.Buffer
	WriteSummary(&b, results)
	if b.String() != "2 passed, 1 failed\n" {
		t.Errorf("summary %q", b.String())
	}

	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := WriteJUnit(path, results, 0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suite    struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	if doc.Tests != 3 || doc.Failures != 1 || len(doc.Suite.Cases) != 3 {
		t.Fatalf("junit: %+v", doc)
	}
	c := doc.Suite.Cases[1]
	if c.Name != "나 실패" || c.Failure == nil || !strings.Contains(c.Failure.Message, "done true, got false") || !strings.Contains(c.Failure.Text, "the bot said") {
		t.Errorf("junit failing case: %+v", c)
	}
}

func TestBroken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.convo.yaml")
	os.WriteFile(path, []byte("steps:\n  - say: hi\n"), 0o644)
	_, err := Parse(path)
	res := Broken(path, err)
	var b bytes.Buffer
	WriteResult(&b, res)
	want := "FAIL 0.00s broken (" + path + ")\n    " + path + `:2:5: step: unknown key "say" (want bot, user, choose, command or attach)` + "\n"
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}
}
