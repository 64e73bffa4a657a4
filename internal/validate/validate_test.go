package validate

import (
	"errors"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// code returns "" for a nil error and "kind: code" for an *Error; any other
// error shows as "other: …" so a test names it.
func code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return "other: " + err.Error()
	}
	return e.Kind + ": " + e.Code
}

func TestErrorMessage(t *testing.T) {
	got := (&Error{Kind: "amount", Code: "too_large"}).Error()
	if want := "amount: too_large"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "소상공인", "소상공인"},
		{"trim", "  네  ", "네"},
		{"runs", "행복   분식", "행복 분식"},
		{"tabs and newlines", "a\t\n b\r\nc", "a b c"},
		{"full-width space", "\u3000행복\u3000\u3000분식\u3000", "행복 분식"},
		{"nbsp", "25만\u00a0원", "25만 원"},
		{"nfd", norm.NFD.String("소상공인"), "소상공인"},
		{"nfd and spaces", " " + norm.NFD.String("행복  분식") + " ", "행복 분식"},
		{"zero width", "\ufeff네\u200b", "네"},
		{"invalid utf-8", "a\xffb", "a\ufffdb"},
		{"ascii untouched", "owner@example.com", "owner@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

var phoneTests = []struct {
	name, in, want, err string
}{
	{"mobile dashed", "010-1234-5678", "010-1234-5678", ""},
	{"mobile bare", "01012345678", "010-1234-5678", ""},
	{"mobile spaced", "010 1234 5678", "010-1234-5678", ""},
	{"mobile dotted", "010.1234.5678", "010-1234-5678", ""},
	{"mobile parenthesized", "(010) 1234-5678", "010-1234-5678", ""},
	{"mobile surrounded by space", "  010-5555-1234 ", "010-5555-1234", ""},
	{"mobile full-width", "０１０－１２３４－５６７８", "010-1234-5678", ""},
	{"plus82 dashed", "+82 10-1234-5678", "010-1234-5678", ""},
	{"plus82 bare", "+821012345678", "010-1234-5678", ""},
	{"plus82 trunk zero", "+82 (0)10-1234-5678", "010-1234-5678", ""},
	{"plus82 with zero", "+82 010 1234 5678", "010-1234-5678", ""},
	{"82 without plus", "821012345678", "010-1234-5678", ""},
	{"82 seoul", "+82 2-123-4567", "02-123-4567", ""},
	{"old mobile 3-digit middle", "011-123-4567", "011-123-4567", ""},
	{"old mobile 4-digit middle", "0169876543", "016-987-6543", ""},
	{"old mobile 019", "019-1234-5678", "019-1234-5678", ""},
	{"seoul short", "02-123-4567", "02-123-4567", ""},
	{"seoul long", "02-1234-5678", "02-1234-5678", ""},
	{"seoul parenthesized", "(02) 1234 5678", "02-1234-5678", ""},
	{"seoul bare", "0212345678", "02-1234-5678", ""},
	{"gyeonggi bare", "0312345678", "031-234-5678", ""},
	{"gyeonggi long", "031-1234-5678", "031-1234-5678", ""},
	{"gangwon", "033-123-4567", "033-123-4567", ""},
	{"chungnam", "041 123 4567", "041-123-4567", ""},
	{"busan", "051-1234-5678", "051-1234-5678", ""},
	{"jeju", "064-123-4567", "064-123-4567", ""},
	{"internet phone", "070-1234-5678", "070-1234-5678", ""},
	{"empty", "", "", "phone: format"},
	{"blank", "   ", "", "phone: format"},
	{"letters", "공일공", "", "phone: format"},
	{"short", "1234", "", "phone: format"},
	{"short groups", "010-12-34", "", "phone: format"},
	{"seoul short groups", "02-12-345", "", "phone: format"},
	{"mobile 10 digits", "010-123-4567", "", "phone: format"},
	{"mobile 12 digits", "010-1234-56789", "", "phone: format"},
	{"no trunk zero", "10-1234-5678", "", "phone: format"},
	{"unknown area", "039-123-4567", "", "phone: format"},
	{"area 034", "034-123-4567", "", "phone: format"},
	{"area 065", "065-123-4567", "", "phone: format"},
	{"071", "071-1234-5678", "", "phone: format"},
	{"012", "012-1234-5678", "", "phone: format"},
	{"toll free", "080-123-4567", "", "phone: format"},
	{"rep number", "1588-1234", "", "phone: format"},
	{"middle starts with 0", "02-012-3456", "", "phone: format"},
	{"other country", "+1 212 555 1234", "", "phone: format"},
	{"plus inside", "010+1234+5678", "", "phone: format"},
	{"two plus", "++821012345678", "", "phone: format"},
	{"plus only", "+", "", "phone: format"},
	{"plus82 only", "+82", "", "phone: format"},
	{"letters inside", "010-1234-567o", "", "phone: format"},
	{"extension word", "02-123-4567 ext 12", "", "phone: extension"},
	{"extension naeseon", "02-123-4567 내선 12", "", "phone: extension"},
	{"extension naeseon nfd", "02-123-4567 " + norm.NFD.String("내선") + " 12", "", "phone: extension"},
	{"extension upper", "031-123-4567 EXT. 301", "", "phone: extension"},
	{"extension hash", "010-1234-5678#3", "", "phone: extension"},
	{"extension word without number", "ext 12", "", "phone: format"},
	{"extension word after bad number", "02-12-345 내선 1", "", "phone: format"},
	// An extension typed as one more group is not part of the number:
	// 02-123-4567-8 is not 02-1234-5678.
	{"extension group seoul", "02-123-4567-8", "", "phone: extension"},
	{"extension group gyeonggi", "031-123-4567 1", "", "phone: extension"},
	{"extension group mobile", "010-1234-5678 9", "", "phone: extension"},
	{"extension group long", "02-123-4567 1234", "", "phone: extension"},
	{"extension group plus82", "+82 2-123-4567-8", "", "phone: extension"},
	{"groups split wrong", "010-123-45678", "", "phone: format"},
	{"groups split wrong seoul", "02-1234-567-8", "", "phone: format"},
	{"groups split in area", "0-10-1234-5678", "", "phone: format"},
	{"two numbers", "010-1234-5678 010-9876-5432", "", "phone: format"},
	{"area only then rest", "010 12345678", "010-1234-5678", ""},
	{"line only split", "0101234 5678", "010-1234-5678", ""},
	{"plus82 spaced groups", "+82 10 1234 5678", "010-1234-5678", ""},
	{"82 spaced seoul", "82 2 1234 5678", "02-1234-5678", ""},
	{"slash", "010/1234/5678", "", "phone: format"},
	{"too many digits", "0101234567801012345678", "", "phone: format"},
	{"invalid utf-8", "010\xff12345678", "", "phone: format"},
}

func TestPhone(t *testing.T) {
	for _, tt := range phoneTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Phone(tt.in)
			if got != tt.want || code(err) != tt.err {
				t.Errorf("Phone(%q) = %q, %q; want %q, %q", tt.in, got, code(err), tt.want, tt.err)
			}
		})
	}
}

