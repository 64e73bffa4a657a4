package convo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toEvidence answers a small business's questions up to the files question.
var toEvidence = []Frame{
	{Type: "choice", Value: "yes"}, {Type: "choice", Value: "small_business"}, {Type: "text", Text: "메일"},
	{Type: "choice", Value: "free_monetary"}, {Type: "text", Text: "동네책방"}, {Type: "text", Text: "617-81-02431"},
	{Type: "text", Text: "80만원"},
}

func openAt(t *testing.T, p *InProcess, frames []Frame) (Driver, Reply) {
	t.Helper()
	ctx := context.Background()
	d, err := p.Driver(ctx, NewUser(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	last, err := d.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFrames()
	for _, f := range frames {
		if last, err = d.Send(ctx, fs.next(f, last)); err != nil {
			t.Fatal(err)
		}
	}
	return d, last
}

// The in-process run looks file frames up as the server does, for the
// conversation's user: a file uploaded by another conversation is refused
// and nothing of it is shown; the uploader's own frame attaches it.
func TestInProcessFileFrames(t *testing.T) {
	p := newInProcess(t)
	ctx := context.Background()
	alice, aliceAt := openAt(t, p, toEvidence)
	mallory, malloryAt := openAt(t, p, toEvidence)
	if aliceAt.Input != "files" || malloryAt.Input != "files" {
		t.Fatalf("not at the files question: %+v", aliceAt)
	}
	f, refused, err := attachFrame(ctx, alice, fixturePDF, aliceAt)
	if err != nil || refused != nil {
		t.Fatal(err, refused)
	}
	f.State = "evidence"
	rep, err := mallory.Send(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Invalid || !strings.Contains(strings.Join(rep.Messages, " "), "다른 사용자가 올린 파일") || len(rep.Files) != 0 {
		t.Errorf("another user's upload: %+v, want refused", rep.Reply)
	}
	rep, err = alice.Send(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Invalid || len(rep.Files) != 1 || rep.Files[0].Name != filepath.Base(fixturePDF) {
		t.Errorf("own upload: %+v, want attached", rep.Reply)
	}
}

// An attach step fails, at its line, on a backend that takes no files
// and when its file went missing after the script was read.
func TestAttachStepFailures(t *testing.T) {
	p := newInProcess(t)
	dir := t.TempDir()
	pdf := filepath.Join(dir, "a.pdf")
	src, _ := os.ReadFile(fixturePDF)
	os.WriteFile(pdf, src, 0o644)
	s := script(t, "attach.convo.yaml", `steps:
  - choose: "yes"
  - choose: small_business
  - user: 메일
  - choose: free_monetary
  - user: 동네책방
  - user: 617-81-02431
  - user: 80만원
  - attach: `+pdf+`
  - bot: {field: evidence, choices: [다 보냈어요]}
`)
	ctx := context.Background()
	if res := (&Runner{Backend: p}).One(ctx, s); !res.Passed() {
		t.Fatalf("the script fails in-process:\n%s", res.Failure.Detail())
	}
	res := (&Runner{Backend: noUploads{p}}).One(ctx, s)
	if res.Passed() || res.Failure.Line != 9 || !strings.Contains(res.Failure.Detail(), "this backend takes no files") {
		t.Errorf("on a backend without uploads: %+v", res.Failure)
	}
	os.Remove(pdf)
	res = (&Runner{Backend: p}).One(ctx, s)
	if res.Passed() || res.Failure.Line != 9 || !strings.Contains(res.Failure.Detail(), "no such file") {
		t.Errorf("with the file gone: %+v", res.Failure)
	}
}

// noUploads is a backend whose drivers cannot upload (as the skill
// endpoint's).
type noUploads struct{ *InProcess }

func (b noUploads) Driver(ctx context.Context, user, flow, lang string) (Driver, error) {
	d, err := b.InProcess.Driver(ctx, user, flow, lang)
	return struct{ Driver }{d}, err
}

// On a backend whose channel takes no files (the skill endpoint), scripts
// that attach files are skipped, and said to be; the others run.
func TestAttachScriptsSkippedWithoutFiles(t *testing.T) {
	p := newInProcess(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.pdf"), []byte("%PDF-1.4\n"), 0o644)
	attaching := script(t, "attaching.convo.yaml", "steps:\n  - choose: \"yes\"\n  - attach: "+filepath.Join(dir, "a.pdf")+"\n")
	plain := script(t, "plain.convo.yaml", filing)
	results := (&Runner{Backend: struct{ Backend }{p}}).Run(context.Background(), []*Script{attaching, plain}, nil)
	if r := results[0]; r.Skipped == "" || !r.Passed() {
		t.Errorf("attaching script: skipped %q, passed %v; want skipped", r.Skipped, r.Passed())
	}
	if r := results[1]; r.Skipped != "" || !r.Passed() {
		t.Errorf("plain script: skipped %q, failure %v; want run and passed", r.Skipped, r.Failure)
	}
	var b bytes.Buffer
	WriteResult(&b, results[0])
	WriteSummary(&b, results)
	junit := filepath.Join(dir, "junit.xml")
	if err := WriteJUnit(junit, results, time.Second); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(junit)
	b.Write(x)
	for _, want := range []string{"SKIP ", "skipped: it attaches files, which this channel does not take", "1 passed, 0 failed, 1 skipped", `<skipped message="it attaches files`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
