// Package store keeps conversations in Redis and applies chat turns to
// them. A turn is one compare-and-set on the session's revision and epoch,
// done by one Lua script; a turn that files a claim also appends it to the
// user's shard outbox in that same script, so the session is marked filed
// and the claim queued together or not at all. Each connection caches the
// session it last wrote, so a turn normally costs one Redis round trip.
package store

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/bufpool"
	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/flow"
	"github.com/claimbot/claimbot/internal/insight"
	"github.com/claimbot/claimbot/internal/rbatch"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

// ErrUnavailable means Redis could not be reached in time: nothing was applied.
var ErrUnavailable = errors.New("store: redis unavailable")

// Options configure a Store.
type Options struct {
	TTL       time.Duration    // idle expiry of a session (default 72h)
	Timeout   time.Duration    // a turn's deadline for all its Redis calls (default 1.2s; see rbatch.New for the most it can take)
	Now       func() time.Time // the clock (default time.Now)
	ClaimIDTL time.Duration    // how long a receipt number stays reserved (default 30 days)
	// FiledReplicas is how many replicas must hold a filed claim before
	// its receipt is shown (Redis WAIT); 0 does not wait.
	FiledReplicas int
	// OnUnreplicated, when set, hears of a claim filed with fewer
	// replicas than FiledReplicas confirming it (acked, and WAIT's error).
	OnUnreplicated func(acked int, err error)
	// OnClockSkew, when set, hears of a turn refused because Redis's clock
	// is ahead of this instance's by skew.
	OnClockSkew func(skew time.Duration)
	// Link returns the signed URL of an uploaded file (upload.Service.Link
	// with no expiry: the URL lives until the file is deleted, so a body
	// holding it is the same on every attempt). The server sets it
	// whenever uploads are on; files reach a claim only through uploads.
	// Nil (no uploads) links nothing: an attachment's url is then "",
	// which the webhook schema refuses.
	Link func(id string) string
	// NoCounts leaves the intake counts (package insight) alone: for
	// benchmarks that compare a turn with and without them.
	NoCounts bool
}

// Store applies turns to sessions kept in Redis.
type Store struct {
	batch  *rbatch.Batcher
	rdb    redis.UniversalClient
	engine func() *engine.Engine
	opt    Options

	unreplicated, skewed atomic.Int64

	// ttlArg and claimIDTLArg are opt.TTL and opt.ClaimIDTL in
	// milliseconds, as the turn script's arguments: boxed once, not
	// every turn.
	ttlArg, claimIDTLArg any

	sourcesMu sync.Mutex
	sources   map[flowVersion]time.Time // when this instance last set or refreshed a flow version's source in Redis
}

// flowVersion names a version of a flow.
type flowVersion struct{ flow, version string }

// sourceRefresh is how often, at most, an instance refreshes the expiry of
// a flow version's source while sessions pinned to it take turns.
const sourceRefresh = time.Hour

