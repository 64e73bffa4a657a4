package loadtest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// Bounds of one conversation: past them it is abandoned as a problem.
const (
	maxTurnsPerConv   = 80 // the longest honest path is about 20
	maxRefusedInARow  = 4
	maxErrorsInARow   = 5
	errorFramePause   = 50 * time.Millisecond
	redialPauseFirst  = 50 * time.Millisecond
	redialPauseLatest = 2 * time.Second
)

// stats are what a run counts, shared by all its connections.
type stats struct {
	turns      Histogram // one client frame → its reply
	connects   Histogram // dial → first frame
	started    atomic.Int64
	completed  atomic.Int64 // done frames
	claims     atomic.Int64 // done frames with a claim_id
	refused    atomic.Int64 // invalid: true replies
	stopping   atomic.Bool
	mu         sync.Mutex
	errFrames  map[string]int64 // error frames by code
	problems   map[string]int64 // client-side problems by kind
	closeCodes map[int]int64
}

func newStats() *stats {
	return &stats{errFrames: map[string]int64{}, problems: map[string]int64{}, closeCodes: map[int]int64{}}
}

func (s *stats) problem(kind string) {
	if s.stopping.Load() {
		return
	}
	s.mu.Lock()
	s.problems[kind]++
	s.mu.Unlock()
}

func (s *stats) errFrame(code string) {
	s.mu.Lock()
	s.errFrames[code]++
	s.mu.Unlock()
}

// connLost classifies a read or write failure: a close frame's code, a
// timeout, or a connection dropped without one (1006).
func (s *stats) connLost(err error) {
	if s.stopping.Load() {
		return
	}
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		s.mu.Lock()
		s.closeCodes[ce.Code]++
		s.mu.Unlock()
	case errors.As(err, &ne) && ne.Timeout():
		s.problem("timeout")
	default:
		s.mu.Lock()
		s.closeCodes[websocket.CloseAbnormalClosure]++
		s.mu.Unlock()
	}
}

func (s *stats) errorCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, v := range s.errFrames {
		n += v
	}
	for _, v := range s.problems {
		n += v
	}
	for _, v := range s.closeCodes {
		n += v
	}
	return n
}

func copyMap[K comparable](m map[K]int64) map[K]int64 {
	out := make(map[K]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// users names simulated people: a prefix per run, so a second run against
// the same server starts fresh conversations, and a counter.
type users struct {
	prefix string
	n      atomic.Int64
}

func newUsers() *users { return &users{prefix: "lt-" + randomHex(3) + "-"} }

func (u *users) next() string { return u.prefix + strconv.FormatInt(u.n.Add(1), 10) }

// conns tracks open connections, so a stopped run closes them all at once.
type conns struct {
	mu sync.Mutex
	m  map[*websocket.Conn]struct{}
}

func (c *conns) add(ws *websocket.Conn) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[*websocket.Conn]struct{}{}
	}
	c.m[ws] = struct{}{}
	c.mu.Unlock()
}

func (c *conns) remove(ws *websocket.Conn) {
	c.mu.Lock()
	delete(c.m, ws)
	c.mu.Unlock()
}

func (c *conns) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ws := range c.m {
		ws.Close()
	}
}

// conv is one simulated person's conversation on one connection.
type conv struct {
	st       *stats
	ws       *websocket.Conn
	p        *Persona
	prefix   string // of frame ids, like a page load's
	n        int
	last     Reply
	turns    int
	refused  int
	errs     int
	finished bool
	buf      bytes.Buffer // the frame being read
}

// client opens conversations for a run.
type client struct {
	t           *Target
	st          *stats
	users       *users
	open        conns
	stillFileNo float64
}

// start dials a new person's chat and reads the first frame.
func (c *client) start(ctx context.Context, rng *rand.Rand) (*conv, error) {
	user := c.users.next()
	begin := time.Now()
	ws, err := c.t.dial(ctx, user)
	if err != nil {
		var de *dialError
		if errors.As(err, &de) && de.status != 0 {
			c.st.problem("connect_" + strconv.Itoa(de.status))
		} else {
			c.st.problem("connect")
		}
		return nil, err
	}
	c.open.add(ws)
	cv := &conv{st: c.st, ws: ws, p: NewPersona(rng, c.stillFileNo), prefix: strconv.FormatUint(rng.Uint64()&0xfffffff, 36)}
	ws.SetReadDeadline(time.Now().Add(replyWait))
	if err := cv.read(); err != nil {
		if !errors.Is(err, errProtocol) {
			c.st.connLost(err)
		}
		c.finish(cv)
		return nil, err
	}
	if cv.last.Type == "" { // an error frame instead of the first reply
		c.finish(cv)
		return nil, errConvOver
	}
	c.st.connects.Record(time.Since(begin))
	c.st.started.Add(1)
	return cv, nil
}