var amountTests = []struct {
	name string
	in   string
	want int64
	err  string
}{
	{"man won", "25만원", 250_000, ""},
	{"man space won", "25만 원", 250_000, ""},
	{"commas won", "250,000원", 250_000, ""},
	{"won sign", "₩250,000", 250_000, ""},
	{"full-width won sign", "￦250,000", 250_000, ""},
	{"backslash as won sign", `\250,000`, 250_000, ""},
	{"digits", "250000", 250_000, ""},
	{"commas space won", "250,000 원", 250_000, ""},
	{"eok cheonman", "1억 2천만원", 120_000_000, ""},
	{"eok cheonman glued", "1억2천만원", 120_000_000, ""},
	{"hangul osipman", "오십만원", 500_000, ""},
	{"hangul samcheonobaek", "삼천오백원", 3_500, ""},
	{"digits with small units", "3천5백만원", 35_000_000, ""},
	{"decimal man", "2.5만원", 25_000, ""},
	{"decimal eok", "1.5억", 150_000_000, ""},
	{"decimal cheonman", "1.5천만원", 15_000_000, ""},
	{"decimal trailing zeros", "2.50만", 25_000, ""},
	{"decimal whole", "2.0원", 2, ""},
	{"krw prefix", "KRW 250000", 250_000, ""},
	{"krw lower glued", "krw250000", 250_000, ""},
	{"krw suffix", "250000 KRW", 250_000, ""},
	{"won word", "250000won", 250_000, ""},
	{"won word spaced", "250,000 Won", 250_000, ""},
	{"man only", "만원", 10_000, ""},
	{"cheon only", "천원", 1_000, ""},
	{"eok only", "억", 100_000_000, ""},
	{"sipman", "십만원", 100_000, ""},
	{"isiboman", "이십오만원", 250_000, ""},
	{"baekman", "백만원", 1_000_000, ""},
	{"cheonman", "천만원", 10_000_000, ""},
	{"ilwon", "일원", 1, ""},
	{"man ocheon", "오만 오천원", 55_000, ""},
	{"digits groups", "1만 2천 500원", 12_500, ""},
	{"digits cheon hundreds", "3천500만원", 35_000_000, ""},
	{"large man", "1,200만원", 12_000_000, ""},
	{"eok man", "3억 5000만원", 350_000_000, ""},
	{"polite iyo", "25만원이요", 250_000, ""},
	{"polite imnida", "25만 원입니다.", 250_000, ""},
	{"polite yo", "25만요", 250_000, ""},
	{"hangul polite", "오십이만원이요", 520_000, ""},
	{"man iyo", "5만이요", 50_000, ""},
	{"trailing punctuation", "25만원!", 250_000, ""},
	{"full-width digits", "２５만원", 250_000, ""},
	{"nfd", norm.NFD.String("오십만원"), 500_000, ""},
	{"plus sign", "+5000", 5_000, ""},
	{"one won", "1", 1, ""},
	{"boundary", "10,000,000,000", 10_000_000_000, ""},
	{"boundary units", "100억", 10_000_000_000, ""},
	{"boundary hangul", "백억원", 10_000_000_000, ""},
	{"formal wonjeong", "오십만원정", 500_000, ""},
	// After 억 (or 조), a last group of 천, 백, 십 without 만 is a count of
	// 만, as every Korean reads it: 1억5천 is 1.5억, not 1억 and 5천 won.
	{"eok bare cheon", "1억5천", 150_000_000, ""},
	{"eok bare cheon won", "3억5천원", 350_000_000, ""},
	{"eok bare cheon spaced", "1억 5천", 150_000_000, ""},
	{"hangul eok bare cheon", "일억오천", 150_000_000, ""},
	{"hangul eok bare cheon polite", "일억오천이요", 150_000_000, ""},
	{"eok bare baek", "1억 5백", 105_000_000, ""},
	{"eok bare cheon baek", "1억 2천5백", 125_000_000, ""},
	{"hangul eok cheon baek sip", "이억삼천오백이십", 235_200_000, ""},
	{"bare eok bare cheon", "억오천", 150_000_000, ""},
	{"eok decimal cheon", "1억 2.5천", 125_000_000, ""},
	{"eok cheon man", "1억5천만", 150_000_000, ""},
	{"man bare cheon is won", "5만5천", 55_000, ""},
	{"eok man bare cheon is won", "1억 2천만 5천원", 120_005_000, ""},
	// Dots between groups of three digits group thousands, as commas do.
	{"dots grouping won", "600.000원", 600_000, ""},
	{"dots grouping", "300.000", 300_000, ""},
	{"dots grouping two", "1.500.000", 1_500_000, ""},
	{"dots grouping won sign", "₩2.500.000", 2_500_000, ""},
	{"dots grouping three", "1.000.000.000원", 1_000_000_000, ""},
	{"dot decimal man", "1.5만", 15_000, ""},
	{"dot decimal two digits man", "1.25만", 12_500, ""},
	{"empty", "", 0, "amount: format"},
	{"blank", "  ", 0, "amount: format"},
	{"letters", "abc", 0, "amount: format"},
	{"native numerals", "스무닷새", 0, "amount: format"},
	{"words", "이십만원쯤", 0, "amount: format"},
	{"exponent", "1e9", 0, "amount: format"},
	{"won only", "원", 0, "amount: format"},
	{"sign only", "₩", 0, "amount: format"},
	{"fraction of won", "2.5원", 0, "amount: format"},
	{"tiny fraction", "0.00001만", 0, "amount: format"},
	{"dot without digits", "2.만", 0, "amount: format"},
	{"dot first", ".5만", 0, "amount: format"},
	{"two dots", "1.2.3", 0, "amount: format"},
	{"mixed numerals", "삼천5백원", 0, "amount: format"},
	{"digit then hangul digit", "2오만", 0, "amount: format"},
	{"two hangul digits", "오오만", 0, "amount: format"},
	{"units out of order", "백천원", 0, "amount: format"},
	{"big units out of order", "1만2억", 0, "amount: format"},
	{"big unit twice", "1만2만", 0, "amount: format"},
	{"empty group after big unit", "1억만원", 0, "amount: format"},
	{"big group too large", "1억15000만", 0, "amount: format"},
	{"tail too large", "1만20000원", 0, "amount: format"},
	{"tail after cheon too large", "3천5000", 0, "amount: format"},
	{"many before small unit", "25백", 0, "amount: format"},
	{"zero before small unit", "0천", 0, "amount: format"},
	{"decimal then more", "1.5천5백", 0, "amount: format"},
	{"space between digits", "10 20", 0, "amount: format"},
	{"bad comma group", "25,0000원", 0, "amount: format"},
	{"european decimal comma", "2,5만", 0, "amount: format"},
	{"comma first", ",000", 0, "amount: format"},
	{"ambiguous ending", "오십이요", 0, "amount: format"},
	{"two currencies", "₩250,000₩", 0, "amount: format"},
	{"two signs", "--5000", 0, "amount: format"},
	{"won in the middle", "25원만", 0, "amount: format"},
	{"approximately", "약 25만원", 0, "amount: format"},
	// After 억 without 만, digits are 만 or won: 1억 5000 may be either.
	{"eok bare digits", "1억 5000", 0, "amount: format"},
	{"eok bare digits won", "1억500원", 0, "amount: format"},
	{"eok cheon then digits", "1억5천500", 0, "amount: format"},
	{"hangul eok bare digit", "일억오", 0, "amount: format"},
	{"hangul eok cheon then digit", "일억오천일", 0, "amount: format"},
	{"too large eok bare digit", "100억 1원", 0, "amount: format"},
	// One dot before three digits and a unit: 1.500만 is 1.5만 or 1500만.
	{"dot three digits man", "1.500만", 0, "amount: format"},
	{"dot three digits eok", "1.500억원", 0, "amount: format"},
	{"dots bad group", "1.50.000", 0, "amount: format"},
	{"dots four digit group", "1.5000.000", 0, "amount: format"},
	{"dots long first group", "1234.567", 0, "amount: format"},
	{"dots then decimal", "1.500.5", 0, "amount: format"},
	{"dots and commas", "1.500,000", 0, "amount: format"},
	{"dot group after zero", "0.500", 0, "amount: format"},
	{"too long", "1111111111111111111111111111111111111111111111111111111111111111111111", 0, "amount: format"},
	{"zero", "0원", 0, "amount: zero"},
	{"zero bare", "0", 0, "amount: zero"},
	{"zero man", "0만원", 0, "amount: zero"},
	{"zero decimal", "0.0", 0, "amount: zero"},
	{"negative", "-5000", 0, "amount: negative"},
	{"negative won sign", "-₩5,000", 0, "amount: negative"},
	{"negative after sign", "₩-5,000", 0, "amount: negative"},
	{"negative minus sign", "−5000원", 0, "amount: negative"},
	{"negative word", "마이너스 오천원", 0, "amount: negative"},
	{"negative huge", "-1조", 0, "amount: negative"},
	{"too large by one", "100억 1만원", 0, "amount: too_large"},
	{"too large by one digits", "10,000,000,001원", 0, "amount: too_large"},
	{"too large eok bare cheon", "100억5천", 0, "amount: too_large"},
	{"too large jo bare cheon", "1조5천", 0, "amount: too_large"},
	{"too large digits", "10,000,000,001", 0, "amount: too_large"},
	{"too large jo", "1조", 0, "amount: too_large"},
	{"too large eok", "101억", 0, "amount: too_large"},
	{"overflow", "99999999999999999999999", 0, "amount: too_large"},
	{"overflow jo", "9999999조", 0, "amount: too_large"},
}

