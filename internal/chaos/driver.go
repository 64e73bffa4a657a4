package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/loadtest"
	"github.com/claimbot/claimbot/internal/token"
	"github.com/claimbot/claimbot/internal/webhook"
)

type redisconnClient = redis.UniversalClient

// shown is a receipt number a conversation was shown, and when.
type shown struct {
	claim string
	at    time.Time
}

// driver runs the conversations.
type driver struct {
	opt    Options
	bots   []*instance
	secret []byte
	runID  string

	finished, failed, noReceipt, turns, unavailable, reconnects, longestWait atomic.Int64

	mu    sync.Mutex
	shown map[string][]shown // user → receipts shown
}

func (d *driver) user(i int) string { return fmt.Sprintf("chaos-%s-%d", d.runID, i) }

// converse files one claim as one person, reconnecting to another
// instance now and then and whenever the connection is lost, and resending
// (with the same id) every frame that was not answered with a reply.
func (d *driver) converse(ctx context.Context, i int) {
	rng := seeded(d.opt.Seed, i)
	p := loadtest.NewPersona(rng, 0)
	c := &chat{d: d, user: d.user(i), next: rng.IntN(len(d.bots))}
	defer c.close()
	deadline := time.Now().Add(d.opt.DeliverWithin)
	r, err := c.connect(ctx, deadline)
	if err != nil {
		d.failed.Add(1)
		return
	}
	filed := false
	defer func() {
		if !filed {
			d.noReceipt.Add(1)
		}
	}()
	for n := 1; ; n++ {
		f, ok := p.Next(&r)
		if !ok {
			break
		}
		if n > 200 {
			d.failed.Add(1)
			return
		}
		time.Sleep(time.Duration(rng.Int64N(int64(2 * d.opt.Think))))
		if rng.IntN(4) == 0 { // people come back on another instance
			c.drop()
		}
		f.ID = fmt.Sprintf("%s-%d", c.user, n)
		f.State = r.State
		r, err = c.send(ctx, f, deadline)
		if err != nil {
			d.failed.Add(1)
			return
		}
		if r.Done && r.ClaimID != "" {
			filed = true
			d.mu.Lock()
			list := d.shown[c.user]
			if len(list) == 0 || list[len(list)-1].claim != r.ClaimID {
				d.shown[c.user] = append(list, shown{claim: r.ClaimID, at: time.Now()})
			}
			d.mu.Unlock()
		}
	}
}

// receiptsBefore returns the receipts shown before t, with when.
func (d *driver) receiptsBefore(t time.Time) map[string]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]time.Time{}
	for _, list := range d.shown {
		for _, s := range list {
			if s.at.Before(t) {
				out[s.claim] = s.at
			}
		}
	}
	return out
}

// count fills the report's tallies from what was shown and delivered.
func (d *driver) count(rep *Report, recv *receiver) {
	d.mu.Lock()
	defer d.mu.Unlock()
	recv.mu.Lock()
	defer recv.mu.Unlock()
	shownClaims := map[string]time.Time{}
	for _, list := range d.shown {
		rep.Receipts += len(list)
		for _, s := range list {
			shownClaims[s.claim] = s.at
		}
		if len(list) > 1 {
			rep.DoubleFiled++
		}
	}
	usersDelivered := map[string]map[string]bool{}
	for claim, ids := range recv.ids {
		rep.Delivered++
		if len(ids) > 1 {
			rep.MultiIDs++
		}
		at, ok := shownClaims[claim]
		if !ok {
			rep.Unknown++
			continue
		}
		if dt := recv.first[claim].Sub(at); dt > rep.LongestDeliver {
			rep.LongestDeliver = dt
		}
		u := recv.user[claim]
		if usersDelivered[u] == nil {
			usersDelivered[u] = map[string]bool{}
		}
		usersDelivered[u][claim] = true
	}
	for u, claims := range usersDelivered {
		if len(claims) > 1 && len(d.shown[u]) <= 1 {
			rep.DoubleFiled++
		}
	}
	for claim := range shownClaims {
		if _, ok := recv.ids[claim]; !ok {
			rep.Lost++
		}
	}
}

// chat is one person's connection, to one instance at a time.
type chat struct {
	d    *driver
	user string
	next int
	ws   *websocket.Conn
}

