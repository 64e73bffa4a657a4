package validate

import "unicode/utf8"

// Text cleans a free-text answer and checks its length in runes (after
// cleaning, in NFC). Cleaning is Normalize's, except that line breaks
// survive: white space within a line folds to one space, lines are trimmed,
// at most one blank line is kept in a row, control characters other than
// tab and newline are dropped (tab folds to a space, CR LF to a newline).
//
// min and max of 0 mean no bound. A blank answer is always Code "empty";
// otherwise "too_short" or "too_long".
func Text(s string, min, max int) (string, error) {
	s = clean(s, true)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "", fail("text", "empty")
	case min > 0 && n < min:
		return "", fail("text", "too_short")
	case max > 0 && n > max:
		return "", fail("text", "too_long")
	}
	return s, nil
}