func TestAmount(t *testing.T) {
	for _, tt := range amountTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Amount(tt.in)
			if got != tt.want || code(err) != tt.err {
				t.Errorf("Amount(%q) = %d, %q; want %d, %q", tt.in, got, code(err), tt.want, tt.err)
			}
		})
	}
}

var businessTests = []struct {
	name, in, want, err string
}{
	{"dashed", "220-81-62517", "220-81-62517", ""},
	{"bare", "2208162517", "220-81-62517", ""},
	{"spaced", "220 81 62517", "220-81-62517", ""},
	{"dotted", "220.81.62517", "220-81-62517", ""},
	{"surrounded", " 220-81-62517 ", "220-81-62517", ""},
	{"full-width", "２２０－８１－６２５１７", "220-81-62517", ""},
	{"computed 104", "104-81-61439", "104-81-61439", ""},
	{"computed 124", "1248112344", "124-81-12344", ""},
	{"computed carry", "105-87-12345", "105-87-12345", ""},
	{"computed 229", "229-81-55556", "229-81-55556", ""},
	{"computed 123", "123-45-67891", "123-45-67891", ""},
	{"computed 214", "214-86-00336", "214-86-00336", ""},
	{"computed 101", "101-81-01107", "101-81-01107", ""},
	{"computed serial 0001", "220-81-00016", "220-81-00016", ""},
	{"computed type 99", "101-99-99998", "101-99-99998", ""},
	{"bad check digit", "220-81-62518", "", "business_number: check_digit"},
	// Numbers whose check digit fits but that are never issued: tax
	// office codes run 101–999, the type code 01–99, the serial 0001–9999.
	{"all zeros", "000-00-00000", "", "business_number: check_digit"},
	{"all zeros bare", "0000000000", "", "business_number: check_digit"},
	{"office 000", "000-81-62515", "", "business_number: check_digit"},
	{"office 100", "100-81-62514", "", "business_number: check_digit"},
	{"office 099", "099-81-62515", "", "business_number: check_digit"},
	{"type 00", "220-00-62518", "", "business_number: check_digit"},
	{"serial 0000", "220-81-00001", "", "business_number: check_digit"},
	{"bad check digit bare", "1234567890", "", "business_number: check_digit"},
	{"empty", "", "", "business_number: format"},
	{"letters", "abc-de-fghij", "", "business_number: format"},
	{"nine digits", "220-81-6251", "", "business_number: format"},
	{"eleven digits", "220-81-625170", "", "business_number: format"},
	{"letter inside", "220-81-6251O", "", "business_number: format"},
	{"slash", "220/81/62517", "", "business_number: format"},
}

