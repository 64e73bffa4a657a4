package validate

import "unicode"

// BusinessNumber checks a Korean business registration number
// (사업자등록번호): ten digits, optionally separated by dashes, dots or
// spaces, whose last digit is the check digit over the first nine (weights
// 1,3,7,1,3,7,1,3,5, plus the carry of the ninth digit × 5). It returns the
// number as NNN-NN-NNNNN. Codes: "format", "check_digit" (also for a number
// whose check digit fits but that is never issued: see issued).
func BusinessNumber(s string) (string, error) {
	if len(s) > 64 {
		return "", fail("business_number", "format")
	}
	var d [10]byte
	n := 0
	for _, r := range s {
		r = foldWidth(r)
		switch {
		case r >= '0' && r <= '9':
			if n == len(d) {
				return "", fail("business_number", "format")
			}
			d[n] = byte(r - '0')
			n++
		case r == '.' || isDash(r) || unicode.IsSpace(r):
		default:
			return "", fail("business_number", "format")
		}
	}
	if n != len(d) {
		return "", fail("business_number", "format")
	}
	if !issued(d) || businessCheckDigit(d[:9]) != d[9] {
		return "", fail("business_number", "check_digit")
	}
	var out [12]byte
	for i, j := 0, 0; i < len(out); i++ {
		if i == 3 || i == 6 {
			out[i] = '-'
			continue
		}
		out[i] = '0' + d[j]
		j++
	}
	return string(out[:]), nil
}

// issued reports whether the National Tax Service can give out the number:
// the first group (once the tax office's code) runs 101–999, the type code
// (01–79 sole proprietors, 80–89 corporations and other bodies, 90–99
// tax-exempt sole proprietors) 01–99, the serial 0001–9999. 000-00-00000
// passes the check digit and is none of these.
func issued(d [10]byte) bool {
	office := int(d[0])*100 + int(d[1])*10 + int(d[2])
	kind := int(d[3])*10 + int(d[4])
	serial := int(d[5])*1000 + int(d[6])*100 + int(d[7])*10 + int(d[8])
	return office >= 101 && kind >= 1 && serial >= 1
}

// businessCheckDigit computes the tenth digit from the first nine (values
// 0–9, not ASCII).
func businessCheckDigit(d []byte) byte {
	weights := [9]int{1, 3, 7, 1, 3, 7, 1, 3, 5}
	s := 0
	for i, w := range weights {
		s += int(d[i]) * w
	}
	s += int(d[8]) * 5 / 10
	return byte((10 - s%10) % 10)
}
