package convo

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/kakao"
)

// Kakao runs scripts through a skill endpoint (POST /kakao/skill), as the
// messenger's chatbot builder would send them: claimbot test --kakao URL.
// A choice is a tap on its quick reply, or, for a question whose choices
// are numbered, its number typed; a command is its quick reply. The skill
// serves its default flow only, and claims are not checked.
type Kakao struct {
	url, key, defaultFlow string
}

// NewKakao makes the backend; defaultFlow is the endpoint's (scripts that
// name another flow fail).
func NewKakao(url, key, defaultFlow string) (*Kakao, error) {
	if url == "" || key == "" {
		return nil, errors.New("convo: --kakao needs the endpoint's URL and its skill key (CLAIMBOT_KAKAO_SKILL_KEY)")
	}
	if defaultFlow == "" {
		defaultFlow = "damage-1015"
	}
	return &Kakao{url: url, key: key, defaultFlow: defaultFlow}, nil
}

// DefaultFlow is the flow the endpoint serves.
func (k *Kakao) DefaultFlow() string { return k.defaultFlow }

// Close does nothing.
func (k *Kakao) Close() error { return nil }

// Driver starts a conversation of a builder user.
func (k *Kakao) Driver(ctx context.Context, user, flowID, lang string) (Driver, error) {
	if flowID != "" && flowID != k.defaultFlow {
		return nil, errors.New("convo: the skill endpoint serves only its default flow " + k.defaultFlow + ", not " + flowID)
	}
	return &kakaoDriver{c: &kakao.Client{URL: k.url, Key: k.key, User: user, Lang: lang}}, nil
}

type kakaoDriver struct {
	c    *kakao.Client
	last kakao.Response
}

func (d *kakaoDriver) Open(ctx context.Context) (Reply, error) {
	return d.send(ctx, "", nil)
}

func (d *kakaoDriver) Send(ctx context.Context, f Frame) (Reply, error) {
	switch f.Type {
	case "text":
		return d.send(ctx, f.Text, nil)
	case "choice", "command":
		value := f.Value
		if f.Type == "command" {
			value = f.Name
		}
		for _, q := range d.last.Template.QuickReplies {
			if q.Extra["value"] == value {
				return d.send(ctx, q.MessageText, q.Extra)
			}
		}
		if data := d.last.Data; data != nil {
			n := 0
			for _, c := range data.Choices {
				if c.Value == flow.ValueBack || c.Value == flow.ValueRestart || c.Value == flow.ValueHandoff {
					continue
				}
				n++
				if c.Value == value {
					return d.send(ctx, strconv.Itoa(n), nil) // a numbered choice, typed
				}
			}
		}
		// Not offered: sent as the builder would send a stale button.
		state := ""
		if d.last.Data != nil {
			state = d.last.Data.State
		}
		return d.send(ctx, value, map[string]string{"value": value, "state": state})
	}
	return Reply{}, errors.New("convo: the skill endpoint takes no " + f.Type + " frames")
}

func (d *kakaoDriver) send(ctx context.Context, utterance string, extra map[string]string) (Reply, error) {
	r, err := d.c.Send(ctx, utterance, extra)
	if err != nil {
		return Reply{}, err
	}
	d.last = r
	var msgs []string
	for _, o := range r.Template.Outputs {
		msgs = append(msgs, o.SimpleText.Text)
	}
	rep := engine.Reply{Type: "reply", Messages: msgs}
	if data := r.Data; data != nil {
		rep.State, rep.Field, rep.Input, rep.Choices = data.State, data.Field, data.Input, data.Choices
		rep.Invalid, rep.Done, rep.ClaimID = data.Invalid, data.Done, data.ClaimID
	} else {
		rep.Type, rep.Messages = "error", nil
		return Reply{Reply: rep}, errors.New("convo: the skill answered: " + strings.Join(msgs, " "))
	}
	return Reply{Reply: rep}, nil
}

// Claim is not checked through the skill endpoint.
func (d *kakaoDriver) Claim(ctx context.Context, claimID string) (map[string]any, bool, error) {
	return nil, false, nil
}

func (d *kakaoDriver) Close() error { return nil }