func TestBusinessNumber(t *testing.T) {
	for _, tt := range businessTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BusinessNumber(tt.in)
			if got != tt.want || code(err) != tt.err {
				t.Errorf("BusinessNumber(%q) = %q, %q; want %q, %q", tt.in, got, code(err), tt.want, tt.err)
			}
		})
	}
}

func TestBusinessCheckDigit(t *testing.T) {
	// Worked by hand: 2·1+2·3+0·7+8·1+1·3+6·7+2·1+5·3 = 78, plus d9·5 and
	// the carry (d9·5)/10.
	tests := []struct {
		name  string
		first string
		want  byte
	}{
		{"d9 0", "220816250", 2}, // 78 → 2,
		{"d9 1", "220816251", 7},
		{"d9 2", "220816252", 1},
		{"d9 5", "220816255", 5},
		{"d9 9", "220816259", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d [9]byte
			for i := range d {
				d[i] = tt.first[i] - '0'
			}
			if got := businessCheckDigit(d[:]); got != tt.want {
				t.Errorf("businessCheckDigit(%s) = %d, want %d", tt.first, got, tt.want)
			}
		})
	}
}

var emailTests = []struct {
	name, in, want, err string
}{
	{"plain", "owner@example.com", "owner@example.com", ""},
	{"domain lower-cased", "Owner.Kim@Example.CO.KR", "Owner.Kim@example.co.kr", ""},
	// İ + U+030F is NFC; lowered, i + U+030F composes to ȉ (found by FuzzEmail).
	{"domain lowered then composed", "0@\u0130\u030f.0A", "0@\u0209.0a", ""},
	{"trimmed", "  hong@naver.com ", "hong@naver.com", ""},
	{"plus tag", "hong+claim@gmail.com", "hong+claim@gmail.com", ""},
	{"full-width at", "hong＠naver.com", "hong@naver.com", ""},
	{"full-width all", "ｈｏｎｇ＠ｎａｖｅｒ．ｃｏｍ", "hong@naver.com", ""},
	{"subdomain", "a@mail.example.co.kr", "a@mail.example.co.kr", ""},
	{"hyphen domain", "a@my-shop.kr", "a@my-shop.kr", ""},
	{"idn domain", "hong@한국.kr", "hong@한국.kr", ""},
	{"empty", "", "", "email: format"},
	{"no at", "owner.example.com", "", "email: format"},
	{"no dot in domain", "owner@localhost", "", "email: format"},
	{"display name", "Owner <owner@example.com>", "", "email: format"},
	{"angle brackets", "<owner@example.com>", "", "email: format"},
	{"comment", "owner@example.com (Kim)", "", "email: format"},
	{"space inside", "own er@example.com", "", "email: format"},
	{"two at", "a@b@example.com", "", "email: format"},
	{"trailing dot", "owner@example.com.", "", "email: format"},
	{"double dot", "owner@example..com", "", "email: format"},
	{"leading dot local", ".owner@example.com", "", "email: format"},
	{"quoted local", `"owner"@example.com`, "", "email: format"},
	{"comma for dot", "owner@naver,com", "", "email: format"},
	{"one-letter tld", "owner@example.c", "", "email: format"},
	{"numeric tld", "owner@1.2.3.4", "", "email: format"},
	{"ip literal", "owner@[1.2.3.4]", "", "email: format"},
	{"hyphen label", "owner@-example.com", "", "email: format"},
	{"symbol in domain", "owner@exa!mple.com", "", "email: format"},
	{"two addresses", "a@example.com, b@example.com", "", "email: format"},
	{"local too long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", "", "email: format"},
	{"korean sentence", "제 메일은 hong@naver.com 입니다", "", "email: format"},
}