// New returns a Store. engine returns the current engine: the server swaps
// engines when flows are reloaded.
func New(rdb redis.UniversalClient, eng func() *engine.Engine, opt Options) *Store {
	if opt.TTL <= 0 {
		opt.TTL = 72 * time.Hour
	}
	if opt.Timeout <= 0 {
		// With rbatch's floor a turn gives up within 1.6 s: the contract's
		// "unavailable" comes within 2 s of the frame.
		opt.Timeout = 1200 * time.Millisecond
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ClaimIDTL <= 0 {
		opt.ClaimIDTL = 30 * 24 * time.Hour
	}
	return &Store{rdb: rdb, engine: eng, opt: opt, batch: rbatch.New(rdb, opt.Timeout), sources: map[flowVersion]time.Time{},
		ttlArg: opt.TTL.Milliseconds(), claimIDTLArg: opt.ClaimIDTL.Milliseconds()}
}

// Redis returns the store's client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

//go:embed turn.lua
var turnLua string

// turnScript compares the session's revision and epoch and, when they
// match, writes the new session and, for a filed claim, reserves the receipt
// number and appends the claim to the outbox: all or nothing.
//
// KEYS: session, outbox, claim id reservation (or the session key again),
// then, when counting, the flow's counts hash in the user's shard
// ARGV: expected revision (0: the session must not exist), expected epoch
// ("" for none), new value, TTL ms, fence (unix ms; 0: none), the counts'
// field (insight.Turn.Append; "" for none), then for a claim (or a
// handoff, or evidence added to a filed claim): its id, body, unix ms,
// reservation TTL ms.
//
// Returns {1, revision} applied; {0, current value} revision or epoch
// mismatch; {2} receipt number already taken; {3, Redis's unix ms} the
// fence had passed: nothing applied.
var turnScript = redis.NewScript(turnLua)

// Conv is one connection's conversation: the user's session in one flow,
// with the last revision and epoch this connection saw. It takes one turn
// at a time (the server holds the user's turn lock): a turn reuses the
// Conv's own buffers.
type Conv struct {
	st                 *Store
	key                string
	User, Flow, Lang   string
	sess               *engine.Session
	rev                int64
	epoch              string // of the stored session c.rev is of ("" for none, or one written before epochs)
	shown              string // the state of the last reply this connection gave
	showed             bool   // a reply was given
	submitted, applied int

	// claimIDs is every step's engine.Env.ClaimID, made once.
	claimIDs func() string
	// countsFlow and countsKey: the intake counts' key of the flow last
	// counted (insight.CountsKey in the user's shard).
	countsFlow, countsKey string
	// epochArg is c.epoch as the script's argument, boxed once per epoch.
	epochArg   any
	epochBoxed string
	// keys and args are write's, reused by every turn of the connection:
	// nothing reads them once the script has returned (see
	// rbatch.Batcher.Script; filed runs its pipeline before it returns).
	keys [4]string
	args [10]any
}

// Open loads or starts the user's conversation in a flow and returns the
// reply to show on connect.
func (s *Store) Open(ctx context.Context, user, flowID, lang string) (*Conv, engine.Result, error) {
	c := &Conv{st: s, key: shard.Session(user, flowID), User: user, Flow: flowID, Lang: lang}
	res, err := c.Turn(ctx, engine.Input{Kind: engine.Resume})
	return c, res, err
}

// Session returns the session as this connection last saw it.
func (c *Conv) Session() *engine.Session { return c.sess }

// Turn applies one input and returns the engine's result. On ErrUnavailable
// no write was confirmed. A write Redis received but did not answer in time
// may still take effect when it wakes; the connection's next turn then
// loses its compare-and-set, reads the session as it is and goes on from
// there, so nothing is applied twice or to another question.
//
// An input without a state answers the question this connection last
// showed (contract §2): Turn gives it that state, so the engine finds it
// stale when the session has moved on (another tab, another device, a lost
// race, a late write) and sends the current reply instead of applying it
// to another question. Every channel that sends frames without state (the
// terminal chat, the remote runner, bots) gets this from here. The
// question last shown is the state of the last reply Turn returned, the
// connect reply first; not the cached session, which a turn that failed
// may have moved past what the user saw.
//
// A turn has one deadline, the store's Timeout, for all the Redis calls it
// makes (a load after a lost race, a flow version, the write) and however
// long they wait for a batch slot: the user hears "unavailable" in time
// even from a Redis that accepts connections and never answers.
func (c *Conv) Turn(ctx context.Context, in engine.Input) (engine.Result, error) {
	if in.Kind != engine.Resume && in.State == "" {
		if !c.showed {
			// Nothing shown yet (Open failed): there is no question it
			// answers. It gets the current reply, as on connect.
			in = engine.Input{Kind: engine.Resume}
		} else {
			in.State = c.shown
		}
	}
	res, err := c.turn(ctx, in)
	if err == nil {
		c.shown, c.showed = res.Reply.State, true
	}
	return res, err
}

func (c *Conv) turn(ctx context.Context, in engine.Input) (engine.Result, error) {
	// context.WithTimeout, whose timer is made only if a call waits on it.
	tc := newTurnContext(ctx, time.Now().Add(c.st.opt.Timeout))
	defer tc.stop()
	ctx = tc
	if c.sess == nil {
		if err := c.load(ctx); err != nil {
			return engine.Result{}, err
		}
	}
	refreshed := false
	for attempt := 0; attempt < 8; attempt++ {
		eng := c.st.engine()
		if err := c.st.ensureVersion(ctx, eng, c.sess); err != nil {
			return engine.Result{}, err
		}
		if c.claimIDs == nil {
			c.claimIDs = func() string { return newClaimID(c.User) }
		}
		res, err := eng.Step(c.sess, in, engine.Env{Now: c.st.opt.Now(), ClaimID: c.claimIDs})
		if err != nil {
			return engine.Result{}, err
		}
		if c.rev == 0 && in.Kind == engine.Resume && res.Session != nil {
			// A new conversation is written with its first answer: a
			// connection that never answers leaves nothing behind, and
			// connecting costs no write.
			c.sess = res.Session
			return res, nil
		}
		if res.Session == nil {
			// Not applied (a repeated id or a stale state) or nothing to
			// write. The cached session may be behind another tab: check once.
			if !refreshed && in.Kind != engine.Resume {
				refreshed = true
				if err := c.load(ctx); err != nil {
					return engine.Result{}, err
				}
				continue
			}
			return res, nil
		}
		ok, err := c.write(ctx, res)
		if err != nil {
			return engine.Result{}, err
		}
		if ok {
			c.sess = res.Session
			return res, nil
		}
		refreshed = true // c.write loaded the current session
	}
	return engine.Result{}, errors.New("store: turn: too much contention")
}

func newClaimID(user string) string {
	var b [5]byte
	rand.Read(b[:])
	return shard.NewClaimID(shard.Of(user), b[:])
}

// load reads the session from Redis (a new one when there is none).
func (c *Conv) load(ctx context.Context) error {
	val, err := c.st.batch.Do(ctx, "get", c.key).Text()
	if errors.Is(err, redis.Nil) {
		c.sess, c.rev, c.epoch = engine.NewSession(c.User, c.Flow, c.Lang), 0, ""
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: load session: %v", ErrUnavailable, err)
	}
	return c.decode(val)
}

func (c *Conv) decode(val string) error {
	rev, sess, err := Decode([]byte(val))
	if err != nil {
		// A session that cannot be read (a damaged value) must not lock
		// the user out: start over, overwriting it.
		sess = engine.NewSession(c.User, c.Flow, c.Lang)
	}
	// The epoch the script compares, read as it reads it, damaged values
	// included.
	c.sess, c.rev, c.epoch = sess, rev, epochOf(val)
	return nil
}

// epochPrefix starts the JSON of a session with an epoch (see
// engine.Session.AppendJSON), right after the revision's line.
const epochPrefix = `{"e":"`

// epochOf reads the epoch of a session value as the turn script does: the
// text after epochPrefix at the start of the JSON, up to the next quote;
// "" when there is none.
func epochOf(val string) string {
	i := strings.IndexByte(val, '\n')
	if i < 0 || !strings.HasPrefix(val[i+1:], epochPrefix) {
		return ""
	}
	rest := val[i+1+len(epochPrefix):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// newEpoch makes the epoch of a new session: random, so a session made
// after another expired never has its epoch.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// write compare-and-sets the step's session; false means another turn won
// the race and c now holds the current session.
func (c *Conv) write(ctx context.Context, res engine.Result) (bool, error) {
	next := c.rev + 1
	if res.Session.Epoch == "" {
		// A new session (or one written before epochs) gets its epoch
		// with this write; res.Session is the step's own copy.
		res.Session.Epoch = newEpoch()
	}
	// The value is sent by the time Script returns (or never, when the
	// turn gave up while queued), so its buffer can go back then.
	// The counts first: they note in the session what they counted.
	counted, t := c.countsOf(res)
	val := values.Get()
	defer values.Put(val)
	*val = appendValue(*val, next, res.Session)
	// Nothing keeps the arguments once the script returned: the lent
	// buffer goes back clean.
	defer clear(c.args[:])
	if fv := (flowVersion{res.Session.Flow, res.Session.Version}); c.st.sourceDue(fv) {
		// Alongside the script, not before it: the turn waits for the
		// slower of the two, not for both in turn.
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.st.keepSource(ctx, fv)
		}()
		defer func() { <-done }()
	}
	// Room for the counts' key, so it appends in place.
	keys := append(c.keys[:0], c.key, c.key, c.key)
	waitFor := 0
	if res.Claim != nil {
		waitFor = c.st.opt.FiledReplicas
	}
	fence := c.st.fence(ctx, waitFor > 0)
	if c.epochArg == nil || c.epochBoxed != c.epoch {
		c.epochArg, c.epochBoxed = c.epoch, c.epoch
	}
	args := append(c.args[:0], c.rev, c.epochArg, (*valueArg)(val), c.st.ttlArg, fence.UnixMilli())
	if counted != nil {
		// The intake counts (package insight): the script applies them
		// with the write, in the same round trip, in the user's shard.
		if c.countsKey == "" || c.countsFlow != counted.ID {
			c.countsFlow, c.countsKey = counted.ID, insight.CountsKey(shard.Of(c.User), counted.ID)
		}
		keys = append(keys, c.countsKey)
		args = t.Append(args)
	} else {
		args = append(args, "") // nothing counted
	}
	if cl := res.Claim; cl != nil {
		n := shard.Of(c.User)
		// Body, in a lent buffer that goes back once the script is sent.
		body := values.Get()
		defer values.Put(body)
		var ok bool
		if *body, ok = appendBody(*body, cl, c.st.opt.Link); !ok {
			b, err := marshalBody(cl, c.st.opt.Link)
			if err != nil {
				return false, err
			}
			*body = append(*body, b...)
		}
		keys[1], keys[2] = shard.Outbox(n), shard.ClaimReservation(n, cl.ID)
		args = append(args, cl.ID, (*valueArg)(body), cl.SubmittedAt.UnixMilli(), c.st.claimIDTLArg)
	} else if h := res.Handoff; h != nil {
		// A handoff request is another outbox entry, under an id from the
		// receipt numbers' reserved space: the same script appends it with
		// the session, and the sender signs, retries and dead-letters it
		// as it does a claim, with its own webhook-id.
		n := shard.Of(c.User)
		body, err := HandoffBody(h)
		if err != nil {
			return false, err
		}
		keys[1], keys[2] = shard.Outbox(n), shard.ClaimReservation(n, h.ID)
		args = append(args, h.ID, body, h.RequestedAt.UnixMilli(), c.st.claimIDTLArg)
	} else if ev := res.Evidence; ev != nil {
		// Files added to a filed claim: another outbox entry, as a
		// handoff is, under its own id from the receipt numbers' space.
		n := shard.Of(c.User)
		body, err := EvidenceBody(ev, c.st.opt.Link)
		if err != nil {
			return false, err
		}
		keys[1], keys[2] = shard.Outbox(n), shard.ClaimReservation(n, ev.ID)
		args = append(args, ev.ID, body, ev.AddedAt.UnixMilli(), c.st.claimIDTLArg)
	}
	var out []any
	var err error
	if waitFor > 0 {
		out, err = c.st.filed(ctx, keys, args, waitFor)
	} else {
		out, err = c.st.batch.Script(ctx, turnScript, keys, args...).Slice()
	}
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err != nil {
		redisconn.Failed(c.st.rdb, err)
		return false, fmt.Errorf("%w: write session: %v", ErrUnavailable, err)
	}
	code, _ := out[0].(int64)
	switch code {
	case 3:
		c.st.fenced(out)
		return false, fmt.Errorf("%w: write session: Redis ran it after the turn's deadline; not applied", ErrUnavailable)
	case 1:
		c.rev, c.epoch = next, res.Session.Epoch
		return true, nil
	case 0:
		if len(out) < 2 || out[1] == nil {
			c.sess, c.rev, c.epoch = engine.NewSession(c.User, c.Flow, c.Lang), 0, ""
			return false, nil
		}
		s, _ := out[1].(string)
		return false, c.decode(s)
	case 2:
		return false, nil // the receipt number is taken: step again with a new one
	}
	return false, fmt.Errorf("store: write session: unexpected script result %v", out)
}

// countsOf is what the turn adds to the intake counts (package insight),
// with the flow they are kept under; a nil flow when none are kept.
func (c *Conv) countsOf(res engine.Result) (*flow.Flow, insight.Turn) {
	if c.st.opt.NoCounts {
		return nil, insight.Turn{}
	}
	f := c.st.engine().Flow(res.Session.Flow)
	if f == nil {
		return nil, insight.Turn{}
	}
	return f, insight.Of(f, c.sess, res, c.rev == 0)
}

// fenceMargin is how long before a turn's deadline its script must have
// run to apply anything: room for the reply to come back, and for the
// clocks of this instance and Redis to differ (keep them within it by
// NTP): 300 ms of the default 1.2 s. So a script that runs after its
// caller has told the user "unavailable" (a Redis frozen or slow) applies
// nothing, then or later.
func (s *Store) fenceMargin() time.Duration { return s.opt.Timeout / 4 }

// waitBudget is how long a submit waits for its replicas (Redis WAIT),
// within the turn's deadline: 400 ms of the default 1.2 s.
func (s *Store) waitBudget() time.Duration { return s.opt.Timeout / 3 }

// fence is the latest time, on this instance's clock, at which a turn's
// script may run: its deadline less fenceMargin, and less waitBudget when
// the write then waits for replicas.
func (s *Store) fence(ctx context.Context, waits bool) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(s.opt.Timeout)
	}
	d = d.Add(-s.fenceMargin())
	if waits {
		d = d.Add(-s.waitBudget())
	}
	return d
}

