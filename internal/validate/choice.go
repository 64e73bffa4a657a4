package validate

import (
	"strings"
	"unicode/utf8"
)

// Option is a quick reply a typed answer may select. Also holds extra
// synonyms.
type Option struct {
	Value, Label string
	Also         []string
}

// MatchChoice returns the index of the option the text selects, or -1 when
// none or when ambiguous. Both sides are compared in matchKey form (NFC,
// lower case, no spaces or punctuation). In order:
//
//  1. the text is an option's value, label or synonym;
//  2. it is a value, label or synonym followed by a Korean ending
//     ("소상공인이에요", "일반 이용자입니다");
//  3. it contains a label or synonym of two runes or more ("저는 소상공인
//     사장님"), unless the rest negates it ("소상공인 아니에요"; when
//     several are contained, the longest wins if it holds all the others),
//     or, of two runes or more (with or without an ending), it is part of
//     exactly one label or synonym ("기업" and "일반이요" select "중대형
//     기업" and "일반 이용자").
//
// Each step selects only when exactly one option fits.
func MatchChoice(text string, opts []Option) int {
	t := matchKey(text)
	if t == "" || len(opts) == 0 {
		return -1
	}
	keys := make([]optionKeys, len(opts))
	n := 0
	for _, o := range opts {
		n += 1 + len(o.Also)
	}
	names := make([]string, 0, n)
	for i, o := range opts {
		keys[i].value = matchKey(o.Value)
		start := len(names)
		if k := matchKey(o.Label); k != "" {
			names = append(names, k)
		}
		for _, s := range o.Also {
			if k := matchKey(s); k != "" {
				names = append(names, k)
			}
		}
		keys[i].names = names[start:len(names):len(names)]
	}
	// 1. exact
	if i, n := only(keys, true, func(k string) bool { return k == t }); n > 0 {
		return i
	}
	// 2. a key and an ending
	ending := func(k string) bool {
		return strings.HasPrefix(t, k) && choiceEndings[t[len(k):]]
	}
	if i, n := only(keys, true, ending); n > 0 {
		return i
	}
	// 3a. the text holds labels or synonyms (not values: those are ids)
	best, bestKey := -1, ""
	type hit struct {
		opt int
		key string
	}
	var hits []hit
	for i, ok := range keys {
		for _, k := range ok.names {
			if utf8.RuneCountInString(k) < 2 || !strings.Contains(t, k) {
				continue
			}
			hits = append(hits, hit{i, k})
			if len(k) > len(bestKey) {
				best, bestKey = i, k
			}
		}
	}
	if len(hits) > 0 {
		for _, h := range hits {
			if h.opt != best && (len(h.key) == len(bestKey) || !strings.Contains(bestKey, h.key)) {
				return -1 // 기업 and 소상공인 both named
			}
		}
		if negated(strings.Replace(t, bestKey, "", 1)) {
			return -1 // 소상공인 아니에요
		}
		return best
	}
	// 3b. the text, or the text without an ending, is part of one label or
	// synonym: 일반, 일반이요, 기업을
	part := func(k string) bool {
		if utf8.RuneCountInString(t) >= 2 && strings.Contains(k, t) {
			return true
		}
		for e := range choiceEndings {
			stem, ok := strings.CutSuffix(t, e)
			if ok && utf8.RuneCountInString(stem) >= 2 && strings.Contains(k, stem) {
				return true
			}
		}
		return false
	}
	i, _ := only(keys, false, part)
	return i
}

type optionKeys struct {
	value string   // matchKey of the value; may be ""
	names []string // matchKeys of the label and synonyms, none ""
}

// only returns the option one of whose keys (the value too when withValue)
// satisfies match, and the number of options that do; the index is -1
// unless that number is one.
func only(keys []optionKeys, withValue bool, match func(k string) bool) (int, int) {
	found, n := -1, 0
	for i, ok := range keys {
		hit := withValue && ok.value != "" && match(ok.value)
		for _, k := range ok.names {
			if hit {
				break
			}
			hit = match(k)
		}
		if hit {
			found = i
			n++
		}
	}
	if n != 1 {
		return -1, n
	}
	return found, n
}

// choiceEndings are what Koreans glue to a noun when they answer with it,
// in matchKey form.
var choiceEndings = map[string]bool{
	"이에요": true, "예요": true, "에요": true, "이요": true, "요": true,
	"입니다": true, "이다": true, "임": true, "인데요": true, "이고요": true,
	"이예요": true, "을": true, "를": true, "이야": true, "야": true,
	"이죠": true, "죠": true, "입니당": true,
}

// negated reports whether the rest of an answer around a label says "not
// that": 소상공인 아니에요, 기업 말고, not business, 장사 안 해요, 사업자
// 안 냈어요. The rest is in matchKey form, without spaces.
func negated(rest string) bool {
	for _, w := range [...]string{"아니", "아닌", "아님", "아뇨", "않", "말고", "빼고", "제외", "없", "not"} {
		if strings.Contains(rest, w) {
			return true
		}
	}
	return negatedAn(rest)
}

// negatedAn reports whether rest holds 안 (not) before a form of 하다 or
// 내다: 안 해요, 안했어요, 안함, 안 합니다, 안 한, 안하고, 안 냈어요, 안 냄.
// 안 followed by anything else is no negation (안녕, 안내, 안전), nor is
// the 안 of an adjective stem glued to 하다, which the spaces stripped from
// rest no longer tell apart: 불안해요, 편안함, 미안합니다, 평안하, 무안한,
// 보안 해제.
func negatedAn(rest string) bool {
	for i := 0; ; {
		j := strings.Index(rest[i:], "안")
		if j < 0 {
			return false
		}
		j += i
		i = j + len("안")
		next, _ := utf8.DecodeRuneInString(rest[i:])
		if !strings.ContainsRune("해했하한함합냈낸냄", next) {
			continue
		}
		prev, _ := utf8.DecodeLastRuneInString(rest[:j])
		if !strings.ContainsRune("불편미평무보", prev) {
			return true
		}
	}
}
