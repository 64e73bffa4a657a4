package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Phone checks a Korean phone number and returns it in the usual dashed
// form: mobile 010-1234-5678 (011, 016–019 also with a 3-digit middle),
// Seoul 02-123-4567 or 02-1234-5678, the other area codes (031–033, 041–044,
// 051–055, 061–064) and 070 internet phones as 031-123-4567 or
// 031-1234-5678.
//
// Spaces, dots, dashes and parentheses may separate the digits, digits may be
// full-width, and the number may start with +82 or 82 (with or without the
// trunk 0: +82 10-…, +82 (0)10-…). Where the digits are typed in groups, each
// break must fall where the number's own dashes go: 02-123-4567-8 is not
// 02-1234-5678.
//
// Codes: "extension" for a good number followed by an extension, as one
// more group (02-123-4567 12) or after 내선, ext or # (the call back cannot
// dial it: ask for the number alone); "format" for anything else.
func Phone(s string) (string, error) {
	if len(s) > 64 {
		return "", fail("phone", "format")
	}
	if number, ok := beforeExtension(s); ok {
		if _, err := Phone(number); err == nil {
			return "", fail("phone", "extension")
		}
		return "", fail("phone", "format")
	}
	const (
		maxDigits = 15 // E.164
		maxExt    = 5  // digits of an extension typed as one more group
	)
	var buf [maxDigits + maxExt + 1]byte // +1: room for a trunk 0 put back
	d := buf[1:1]
	var cuts [8]int // digits typed before each break between two digits
	ncuts := 0
	plus, gap := false, false
	for _, r := range s {
		r = foldWidth(r)
		switch {
		case r >= '0' && r <= '9':
			if len(d) == maxDigits+maxExt {
				return "", fail("phone", "format")
			}
			if gap && len(d) > 0 {
				if ncuts == len(cuts) {
					return "", fail("phone", "format")
				}
				cuts[ncuts] = len(d)
				ncuts++
			}
			gap = false
			d = append(d, byte(r))
		case r == '+':
			if plus || len(d) > 0 {
				return "", fail("phone", "format")
			}
			plus = true
		case r == '.' || r == '(' || r == ')' || isDash(r) || unicode.IsSpace(r):
			gap = true
		default:
			return "", fail("phone", "format")
		}
	}
	// shift turns a position in the typed digits into one in the national
	// number; breaks at or before national position lead are in the
	// country code or around the trunk 0 (+82 (0)10-…, 82 2 123 4567).
	shift, lead := 0, 0
	if plus || len(d) >= 2 && d[0] == '8' && d[1] == '2' {
		if len(d) < 2 || d[0] != '8' || d[1] != '2' {
			return "", fail("phone", "format") // another country
		}
		d = d[2:]
		shift, lead = -2, 1
		if len(d) == 0 || d[0] != '0' {
			d = buf[2 : 2+len(d)+1] // the byte before d: put the trunk 0 back
			d[0] = '0'
			shift = -1
		}
	}
	var kept [len(cuts)]int
	breaks := kept[:0]
	for _, c := range cuts[:ncuts] {
		if c += shift; c > lead {
			breaks = append(breaks, c)
		}
	}
	if len(d) <= maxDigits {
		if out, ok := formatPhone(d); ok && fitsGroups(d, breaks) {
			return out, nil
		}
	}
	// A good number, in its own groups, and a short last group: an extension.
	for i, c := range breaks {
		if _, ok := formatPhone(d[:c]); ok && len(d)-c <= maxExt && fitsGroups(d[:c], breaks[:i]) {
			return "", fail("phone", "extension")
		}
	}
	return "", fail("phone", "format")
}

// fitsGroups reports whether every break falls where formatPhone puts a
// dash in d, a number it takes.
func fitsGroups(d []byte, breaks []int) bool {
	area := 3
	if d[1] == '2' {
		area = 2
	}
	for _, b := range breaks {
		if b != area && b != len(d)-4 {
			return false
		}
	}
	return true
}

// beforeExtension returns what comes before an extension's marker (내선,
// ext, #) in s, and whether s has one.
func beforeExtension(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			s = norm.NFC.String(s)
			break
		}
	}
	s = strings.ToLower(s)
	at := -1
	for _, m := range []string{"내선", "ext", "#", "＃"} {
		if i := strings.Index(s, m); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return "", false
	}
	return s[:at], true
}

// formatPhone dashes a national number (trunk 0 included) or reports that it
// is not one this bot takes.
func formatPhone(d []byte) (string, bool) {
	if len(d) < 9 || d[0] != '0' {
		return "", false
	}
	area, min, max := 3, 10, 11
	switch {
	case d[1] == '2': // Seoul
		area, min, max = 2, 9, 10
	case d[1] == '1' && d[2] == '0': // 010: always 4-digit middle now
		min = 11
	case d[1] == '1':
		ok := d[2] == '1' || d[2] >= '6' && d[2] <= '9'
		if !ok {
			return "", false
		}
	case d[1] == '3':
		ok := d[2] >= '1' && d[2] <= '3'
		if !ok {
			return "", false
		}
	case d[1] == '4':
		ok := d[2] >= '1' && d[2] <= '4'
		if !ok {
			return "", false
		}
	case d[1] == '5':
		ok := d[2] >= '1' && d[2] <= '5'
		if !ok {
			return "", false
		}
	case d[1] == '6':
		ok := d[2] >= '1' && d[2] <= '4'
		if !ok {
			return "", false
		}
	case d[1] == '7' && d[2] == '0':
	default:
		return "", false
	}
	if len(d) < min || len(d) > max || d[area] == '0' {
		return "", false // a middle part never starts with 0
	}
	var out [13]byte
	n := copy(out[:], d[:area])
	out[n] = '-'
	n++
	mid := len(d) - 4
	n += copy(out[n:], d[area:mid])
	out[n] = '-'
	n++
	n += copy(out[n:], d[mid:])
	return string(out[:n]), true
}