func TestEmail(t *testing.T) {
	for _, tt := range emailTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Email(tt.in)
			if got != tt.want || code(err) != tt.err {
				t.Errorf("Email(%q) = %q, %q; want %q, %q", tt.in, got, code(err), tt.want, tt.err)
			}
		})
	}
}

var textTests = []struct {
	name     string
	in       string
	min, max int
	want     string
	err      string
}{
	{"plain", "행복분식", 1, 100, "행복분식", ""},
	{"trimmed and folded", "  행복   분식 ", 1, 100, "행복 분식", ""},
	{"full-width space", "\u3000행복\u3000분식", 1, 100, "행복 분식", ""},
	{"nfd", norm.NFD.String("채널 주문 누락"), 1, 100, "채널 주문 누락", ""},
	{"lines kept", "첫 줄\n둘째 줄", 0, 0, "첫 줄\n둘째 줄", ""},
	{"crlf", "첫 줄\r\n둘째 줄\r\n", 0, 0, "첫 줄\n둘째 줄", ""},
	{"blank lines collapsed", "a\n\n\n\nb", 0, 0, "a\n\nb", ""},
	{"line spaces trimmed", "a  \n  b", 0, 0, "a\nb", ""},
	{"tab", "a\tb", 0, 0, "a b", ""},
	{"controls dropped", "a\x00b\x07c\x1b[0m\x7f", 0, 0, "abc[0m", ""},
	{"exact min", "가", 1, 1, "가", ""},
	{"exact max", "가나다", 0, 3, "가나다", ""},
	{"runes not bytes", "가나다라마바사아자차", 1, 10, "가나다라마바사아자차", ""},
	{"nfd counts composed", norm.NFD.String("가나다"), 0, 3, "가나다", ""},
	{"no bounds", "아무 말", 0, 0, "아무 말", ""},
	{"empty", "", 1, 100, "", "text: empty"},
	{"blank", " \u3000\n\t ", 1, 100, "", "text: empty"},
	{"blank no bound", "   ", 0, 0, "", "text: empty"},
	{"controls only", "\x00\x01", 0, 0, "", "text: empty"},
	{"zero width only", "\u200b", 0, 0, "", "text: empty"},
	{"too short", "가", 2, 0, "", "text: too_short"},
	{"too long", "가나다라", 0, 3, "", "text: too_long"},
	{"too long after clean", "가 나", 0, 2, "", "text: too_long"},
}

