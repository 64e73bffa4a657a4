package convo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimbot/claimbot/internal/flow"
)

func TestParse(t *testing.T) {
	src := `name: 예시
flow: damage-1015
lang: en
steps:
  - bot: 개인정보
  - bot: /매출.*손실/
  - bot: {state: s, field: f, input: amount, invalid: true, done: false, text: t, choices: [a, b]}
  - user: 25만원
  - user: 250000
  - choose: "yes"
  - command: back
claim:
  loss_amount: 250000
  privacy_consent: true
  email: a@example.com
  business_number: ~
`
	s, err := ParseBytes("x.convo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "예시" || s.Flow != "damage-1015" || s.Lang != "en" || len(s.Steps) != 7 {
		t.Fatalf("script: %+v", s)
	}
	lines := []int{5, 6, 7, 8, 9, 10, 11}
	kinds := []Kind{Bot, Bot, Bot, User, User, Choose, Command}
	for i, st := range s.Steps {
		if st.Line != lines[i] || st.Kind != kinds[i] {
			t.Errorf("step %d: line %d kind %v, want line %d kind %v", i, st.Line, st.Kind, lines[i], kinds[i])
		}
	}
	if *s.Steps[0].Expect.Substr != "개인정보" || s.Steps[1].Expect.Regexp == nil {
		t.Errorf("bot scalars: %+v %+v", s.Steps[0].Expect, s.Steps[1].Expect)
	}
	e := s.Steps[2].Expect
	if *e.State != "s" || *e.Field != "f" || *e.Input != "amount" || !*e.Invalid || *e.Done || *e.Substr != "t" || strings.Join(e.Choices, ",") != "a,b" {
		t.Errorf("bot map: %+v", e)
	}
	if s.Steps[4].Text != "250000" || s.Steps[5].Text != "yes" || s.Steps[6].Text != "back" {
		t.Errorf("texts: %q %q %q", s.Steps[4].Text, s.Steps[5].Text, s.Steps[6].Text)
	}
	if s.Claim["loss_amount"] != int64(250000) || s.Claim["privacy_consent"] != true || s.Claim["email"] != "a@example.com" {
		t.Errorf("claim: %#v", s.Claim)
	}
	if v, ok := s.Claim["business_number"]; !ok || v != nil {
		t.Errorf("claim: business_number: %#v, want nil (absent)", v)
	}
	if strings.Join(s.ClaimKeys, ",") != "loss_amount,privacy_consent,email,business_number" || s.ClaimLine != 12 {
		t.Errorf("claim keys %v line %d", s.ClaimKeys, s.ClaimLine)
	}

	s, err = ParseBytes("y.convo.yaml", []byte("steps:\n  - bot: x\nclaim: none\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.NoClaim || s.Name != "y" {
		t.Errorf("claim: none: %+v", s)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // each must appear in the error
	}{
		{"yaml error", "name: x\nsteps:\n  - bot: [unclosed\n  - user: hi\n", []string{"f.convo.yaml:3:1: yaml: did not find expected ',' or ']'"}},
		{"yaml indent", "name: x\nsteps:\n  - bot: x\n - user: y\n", []string{"f.convo.yaml:4:1: yaml: did not find expected key"}},
		{"yaml scanner", "name: x\nsteps:\n  - bot: a: b\n", []string{"f.convo.yaml:3:1: yaml: mapping values are not allowed"}},
		{"yaml tab", "name: x\nsteps:\n\t- bot: x\n", []string{"f.convo.yaml:3:"}},
		{"unknown step key", "name: x\nsteps:\n  - bot: x\n  - usr: hi\n", []string{`f.convo.yaml:4:5: step: unknown key "usr"`}},
		{"two keys in a step", "steps:\n  - user: a\n    bot: b\n", []string{"f.convo.yaml:2:5: step: one key per step"}},
		{"unknown top key", "name: x\nstep:\n  - bot: x\n", []string{`f.convo.yaml:2:1: script: unknown key "step"`, "no steps"}},
		{"bad regexp", "steps:\n  - user: a\n  - bot: /매출(/\n", []string{"f.convo.yaml:3:10: bot: bad regular expression /매출(/"}},
		{"unknown bot key", "steps:\n  - bot: {feild: email}\n", []string{`f.convo.yaml:2:11: bot: unknown key "feild"`}},
		{"bad input", "steps:\n  - bot: {input: emial}\n", []string{`f.convo.yaml:2:18: bot: input: want one of`}},
		{"invalid not bool", "steps:\n  - bot: {invalid: yes}\n", []string{`f.convo.yaml:2:20: bot: invalid: want true or false, got "yes"`}},
		{"empty bot map", "steps:\n  - bot: {}\n", []string{"f.convo.yaml:2:10: bot: the map checks nothing"}},
		{"bad command", "steps:\n  - command: quit\n", []string{`f.convo.yaml:2:14: command: want back, restart or handoff, got "quit"`}},
		{"user null", "steps:\n  - user:\n", []string{"f.convo.yaml:2:"}},
		{"claim list", "steps:\n  - bot: x\nclaim:\n  service: [a]\n", []string{"f.convo.yaml:4:12: claim: service: want a single value"}},
		{"claim word", "steps:\n  - bot: x\nclaim: nothing\n", []string{`f.convo.yaml:3:8: claim: want a map of answers or none, got "nothing"`}},
		{"bad lang", "lang: jp\nsteps:\n  - bot: x\n", []string{`f.convo.yaml:1:7: lang: want ko or en`}},
		{"steps not a list", "steps: 3\n", []string{"f.convo.yaml:1:8: steps: want a list"}},
		{"empty file", "", []string{"f.convo.yaml: empty file"}},
		{"not a map", "- bot: x\n", []string{"f.convo.yaml:1:1: script: want a map"}},
		{"attach missing", "steps:\n  - attach: files/nope.pdf\n", []string{`f.convo.yaml:2:13: attach: no such file "files/nope.pdf" (the path is relative to the script: files/nope.pdf)`}},
		{"attach empty", "steps:\n  - attach: \"\"\n", []string{"f.convo.yaml:2:13: attach: want the path of a file"}},
		{"attach a folder", "steps:\n  - attach: .\n", []string{`f.convo.yaml:2:13: attach: "." is not a file`}},
		{"attach a list", "steps:\n  - attach: [a.pdf]\n", []string{"f.convo.yaml:2:13: attach: want text, got a list"}},
		{"every problem at once", "name: x\nsteps:\n  - usr: a\n  - bot: /(/\n  - command: up\n", []string{":3:5:", ":4:10:", ":5:14:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBytes("f.convo.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T, want Problems", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\nlacks %q", err, w)
				}
			}
		})
	}
}

