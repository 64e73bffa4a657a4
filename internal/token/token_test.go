package token_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/claimbot/claimbot/internal/token"
)

var secret = []byte("token-test-secret-0123456789abcdef")

// now is the checking time of every test: whole seconds, as exp is.
var now = time.Date(2022, 10, 19, 6, 12, 40, 0, time.UTC)

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(sub string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iat": now.Add(-time.Minute).Unix(), "exp": exp.Unix()}
}

func TestVerify(t *testing.T) {
	hour := now.Add(time.Hour)
	for _, tt := range []struct {
		name string
		raw  string
		want error // nil: accepted
	}{
		{"good", sign(t, jwt.SigningMethodHS256, secret, claims("user-1", hour)), nil},
		{"missing exp", sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "user-1"}), token.ErrInvalid},
		{"exp 1 s ago", sign(t, jwt.SigningMethodHS256, secret, claims("user-1", now.Add(-time.Second))), token.ErrExpired},
		{"exp now", sign(t, jwt.SigningMethodHS256, secret, claims("user-1", now)), token.ErrExpired},
		{"exp in 1 s", sign(t, jwt.SigningMethodHS256, secret, claims("user-1", now.Add(time.Second))), nil},
		{"sub of 0 characters", sign(t, jwt.SigningMethodHS256, secret, claims("", hour)), token.ErrInvalid},
		{"sub missing", sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": hour.Unix()}), token.ErrInvalid},
		{"sub of 128 characters", sign(t, jwt.SigningMethodHS256, secret, claims(strings.Repeat("가", 128), hour)), nil},
		{"sub of 129 characters", sign(t, jwt.SigningMethodHS256, secret, claims(strings.Repeat("가", 129), hour)), token.ErrInvalid},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("user-1", hour)), token.ErrInvalid},
		{"alg HS512", sign(t, jwt.SigningMethodHS512, secret, claims("user-1", hour)), token.ErrInvalid},
		{"alg HS384", sign(t, jwt.SigningMethodHS384, secret, claims("user-1", hour)), token.ErrInvalid},
		{"another secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdefgh"), claims("user-1", hour)), token.ErrInvalid},
		{"lang fr", sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u", "exp": hour.Unix(), "lang": "fr"}), token.ErrInvalid},
		{"garbage", "abc.def.ghi", token.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := token.Verify(secret, tt.raw, now)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v (claims %+v), want %v", err, c, tt.want)
			case tt.want != nil && c != nil:
				t.Fatalf("refused with %v but returned claims %+v", err, c)
			}
		})
	}
}

func TestClaims(t *testing.T) {
	for _, tt := range []struct {
		name, flow, lang string
		wantFlow         string
		wantLang         string
	}{
		{"defaults", "", "", "", "ko"},
		{"ko", "", "ko", "", "ko"},
		{"en with a flow", "damage-1015", "en", "damage-1015", "en"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := token.Mint(secret, "user-7", tt.flow, tt.lang, 30*time.Minute, now)
			if err != nil {
				t.Fatal(err)
			}
			c, err := token.Verify(secret, raw, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if c.User() != "user-7" || c.Flow != tt.wantFlow || c.Language() != tt.wantLang {
				t.Errorf("user %q flow %q lang %q, want user-7, %q, %q", c.User(), c.Flow, c.Language(), tt.wantFlow, tt.wantLang)
			}
			if _, err := token.Verify(secret, raw, now.Add(30*time.Minute)); !errors.Is(err, token.ErrExpired) {
				t.Errorf("at its exp: %v, want expired", err)
			}
		})
	}
}

// A cookie is never accepted as a banner token.
func TestCookieKeyDiffers(t *testing.T) {
	raw, err := token.Mint(token.CookieKey(secret), "user-1", "", "", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.Verify(secret, raw, now); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("a cookie passed as a banner token: %v", err)
	}
}
