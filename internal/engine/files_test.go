package engine_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
)

// pdf is a finished upload as the server would find it.
func pdf(id, name string) *engine.Attachment {
	return &engine.Attachment{ID: id, Name: name, Type: "application/pdf", Size: 48213, SHA256: strings.Repeat("ab", 32)}
}

func (c *chat) attach(f *engine.Attachment) *chat {
	c.t.Helper()
	return c.step(engine.Input{Kind: engine.Attach, Text: f.ID, File: f})
}

func (c *chat) attachProblem(id, problem string, f *engine.Attachment) *chat {
	c.t.Helper()
	return c.step(engine.Input{Kind: engine.Attach, Text: id, File: f, Problem: problem})
}

// toEvidence walks damage-1015 to its files question.
func toEvidence(t *testing.T, lang string) *chat {
	c := newChat(t, lang)
	c.choose("yes").choose("small_business").choose("messenger").choose("free_monetary")
	c.text("행복분식").text("220-81-62517").want("loss_amount").text("60만원")
	return c.want("evidence")
}

func values(cs []engine.Choice) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Value
	}
	return out
}

// finish answers the contact questions and submits.
func (c *chat) finish() *chat {
	c.t.Helper()
	c.want("email").text("owner@example.com").text("010-5555-1234").text("주문 알림 누락").text("알림이 오지 않았습니다.")
	return c.want("summary")
}

func TestFilesQuestionAttachDone(t *testing.T) {
	c := toEvidence(t, "ko")
	if got := values(c.r.Choices); !reflect.DeepEqual(got, []string{"later", "back"}) {
		t.Fatalf("before any file: choices %v, want later and back (done needs a file)", got)
	}
	c.choose("done").wantInvalid("evidence")
	c.attach(pdf("u1", "확인서.pdf")).want("evidence").says("확인서.pdf").says("1/10")
	c.attach(pdf("u2", "매출.pdf")).want("evidence").says("2/10")
	c.attach(pdf("u2", "매출.pdf")).want("evidence") // the same upload again: attached once
	if len(c.r.Files) != 2 || c.r.Files[0].Name != "확인서.pdf" || c.r.Upload == nil {
		t.Fatalf("files %+v upload %+v", c.r.Files, c.r.Upload)
	}
	if got := values(c.r.Choices); !reflect.DeepEqual(got, []string{"done", "later", "remove_u1", "remove_u2", "back"}) {
		t.Fatalf("choices %v", got)
	}
	c.text("다 보냈어요").finish().says("확인서.pdf, 매출.pdf (2개)")
	c.choose("submit")
	cl := c.claims[0]
	if cl.Answers["evidence"] != "attached" || len(cl.Attachments) != 2 || cl.Attachments[1].ID != "u2" || cl.Attachments[0].SHA256 == "" {
		t.Fatalf("claim answers %v attachments %+v", cl.Answers, cl.Attachments)
	}
	if len(c.s.Files) != 0 {
		t.Fatalf("the filed files stay on the session: %+v", c.s.Files)
	}
}

func TestFilesQuestionRefusals(t *testing.T) {
	c := toEvidence(t, "ko")
	html := &engine.Attachment{ID: "h", Name: "확인서.pdf", Type: "text/html", Size: 10}
	for _, tt := range []struct {
		name string
		do   func() *chat
		says string
	}{
		{"type judged by the bytes", func() *chat { return c.attach(html) }, "받을 수 없는 형식"},
		{"the server found another type", func() *chat { return c.attachProblem("h", engine.ProblemType, html) }, "PDF, JPEG, PNG, HEIC"},
		{"too large", func() *chat {
			return c.attach(&engine.Attachment{ID: "big", Name: "big.pdf", Type: "application/pdf", Size: 21 << 20})
		}, "20MB"},
		{"unfinished", func() *chat { return c.attachProblem("p", engine.ProblemUnfinished, pdf("p", "반쯤.pdf")) }, "반쯤.pdf"},
		{"unknown", func() *chat { return c.attachProblem("nope", engine.ProblemUnknown, nil) }, "찾을 수 없어요"},
		{"another user's", func() *chat { return c.attachProblem("x", engine.ProblemNotYours, nil) }, "다른 사용자"},
		{"sent with another claim", func() *chat { return c.attachProblem("s", engine.ProblemSent, pdf("s", "지난.pdf")) }, "이미 다른 접수"},
		{"no uploads here", func() *chat { return c.attachProblem("n", engine.ProblemNoFiles, nil) }, "받을 수 없어요"},
		{"typed text", func() *chat { return c.text("파일 보냈어요") }, "📎"},
	} {
		tt.do().wantInvalid("evidence").says(tt.says)
		if len(c.s.Files) != 0 {
			t.Fatalf("%s: something was attached: %+v", tt.name, c.s.Files)
		}
	}
	// The count: a flow's max_files, then the next one is refused.
	for i := 0; i < 10; i++ {
		c.attach(pdf(string(rune('a'+i)), "f.pdf")).want("evidence")
	}
	c.attach(pdf("k", "eleventh.pdf")).wantInvalid("evidence").says("10개까지")
	if len(c.s.Files) != 10 {
		t.Fatalf("%d files attached", len(c.s.Files))
	}
}

