package kakao_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/kakao"
)

// evidenceReply is the files question of damage-1015 in lang, as the
// engine asks it.
func evidenceReply(t *testing.T, e *engine.Engine, lang string) engine.Reply {
	t.Helper()
	f := e.Flow("damage-1015")
	s := engine.NewSession("kakao:u", f.ID, lang)
	s.Version, s.State = f.Version, "evidence"
	s.Answers = map[string]any{"privacy_consent": true, "reporter_type": "small_business", "service": "taxi", "damage_type": "free_monetary",
		"business_name": "행복분식", "business_number": "220-81-62517", "loss_amount": int64(600000), "support_tier": "evidence_review"}
	s.History = []string{"privacy_consent", "reporter_type", "service", "damage_type", "business_name", "business_number", "loss_amount"}
	res, err := e.Step(s, engine.Input{Kind: engine.Resume}, env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply.Input != "files" || res.Reply.State != "evidence" {
		t.Fatalf("not the files question: %+v", res.Reply)
	}
	return res.Reply
}

// A files question, which the builder's chat cannot take, offers later as
// a quick reply and, in its own last bubble, the link to the web chat
// page; the link is never cut short, however long the messages.
func TestRenderFilesLink(t *testing.T) {
	e := loadEngine(t)
	link := "https://claims.example.com/chat?t=" + strings.Repeat("eyJhbGciOiJIUzI1NiJ9.", 15)
	for _, lang := range []string{"ko", "en"} {
		text := textsOf(e, lang)
		r := evidenceReply(t, e, lang)
		for _, msgs := range [][]string{r.Messages, {strings.Repeat("가", 999), strings.Repeat("나", 999), strings.Repeat("다", 999), "라"}} {
			r.Messages = msgs
			resp := kakao.RenderLink(r, text, link)
			checkLimits(t, r, resp, text)
			out := resp.Template.Outputs
			last := out[len(out)-1].SimpleText.Text
			if !strings.HasSuffix(last, "\n"+link) || !strings.HasPrefix(last, text("bot.kakao.files_link")) {
				t.Errorf("%s: last bubble %q, want the link text and the whole link", lang, last)
			}
			if resp.Data == nil || resp.Data.Link != link || resp.Data.Input != "files" {
				t.Errorf("%s: data %+v", lang, resp.Data)
			}
			later := false
			for _, q := range resp.Template.QuickReplies {
				later = later || (q.Extra["value"] == "later" && q.Extra["state"] == "evidence")
			}
			if !later {
				t.Errorf("%s: no later quick reply: %+v", lang, resp.Template.QuickReplies)
			}
			// The terminal chat (claimbot chat --kakao) shows the link.
			var b bytes.Buffer
			kakao.Show(&b, resp)
			if !strings.Contains(b.String(), link) {
				t.Errorf("%s: claimbot chat --kakao does not show the link:\n%s", lang, b.String())
			}
		}
		// No link (dev mode): the last bubble says why, and later stays.
		r = evidenceReply(t, e, lang)
		resp := kakao.RenderLink(r, text, "")
		checkLimits(t, r, resp, text)
		last := resp.Template.Outputs[len(resp.Template.Outputs)-1].SimpleText.Text
		if last != text("bot.kakao.files_nolink") || strings.Contains(last, "http") || resp.Data.Link != "" {
			t.Errorf("%s: without a link: %q %+v", lang, last, resp.Data)
		}
		if t.Failed() {
			t.Logf("%+v", resp)
		}
	}
	// Other questions get no link.
	text := textsOf(e, "ko")
	r := engine.Reply{Type: "reply", State: "title", Field: "title", Input: "text", Messages: []string{"제목?"}}
	if resp := kakao.RenderLink(r, text, link); strings.Contains(resp.Template.Outputs[0].SimpleText.Text, link) || resp.Data.Link != "" {
		t.Errorf("a text question shows the link: %+v", resp)
	}
}

// A choice's short label is its quick reply's label: damage-1015's damage
// types, whose labels are longer than 14 characters, are buttons (not a
// numbered list) in both languages, and the full labels stay in the data.
func TestRenderShortLabels(t *testing.T) {
	e := loadEngine(t)
	want := map[string]string{"ko": "paid=유료 서비스,free_monetary=무료 서비스,non_monetary=금전 피해 없음",
		"en": "paid=Paid service,free_monetary=Free service,non_monetary=No money lost"}
	for _, lang := range []string{"ko", "en"} {
		text := textsOf(e, lang)
		s := engine.NewSession("kakao:u", "damage-1015", lang)
		res, _ := e.Step(s, engine.Input{Kind: engine.Resume}, env)
		for _, v := range []string{"yes", "general", "messenger"} {
			res, _ = e.Step(res.Session, engine.Input{Kind: engine.Choose, Text: v}, env)
		}
		r := res.Reply
		if r.Field != "damage_type" {
			t.Fatalf("%s: not the damage type: %+v", lang, r)
		}
		resp := kakao.Render(r, text)
		checkLimits(t, r, resp, text)
		if kakao.Numbered(r, text) != nil {
			t.Errorf("%s: the damage types are numbered: %s", lang, resp.Template.Outputs)
		}
		var got []string
		for _, q := range resp.Template.QuickReplies[:3] {
			got = append(got, q.Extra["value"]+"="+q.Label)
			if q.MessageText != q.Label {
				t.Errorf("%s: message text %q", lang, q.MessageText)
			}
		}
		if strings.Join(got, ",") != want[lang] {
			t.Errorf("%s: quick replies %v, want %s", lang, got, want[lang])
		}
		for _, c := range resp.Data.Choices {
			if c.Value == "non_monetary" && utf8.RuneCountInString(c.Label) <= kakao.MaxLabel {
				t.Errorf("%s: data lost the full label: %+v", lang, c)
			}
		}
	}
}
