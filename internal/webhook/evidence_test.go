package webhook

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testAttachment = Attachment{ID: "up_7f3a9c", Name: "확인서.pdf", Type: "application/pdf", Size: 48213,
	SHA256: strings.Repeat("ab", 32), URL: "https://bot.example/files/up_7f3a9c?sig=Zm9v"}

// remarshal lets edit change a body as generic JSON.
func remarshal(t testing.TB, b []byte, edit func(env, data map[string]any)) []byte {
	t.Helper()
	if edit == nil {
		return b
	}
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	edit(env, env["data"].(map[string]any))
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func evidenceBody(t testing.TB, edit func(env, data map[string]any)) []byte {
	t.Helper()
	ev := NewEvidenceEvent(Evidence{ClaimID: "7K3M-Q9XD", UserID: "kakao:abc", Attachments: []Attachment{testAttachment}},
		time.Date(2022, 10, 19, 6, 12, 40, 500, time.FixedZone("KST", 9*3600)))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return remarshal(t, b, edit)
}

func attachmentOf(d map[string]any) map[string]any {
	return d["attachments"].([]any)[0].(map[string]any)
}

func TestValidateEvidenceBody(t *testing.T) {
	tests := []struct {
		name string
		edit func(env, data map[string]any)
		want string // "" for valid
	}{
		{name: "valid"},
		{name: "two files", edit: func(_, d map[string]any) {
			d["attachments"] = append(d["attachments"].([]any), map[string]any{"id": "up_2", "name": "a.jpg",
				"type": "image/jpeg", "size": 1, "sha256": strings.Repeat("0", 64), "url": "http://localhost:8080/files/up_2"})
		}},
		{name: "no files", edit: func(_, d map[string]any) { d["attachments"] = []any{} }, want: "/data/attachments"},
		{name: "missing attachments", edit: func(_, d map[string]any) { delete(d, "attachments") }, want: "attachments"},
		{name: "missing claim_id", edit: func(_, d map[string]any) { delete(d, "claim_id") }, want: "claim_id"},
		{name: "answers not allowed", edit: func(_, d map[string]any) { d["answers"] = map[string]any{} }, want: "answers"},
		{name: "file without url", edit: func(_, d map[string]any) { delete(attachmentOf(d), "url") }, want: "url"},
		{name: "empty url", edit: func(_, d map[string]any) { attachmentOf(d)["url"] = "" }, want: "/data/attachments/0/url"},
		{name: "sha256 upper case", edit: func(_, d map[string]any) { attachmentOf(d)["sha256"] = strings.Repeat("AB", 32) }, want: "/data/attachments/0/sha256"},
		{name: "size zero", edit: func(_, d map[string]any) { attachmentOf(d)["size"] = 0 }, want: "/data/attachments/0/size"},
		{name: "type not a media type", edit: func(_, d map[string]any) { attachmentOf(d)["type"] = "pdf" }, want: "/data/attachments/0/type"},
		{name: "timestamp with offset", edit: func(e, _ map[string]any) { e["timestamp"] = "2022-10-19T15:12:40+09:00" }, want: "/timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBody(evidenceBody(t, tt.edit))
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidateBody = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), EvidenceSchemaPath) {
				t.Errorf("ValidateBody = %v, want an error about %s from %s", err, tt.want, EvidenceSchemaPath)
			}
		})
	}
	b := evidenceBody(t, nil)
	want := `{"type":"claim.evidence_added","timestamp":"2022-10-18T21:12:40Z","data":{"claim_id":"7K3M-Q9XD","user_id":"kakao:abc",` +
		`"attachments":[{"id":"up_7f3a9c","name":"확인서.pdf","type":"application/pdf","size":48213,"sha256":"` + strings.Repeat("ab", 32) +
		`","url":"https://bot.example/files/up_7f3a9c?sig=Zm9v"}]}}`
	if string(b) != want {
		t.Errorf("body =\n%s\nwant\n%s", b, want)
	}
}

// A claim's attachments: absent when there are none, and each one checked.
func TestValidateClaimAttachments(t *testing.T) {
	withFile := func(t *testing.T, edit func(env, data map[string]any)) []byte {
		ev := NewEvent(Claim{ClaimID: "7K3M-Q9XD", UserID: "u-42", Locale: "ko", Flow: Flow{ID: "damage-1015", Version: "v1"},
			SubmittedAt: time.Date(2022, 10, 19, 6, 12, 40, 0, time.UTC), Attachments: []Attachment{testAttachment}})
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return remarshal(t, b, edit)
	}
	tests := []struct {
		name string
		edit func(env, data map[string]any)
		want string
	}{
		{name: "one file"},
		{name: "no attachments key", edit: func(_, d map[string]any) { delete(d, "attachments") }},
		{name: "empty list", edit: func(_, d map[string]any) { d["attachments"] = []any{} }, want: "/data/attachments"},
		{name: "extra key in a file", edit: func(_, d map[string]any) { attachmentOf(d)["path"] = "/srv/x" }, want: "path"},
		{name: "url not http", edit: func(_, d map[string]any) { attachmentOf(d)["url"] = "file:///etc/passwd" }, want: "/data/attachments/0/url"},
		{name: "size as string", edit: func(_, d map[string]any) { attachmentOf(d)["size"] = "48213" }, want: "/data/attachments/0/size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBody(withFile(t, tt.edit))
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidateBody = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), SchemaPath) {
				t.Errorf("ValidateBody = %v, want an error about %s from %s", err, tt.want, SchemaPath)
			}
		})
	}
	// Omitted, never null or [], when no file is attached.
	b, _ := json.Marshal(NewEvent(Claim{ClaimID: "X", UserID: "u", Locale: "ko", Flow: Flow{ID: "f", Version: "v"}}))
	if strings.Contains(string(b), "attachments") {
		t.Errorf("a claim without files has attachments: %s", b)
	}
}

func TestDevReceiverTakesEvidence(t *testing.T) {
	s := mustSecret(t, vectorSecret)
	d := NewDevReceiver(s, nil)
	rec := deliver(t, d, s, "msg_7K3M-Q9XE", evidenceBody(t, nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	got := d.Claims()
	if len(got) != 1 || got[0].Type != EventEvidenceAdded || got[0].Data.ClaimID != "7K3M-Q9XD" ||
		len(got[0].Data.Attachments) != 1 || got[0].Data.Attachments[0] != testAttachment {
		t.Fatalf("stored %+v", got)
	}
	// The dev page lists the files with their links, marked as added.
	page := httptest.NewRecorder()
	d.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/", nil))
	body := page.Body.String()
	for _, want := range []string{"서류 추가", ">" + testAttachment.Name + "</a>", html.EscapeString(testAttachment.URL)} {
		if !strings.Contains(body, want) {
			t.Errorf("the dev page lacks %q:\n%s", want, body)
		}
	}
}
