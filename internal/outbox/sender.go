package outbox

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/rbatch"
	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

// DefaultSchedule is the Standard Webhooks retry schedule of CONTRACT §3:
// the delays between attempts, about 75 h in all.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	14 * time.Hour,
	20 * time.Hour,
	24 * time.Hour,
}

// Defaults of Config.
const (
	DefaultJitter       = 0.1
	DefaultTimeout      = 15 * time.Second
	DefaultLease        = 60 * time.Second
	DefaultWorkers      = 64
	DefaultRetention    = 168 * time.Hour
	DefaultPollInterval = 250 * time.Millisecond
)

const (
	readCount     = 128             // entries per shard per XREADGROUP, at most
	readBlock     = time.Second     // XREADGROUP BLOCK
	pollLimit     = 64              // due entries per shard per poll
	recoverCount  = 128             // entries per XAUTOCLAIM
	maxRetryAfter = 24 * time.Hour  // a longer Retry-After is capped
	answerDrain   = 64 << 10        // bytes of an answer read to reuse the connection
	shutdownSlack = 2 * time.Second // beyond Timeout, for recording the last results
	backoffMin    = 100 * time.Millisecond
	backoffMax    = 5 * time.Second
	recordTimeout = 5 * time.Second // the most a batch of recorded outcomes waits for Redis
)

// readLinger is the reader's pause after a read that found entries and
// left none behind (a variable for tests).
var readLinger = 5 * time.Millisecond

// filesRetry is how soon an entry whose files could not be kept is tried
// again (a variable for tests).
var filesRetry = 5 * time.Second

// brokenRecheck is how often the reader looks again at shards whose stream
// key holds another type of value (a variable for tests).
var brokenRecheck = 30 * time.Second

// staleConsumer is how long a consumer with nothing pending may be idle
// before it is removed from the group (a variable for tests).
var staleConsumer = time.Hour

// Config configures a Sender. Zero fields take their defaults.
type Config struct {
	URL    string         // where claims are POSTed
	Secret webhook.Secret // signs every attempt

	// Schedule is the delays between attempts; after the last one fails
	// the claim is dead-lettered. Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each delay by ± this fraction. Default 0.1; negative
	// means none.
	Jitter float64
	// Timeout bounds one attempt. Default 15 s.
	Timeout time.Duration
	// Lease is how long an entry may be in flight, or claimed by an
	// instance, before another instance may take it over. It must exceed
	// Timeout. Default 60 s.
	Lease time.Duration
	// Workers is the number of concurrent deliveries. Default 64.
	Workers int
	// Retention is how long a delivered claim's body is kept. Default 168 h.
	Retention time.Duration
	// Consumer names this instance in the consumer group; it must be
	// unique. Default hostname-pid-random.
	Consumer string
	// Logger gets one line per failed attempt, dead letter and Redis
	// problem (debug: per delivery). Default slog.Default().
	Logger *slog.Logger
	// HTTPClient posts the webhooks. Default: a client that follows no
	// redirects, so a 3xx is a failed attempt.
	HTTPClient *http.Client
	// PollInterval is how often the retry schedule is read. Default 250 ms.
	PollInterval time.Duration
	// Metrics, when set, counts deliveries and attempts.
	Metrics *Metrics
	// Files, when set, keeps the files a body lists (data.attachments)
	// before each attempt to post it, so the receiver can fetch them. When
	// it fails the attempt is not made, nor counted: the entry is tried
	// again after filesRetry, as after a Redis problem.
	Files Files
}

// PoolSize is the Redis connection pool a Sender with this configuration
// wants: one for the blocking reader, one per worker, and a few for the
// poller, crash recovery and metrics.
func (c Config) PoolSize() int {
	w := c.Workers
	if w <= 0 {
		w = DefaultWorkers
	}
	return 1 + w + 4
}

