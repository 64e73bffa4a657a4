// Package token mints and checks banner tokens (contract §1): JWTs signed
// HS256 with the banner secret, which the messenger backend puts into the
// banner link, and the session cookie the chat page gets in exchange.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are a banner token's claims.
type Claims struct {
	Flow string `json:"flow,omitempty"`
	Lang string `json:"lang,omitempty"`
	jwt.RegisteredClaims
}

// User is the messenger user id.
func (c *Claims) User() string { return c.Subject }

// Language is the token's language, ko unless en.
func (c *Claims) Language() string {
	if c.Lang == "en" {
		return "en"
	}
	return "ko"
}

// Errors of Verify.
var (
	ErrInvalid = errors.New("token: invalid")
	ErrExpired = errors.New("token: expired")
)

// Mint signs a token for a user, as the messenger backend would.
func Mint(secret []byte, user, flow, lang string, ttl time.Duration, now time.Time) (string, error) {
	c := Claims{Flow: flow, Lang: lang, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature (HS256 only), its exp (required, and
// refused from that second on: no clock-skew leeway, the backend that mints
// the token picks its lifetime) and its sub (required, 1–128 characters).
func Verify(secret []byte, raw string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if n := len([]rune(c.Subject)); n < 1 || n > 128 {
		return nil, fmt.Errorf("%w: sub must be 1-128 characters", ErrInvalid)
	}
	if c.Lang != "" && c.Lang != "ko" && c.Lang != "en" {
		return nil, fmt.Errorf("%w: lang must be ko or en", ErrInvalid)
	}
	return &c, nil
}

// CookieKey derives the key of session cookies from the banner secret, so
// a cookie is never accepted as a banner token or the other way round.
func CookieKey(bannerSecret []byte) []byte {
	m := hmac.New(sha256.New, bannerSecret)
	m.Write([]byte("claimbot session cookie v1"))
	return m.Sum(nil)
}
