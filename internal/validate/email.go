package validate

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Email checks an email address typed on its own (no display name, no angle
// brackets, no comments, no quoted local part) and returns it with the
// domain lower-cased and the local part as typed. The domain needs a dot and
// a top-level label of two or more characters that are not all digits.
// Full-width characters (＠, ．) are folded first. Code: "format".
func Email(s string) (string, error) {
	s = Normalize(s)
	if len(s) > 254 || s == "" {
		return "", fail("email", "format")
	}
	if strings.IndexFunc(s, needsFold) >= 0 {
		s = strings.Map(foldWidth, s)
	}
	if strings.ContainsAny(s, " \t<>()[],;:\"\\") {
		return "", fail("email", "format")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", fail("email", "format")
	}
	// The domain in lower case, in NFC again: lowering can undo a
	// composition ("İ" + U+030F is NFC; lowered, "i" + U+030F is not,
	// and composes to "ȉ"), and a normalized address must come out the
	// same when normalized again.
	if d := strings.ToLower(s[at+1:]); d != s[at+1:] {
		s = s[:at+1] + norm.NFC.String(d)
	}
	if len(s) > 254 {
		return "", fail("email", "format")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", fail("email", "format")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || !validDomain(domain) {
		return "", fail("email", "format")
	}
	return s, nil
}

func needsFold(r rune) bool { return foldWidth(r) != r }

// validDomain checks host-name syntax: dot-separated labels of letters (any
// script, for IDN), digits and inner hyphens, at least two labels, the last
// not all digits and at least two characters long.
func validDomain(d string) bool {
	if d == "" {
		return false
	}
	labels := 0
	for d != "" {
		label := d
		if i := strings.IndexByte(d, '.'); i >= 0 {
			label, d = d[:i], d[i+1:]
			if d == "" {
				return false // trailing dot
			}
		} else {
			d = ""
		}
		labels++
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		digits := true
		for _, r := range label {
			switch {
			case r >= '0' && r <= '9':
			case r < utf8.RuneSelf:
				digits = false
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
					return false
				}
			default:
				digits = false
				if !unicode.In(r, unicode.L, unicode.M, unicode.Nd) {
					return false
				}
			}
		}
		if d == "" && (digits || utf8.RuneCountInString(label) < 2) {
			return false // top-level label
		}
	}
	return labels >= 2
}
