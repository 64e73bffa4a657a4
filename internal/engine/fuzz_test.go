package engine_test

import (
	"strings"
	"testing"

	"github.com/claimbot/claimbot/internal/engine"
)

// FuzzStep drives a conversation with arbitrary inputs: the engine never
// panics, a refused answer never moves the state, and the reply always
// names a state.
func FuzzStep(f *testing.F) {
	f.Add("네\x00일반\x00택시\x00무료\x0025만원\x00a@b.co\x0001012345678\x00제목\x00내용\x00접수하기")
	f.Add("yes\x00back\x00restart\x00처음으로\x00이전\x00스무닷새")
	f.Add("\xff\xfe\x00\x00 \x00edit_email\x00submit")
	f.Add("네\x00소상공인\x00메신저\x00무료\x00가게\x00220-81-62517\x0060만원\x00@a.pdf\x00@b.html\x00!remove_a.pdf\x00@c.pdf\x00!done")
	f.Fuzz(func(t *testing.T, script string) {
		c := newChat(t, "ko")
		for i, in := range strings.Split(script, "\x00") {
			if i > 40 {
				break
			}
			before := c.s.State
			kind := engine.Text
			var file *engine.Attachment
			switch {
			case strings.HasPrefix(in, "@"):
				// A file frame: a finished upload, its type from its name.
				typ := "application/pdf"
				if !strings.HasSuffix(in, ".pdf") {
					typ = "text/html"
				}
				kind, in = engine.Attach, in[1:]
				file = &engine.Attachment{ID: in, Name: in, Type: typ, Size: int64(len(in))}
			case strings.HasPrefix(in, "!"):
				kind, in = engine.Choose, in[1:]
			case in == "back" || in == "restart":
				kind = engine.Command
			}
			c.step(engine.Input{Kind: kind, Text: in, File: file})
			if c.r.State == "" {
				t.Fatalf("reply without a state after %q", in)
			}
			if c.r.Invalid && c.s.State != before {
				t.Fatalf("refused %q but moved %s → %s", in, before, c.s.State)
			}
		}
	})
}
