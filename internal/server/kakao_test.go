package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/kakao"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/webhook"
)

const skillKey = "skill-key-for-tests-0123456789"

// withKakaoKey turns the skill endpoint on; with uploads on, the server
// listens where CLAIMBOT_PUBLIC_URL says (withPublicAddr), so the files
// question's link opens this server.
func withKakaoKey(k string) option {
	return func(c *config.Config) {
		c.KakaoSkillKey = k
		if c.PublicURL != "" {
			withPublicAddr(c)
		}
	}
}

// skillBody is a skill request as the builder sends it from a channel
// chat (user type botUserKey, surface Kakaotalk.plusfriend); extra is the
// tapped quick reply's, or "" for typed text.
func skillBody(user, utterance, extra string) string {
	if extra == "" {
		extra = "{}"
	}
	return fmt.Sprintf(`{
  "intent": {"id": "5f1e2d3c4b5a69788796a5b4", "name": "폴백 블록"},
  "userRequest": {
    "timezone": "Asia/Seoul",
    "params": {"ignoreMe": "true", "surface": "Kakaotalk.plusfriend"},
    "block": {"id": "5f1e2d3c4b5a69788796a5b4", "name": "폴백 블록"},
    "utterance": %q,
    "lang": "ko",
    "user": {"id": %q, "type": "botUserKey", "properties": {"botUserKey": %q, "isFriend": true, "plusfriendUserKey": "Qk9tS2xh"}}
  },
  "bot": {"id": "5f1e2d3c4b5a697887960001", "name": "장애 피해 접수"},
  "action": {"name": "claimbot", "clientExtra": %s, "params": {}, "id": "5f1e2d3c4b5a697887960002", "detailParams": {}}
}`, utterance, user, user, extra)
}

// builderTestBody is a request from the builder's own test chat.
func builderTestBody(user, utterance string) string {
	return fmt.Sprintf(`{"intent":{"id":"b1","name":"폴백 블록"},"userRequest":{"timezone":"Asia/Seoul","params":{"ignoreMe":"true","surface":"BuilderBotTest"},"block":{"id":"b1","name":"폴백 블록"},"utterance":%q,"lang":null,"user":{"id":%q,"type":"botUserKey","properties":{"botUserKey":%q}}},"bot":{"id":"b2","name":"장애 피해 접수"},"action":{"name":"claimbot","clientExtra":null,"params":{},"id":"b3","detailParams":{}}}`,
		utterance, user, user)
}

func postSkill(t *testing.T, url, key, body string) (int, kakao.Response, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/kakao/skill", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(kakao.KeyHeader, key)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	b, _ := io.ReadAll(resp.Body)
	var out kakao.Response
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("response %s: %v", b, err)
		}
	}
	return resp.StatusCode, out, took
}

func skillText(r kakao.Response) string {
	var parts []string
	for _, o := range r.Template.Outputs {
		parts = append(parts, o.SimpleText.Text)
	}
	return strings.Join(parts, "\n")
}

// tap is the clientExtra of the quick reply with that value.
func tap(t *testing.T, r kakao.Response, value string) (label, extra string) {
	t.Helper()
	for _, q := range r.Template.QuickReplies {
		if q.Extra["value"] == value {
			b, _ := json.Marshal(q.Extra)
			return q.MessageText, string(b)
		}
	}
	t.Fatalf("no quick reply %s in %+v (%s)", value, r.Template.QuickReplies, skillText(r))
	return "", ""
}

