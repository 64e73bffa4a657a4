package validate

import "unicode"

// BusinessNumber checks a Korean business registration number
// (사업자등록번호): ten digits, optionally separated by dashes, dots or
// spaces, whose last digit is the check digit over the first nine (weights
// 1,3,7,1,3,7,1,3,5, plus the carry of the ninth digit × 5). It returns the
// number as NNN-NN-NNNNN. Codes: "format", "check_digit".
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
	if businessCheckDigit(d[:9]) != d[9] {
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