// fenced notes a script refused by its fence. When Redis's time in the
// refusal is well ahead of this instance's time now, the refusal came from
// Redis's clock running ahead, not from a late script: say so, since every
// turn would then be refused.
func (s *Store) fenced(out []any) {
	if len(out) < 2 {
		return
	}
	redisNow, _ := out[1].(int64)
	if skew := time.UnixMilli(redisNow).Sub(time.Now()); skew > s.fenceMargin()/2 {
		s.skewed.Add(1)
		if s.opt.OnClockSkew != nil {
			s.opt.OnClockSkew(skew)
		}
	}
}

// filed runs a submit's script and then WAIT on the same connection, so
// Redis counts the replicas that hold this write: a master that dies
// after the receipt was shown loses no claim to a replica's promotion.
// go-redis would send a bare WAIT to an arbitrary node, so both go in one
// pipeline on the node that serves the session's slot. When fewer replicas
// answer within waitBudget, the claim is filed all the same (the script
// applied it: the user must never be told otherwise) and counted in
// Unreplicated.
func (s *Store) filed(ctx context.Context, keys []string, args []any, replicas int) ([]any, error) {
	node, err := redisconn.NodeFor(ctx, s.rdb, keys[0])
	if err != nil {
		return nil, err
	}
	run := func(eval bool) (*redis.Cmd, *redis.Cmd, error) {
		pipe := node.Pipeline()
		var script *redis.Cmd
		if eval {
			script = pipe.Eval(ctx, turnLua, keys, args...)
		} else {
			script = pipe.EvalSha(ctx, turnScript.Hash(), keys, args...)
		}
		wait := pipe.Do(ctx, "wait", replicas, s.waitBudget().Milliseconds())
		_, err := pipe.Exec(ctx)
		return script, wait, err
	}
	script, wait, _ := run(false)
	if err := script.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		script, wait, _ = run(true)
	}
	// The script's reply as read decides, whatever came after it: a
	// connection lost while WAIT was pending marks the whole pipeline
	// failed, but a claim the script filed is filed.
	out, _ := script.Val().([]any)
	if len(out) == 0 {
		if err := script.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("store: write session: unexpected script result %v", script.Val())
	}
	if code, _ := out[0].(int64); code == 1 {
		if n, err := wait.Int64(); err != nil || int(n) < replicas {
			s.unreplicated.Add(1)
			if s.opt.OnUnreplicated != nil {
				s.opt.OnUnreplicated(int(n), err)
			}
		}
	}
	return out, nil
}