func TestText(t *testing.T) {
	for _, tt := range textTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Text(tt.in, tt.min, tt.max)
			if got != tt.want || code(err) != tt.err {
				t.Errorf("Text(%q, %d, %d) = %q, %q; want %q, %q", tt.in, tt.min, tt.max, got, code(err), tt.want, tt.err)
			}
		})
	}
}

var confirmTests = []struct {
	name    string
	in      string
	yes, ok bool
}{
	{"ne", "네", true, true},
	{"ye", "예", true, true},
	{"eung", "응", true, true},
	{"eo", "어", true, true},
	{"majayo", "맞아요", true, true},
	{"matseumnida", "맞습니다", true, true},
	{"joayo", "좋아요", true, true},
	{"dongui", "동의", true, true},
	{"dongui hamnida", "동의합니다", true, true},
	{"dongui hamnida spaced", "동의 합니다.", true, true},
	{"geuraeyo", "그래요", true, true},
	{"ieung ieung", "ㅇㅇ", true, true},
	{"nep", "넵!", true, true},
	{"ne tilde", "네~", true, true},
	{"ne emoji", "네 👍", true, true},
	{"ne nfd", norm.NFD.String("네"), true, true},
	{"majayo nfd", norm.NFD.String("맞아요."), true, true},
	{"aniyo", "아니요", false, true},
	{"anio", "아니오", false, true},
	{"anyo", "아뇨", false, true},
	{"ani", "아니", false, true},
	{"sireoyo", "싫어요", false, true},
	{"dongui anham", "동의안함", false, true},
	{"dongui an ham spaced", "동의 안 함", false, true},
	{"dongui haji anseumnida", "동의하지 않습니다", false, true},
	{"nieun nieun", "ㄴㄴ", false, true},
	{"aniyo nfd", norm.NFD.String("아니요!"), false, true},
	{"yes", "yes", true, true},
	{"yes upper", "YES.", true, true},
	{"y", "Y", true, true},
	{"yeah", "yeah!", true, true},
	{"ok", "OK", true, true},
	{"sure", "Sure", true, true},
	{"agree", "agree", true, true},
	{"i agree", "I agree.", true, true},
	{"no", "no", false, true},
	{"n", "N", false, true},
	{"nope", "Nope!", false, true},
	{"disagree", "disagree", false, true},
	{"empty", "", false, false},
	{"blank", "  ", false, false},
	{"other", "모르겠어요", false, false},
	{"maybe", "maybe", false, false},
	{"amount", "25만원", false, false},
	{"yes and no", "네 아니요", false, false},
}