func (c Config) withDefaults() Config {
	if len(c.Schedule) == 0 {
		c.Schedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Consumer == "" {
		c.Consumer = defaultConsumer()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HTTPClient == nil {
		c.HTTPClient = newHTTPClient(c.Workers)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "claimbot"
	}
	var b [4]byte
	_, _ = crand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// newHTTPClient keeps a warm connection per worker and follows no
// redirects.
func newHTTPClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * workers
	tr.MaxIdleConnsPerHost = workers
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Sender delivers the outbox to the webhook. Any number of instances may
// run against one Redis, each with its own Consumer name.
type Sender struct {
	rdb     redis.UniversalClient
	records *rbatch.Batcher // the outcomes of failed deliveries, pipelined together
	acks    *acker          // those of delivered claims, batched by shard
	cfg     Config
	log     *slog.Logger

	direct http.RoundTripper // posts without the client, when set (directTransport)
	// template is the attempts' request, but for its context, headers and
	// body: its URL is parsed once, not at every attempt. nil when cfg.URL
	// is bad.
	template *http.Request
	signers  sync.Pool // of *webhook.Signer, for cfg.Secret

	slots      *window  // deliveries in flight
	deliveries *workers // of this Run

	mu       sync.Mutex
	inflight map[entryKey]bool // job.key of entries queued or in flight here
	abort    context.CancelFunc
}

// NewSender returns a sender of the outbox in rdb. Blocking reads hold
// connections: give it a client of its own with a pool of cfg.PoolSize().
func NewSender(rdb redis.UniversalClient, cfg Config) *Sender {
	madeClient := cfg.HTTPClient == nil
	cfg = cfg.withDefaults()
	s := &Sender{
		rdb:      rdb,
		records:  rbatch.New(rdb, recordTimeout),
		cfg:      cfg,
		log:      cfg.Logger.With("component", "outbox"),
		slots:    newWindow(cfg.Workers),
		inflight: make(map[entryKey]bool),
	}
	s.acks = newAcker(rdb, cfg.Retention, s.slots.busy)
	s.direct = directTransport(cfg, madeClient)
	if req, err := http.NewRequest(http.MethodPost, cfg.URL, nil); err == nil {
		s.template = req
	}
	s.signers.New = func() any { return cfg.Secret.NewSigner() }
	return s
}

// Run delivers until ctx is done. Then it takes no new work, lets the
// deliveries in flight finish (each bounded by Timeout) and returns nil.
// An unreachable Redis is logged and retried, never returned.
func (s *Sender) Run(ctx context.Context) error {
	if s.cfg.URL == "" {
		return errors.New("outbox: no webhook URL")
	}
	if len(s.cfg.Secret) == 0 {
		return errors.New("outbox: no webhook secret")
	}
	// intake stops the readers, the poller and recovery; work carries the
	// deliveries and outlives ctx by the shutdown grace.
	s.deliveries = newWorkers()
	intake, stopIntake := context.WithCancel(ctx)
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	defer stopIntake()
	s.mu.Lock()
	s.abort = func() { stopWork(); stopIntake() }
	s.mu.Unlock()

	s.log.Info("outbox sender started", "consumer", s.cfg.Consumer, "workers", s.cfg.Workers)
	if s.cfg.Lease <= s.cfg.Timeout {
		s.log.Warn("outbox lease is not longer than the attempt timeout: another instance may repeat a delivery still in flight",
			"lease", s.cfg.Lease, "timeout", s.cfg.Timeout)
	}
	var loops sync.WaitGroup
	for _, shards := range s.readers() {
		loops.Go(func() { s.read(intake, work, shards) })
	}
	loops.Go(func() { s.poll(intake, work) })
	loops.Go(func() { s.recoverLoop(intake, work) })

	<-intake.Done()
	grace := time.AfterFunc(s.cfg.Timeout+shutdownSlack, stopWork)
	defer grace.Stop()
	loops.Wait()
	s.deliveries.wait()
	s.log.Info("outbox sender stopped", "consumer", s.cfg.Consumer)
	return nil
}

// stop ends Run abruptly, as a crash would: deliveries in flight are
// abandoned without recording anything. For tests.
func (s *Sender) stop() {
	s.mu.Lock()
	abort := s.abort
	s.mu.Unlock()
	if abort != nil {
		abort()
	}
}

// free is how many more deliveries may start now.
func (s *Sender) free() int { return s.slots.free() }

// readSize is how many entries the reader takes from each shard at once:
// together about as many as could start now, at least one (then the
// reader waits in dispatch for a worker), so few entries wait here while
// their lease runs.
func (s *Sender) readSize() int {
	return max(1, min((s.free()+shard.Count-1)/shard.Count, readCount))
}

// dispatch starts delivering j on a worker, unless it is queued or in
// flight here already. It waits for a free worker.
func (s *Sender) dispatch(work context.Context, j job) {
	d := &dispatched{s: s, work: work, j: j, key: j.key()}
	s.mu.Lock()
	if s.inflight[d.key] {
		s.mu.Unlock()
		return
	}
	s.inflight[d.key] = true
	s.mu.Unlock()
	if work.Err() != nil {
		d.release()
		return
	}
	if s.slots.acquire(work) != nil {
		d.release()
		return
	}
	s.deliveries.run(d.run)
}

// dispatched is a delivery handed to a worker. One value holds what the
// worker needs: closures, sync.OnceFunc and the key made again at each use
// cost some six allocations a delivery.
type dispatched struct {
	s        *Sender
	work     context.Context
	j        job
	key      entryKey // j.key()
	released bool
}

func (d *dispatched) run() {
	defer d.s.slots.release()
	defer d.release()
	d.s.deliver(d.work, d.j, d.release)
}

// release forgets the entry as in flight here, once. It runs on one
// goroutine at a time (the reader's in dispatch, then the worker's), so a
// flag is enough.
func (d *dispatched) release() {
	if d.released {
		return
	}
	d.released = true
	d.s.mu.Lock()
	delete(d.s.inflight, d.key)
	d.s.mu.Unlock()
}

// readers are the sets of shards that each reader reads. On one Redis, one
// reader covers every shard. On a Redis Cluster the shards' streams live in
// different slots, which one XREADGROUP cannot span, so each shard has a
// reader of its own: up to Count blocked connections, all from the
// sender's own client and pool (never the turns'), and a master that is
// down stalls only its own shards' readers.
func (s *Sender) readers() [][]int {
	if !redisconn.IsCluster(s.rdb) {
		all := make([]int, shard.Count)
		for n := range all {
			all[n] = n
		}
		return [][]int{all}
	}
	each := make([][]int, shard.Count)
	for n := range each {
		each[n] = []int{n}
	}
	return each
}

// ReaderConns is how many connections the sender's blocking reads may hold
// at once on one Redis node; size the sender's pool for it and its workers.
const ReaderConns = shard.Count

// read delivers the new entries of shards. One XREADGROUP covers all the
// shards' streams, so an idle outbox holds one blocked connection, and
// after a read that found entries the reader lingers a moment before the
// next: a busy outbox is then read several claims to a round trip instead
// of one (at 1,000 claims a second spread over 16 shards, each shard's own
// reader woke for nearly every claim). A read that may have left entries
// behind is followed at once: a backlog drains at full speed.
func (s *Sender) read(intake, work context.Context, shards []int) {
	var (
		bo         backoff
		haveGroups bool
		broken     []int // shards whose stream key holds another type
		recheck    time.Time
		args       []string
		index      map[string]int
	)
	for intake.Err() == nil {
		if !haveGroups || (len(broken) > 0 && !time.Now().Before(recheck)) {
			b, err := s.createGroups(intake, shards)
			if err != nil {
				s.redisProblem(intake, &bo, "create consumer groups", -1, err)
				continue
			}
			haveGroups = true
			// One bad key must not stop the other shards: read around it
			// and say so until someone repairs it.
			for _, n := range b {
				s.log.Error("outbox stream key holds another type of value: claims can be neither filed to nor delivered from this shard until the key is deleted; the other shards go on",
					"shard", n, "key", shard.Outbox(n))
			}
			for _, n := range broken {
				if !slices.Contains(b, n) {
					s.log.Info("outbox stream readable again", "shard", n)
				}
			}
			broken, recheck = b, time.Now().Add(brokenRecheck)
			args, index = readArgs(shards, broken)
		}
		if len(index) == 0 { // every shard's key is broken
			select {
			case <-intake.Done():
			case <-time.After(time.Until(recheck)):
			}
			continue
		}
		count := s.readSize()
		res, err := s.rdb.XReadGroup(intake, &redis.XReadGroupArgs{
			Group:    shard.Group,
			Consumer: s.cfg.Consumer,
			Streams:  args,
			Count:    int64(count),
			Block:    readBlock,
		}).Result()
		if errors.Is(err, redis.Nil) {
			bo.reset()
			continue
		}
		if err != nil {
			// A stream deleted (make it and its group again) or a key
			// overwritten (find which): look at every shard again.
			if isNoGroup(err) || isWrongType(err) {
				haveGroups = false
			}
			s.redisProblem(intake, &bo, "read outbox", -1, err)
			continue
		}
		bo.reset()
		// Entries read are ours to deliver, even when ctx ended meanwhile.
		// A backlog: a shard gave more than one entry and as many as asked,
		// or half the shards gave one each when one each was asked.
		full, got := false, 0
		for _, st := range res {
			full = full || (count > 1 && len(st.Messages) >= count)
			got += len(st.Messages)
			n := index[st.Stream]
			for _, m := range st.Messages {
				s.dispatch(work, jobOf(n, m.ID, m.Values, 0))
			}
		}
		if !full && got < len(index)/2 {
			select {
			case <-intake.Done():
			case <-time.After(readLinger):
			}
		}
	}
}

// readArgs are the streams of XREADGROUP, the shards' but the broken
// ones, each read from ">", and the shard of each stream.
func readArgs(shards, broken []int) ([]string, map[string]int) {
	keys := make([]string, 0, 2*len(shards))
	index := make(map[string]int, len(shards))
	for _, n := range shards {
		if !slices.Contains(broken, n) {
			keys = append(keys, shard.Outbox(n))
			index[shard.Outbox(n)] = n
		}
	}
	for range len(keys) {
		keys = append(keys, ">")
	}
	return keys, index
}

// createGroups makes the shards' streams and their consumer group, where
// they are missing. It returns the shards whose key holds another type of
// value, which have neither.
func (s *Sender) createGroups(ctx context.Context, shards []int) (broken []int, err error) {
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, n := range shards {
			p.XGroupCreateMkStream(ctx, shard.Outbox(n), shard.Group, "0")
		}
		return nil
	})
	if err == nil {
		return nil, nil
	}
	for n, c := range cmds {
		switch err := c.Err(); {
		case err == nil || isBusyGroup(err):
		case isWrongType(err):
			broken = append(broken, shards[n])
		default:
			return nil, err
		}
	}
	return broken, nil
}

// poll takes due retries under a lease and delivers them.
func (s *Sender) poll(intake, work context.Context) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var bo backoff
	var brokenPoll brokenLog
	first := 0
	for {
		select {
		case <-intake.Done():
			return
		case <-t.C:
		}
		due, ok := s.dueShards(intake)
		if ok {
			bo.reset()
		}
		// Shards in turn, from a rotating first one so none starves.
		for i := 0; i < shard.Count && intake.Err() == nil; i++ {
			n := (first + i) % shard.Count
			if !due[n] {
				continue
			}
			if err := s.pollShard(intake, work, n); err != nil {
				if isWrongType(err) { // a broken key: the other shards go on
					brokenPoll.warn(s.log, "poll retries", n, err)
					continue
				}
				if !isNoGroup(err) { // the readers create the groups
					s.redisProblem(intake, &bo, "poll retries", n, err)
				}
				break // this round; the next tick tries again
			}
			bo.reset()
		}
		first = (first + 1) % shard.Count
	}
}

