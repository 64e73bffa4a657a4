package engine

import (
	"encoding/json"
	"testing"
)

var frameSamples = []string{
	`{"type":"text","text":"25만원","id":"k3x-1","state":"loss_amount"}`,
	`{"type":"choice","value":"yes","id":"a-2","state":"privacy_consent"}`,
	`{"type":"command","name":"back"}`,
	` { "type" : "text" , "text" : "줄\n바꿈 \"따옴표\" \\ \/ \t" } `,
	`{"type":"text","text":"\u00e9\ud83d\ude00"}`,
	`{"TYPE":"text","Text":"x"}`,
	`{"ſtate":"s","type":"text"}`,
	`{"type":"text","text":null}`,
	`{"type":"text","extra":{"a":[1,2]},"n":5}`,
	`{"type":"text","type":"choice","value":"v"}`,
	`{"type":"text"}x`,
	`{"type":"text",}`,
	`{"type":"te` + "\x01" + `xt"}`,
	"{\"type\":\"text\",\"text\":\"\xff\"}",
	`{}`, `null`, ``, `[]`, `"text"`,
}

// The fast path, where it answers, answers as encoding/json does.
func TestDecodeFrameMatchesEncodingJSON(t *testing.T) {
	fast := 0
	for _, s := range frameSamples {
		if checkDecodeFrame(t, []byte(s)) {
			fast++
		}
	}
	if fast < 5 {
		t.Errorf("the fast path took %d of the samples, want the plain ones at least", fast)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range frameSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeFrame(t, data) })
}

func checkDecodeFrame(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	var want Frame
	wantErr := json.Unmarshal(data, &want)
	got, err := DecodeFrame(data)
	if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
		t.Errorf("DecodeFrame(%q) = %+v, %v; encoding/json: %+v, %v", data, got, err, want, wantErr)
	}
	f, ok := decodeFlatFrame(data)
	if ok && (wantErr != nil || f != want) {
		t.Errorf("fast path on %q = %+v; encoding/json: %+v, %v", data, f, want, wantErr)
	}
	return ok
}

func BenchmarkDecodeFrame(b *testing.B) {
	data := []byte(`{"type":"text","text":"서비스가 하루 종일 안 돼서 손님을 못 받았어요","id":"k3x9-12","state":"content"}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeFrame(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var f Frame
			if err := json.Unmarshal(data, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
