package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/claimbot/claimbot/internal/bufpool"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/store"
	"github.com/claimbot/claimbot/internal/upload"
)

// Pings (variables for tests).
var (
	// pongWait is the time allowed to read the next pong from the peer.
	pongWait = 60 * time.Second
	// pingPeriod sends pings to the peer; it must be less than pongWait.
	pingPeriod = pongWait * 9 / 10
)

const (
	// writeWait is the time allowed to write a frame to the peer.
	writeWait = 10 * time.Second
	// maxMessageSize is the hard limit of a client frame: gorilla closes the
	// connection with 1009 past it.
	maxMessageSize = 64 << 10
	// maxFrameSize is the contract's limit of a client frame: past it the
	// client gets a too_large error and the connection stays open.
	maxFrameSize = 16 << 10
	// closeGrace is how long the peer has to answer a close frame.
	closeGrace = time.Second
	// unavailableGap: frames read this soon after a turn that Redis did not
	// answer get "unavailable" at once, without trying Redis again. They
	// queued behind that turn (a connection runs its turns in order), and a
	// try of their own each would answer the later ones long past the
	// contract's 2 s.
	unavailableGap = 500 * time.Millisecond
	// floodLimit rate_limited errors within floodWindow close the connection.
	floodLimit  = 20
	floodWindow = 10 * time.Second
)

// errorFrame is a frame problem; the connection stays open.
type errorFrame struct {
	Type string `json:"type"`
	Code string `json:"code"`
	Text string `json:"text"`
}

// conn is one WebSocket connection. An idle connection must be cheap (the
// banner reaches millions at once), so it holds one goroutine: the read
// pump, which runs the turns in order and writes each reply itself; every
// frame the server sends is a reply to a frame the read pump just read.
// Pings come from a timer and the shutdown's close frame from Shutdown,
// through gorilla's WriteControl, which may run beside a writer. A client
// too slow to take its reply within writeWait is dropped. Engine code never
// touches the socket.
type conn struct {
	s    *Server
	ws   *websocket.Conn
	conv *store.Conv
	lim  *rate.Limiter // this socket's frames (contract §0); nil: no rate limit
	// shown is the state of the last reply this connection sent: what a
	// frame without state answers. conv may be shared with the user's
	// other sockets, so it cannot keep this.
	shown string
	// limits are the file limits of the files question it last showed
	// (none when it showed none): what a file frame is looked up under.
	limits upload.Limits
	// view is what the connection last saw of its conversation, for the
	// code that must not read conv (shared with the user's other sockets,
	// whose turns write it): the language of error frames, the state a
	// close abandons. Kept in place under viewMu, not swapped in as a new
	// one every turn: no allocation a turn, and an idle connection holds
	// the view itself rather than a pointer to one more object.
	viewMu    sync.Mutex
	view      connView
	tokenLang string     // the language its token or cookie asked for
	user      *userConns // what the user's sockets on this instance share

	floods []time.Time
	pinger *time.Timer
	in     idleReader // waits for input on a small stack (idleread.go)

	turnMu     sync.Mutex // held while a turn runs, so shutdown waits for it
	closing    bool       // Shutdown closes it
	superseded bool       // a newer socket of its user took its place
	once       sync.Once
}

// userConns is what one user's sockets on this instance share: a user
// reopening the chat in another tab or on the phone is the same person,
// not more of them.
//   - At most Config.SocketsPerUser sockets: a new one closes the oldest
//     (1008), so a user coming back on another device always gets in.
//   - One turn at a time: the turns of two tabs run one after the other
//     instead of racing each other's compare-and-set in Redis, so
//     "unavailable" only ever means Redis, never the user's own tabs.
//   - One copy of each conversation: a tab's turn starts from the session
//     as the user's last turn left it, not from a copy another tab made
//     stale, which would cost a failed write and a reload every time.
type userConns struct {
	id    string
	conns []*conn // open, oldest first; guarded by Server.mu

	turnMu        sync.Mutex    // held while one of the user's turns runs
	unavailableAt time.Time     // when a turn last found Redis unavailable; zero once one gets through
	convs         []*store.Conv // one per flow, the newest opened; usually one
}