func TestConfirm(t *testing.T) {
	for _, tt := range confirmTests {
		t.Run(tt.name, func(t *testing.T) {
			yes, ok := Confirm(tt.in)
			if yes != tt.yes || ok != tt.ok {
				t.Errorf("Confirm(%q) = %v, %v; want %v, %v", tt.in, yes, ok, tt.yes, tt.ok)
			}
		})
	}
}

var reporterOptions = []Option{
	{Value: "general", Label: "일반 이용자"},
	{Value: "small_business", Label: "소상공인", Also: []string{"자영업자", "사장님"}},
	{Value: "enterprise", Label: "중대형 기업"},
}

var inquiryOptions = []Option{
	{Value: "inquiry", Label: "문의"},
	{Value: "opinion", Label: "의견"},
	{Value: "complaint", Label: "항의"},
	{Value: "encouragement", Label: "격려"},
}

var overlapOptions = []Option{
	{Value: "company", Label: "기업"},
	{Value: "large", Label: "중대형 기업"},
}

var matchTests = []struct {
	name string
	in   string
	opts []Option
	want int
}{
	{"label", "소상공인", reporterOptions, 1},
	{"label with ending ieyo", "소상공인이에요", reporterOptions, 1},
	{"label with ending imnida", "소상공인입니다.", reporterOptions, 1},
	{"label with ending iyo", "소상공인이요", reporterOptions, 1},
	{"label with ending im", "소상공인임", reporterOptions, 1},
	{"label with ending indeyo", "소상공인인데요", reporterOptions, 1},
	{"spaced label", "소 상 공 인", reporterOptions, 1},
	{"nfd label", norm.NFD.String("소상공인"), reporterOptions, 1},
	{"nfd with ending", norm.NFD.String("소상공인이에요"), reporterOptions, 1},
	{"value", "small_business", reporterOptions, 1},
	{"value upper", "SMALL BUSINESS", reporterOptions, 1},
	{"alias", "자영업자예요", reporterOptions, 1},
	{"label without space", "일반이용자", reporterOptions, 0},
	{"label with ending and space", "일반 이용자입니다", reporterOptions, 0},
	{"part of label", "일반", reporterOptions, 0},
	{"part of other label", "기업", reporterOptions, 2},
	{"part with ending", "중대형", reporterOptions, 2},
	{"contains label", "저는 소상공인 사장이에요", reporterOptions, 1},
	{"contains alias", "가게 사장님", reporterOptions, 1},
	{"nothing", "뭐지", reporterOptions, -1},
	{"one rune", "소", reporterOptions, -1},
	{"empty", "", reporterOptions, -1},
	{"punctuation only", "?!", reporterOptions, -1},
	{"two labels", "소상공인이고 중대형 기업", reporterOptions, -1},
	{"negated", "소상공인 아니에요", reporterOptions, -1},
	{"negated malgo", "기업 말고요", overlapOptions, -1},
	{"overlap exact short", "기업", overlapOptions, 0},
	{"overlap exact long", "중대형기업", overlapOptions, 1},
	{"overlap contains long", "우리는 중대형 기업이라고요", overlapOptions, 1},
	{"short labels exact", "의견", inquiryOptions, 1},
	{"short labels ending", "항의요", inquiryOptions, 2},
	{"short labels object", "문의를", inquiryOptions, 0},
	{"no options", "소상공인", nil, -1},
	{"duplicate labels", "문의", []Option{{Value: "a", Label: "문의"}, {Value: "b", Label: "문의"}}, -1},
}

