package engine

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// DecodeFrame decodes a client frame as json.Unmarshal into a Frame would,
// with the same result for every input. Frames from a browser are flat
// objects of string fields, and for those it needs no reflection and no
// second pass over the input: the chat's busiest path decodes one per
// turn. Anything else (escapes it does not take, values that are not
// strings, keys encoding/json would match only by case folding) goes to
// json.Unmarshal.
func DecodeFrame(data []byte) (Frame, error) {
	if f, ok := decodeFlatFrame(data); ok {
		return f, nil
	}
	var f Frame
	err := json.Unmarshal(data, &f)
	return f, err
}

// decodeFlatFrame is DecodeFrame's fast path; false: not handled here.
func decodeFlatFrame(data []byte) (Frame, bool) {
	var f Frame
	if !utf8.Valid(data) {
		return f, false // encoding/json replaces bad bytes in strings
	}
	// One copy of the frame holds every value that needs no unescaping.
	d := flatDecoder{data: data, src: string(data)}
	d.space()
	if !d.eat('{') {
		return f, false
	}
	d.space()
	if !d.eat('}') {
		for {
			key, ok := d.str()
			if !ok {
				return f, false
			}
			d.space()
			if !d.eat(':') {
				return f, false
			}
			d.space()
			val, ok := d.str()
			if !ok {
				return f, false
			}
			switch key {
			case "type":
				f.Type = val
			case "text":
				f.Text = val
			case "value":
				f.Value = val
			case "name":
				f.Name = val
			case "id":
				f.ID = val
			case "state":
				f.State = val
			case "upload":
				f.Upload = val
			default:
				if foldsToField(key) {
					return f, false
				}
			}
			d.space()
			if d.eat('}') {
				break
			}
			if !d.eat(',') {
				return f, false
			}
			d.space()
		}
	}
	d.space()
	return f, d.i == len(d.data)
}

// foldsToField tells whether encoding/json might match key, not a field's
// name, to a field by its case-insensitive rule (bytes.EqualFold, under
// which some non-ASCII letters fold to ASCII ones: ſ to s, K to k).
func foldsToField(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, name := range [...]string{"type", "text", "value", "name", "id", "state", "upload"} {
		if strings.EqualFold(key, name) {
			return true
		}
	}
	return false
}

type flatDecoder struct {
	data []byte
	src  string // data as a string
	i    int
}

func (d *flatDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *flatDecoder) eat(c byte) bool {
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string with no escapes but \" \\ \/ \b \f \n \r \t.
func (d *flatDecoder) str() (string, bool) {
	if !d.eat('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.data) { // the common case: no escape at all
		c := d.data[d.i]
		if c == '"' {
			s := d.src[start:d.i]
			d.i++
			return s, true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		d.i++
	}
	buf := append([]byte(nil), d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.data) {
			return "", false
		}
		switch e := d.data[d.i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		default: // \u and anything else: encoding/json's
			return "", false
		}
		d.i += 2
	}
	return "", false
}