// dueShards reports which shards may have retries due now, in one round
// trip of plain reads: asking each shard's poll script in turn cost 16
// round trips and script calls every PollInterval, an idle outbox's too.
// A shard whose read failed is reported due, so its poll meets the error
// and handles it as before; when the whole round trip failed, every shard.
// ok says that every read succeeded.
func (s *Sender) dueShards(ctx context.Context) (due [shard.Count]bool, ok bool) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var cmds [shard.Count]*redis.StringSliceCmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n := range cmds {
			cmds[n] = p.ZRangeByScore(ctx, shard.Due(n), &redis.ZRangeBy{Min: "-inf", Max: now, Count: 1})
		}
		return nil
	})
	ok = true
	for n, c := range cmds {
		due[n] = c.Err() != nil || len(c.Val()) > 0
		ok = ok && c.Err() == nil
	}
	return due, ok
}

// pollShard delivers the due retries of shard n, as many as the delivery
// window has room for (at least one while it can still grow); a shard
// that filled its limit is asked again at once.
func (s *Sender) pollShard(intake, work context.Context, n int) error {
	for intake.Err() == nil {
		limit := min(s.free(), pollLimit)
		if limit == 0 {
			if s.slots.size() == s.cfg.Workers {
				return nil // every worker is busy: the next tick
			}
			limit = 1 // wait for a slot with it: the window grows
		}
		now := time.Now()
		v, err := pollScript.Run(intake, s.rdb, shardKeys(n),
			shard.Group, s.cfg.Consumer, now.UnixMilli(), now.Add(s.cfg.Lease).UnixMilli(), limit).Result()
		if err != nil {
			return err
		}
		jobs, err := scriptJobs(n, v)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			s.dispatch(work, j)
		}
		if len(jobs) < limit {
			return nil
		}
	}
	return nil
}