func TestFilesLaterDropsThem(t *testing.T) {
	c := toEvidence(t, "ko")
	c.attach(pdf("u1", "a.pdf")).choose("later").finish().says("나중에 제출")
	c.choose("submit")
	if cl := c.claims[0]; cl.Answers["evidence"] != "later" || len(cl.Attachments) != 0 {
		t.Fatalf("claim %v %+v", cl.Answers, cl.Attachments)
	}
}

func TestFilesRemoveAndChangeAtSummary(t *testing.T) {
	c := toEvidence(t, "ko")
	c.attach(pdf("u1", "a.pdf")).attach(pdf("u2", "b.pdf"))
	c.choose("remove_u1").want("evidence").says("a.pdf")
	if len(c.r.Files) != 1 || c.r.Files[0].ID != "u2" {
		t.Fatalf("after remove: %+v", c.r.Files)
	}
	c.choose("done").finish().says("b.pdf (1개)")
	// Change the set from the summary: back at the question with the files.
	c.choose("edit_evidence").want("evidence").says("b.pdf")
	c.choose("remove_u2").want("evidence")
	if _, ok := c.s.Answers["evidence"]; ok {
		t.Fatalf("nothing attached, yet the answer stays: %v", c.s.Answers)
	}
	if got := values(c.r.Choices); got[0] != "later" {
		t.Fatalf("no files: done still offered: %v", got)
	}
	c.attach(pdf("u3", "c.pdf")).choose("done").want("summary").says("c.pdf (1개)")
	c.choose("submit")
	if cl := c.claims[0]; len(cl.Attachments) != 1 || cl.Attachments[0].ID != "u3" {
		t.Fatalf("attachments %+v", cl.Attachments)
	}
}

func TestFilesOffThePathAreNotFiled(t *testing.T) {
	c := toEvidence(t, "ko")
	c.attach(pdf("u1", "a.pdf")).choose("done").finish()
	c.choose("edit_loss_amount").text("20만원").want("summary") // tier_30k: no evidence asked
	c.choose("submit")
	if cl := c.claims[0]; len(cl.Attachments) != 0 || cl.Answers["evidence"] != nil {
		t.Fatalf("claim %v %+v", cl.Answers, cl.Attachments)
	}
	if got := values(c.r.Choices); !reflect.DeepEqual(got, []string{"restart"}) {
		t.Fatalf("a claim that asked for no files offers %v", got)
	}
}

func TestFileFrameWhereNoFilesAreAsked(t *testing.T) {
	c := newChat(t, "en")
	c.choose("yes").want("reporter_type")
	c.attach(pdf("u1", "a.pdf")).wantInvalid("reporter_type").says("No files are needed here")
	if c.s.Refused != 0 {
		t.Fatalf("a stray file counts as a refusal: %d", c.s.Refused)
	}
}

