package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks test vector; the signature was computed
// independently with Python's hmac module:
//
//	base64(hmac(b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
//	            "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}", sha256))
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB, s string) Secret {
	t.Helper()
	sec, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func TestSignVector(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	if got := s.Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)); got != vectorSig {
		t.Errorf("Sign = %q, want %q", got, vectorSig)
	}
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTS))
	h.Set("webhook-signature", vectorSig)
	if err := s.Verify(h, []byte(vectorBody), time.Unix(vectorTS+10, 0)); err != nil {
		t.Errorf("Verify(test vector) = %v, want nil", err)
	}
}

// TestSignIndependent recomputes a signature by hand from the spec.
func TestSignIndependent(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	body := []byte(`{"type":"claim.submitted"}`)
	ts := time.Date(2022, 10, 19, 6, 12, 40, 0, time.UTC)

	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "msg_C-1.%d.%s", ts.Unix(), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))

	if got := mustSecret(t, secret).Sign("msg_C-1", ts, body); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	other, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	otherSecret := mustSecret(t, other)
	now := time.Date(2022, 10, 19, 6, 12, 40, 0, time.UTC)
	body := []byte(`{"a":1}`)
	good := s.Sign("msg_1", now, body)

	tests := []struct {
		name    string
		edit    func(h http.Header) // changes the headers of a good delivery
		body    string
		now     time.Time
		wantErr error
	}{
		{name: "round trip", now: now},
		{name: "clock a little ahead", now: now.Add(4 * time.Minute)},
		{name: "clock a little behind", now: now.Add(-4 * time.Minute)},
		{name: "tampered body", body: `{"a":2}`, now: now, wantErr: ErrSignature},
		{name: "tampered id", edit: func(h http.Header) { h.Set("webhook-id", "msg_2") }, now: now, wantErr: ErrSignature},
		{name: "tampered timestamp", edit: func(h http.Header) {
			h.Set("webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10))
		}, now: now, wantErr: ErrSignature},
		{name: "old timestamp", now: now.Add(6 * time.Minute), wantErr: ErrTimestamp},
		{name: "future timestamp", now: now.Add(-6 * time.Minute), wantErr: ErrTimestamp},
		{name: "timestamp not a number", edit: func(h http.Header) { h.Set("webhook-timestamp", "2022-10-19T06:12:40Z") }, now: now, wantErr: ErrTimestamp},
		{name: "missing id", edit: func(h http.Header) { h.Del("webhook-id") }, now: now, wantErr: ErrMissingHeader},
		{name: "missing timestamp", edit: func(h http.Header) { h.Del("webhook-timestamp") }, now: now, wantErr: ErrMissingHeader},
		{name: "missing signature", edit: func(h http.Header) { h.Del("webhook-signature") }, now: now, wantErr: ErrMissingHeader},
		{name: "other secret", edit: func(h http.Header) {
			h.Set("webhook-signature", otherSecret.Sign("msg_1", now, body))
		}, now: now, wantErr: ErrSignature},
		{name: "signature without version", edit: func(h http.Header) {
			h.Set("webhook-signature", strings.TrimPrefix(good, "v1,"))
		}, now: now, wantErr: ErrSignature},
		{name: "right signature under another version", edit: func(h http.Header) {
			h.Set("webhook-signature", "v1a,"+strings.TrimPrefix(good, "v1,"))
		}, now: now, wantErr: ErrSignature},
		{name: "several signatures, good one last", edit: func(h http.Header) {
			h.Set("webhook-signature", otherSecret.Sign("msg_1", now, body)+" v1,bm90IGJhc2U2NA== "+good)
		}, now: now},
		{name: "several signatures, good one first", edit: func(h http.Header) {
			h.Set("webhook-signature", good+" "+otherSecret.Sign("msg_1", now, body))
		}, now: now},
		{name: "other versions ignored", edit: func(h http.Header) {
			h.Set("webhook-signature", "v1a,aGVsbG8= "+good)
		}, now: now},
		{name: "several bad signatures", edit: func(h http.Header) {
			h.Set("webhook-signature", "v1,!!! "+otherSecret.Sign("msg_1", now, body))
		}, now: now, wantErr: ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			SetHeaders(h, s, "msg_1", now, body)
			if tt.edit != nil {
				tt.edit(h)
			}
			got := body
			if tt.body != "" {
				got = []byte(tt.body)
			}
			err := s.Verify(h, got, tt.now)
			if tt.wantErr == nil && err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	h := http.Header{}
	SetHeaders(h, s, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	want := map[string]string{
		"webhook-id":        vectorID,
		"webhook-timestamp": "1614265330",
		"webhook-signature": vectorSig,
		"Content-Type":      "application/json",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int // 0: an error is wanted
	}{
		{"spec example", vectorSecret, 24},
		{"32 bytes", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)), 32},
		{"unpadded", "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), 32},
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0},
		{"not base64", "whsec_not base64!", 0},
		{"too short", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")), 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSecret(tt.in)
			if tt.wantLen == 0 {
				if err == nil {
					t.Fatalf("ParseSecret(%q) = nil error, want one", tt.in)
				}
				if !strings.HasPrefix(err.Error(), "webhook: ") {
					t.Errorf("error %q lacks the \"webhook: \" prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret(%q) = %v", tt.in, err)
			}
			if len(s) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(s), tt.wantLen)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two new secrets are equal: %q", a)
	}
	s := mustSecret(t, a)
	if len(s) != 32 {
		t.Errorf("len = %d, want 32", len(s))
	}
	if got := fmt.Sprint(s); strings.Contains(got, strings.TrimPrefix(a, "whsec_")) {
		t.Errorf("printing a secret shows its key: %s", got)
	}
}

func TestNewEvent(t *testing.T) {
	kst := time.FixedZone("KST", 9*60*60)
	ev := NewEvent(Claim{
		ClaimID:     "C-20221019-0001",
		UserID:      "u-42",
		Locale:      "ko",
		Flow:        Flow{ID: "damage-1015", Version: "3f2a"},
		SubmittedAt: time.Date(2022, 10, 19, 15, 12, 40, 123456789, kst),
	})
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"claim.submitted","timestamp":"2022-10-19T06:12:40Z",` +
		`"data":{"claim_id":"C-20221019-0001","user_id":"u-42","locale":"ko",` +
		`"flow":{"id":"damage-1015","version":"3f2a"},"submitted_at":"2022-10-19T06:12:40Z","answers":{}}}`
	if string(body) != want {
		t.Errorf("body =\n%s\nwant\n%s", body, want)
	}
	if err := ValidateBody(body); err != nil {
		t.Errorf("ValidateBody(NewEvent) = %v", err)
	}
	if got := MessageID("C-20221019-0001"); got != "msg_C-20221019-0001" {
		t.Errorf("MessageID = %q", got)
	}
}

// fullBody is the CONTRACT §3 example with every damage-1015 answer key.
const fullBody = `{"type":"claim.submitted",
 "timestamp":"2022-10-19T06:12:40Z",
 "data":{"claim_id":"C-20221019-0001", "user_id":"u-42", "locale":"ko",
         "flow":{"id":"damage-1015","version":"3f2a9c"},
         "submitted_at":"2022-10-19T06:12:40Z",
         "answers":{"privacy_consent":true,
                    "reporter_type":"small_business",
                    "service":"gift",
                    "damage_type":"paid",
                    "still_file":true,
                    "inquiry_type":"complaint",
                    "business_name":"행복분식",
                    "business_number":"220-81-62517",
                    "loss_amount":250000,
                    "support_tier":"tier_30k",
                    "email":"hong@example.com",
                    "phone":"010-5555-1234",
                    "title":"채널 주문 누락",
                    "content":"10월 15일 저녁 주문 알림이 오지 않았습니다."}}}`

// editBody decodes fullBody, lets edit change it and encodes it again.
func editBody(t testing.TB, edit func(ev, data, answers map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(fullBody))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	data := ev["data"].(map[string]any)
	if edit != nil {
		edit(ev, data, data["answers"].(map[string]any))
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateBody(t *testing.T) {
	tests := []struct {
		name string
		edit func(ev, data, answers map[string]any)
		want string // "" when valid; else a substring of the error
	}{
		{name: "full contract example"},
		{name: "only the always keys", edit: func(_, _, a map[string]any) {
			for _, k := range []string{"still_file", "inquiry_type", "business_name", "business_number", "loss_amount", "support_tier"} {
				delete(a, k)
			}
		}},
		{name: "empty answers", edit: func(_, d, _ map[string]any) { d["answers"] = map[string]any{} }},
		{name: "keys of other flows", edit: func(_, _, a map[string]any) { a["order_no"] = "A-1"; a["count"] = 3 }},
		{name: "english", edit: func(_, d, _ map[string]any) { d["locale"] = "en" }},
		{name: "landline", edit: func(_, _, a map[string]any) { a["phone"] = "02-123-4567" }},
		{name: "regional landline", edit: func(_, _, a map[string]any) { a["phone"] = "031-1234-5678" }},
		{name: "largest amount", edit: func(_, _, a map[string]any) { a["loss_amount"] = 10_000_000_000 }},

		{name: "loss_amount as string", edit: func(_, _, a map[string]any) { a["loss_amount"] = "250000" }, want: "/data/answers/loss_amount"},
		{name: "loss_amount fractional", edit: func(_, _, a map[string]any) { a["loss_amount"] = 2.5 }, want: "/data/answers/loss_amount"},
		{name: "loss_amount zero", edit: func(_, _, a map[string]any) { a["loss_amount"] = 0 }, want: "/data/answers/loss_amount"},
		{name: "loss_amount too large", edit: func(_, _, a map[string]any) { a["loss_amount"] = 10_000_000_001 }, want: "/data/answers/loss_amount"},
		{name: "unknown reporter_type", edit: func(_, _, a map[string]any) { a["reporter_type"] = "individual" }, want: "/data/answers/reporter_type"},
		{name: "unknown service", edit: func(_, _, a map[string]any) { a["service"] = "bank" }, want: "/data/answers/service"},
		{name: "unknown support_tier", edit: func(_, _, a map[string]any) { a["support_tier"] = "tier_100k" }, want: "/data/answers/support_tier"},
		{name: "consent false", edit: func(_, _, a map[string]any) { a["privacy_consent"] = false }, want: "/data/answers/privacy_consent"},
		{name: "still_file as string", edit: func(_, _, a map[string]any) { a["still_file"] = "yes" }, want: "/data/answers/still_file"},
		{name: "null answer", edit: func(_, _, a map[string]any) { a["email"] = nil }, want: "/data/answers/email"},
		{name: "business_number without dashes", edit: func(_, _, a map[string]any) { a["business_number"] = "2208162517" }, want: "/data/answers/business_number"},
		{name: "phone without dashes", edit: func(_, _, a map[string]any) { a["phone"] = "01055551234" }, want: "/data/answers/phone"},
		{name: "email without domain", edit: func(_, _, a map[string]any) { a["email"] = "hong@" }, want: "/data/answers/email"},
		{name: "email domain upper case", edit: func(_, _, a map[string]any) { a["email"] = "hong@Example.com" }, want: "/data/answers/email"},
		{name: "empty title", edit: func(_, _, a map[string]any) { a["title"] = "" }, want: "/data/answers/title"},
		{name: "title of 101 characters", edit: func(_, _, a map[string]any) { a["title"] = strings.Repeat("가", 101) }, want: "/data/answers/title"},
		{name: "content of 2001 characters", edit: func(_, _, a map[string]any) { a["content"] = strings.Repeat("가", 2001) }, want: "/data/answers/content"},
		{name: "missing claim_id", edit: func(_, d, _ map[string]any) { delete(d, "claim_id") }, want: "claim_id"},
		{name: "empty claim_id", edit: func(_, d, _ map[string]any) { d["claim_id"] = "" }, want: "/data/claim_id"},
		{name: "user_id too long", edit: func(_, d, _ map[string]any) { d["user_id"] = strings.Repeat("u", 129) }, want: "/data/user_id"},
		{name: "unknown locale", edit: func(_, d, _ map[string]any) { d["locale"] = "ja" }, want: "/data/locale"},
		{name: "flow without version", edit: func(_, d, _ map[string]any) { d["flow"] = map[string]any{"id": "damage-1015"} }, want: "/data/flow"},
		{name: "missing answers", edit: func(_, d, _ map[string]any) { delete(d, "answers") }, want: "answers"},
		{name: "extra envelope key", edit: func(e, _, _ map[string]any) { e["extra"] = 1 }, want: "extra"},
		{name: "extra data key", edit: func(_, d, _ map[string]any) { d["email"] = "hong@example.com" }, want: "email"},
		{name: "other event type", edit: func(e, _, _ map[string]any) { e["type"] = "claim.updated" }, want: "/type"},
		{name: "timestamp with offset", edit: func(e, _, _ map[string]any) { e["timestamp"] = "2022-10-19T15:12:40+09:00" }, want: "/timestamp"},
		{name: "submitted_at with fraction", edit: func(_, d, _ map[string]any) { d["submitted_at"] = "2022-10-19T06:12:40.5Z" }, want: "/data/submitted_at"},
		{name: "submitted_at not a time", edit: func(_, d, _ map[string]any) { d["submitted_at"] = "2022-13-45T06:12:40Z" }, want: "/data/submitted_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBody(editBody(t, tt.edit))
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidateBody = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateBody = nil, want an error about %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateBody = %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestValidateBodyHidesValues(t *testing.T) {
	body := editBody(t, func(_, _, a map[string]any) {
		a["email"] = "secret-person@Example.com"
		a["phone"] = "010-9999-88888"
	})
	err := ValidateBody(body)
	if err == nil {
		t.Fatal("ValidateBody = nil, want an error")
	}
	for _, v := range []string{"secret-person", "9999"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q shows the value %q", err, v)
		}
	}
}

func TestValidateBodyNotJSON(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty", ""},
		{"truncated", fullBody[:40]},
		{"trailing data", fullBody + "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateBody([]byte(tt.body)); err == nil {
				t.Error("ValidateBody = nil, want an error")
			}
		})
	}
}