// recoverLoop takes over entries that an instance read but never
// finished, at start and every Lease/2.
func (s *Sender) recoverLoop(intake, work context.Context) {
	t := time.NewTicker(s.cfg.Lease / 2)
	defer t.Stop()
	var bo backoff
	var brokenRecover brokenLog
	for {
		for n := 0; n < shard.Count && intake.Err() == nil; n++ {
			if err := s.recoverShard(intake, work, n); err != nil {
				if isWrongType(err) { // a broken key: the other shards go on
					brokenRecover.warn(s.log, "recover unfinished deliveries", n, err)
					continue
				}
				if !isNoGroup(err) {
					s.redisProblem(intake, &bo, "recover unfinished deliveries", n, err)
				}
				break // this round; the next tick tries again
			}
			bo.reset()
		}
		select {
		case <-intake.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Sender) recoverShard(intake, work context.Context, n int) error {
	cursor := "0-0"
	for intake.Err() == nil {
		v, err := recoverScript.Run(intake, s.rdb, shardKeys(n),
			shard.Group, s.cfg.Consumer, s.cfg.Lease.Milliseconds(), cursor, recoverCount).Result()
		if err != nil {
			return err
		}
		r, ok := v.([]any)
		if !ok || len(r) != 2 {
			return fmt.Errorf("outbox: recover script answered %v", v)
		}
		jobs, err := scriptJobs(n, r[1])
		if err != nil {
			return err
		}
		for _, j := range jobs {
			s.log.Info("taking over unfinished delivery", "claim", j.claim, "shard", n, "attempt", j.attempts+1)
			s.dispatch(work, j)
		}
		cursor = str(r[0])
		if cursor == "0-0" || cursor == "" {
			return s.forgetConsumers(intake, n)
		}
	}
	return nil
}

// forgetConsumers removes from shard n's group the consumers of instances
// long gone: nothing pending and idle for staleConsumer. (A live reader
// touches its consumer every second, and XREADGROUP would recreate it.)
func (s *Sender) forgetConsumers(ctx context.Context, n int) error {
	consumers, err := s.rdb.XInfoConsumers(ctx, shard.Outbox(n), shard.Group).Result()
	if err != nil {
		return err
	}
	for _, c := range consumers {
		if c.Pending == 0 && c.Idle > staleConsumer && c.Name != s.cfg.Consumer {
			if err := s.rdb.XGroupDelConsumer(ctx, shard.Outbox(n), shard.Group, c.Name).Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// result is the outcome of one attempt.
type result struct {
	status     int           // the HTTP status; 0 when there was no answer
	problem    string        // what went wrong, for meta and logs; never the answer's body
	retryAfter time.Duration // the answer's Retry-After, capped
}

func (r result) ok() bool { return r.status >= 200 && r.status < 300 }

// deliver makes one attempt and records its outcome. It calls attempted
// once the attempt is over, before the outcome is recorded: from then on
// the poller may take a retry that the outcome schedules.
func (s *Sender) deliver(work context.Context, j job, attempted func()) {
	attempt := j.attempts + 1
	log := &jobLog{base: s.log, claim: j.claim, shard: j.shard, attempt: attempt}
	if j.claim == "" || len(j.body) == 0 {
		s.record(work, log, func(ctx context.Context) error {
			return s.bury(ctx, j, j.attempts, "malformed outbox entry: no claim or body")
		})
		s.cfg.Metrics.attempt(resultDead)
		log.get().Error("malformed outbox entry dead-lettered", "entry", j.id)
		return
	}

	files := attachmentIDs(j.body)
	if s.cfg.Files != nil && len(files) > 0 {
		if err := s.keepFiles(work, files, log); err != nil {
			attempted()
			if work.Err() != nil {
				return // stopped: crash recovery takes it
			}
			// Not an attempt: the receiver was never asked. The entry
			// comes due again soon, its attempts as they were.
			problem := "files not kept: " + err.Error()
			s.record(work, log, func(ctx context.Context) error {
				return s.schedule(ctx, j, j.attempts, problem, time.Now().Add(filesRetry))
			})
			log.get().Warn("files not kept, will retry before posting", "error", err, "retry_in", filesRetry)
			return
		}
	}

	start := time.Now()
	res := s.post(work, j)
	took := time.Since(start)
	attempted()
	if work.Err() != nil {
		// Stopped abruptly: leave the entry to crash recovery.
		return
	}
	s.cfg.Metrics.observe(took)

	switch {
	case res.ok():
		if s.record(work, log, func(ctx context.Context) error { return s.ack(ctx, j, files) }) {
			s.cfg.Metrics.delivered()
		}
		s.cfg.Metrics.attempt(resultOK)
		if s.log.Enabled(work, slog.LevelDebug) {
			log.get().Debug("claim delivered", "status", res.status, "took", took)
		}
	case res.status == http.StatusGone || attempt > len(s.cfg.Schedule):
		s.record(work, log, func(ctx context.Context) error { return s.bury(ctx, j, attempt, res.problem) })
		s.cfg.Metrics.attempt(resultDead)
		log.get().Error("claim dead-lettered", "status", res.status, "error", res.problem)
	default:
		delay := s.delay(attempt, res.retryAfter)
		due := time.Now().Add(delay)
		s.record(work, log, func(ctx context.Context) error { return s.schedule(ctx, j, attempt, res.problem, due) })
		if res.status == 0 {
			s.cfg.Metrics.attempt(resultError)
		} else {
			s.cfg.Metrics.attempt(resultRetry)
		}
		log.get().Warn("delivery failed, will retry", "status", res.status, "error", res.problem, "retry_in", delay.Round(time.Millisecond))
	}
}

// post makes one attempt.
func (s *Sender) post(work context.Context, j job) result {
	ctx, cancel := context.WithTimeout(work, s.cfg.Timeout)
	defer cancel()
	req := s.request(ctx, j.body)
	if req == nil {
		return result{problem: "bad webhook URL"}
	}
	g := s.signers.Get().(*webhook.Signer)
	g.SetClaimHeaders(req.Header, j.claim, time.Now(), j.body)
	s.signers.Put(g)
	req.Header["User-Agent"] = userAgent
	var err error
	var resp *http.Response
	if s.direct != nil {
		resp, err = s.direct.RoundTrip(req)
	} else {
		resp, err = s.cfg.HTTPClient.Do(req)
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return result{problem: fmt.Sprintf("no answer within %s", s.cfg.Timeout)}
		}
		return result{problem: transportProblem(err)}
	}
	// Read a little of the answer so the connection is reused; it is
	// never logged or kept. An answer without a body (204, or a length of
	// 0) has nothing to read, and one of a known length within the limit
	// is read to its end without a limit around it.
	switch {
	case resp.Body == http.NoBody:
	case resp.ContentLength >= 0 && resp.ContentLength <= answerDrain:
		_, _ = io.Copy(io.Discard, resp.Body)
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, answerDrain))
	}
	resp.Body.Close()
	res := result{status: resp.StatusCode}
	if !res.ok() {
		res.problem = fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			res.problem += " (redirects are not followed)"
		}
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return res
}

// request is an attempt's request to post body, without its headers but
// a map for them; nil when the webhook URL is bad. It is what
// http.NewRequestWithContext makes of the URL and a *bytes.Reader, from a
// request whose URL was parsed once, in NewSender.
func (s *Sender) request(ctx context.Context, body []byte) *http.Request {
	if s.template == nil {
		return nil
	}
	req := s.template.WithContext(ctx)
	req.Header = make(http.Header, 5)
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body, req.GetBody = http.NoBody, noBody
		return req
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

// userAgent is the User-Agent header's value, shared by every attempt
// (nothing changes a request's headers once it is sent).
var userAgent = []string{"claimbot"}

// directTransport is the transport of the client that newHTTPClient made
// for cfg, which post may use without the client: that client adds nothing
// but its redirect rule (it follows none, as a transport does not) and,
// for a URL with a user name, basic authentication. Client.Do copied the
// headers of every request and went through its redirect loop. nil when
// the client is the caller's or the URL carries a user name.
func directTransport(cfg Config, made bool) http.RoundTripper {
	if !made {
		return nil
	}
	if u, err := url.Parse(cfg.URL); err != nil || u.User != nil {
		return nil
	}
	return cfg.HTTPClient.Transport
}

// transportProblem describes a failed request without its URL, which may
// carry a credential.
func transportProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date, capped at
// maxRetryAfter; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// delay is the wait after failed attempt number attempt: the schedule's
// delay with jitter, but no less than Retry-After.
func (s *Sender) delay(attempt int, retryAfter time.Duration) time.Duration {
	d := s.cfg.Schedule[attempt-1]
	if s.cfg.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + s.cfg.Jitter*(2*rand.Float64()-1)))
	}
	return max(d, retryAfter)
}

