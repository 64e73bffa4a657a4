package validate

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxAmount is the largest amount Amount accepts: 10,000,000,000 KRW (100억).
const maxAmount = 10_000_000_000

// Amount reads an amount of Korean won as people type it and returns it in
// whole won.
//
// It takes digits with or without thousands separators ("250000",
// "250,000", "250.000"), Sino-Korean numerals ("오십만", "삼천오백"), units
// after digits ("25만", "3천5백만", "1억 2천만", "2.5만"); right after 억 a
// last group of 천, 백, 십 counts 만 ("1억5천", "일억오천": 150,000,000),
// and digits there ("1억 5000") are refused. A currency sign or word before
// or after ("₩", "\", "KRW", "원", "won") and a polite ending ("25만원이요",
// "25만원입니다"). Digits and Hangul numerals are not mixed in one amount.
//
// Codes: "format" for anything else (native Korean numerals like 스무닷새,
// "1e9", fractions of a won, "1.500만", an ending that makes the amount
// ambiguous),
// "zero", "negative", "too_large" above 10,000,000,000.
func Amount(s string) (int64, error) {
	var buf [64]rune
	rs, ok := compactAmount(s, buf[:0])
	if !ok {
		return 0, fail("amount", "format")
	}
	// A polite ending may be glued on: 25만원이요. Try the text as it is and
	// without each ending that fits; the readings that parse must agree
	// (오십이요 is 50 with 이요 or 52 with 요: refused).
	v, code := parseAmount(rs)
	found := code != "format"
	for _, e := range amountEndings {
		if !hasRuneSuffix(rs, e) {
			continue
		}
		ev, ecode := parseAmount(rs[:len(rs)-len(e)])
		switch {
		case ecode == "format":
		case !found:
			v, code, found = ev, ecode, true
		case ev != v || ecode != code:
			return 0, fail("amount", "format")
		}
	}
	if !found {
		return 0, fail("amount", "format")
	}
	if code != "" {
		return 0, fail("amount", code)
	}
	return v, nil
}

var amountEndings = [][]rune{
	[]rune("입니다"), []rune("이에요"), []rune("이예요"), []rune("예요"),
	[]rune("에요"), []rune("이요"), []rune("요"), []rune("임"),
}

// compactAmount writes s into buf in NFC, with full-width forms folded, ASCII
// letters lower-cased, white space and trailing punctuation dropped. It
// refuses digits separated only by space ("10 20") and overlong input.
func compactAmount(s string, buf []rune) ([]rune, bool) {
	if len(s) > 4*cap(buf) {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			s = norm.NFC.String(s)
			break
		}
	}
	gap := false
	for _, r := range s {
		r = foldWidth(r)
		switch {
		case r == utf8.RuneError:
			return nil, false
		case unicode.IsSpace(r) || isZeroWidth(r):
			gap = len(buf) > 0
			continue
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r >= '0' && r <= '9':
			if gap && isDigit(buf[len(buf)-1]) {
				return nil, false
			}
		}
		gap = false
		if len(buf) == cap(buf) {
			return nil, false
		}
		buf = append(buf, r)
	}
	for len(buf) > 0 {
		switch buf[len(buf)-1] {
		case '.', '!', '~', '?', '。':
			buf = buf[:len(buf)-1]
			continue
		}
		break
	}
	return buf, true
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func hasRuneSuffix(rs, suffix []rune) bool {
	if len(suffix) > len(rs) {
		return false
	}
	rs = rs[len(rs)-len(suffix):]
	for i, r := range suffix {
		if rs[i] != r {
			return false
		}
	}
	return true
}

func hasRunePrefix(rs, prefix []rune) bool {
	if len(prefix) > len(rs) {
		return false
	}
	for i, r := range prefix {
		if rs[i] != r {
			return false
		}
	}
	return true
}