// share makes conv, just opened, the conversation of its flow that the
// user's sockets use. The caller holds turnMu.
func (u *userConns) share(conv *store.Conv) {
	for i, c := range u.convs {
		if c.Flow == conv.Flow {
			u.convs[i] = conv
			return
		}
	}
	u.convs = append(u.convs, conv)
}

// shared is the conversation of mine's flow that the user's sockets use.
// The caller holds turnMu.
func (u *userConns) shared(mine *store.Conv) *store.Conv {
	for _, c := range u.convs {
		if c.Flow == mine.Flow {
			return c
		}
	}
	return mine
}

// connView is what a connection last saw of its conversation.
type connView struct {
	lang, flow, state string
	done              bool
}

// see records the conversation as the connection's last reply left it.
// The caller holds the user's turnMu, so no other socket's turn is
// writing the shared conversation meanwhile.
func (c *conn) see() {
	v := connView{lang: c.tokenLang}
	if c.conv != nil {
		v.flow = c.conv.Flow
		if sess := c.conv.Session(); sess != nil {
			if sess.Lang != "" {
				v.lang = sess.Lang
			}
			v.state, v.done = sess.State, sess.Done
		}
	}
	c.viewMu.Lock()
	c.view = v
	c.viewMu.Unlock()
}

// seen is what the connection last saw (the zero view before it saw its
// conversation).
func (c *conn) seen() connView {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	return c.view
}

// lang is the session's language, which its replies speak: the language
// it started in, whatever the token that resumed it says. Before a session
// is loaded, the token's.
func (c *conn) lang() string {
	if v := c.seen(); v.lang != "" {
		return v.lang
	}
	return c.tokenLang
}

// logger is made when needed, not kept: idle connections stay small. Its
// session attribute is a pseudonym, never the user id.
func (c *conn) logger() *slog.Logger {
	return c.s.log.With("session", c.s.pseud.UserID(c.conv.User+"/"+c.conv.Flow), "flow", c.conv.Flow)
}

// info logs at the info level, when it is on: the session's pseudonym is a
// keyed hash, not worth making for a line nobody keeps.
func (c *conn) info(msg string, args ...any) {
	if c.s.log.Enabled(context.Background(), slog.LevelInfo) {
		c.logger().Info(msg, args...)
	}
}

func (c *conn) stop() {
	c.once.Do(func() {
		parked := c.unparkForStop()
		if c.pinger != nil {
			c.pinger.Stop()
		}
		c.ws.Close()
		if parked {
			c.s.left(c) // no pump will
		}
	})
}

// send writes one text frame; a failed write drops the connection.
func (c *conn) send(data []byte) {
	c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.stop()
	}
}

// frames lends the buffers that replies are encoded into and frames read
// into: WriteMessage copies a frame out before it returns, and a frame read
// is decoded (its strings copied) before the next one.
var frames = bufpool.New(1024)

func (c *conn) reply(r engine.Reply) {
	buf := frames.Get()
	*buf = r.AppendJSON(*buf)
	c.send(*buf)
	frames.Put(buf)
}

func (c *conn) problem(code string) {
	buf, _ := json.Marshal(errorFrame{Type: "error", Code: code, Text: c.s.engine().Catalog().Text(c.lang(), "bot.error."+code, nil)})
	c.send(buf)
}

// closeWith sends a close frame and drops the connection if the peer does
// not answer it in time.
func (c *conn) closeWith(code int, reason string) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeWait))
	time.AfterFunc(closeGrace, c.stop)
}

// ping keeps the connection alive through proxies and finds dead peers.
func (c *conn) ping() {
	if c.silent() {
		c.stop()
		return
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
		c.stop()
		return
	}
	c.pinger.Reset(c.s.pingPeriod)
}

