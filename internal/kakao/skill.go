package kakao

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/token"
)

// KeyHeader carries the shared key the builder sends with every skill
// request (CLAIMBOT_KAKAO_SKILL_KEY).
const KeyHeader = "X-Claimbot-Skill-Key"

// UserPrefix makes a builder user's claimbot user id: never the same
// session as a banner user.
const UserPrefix = "kakao:"

// Deadline is how long a request may take, well within the builder's 5 s:
// a turn that cannot finish in it answers "please try again" and applies
// nothing (the store's turns have their own, shorter deadline).
const Deadline = 4 * time.Second

// maxBody bounds a skill request's body.
const maxBody = 64 << 10

// maxUserID bounds the builder's user key, so that the claimbot user id
// stays within the webhook's 128 characters.
const maxUserID = 128 - len(UserPrefix)

// Request is the part of the builder's skill payload claimbot reads.
type Request struct {
	UserRequest struct {
		Utterance string `json:"utterance"`
		Lang      string `json:"lang"`
		User      struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"user"`
	} `json:"userRequest"`
	Action struct {
		ClientExtra map[string]any `json:"clientExtra"`
	} `json:"action"`
}

// Handler serves POST /kakao/skill.
type Handler struct {
	Key    string                // the expected KeyHeader value; never empty
	Store  *store.Store          // sessions, as for the web chat
	Engine func() *engine.Engine // the current engine, for texts
	Flow   func() string         // the flow a new conversation starts on
	Log    *slog.Logger          // never given personal data
	// Observe, when set, hears of every turn (metrics).
	Observe func(flow string, res engine.Result, err error, d time.Duration)
	// BannerSecret signs the link a files question offers (a banner
	// token for the builder's user, see LinkTTL); empty (dev mode, whose
	// /chat takes no tokens): no link, and the question says why.
	BannerSecret []byte
	// PublicURL starts the link (CLAIMBOT_PUBLIC_URL); empty: the scheme
	// and host the builder reached the skill on.
	PublicURL string
	Now       func() time.Time // nil: time.Now
	// Touch, when set, hears of the session of every applied turn: the
	// files a session holds (attached on the web page it links to) are
	// kept as long as the session lives.
	Touch func(*engine.Session)
}

// LinkTTL is how long a files question's link opens the web chat: long
// enough to find the documents, short as a link in a chat log should be.
// The texts bot.kakao.files_link say so.
const LinkTTL = 30 * time.Minute

func (h *Handler) authorized(r *http.Request) bool {
	got := r.Header.Get(KeyHeader)
	return h.Key != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.Key)) == 1
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "kakao skill: missing or wrong "+KeyHeader, http.StatusUnauthorized)
		return
	}
	var req Request
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		h.write(w, h.say("ko", "bot.error.bad_frame"))
		return
	}
	lang := "ko"
	if strings.HasPrefix(strings.ToLower(req.UserRequest.Lang), "en") {
		lang = "en"
	}
	id := req.UserRequest.User.ID
	if id == "" || len(id) > maxUserID {
		h.write(w, h.say(lang, "bot.error.bad_frame"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), Deadline)
	defer cancel()
	res, err := h.turn(ctx, UserPrefix+id, lang, req)
	if err != nil {
		if !errors.Is(err, store.ErrUnavailable) {
			h.log().Error("kakao skill: turn failed", "err", err)
		} else {
			h.log().Warn("kakao skill: redis unavailable", "err", err)
		}
		h.write(w, h.say(lang, "bot.error.unavailable"))
		return
	}
	var link string
	if res.Reply.Input == flow.InputFiles.Wire() {
		link = h.link(r, UserPrefix+id, lang, res.Session)
	}
	h.write(w, RenderLink(res.Reply, h.texts(res.Reply, lang, res.Session), link))
}

// link is the link of a files question, which the builder's chat cannot
// take: the web chat page, /chat?t= with a banner token of this builder
// user that expires after LinkTTL, so the page opens the same session
// (same user, flow and language) and its files go to the same question.
// "" when it cannot be made: dev mode, or a token that cannot be signed.
func (h *Handler) link(r *http.Request, user, lang string, s *engine.Session) string {
	if len(h.BannerSecret) == 0 {
		return ""
	}
	flowID := h.Flow()
	if s != nil {
		flowID = s.Flow
		if s.Lang != "" {
			lang = s.Lang
		}
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	tok, err := token.Mint(h.BannerSecret, user, flowID, lang, LinkTTL, now)
	if err != nil {
		h.log().Error("kakao skill: files link: sign", "err", err)
		return ""
	}
	return h.base(r) + "/chat?" + url.Values{"t": {tok}}.Encode()
}

// base is where the web chat is: PublicURL, or the scheme and host the
// builder reached the skill on (https when the request came over TLS or
// a proxy says so).
func (h *Handler) base(r *http.Request) string {
	if h.PublicURL != "" {
		return strings.TrimSuffix(h.PublicURL, "/")
	}
	scheme := "http"
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(proto), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// turn opens the user's conversation and applies the request to it.
func (h *Handler) turn(ctx context.Context, user, lang string, req Request) (engine.Result, error) {
	start := time.Now()
	flowID := h.Flow()
	conv, res, err := h.Store.Open(ctx, user, flowID, lang)
	if err != nil {
		h.observe(flowID, res, err, start)
		return res, err
	}
	in, ok := input(req, res.Reply, h.texts(res.Reply, lang, conv.Session()))
	if s := res.Session; s != nil && s.Epoch == "" && len(s.History) == 0 {
		// A conversation not stored yet (the store gives a session its
		// epoch with its first write): the user has not seen its first
		// question, and what they typed to reach the bot ("안녕하세요")
		// is no answer to it. Typed text that does answer it (네, 상담원)
		// is taken (the engine is pure: trying costs no Redis call);
		// anything else shows the question, and the conversation is
		// stored, so that the next message answers it. "back" at the
		// first question is that: it shows the question again and is
		// written like any applied input.
		if ok && in.Kind == engine.Text {
			dry, err := h.Engine().Step(res.Session, in, engine.Env{Now: time.Now(), ClaimID: func() string { return "" }})
			ok = err == nil && !dry.Reply.Invalid
		}
		if !ok {
			in, ok = engine.Input{Kind: engine.Command, Text: flow.ValueBack, State: res.Reply.State}, true
		}
	}
	if !ok {
		return res, nil
	}
	res, err = conv.Turn(ctx, in)
	h.observe(conv.Flow, res, err, start)
	if err == nil && res.Session != nil && h.Touch != nil {
		h.Touch(res.Session) // applied: the session lives on, and so do its files
	}
	if err == nil && res.Session == nil {
		res.Session = conv.Session()
	}
	return res, err
}

// input is the engine input of a request, answering the reply shown: a
// quick reply's value (with the question it was shown for), a typed
// number that picks from a numbered list, or typed text.
func input(req Request, shown engine.Reply, text Texts) (engine.Input, bool) {
	extra := req.Action.ClientExtra
	if v, _ := extra["value"].(string); v != "" {
		state, _ := extra["state"].(string)
		if state == "" {
			state = shown.State
		}
		return engine.Input{Kind: engine.Choose, Text: v, State: state}, true
	}
	utt := strings.TrimSpace(req.UserRequest.Utterance)
	if utt == "" {
		if req.UserRequest.Utterance == "" {
			return engine.Input{}, false
		}
		// Only white space: typed, and refused, as on the web.
		return engine.Input{Kind: engine.Text, Text: req.UserRequest.Utterance, State: shown.State}, true
	}
	if list := Numbered(shown, text); list != nil {
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(utt, "."), "번")); err == nil && n >= 1 && n <= len(list) {
			return engine.Input{Kind: engine.Choose, Text: list[n-1].Value, State: shown.State}, true
		}
	}
	return engine.Input{Kind: engine.Text, Text: utt, State: shown.State}, true
}

func (h *Handler) observe(flowID string, res engine.Result, err error, start time.Time) {
	if h.Observe != nil {
		h.Observe(flowID, res, err, time.Since(start))
	}
}

// texts looks texts up in the conversation's language.
func (h *Handler) texts(_ engine.Reply, lang string, s *engine.Session) Texts {
	if s != nil && s.Lang != "" {
		lang = s.Lang
	}
	e := h.Engine()
	cat, off := e.Catalog(), false
	flowID := h.Flow()
	if s != nil {
		flowID = s.Flow
	}
	if f := e.Flow(flowID); f != nil {
		off = f.Handoff.Off
	}
	return func(id string) string {
		if off && id == "bot.choice.handoff" {
			return ""
		}
		return cat.Text(lang, id, nil)
	}
}

// say is a response of one text.
func (h *Handler) say(lang, id string) Response {
	return Response{Version: "2.0", Template: Template{Outputs: []Output{{SimpleText: SimpleText{Text: h.Engine().Catalog().Text(lang, id, nil)}}}}}
}

func (h *Handler) write(w http.ResponseWriter, resp Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "kakao skill: encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
