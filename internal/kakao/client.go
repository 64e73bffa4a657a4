package kakao

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client posts skill requests to a skill endpoint as the chatbot builder
// does, for testers: `claimbot chat --kakao URL`.
type Client struct {
	URL  string // the skill endpoint, http://host/kakao/skill
	Key  string // sent as KeyHeader
	User string // userRequest.user.id (the server makes it kakao:<User>)
	Lang string // userRequest.lang; "" for none
	HTTP *http.Client
}

// Send posts one utterance, with the clientExtra of a tapped quick reply
// (nil for typed text), and returns the skill response.
func (c *Client) Send(ctx context.Context, utterance string, extra map[string]string) (Response, error) {
	var req struct {
		UserRequest struct {
			Timezone  string            `json:"timezone"`
			Params    map[string]string `json:"params"`
			Utterance string            `json:"utterance"`
			Lang      *string           `json:"lang"`
			User      struct {
				ID         string         `json:"id"`
				Type       string         `json:"type"`
				Properties map[string]any `json:"properties"`
			} `json:"user"`
		} `json:"userRequest"`
		Action struct {
			Name        string            `json:"name"`
			ClientExtra map[string]string `json:"clientExtra"`
			Params      map[string]any    `json:"params"`
		} `json:"action"`
	}
	u := &req.UserRequest
	u.Timezone, u.Params, u.Utterance = "Asia/Seoul", map[string]string{"surface": "BuilderBotTest"}, utterance
	if c.Lang != "" {
		u.Lang = &c.Lang
	}
	u.User.ID, u.User.Type, u.User.Properties = c.User, "botUserKey", map[string]any{"botUserKey": c.User}
	req.Action.Name, req.Action.ClientExtra, req.Action.Params = "claimbot", extra, map[string]any{}
	body, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // the builder's limit
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(KeyHeader, c.Key)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return Response{}, fmt.Errorf("kakao: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Response{}, fmt.Errorf("kakao: %s answered HTTP %d: %s", c.URL, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out Response
	if err := json.Unmarshal(b, &out); err != nil {
		return Response{}, fmt.Errorf("kakao: response: %w", err)
	}
	return out, nil
}

// Show writes a response as the messenger would show it: the bubbles,
// then the quick replies numbered #1, #2, ….
func Show(w io.Writer, r Response) {
	for _, o := range r.Template.Outputs {
		fmt.Fprintf(w, "bot> %s\n", strings.ReplaceAll(o.SimpleText.Text, "\n", "\n     "))
	}
	if len(r.Template.QuickReplies) > 0 {
		var b strings.Builder
		for i, q := range r.Template.QuickReplies {
			fmt.Fprintf(&b, " [#%d %s]", i+1, q.Label)
		}
		fmt.Fprintf(w, "    %s\n", strings.TrimSpace(b.String()))
	}
}

// Chat runs a terminal conversation through a skill endpoint: a line #N
// taps the N-th quick reply; any other line is typed text.
func (c *Client) Chat(ctx context.Context, in io.Reader, out io.Writer) error {
	fmt.Fprintf(out, "chatting as the builder would with %s (user %s); #N taps a quick reply, Ctrl-D ends\n", c.URL, c.User)
	last, err := c.Send(ctx, "", nil)
	if err != nil {
		return err
	}
	Show(out, last)
	sc := bufio.NewScanner(in)
	for {
		fmt.Fprint(out, "you> ")
		if !sc.Scan() {
			fmt.Fprintln(out)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		utt, extra := line, map[string]string(nil)
		if n, err := strconv.Atoi(strings.TrimPrefix(line, "#")); err == nil && strings.HasPrefix(line, "#") {
			if n < 1 || n > len(last.Template.QuickReplies) {
				fmt.Fprintf(out, "(no quick reply #%d)\n", n)
				continue
			}
			q := last.Template.QuickReplies[n-1]
			utt, extra = q.MessageText, q.Extra
		}
		r, err := c.Send(ctx, utt, extra)
		if err != nil {
			fmt.Fprintf(out, "(%v)\n", err)
			continue
		}
		last = r
		Show(out, last)
	}
}