func (c *client) finish(cv *conv) {
	if cv == nil || cv.ws == nil {
		return
	}
	cv.ws.SetWriteDeadline(time.Now().Add(time.Second))
	cv.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	cv.ws.Close()
	c.open.remove(cv.ws)
	cv.ws = nil
}

func (cv *conv) read() error {
	_, rd, err := cv.ws.NextReader()
	if err != nil {
		return err
	}
	// The frame is read into the conversation's own buffer: the load
	// tester's garbage is collected in the same process as the bare loop
	// or an in-process server, and its pauses count in their latency.
	cv.buf.Reset()
	cv.buf.Grow(4 << 10) // once per conversation: replies are 0.5–3 KB
	if _, err := cv.buf.ReadFrom(rd); err != nil {
		return err
	}
	var r Reply
	if err := json.Unmarshal(cv.buf.Bytes(), &r); err != nil {
		cv.st.problem("bad_json")
		return errProtocol
	}
	if r.Type == "error" {
		cv.st.errFrame(r.Code)
		cv.errs++
		return nil
	}
	cv.errs = 0
	if r.Type != "reply" {
		cv.st.problem("unknown_frame")
		return errProtocol
	}
	if r.Invalid {
		cv.st.refused.Add(1)
		cv.refused++
	} else {
		cv.refused = 0
	}
	cv.last = r
	if r.Done {
		cv.finished = true
		cv.st.completed.Add(1)
		if r.ClaimID != "" {
			cv.st.claims.Add(1)
		}
	}
	return nil
}

// errProtocol is a frame that is not JSON, or of an unknown type: counted
// as a problem, and the conversation is abandoned.
var errProtocol = errors.New("protocol problem")

// errConvOver ends a conversation that cannot go on; the problem is counted.
var errConvOver = errors.New("conversation abandoned")

// step sends the next answer and reads the one frame that answers it; the
// turn's latency runs from since (the send, or in an open loop the time
// the send was scheduled). It returns true when the conversation is over.
func (cv *conv) step(since time.Time) (bool, error) {
	if cv.finished {
		return true, nil
	}
	switch {
	case cv.turns >= maxTurnsPerConv:
		cv.st.problem("too_many_turns")
		return true, errConvOver
	case cv.refused > maxRefusedInARow:
		cv.st.problem("refused_in_a_loop")
		return true, errConvOver
	case cv.errs > maxErrorsInARow:
		cv.st.problem("error_frames_in_a_row")
		return true, errConvOver
	case cv.errs > 0:
		time.Sleep(errorFramePause) // unavailable, rate_limited: try again
	}
	f, ok := cv.p.Next(&cv.last)
	if !ok {
		cv.st.problem("nothing_to_answer")
		return true, errConvOver
	}
	cv.n++
	f.ID = cv.prefix + "-" + strconv.Itoa(cv.n)
	f.State = cv.last.State
	data, err := json.Marshal(f)
	if err != nil {
		return true, err
	}
	cv.turns++
	cv.ws.SetWriteDeadline(time.Now().Add(replyWait))
	if err := cv.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		cv.st.connLost(err)
		return true, err
	}
	cv.ws.SetReadDeadline(time.Now().Add(replyWait))
	if err := cv.read(); err != nil {
		if !errors.Is(err, errProtocol) {
			cv.st.connLost(err)
		}
		return true, err
	}
	cv.st.turns.Record(time.Since(since))
	return cv.finished, nil
}

// backoff spaces out redials after failures.
type backoff struct{ d time.Duration }

func (b *backoff) wait(ctx context.Context) {
	if b.d == 0 {
		b.d = redialPauseFirst
	} else {
		b.d = min(2*b.d, redialPauseLatest)
	}
	select {
	case <-ctx.Done():
	case <-time.After(b.d):
	}
}

func (b *backoff) reset() { b.d = 0 }

func sortedKeys[K int | string](m map[K]int64) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}
