package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
	"testing"
)

func TestMaskEmail(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hong@example.com", "h***@example.com"},
		{"one letter local part", "h@example.com", "h***@example.com"},
		{"korean local part", "홍길동@example.com", "홍***@example.com"},
		{"empty local part", "@example.com", "***@example.com"},
		{"no at sign", "hong", "h***"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskEmail(tt.in); got != tt.want {
				t.Errorf("MaskEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"mobile", "010-1234-5678", "010-1234-****"},
		{"seoul landline", "02-123-4567", "02-123-****"},
		{"regional landline", "031-1234-5678", "031-1234-****"},
		{"unseparated", "01012345678", "0101234****"},
		{"spaces", "010 1234 5678", "010 1234 ****"},
		{"international", "+82 10-1234-5678", "+82 10-1234-****"},
		{"short", "123", "***"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskPhone(tt.in); got != tt.want {
				t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"korean", "채널 주문 누락", "채…(8자)"},
		{"ascii", "hello", "h…(5자)"},
		{"one character", "a", "a…(1자)"},
		{"markup", "<img src=x>", "<…(11자)"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskText(tt.in); got != tt.want {
				t.Errorf("MaskText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name string
		key  string
		in   any
		want any
	}{
		{"email", "email", "owner@example.com", "o***@example.com"},
		{"phone", "phone", "010-5555-1234", "010-5555-****"},
		{"title", "title", "채널 주문 누락", "채…(8자)"},
		{"content", "content", "주문 알림이 오지 않았습니다.", "주…(16자)"},
		{"business name", "business_name", "행복분식", "행…(4자)"},
		{"business number", "business_number", "220-81-62517", "220-**-*****"},
		{"business number unseparated", "business_number", "2208162517", "220*******"},
		{"choice unchanged", "reporter_type", "small_business", "small_business"},
		{"integer unchanged", "loss_amount", 250000, 250000},
		{"boolean unchanged", "privacy_consent", true, true},
		{"unknown key unchanged", "note", "010-1234-5678", "010-1234-5678"},
		{"non-string email unchanged", "email", 42, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.key, tt.in); got != tt.want {
				t.Errorf("Mask(%q, %v) = %v, want %v", tt.key, tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskAnswers(t *testing.T) {
	in := map[string]any{
		"email":       "hong@example.com",
		"phone":       "010-1234-5678",
		"loss_amount": 250000,
	}
	orig := maps.Clone(in)
	got := MaskAnswers(in)
	want := map[string]any{
		"email":       "h***@example.com",
		"phone":       "010-1234-****",
		"loss_amount": 250000,
	}
	if !maps.Equal(got, want) {
		t.Errorf("MaskAnswers = %v, want %v", got, want)
	}
	if !maps.Equal(in, orig) {
		t.Errorf("MaskAnswers changed its input: %v, want %v", in, orig)
	}
	if got := MaskAnswers(nil); got != nil {
		t.Errorf("MaskAnswers(nil) = %v, want nil", got)
	}
}

func TestPseudonymizer(t *testing.T) {
	secret := []byte("banner-secret-of-at-least-32-bytes")
	p := NewPseudonymizer(secret)
	got := p.UserID("8120345")
	if len(got) < 16 {
		t.Errorf("pseudonym %q has %d hex characters, want 16 or more", got, len(got))
	}
	if _, err := hex.DecodeString(got); err != nil {
		t.Errorf("pseudonym %q is not hex: %v", got, err)
	}
	// Stable under one secret, so every instance's lines correlate.
	if again := NewPseudonymizer(secret).UserID("8120345"); again != got {
		t.Errorf("same secret, same id: %q then %q", got, again)
	}
	if other := p.UserID("8120346"); other == got {
		t.Errorf("two ids share the pseudonym %q", got)
	}
	// Without the key the pseudonym cannot be computed from the id: not
	// from its bare hash (what the logs used to show), and another key
	// gives another pseudonym.
	sum := sha256.Sum256([]byte("8120345"))
	if bare := hex.EncodeToString(sum[:]); strings.HasPrefix(bare, got) {
		t.Errorf("pseudonym %q is the id's unkeyed SHA-256 %s", got, bare)
	}
	if other := NewPseudonymizer([]byte("another-secret-of-at-least-32-bytes")).UserID("8120345"); other == got {
		t.Errorf("two secrets give the same pseudonym %q", got)
	}
	// The key is derived from the secret, not the secret itself: the
	// pseudonym is not an HMAC under the banner secret, which the
	// messenger backend also holds.
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("8120345"))
	if direct := hex.EncodeToString(mac.Sum(nil)); strings.HasPrefix(direct, got) {
		t.Errorf("pseudonym %q is an HMAC keyed with the secret itself", got)
	}
	// Dev mode: a key of this process only.
	a, b := RandomPseudonymizer(), RandomPseudonymizer()
	if a.UserID("8120345") == b.UserID("8120345") {
		t.Errorf("two random keys give the same pseudonym")
	}
	if a.UserID("8120345") != a.UserID("8120345") {
		t.Errorf("a random key is not stable within its process")
	}
}
