package convo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/webhook"
)

// replyWait bounds the wait for one reply of a running server.
const replyWait = 15 * time.Second

// RemoteOptions configure a backend that talks to a running server.
type RemoteOptions struct {
	URL string // ws://host/ws (http:// and a missing /ws are accepted)
	// TokenSecret mints a banner token per conversation (?t=); empty uses
	// dev mode's ?user=&lang=&flow=.
	TokenSecret string
	// WebhookListen runs a receiver there that the server posts claims
	// to, verified with WebhookSecret; without it claims are not checked
	// and WebhookSecret is ignored (it may come from the environment).
	WebhookListen string
	WebhookSecret string
	// WebhookListener, when set, is used instead of listening on
	// WebhookListen (tests listen first to know the address).
	WebhookListener net.Listener
	DefaultFlow     string // only for reports; the server picks its own
	Logger          *slog.Logger
}

// Remote runs conversations against a running server over its WebSocket.
type Remote struct {
	url         *url.URL
	secret      []byte
	recv        *webhook.DevReceiver
	srv         *http.Server
	addr        string
	defaultFlow string
}

// NewRemote checks the options and starts the webhook receiver, if any.
func NewRemote(opt RemoteOptions) (*Remote, error) {
	u, err := WebSocketURL(opt.URL)
	if err != nil {
		return nil, err
	}
	r := &Remote{url: u, defaultFlow: opt.DefaultFlow}
	if opt.TokenSecret != "" {
		r.secret = []byte(opt.TokenSecret)
	}
	listen := opt.WebhookListen != "" || opt.WebhookListener != nil
	if listen && opt.WebhookSecret == "" {
		return nil, errors.New("convo: --webhook-listen needs --webhook-secret (or CLAIMBOT_WEBHOOK_SECRET): the server's signing secret")
	}
	if listen {
		secret, err := webhook.ParseSecret(opt.WebhookSecret)
		if err != nil {
			return nil, fmt.Errorf("convo: webhook secret: %w", err)
		}
		ln := opt.WebhookListener
		if ln == nil {
			if ln, err = net.Listen("tcp", opt.WebhookListen); err != nil {
				return nil, fmt.Errorf("convo: webhook listen: %w", err)
			}
		}
		logger := opt.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		r.recv = webhook.NewDevReceiver(secret, logger)
		r.srv = &http.Server{Handler: r.recv, ReadHeaderTimeout: 10 * time.Second}
		r.addr = ln.Addr().String()
		go r.srv.Serve(ln)
	}
	return r, nil
}

// WebSocketURL reads ws://host/ws; http(s):// becomes ws(s):// and an
// empty path /ws.
func WebSocketURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("convo: --url: want ws://host:port/ws, got %q", raw)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("convo: --url: want ws://host:port/ws, got %q", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	return u, nil
}

// WebhookAddr is where the receiver listens ("" when none): the server's
// CLAIMBOT_WEBHOOK_URL is http://<addr>/.
func (r *Remote) WebhookAddr() string { return r.addr }

// DefaultFlow is the flow of scripts that name none, as far as known.
func (r *Remote) DefaultFlow() string { return r.defaultFlow }

// TakesFiles: files are uploaded to the server's /uploads/ (CONTRACT §7).
func (r *Remote) TakesFiles() bool { return true }

// Close stops the receiver.
func (r *Remote) Close() error {
	if r.srv != nil {
		return r.srv.Close()
	}
	return nil
}

// Driver prepares a conversation; Open dials.
func (r *Remote) Driver(ctx context.Context, user, flowID, lang string) (Driver, error) {
	u := *r.url
	q := u.Query()
	if r.secret != nil {
		t, err := token.Mint(r.secret, user, flowID, lang, time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		q.Set("t", t)
	} else {
		q.Set("user", user)
		if lang != "" {
			q.Set("lang", lang)
		}
		if flowID != "" {
			q.Set("flow", flowID)
		}
	}
	u.RawQuery = q.Encode()
	// Uploads are authenticated as the WebSocket is: the same token, or
	// dev mode's user.
	auth := url.Values{}
	if t := q.Get("t"); t != "" {
		auth.Set("t", t)
	} else {
		auth.Set("user", user)
	}
	return &remoteDriver{r: r, url: u.String(), auth: auth}, nil
}

type remoteDriver struct {
	r    *Remote
	url  string
	ws   *websocket.Conn
	auth url.Values // of uploads
}

// Upload sends a file over tus to the server's upload endpoint: the one
// the files question names (its upload.url), on the WebSocket's host.
func (d *remoteDriver) Upload(ctx context.Context, name string, data []byte, last Reply) (string, error) {
	endpoint, err := uploadEndpoint(httpURL(d.r.url), last)
	if err != nil {
		return "", err
	}
	c := &tusClient{auth: d.auth}
	return c.upload(ctx, endpoint, name, data)
}

// httpURL is the http(s) URL of the server of a ws(s) URL.
func httpURL(ws *url.URL) *url.URL {
	u := *ws
	u.Scheme = "http"
	if ws.Scheme == "wss" {
		u.Scheme = "https"
	}
	u.RawQuery, u.Fragment = "", ""
	return &u
}

func (d *remoteDriver) Open(ctx context.Context) (Reply, error) {
	dialer := websocket.Dialer{HandshakeTimeout: replyWait}
	ws, resp, err := dialer.DialContext(ctx, d.url, nil)
	if err != nil {
		if resp != nil {
			return Reply{}, fmt.Errorf("connect %s: %s", redact(d.url), resp.Status)
		}
		return Reply{}, fmt.Errorf("connect %s: %w", redact(d.url), err)
	}
	d.ws = ws
	return d.read()
}

// redact hides a token in a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for _, k := range []string{"t", "user"} { // a token, or dev mode's user id
		if q.Has(k) {
			q.Set(k, "…")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (d *remoteDriver) Send(ctx context.Context, f Frame) (Reply, error) {
	if d.ws == nil {
		return Reply{}, errors.New("convo: send before open")
	}
	data, err := json.Marshal(f)
	if err != nil {
		return Reply{}, err
	}
	d.ws.SetWriteDeadline(time.Now().Add(replyWait))
	if err := d.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return Reply{}, fmt.Errorf("send: %w", err)
	}
	return d.read()
}

// serverFrame is a reply or an error frame.
type serverFrame struct {
	Reply
	Code string `json:"code"`
	Text string `json:"text"`
}

func (d *remoteDriver) read() (Reply, error) {
	d.ws.SetReadDeadline(time.Now().Add(replyWait))
	_, data, err := d.ws.ReadMessage()
	if err != nil {
		return Reply{}, fmt.Errorf("read: %w", err)
	}
	var f serverFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return Reply{}, fmt.Errorf("read: not a frame: %w", err)
	}
	switch f.Type {
	case "reply":
		return f.Reply, nil
	case "error":
		return Reply{}, fmt.Errorf("server error %s: %s", f.Code, f.Text)
	}
	return Reply{}, fmt.Errorf("read: unknown frame type %q", strings.TrimSpace(f.Type))
}

func (d *remoteDriver) Claim(ctx context.Context, claimID string) (map[string]any, bool, error) {
	if d.r.recv == nil {
		return nil, false, nil
	}
	a, err := awaitClaim(ctx, d.r.recv, claimID)
	return a, true, err
}

func (d *remoteDriver) Close() error {
	if d.ws == nil {
		return nil
	}
	d.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return d.ws.Close()
}
