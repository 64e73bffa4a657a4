// Package webhooktest is a webhook receiver for tests: a real HTTP server
// (httptest.Server) that plays the claim backend of CONTRACT §3.
//
// It checks every delivery with its own implementation of the Standard
// Webhooks signature, written from the spec and independent of package
// webhook's Sign and Verify, so a mistake there cannot hide itself. Every
// body is validated against the JSON Schema (webhook.ValidateBody). A
// delivery that fails either check is a test failure (t.Errorf) and is
// answered 401 or 422 (405 and 415 for a wrong method or Content-Type).
//
// The receiver can be told to fail (FailFirst), to answer as a function
// decides (Respond) and to go down (Down, Up); it records every attempt.
package webhooktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/webhook"
)

// tolerance is the Standard Webhooks timestamp tolerance.
const tolerance = 5 * time.Minute

// Attempt is one delivery attempt as the receiver saw it.
type Attempt struct {
	N         int       // 1-based, in arrival order
	At        time.Time // when it arrived
	ID        string    // webhook-id
	Timestamp string    // webhook-timestamp, as sent
	Signature string    // webhook-signature, as sent
	Header    http.Header
	Body      []byte
	// Status is what the receiver answered; 0 when it closed the
	// connection without answering (Down).
	Status int
	// Problem says why the receiver refused a delivery it should have
	// taken (signature, schema, method); empty otherwise.
	Problem string
}

// Accepted reports whether the attempt was answered 2xx.
func (a Attempt) Accepted() bool { return a.Status >= 200 && a.Status < 300 }

// Event decodes the body. Numbers in answers are json.Number.
func (a Attempt) Event() (webhook.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	var ev webhook.Event
	if err := dec.Decode(&ev); err != nil {
		return webhook.Event{}, fmt.Errorf("webhooktest: decode attempt %d: %w", a.N, err)
	}
	return ev, nil
}

// Receiver is a webhook endpoint for tests. Its methods are safe to call
// from any goroutine.
type Receiver struct {
	t   testing.TB
	key []byte
	srv *httptest.Server

	mu         sync.Mutex
	now        func() time.Time
	attempts   []Attempt
	failLeft   int
	failStatus int
	respond    func(attempt int, id string) (int, http.Header)
	down       bool
}

// NewReceiver starts a receiver that checks signatures with secret
// ("whsec_<base64>"). It is closed when the test ends.
func NewReceiver(t testing.TB, secret string) *Receiver {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("webhooktest: secret %q is not whsec_<base64>", secret)
	}
	r := &Receiver{t: t, key: key, now: time.Now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the address to POST webhooks to.
func (r *Receiver) URL() string { return r.srv.URL }

// FailFirst makes the next n attempts answer status (after they passed the
// signature and schema checks).
func (r *Receiver) FailFirst(n, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLeft, r.failStatus = n, status
}

// Respond lets f choose the answer of each attempt that FailFirst does not
// take: attempt is the 1-based attempt number, id the webhook-id. A status
// of 0 means the default, 204; header is added to the answer (Retry-After,
// say). Respond(nil) restores the default.
func (r *Receiver) Respond(f func(attempt int, id string) (status int, header http.Header)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

// Down makes the receiver close every connection without answering, until
// Up. Attempts made while down are recorded with Status 0.
func (r *Receiver) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
}

// Up ends Down.
func (r *Receiver) Up() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = false
}

// SetNow sets the clock that webhook-timestamp is checked against, for
// senders that run on a fake clock. The default is time.Now.
func (r *Receiver) SetNow(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

// Attempts returns every attempt so far, in arrival order.
func (r *Receiver) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Attempt, 0, len(r.attempts))
	for _, a := range r.attempts {
		if a.N != 0 { // 0: still being answered
			out = append(out, a)
		}
	}
	return out
}

// Accepted returns the attempts answered 2xx, in arrival order.
func (r *Receiver) Accepted() []Attempt {
	var out []Attempt
	for _, a := range r.Attempts() {
		if a.Accepted() {
			out = append(out, a)
		}
	}
	return out
}