// An attach step names its file relative to the script's folder; the
// parsed step holds the path from the working folder, and its line.
func TestParseAttach(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "files"), 0o755)
	os.WriteFile(filepath.Join(dir, "files", "확인서.pdf"), []byte("%PDF-1.4\n"), 0o644)
	path := filepath.Join(dir, "a.convo.yaml")
	os.WriteFile(path, []byte("steps:\n  - bot: x\n  - attach: files/확인서.pdf\n  - choose: done\n"), 0o644)
	s, err := Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Steps[1]
	if st.Kind != Attach || st.Line != 3 || st.Text != "files/확인서.pdf" || st.Path != filepath.Join(dir, "files", "확인서.pdf") {
		t.Errorf("step %+v, want attach at line 3 of %s", st, filepath.Join(dir, "files", "확인서.pdf"))
	}

	// Moved elsewhere, the script names a file that is not there.
	other := filepath.Join(t.TempDir(), "a.convo.yaml")
	src, _ := os.ReadFile(path)
	os.WriteFile(other, src, 0o644)
	if _, err := Parse(other); err == nil || !strings.Contains(err.Error(), other+`:3:13: attach: no such file "files/확인서.pdf"`) {
		t.Errorf("err %v, want the missing file at %s:3:13", err, other)
	}
}

// The fixture files of the shipped scripts (flows/files/) are neither flows
// to load or lint nor scripts.
func TestFixturesIgnored(t *testing.T) {
	fixtures, _ := filepath.Glob(filepath.Join(flowsDir, "files", "*"))
	if len(fixtures) == 0 {
		t.Fatal("no fixtures under flows/files")
	}
	flows, ps := flow.LoadDir(flowsDir)
	for _, p := range ps {
		t.Errorf("flows/: %s", p)
	}
	if len(flows) == 0 {
		t.Error("no flows loaded")
	}
	scripts, err := Find([]string{flowsDir})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		if strings.Contains(filepath.ToSlash(s), "/files/") {
			t.Errorf("%s taken as a script", s)
		}
	}
}

// FuzzParseBytes checks that no input makes Parse panic.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"", "steps: [{bot: x}]", "steps:\n  - bot: {choices: x}\n", "claim: {a: b}", "steps: [{bot: /[/}]", "&a [*a]", "steps: [*x]", "!!binary x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		ParseBytes("f.convo.yaml", src)
	})
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.convo.yaml", "a.convo.yaml", "sub/c.convo.yaml", "flow.yaml"} {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("steps: [{bot: x}]"), 0o644)
	}
	got, err := Find([]string{dir, filepath.Join(dir, "a.convo.yaml"), filepath.Join(dir, "flow.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, g := range got {
		r, _ := filepath.Rel(dir, g)
		rel = append(rel, r)
	}
	if strings.Join(rel, " ") != "a.convo.yaml b.convo.yaml sub/c.convo.yaml flow.yaml" {
		t.Errorf("Find = %v", rel)
	}
}