// prepareReading starts the pings and sets the read limit and deadline,
// once the connection's first reply is sent; then it parks (a connection
// that has only shown its first question costs no goroutine until the
// client writes) or, where it cannot park, its pump waits (see open).
func (c *conn) prepareReading() {
	c.pinger = time.AfterFunc(c.s.pingPeriod, c.ping)
	c.ws.SetReadLimit(maxMessageSize)
	c.ws.SetReadDeadline(time.Now().Add(c.s.pongWait))
	c.ws.SetPongHandler(func(string) error {
		now := time.Now()
		c.in.seen.Store(now.UnixNano())
		c.ws.SetReadDeadline(now.Add(c.s.pongWait))
		return nil
	})
}

// pump reads the client's frames and handles each, until the connection
// ends or, quiet for quietWait, parks (see waitInput). It waits for each
// frame on the socket, not in gorilla. A turn grows the stack to 8 KiB or
// more, which Go gives back only down to 4 KiB (it shrinks a stack while
// less than a quarter is in use); the goroutine, and so its stack, goes
// when the connection parks. Handing each frame to a fresh goroutine
// instead would cost a turn 17 µs of the server's processor time (its
// stack grown anew every time: BenchmarkBuildAgainst).
func (c *conn) pump() {
	for {
		if c.waitInput() {
			return // parked: the poller starts a pump when the socket is readable
		}
		if !c.next() {
			break
		}
	}
	c.s.left(c)
	c.stop()
}

// next reads the client's next frame and handles it; false ends the
// connection.
func (c *conn) next() bool {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return false
	}
	buf := frames.Get()
	*buf, err = readAll(*buf, r)
	if err != nil {
		frames.Put(buf)
		return false // gorilla already answered a frame over the limit with 1009
	}
	now := time.Now() // seen was set when the frame's bytes came (waitInput)
	c.in.lastFrame = now
	if c.in.raw == nil { // else waitInput sets the deadline of the next wait
		c.ws.SetReadDeadline(now.Add(c.s.pongWait))
	}
	goOn := c.frame(typ, *buf)
	frames.Put(buf)
	return goOn
}

// readAll appends what r has to b, as io.ReadAll does.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// frame handles one client frame; false ends the connection.
func (c *conn) frame(typ int, data []byte) bool {
	switch {
	case typ == websocket.BinaryMessage:
		c.closeAndDrain(websocket.CloseUnsupportedData, "binary frames are not accepted")
		return false
	case !utf8.Valid(data):
		c.closeAndDrain(websocket.CloseInvalidFramePayloadData, "invalid UTF-8")
		return false
	}
	if lim := c.lim; lim != nil && !lim.Allow() {
		c.s.metrics.frameErrors.WithLabelValues("rate_limited").Inc()
		c.problem("rate_limited")
		if c.flooded() {
			c.closeAndDrain(websocket.ClosePolicyViolation, "too many frames")
			return false
		}
		return true
	}
	if len(data) > maxFrameSize {
		c.s.metrics.frameErrors.WithLabelValues("too_large").Inc()
		c.problem("too_large")
		return true
	}
	in, ok := decodeFrame(data)
	if !ok {
		c.s.metrics.frameErrors.WithLabelValues("bad_frame").Inc()
		c.problem("bad_frame")
		return true
	}
	if !c.turn(in) {
		c.drain()
		return false
	}
	return true
}

// closeAndDrain sends a close frame and reads (and drops) what the peer
// still sends until it answers the close, so the close frame is not lost
// to a connection reset.
func (c *conn) closeAndDrain(code int, reason string) {
	c.closeWith(code, reason)
	c.drain()
}

// drain reads and drops frames until the peer answers a close or the grace
// time ends.
func (c *conn) drain() {
	c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return
		}
	}
}

// flooded records a rate_limited error and reports whether there were too
// many of them lately.
func (c *conn) flooded() bool {
	now := time.Now()
	keep := c.floods[:0]
	for _, t := range c.floods {
		if now.Sub(t) < floodWindow {
			keep = append(keep, t)
		}
	}
	c.floods = append(keep, now)
	return len(c.floods) >= floodLimit
}

