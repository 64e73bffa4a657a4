package validate

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Every accepted value must validate again to itself: the bot stores the
// normalized form and may check it again (a resumed session, the summary).

func FuzzPhone(f *testing.F) {
	for _, tt := range phoneTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Phone(s)
		if err != nil {
			if out != "" {
				t.Errorf("Phone(%q) = %q with error %v", s, out, err)
			}
			return
		}
		again, err := Phone(out)
		if again != out || err != nil {
			t.Errorf("Phone(%q) = %q, but Phone(%q) = %q, %v", s, out, out, again, err)
		}
		if n := strings.Count(out, "-"); n != 2 {
			t.Errorf("Phone(%q) = %q: %d dashes, want 2", s, out, n)
		}
	})
}

func FuzzAmount(f *testing.F) {
	for _, tt := range amountTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Amount(s)
		if err != nil {
			if v != 0 {
				t.Errorf("Amount(%q) = %d with error %v", s, v, err)
			}
			return
		}
		if v < 1 || v > maxAmount {
			t.Errorf("Amount(%q) = %d, out of range", s, v)
		}
		for _, form := range []string{strconv.FormatInt(v, 10), spellDigits(v), spellHangul(v)} {
			if form == "" {
				continue // 억 and won without 만: no spelling that cannot be misread
			}
			if got, err := Amount(form); got != v || err != nil {
				t.Errorf("Amount(%q) = %d, but Amount(%q) = %d, %v", s, v, form, got, err)
			}
		}
	})
}

func FuzzBusinessNumber(f *testing.F) {
	for _, tt := range businessTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := BusinessNumber(s)
		if err != nil {
			return
		}
		again, err := BusinessNumber(out)
		if again != out || err != nil {
			t.Errorf("BusinessNumber(%q) = %q, but BusinessNumber(%q) = %q, %v", s, out, out, again, err)
		}
		if len(out) != 12 || out[3] != '-' || out[6] != '-' {
			t.Errorf("BusinessNumber(%q) = %q, not NNN-NN-NNNNN", s, out)
		}
	})
}

func FuzzEmail(f *testing.F) {
	for _, tt := range emailTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Email(s)
		if err != nil {
			return
		}
		again, err := Email(out)
		if again != out || err != nil {
			t.Errorf("Email(%q) = %q, but Email(%q) = %q, %v", s, out, out, again, err)
		}
		at := strings.LastIndexByte(out, '@')
		if at < 0 || strings.ToLower(out[at:]) != out[at:] || strings.ContainsAny(out, " <>") {
			t.Errorf("Email(%q) = %q, not a bare address with a lower-case domain", s, out)
		}
	})
}

func FuzzText(f *testing.F) {
	for _, tt := range textTests {
		f.Add(tt.in, tt.min, tt.max)
	}
	for _, tt := range matchTests {
		f.Add(tt.in, 0, 0)
	}
	f.Fuzz(func(t *testing.T, s string, min, max int) {
		n := Normalize(s)
		if again := Normalize(n); again != n {
			t.Errorf("Normalize(%q) = %q, but Normalize(%q) = %q", s, n, n, again)
		}
		if strings.TrimSpace(n) != n || strings.Contains(n, "  ") || !utf8.ValidString(n) || !norm.NFC.IsNormalString(n) {
			t.Errorf("Normalize(%q) = %q: not trimmed, folded, valid NFC", s, n)
		}
		out, err := Text(s, min, max)
		if err != nil {
			return
		}
		again, err := Text(out, min, max)
		if again != out || err != nil {
			t.Errorf("Text(%q) = %q, but Text(%q) = %q, %v", s, out, out, again, err)
		}
		if c := utf8.RuneCountInString(out); c == 0 || min > 0 && c < min || max > 0 && c > max {
			t.Errorf("Text(%q, %d, %d) = %q: %d runes", s, min, max, out, c)
		}
		if strings.ContainsAny(out, "\x00\r\t") || strings.Contains(out, "\n\n\n") {
			t.Errorf("Text(%q) = %q: control characters or blank lines left", s, out)
		}
	})
}

func FuzzConfirm(f *testing.F) {
	for _, tt := range confirmTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		yes, ok := Confirm(s)
		if !ok && yes {
			t.Errorf("Confirm(%q) = yes without ok", s)
		}
		if !utf8.ValidString(s) {
			return
		}
		forms := []string{norm.NFD.String(s), " " + s + "!"}
		if up := strings.ToUpper(s); strings.ToLower(up) == strings.ToLower(s) {
			forms = append(forms, up) // not for ı, ſ…: upper-casing loses them
		}
		for _, form := range forms {
			y, o := Confirm(form)
			if y != yes || o != ok {
				t.Errorf("Confirm(%q) = %v, %v but Confirm(%q) = %v, %v", s, yes, ok, form, y, o)
			}
		}
	})
}

