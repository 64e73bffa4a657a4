package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claimbot/claimbot/internal/webhook"
)

// Receiver plays the backend for a load test, in the load tool's process:
// it reads each delivery, checks its signature as a backend must, and
// answers 204. It does none of the built-in dev receiver's work (the JSON
// Schema check, keeping the claims), so a server delivering to it pays
// what it would pay in production: the POST, not the backend's side.
type Receiver struct {
	URL        string // http://127.0.0.1:port/claims
	SecretText string // whsec_…, for the server's CLAIMBOT_WEBHOOK_SECRET

	secret   webhook.Secret
	srv      *http.Server
	accepted atomic.Int64
	bad      atomic.Int64

	mu     sync.Mutex
	claims map[string]int // claim id → deliveries of claim.submitted accepted
}

// StartReceiver starts a receiver on a free loopback port with a new
// signing secret.
func StartReceiver() (*Receiver, error) {
	text, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	secret, err := webhook.ParseSecret(text)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/claims", SecretText: text, secret: secret, claims: map[string]int{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// ServeHTTP takes one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := r.secret.Verify(req.Header, body, time.Now()); err != nil {
		r.bad.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.accepted.Add(1)
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ClaimID string `json:"claim_id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ev) == nil && ev.Type == "claim.submitted" && ev.Data.ClaimID != "" {
		r.mu.Lock()
		r.claims[ev.Data.ClaimID]++
		r.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// Claims is how many distinct claims were delivered (claim.submitted), and
// how many deliveries repeated one already accepted (a retry after a
// lost answer: at-least-once delivery).
func (r *Receiver) Claims() (distinct, repeated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.claims {
		distinct++
		repeated += n - 1
	}
	return distinct, repeated
}

// Accepted is how many deliveries had a good signature; Bad how many had
// not.
func (r *Receiver) Accepted() int64 { return r.accepted.Load() }
func (r *Receiver) Bad() int64      { return r.bad.Load() }

// Close stops the receiver.
func (r *Receiver) Close() error { return r.srv.Close() }