// ack finishes a delivered entry and schedules its files' deletion for
// when its retention ends, together with the other deliveries that end
// about now.
func (s *Sender) ack(ctx context.Context, j job, files []string) error {
	return s.acks.ack(ctx, j, files)
}

// keepFiles keeps every file of a body, within the attempt's timeout.
func (s *Sender) keepFiles(work context.Context, ids []string, log *jobLog) error {
	ctx, cancel := context.WithTimeout(work, s.cfg.Timeout)
	defer cancel()
	for _, id := range ids {
		err := s.cfg.Files.Keep(ctx, id)
		if errors.Is(err, fs.ErrNotExist) {
			// The file is gone for good: waiting would only withhold the
			// claim, whose body (fixed) still lists it. The claim goes
			// out; its link answers 404, and an operator hears of it.
			log.get().Error("a claim's file is gone: the claim is posted with a link that answers 404", "file", id)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Sender) bury(ctx context.Context, j job, attempts int, problem string) error {
	return s.records.Script(ctx, deadScript, shardKeys(j.shard, shard.Dead(j.shard)),
		shard.Group, j.id, attempts, problem, time.Now().UnixMilli()).Err()
}

func (s *Sender) schedule(ctx context.Context, j job, attempts int, problem string, due time.Time) error {
	return s.records.Script(ctx, scheduleScript, shardKeys(j.shard),
		j.id, due.UnixMilli(), attempts, problem).Err()
}

// record runs a Redis write until it succeeds or work ends; it reports
// whether it succeeded. An outcome left unrecorded leaves the entry pending,
// so crash recovery delivers it again: late, maybe twice, never lost.
func (s *Sender) record(work context.Context, log *jobLog, write func(context.Context) error) bool {
	var bo backoff
	for {
		err := write(work)
		if err == nil {
			return true
		}
		if work.Err() != nil {
			log.get().Warn("outcome not recorded, the claim stays pending", "error", err)
			return false
		}
		log.get().Warn("redis: record delivery outcome", "error", err)
		bo.sleep(work)
	}
}

// jobLog logs about one delivery attempt. Its logger, with the claim, the
// shard and the attempt attached, is made at the first line written: slog's
// handlers format attributes as they are attached, and a claim delivered at
// once writes no line above debug.
type jobLog struct {
	base    *slog.Logger
	claim   string
	shard   int
	attempt int
	l       *slog.Logger
}

func (j *jobLog) get() *slog.Logger {
	if j.l == nil {
		j.l = j.base.With("claim", j.claim, "shard", j.shard, "attempt", j.attempt)
	}
	return j.l
}

// brokenLog logs a shard key of the wrong type met by a loop that skips
// it, at most once per shard every brokenRecheck.
type brokenLog [shard.Count]time.Time // when each shard was last logged

func (b *brokenLog) warn(log *slog.Logger, what string, n int, err error) {
	if !b[n].IsZero() && time.Since(b[n]) < brokenRecheck {
		return
	}
	b[n] = time.Now()
	log.Warn("redis: "+what+": a key of this shard holds another type of value; skipping the shard", "shard", n, "error", err)
}

// redisProblem logs a failed Redis call of a loop and backs off.
func (s *Sender) redisProblem(ctx context.Context, bo *backoff, what string, n int, err error) {
	if ctx.Err() != nil {
		return
	}
	if n < 0 { // every shard
		s.log.Warn("redis: "+what, "error", err)
	} else {
		s.log.Warn("redis: "+what, "shard", n, "error", err)
	}
	bo.sleep(ctx)
}

// backoff is an exponential, jittered wait between retries of a failed
// Redis call.
type backoff struct{ next time.Duration }

func (b *backoff) reset() { b.next = 0 }

func (b *backoff) sleep(ctx context.Context) {
	if b.next == 0 {
		b.next = backoffMin
	}
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, backoffMax)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
