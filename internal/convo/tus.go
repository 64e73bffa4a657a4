package convo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A small tus 1.0.0 client (CONTRACT §7: core and creation), as the chat
// page uploads: POST creates the upload, PATCH sends it in chunks, and a
// PATCH that fails (a dropped connection, a 409 for a stale offset, a 5xx)
// is followed by HEAD, which says where to go on. Scripts' attach steps
// and `claimbot chat`'s /attach use it, in-process and with --url alike.

// tusChunk is the size of one PATCH: the chat page's, small enough that a
// phone on a weak network loses little when a request drops.
const tusChunk = 1 << 20

// tusStalls bounds the attempts in a row that make no progress.
const tusStalls = 5

// tusPause is the pause after a failed PATCH, times the failures in a row.
const tusPause = 100 * time.Millisecond

// tusWait bounds one request.
const tusWait = 30 * time.Second

// tusClient uploads files to one tus endpoint as one user.
type tusClient struct {
	http *http.Client
	// auth is added to every request's query: ?t=<token>, or dev mode's
	// ?user=, as the WebSocket is authenticated.
	auth  url.Values
	chunk int // bytes per PATCH; default tusChunk
}

// RefusedError is an upload that the server refused: its status and what
// it said. Location is set when the upload was created and then refused
// (its bytes, at the last PATCH: a type not accepted); a file frame naming
// it gets the bot's reason in the user's language.
type RefusedError struct {
	Status   int
	Body     string
	Location string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("upload refused: %d %s", e.Status, http.StatusText(e.Status))
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// upload sends data as a file named name to the tus endpoint and returns
// the upload's URL (the Location of its creation, resolved against the
// endpoint). A RefusedError with a Location says that the upload exists
// but the server refused its bytes.
func (c *tusClient) upload(ctx context.Context, endpoint *url.URL, name string, data []byte) (string, error) {
	typ := mime.TypeByExtension(strings.ToLower(filepath.Ext(name)))
	if typ == "" {
		typ = "application/octet-stream"
	}
	typ, _, _ = strings.Cut(typ, ";")
	req, err := c.request(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Upload-Metadata", "filename "+b64(name)+",filetype "+b64(typ))
	res, body, err := c.do(req)
	if err != nil {
		return "", fmt.Errorf("upload: create: %w", err)
	}
	if res.StatusCode != http.StatusCreated {
		return "", &RefusedError{Status: res.StatusCode, Body: body}
	}
	loc, err := endpoint.Parse(res.Header.Get("Location"))
	if err != nil || res.Header.Get("Location") == "" {
		return "", fmt.Errorf("upload: create: no usable Location %q", res.Header.Get("Location"))
	}
	// Every PATCH and HEAD carries the credential and the file: they go
	// where the upload was created, never to a host the server names.
	if err := sameServer(endpoint, loc, "the created upload's Location"); err != nil {
		return "", err
	}
	return loc.String(), c.send(ctx, loc, data)
}

// send PATCHes data from the upload's offset to its end.
func (c *tusClient) send(ctx context.Context, loc *url.URL, data []byte) error {
	chunk := c.chunk
	if chunk <= 0 {
		chunk = tusChunk
	}
	// Progress is a server offset beyond any seen before: anything else
	// (a failed request, an offset that stays or goes back) is a stall.
	var offset, high int64
	stalls := 0
	var last error
	progress := func(at int64) {
		if at > high {
			high, stalls = at, 0
		}
		offset = at
	}
	for offset < int64(len(data)) {
		if stalls >= tusStalls {
			return fmt.Errorf("upload: no progress after %d attempts: %w", stalls, last)
		}
		end := min(offset+int64(chunk), int64(len(data)))
		next, err := c.patch(ctx, loc, offset, data[offset:end])
		if err == nil {
			if next <= high {
				stalls++
				last = fmt.Errorf("the server stayed at offset %d", next)
			}
			progress(next)
			continue
		}
		var refused *RefusedError
		if errors.As(err, &refused) && refused.Status != http.StatusConflict && refused.Status < 500 {
			refused.Location = loc.String()
			return refused
		}
		// Where did the server get to? Go on from there, after a pause
		// that grows while nothing moves.
		stalls++
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(stalls) * tusPause):
		}
		at, herr := c.head(ctx, loc)
		if herr != nil {
			if errors.As(herr, &refused) && refused.Status < 500 {
				refused.Location = loc.String()
				return refused
			}
			last = herr
			continue
		}
		progress(at)
	}
	return nil
}

