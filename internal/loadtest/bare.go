package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/claimbot/claimbot/internal/engine"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// bareScript is the compare-and-set of internal/store/turn.lua without the
// claim branch: compare the revision at the head of the value, then write
// the new value with its expiry.
var bareScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local rev = 0
if cur then
  rev = tonumber(string.match(cur, '^(%d+)')) or 0
end
if rev ~= tonumber(ARGV[1]) then
  return {0, cur}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, rev + 1}
`)

// bareValueSize is the size of the value the bare loop writes per turn,
// about what a session of the default flow is in Redis mid-conversation
// (250–400 bytes at its end, with the answers dropped).
const bareValueSize = 512

// bareTTL is the expiry of the bare loop's keys.
const bareTTL = 10 * time.Minute

// Bare is the bare loop: a WebSocket server on loopback that does the
// least work a turn can cost, one WebSocket read, one Redis
// compare-and-set script on a key per connection, one write, and nothing
// else. Its replies are canned frames of the default flow's shortest path
// (the answers are not even looked at), so the same client code drives
// it, and the real server's cost is its ratio to this.
type Bare struct {
	URL      string // ws://127.0.0.1:port/ws
	RedisURL string
	Embedded bool // Redis is an in-process miniredis (no --redis)

	rdb    *redis.Client
	mini   *miniredis.Miniredis
	srv    *http.Server
	up     websocket.Upgrader
	frames [][]byte
	seq    atomic.Int64
	prefix string
	filler string
	errs   atomic.Int64
}

// StartBare starts the bare loop on Redis at redisURL (empty: an embedded
// miniredis, which is not comparable with a real Redis).
func StartBare(redisURL string) (*Bare, error) { return startBareOn(redisURL, "127.0.0.1:0") }

// ServeBare serves the bare loop on addr and Redis at redisURL until ctx
// ends: the bare loop in a process of its own (`claimbot loadtest
// --bare-serve ADDR --redis URL`), started by a Stack.
func ServeBare(ctx context.Context, addr, redisURL string) error {
	if redisURL == "" {
		return errors.New("bare: --bare-serve needs --redis")
	}
	b, err := startBareOn(redisURL, addr)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return b.Close()
}

func startBareOn(redisURL, addr string) (*Bare, error) {
	b := &Bare{RedisURL: redisURL, prefix: "claimbot:loadtest:bare:" + randomHex(3) + ":",
		filler: strings.Repeat("x", bareValueSize)}
	if redisURL == "" {
		b.mini = miniredis.NewMiniRedis()
		if err := b.mini.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("bare: embedded redis: %w", err)
		}
		b.RedisURL, b.Embedded = "redis://"+b.mini.Addr(), true
	}
	opt, err := redis.ParseURL(b.RedisURL)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bare: --redis: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	opt.PoolSize = max(opt.PoolSize, 64) // as the real server's
	b.rdb = redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		b.Close()
		return nil, fmt.Errorf("bare: redis %s: %w", redactRedis(b.RedisURL), err)
	}
	b.frames = bareFrames()
	b.up = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bare: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", b.serve)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.URL = "ws://" + ln.Addr().String() + "/ws"
	go b.srv.Serve(ln)
	return b, nil
}

// Target is the bare loop as a load test target.
func (b *Bare) Target() Target {
	name := "bare loop " + b.URL + " on redis " + redactRedis(b.RedisURL)
	if b.Embedded {
		name = "bare loop " + b.URL + " on an embedded miniredis"
	}
	return Target{URL: b.URL, Name: name, Bare: true, InProcess: true}
}

// Close stops the bare loop.
func (b *Bare) Close() error {
	if b.srv != nil {
		b.srv.Close()
	}
	if b.rdb != nil {
		b.rdb.Close()
	}
	if b.mini != nil {
		b.mini.Close()
	}
	return nil
}

var errRevision = errors.New("bare: revision mismatch")

