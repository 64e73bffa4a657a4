package webhooktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/webhook"
)

// recordingTB keeps the receiver's Errorf calls instead of failing the
// test, so the self-test can check that a bad delivery is reported.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func newSecret(t testing.TB) (string, webhook.Secret) {
	t.Helper()
	text, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.ParseSecret(text)
	if err != nil {
		t.Fatal(err)
	}
	return text, s
}

func claimBody(t testing.TB, claimID string) []byte {
	t.Helper()
	ev := webhook.NewEvent(webhook.Claim{
		ClaimID:     claimID,
		UserID:      "u-42",
		Locale:      "ko",
		Flow:        webhook.Flow{ID: "damage-1015", Version: "v1"},
		SubmittedAt: time.Now(),
		Answers:     map[string]any{"privacy_consent": true, "loss_amount": 250000, "email": "hong@example.com"},
	})
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post delivers body as claimbot would; edit may spoil the request first.
// It returns the status, or 0 when no answer came.
func post(t testing.TB, url string, s webhook.Secret, id string, body []byte, edit func(*http.Request)) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	webhook.SetHeaders(req.Header, s, id, time.Now(), body)
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

func TestReceiverChecks(t *testing.T) {
	text, s := newSecret(t)
	_, other := newSecret(t)
	body := claimBody(t, "C-1")

	tests := []struct {
		name       string
		secret     webhook.Secret
		body       []byte
		edit       func(*http.Request)
		wantStatus int
		wantError  string // "" when the receiver must report nothing
	}{
		{name: "signed by package webhook", secret: s, body: body, wantStatus: http.StatusNoContent},
		{name: "several signatures", secret: s, body: body, edit: func(r *http.Request) {
			r.Header.Set("webhook-signature", "v1,AAAA "+r.Header.Get("webhook-signature"))
		}, wantStatus: http.StatusNoContent},
		{name: "wrong secret", secret: other, body: body, wantStatus: http.StatusUnauthorized, wantError: "signature"},
		{name: "tampered body", secret: s, body: body, edit: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(string(body), "250000", "250001", 1)))
			r.ContentLength = int64(len(body))
		}, wantStatus: http.StatusUnauthorized, wantError: "signature"},
		{name: "old timestamp", secret: s, body: body, edit: func(r *http.Request) {
			old := time.Now().Add(-10 * time.Minute)
			webhook.SetHeaders(r.Header, s, "msg_C-1", old, body)
		}, wantStatus: http.StatusUnauthorized, wantError: "timestamp"},
		{name: "missing id", secret: s, body: body, edit: func(r *http.Request) {
			r.Header.Del("webhook-id")
		}, wantStatus: http.StatusUnauthorized, wantError: "missing"},
		{name: "not json content type", secret: s, body: body, edit: func(r *http.Request) {
			r.Header.Set("Content-Type", "text/plain")
		}, wantStatus: http.StatusUnsupportedMediaType, wantError: "Content-Type"},
		{name: "body against the schema", secret: s, body: []byte(`{"type":"claim.submitted"}`),
			wantStatus: http.StatusUnprocessableEntity, wantError: "schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &recordingTB{TB: t}
			r := NewReceiver(tb, text)
			status, _ := post(t, r.URL(), tt.secret, "msg_C-1", tt.body, tt.edit)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			errs := tb.errors()
			if tt.wantError == "" && len(errs) != 0 {
				t.Errorf("receiver reported %q, want nothing", errs)
			}
			if tt.wantError != "" && (len(errs) != 1 || !strings.Contains(errs[0], tt.wantError)) {
				t.Errorf("receiver reported %q, want one error about %s", errs, tt.wantError)
			}
			attempts := r.Attempts()
			if len(attempts) != 1 {
				t.Fatalf("recorded %d attempts, want 1", len(attempts))
			}
			if a := attempts[0]; a.Status != tt.wantStatus || a.N != 1 {
				t.Errorf("attempt = #%d status %d, want #1 status %d", a.N, a.Status, tt.wantStatus)
			}
		})
	}
}

