package engine

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// The hot path of every turn writes a reply and a session as JSON. These
// appenders write exactly what encoding/json would decode back into the
// same values, without reflection and with one buffer.

// AppendJSON appends the reply as a JSON object.
func (r *Reply) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, r.Type)
	b = append(b, `,"state":`...)
	b = appendString(b, r.State)
	b = append(b, `,"field":`...)
	b = appendString(b, r.Field)
	b = append(b, `,"input":`...)
	b = appendString(b, r.Input)
	b = append(b, `,"messages":`...)
	if e := r.enc; e != nil && e.msgsJSON != nil && sameSlice(r.Messages, e.msgs) {
		b = append(b, e.msgsJSON...)
	} else {
		b = appendStrings(b, r.Messages)
	}
	b = append(b, `,"choices":`...)
	switch e := r.enc; {
	case e != nil && e.choicesJSON != nil && sameSlice(r.Choices, e.choices):
		b = append(b, e.choicesJSON...)
	case e != nil && e.pieces != nil:
		b = appendPieces(b, r.Choices, e.pieces)
	default:
		b = appendChoices(b, r.Choices)
	}
	b = append(b, `,"invalid":`...)
	b = strconv.AppendBool(b, r.Invalid)
	b = append(b, `,"done":`...)
	b = strconv.AppendBool(b, r.Done)
	if r.ClaimID != "" {
		b = append(b, `,"claim_id":`...)
		b = appendString(b, r.ClaimID)
	}
	// A files question's fields are rare: encoding/json writes them.
	if r.Upload != nil {
		b = appendMarshal(append(b, `,"upload":`...), r.Upload)
	}
	if len(r.Files) > 0 {
		b = appendMarshal(append(b, `,"files":`...), r.Files)
	}
	return append(b, '}')
}

// AppendJSON appends the session as the JSON object its struct tags
// describe; encoding/json decodes it. The epoch, when there is one, comes
// first: the store's turn script reads it there.
func (s *Session) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	if s.Epoch != "" {
		b = append(b, `"e":`...)
		b = appendString(b, s.Epoch)
		b = append(b, ',')
	}
	b = append(b, `"u":`...)
	b = appendString(b, s.User)
	b = append(b, `,"f":`...)
	b = appendString(b, s.Flow)
	b = append(b, `,"v":`...)
	b = appendString(b, s.Version)
	b = append(b, `,"l":`...)
	b = appendString(b, s.Lang)
	if s.State != "" {
		b = append(b, `,"s":`...)
		b = appendString(b, s.State)
	}
	if len(s.Answers) > 0 {
		b = append(b, `,"a":{`...)
		first := true
		for k, v := range s.Answers {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			switch v := v.(type) {
			case string:
				b = appendString(b, v)
			case bool:
				b = strconv.AppendBool(b, v)
			case int64:
				b = strconv.AppendInt(b, v, 10)
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
			case float64:
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			default:
				b = append(b, "null"...)
			}
		}
		b = append(b, '}')
	}
	for _, l := range []struct {
		key string
		v   []string
	}{{`,"h":`, s.History}, {`,"k":`, s.Skipped}} {
		if len(l.v) > 0 {
			b = append(b, l.key...)
			b = appendStrings(b, l.v)
		}
	}
	if s.Refused != 0 {
		b = append(b, `,"r":`...)
		b = strconv.AppendInt(b, int64(s.Refused), 10)
	}
	if s.Done {
		b = append(b, `,"d":true`...)
	}
	if s.ClaimID != "" {
		b = append(b, `,"c":`...)
		b = appendString(b, s.ClaimID)
	}
	if s.Filed != 0 {
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, int64(s.Filed), 10)
	}
	if len(s.Applied) > 0 {
		b = append(b, `,"i":`...)
		b = appendStrings(b, s.Applied)
	}
	if s.Handoff != "" {
		b = append(b, `,"o":`...)
		b = appendString(b, s.Handoff)
	}
	if len(s.Files) > 0 {
		b = appendMarshal(append(b, `,"fl":`...), s.Files)
	}
	if s.Late {
		b = append(b, `,"x":true`...)
	}
	if s.Adding != "" {
		b = append(b, `,"xa":`...)
		b = appendString(b, s.Adding)
	}
	if s.Visited != "" {
		b = append(b, `,"vs":`...)
		b = appendString(b, s.Visited)
	}
	b = append(b, `,"t":"`...)
	b = s.Updated.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendMarshal appends v as encoding/json writes it, for the fields the
// hot path seldom meets.
func appendMarshal(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...) // only for values json cannot encode, which these are not
	}
	return append(b, j...)
}

func appendChoices(b []byte, cs []Choice) []byte { return appendPieces(b, cs, nil) }

// appendPieces appends choices as a JSON array, taking each choice equal
// to one of pieces (none when nil) as written already.
func appendPieces(b []byte, cs []Choice, pieces map[string]piece) []byte {
	b = append(b, '[')
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		if p, ok := pieces[c.Value]; ok && p.c == c {
			b = append(b, p.json...)
		} else {
			b = appendChoice(b, c)
		}
	}
	return append(b, ']')
}

func appendChoice(b []byte, c Choice) []byte {
	b = append(b, `{"value":`...)
	b = appendString(b, c.Value)
	b = append(b, `,"label":`...)
	b = appendString(b, c.Label)
	if c.Short != "" {
		b = append(b, `,"short":`...)
		b = appendString(b, c.Short)
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; so do control characters' escapes.
//
// It is appendRunes (appendstring_test.go, the rune-by-rune writer it
// replaced) with the runes of three bytes (Korean among them) checked in
// place rather than decoded: they are written as they are,
// but U+2028 and U+2029.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		if c&0xF0 == 0xE0 && i+2 < len(s) {
			// A rune of three bytes is valid when its second byte is
			// within the range its first allows and its third is a
			// continuation byte (RFC 3629).
			lo, hi := byte(0x80), byte(0xBF)
			switch c {
			case 0xE0:
				lo = 0xA0
			case 0xED:
				hi = 0x9F
			}
			c1, c2 := s[i+1], s[i+2]
			if lo <= c1 && c1 <= hi && c2&0xC0 == 0x80 && !(c == 0xE2 && c1 == 0x80 && c2&^1 == 0xA8) {
				i += 3
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