// Unreplicated counts claims filed while fewer replicas than
// FiledReplicas confirmed them in time.
func (s *Store) Unreplicated() int64 { return s.unreplicated.Load() }

// ClockSkewed counts turns refused because Redis's clock ran ahead.
func (s *Store) ClockSkewed() int64 { return s.skewed.Load() }

// Body is the webhook body of a filed claim, exactly as it is sent on
// every attempt. Each attachment's url is link(id) ("" when link is nil):
// a link without expiry, so the body never changes.
func Body(cl *engine.Claim, link func(id string) string) ([]byte, error) {
	if b, ok := appendBody(make([]byte, 0, 1024), cl, link); ok {
		return b, nil
	}
	return marshalBody(cl, link)
}

// marshalBody is Body through encoding/json: what appendBody writes
// without it.
func marshalBody(cl *engine.Claim, link func(id string) string) ([]byte, error) {
	return json.Marshal(webhook.NewEvent(webhook.Claim{
		ClaimID: cl.ID, UserID: cl.User, Locale: cl.Lang,
		Flow:        webhook.Flow{ID: cl.Flow, Version: cl.Version},
		SubmittedAt: cl.SubmittedAt, Answers: cl.Answers,
		Attachments: attachments(cl.Attachments, link),
	}))
}

// EvidenceBody is the webhook body of files added to a filed claim,
// exactly as it is sent on every attempt; urls as in Body.
func EvidenceBody(ev *engine.Evidence, link func(id string) string) ([]byte, error) {
	return json.Marshal(webhook.NewEvidenceEvent(webhook.Evidence{
		ClaimID: ev.ClaimID, UserID: ev.User, Attachments: attachments(ev.Attachments, link),
	}, ev.AddedAt))
}