// A whole small-business claim through the skill endpoint, with literal
// request bodies: quick-reply taps, typed answers, the service answered by
// number, a handoff on the way; the claim is delivered for kakao:<id>.
func TestKakaoSkillFullClaim(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	url := e.run.URL()
	const user = "a1b2c3d4e5f6g7h8i9"
	send := func(utterance, extra string) kakao.Response {
		t.Helper()
		code, r, took := postSkill(t, url, skillKey, skillBody(user, utterance, extra))
		if code != http.StatusOK || took > 5*time.Second {
			t.Fatalf("%q: HTTP %d in %v", utterance, code, took)
		}
		return r
	}
	r := send("피해 접수", "")
	if !strings.Contains(skillText(r), "개인정보") {
		t.Fatalf("first reply: %s", skillText(r))
	}
	r = send(tap(t, r, "yes"))
	r = send(tap(t, r, "small_business"))
	if !strings.Contains(skillText(r), "1. 메신저") || !strings.Contains(skillText(r), "11. ") {
		t.Fatalf("service question not numbered: %s", skillText(r))
	}
	r = send("3", "") // 택시
	if !strings.Contains(skillText(r), "피해") {
		t.Fatalf("after the service: %s", skillText(r))
	}
	r = send(tap(t, r, "free_monetary"))
	r = send("행복분식", "")
	r = send("220-81-62517", "")
	// Asking for a person on the way, by typing.
	r = send("상담원 연결", "")
	if !strings.Contains(skillText(r), "전화드릴 번호") {
		t.Fatalf("handoff: %s", skillText(r))
	}
	r = send("010 5555 1234", "")
	if !strings.Contains(skillText(r), "010-5555-1234") {
		t.Fatalf("call back: %s", skillText(r))
	}
	for _, typed := range []string{"25만원", "owner@example.com", "010-5555-1234", "채널 주문 누락", "10월 15일 저녁 주문 알림이 오지 않았습니다."} {
		r = send(typed, "")
	}
	if !strings.Contains(skillText(r), "행복분식") {
		t.Fatalf("not at the summary: %s", skillText(r))
	}
	r = send(tap(t, r, "submit"))
	if !strings.Contains(skillText(r), "접수번호") {
		t.Fatalf("submit: %s", skillText(r))
	}
	acc := e.recv.WaitAccepted(t, 2, 10*time.Second)
	var handoff webhook.HandoffEvent
	var claim webhook.Event
	for _, a := range acc {
		if err := webhook.ValidateBody(a.Body); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(a.Body, []byte(webhook.EventHandoffRequested)) {
			json.Unmarshal(a.Body, &handoff)
		} else {
			json.Unmarshal(a.Body, &claim)
		}
	}
	if handoff.Data.UserID != "kakao:"+user || handoff.Data.State != "loss_amount" || handoff.Data.Phone != "010-5555-1234" {
		t.Errorf("handoff %+v", handoff.Data)
	}
	if claim.Data.UserID != "kakao:"+user || claim.Data.Answers["service"] != "taxi" || claim.Data.Answers["support_tier"] != "tier_30k" {
		t.Errorf("claim %+v", claim.Data)
	}
	// A banner user of the same id is another conversation.
	c := e.dial(user)
	if c.last.Field != "privacy_consent" {
		t.Errorf("the banner user %s shares the kakao session: %+v", user, c.last)
	}
}

// The builder's test chat (lang null, no clientExtra) gets the same
// conversation rules; a tap on an old quick reply is not taken for another
// question.
func TestKakaoSkillBuilderTestUser(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	const user = "builder-test-user-0001"
	_, r, _ := postSkill(t, e.run.URL(), skillKey, builderTestBody(user, "안녕하세요"))
	if !strings.Contains(skillText(r), "개인정보") {
		t.Fatalf("first: %s", skillText(r))
	}
	_, old := tap(t, r, "yes")
	_, r, _ = postSkill(t, e.run.URL(), skillKey, builderTestBody(user, "네"))
	if !strings.Contains(skillText(r), "어떤 분으로") {
		t.Fatalf("typed yes: %s", skillText(r))
	}
	// The consent button tapped again: the reporter question is shown again, nothing applied to it.
	_, r, _ = postSkill(t, e.run.URL(), skillKey, skillBody(user, "네", old))
	if !strings.Contains(skillText(r), "어떤 분으로") || strings.Contains(skillText(r), "다시") {
		t.Fatalf("stale tap: %s", skillText(r))
	}
}

// Without the key, or with a wrong one: 401 and nothing applied. Without a
// configured key the endpoint is not there.
func TestKakaoSkillUnauthorized(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	const user = "unauthorized-user"
	for _, key := range []string{"", "wrong-key", skillKey + "x", skillKey[:len(skillKey)-1]} {
		if code, _, _ := postSkill(t, e.run.URL(), key, skillBody(user, "네", `{"value":"yes","state":"privacy_consent"}`)); code != http.StatusUnauthorized {
			t.Errorf("key %q: HTTP %d, want 401", key, code)
		}
	}
	n, err := e.redis.Client(t).Exists(context.Background(), shard.Session("kakao:"+user, "damage-1015")).Result()
	if err != nil || n != 0 {
		t.Errorf("a session was written: %d %v", n, err)
	}
	off := startEnv(t)
	if code, _, _ := postSkill(t, off.run.URL(), skillKey, skillBody(user, "네", "")); code != http.StatusNotFound {
		t.Errorf("without CLAIMBOT_KAKAO_SKILL_KEY: HTTP %d, want 404", code)
	}
}

