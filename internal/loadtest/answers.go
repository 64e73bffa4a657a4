package loadtest

import (
	"fmt"
	"github.com/claimbot/claimbot/internal/engine"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Persona answers one conversation as a person behind the banner would:
// by the field and input of each reply, with the shares of the 2022
// reports (DOMAIN.md), in the forms people type, and now and then with an
// answer the bot refuses before the right one.
type Persona struct {
	rng         *rand.Rand
	stillFileNo float64
	reporter    string
	sent        map[string]int // answers sent per state, refused ones included
}

// NewPersona draws a new person. stillFileNo is the share who, told of
// their service's announced measure, do not file after all.
func NewPersona(rng *rand.Rand, stillFileNo float64) *Persona {
	return &Persona{rng: rng, stillFileNo: stillFileNo, sent: map[string]int{}}
}

// Frame is a client frame (contract §2).
type Frame = engine.Frame

// Choice is a quick reply offered.
type Choice = engine.Choice

// Reply is a server frame: a reply, or an error frame (Code, Text).
type Reply struct {
	engine.Reply
	Code string `json:"code"`
	Text string `json:"text"`
}

// Shares of the 2022 reports (DOMAIN.md).
var (
	reporterShares = []weighted{{"general", 79.8}, {"small_business", 20}, {"enterprise", 0.2}}
	damageShares   = []weighted{{"paid", 17.1}, {"free_monetary", 15.1}, {"non_monetary", 67.8}}
)

type weighted struct {
	v string
	w float64
}

func (p *Persona) pick(ws []weighted) string {
	total := 0.0
	for _, w := range ws {
		total += w.w
	}
	x := p.rng.Float64() * total
	for _, w := range ws {
		if x < w.w {
			return w.v
		}
		x -= w.w
	}
	return ws[len(ws)-1].v
}

func (p *Persona) one(list []string) string { return list[p.rng.IntN(len(list))] }

func (p *Persona) chance(f float64) bool { return p.rng.Float64() < f }

// Next is the answer to a reply; false when the reply asks for nothing
// (an end).
func (p *Persona) Next(r *Reply) (Frame, bool) {
	attempt := p.sent[r.State]
	p.sent[r.State]++
	switch r.Input {
	case "none", "":
		if len(r.Choices) == 0 || r.Done {
			return Frame{}, false
		}
	case "text", "email", "phone", "amount", "business_number":
		return Frame{Type: "text", Text: p.typed(r.Field, r.Input, attempt)}, true
	}
	if offers(r.Choices, "submit") {
		return Frame{Type: "choice", Value: "submit"}, true
	}
	v := p.choice(r.Field, r.Choices)
	if v == "" {
		return Frame{}, false
	}
	// Some people type rather than press: the label, or yes and no in words.
	if p.chance(0.1) {
		switch {
		case v == "yes":
			return Frame{Type: "text", Text: p.one([]string{"네", "예", "응", "네 동의해요", "맞아요"})}, true
		case v == "no":
			return Frame{Type: "text", Text: p.one([]string{"아니요", "아뇨", "아니"})}, true
		default:
			for _, c := range r.Choices {
				if c.Value == v && c.Label != "" {
					return Frame{Type: "text", Text: c.Label}, true
				}
			}
		}
	}
	return Frame{Type: "choice", Value: v}, true
}

func offers(cs []Choice, v string) bool {
	for _, c := range cs {
		if c.Value == v {
			return true
		}
	}
	return false
}

func command(v string) bool { return v == "back" || v == "restart" }

// choice picks a quick reply's value by the field it fills.
func (p *Persona) choice(field string, cs []Choice) string {
	want := ""
	switch field {
	case "privacy_consent":
		want = "yes"
	case "reporter_type":
		if p.reporter == "" {
			p.reporter = p.pick(reporterShares)
		}
		want = p.reporter
	case "damage_type":
		want = p.pick(damageShares)
	case "still_file":
		want = "yes"
		if p.chance(p.stillFileNo) {
			want = "no"
		}
	}
	if want != "" && offers(cs, want) {
		return want
	}
	// service, inquiry_type and anything else: one of those offered.
	var vs []string
	for _, c := range cs {
		if !command(c.Value) {
			vs = append(vs, c.Value)
		}
	}
	if len(vs) == 0 {
		return ""
	}
	return p.one(vs)
}

// typed is a free-text answer.
func (p *Persona) typed(field, input string, attempt int) string {
	switch {
	case input == "business_number" || field == "business_number":
		return p.businessNumber(attempt == 0 && p.chance(0.15))
	case input == "amount" || field == "loss_amount":
		if attempt == 0 && p.chance(0.1) {
			return "스무닷새" // a native Korean numeral: refused
		}
		return p.amount()
	case input == "email" || field == "email":
		return p.email()
	case input == "phone" || field == "phone":
		return p.phone()
	}
	switch field {
	case "business_name":
		return p.shopName()
	case "title":
		return p.one(titles)
	case "content":
		return p.content()
	}
	return p.one(genericTexts)
}

var shopNames = []string{"행복분식", "김밥천국", "꽃보다베이커리", "서울카센터", "한빛치킨", "다온꽃집", "미소네일",
	"온누리약국", "우리동네세탁소", "해피마트", "바다횟집", "정든한식", "청춘커피", "별빛공방", "하늘안경",
	"소담떡집", "제주감귤농원", "두리반찬", "달빛수제버거", "새봄필라테스", "가온인쇄", "늘품정육점"}

var branches = []string{"", "", "", " 역삼점", " 판교점", " 강남본점", " 해운대점", " 2호점", "(주)"}

func (p *Persona) shopName() string {
	b := p.one(branches)
	if b == "(주)" {
		return "(주)" + p.one(shopNames)
	}
	return p.one(shopNames) + b
}

// BusinessCheckDigit is the tenth digit of a business registration
// number over the first nine (DOMAIN.md): weights 1,3,7,1,3,7,1,3,5, plus
// the ninth digit × 5 / 10.
func BusinessCheckDigit(d [9]int) int {
	w := [9]int{1, 3, 7, 1, 3, 7, 1, 3, 5}
	s := 0
	for i := range d {
		s += d[i] * w[i]
	}
	s += d[8] * 5 / 10
	return (10 - s%10) % 10
}

func (p *Persona) businessNumber(wrong bool) string {
	var d [9]int
	office := 101 + p.rng.IntN(899) // tax office code
	d[0], d[1], d[2] = office/100, office/10%10, office%10
	kind := []int{1 + p.rng.IntN(79), 81, 86, 87, 90 + p.rng.IntN(10)}[p.rng.IntN(5)]
	d[3], d[4] = kind/10, kind%10
	for i := 5; i < 9; i++ {
		d[i] = p.rng.IntN(10)
	}
	if d[5]+d[6]+d[7]+d[8] == 0 {
		d[8] = 1 // serial 0000 is never issued, and the bot refuses it
	}
	check := BusinessCheckDigit(d)
	if wrong {
		check = (check + 1 + p.rng.IntN(9)) % 10
	}
	var b strings.Builder
	for i, v := range d {
		b.WriteByte(byte('0' + v))
		if i == 2 || i == 4 {
			b.WriteByte('-')
		}
	}
	b.WriteByte(byte('0' + check))
	s := b.String()
	switch x := p.rng.Float64(); {
	case x < 0.2:
		return strings.ReplaceAll(s, "-", "")
	case x < 0.3:
		return strings.ReplaceAll(s, "-", " ")
	}
	return s
}

// amount is a loss in won, typed in one of the forms people use. Small
// businesses' losses centre near the 300,000 won tier limit.
func (p *Persona) amount() string {
	median := 80000.0
	if p.reporter != "" && p.reporter != "general" {
		median = 350000
	}
	v := int64(math.Exp(math.Log(median)+p.rng.NormFloat64()*0.9)/10000+0.5) * 10000
	v = min(max(v, 10000), 90_000_000)
	switch x := p.rng.Float64(); {
	case x < 0.3:
		return strconv.FormatInt(v/10000, 10) + "만원"
	case x < 0.4:
		return strconv.FormatInt(v/10000, 10) + "만 원"
	case x < 0.6:
		return commas(v) + "원"
	case x < 0.7:
		return "₩" + commas(v)
	case x < 0.8:
		return strconv.FormatInt(v, 10)
	case x < 0.85:
		return strconv.FormatInt(v/10000, 10) + "만원이요"
	}
	return HangulAmount(v)
}

func commas(v int64) string {
	s := strconv.FormatInt(v, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// HangulAmount writes a whole number of 만 won below 1억 in Sino-Korean
// numerals: 500000 → 오십만원, 1350000 → 백삼십오만원.
func HangulAmount(v int64) string {
	if v/10000 == 1 {
		return "만원"
	}
	return sino(int(v/10000)) + "만원"
}

func sino(n int) string {
	digits := []string{"", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"}
	units := []string{"", "십", "백", "천"}
	var b strings.Builder
	for pos := 3; pos >= 0; pos-- {
		d := n / int(math.Pow10(pos)) % 10
		switch {
		case d == 0:
		case d == 1 && pos > 0:
			b.WriteString(units[pos])
		default:
			b.WriteString(digits[d] + units[pos])
		}
	}
	return b.String()
}

var (
	emailNames   = []string{"hong", "gildong.hong", "kim.minji", "minji_kim", "lee.js", "parkjh", "choi.sy", "jung", "kang.hana", "yoon", "seojun", "jiwoo.lim", "owner", "shop.master", "han.eun"}
	emailDomains = []string{"naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com", "Naver.com", "GMAIL.COM"}
)

func (p *Persona) email() string {
	local := p.one(emailNames)
	if p.chance(0.5) {
		local += strconv.Itoa(p.rng.IntN(9999))
	}
	return local + "@" + p.one(emailDomains)
}

func (p *Persona) phone() string {
	mid, last := 2000+p.rng.IntN(8000), p.rng.IntN(10000)
	switch x := p.rng.Float64(); {
	case x < 0.45:
		return fmt.Sprintf("010-%04d-%04d", mid, last)
	case x < 0.65:
		return fmt.Sprintf("010%04d%04d", mid, last)
	case x < 0.78:
		return fmt.Sprintf("010 %04d %04d", mid, last)
	case x < 0.86:
		return fmt.Sprintf("+82 10-%04d-%04d", mid, last)
	case x < 0.93:
		return fmt.Sprintf("02-%03d-%04d", 200+p.rng.IntN(800), last)
	}
	return fmt.Sprintf("%s-%03d-%04d", p.one([]string{"031", "032", "051", "053", "062"}), 200+p.rng.IntN(800), last)
}

var titles = []string{
	"카톡 먹통으로 주문 누락", "선물하기 교환권 기간 만료", "채널 주문 알림 안 옴", "택시 호출 안 돼서 손님 놓침",
	"이모티콘 플러스 이용 못 함", "멜론 이용권 기간 연장 문의", "웹툰 대여권 만료", "페이 결제 오류로 환불 지연",
	"장애 기간 매출 손실 접수", "메일 수신 안 됨", "쇼핑 쿠폰 소멸", "VOD 시청 기간 문의", "복구 고생하셨어요",
	"영업 문의 연락을 못 받았습니다", "단체 주문 취소 피해",
}

var (
	contentWhen = []string{"10월 15일 오후 3시 반쯤부터", "10월 15일 토요일 저녁부터", "15일 오후부터 16일 새벽까지",
		"장애가 난 주말 내내", "10월 15일부터 이틀 동안"}
	contentWhat = []string{"카카오톡으로 들어오던 주문을 하나도 받지 못했습니다.", "메시지가 전송되지 않아 손님 연락을 놓쳤어요.",
		"선물받은 교환권이 그 사이에 만료되었습니다.", "택시 호출이 되지 않아 약속에 늦었습니다.",
		"결제가 안 되어 가게 문을 일찍 닫았습니다.", "업무용 메일을 확인하지 못했습니다.",
		"채널 예약 알림이 오지 않아 예약 손님이 헛걸음하셨어요.", "이용권이 있는데도 음악을 듣지 못했어요."}
	contentAfter = []string{"", "확인 부탁드립니다.", "보상 기준을 알려 주세요.", "증빙 자료는 따로 보내겠습니다.",
		"다시는 이런 일이 없었으면 좋겠습니다.", "복구하느라 고생 많으셨습니다. 힘내세요!", "처리 결과를 이메일로 받고 싶어요."}
	genericTexts = []string{"잘 모르겠어요", "네 알겠습니다", "장애 때문에 불편했어요", "확인 부탁드려요"}
)

func (p *Persona) content() string {
	s := p.one(contentWhen) + " " + p.one(contentWhat)
	if a := p.one(contentAfter); a != "" {
		s += " " + a
	}
	return s
}