// attachments are the webhook's view of a claim's files: nil when none,
// so the key is left out.
func attachments(files []engine.Attachment, link func(id string) string) []webhook.Attachment {
	if len(files) == 0 {
		return nil
	}
	out := make([]webhook.Attachment, len(files))
	for i, f := range files {
		out[i] = webhook.Attachment{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size, SHA256: f.SHA256}
		if link != nil {
			out[i].URL = link(f.ID)
		}
	}
	return out
}

// HandoffBody is the webhook body of a handoff request, exactly as it is
// sent on every attempt.
func HandoffBody(h *engine.Handoff) ([]byte, error) {
	return json.Marshal(webhook.NewHandoffEvent(webhook.Handoff{
		HandoffID: h.ID, UserID: h.User, Locale: h.Lang,
		Flow:  webhook.Flow{ID: h.Flow, Version: h.Version},
		State: h.State, Answers: h.Answers, Phone: h.Phone,
	}, h.RequestedAt))
}

// ensureVersion makes the flow version a session is pinned to known to the
// engine, loading its source from Redis when another instance (or this one
// before a restart) loaded it. A version found nowhere is left to the
// engine, which moves the session to the current version.
func (s *Store) ensureVersion(ctx context.Context, eng *engine.Engine, sess *engine.Session) error {
	cur := eng.Flow(sess.Flow)
	if cur == nil || sess.Version == "" || sess.Version == cur.Version || eng.Versions().Get(sess.Flow, sess.Version) != nil {
		return nil
	}
	src, err := s.rdb.Get(ctx, shard.FlowSource(sess.Flow, sess.Version)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: flow source: %v", ErrUnavailable, err)
	}
	// Parsed under the current file's path: the flow's id comes from its
	// file name. Its version is the hash of the source, so it must be the
	// one asked for.
	f, ps := flow.Parse(cur.Path, src)
	if f != nil && len(ps.Errors()) == 0 && f.ID == sess.Flow && f.Version == sess.Version {
		eng.Versions().Add(f)
	}
	return nil
}

