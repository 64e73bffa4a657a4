package webhook

import (
	"strconv"
	"testing"
)

// BenchmarkValidateBody checks the contract example with every answer
// key against the JSON Schema.
func BenchmarkValidateBody(b *testing.B) {
	body := []byte(fullBody)
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateBody(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDevReceiver is the built-in receiver taking one signed claim:
// the signature, the schema and storing it.
func BenchmarkDevReceiver(b *testing.B) {
	s := mustSecret(b, vectorSecret)
	d := NewDevReceiver(s, nil)
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = withClaimID(b, "C-20221019-"+strconv.Itoa(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if rec := deliver(b, d, s, "msg_"+strconv.Itoa(i), bodies[i%len(bodies)]); rec.Code >= 300 {
			b.Fatal(rec.Code, rec.Body.String())
		}
		i++
	}
}
