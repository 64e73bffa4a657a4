package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
)

var bodyStrings = []string{"", "a", "행복분식", "owner@example.com", "<script>&amp;</script>", "\"q\" \\ /", "\b\f\n\r\t",
	"\x00\x01\x1f\x7f", "\u2028\u2029", "…€", "\xff\xfe", "\xe2\x80", "🙂", "\ufffd", "010-5555-1234", "claim.submitted"}

func randomString(rng *rand.Rand) string {
	var b []byte
	for range rng.IntN(4) {
		b = append(b, bodyStrings[rng.IntN(len(bodyStrings))]...)
	}
	return string(b)
}

// randomClaim is a claim with what a body can hold: answers of every
// type the engine saves (and some it does not), files or none, any time.
func randomClaim(rng *rand.Rand) *engine.Claim {
	cl := &engine.Claim{ID: randomString(rng), User: randomString(rng), Lang: randomString(rng), Flow: randomString(rng),
		Version: randomString(rng), SubmittedAt: time.Unix(rng.Int64N(4e9)-1e9, rng.Int64N(1e9)).In(time.FixedZone("X", 3600*rng.IntN(24)-43200))}
	if rng.IntN(8) > 0 {
		cl.Answers = map[string]any{}
		for range rng.IntN(14) {
			var v any
			switch rng.IntN(6) {
			case 0:
				v = randomString(rng)
			case 1:
				v = rng.IntN(2) == 0
			case 2:
				v = rng.Int64() - rng.Int64()
			case 3:
				v = rng.IntN(1000) - 500
			case 4:
				v = nil
			case 5:
				v = randomString(rng)
			}
			cl.Answers[randomString(rng)] = v
		}
	}
	for range rng.IntN(3) {
		cl.Attachments = append(cl.Attachments, engine.Attachment{ID: randomString(rng), Name: randomString(rng),
			Type: randomString(rng), Size: rng.Int64N(1 << 40), SHA256: randomString(rng)})
	}
	return cl
}

// appendBody writes what json.Marshal of the event writes, byte for byte,
// for any claim it takes; Body gives json.Marshal's for every claim.
func TestAppendBodyAsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 17))
	links := []func(string) string{nil, func(id string) string { return "https://files.example/" + id + "?s=<&>" }}
	taken := 0
	for i := range 20000 {
		cl := randomClaim(rng)
		if i%50 == 0 && len(cl.Answers) > 0 {
			cl.Answers["ratio"] = 0.5 // a type appendBody leaves to json.Marshal
		}
		if i%97 == 0 {
			cl.SubmittedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal refuses it
		}
		link := links[i%2]
		want, wantErr := marshalBody(cl, link)
		if got, ok := appendBody([]byte("x"), cl, link); ok {
			taken++
			if wantErr != nil || !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Fatalf("claim %+v:\n%s\nwant (%v)\n%s", cl, got[1:], wantErr, want)
			}
		}
		got, err := Body(cl, link)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("Body %+v: %v\n%s\nwant (%v)\n%s", cl, err, got, wantErr, want)
		}
	}
	if taken < 15000 {
		t.Errorf("appendBody wrote %d of 20000 claims", taken)
	}
}

// BenchmarkBody is the body of a small business's claim.
func BenchmarkBody(b *testing.B) {
	cl := &engine.Claim{ID: "7K3M-Q9XD", User: "u-123456", Lang: "ko", Flow: "damage-1015", Version: "204746a6ab6f",
		SubmittedAt: time.Date(2022, 10, 20, 10, 0, 0, 0, time.UTC),
		Answers: map[string]any{"privacy_consent": true, "reporter_type": "small_business", "service": "messenger",
			"damage_type": "free_monetary", "business_name": "행복분식", "business_number": "220-81-62517",
			"loss_amount": int64(250000), "support_tier": "tier_30k", "email": "owner@example.com", "phone": "010-5555-1234",
			"title": "주문 알림 누락", "content": "10월 15일 저녁 주문 알림이 오지 않았습니다."}}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshalBody(cl, nil)
		}
	})
	b.Run("Body", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Body(cl, nil)
		}
	})
	buf := make([]byte, 0, 1024)
	b.Run("appendBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = appendBody(buf[:0], cl, nil)
		}
	})
}