// A frozen Redis: an answer within 5 s asking to try again, nothing
// applied, also after Redis wakes.
func TestKakaoSkillRedisFrozen(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	if !e.redis.Real {
		t.Skip("needs a real redis-server")
	}
	const user = "frozen-user"
	postSkill(t, e.run.URL(), skillKey, skillBody(user, "시작", ""))
	_, r, _ := postSkill(t, e.run.URL(), skillKey, skillBody(user, "네", `{"value":"yes","state":"privacy_consent"}`))
	if !strings.Contains(skillText(r), "어떤 분으로") {
		t.Fatalf("consent: %s", skillText(r))
	}
	e.redis.Freeze()
	code, r, took := postSkill(t, e.run.URL(), skillKey, skillBody(user, "소상공인", `{"value":"small_business","state":"reporter_type"}`))
	if code != http.StatusOK || took > 5*time.Second || !strings.Contains(skillText(r), "잠시 뒤에 다시") || len(r.Template.Outputs) != 1 {
		t.Fatalf("frozen: HTTP %d in %v: %s", code, took, skillText(r))
	}
	e.redis.Thaw()
	time.Sleep(500 * time.Millisecond)
	_, r, _ = postSkill(t, e.run.URL(), skillKey, skillBody(user, "", ""))
	if !strings.Contains(skillText(r), "어떤 분으로") || strings.Contains(skillText(r), "지금 입력된 답") {
		t.Fatalf("after thaw, the reporter answer was applied: %s", skillText(r))
	}
}

// Handoff through the skill before consent: the customer centre only, no
// phone asked, no event; the consent question stays.
func TestKakaoSkillHandoffBeforeConsent(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	const user = "handoff-early-kakao"
	_, r, _ := postSkill(t, e.run.URL(), skillKey, skillBody(user, "상담원", ""))
	if !strings.Contains(skillText(r), "고객센터") || !strings.Contains(skillText(r), "개인정보") || strings.Contains(skillText(r), "전화드릴 번호") {
		t.Fatalf("typed 상담원 first: %s", skillText(r))
	}
	label, extra := tap(t, r, "handoff")
	_, r, _ = postSkill(t, e.run.URL(), skillKey, skillBody(user, label, extra))
	if !strings.Contains(skillText(r), "고객센터") || !strings.Contains(skillText(r), "동의하시나요") {
		t.Fatalf("tapped handoff: %s", skillText(r))
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(e.recv.Attempts()); n != 0 {
		t.Fatalf("%d deliveries before consent", n)
	}
	label, extra = tap(t, r, "yes")
	_, r, _ = postSkill(t, e.run.URL(), skillKey, skillBody(user, label, extra))
	if !strings.Contains(skillText(r), "어떤 분으로") {
		t.Fatalf("consent after: %s", skillText(r))
	}
}

// claimbot chat --kakao: the terminal chat shows the bubbles and numbered
// quick replies; #N taps one, other lines are typed.
func TestKakaoChatClient(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	var out bytes.Buffer
	c := &kakao.Client{URL: e.run.URL() + "/kakao/skill", Key: skillKey, User: "terminal-user"}
	if err := c.Chat(context.Background(), strings.NewReader("#1\n소상공인\n11\n"), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"bot> 안녕하세요", "[#1 동의합니다]", "어떤 분으로", "1. 메신저", "[#11", "어떤 피해인가요"} {
		if want == "[#11" {
			if strings.Contains(got, want) {
				t.Errorf("more than 10 quick replies shown:\n%s", got)
			}
			continue
		}
		if !strings.Contains(got, want) {
			t.Errorf("chat output lacks %q:\n%s", want, got)
		}
	}
	bad := &kakao.Client{URL: e.run.URL() + "/kakao/skill", Key: "wrong", User: "terminal-user"}
	if err := bad.Chat(context.Background(), strings.NewReader(""), &out); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}
}

// A body the builder would never send still gets a 200 skill response
// with a clear text, and nothing applied.
func TestKakaoSkillBadRequests(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	for name, body := range map[string]string{
		"not JSON":      "{",
		"no user":       `{"userRequest":{"utterance":"네","user":{"type":"botUserKey"}},"action":{"clientExtra":null}}`,
		"user too long": skillBody(strings.Repeat("u", 200), "네", ""),
	} {
		code, r, _ := postSkill(t, e.run.URL(), skillKey, body)
		if code != http.StatusOK || !strings.Contains(skillText(r), "이해하지 못했어요") || len(r.Template.Outputs) != 1 {
			t.Errorf("%s: HTTP %d %+v", name, code, r)
		}
	}
	keys, err := e.redis.Client(t).Keys(context.Background(), "*kakao:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys written: %v %v", keys, err)
	}
}

