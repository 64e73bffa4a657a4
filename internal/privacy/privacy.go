// Package privacy masks personal data for places where people other than
// the user and the backend see it: logs, metrics, operator tools and dev
// pages. The user's own summary shows answers in full and does not use it.
package privacy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaskEmail keeps the first character of the local part and the domain:
// "hong@example.com" becomes "h***@example.com". A value without "@" is
// masked as a whole.
func MaskEmail(s string) string {
	if s == "" {
		return ""
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return firstRune(s) + "***"
	}
	return firstRune(s[:at]) + "***" + s[at:]
}

// MaskPhone hides the last four digits and keeps every other character, so
// the last group of each Korean form becomes stars: "010-1234-5678" becomes
// "010-1234-****", "02-123-4567" becomes "02-123-****" and "01012345678"
// becomes "0101234****". With fewer than four digits every digit is hidden.
func MaskPhone(s string) string {
	return maskDigitsFrom(s, countDigits(s)-4)
}

// MaskText keeps the first character and the length in characters:
// "채널 주문 누락" becomes "채…(8자)". It is for free text (title, content,
// business name) in logs.
func MaskText(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("%s…(%d자)", firstRune(s), utf8.RuneCountInString(s))
}

// MaskBusinessNumber keeps the first three digits and the separators:
// "220-81-62517" becomes "220-**-*****".
func MaskBusinessNumber(s string) string {
	return maskDigitsFrom(s, 3)
}

// Mask masks one answer by its key (the answer keys of CONTRACT §4): email,
// phone, business_number and the free texts title, content and
// business_name. Other keys, and values that are not strings, are returned
// unchanged.
func Mask(key string, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch key {
	case "email":
		return MaskEmail(s)
	case "phone":
		return MaskPhone(s)
	case "business_number":
		return MaskBusinessNumber(s)
	case "title", "content", "business_name":
		return MaskText(s)
	}
	return v
}

// MaskAnswers returns a masked copy of answers; answers is not changed.
func MaskAnswers(answers map[string]any) map[string]any {
	if answers == nil {
		return nil
	}
	out := make(map[string]any, len(answers))
	for k, v := range answers {
		out[k] = Mask(k, v)
	}
	return out
}

// Pseudonymizer turns messenger user ids into pseudonyms for logs and dev
// pages: HMAC-SHA256 under a key, cut to 64 bits (16 hex characters). An
// unkeyed hash would not do: user ids are short numbers, and a reader of
// the logs can hash every one of them in seconds; and a short cut collides
// among millions of users. Without the key a pseudonym cannot be computed
// from an id, so it cannot be reversed by trying ids.
//
// A Pseudonymizer is safe for use by many goroutines.
type Pseudonymizer struct {
	key []byte
}

// pseudonymLabel separates the pseudonyms' key from every other use of the
// secret it is derived from (the banner secret signs tokens and cookies).
const pseudonymLabel = "claimbot log pseudonym v1"

// pseudonymBytes is how much of the HMAC a pseudonym keeps: 64 bits, so
// millions of users hardly ever share one (about 1 in 10^7 for ten million).
const pseudonymBytes = 8

// NewPseudonymizer derives the key from secret: HMAC-SHA256(secret,
// "claimbot log pseudonym v1"). Every instance configured with the same
// secret gives the same pseudonyms, so their log lines correlate; the key
// itself is never the secret, so a pseudonym is no oracle of the secret.
func NewPseudonymizer(secret []byte) *Pseudonymizer {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(pseudonymLabel))
	return &Pseudonymizer{key: mac.Sum(nil)}
}

// RandomPseudonymizer has a random key of this process only: dev mode's,
// which has no secret; its pseudonyms change on every start.
func RandomPseudonymizer() *Pseudonymizer {
	key := make([]byte, sha256.Size)
	rand.Read(key)
	return &Pseudonymizer{key: key}
}

// UserID returns the pseudonym of a messenger user id: 16 hex characters.
func (p *Pseudonymizer) UserID(s string) string {
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil)[:pseudonymBytes])
}

func firstRune(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}

// maskDigitsFrom replaces every ASCII digit after the first keep digits
// with '*'. A negative keep masks every digit.
func maskDigitsFrom(s string, keep int) string {
	b := []byte(s)
	seen := 0
	for i := range b {
		if !isDigit(b[i]) {
			continue
		}
		if seen >= keep {
			b[i] = '*'
		}
		seen++
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
