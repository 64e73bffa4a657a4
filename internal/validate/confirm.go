package validate

// Confirm reads a yes/no answer in Korean or English. ok is false when the
// text is neither. Case, spacing, punctuation, emoji and NFD input do not
// matter: "네!", "동의 합니다", "YES.", "ㅇㅇ", "아뇨~" all read.
func Confirm(s string) (yes bool, ok bool) {
	yes, ok = confirmWords[matchKey(s)]
	return yes, ok
}

// confirmWords maps answers, in matchKey form, to yes (true) or no (false).
var confirmWords = map[string]bool{
	// Korean yes
	"네": true, "예": true, "응": true, "어": true, "맞아요": true,
	"맞습니다": true, "좋아요": true, "동의": true, "동의합니다": true,
	"그래요": true, "ㅇㅇ": true, "넵": true, "넹": true, "네네": true,
	"예예": true, "응응": true, "그래": true, "좋아": true, "맞아": true,
	"맞음": true, "동의해요": true, "동의함": true, "동의해": true,
	"ㅇㅋ": true, "오케이": true, "네동의합니다": true, "예동의합니다": true,
	// Korean no
	"아니요": false, "아니오": false, "아뇨": false, "아니": false,
	"싫어요": false, "동의안함": false, "동의하지않습니다": false, "ㄴㄴ": false,
	"아니에요": false, "아닙니다": false, "싫어": false, "싫습니다": false,
	"동의안해요": false, "동의안해": false, "동의하지않음": false,
	"동의하지않아요": false, "비동의": false, "거부": false, "거부합니다": false,
	"아니요동의하지않습니다": false,
	// English
	"yes": true, "y": true, "yeah": true, "yep": true, "ok": true,
	"okay": true, "sure": true, "agree": true, "iagree": true,
	"no": false, "n": false, "nope": false, "nah": false,
	"disagree": false, "idisagree": false, "idontagree": false,
}