// toEvidence takes a builder user through the skill to the small
// business's files question (a loss over 500,000 KRW).
func toEvidence(t *testing.T, url, user string) kakao.Response {
	t.Helper()
	send := func(utterance, extra string) kakao.Response {
		t.Helper()
		code, r, took := postSkill(t, url, skillKey, skillBody(user, utterance, extra))
		if code != http.StatusOK || took > 5*time.Second {
			t.Fatalf("%q: HTTP %d in %v", utterance, code, took)
		}
		return r
	}
	r := send("피해 접수", "")
	r = send(tap(t, r, "yes"))
	r = send(tap(t, r, "small_business"))
	r = send("3", "")
	r = send(tap(t, r, "free_monetary"))
	for _, typed := range []string{"행복분식", "220-81-62517", "60만원"} {
		r = send(typed, "")
	}
	if r.Data == nil || r.Data.State != "evidence" || r.Data.Input != "files" {
		t.Fatalf("not at the files question: %+v %s", r.Data, skillText(r))
	}
	return r
}

// The files question through the skill: later as a quick reply and a
// short-lived link, signed for this builder user only, that opens the web
// chat page on the same session: its cookie is kakao:<id>'s, and the
// WebSocket on it resumes at the files question. later through the skill
// goes on.
func TestKakaoSkillFilesLink(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	url := e.run.URL()
	const user = "files-link-user-77"
	before := time.Now()
	r := toEvidence(t, url, user)
	link := r.Data.Link
	last := r.Template.Outputs[len(r.Template.Outputs)-1].SimpleText.Text
	// The link starts with CLAIMBOT_PUBLIC_URL; the test opens it here.
	pub := e.cfg.PublicURL
	if !strings.HasPrefix(link, pub+"/chat?t=") || !strings.HasSuffix(last, "\n"+link) {
		t.Fatalf("link %q, last bubble %q", link, last)
	}
	tap(t, r, "later")
	raw := strings.TrimPrefix(link, pub+"/chat?t=")
	c, err := token.Verify([]byte(bannerSecret), raw, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	exp := c.ExpiresAt.Time
	if c.User() != "kakao:"+user || c.Flow != "damage-1015" || c.Language() != "ko" ||
		exp.Before(before.Add(kakao.LinkTTL).Truncate(time.Second)) || exp.After(time.Now().Add(kakao.LinkTTL)) {
		t.Errorf("link token: sub %q flow %q lang %q exp %v", c.User(), c.Flow, c.Lang, exp)
	}
	if _, err := token.Verify([]byte(bannerSecret), raw, time.Now().Add(kakao.LinkTTL+time.Second)); err == nil {
		t.Error("the link still opens after its TTL")
	}

	// A browser opens the link: a session cookie for kakao:<id>, and the
	// token leaves the address bar.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(url + strings.TrimPrefix(link, pub))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" || resp.Request.URL.Path != "/chat" {
		t.Fatalf("opening the link: HTTP %d at %s", resp.StatusCode, resp.Request.URL)
	}
	var cookie *http.Cookie
	for _, ck := range jar.Cookies(resp.Request.URL) {
		if ck.Name == "claimbot_session" {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	id, err := token.Verify(token.CookieKey([]byte(bannerSecret)), cookie.Value, time.Now())
	if err != nil || id.User() != "kakao:"+user {
		t.Fatalf("cookie for %v (%v), want kakao:%s", id, err, user)
	}
	ws := dialURL(t, "ws://"+e.run.Addr+"/ws", http.Header{"Cookie": {cookie.String()}})
	if ws.last.State != "evidence" || ws.last.Input != "files" {
		t.Fatalf("the web chat did not resume at the files question: %+v", ws.last)
	}
	ws.ws.Close()

	// later through the skill goes on to the email question.
	label, extra := tap(t, r, "later")
	_, r, _ = postSkill(t, url, skillKey, skillBody(user, label, extra))
	if r.Data == nil || r.Data.State != "email" || r.Data.Link != "" {
		t.Fatalf("after later: %+v %s", r.Data, skillText(r))
	}
}

// Dev mode has no banner tokens, and its /chat opens an anonymous user:
// the files question gives no link and says why; later still goes on.
func TestKakaoSkillFilesNoLinkInDevMode(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey), func(c *config.Config) { c.BannerSecret = "" })
	r := toEvidence(t, e.run.URL(), "dev-files-user")
	if txt := skillText(r); r.Data.Link != "" || strings.Contains(txt, "/chat") || !strings.Contains(txt, "개발 모드") {
		t.Fatalf("dev mode: link %q, text %s", r.Data.Link, txt)
	}
	label, extra := tap(t, r, "later")
	_, r, _ = postSkill(t, e.run.URL(), skillKey, skillBody("dev-files-user", label, extra))
	if r.Data == nil || r.Data.State != "email" {
		t.Fatalf("after later: %+v %s", r.Data, skillText(r))
	}
}