// turn runs one input; false when the server is shutting down or a newer
// socket of the user took this one's place. The user's turns run one at a
// time (userConns.turnMu).
func (c *conn) turn(in engine.Input) bool {
	c.turnMu.Lock()
	defer c.turnMu.Unlock()
	if c.closing || c.superseded {
		return false
	}
	u := c.user
	u.turnMu.Lock()
	defer u.turnMu.Unlock()
	c.conv = u.shared(c.conv)
	start := time.Now()
	if !u.unavailableAt.IsZero() && start.Sub(u.unavailableAt) < unavailableGap {
		c.s.metrics.observeTurn(c.conv.Flow, engine.Result{}, store.ErrUnavailable, 0)
		c.problem("unavailable")
		return true
	}
	if in.Kind != engine.Resume && in.State == "" {
		// A frame without state answers the question this connection
		// last showed (contract §2), not the one another tab of the
		// user's, sharing the conversation, was shown since.
		in.State = c.shown
	}
	// A file frame's lookup and turn share one deadline, so that together
	// they answer within the contract's 2 s; other frames have the
	// store's own.
	ctx := context.Background()
	if in.Kind == engine.Attach {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(fileFrameBudget))
		defer cancel()
	}
	if err := c.s.resolve(ctx, &in, c.user.id, c.limits); err != nil {
		// The upload could not be looked up: nothing is applied, as when
		// Redis does not answer a turn.
		u.unavailableAt = time.Now()
		c.s.metrics.observeTurn(c.conv.Flow, engine.Result{}, store.ErrUnavailable, time.Since(start))
		c.logger().Warn("file frame: upload lookup unavailable", "err", err)
		c.problem("unavailable")
		return true
	}
	res, err := c.conv.Turn(ctx, in)
	c.s.metrics.observeTurn(c.conv.Flow, res, err, time.Since(start))
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			u.unavailableAt = time.Now()
			c.logger().Warn("turn: redis unavailable", "err", err)
			c.problem("unavailable")
			return true
		}
		c.logger().Error("turn failed", "err", err)
		c.problem("unavailable")
		return true
	}
	u.unavailableAt = time.Time{} // Redis answers again
	c.shown, c.limits = res.Reply.State, upload.LimitsOf(res.Reply)
	c.see()
	if res.Session != nil {
		c.s.touchFiles(res.Session) // applied: the session lives on, and so do its files
	}
	if res.Claim != nil {
		c.info("claim filed", "claim_id", res.Claim.ID, "state", res.Reply.State)
		c.s.keepFiles(res.Claim.Attachments)
	}
	if res.Evidence != nil {
		c.info("evidence added", "claim_id", res.Evidence.ClaimID, "files", len(res.Evidence.Attachments))
		c.s.keepFiles(res.Evidence.Attachments)
	}
	if res.Handoff != nil {
		c.info("handoff requested", "handoff_id", res.Handoff.ID, "state", res.Handoff.State)
	}
	c.reply(res.Reply)
	return true
}

// shutdown waits for the turn in flight, then closes with 1012 (service
// restart) so the page reconnects, elsewhere if need be.
func (c *conn) shutdown() {
	c.turnMu.Lock()
	c.closing = true
	c.turnMu.Unlock()
	c.closeWith(websocket.CloseServiceRestart, "server restarting")
}

// supersede closes the connection for a newer one of its user, once the
// turn in flight has sent its reply: 1008, which the page answers by
// reconnecting after a while, not at once.
func (c *conn) supersede() {
	c.turnMu.Lock()
	c.superseded = true
	c.turnMu.Unlock()
	c.closeWith(websocket.ClosePolicyViolation, supersededReason)
}

// supersededReason is the close reason of a socket closed for a newer one.
const supersededReason = "too many connections of this user: closed the oldest"

// closedByServer reports whether Shutdown closed the connection, or a
// newer socket of its user: a deploy or another tab, not a user leaving.
func (c *conn) closedByServer() bool {
	c.turnMu.Lock()
	defer c.turnMu.Unlock()
	return c.closing || c.superseded
}

func decodeFrame(data []byte) (engine.Input, bool) {
	f, err := engine.DecodeFrame(data)
	if err != nil {
		return engine.Input{}, false
	}
	in, err := f.Input()
	return in, err == nil
}