// shopOptions name a business by words people type around 안 (not): 사업자
// 안 냈어요 and 장사 안 해요 negate them, 안녕 and 불안해요 do not.
var shopOptions = []Option{
	{Value: "general", Label: "일반 이용자"},
	{Value: "small_business", Label: "소상공인", Also: []string{"사업자", "개인사업", "장사", "가게", "보안업체"}},
}

var negationTests = []struct {
	name string
	in   string
	want int
}{
	{"an naetda", "사업자 안 냈어요", -1},
	{"an naetda glued", "사업자안냈어요", -1},
	{"an ham", "개인 사업 안함", -1},
	{"an ham spaced", "개인 사업 안 함", -1},
	{"an hae", "장사 안 해요", -1},
	{"an hae glued", "장사안해요", -1},
	{"an haesseoyo", "장사는 안 했어요", -1},
	{"an hamnida", "가게 안 합니다", -1},
	{"an hago", "가게 안하고 회사 다녀요", -1},
	{"an handa", "장사 안 한 지 오래예요", -1},
	{"an naem", "사업자 등록 안 냄", -1},
	{"annyeong", "안녕하세요 가게 해요", 1},
	{"annae", "장사하는데 안내 부탁해요", 1},
	{"anjeon", "안전하게 장사해요", 1},
	{"boan", "보안업체 운영해요", 1},
	{"boan haeje", "가게 보안 해제가 안 돼서요", 1},
	{"burhan", "장사가 불안해요", 1},
	{"burhanham", "가게 일이 불안함", 1},
	{"pyeonhan", "가게가 편안해요", 1},
	{"mihan", "미안한데 장사해요", 1},
	{"mian hamnida", "미안합니다 사업자예요", 1},
}

func TestMatchChoiceNegation(t *testing.T) {
	for _, tt := range negationTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchChoice(tt.in, shopOptions); got != tt.want {
				t.Errorf("MatchChoice(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestMatchChoice(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchChoice(tt.in, tt.opts); got != tt.want {
				t.Errorf("MatchChoice(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