var (
	currencySuffixes = [][]rune{[]rune("원정"), []rune("원"), []rune("won"), []rune("krw")}
	currencyPrefixes = [][]rune{[]rune("₩"), []rune(`\`), []rune("krw")}
	minusPrefixes    = [][]rune{[]rune("-"), []rune("−"), []rune("마이너스")}
)

// parseAmount reads one compacted amount: an optional sign and currency, the
// number, an optional currency. Code is "" for an accepted amount.
func parseAmount(rs []rune) (int64, string) {
	for _, p := range currencySuffixes {
		if hasRuneSuffix(rs, p) {
			rs = rs[:len(rs)-len(p)]
			break
		}
	}
	neg, signed, cur := false, false, false
prefix:
	for {
		if !signed {
			if len(rs) > 0 && rs[0] == '+' {
				rs, signed = rs[1:], true
				continue
			}
			for _, p := range minusPrefixes {
				if hasRunePrefix(rs, p) {
					rs, signed, neg = rs[len(p):], true, true
					continue prefix
				}
			}
		}
		if !cur {
			for _, p := range currencyPrefixes {
				if hasRunePrefix(rs, p) {
					rs, cur = rs[len(p):], true
					continue prefix
				}
			}
		}
		break
	}
	v, huge, ok := parseKoreanNumber(rs)
	switch {
	case !ok:
		return 0, "format"
	case !huge && v == 0:
		return 0, "zero"
	case neg:
		return 0, "negative"
	case huge || v > maxAmount:
		return 0, "too_large"
	}
	return int64(v), ""
}

// decimal is a number as typed: mant / 10^frac, trailing fraction zeros
// dropped (so mant%10 != 0 when frac > 0). over: more digits than uint64
// holds.
type decimal struct {
	mant uint64
	frac int
	over bool
	dot  bool
}

// numberGroup is the part of an amount before one of 만, 억, 조 (or the end):
// mant × 10^exp.
type numberGroup struct {
	mant      uint64
	exp       int
	over      bool
	terms     int
	dec       bool // its only term has a decimal point
	lastSmall int  // exponent of the last 십, 백, 천 (99: none yet)
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// lessPow10 reports whether mant × 10^exp < 10^e.
func lessPow10(mant uint64, exp, e int) bool {
	k := e - exp
	switch {
	case k < 0:
		return mant == 0
	case k >= len(pow10):
		return true
	}
	return mant < pow10[k]
}

// mulPow10 returns m × 10^e, ok false on overflow.
func mulPow10(m uint64, e int) (uint64, bool) {
	if m == 0 {
		return 0, true
	}
	if e >= len(pow10) || m > (1<<64-1)/pow10[e] {
		return 0, false
	}
	return m * pow10[e], true
}

func hangulDigit(r rune) uint64 {
	switch r {
	case '일':
		return 1
	case '이':
		return 2
	case '삼':
		return 3
	case '사':
		return 4
	case '오':
		return 5
	case '육':
		return 6
	case '칠':
		return 7
	case '팔':
		return 8
	case '구':
		return 9
	}
	return 0
}

func smallUnit(r rune) int {
	switch r {
	case '십':
		return 1
	case '백':
		return 2
	case '천':
		return 3
	}
	return 0
}

func bigUnit(r rune) int {
	switch r {
	case '만':
		return 4
	case '억':
		return 8
	case '조':
		return 12
	}
	return 0
}

// parseKoreanNumber reads digits, Hangul numerals and the units 십 백 천 만
// 억 조. huge reports a syntactically good number too large for uint64.
func parseKoreanNumber(rs []rune) (v uint64, huge, ok bool) {
	const (
		none = iota
		arabic
		hangul
	)
	var (
		g       = numberGroup{lastSmall: 99}
		pending decimal
		hasPend bool
		lastBig = 99
		first   = true // no 만/억/조 yet
		kind    = none
		seen    = false
	)
	// closeGroup ends the group at a big unit of exponent e (0 at the end).
	closeGroup := func(e int) bool {
		if e == 0 && !first && lastBig > 4 && (hasPend || g.terms > 0) {
			// A last group right after 억 or 조 counts the next unit down,
			// as Korean is spoken: 1억5천 is 1.5억 (5천만), 1억 5백 is
			// 1억 500만, 1조5천 is 1조 5천억. With a units part (1억 5000,
			// 1억5천500) it is 만 or won, nobody can tell: asked again.
			if hasPend {
				return false
			}
			e = lastBig - 4
		}
		if hasPend {
			n := pending
			switch {
			case g.dec:
				return false
			case g.terms > 0:
				if n.dot || !lessPow10(n.mant, 0, g.lastSmall) {
					return false // 3천5000
				}
				g.mant += n.mant
			default:
				g.mant, g.exp, g.over, g.dec = n.mant, -n.frac, n.over, n.dot
			}
			g.terms++
			hasPend = false
		}
		if g.terms == 0 {
			if e == 0 {
				return true // nothing after the last big unit
			}
			if !first {
				return false // 1억만
			}
			g.mant, g.terms = 1, 1 // 만원 is 1만
		}
		if !first && (g.over || !lessPow10(g.mant, g.exp, 4)) {
			return false // 1억 15000만
		}
		if g.exp+e < 0 {
			return false // not whole won: 2.5원
		}
		if g.over {
			huge = true
		} else if x, ok := mulPow10(g.mant, g.exp+e); !ok {
			huge = true
		} else if v += x; v < x {
			huge = true
		}
		g = numberGroup{lastSmall: 99}
		return true
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case isDigit(r):
			if hasPend || kind == hangul {
				return 0, false, false
			}
			n, size, ok := readDecimal(rs[i:])
			if !ok {
				return 0, false, false
			}
			kind, pending, hasPend = arabic, n, true
			i += size
			seen = true
			continue
		case hangulDigit(r) != 0:
			if hasPend || kind == arabic {
				return 0, false, false
			}
			kind, pending, hasPend = hangul, decimal{mant: hangulDigit(r)}, true
		case smallUnit(r) != 0:
			e := smallUnit(r)
			n := decimal{mant: 1}
			if hasPend {
				n = pending
			}
			if e >= g.lastSmall || g.dec || n.over || n.mant == 0 || !lessPow10(n.mant, -n.frac, 1) {
				return 0, false, false // 백천, 25백, 0천
			}
			if n.dot {
				if g.terms > 0 {
					return 0, false, false
				}
				g.mant, g.exp, g.dec = n.mant, e-n.frac, true
			} else {
				g.mant += n.mant * pow10[e]
			}
			g.terms++
			g.lastSmall = e
			hasPend = false
		case bigUnit(r) != 0:
			e := bigUnit(r)
			if e >= lastBig || !closeGroup(e) {
				return 0, false, false
			}
			lastBig, first = e, false
		default:
			return 0, false, false
		}
		seen = true
		i++
	}
	if !seen || !closeGroup(0) {
		return 0, false, false
	}
	return v, huge, true
}

// readDecimal reads digits with optional thousands commas or dots (groups
// of exactly three) and an optional decimal point followed by digits.
func readDecimal(rs []rune) (n decimal, size int, ok bool) {
	add := func(r rune) {
		if n.over {
			return
		}
		d := uint64(r - '0')
		if n.mant > (1<<64-1-d)/10 {
			n.over = true
			return
		}
		n.mant = n.mant*10 + d
	}
	i := 0
	for i < len(rs) && isDigit(rs[i]) {
		add(rs[i])
		i++
	}
	lead := i
	// Dots between groups of three digits group thousands, as in much of
	// Europe: 600.000원, 1.500.000. A fraction of three digits is never
	// meant in won; with one such dot before a unit (1.500만: 1.5만 or
	// 1500만?) it is refused.
	dotGroup := func(j int) bool {
		return j+3 < len(rs) && rs[j] == '.' && isDigit(rs[j+1]) && isDigit(rs[j+2]) && isDigit(rs[j+3]) &&
			(j+4 == len(rs) || !isDigit(rs[j+4]))
	}
	if lead <= 3 && rs[0] != '0' && dotGroup(i) {
		groups := 0
		for dotGroup(i) {
			add(rs[i+1])
			add(rs[i+2])
			add(rs[i+3])
			i += 4
			groups++
		}
		if groups == 1 && i < len(rs) && (smallUnit(rs[i]) != 0 || bigUnit(rs[i]) != 0) {
			return n, 0, false
		}
		return n, i, true
	}
	for i < len(rs) && rs[i] == ',' {
		if i+3 >= len(rs) || !isDigit(rs[i+1]) || !isDigit(rs[i+2]) || !isDigit(rs[i+3]) ||
			i+4 < len(rs) && isDigit(rs[i+4]) {
			return n, 0, false
		}
		add(rs[i+1])
		add(rs[i+2])
		add(rs[i+3])
		i += 4
	}
	if i < len(rs) && rs[i] == '.' {
		n.dot = true
		i++
		start := i
		for i < len(rs) && isDigit(rs[i]) {
			i++
		}
		if i == start {
			return n, 0, false // "2.만"
		}
		end := i
		for end > start && rs[end-1] == '0' {
			end--
		}
		if end-start > 15 {
			return n, 0, false // never whole won, even with 천조
		}
		for _, r := range rs[start:end] {
			add(r)
		}
		n.frac = end - start
	}
	return n, i, true
}
