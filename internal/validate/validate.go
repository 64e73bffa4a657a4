// Package validate checks and normalizes the answers users type into the
// chat: phone numbers, amounts of money, business registration numbers,
// email addresses, free text, yes/no answers and quick-reply choices.
//
// Every validator returns the normalized value the backend stores, or an
// *Error whose Code the bot maps to a localized message. Validators accept
// what Korean users really type on phones: NFD Hangul, full-width digits and
// signs, stray spaces and separators.
package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Error is a refused answer. Code is a short machine reason the bot maps to a
// localized message.
//
// Kind is one of "phone", "amount", "business_number", "email", "text",
// "confirm". Code is one of "format", "zero", "negative", "too_large",
// "check_digit", "extension", "empty", "too_short", "too_long".
type Error struct{ Kind, Code string }

// Error returns "kind: code", e.g. "amount: too_large".
func (e *Error) Error() string { return e.Kind + ": " + e.Code }

func fail(kind, code string) error { return &Error{Kind: kind, Code: code} }

// Normalize returns s in NFC with surrounding space trimmed and every run of
// white space (newlines, tabs, NBSP, the full-width space U+3000…) folded to
// one ASCII space. Zero-width spaces and byte-order marks are dropped and
// invalid UTF-8 becomes U+FFFD.
func Normalize(s string) string { return clean(s, false) }

// clean is Normalize (text false) or the cleaning Text does (text true): the
// same, but line breaks survive (at most one blank line in a row) and control
// characters are dropped.
func clean(s string, text bool) string {
	if isClean(s, text) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space, breaks := false, 0
	prev := rune(0)
	for _, r := range s {
		cr := prev == '\r'
		prev = r
		switch {
		case isZeroWidth(r):
			continue
		case text && isLineBreak(r):
			if r == '\n' && cr {
				continue // \r\n is one break
			}
			breaks++
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case text && unicode.IsControl(r):
			continue
		}
		if b.Len() > 0 {
			switch {
			case breaks > 1:
				b.WriteString("\n\n")
			case breaks == 1:
				b.WriteByte('\n')
			case space:
				b.WriteByte(' ')
			}
		}
		space, breaks = false, 0
		b.WriteRune(r) // utf8.RuneError for invalid bytes: U+FFFD
	}
	return norm.NFC.String(b.String())
}

// isClean reports whether clean(s, text) == s without building anything: the
// common case of an answer that needs no work.
func isClean(s string, text bool) bool {
	if s == "" {
		return true
	}
	prevSpace, prevBreaks := true, 0 // at the start, as after a space
	ascii := true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ':
				if prevSpace || prevBreaks > 0 {
					return false
				}
				prevSpace = true
			case c == '\n' && text:
				if prevSpace || prevBreaks == 2 || i == 0 {
					return false
				}
				prevBreaks++
			case c < 0x20 || c == 0x7f:
				return false
			default:
				prevSpace, prevBreaks = false, 0
			}
			i++
			continue
		}
		ascii = false
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || isZeroWidth(r) || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
		prevSpace, prevBreaks = false, 0
		i += size
	}
	if prevSpace || prevBreaks > 0 {
		return false
	}
	return ascii || norm.NFC.IsNormalString(s)
}

func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// isZeroWidth reports invisible characters that are dropped outright: zero
// width space, word joiner, byte-order mark. ZWJ and ZWNJ are kept: emoji and
// some scripts need them.
func isZeroWidth(r rune) bool {
	return r == 0x200b || r == 0x2060 || r == 0xfeff
}

// foldWidth maps the full-width forms of ASCII (what a Korean keyboard in
// full-width mode types: ０１２, ＠, －) to ASCII, the ideographic space to a
// space and the full-width won sign to ₩.
func foldWidth(r rune) rune {
	switch {
	case r >= 0xff01 && r <= 0xff5e:
		return r - 0xfee0
	case r == 0x3000:
		return ' '
	case r == 0xffe6:
		return '₩'
	}
	return r
}

// isDash reports the hyphens and dashes people put between digit groups.
func isDash(r rune) bool {
	switch r {
	case '-', 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xfe63:
		return true
	}
	return false
}

// matchKey is the form in which answers are compared with words: NFC, lower
// case, without white space, punctuation, symbols (emoji included), controls
// and format characters. Canonically equivalent inputs (NFD, NFC) get the
// same key.
func matchKey(s string) string {
	if isKey(s) {
		return s
	}
	s = norm.NFC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = foldWidth(r)
		if r < utf8.RuneSelf {
			switch {
			case r >= 'A' && r <= 'Z':
				b.WriteByte(byte(r) + 'a' - 'A')
			case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteByte(byte(r))
			}
			continue // ASCII space, punctuation, symbols and controls
		}
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) ||
			unicode.In(r, unicode.Cc, unicode.Cf) || r == utf8.RuneError {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

// isKey reports whether matchKey(s) == s for the common cases, without
// building anything: lower-case ASCII letters, digits and Hangul syllables
// (which are always NFC).
func isKey(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 0xac00 && r <= 0xd7a3) {
			return false
		}
	}
	return true
}
