package privacy

import (
	"maps"
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

func TestUserID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		// echo -n u-42 | sha256sum
		{"user", "u-42", "16ec525b74"},
		{"empty", "", "e3b0c44298"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UserID(tt.in); got != tt.want {
				t.Errorf("UserID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
