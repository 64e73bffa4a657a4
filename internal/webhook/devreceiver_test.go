package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// deliver POSTs body to h as claimbot would, signed with s.
func deliver(t testing.TB, h http.Handler, s Secret, id string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	SetHeaders(req.Header, s, id, time.Now(), body)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func devPageOf(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	return rec.Body.String()
}

func withClaimID(t testing.TB, id string) []byte {
	return editBody(t, func(_, d, _ map[string]any) { d["claim_id"] = id })
}

func TestDevReceiverStores(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	d := NewDevReceiver(s, nil)

	rec := deliver(t, d, s, "msg_C-1", []byte(fullBody))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	claims := d.Claims()
	if len(claims) != 1 {
		t.Fatalf("stored %d claims, want 1", len(claims))
	}
	got := claims[0]
	if got.Data.ClaimID != "C-20221019-0001" {
		t.Errorf("claim_id = %q", got.Data.ClaimID)
	}
	if got.Data.Answers["loss_amount"] != json.Number("250000") {
		t.Errorf("loss_amount = %#v, want json.Number 250000", got.Data.Answers["loss_amount"])
	}
	if want := time.Date(2022, 10, 19, 6, 12, 40, 0, time.UTC); !got.Data.SubmittedAt.Equal(want) {
		t.Errorf("submitted_at = %v, want %v", got.Data.SubmittedAt, want)
	}
}

func TestDevReceiverRefuses(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	otherText, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	other := mustSecret(t, otherText)

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"bad signature", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fullBody))
			SetHeaders(req.Header, other, "msg_C-1", time.Now(), []byte(fullBody))
			return req
		}, http.StatusUnauthorized},
		{"unsigned", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fullBody))
		}, http.StatusUnauthorized},
		{"stale timestamp", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fullBody))
			SetHeaders(req.Header, s, "msg_C-1", time.Now().Add(-time.Hour), []byte(fullBody))
			return req
		}, http.StatusUnauthorized},
		{"body against the schema", func() *http.Request {
			body := editBody(t, func(_, _, a map[string]any) { a["loss_amount"] = "250000" })
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
			SetHeaders(req.Header, s, "msg_C-1", time.Now(), body)
			return req
		}, http.StatusUnprocessableEntity},
		{"method", func() *http.Request {
			return httptest.NewRequest(http.MethodPut, "/", strings.NewReader(fullBody))
		}, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDevReceiver(s, nil)
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, tt.req())
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if n := len(d.Claims()); n != 0 {
				t.Errorf("stored %d claims, want 0", n)
			}
		})
	}
}

func TestDevReceiverDuplicate(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	d := NewDevReceiver(s, nil)
	for i, want := range []int{http.StatusNoContent, http.StatusOK, http.StatusOK} {
		if rec := deliver(t, d, s, "msg_C-1", []byte(fullBody)); rec.Code != want {
			t.Errorf("attempt %d: status = %d, want %d", i+1, rec.Code, want)
		}
	}
	if n := len(d.Claims()); n != 1 {
		t.Errorf("stored %d claims, want 1", n)
	}
	if page := devPageOf(t, d); !strings.Contains(page, "전달 3회") {
		t.Errorf("page does not show 3 attempts:\n%s", page)
	}
}

func TestDevReceiverKeepsNewest(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	d := NewDevReceiver(s, nil)
	for i := range devMaxClaims + 1 {
		id := fmt.Sprintf("C-%d", i)
		if rec := deliver(t, d, s, MessageID(id), withClaimID(t, id)); rec.Code != http.StatusNoContent {
			t.Fatalf("%s: status = %d, want 204", id, rec.Code)
		}
	}
	claims := d.Claims()
	if len(claims) != devMaxClaims {
		t.Fatalf("stored %d claims, want %d", len(claims), devMaxClaims)
	}
	if got := claims[0].Data.ClaimID; got != "C-1" {
		t.Errorf("oldest kept = %q, want C-1", got)
	}
	if got := claims[len(claims)-1].Data.ClaimID; got != fmt.Sprintf("C-%d", devMaxClaims) {
		t.Errorf("newest = %q", got)
	}
}

func TestDevReceiverPage(t *testing.T) {
	const xss = "<img src=x onerror=alert(1)>"
	s := mustSecret(t, vectorSecret)
	d := NewDevReceiver(s, nil)

	if page := devPageOf(t, d); !strings.Contains(page, "아직 받은 접수가 없습니다") {
		t.Errorf("empty page does not say so:\n%s", page)
	}

	deliver(t, d, s, "msg_C-OLD", withClaimID(t, "C-OLD"))
	body := editBody(t, func(_, d, a map[string]any) {
		d["claim_id"] = "C-NEW"
		a["title"] = xss
		a["note"] = xss // a key of another flow: shown as is, so escaped
	})
	if rec := deliver(t, d, s, "msg_C-NEW", body); rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	page := devPageOf(t, d)

	tests := []struct {
		name string
		text string
		want bool
	}{
		{"title", "받은 접수 (개발용)", true},
		{"masked email", "h***@example.com", true},
		{"full email", "hong@example.com", false},
		{"masked phone", "010-5555-****", true},
		{"full phone", "010-5555-1234", false},
		{"masked business number", "220-**-*****", true},
		{"full business number", "220-81-62517", false},
		{"masked business name", "행…(4자)", true},
		{"full business name", "행복분식", false},
		{"masked content", "1…(", true},
		{"full content", "주문 알림이", false},
		{"raw user id", "u-42", false},
		{"escaped markup", "&lt;img src=x onerror=alert(1)&gt;", true},
		{"raw markup", "<img", false},
		{"flow", "damage-1015@3f2a9c", true},
		{"choice answer", "small_business", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Contains(page, tt.text); got != tt.want {
				t.Errorf("page contains %q = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
	t.Run("newest first", func(t *testing.T) {
		newIdx, oldIdx := strings.Index(page, "C-NEW"), strings.Index(page, "C-OLD")
		if newIdx < 0 || oldIdx < 0 || newIdx > oldIdx {
			t.Errorf("C-NEW at %d, C-OLD at %d: want C-NEW first", newIdx, oldIdx)
		}
	})
	if t.Failed() {
		t.Logf("page:\n%s", page)
	}
}

// The dev receiver builds its event from the document the schema checked;
// it must be the event encoding/json decodes from the same body.
func TestEventOfMatchesDecoding(t *testing.T) {
	for name, body := range map[string][]byte{
		"full": []byte(fullBody),
		"edited": editBody(t, func(ev, data, answers map[string]any) {
			answers["loss_amount"] = json.Number("9999999999")
			answers["title"] = "제목 \"따옴표\" \\ 역슬래시 \u2028"
		}),
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := validBody(body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := eventOf(doc)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var want Event
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("eventOf = %#v\nwant (encoding/json) %#v", got, want)
			}
		})
	}
}
