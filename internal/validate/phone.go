package validate

import "unicode"

// Phone checks a Korean phone number and returns it in the usual dashed
// form: mobile 010-1234-5678 (011, 016–019 also with a 3-digit middle),
// Seoul 02-123-4567 or 02-1234-5678, the other area codes (031–033, 041–044,
// 051–055, 061–064) and 070 internet phones as 031-123-4567 or
// 031-1234-5678.
//
// Spaces, dots, dashes and parentheses may separate the digits, digits may be
// full-width, and the number may start with +82 or 82 (with or without the
// trunk 0: +82 10-…, +82 (0)10-…). Anything else is Code "format".
func Phone(s string) (string, error) {
	const maxDigits = 15 // E.164
	if len(s) > 64 {
		return "", fail("phone", "format")
	}
	var buf [maxDigits + 1]byte // +1: room for a trunk 0 put back
	d := buf[1:1]
	plus := false
	for _, r := range s {
		r = foldWidth(r)
		switch {
		case r >= '0' && r <= '9':
			if len(d) == maxDigits {
				return "", fail("phone", "format")
			}
			d = append(d, byte(r))
		case r == '+':
			if plus || len(d) > 0 {
				return "", fail("phone", "format")
			}
			plus = true
		case r == '.' || r == '(' || r == ')' || isDash(r) || unicode.IsSpace(r):
		default:
			return "", fail("phone", "format")
		}
	}
	if plus || len(d) >= 2 && d[0] == '8' && d[1] == '2' {
		if len(d) < 2 || d[0] != '8' || d[1] != '2' {
			return "", fail("phone", "format") // another country
		}
		d = d[2:]
		if len(d) == 0 || d[0] != '0' {
			d = buf[2 : 2+len(d)+1] // the byte before d: put the trunk 0 back
			d[0] = '0'
		}
	}
	if out, ok := formatPhone(d); ok {
		return out, nil
	}
	return "", fail("phone", "format")
}

// formatPhone dashes a national number (trunk 0 included) or reports that it
// is not one this bot takes.
func formatPhone(d []byte) (string, bool) {
	if len(d) < 9 || d[0] != '0' {
		return "", false
	}
	area, min, max := 3, 10, 11
	switch {
	case d[1] == '2': // Seoul
		area, min, max = 2, 9, 10
	case d[1] == '1' && d[2] == '0': // 010: always 4-digit middle now
		min = 11
	case d[1] == '1':
		ok := d[2] == '1' || d[2] >= '6' && d[2] <= '9'
		if !ok {
			return "", false
		}
	case d[1] == '3':
		ok := d[2] >= '1' && d[2] <= '3'
		if !ok {
			return "", false
		}
	case d[1] == '4':
		ok := d[2] >= '1' && d[2] <= '4'
		if !ok {
			return "", false
		}
	case d[1] == '5':
		ok := d[2] >= '1' && d[2] <= '5'
		if !ok {
			return "", false
		}
	case d[1] == '6':
		ok := d[2] >= '1' && d[2] <= '4'
		if !ok {
			return "", false
		}
	case d[1] == '7' && d[2] == '0':
	default:
		return "", false
	}
	if len(d) < min || len(d) > max || d[area] == '0' {
		return "", false // a middle part never starts with 0
	}
	var out [13]byte
	n := copy(out[:], d[:area])
	out[n] = '-'
	n++
	mid := len(d) - 4
	n += copy(out[n:], d[area:mid])
	out[n] = '-'
	n++
	n += copy(out[n:], d[mid:])
	return string(out[:n]), true
}