func TestReturningUserAddsEvidence(t *testing.T) {
	c := toEvidence(t, "ko")
	var evs []*engine.Evidence
	step := func(in engine.Input) {
		t.Helper()
		c.n++
		res, err := c.e.Step(c.s, in, engine.Env{Now: c.now, ClaimID: func() string { return "EV-1" }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Session != nil {
			c.s = res.Session
		}
		c.r = res.Reply
		if res.Evidence != nil {
			evs = append(evs, res.Evidence)
		}
	}
	c.choose("later").finish().choose("submit")
	claimID := c.r.ClaimID
	if got := values(c.r.Choices); !reflect.DeepEqual(got, []string{"attach", "restart"}) {
		t.Fatalf("done after later: choices %v", got)
	}
	// On reconnect the receipt offers it too.
	c.step(engine.Input{Kind: engine.Resume})
	if got := values(c.r.Choices); !reflect.DeepEqual(got, []string{"attach", "restart"}) || c.r.ClaimID != claimID {
		t.Fatalf("resume: %v %q", got, c.r.ClaimID)
	}
	c.choose("attach")
	if c.r.State != "evidence" || c.r.Input != "files" || c.r.Done || c.r.Upload == nil {
		t.Fatalf("attach: %+v", c.r)
	}
	if got := values(c.r.Choices); !reflect.DeepEqual(got, []string{"back"}) {
		t.Fatalf("adding, no file yet: %v", got)
	}
	c.attach(&engine.Attachment{ID: "h", Name: "x.pdf", Type: "text/html"})
	if !c.r.Invalid || !strings.Contains(c.r.Messages[0], "형식") {
		t.Fatalf("html while adding: %+v", c.r)
	}
	step(engine.Input{Kind: engine.Attach, Text: "u9", File: pdf("u9", "확인서.pdf"), State: "evidence"})
	step(engine.Input{Kind: engine.Choose, Text: "done", State: "evidence"})
	if len(evs) != 1 || evs[0].ClaimID != claimID || len(evs[0].Attachments) != 1 || evs[0].ID != "EV-1" || evs[0].User != "u-1" {
		t.Fatalf("evidence %+v", evs)
	}
	if !c.r.Done || c.r.ClaimID != claimID || !strings.Contains(c.r.Messages[0], "1개") {
		t.Fatalf("after done: %+v", c.r)
	}
	// Back leaves without adding anything.
	c.choose("attach").attach(pdf("u10", "b.pdf")).choose("back")
	if !c.r.Done || len(c.s.Files) != 0 || c.s.Adding != "" {
		t.Fatalf("back: %+v %+v", c.r, c.s)
	}
	if len(evs) != 1 {
		t.Fatalf("back posted evidence: %d", len(evs))
	}
	// Restart: a new claim, nothing of the files left.
	c.choose("attach").attach(pdf("u11", "c.pdf")).choose("restart").want("privacy_consent")
	if len(c.s.Files) != 0 || c.s.Adding != "" {
		t.Fatalf("restart kept %+v", c.s)
	}
}

func TestFilesCodec(t *testing.T) {
	for _, s := range tricky {
		r := engine.Reply{Type: "reply", State: "evidence", Input: "files", Messages: []string{s}, Choices: []engine.Choice{{Value: "later", Label: s}},
			Upload: &engine.Upload{URL: engine.UploadPath, MaxFiles: 10, MaxBytes: 20 << 20, Accept: []string{"application/pdf", s}},
			Files:  []engine.FileShown{{ID: s, Name: s, Size: 7}, {ID: "b"}}}
		var got, viaStd engine.Reply
		if err := json.Unmarshal(r.AppendJSON(nil), &got); err != nil {
			t.Fatalf("%q: %v\n%s", s, err, r.AppendJSON(nil))
		}
		std, _ := json.Marshal(r)
		json.Unmarshal(std, &viaStd)
		if !reflect.DeepEqual(got, viaStd) {
			t.Errorf("reply %q: got %+v, encoding/json gives %+v", s, got, viaStd)
		}
		in := &engine.Session{User: "u", Flow: "f", Version: "v", Lang: "ko", Files: []engine.Attachment{*pdf(s, s), {ID: "x"}},
			Late: true, Adding: s, Visited: ",r0," + s, Updated: time.Unix(1, 0).UTC()}
		var sg, ss engine.Session
		if err := json.Unmarshal(in.AppendJSON(nil), &sg); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		std, _ = json.Marshal(in)
		json.Unmarshal(std, &ss)
		if !reflect.DeepEqual(sg, ss) {
			t.Errorf("session %q: got %+v, encoding/json gives %+v", s, sg, ss)
		}
	}
}

func TestFileFrame(t *testing.T) {
	for _, tt := range []struct{ upload, id string }{
		{"/uploads/5d1c", "5d1c"}, {"http://h/uploads/5d1c?x=1", "5d1c"}, {"5d1c", "5d1c"}, {"/uploads/", "uploads"}, {"", ""},
	} {
		in, err := engine.Frame{Type: "file", Upload: tt.upload}.Input()
		if tt.id == "" {
			if err == nil {
				t.Errorf("%q: no error", tt.upload)
			}
			continue
		}
		if err != nil || in.Kind != engine.Attach || in.Text != tt.id {
			t.Errorf("%q: %+v %v", tt.upload, in, err)
		}
	}
	f, err := engine.DecodeFrame([]byte(`{"type":"file","upload":"/uploads/abc","id":"k-1","state":"evidence"}`))
	if err != nil || f.Upload != "/uploads/abc" || f.State != "evidence" {
		t.Fatalf("%+v %v", f, err)
	}
}
