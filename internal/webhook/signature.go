package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks spec.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a message's webhook-timestamp may be from the
// receiver's clock, either way, before Verify refuses it.
const Tolerance = 5 * time.Minute

const (
	secretPrefix   = "whsec_"
	minSecretBytes = 24 // the spec asks for 24 to 64 bytes
	newSecretBytes = 32
)

// Errors of Verify; they are wrapped with details.
var (
	ErrMissingHeader = errors.New("webhook: missing header")
	ErrTimestamp     = errors.New("webhook: bad timestamp")
	ErrSignature     = errors.New("webhook: no matching signature")
)

// Secret is the HMAC key of a "whsec_<base64>" signing secret: the decoded
// bytes after the prefix. It does not print its bytes (String, LogValue).
type Secret []byte

// ParseSecret decodes a "whsec_<base64>" signing secret.
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook: secret must start with %q", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: secret is not base64 after %q", secretPrefix)
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("webhook: secret has %d bytes, want at least %d", len(key), minSecretBytes)
	}
	return Secret(key), nil
}

// NewSecret returns a fresh random "whsec_<base64>" secret of 32 bytes.
func NewSecret() (string, error) {
	key := make([]byte, newSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// String hides the key, so a secret printed by mistake leaks nothing.
func (s Secret) String() string { return "webhook.Secret(redacted)" }

// LogValue hides the key from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Sign returns the "v1,<base64>" signature of a message: HMAC-SHA256 over
// "id.timestamp.body" with the timestamp in unix seconds.
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(id, strconv.FormatInt(ts.Unix(), 10), body))
}

func (s Secret) mac(id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, s)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a received message: webhook-id present, webhook-timestamp
// within Tolerance of now, and at least one of the space-separated "v1,"
// signatures in webhook-signature matching (compared in constant time).
// Signatures of other versions are ignored.
func (s Secret) Verify(h http.Header, body []byte, now time.Time) error {
	id := h.Get(HeaderID)
	tsText := h.Get(HeaderTimestamp)
	sigs := h.Get(HeaderSignature)
	for _, hv := range [][2]string{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if hv[1] == "" {
			return fmt.Errorf("%w %s", ErrMissingHeader, hv[0])
		}
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, tsText)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > Tolerance {
		return fmt.Errorf("%w: %s old, tolerance %s", ErrTimestamp, d.Round(time.Second), Tolerance)
	} else if -d > Tolerance {
		return fmt.Errorf("%w: %s in the future, tolerance %s", ErrTimestamp, (-d).Round(time.Second), Tolerance)
	}
	if len(s) == 0 {
		return fmt.Errorf("%w: empty secret", ErrSignature)
	}
	want := s.mac(id, tsText, body)
	for _, sig := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// SetHeaders sets the headers of one delivery attempt: webhook-id,
// webhook-timestamp (unix seconds of ts), webhook-signature and
// Content-Type: application/json.
func SetHeaders(h http.Header, s Secret, id string, ts time.Time, body []byte) {
	// Set would canonicalize these lower-case names on every delivery, a
	// new string each: their canonical forms are made once.
	h[canonicalID] = []string{id}
	h[canonicalTimestamp] = []string{strconv.FormatInt(ts.Unix(), 10)}
	h[canonicalSignature] = []string{s.Sign(id, ts, body)}
	h["Content-Type"] = []string{"application/json"}
}

var (
	canonicalID        = http.CanonicalHeaderKey(HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(HeaderSignature)
)

// Signer signs the attempts of one sender with one secret, as Sign and
// SetHeaders do. It keeps its HMAC state and buffers from one message to
// the next: hmac.New derives the key's pads and makes two hashes each time,
// and a signature made by Sign allocates some ten times; SetHeaders here
// allocates twice. A Signer is not safe for concurrent use.
type Signer struct {
	mac hash.Hash
	sum []byte
	buf []byte
}

// NewSigner returns a Signer for s.
func (s Secret) NewSigner() *Signer {
	return &Signer{mac: hmac.New(sha256.New, s), sum: make([]byte, 0, sha256.Size)}
}

// Sign returns the signature that Secret.Sign returns.
func (g *Signer) Sign(id string, ts time.Time, body []byte) string {
	var t [20]byte
	sig, _ := g.sign("", id, strconv.AppendInt(t[:0], ts.Unix(), 10), body)
	return string(sig)
}

// sign signs the message prefix+id, ts and body: it leaves in g.buf ts,
// then "v1,<base64>", then prefix+id, and returns the signature and the
// id there.
func (g *Signer) sign(prefix, id string, ts, body []byte) (sig, msgID []byte) {
	g.buf = append(append(append(append(append(g.buf[:0], prefix...), id...), '.'), ts...), '.')
	g.mac.Reset()
	g.mac.Write(g.buf)
	g.mac.Write(body)
	g.sum = g.mac.Sum(g.sum[:0])
	g.buf = append(append(g.buf[:0], ts...), "v1,"...)
	g.buf = base64.StdEncoding.AppendEncode(g.buf, g.sum)
	end := len(g.buf)
	g.buf = append(append(g.buf, prefix...), id...)
	return g.buf[len(ts):end], g.buf[end:]
}

// SetHeaders sets the headers that SetHeaders sets. The timestamp and the
// signature share one string, the four values one slice.
func (g *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	g.setHeaders(h, "", id, ts, body)
}

// SetClaimHeaders sets the headers that SetHeaders sets for the message
// MessageID(claimID), whose id shares the string of the timestamp and the
// signature instead of being made on its own.
func (g *Signer) SetClaimHeaders(h http.Header, claimID string, ts time.Time, body []byte) {
	g.setHeaders(h, messageIDPrefix, claimID, ts, body)
}

func (g *Signer) setHeaders(h http.Header, prefix, id string, ts time.Time, body []byte) {
	var t [20]byte
	tsText := strconv.AppendInt(t[:0], ts.Unix(), 10)
	sig, msgID := g.sign(prefix, id, tsText, body)
	all := string(g.buf)
	v := make([]string, 4)
	v[0], v[1], v[2], v[3] = id, all[:len(tsText)], all[len(tsText):len(tsText)+len(sig)], "application/json"
	if prefix != "" {
		v[0] = all[len(all)-len(msgID):]
	}
	h[canonicalID] = v[0:1:1]
	h[canonicalTimestamp] = v[1:2:2]
	h[canonicalSignature] = v[2:3:3]
	h["Content-Type"] = v[3:4:4]
}