// claimbot chat --kakao shows the files question's link and its later
// button; typing a short label ("무료 서비스") picks its choice.
func TestKakaoChatClientFilesLink(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	var out bytes.Buffer
	c := &kakao.Client{URL: e.run.URL() + "/kakao/skill", Key: skillKey, User: "terminal-files-user"}
	in := "#1\n소상공인\n3\n무료 서비스\n행복분식\n220-81-62517\n60만원\n"
	if err := c.Chat(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"[#1 유료 서비스] [#2 무료 서비스] [#3 금전 피해 없음]", "상호", "bot> 이 채팅에서는 파일을 받을 수 없어요", e.run.URL() + "/chat?t=ey", "나중에 낼게요]"} {
		if !strings.Contains(got, want) {
			t.Errorf("chat output lacks %q:\n%s", want, got)
		}
	}
}

// TestBrowserKakaoFilesLink opens the skill's files link in a real
// browser: the web chat page comes up on the builder user's own session at
// the files question, the token leaves the address bar, and what the page
// answers (later) is where the messenger's chat goes on.
func TestBrowserKakaoFilesLink(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	const user = "browser-files-link-user"
	r := toEvidence(t, e.run.URL(), user)
	b := newBrowser(t, "kakao-files-link")
	b.do(chromedp.Navigate(r.Data.Link))
	first := b.waitGreeting()
	if first.State != "evidence" || first.Input != "files" {
		t.Fatalf("the page opened at %+v, want the files question", first)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS(`#choices button.choice[data-value="later"]`)))
	if href := run(b, chromedp.Location()); strings.Contains(href, "t=") {
		t.Errorf("the token is still in the address bar: %s", href)
	}
	if got := b.sessionUser(e.run.URL()); got != "kakao:"+user {
		t.Errorf("the page's session is %q's, want kakao:%s", got, user)
	}
	b.shot("evidence")
	expectReply(t, "later on the page", b.choose("later"), "email")
	_, r, _ = postSkill(t, e.run.URL(), skillKey, skillBody(user, "", ""))
	if r.Data == nil || r.Data.State != "email" {
		t.Fatalf("the messenger's chat after the page's answer: %+v %s", r.Data, skillText(r))
	}
}

// A returning user adding files to the claim they filed through the
// skill: the "add files" reply offers back (no later there) and the link,
// which opens the web chat on that session, adding files to that claim.
func TestKakaoSkillAddingFilesLink(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	url := e.run.URL()
	const user = "adding-files-user"
	r := toEvidence(t, url, user)
	send := func(utterance, extra string) kakao.Response {
		t.Helper()
		_, r, _ := postSkill(t, url, skillKey, skillBody(user, utterance, extra))
		return r
	}
	r = send(tap(t, r, "later"))
	for _, typed := range []string{"owner@example.com", "010-5555-1234", "증빙은 나중에", "10월 15일 주문 알림이 오지 않았습니다."} {
		r = send(typed, "")
	}
	r = send(tap(t, r, "submit"))
	if r.Data == nil || !r.Data.Done || r.Data.ClaimID == "" || r.Data.Link != "" {
		t.Fatalf("submit: %+v %s", r.Data, skillText(r))
	}
	r = send(tap(t, r, "attach"))
	if r.Data == nil || r.Data.Input != "files" || !strings.HasPrefix(r.Data.Link, e.cfg.PublicURL+"/chat?t=") ||
		!strings.Contains(skillText(r), r.Data.Link) || !strings.Contains(skillText(r), r.Data.ClaimID) {
		t.Fatalf("adding files: %+v %s", r.Data, skillText(r))
	}
	tap(t, r, "back")
	for _, q := range r.Template.QuickReplies {
		if q.Extra["value"] == "later" {
			t.Errorf("adding files offers later")
		}
	}
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar}).Get(url + strings.TrimPrefix(r.Data.Link, e.cfg.PublicURL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := http.Header{}
	for _, ck := range jar.Cookies(resp.Request.URL) {
		h.Add("Cookie", ck.String())
	}
	ws := dialURL(t, "ws://"+e.run.Addr+"/ws", h)
	if ws.last.Input != "files" || ws.last.State != "evidence" || !contains(ws.last.Messages, r.Data.ClaimID) {
		t.Fatalf("the web chat did not resume adding files to %s: %+v", r.Data.ClaimID, ws.last)
	}
}