func (c *chat) close() {
	if c.ws != nil {
		c.ws.Close()
	}
}

// drop closes the connection; the next frame reconnects to the next
// instance.
func (c *chat) drop() {
	c.close()
	c.ws = nil
}

func (c *chat) connect(ctx context.Context, deadline time.Time) (loadtest.Reply, error) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b := c.d.bots[c.next%len(c.d.bots)]
		c.next++
		tok, err := token.Mint(c.d.secret, c.user, "", "", time.Hour, time.Now())
		if err != nil {
			return loadtest.Reply{}, err
		}
		dialer := websocket.Dialer{HandshakeTimeout: 2 * time.Second, NetDialContext: (&net.Dialer{Timeout: time.Second}).DialContext}
		ws, _, err := dialer.DialContext(ctx, "ws://"+b.addr+"/ws?t="+tok, nil)
		if err == nil {
			c.ws = ws
			c.d.reconnects.Add(1)
			r, err := c.read()
			if err == nil && r.Type == "reply" {
				return r, nil
			}
			if err == nil && r.Type == "error" && r.Code == "unavailable" {
				c.d.unavailable.Add(1)
			}
			c.drop()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return loadtest.Reply{}, errGaveUp
}

func (c *chat) read() (loadtest.Reply, error) {
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return loadtest.Reply{}, err
	}
	var r loadtest.Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return loadtest.Reply{}, err
	}
	if r.Type == "" {
		r.Type = "reply"
	}
	return r, nil
}

// send sends f until a reply answers it.
func (c *chat) send(ctx context.Context, f loadtest.Frame, deadline time.Time) (loadtest.Reply, error) {
	start := time.Now()
	defer func() {
		w := int64(time.Since(start))
		for {
			old := c.d.longestWait.Load()
			if w <= old || c.d.longestWait.CompareAndSwap(old, w) {
				break
			}
		}
	}()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c.ws == nil {
			r, err := c.connect(ctx, deadline)
			if err != nil {
				return r, err
			}
			if r.State != f.State && f.State != "" {
				// Another tab would have moved it; here only a lost
				// answer that was applied after all: go on from where it is.
				if r.Done {
					return r, nil
				}
			}
		}
		c.d.turns.Add(1)
		if err := c.ws.WriteJSON(f); err != nil {
			c.drop()
			continue
		}
		r, err := c.read()
		if err != nil {
			c.drop()
			continue
		}
		if r.Type == "error" {
			if r.Code == "unavailable" {
				c.d.unavailable.Add(1)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		return r, nil
	}
	return loadtest.Reply{}, errGaveUp
}

// receiver plays the backend: it verifies each delivery's signature and
// records every claim under the webhook-ids it came with.
type receiver struct {
	secret   webhook.Secret
	srv      *http.Server
	url      string
	refusing atomic.Bool

	mu    sync.Mutex
	ids   map[string]map[string]bool // claim id → webhook-ids accepted
	user  map[string]string          // claim id → user id
	first map[string]time.Time       // claim id → first accepted
	bad   int
}

func startReceiver(secret webhook.Secret) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{secret: secret, url: "http://" + ln.Addr().String() + "/claims",
		ids: map[string]map[string]bool{}, user: map[string]string{}, first: map[string]time.Time{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) close() { r.srv.Close() }

func (r *receiver) refuse(on bool) { r.refusing.Store(on) }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if r.refusing.Load() {
		http.Error(w, "down for the chaos run", http.StatusServiceUnavailable)
		return
	}
	if err := r.secret.Verify(req.Header, body, time.Now()); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ClaimID string `json:"claim_id"`
			UserID  string `json:"user_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Data.ClaimID == "" {
		http.Error(w, "not a claim", http.StatusUnprocessableEntity)
		return
	}
	if ev.Type != "claim.submitted" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	if r.ids[ev.Data.ClaimID] == nil {
		r.ids[ev.Data.ClaimID] = map[string]bool{}
		r.first[ev.Data.ClaimID] = time.Now()
	}
	r.ids[ev.Data.ClaimID][id] = true
	r.user[ev.Data.ClaimID] = ev.Data.UserID
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// hasAll reports whether every claim in want was accepted.
func (r *receiver) hasAll(want map[string]time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for claim := range want {
		if _, ok := r.ids[claim]; !ok {
			return false
		}
	}
	return true
}