// patch sends one chunk at offset and returns the server's new offset.
func (c *tusClient) patch(ctx context.Context, loc *url.URL, offset int64, chunk []byte) (int64, error) {
	req, err := c.request(ctx, http.MethodPatch, loc, bytes.NewReader(chunk))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	res, body, err := c.do(req)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusNoContent {
		return 0, &RefusedError{Status: res.StatusCode, Body: body}
	}
	return offsetOf(res)
}

// head asks the server for the upload's offset.
func (c *tusClient) head(ctx context.Context, loc *url.URL) (int64, error) {
	req, err := c.request(ctx, http.MethodHead, loc, nil)
	if err != nil {
		return 0, err
	}
	res, _, err := c.do(req)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
		return 0, &RefusedError{Status: res.StatusCode}
	}
	return offsetOf(res)
}

func offsetOf(res *http.Response) (int64, error) {
	n, err := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("upload: bad Upload-Offset %q", res.Header.Get("Upload-Offset"))
	}
	return n, nil
}

// request makes a tus request on u with the client's authentication.
func (c *tusClient) request(ctx context.Context, method string, u *url.URL, body io.Reader) (*http.Request, error) {
	v := *u
	q := v.Query()
	for k, vs := range c.auth {
		q[k] = vs
	}
	v.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, v.String(), body)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	return req, nil
}

// do sends a request and reads (a little of) the answer's body.
func (c *tusClient) do(req *http.Request) (*http.Response, string, error) {
	hc := &http.Client{Timeout: tusWait}
	if c.http != nil {
		*hc = *c.http
	}
	// A redirect carries the request's URL, credential and all, in its
	// Referer and a 307 or 308 the file: only on the server's own host.
	hc.CheckRedirect = func(next *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("upload: stopped after 10 redirects")
		}
		return sameServer(via[0].URL, next.URL, "a redirect to")
	}
	res, err := hc.Do(req)
	if err != nil {
		// The URL carries the token: say what failed without it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, "", fmt.Errorf("%s %s: %w", req.Method, redact(uerr.URL), uerr.Err)
		}
		return nil, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res, strings.TrimSpace(string(b)), nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// uploadEndpoint is where a reply's files question says to upload (its
// upload.url, "/uploads/" when it names none), resolved against base: on
// base's scheme and host only, as the chat page does (chat.js endpoint),
// since every request carries the conversation's credential.
func uploadEndpoint(base *url.URL, r Reply) (*url.URL, error) {
	path := "/uploads/"
	if r.Upload != nil && r.Upload.URL != "" {
		path = r.Upload.URL
	}
	u, err := base.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("upload: the reply's upload url %q: %w", path, err)
	}
	if err := sameServer(base, u, "the reply's upload url"); err != nil {
		return nil, err
	}
	return u, nil
}

// sameServer refuses u unless it is on server's scheme and host (and
// port): the tus requests' ?t= token (or dev mode's ?user=) and the file
// go to the server alone. The error names both hosts, never a query.
func sameServer(server, u *url.URL, what string) error {
	if origin(u) == origin(server) {
		return nil
	}
	return fmt.Errorf("upload: %s %s://%s is on another host than the server %s://%s: refused, so neither the credential nor the file goes there",
		what, u.Scheme, u.Host, server.Scheme, server.Host)
}

// origin is a URL's scheme, host and port as a browser compares them:
// case-insensitive, the scheme's default port spelled out.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
