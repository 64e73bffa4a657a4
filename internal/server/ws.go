package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/store"
)

const (
	// writeWait is the time allowed to write a frame to the peer.
	writeWait = 10 * time.Second
	// pongWait is the time allowed to read the next pong from the peer.
	pongWait = 60 * time.Second
	// pingPeriod sends pings to the peer; it must be less than pongWait.
	pingPeriod = pongWait * 9 / 10
	// maxMessageSize is the hard limit of a client frame: gorilla closes the
	// connection with 1009 past it.
	maxMessageSize = 64 << 10
	// maxFrameSize is the contract's limit of a client frame: past it the
	// client gets a too_large error and the connection stays open.
	maxFrameSize = 16 << 10
	// sendBuffer is how many frames may wait for a slow client; a full
	// buffer means a dead client.
	sendBuffer = 32
	// floodLimit rate_limited errors within floodWindow close the connection.
	floodLimit  = 20
	floodWindow = 10 * time.Second
)

// clientFrame is a frame from the client (contract §2).
type clientFrame struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Value string `json:"value"`
	Name  string `json:"name"`
	ID    string `json:"id"`
	State string `json:"state"`
}

// errorFrame is a frame problem; the connection stays open.
type errorFrame struct {
	Type string `json:"type"`
	Code string `json:"code"`
	Text string `json:"text"`
}

// outFrame is a frame for the write pump: data, or a close code.
type outFrame struct {
	data   []byte
	close  int
	reason string
}

// conn is one WebSocket connection: one read pump (which runs the turns in
// order) and one write pump; engine code never touches the socket.
type conn struct {
	s    *Server
	ws   *websocket.Conn
	send chan outFrame
	conv *store.Conv
	lim  *rate.Limiter
	log  *slog.Logger

	floods []time.Time

	turnMu  sync.Mutex // held while a turn runs, so shutdown waits for it
	closing bool
	once    sync.Once
	done    chan struct{}
}

func (c *conn) lang() string { return c.conv.Lang }

// queue hands a frame to the write pump. A full buffer means the client
// stopped reading: drop the connection.
func (c *conn) queue(f outFrame) {
	select {
	case <-c.done:
	case c.send <- f:
	default:
		c.log.Warn("ws: send buffer full, closing")
		c.stop()
	}
}

func (c *conn) stop() { c.once.Do(func() { close(c.done); c.ws.Close() }) }

func (c *conn) closeWith(code int, reason string) { c.queue(outFrame{close: code, reason: reason}) }

func (c *conn) reply(r engine.Reply) {
	buf, err := json.Marshal(r)
	if err != nil {
		c.log.Error("ws: encode reply", "err", err)
		return
	}
	c.queue(outFrame{data: buf})
}

func (c *conn) problem(code string) {
	buf, _ := json.Marshal(errorFrame{Type: "error", Code: code, Text: c.s.engine().Catalog().Text(c.lang(), "bot.error."+code, nil)})
	c.queue(outFrame{data: buf})
}

func (c *conn) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.stop()
	}()
	for {
		select {
		case <-c.done:
			return
		case f := <-c.send:
			c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if f.close != 0 {
				c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(f.close, f.reason))
				// Give the peer a moment to answer the close, then drop.
				select {
				case <-c.done:
				case <-time.After(time.Second):
				}
				return
			}
			if err := c.ws.WriteMessage(websocket.TextMessage, f.data); err != nil {
				return
			}
		case <-ticker.C:
			c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func (c *conn) readPump() {
	defer func() {
		c.s.left(c)
		c.stop()
	}()
	c.ws.SetReadLimit(maxMessageSize)
	c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error { c.ws.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return // gorilla already answered a frame over the limit with 1009
		}
		c.ws.SetReadDeadline(time.Now().Add(pongWait))
		switch {
		case typ == websocket.BinaryMessage:
			c.closeAndDrain(websocket.CloseUnsupportedData, "binary frames are not accepted")
			return
		case !utf8.Valid(data):
			c.closeAndDrain(websocket.CloseInvalidFramePayloadData, "invalid UTF-8")
			return
		}
		if c.lim != nil && !c.lim.Allow() {
			c.s.metrics.frameErrors.WithLabelValues("rate_limited").Inc()
			c.problem("rate_limited")
			if c.flooded() {
				c.closeAndDrain(websocket.ClosePolicyViolation, "too many frames")
				return
			}
			continue
		}
		if len(data) > maxFrameSize {
			c.s.metrics.frameErrors.WithLabelValues("too_large").Inc()
			c.problem("too_large")
			continue
		}
		in, ok := decodeFrame(data)
		if !ok {
			c.s.metrics.frameErrors.WithLabelValues("bad_frame").Inc()
			c.problem("bad_frame")
			continue
		}
		if !c.turn(in) {
			return
		}
	}
}

// closeAndDrain sends a close frame and reads (and drops) what the peer
// still sends until it answers the close, so the close frame is not lost
// to a connection reset.
func (c *conn) closeAndDrain(code int, reason string) {
	c.closeWith(code, reason)
	c.ws.SetReadDeadline(time.Now().Add(time.Second))
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

// turn runs one input; false when the server is shutting down.
func (c *conn) turn(in engine.Input) bool {
	c.turnMu.Lock()
	defer c.turnMu.Unlock()
	if c.closing {
		return false
	}
	start := time.Now()
	res, err := c.conv.Turn(context.Background(), in)
	c.s.metrics.observeTurn(c.conv.Flow, res, err, time.Since(start))
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			c.log.Warn("turn: redis unavailable", "err", err)
			c.problem("unavailable")
			return true
		}
		c.log.Error("turn failed", "err", err)
		c.problem("unavailable")
		return true
	}
	if res.Claim != nil {
		c.log.Info("claim filed", "claim_id", res.Claim.ID, "state", res.Reply.State)
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

func decodeFrame(data []byte) (engine.Input, bool) {
	var f clientFrame
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil || dec.More() {
		return engine.Input{}, false
	}
	if len(f.ID) > 128 || len(f.State) > 128 {
		return engine.Input{}, false
	}
	in := engine.Input{ID: f.ID, State: f.State}
	switch f.Type {
	case "text":
		in.Kind, in.Text = engine.Text, f.Text
	case "choice":
		if f.Value == "" {
			return in, false
		}
		in.Kind, in.Text = engine.Choose, f.Value
	case "command":
		if f.Name != "back" && f.Name != "restart" {
			return in, false
		}
		in.Kind, in.Text = engine.Command, f.Name
	default:
		return in, false
	}
	return in, true
}