func (b *Bare) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := b.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	key := b.prefix + strconv.FormatInt(b.seq.Add(1), 10)
	var rev int64
	value := make([]byte, 0, 24+len(b.filler))
	turn := func() error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		value = append(strconv.AppendInt(value[:0], rev+1, 10), ':')
		value = append(value, b.filler...)
		res, err := bareScript.Run(ctx, b.rdb, []string{key}, rev, value, bareTTL.Milliseconds()).Slice()
		if err != nil {
			return err
		}
		if len(res) == 0 || res[0] != int64(1) {
			return errRevision
		}
		rev++
		return nil
	}
	pos := 0
	write := func() error {
		if err := turn(); err != nil {
			b.errs.Add(1)
			return ws.WriteMessage(websocket.TextMessage, bareUnavailable)
		}
		return ws.WriteMessage(websocket.TextMessage, b.frames[pos])
	}
	if write() != nil {
		return
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		pos = (pos + 1) % len(b.frames)
		if write() != nil {
			return
		}
	}
}

var bareUnavailable = []byte(`{"type":"error","code":"unavailable","text":"bare loop: redis"}`)

// bareFrames are the replies of the default flow's shortest path to a
// claim: a general user with no monetary loss.
func bareFrames() [][]byte {
	ch := func(kv ...string) []Choice {
		var out []Choice
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, Choice{Value: kv[i], Label: kv[i+1]})
		}
		return out
	}
	back := Choice{Value: "back", Label: "이전"}
	ask := func(state, input, msg string, choices []Choice, first bool) engine.Reply {
		if !first {
			choices = append(choices, back)
		}
		return engine.Reply{Type: "reply", State: state, Field: state, Input: input, Messages: []string{msg}, Choices: choices}
	}
	replies := []engine.Reply{
		ask("privacy_consent", "confirm", "[개인정보 수집·이용 동의] 동의하시나요?", ch("yes", "동의합니다", "no", "동의하지 않아요"), true),
		ask("reporter_type", "choice", "어떤 분으로 접수하시나요?", ch("general", "일반 이용자", "small_business", "소상공인", "enterprise", "중대형 기업"), false),
		ask("service", "choice", "피해를 입은 서비스를 골라 주세요.", ch("messenger", "메신저", "mail", "메일", "taxi", "택시", "pay", "페이·결제",
			"webtoon", "웹툰·웹소설", "music", "음악", "emoticon", "이모티콘", "gift", "선물하기", "shopping", "쇼핑하기", "tv", "TV·동영상", "other", "기타"), false),
		ask("damage_type", "choice", "어떤 피해인가요?", ch("paid", "유료 서비스 피해", "free_monetary", "무료 서비스 금전 피해", "non_monetary", "금전 피해 없음"), false),
		ask("inquiry_type", "choice", "어떤 내용을 남기시겠어요?", ch("inquiry", "문의", "opinion", "의견", "complaint", "항의", "encouragement", "격려"), false),
		ask("email", "email", "처리 결과를 받으실 이메일 주소를 알려 주세요.", nil, false),
		ask("phone", "phone", "연락받으실 전화번호를 알려 주세요.", nil, false),
		ask("title", "text", "접수 제목을 한 줄로 적어 주세요.", nil, false),
		ask("content", "text", "피해 내용을 자세히 적어 주세요.", nil, false),
		{Type: "reply", State: "summary", Input: "choice", Messages: []string{"입력하신 내용을 확인해 주세요."},
			Choices: []Choice{{Value: "submit", Label: "접수하기"}, {Value: "edit_email", Label: "이메일 고치기"}, back}},
		{Type: "reply", State: "submit", Input: "none", Messages: []string{"접수되었습니다. 접수번호는 B000-0000 입니다."},
			Done: true, ClaimID: "B000-0000", Choices: []Choice{{Value: "restart", Label: "처음으로"}}},
	}
	out := make([][]byte, len(replies))
	for i, r := range replies {
		out[i], _ = json.Marshal(r)
	}
	return out
}

// redactRedis hides a Redis URL's password.
func redactRedis(raw string) string {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return "(unparsable)"
	}
	if opt.Password != "" {
		return strings.Replace(raw, opt.Password, "…", 1)
	}
	return raw
}