func FuzzMatchChoice(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, opts := range [][]Option{reporterOptions, inquiryOptions, overlapOptions} {
			got := MatchChoice(s, opts)
			if got < -1 || got >= len(opts) {
				t.Fatalf("MatchChoice(%q) = %d, out of range", s, got)
			}
			if got >= 0 {
				for _, again := range []string{opts[got].Value, opts[got].Label} {
					if i := MatchChoice(again, opts); i != got {
						t.Errorf("MatchChoice(%q) = %d but MatchChoice(%q) = %d", s, got, again, i)
					}
				}
			}
			if !utf8.ValidString(s) {
				continue
			}
			for _, form := range []string{norm.NFD.String(s), " " + s + " ", s + "."} {
				if again := MatchChoice(form, opts); again != got {
					t.Errorf("MatchChoice(%q) = %d but MatchChoice(%q) = %d", s, got, form, again)
				}
			}
		}
	})
}

// spelledAmbiguously reports whether v has 억 and won but no 만
// (100,000,500): spelled with units it would read 1억 500, which Amount
// refuses (500만 or 500원?).
func spelledAmbiguously(v int64) bool { return v >= 1e8 && v/1e4%1e4 == 0 && v%1e4 != 0 }

// spellDigits writes v with digit groups and units: 1억2000만500; "" when
// spelledAmbiguously.
func spellDigits(v int64) string {
	if spelledAmbiguously(v) {
		return ""
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		name string
	}{{1e8, "억"}, {1e4, "만"}} {
		if q := v / u.n; q > 0 {
			b.WriteString(strconv.FormatInt(q, 10) + u.name)
			v %= u.n
		}
	}
	if v > 0 {
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteString("원")
	return b.String()
}

// spellHangul writes v in Sino-Korean numerals, as a cheque would: 일억이천만오백원;
// "" when spelledAmbiguously.
func spellHangul(v int64) string {
	if spelledAmbiguously(v) {
		return ""
	}
	digits := []string{"", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"}
	small := []string{"", "십", "백", "천"}
	group := func(n int64) string {
		var b strings.Builder
		for e := 3; e >= 0; e-- {
			d := n / int64(pow10[e]) % 10
			if d == 0 {
				continue
			}
			if d > 1 || e == 0 {
				b.WriteString(digits[d])
			}
			b.WriteString(small[e])
		}
		return b.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		name string
	}{{1e8, "억"}, {1e4, "만"}, {1, ""}} {
		if q := v / u.n; q > 0 {
			b.WriteString(group(q) + u.name)
			v %= u.n
		}
	}
	return b.String() + "원"
}

func TestAmountSpelled(t *testing.T) {
	tests := []struct {
		name   string
		v      int64
		digits string
		hangul string
	}{
		{"one", 1, "1원", "일원"},
		{"ten", 10, "10원", "십원"},
		{"fifteen", 15, "15원", "십오원"},
		{"3500", 3500, "3500원", "삼천오백원"},
		{"10000", 10000, "1만원", "일만원"},
		{"250000", 250000, "25만원", "이십오만원"},
		{"120000000", 120000000, "1억2000만원", "일억이천만원"},
		{"1234567890", 1234567890, "12억3456만7890원", "십이억삼천사백오십육만칠천팔백구십원"},
		{"max", maxAmount, "100억원", "백억원"},
		{"eok man", 150_000_000, "1억5000만원", "일억오천만원"},
		{"eok man won", 150_000_500, "1억5000만500원", "일억오천만오백원"},
		{"eok and won without man", 100_000_500, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spellDigits(tt.v); got != tt.digits {
				t.Errorf("spellDigits(%d) = %q, want %q", tt.v, got, tt.digits)
			}
			if got := spellHangul(tt.v); got != tt.hangul {
				t.Errorf("spellHangul(%d) = %q, want %q", tt.v, got, tt.hangul)
			}
			for _, s := range []string{tt.digits, tt.hangul} {
				if s == "" {
					continue
				}
				if got, err := Amount(s); got != tt.v || err != nil {
					t.Errorf("Amount(%q) = %d, %v; want %d", s, got, err, tt.v)
				}
			}
		})
	}
}