// SaveFlows stores the source of each flow version, so sessions pinned to
// it can continue on any instance after reloads and restarts. It is kept
// for a day longer than a session can stay idle, counted from the last
// load, and from then on from the turns of sessions pinned to it (see
// keepSource).
func (s *Store) SaveFlows(ctx context.Context, flows map[string]*flow.Flow) error {
	pipe := s.rdb.Pipeline()
	for _, f := range flows {
		pipe.Set(ctx, shard.FlowSource(f.ID, f.Version), f.Source, s.sourceTTL())
	}
	_, err := pipe.Exec(ctx)
	if err == nil {
		now := s.opt.Now()
		s.sourcesMu.Lock()
		for _, f := range flows {
			s.sources[flowVersion{f.ID, f.Version}] = now
		}
		s.sourcesMu.Unlock()
	}
	return err
}

// sourceTTL is how long a flow version's source stays in Redis after it was
// last set or refreshed: longer than any session pinned to it can stay idle.
func (s *Store) sourceTTL() time.Duration { return s.opt.TTL + 24*time.Hour }

// sourceDue reports whether a turn of a session pinned to a flow version
// should refresh the expiry of its source, and if so counts it refreshed
// now: once per sourceRefresh per version on this instance. A session's
// expiry slides with each write while its source's would not: a server up
// longer than the source's TTL would lose it, and a deploy would then start
// those conversations over.
func (s *Store) sourceDue(fv flowVersion) bool {
	if fv.version == "" {
		return false
	}
	now := s.opt.Now()
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	if last, ok := s.sources[fv]; ok && now.Sub(last) < sourceRefresh && !now.Before(last) {
		return false
	}
	s.sources[fv] = now
	return true
}