// TestReceiverSpecVector checks the independent implementation against the
// Standard Webhooks test vector, with the clock set to the vector's time.
func TestReceiverSpecVector(t *testing.T) {
	r := &Receiver{key: mustDecode(t, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if p := r.checkSignature(h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0)); p != "" {
		t.Errorf("checkSignature = %q, want a match", p)
	}
	if p := r.checkSignature(h, []byte(`{"test": 2432232315}`), time.Unix(1614265330, 0)); p == "" {
		t.Error("checkSignature of a changed body matched")
	}
}

func mustDecode(t testing.TB, b64 string) []byte {
	t.Helper()
	s, err := webhook.ParseSecret("whsec_" + b64)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

func TestReceiverFailFirst(t *testing.T) {
	text, s := newSecret(t)
	r := NewReceiver(t, text)
	r.FailFirst(2, http.StatusServiceUnavailable)
	body := claimBody(t, "C-1")

	var got []int
	for range 3 {
		status, _ := post(t, r.URL(), s, "msg_C-1", body, nil)
		got = append(got, status)
	}
	want := []int{503, 503, 204}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if n := len(r.Accepted()); n != 1 {
		t.Errorf("accepted = %d, want 1", n)
	}
	if ids := r.AcceptedIDs(); len(ids) != 1 || ids["msg_C-1"] != 1 {
		t.Errorf("AcceptedIDs = %v, want map[msg_C-1:1]", ids)
	}
}

func TestReceiverRespond(t *testing.T) {
	text, s := newSecret(t)
	r := NewReceiver(t, text)
	r.Respond(func(attempt int, id string) (int, http.Header) {
		if attempt == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}
		}
		if id == "msg_gone" {
			return http.StatusGone, nil
		}
		return 0, nil
	})
	body := claimBody(t, "C-1")

	tests := []struct {
		name       string
		id         string
		wantStatus int
		wantRetry  string
	}{
		{"first attempt throttled", "msg_C-1", http.StatusTooManyRequests, "7"},
		{"then the default", "msg_C-1", http.StatusNoContent, ""},
		{"chosen by id", "msg_gone", http.StatusGone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h := post(t, r.URL(), s, tt.id, body, nil)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if got := h.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
		})
	}
}

func TestReceiverDown(t *testing.T) {
	text, s := newSecret(t)
	r := NewReceiver(t, text)
	body := claimBody(t, "C-1")

	r.Down()
	if status, _ := post(t, r.URL(), s, "msg_C-1", body, nil); status != 0 {
		t.Errorf("status while down = %d, want no answer", status)
	}
	r.Up()
	if status, _ := post(t, r.URL(), s, "msg_C-1", body, nil); status != http.StatusNoContent {
		t.Errorf("status after up = %d, want 204", status)
	}
	attempts := r.Attempts()
	if len(attempts) != 2 {
		t.Fatalf("recorded %d attempts, want 2", len(attempts))
	}
	if attempts[0].Status != 0 || attempts[1].Status != http.StatusNoContent {
		t.Errorf("statuses = %d, %d; want 0, 204", attempts[0].Status, attempts[1].Status)
	}
	if attempts[0].ID != "msg_C-1" || string(attempts[0].Body) != string(body) {
		t.Errorf("attempt while down recorded id %q body %q", attempts[0].ID, attempts[0].Body)
	}
}

func TestReceiverWaitAccepted(t *testing.T) {
	text, s := newSecret(t)
	r := NewReceiver(t, text)
	var bodies [][]byte
	for i := range 3 {
		bodies = append(bodies, claimBody(t, fmt.Sprintf("C-%d", i)))
	}
	go func() {
		for i, body := range bodies {
			time.Sleep(10 * time.Millisecond)
			req, _ := http.NewRequest(http.MethodPost, r.URL(), strings.NewReader(string(body)))
			webhook.SetHeaders(req.Header, s, webhook.MessageID(fmt.Sprintf("C-%d", i)), time.Now(), body)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	acc := r.WaitAccepted(t, 3, 5*time.Second)
	if len(acc) != 3 {
		t.Fatalf("accepted = %d, want 3", len(acc))
	}
	ev, err := acc[2].Event()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.ClaimID != "C-2" || ev.Data.Answers["loss_amount"] != json.Number("250000") {
		t.Errorf("third event = %+v", ev.Data)
	}
}
