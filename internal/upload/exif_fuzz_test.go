package upload

import (
	"bytes"
	"testing"
)

// FuzzStripGPS: any head, however broken, gives an answer and never a
// panic, keeps its length, and a second pass changes nothing more.
func FuzzStripGPS(f *testing.F) {
	photo, _ := gpsJPEG(f)
	f.Add(photo)
	f.Add(photo[:60])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA})
	f.Fuzz(func(t *testing.T, head []byte) {
		b := append([]byte(nil), head...)
		_, err := stripGPS(b)
		if len(b) != len(head) {
			t.Fatal("the length changed")
		}
		if err != nil {
			return
		}
		once := append([]byte(nil), b...)
		if _, err := stripGPS(b); err != nil {
			t.Fatalf("a second pass failed: %v", err)
		}
		if !bytes.Equal(once, b) {
			t.Fatal("a second pass changed the bytes")
		}
	})
}