// keepSource refreshes the expiry of a flow version's source, and sets it
// again when it is gone and the engine holds the version. It is a command
// of its own, never part of the turn script: the source's key has no hash
// tag, so on a Redis Cluster it lives in another slot than the session.
// When Redis does not answer, the next turn tries again.
func (s *Store) keepSource(ctx context.Context, fv flowVersion) {
	key := shard.FlowSource(fv.flow, fv.version)
	ttl := s.sourceTTL().Milliseconds()
	n, err := s.batch.Do(ctx, "pexpire", key, ttl).Int64()
	if err == nil && n == 0 {
		if f := s.engine().Versions().Get(fv.flow, fv.version); f != nil {
			err = s.batch.Do(ctx, "set", key, f.Source, "px", ttl, "nx").Err()
			if errors.Is(err, redis.Nil) {
				err = nil // another instance set it meanwhile
			}
		}
	}
	if err != nil {
		s.sourcesMu.Lock()
		delete(s.sources, fv)
		s.sourcesMu.Unlock()
	}
}

// Encode writes a session value: its revision, a newline, then JSON.
func Encode(rev int64, sess *engine.Session) ([]byte, error) {
	return appendValue(make([]byte, 0, 768), rev, sess), nil
}

// values lends the buffers that session values are encoded into.
var values = bufpool.New(1024)

// valueArg is a lent session value as the turn script's argument: a
// pointer, so passing it boxes nothing; go-redis writes it as the bytes
// MarshalBinary returns, as it writes a []byte.
type valueArg []byte

// MarshalBinary returns the value's bytes, not a copy.
func (v *valueArg) MarshalBinary() ([]byte, error) { return *v, nil }

func appendValue(b []byte, rev int64, sess *engine.Session) []byte {
	b = strconv.AppendInt(b, rev, 10)
	b = append(b, '\n')
	return sess.AppendJSON(b)
}

// Decode reads a session value. Whole numbers among the answers come back
// as int64, as the engine stores them.
func Decode(val []byte) (int64, *engine.Session, error) {
	i := 0
	for i < len(val) && val[i] != '\n' {
		i++
	}
	rev, err := strconv.ParseInt(string(val[:i]), 10, 64)
	if err != nil || i == len(val) {
		return 0, nil, fmt.Errorf("store: decode session: bad revision")
	}
	var sess engine.Session
	if err := json.Unmarshal(val[i+1:], &sess); err != nil {
		return rev, nil, fmt.Errorf("store: decode session: %w", err)
	}
	for k, v := range sess.Answers {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			sess.Answers[k] = int64(f)
		}
	}
	return rev, &sess, nil
}