// AcceptedIDs counts accepted deliveries per webhook-id. A count above 1
// means the backend was handed the same claim more than once (which the
// contract allows: it dedupes on webhook-id).
func (r *Receiver) AcceptedIDs() map[string]int {
	out := make(map[string]int)
	for _, a := range r.Accepted() {
		out[a.ID]++
	}
	return out
}

// WaitAccepted waits until at least n attempts were accepted and returns
// them; after timeout it fails the test, listing the attempts seen.
func (r *Receiver) WaitAccepted(t testing.TB, n int, timeout time.Duration) []Attempt {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if acc := r.Accepted(); len(acc) >= n {
			return acc
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooktest: %d accepted deliveries after %s, want %d; attempts: %s",
				len(r.Accepted()), timeout, n, summary(r.Attempts()))
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func summary(attempts []Attempt) string {
	if len(attempts) == 0 {
		return "none"
	}
	parts := make([]string, len(attempts))
	for i, a := range attempts {
		parts[i] = fmt.Sprintf("#%d %s %d", a.N, a.ID, a.Status)
		if a.Problem != "" {
			parts[i] += " (" + a.Problem + ")"
		}
	}
	return strings.Join(parts, ", ")
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	a := Attempt{
		At:        time.Now(),
		ID:        req.Header.Get("webhook-id"),
		Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"),
		Header:    req.Header.Clone(),
		Body:      body,
	}

	r.mu.Lock()
	slot := len(r.attempts)
	r.attempts = append(r.attempts, Attempt{}) // reserve the arrival order
	n := slot + 1
	down, now := r.down, r.now
	r.mu.Unlock()

	a.N = n
	var header http.Header
	switch {
	case down:
		// Recorded before the connection closes: the client sees the
		// close at once, and may ask for the attempts right after.
		r.mu.Lock()
		r.attempts[slot] = a
		r.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	default:
		a.Status, a.Problem = r.check(req, body, now())
		if a.Problem != "" {
			r.t.Errorf("webhooktest: attempt %d (%s): %s", n, a.ID, a.Problem)
			break
		}
		a.Status, header = r.decide(n, a.ID)
	}

	r.mu.Lock()
	r.attempts[slot] = a
	r.mu.Unlock()

	if down {
		return
	}
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if a.Problem != "" {
		http.Error(w, a.Problem, a.Status)
		return
	}
	w.WriteHeader(a.Status)
}

// decide picks the answer of a delivery that passed the checks.
func (r *Receiver) decide(n int, id string) (int, http.Header) {
	r.mu.Lock()
	if r.failLeft > 0 {
		r.failLeft--
		status := r.failStatus
		r.mu.Unlock()
		return status, nil
	}
	respond := r.respond
	r.mu.Unlock()
	if respond != nil {
		if status, header := respond(n, id); status != 0 {
			return status, header
		}
	}
	return http.StatusNoContent, nil
}

// check returns what is wrong with a delivery and the status that
// answers it, or 0 and "".
func (r *Receiver) check(req *http.Request, body []byte, now time.Time) (int, string) {
	if req.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "method " + req.Method + ", want POST"
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/json" {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q, want application/json", req.Header.Get("Content-Type"))
	}
	if p := r.checkSignature(req.Header, body, now); p != "" {
		return http.StatusUnauthorized, p
	}
	if err := webhook.ValidateBody(body); err != nil {
		return http.StatusUnprocessableEntity, "schema: " + err.Error()
	}
	return 0, ""
}

// checkSignature is the Standard Webhooks check, from the spec: the
// signed content is "{webhook-id}.{webhook-timestamp}.{body}", signed with
// HMAC-SHA256 under the base64-decoded secret; webhook-signature holds
// space-separated "v1,{base64 signature}" entries, one of which must match;
// the timestamp must be within five minutes of now.
func (r *Receiver) checkSignature(h http.Header, body []byte, now time.Time) string {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return "missing webhook-id, webhook-timestamp or webhook-signature"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Sprintf("webhook-timestamp %q is not unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Sprintf("webhook-timestamp %s is %s away from now, tolerance %s", ts, d.Round(time.Second), tolerance)
	}
	mac := hmac.New(sha256.New, r.key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	expected := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, entry := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(expected)) {
			return ""
		}
	}
	return "no v1 signature in webhook-signature matches"
}
