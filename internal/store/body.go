package store

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/webhook"
)

// appendBody appends the webhook body of a filed claim byte for byte as
// Body's json.Marshal of webhook.NewEvent writes it, without reflection:
// the fields in the struct's order, the answers by their sorted keys,
// strings escaped as encoding/json escapes them (HTML characters
// included). ok is false when the claim holds what it does not write (an
// answer other than a string, a bool, a whole number or nil, or a time
// json.Marshal refuses): Body then leaves it to json.Marshal.
func appendBody(b []byte, cl *engine.Claim, link func(id string) string) (_ []byte, ok bool) {
	at := cl.SubmittedAt.UTC().Truncate(time.Second)
	if y := at.Year(); y < 0 || y > 9999 {
		return b, false
	}
	var keyBuf [32]string
	keys := keyBuf[:0]
	for k, v := range cl.Answers {
		switch v.(type) {
		case string, bool, int64, int, nil:
		default:
			return b, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, `{"type":`...)
	b = appendJSONString(b, webhook.EventClaimSubmitted)
	b = append(b, `,"timestamp":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":{"claim_id":`...)
	b = appendJSONString(b, cl.ID)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, cl.User)
	b = append(b, `,"locale":`...)
	b = appendJSONString(b, cl.Lang)
	b = append(b, `,"flow":{"id":`...)
	b = appendJSONString(b, cl.Flow)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, cl.Version)
	b = append(b, `},"submitted_at":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","answers":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		switch v := cl.Answers[k].(type) {
		case string:
			b = appendJSONString(b, v)
		case bool:
			b = strconv.AppendBool(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case nil:
			b = append(b, "null"...)
		}
	}
	b = append(b, '}')
	if len(cl.Attachments) > 0 {
		b = append(b, `,"attachments":[`...)
		for i, f := range cl.Attachments {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendJSONString(b, f.ID)
			b = append(b, `,"name":`...)
			b = appendJSONString(b, f.Name)
			b = append(b, `,"type":`...)
			b = appendJSONString(b, f.Type)
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, f.Size, 10)
			b = append(b, `,"sha256":`...)
			b = appendJSONString(b, f.SHA256)
			url := ""
			if link != nil {
				url = link(f.ID)
			}
			b = append(b, `,"url":`...)
			b = appendJSONString(b, url)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}}"...), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string with HTML
// escaping (json.Marshal's; not the engine's writer, whose replies and
// sessions are not HTML-escaped): a claim's body is signed, and must be
// the bytes json.Marshal made before: <, > and & as \u003c, \u003e and \u0026,
// control characters as their short escapes or \u00XX, U+2028 and U+2029
// escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
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
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
