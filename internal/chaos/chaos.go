// Package chaos is the chaos run of `claimbot loadtest --chaos`: a Redis
// Cluster of 3 masters and 3 replicas (real redis-server processes on
// loopback), several bot instances as separate processes of the built
// binary, and a webhook receiver; conversations that file whole claims
// and hop instances whenever they reconnect; and, during the run, a master
// killed with SIGKILL, a bot instance killed with SIGKILL and started
// again, and the receiver refusing every delivery for a while. It counts
// every receipt shown and every claim delivered: none may be lost, filed
// twice or delivered under two webhook-ids.
package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/redisproc"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
)

// Options shape a chaos run.
type Options struct {
	Binary        string        // the claimbot binary the instances run (default: this process's)
	Flows         string        // flows folder (default flows)
	Locales       string        // locales folder (default locales)
	RedisConf     string        // redis.conf every node loads (default: ./redis.conf when present)
	Conversations int           // default 1,000
	Concurrency   int           // conversations under way at once (default 50)
	Instances     int           // bot instances (default 3)
	RefuseFor     time.Duration // how long the receiver refuses (default 30 s)
	Think         time.Duration // a person's mean pause between answers (default 60 ms)
	DeliverWithin time.Duration // how long to wait for the last deliveries (default 3 min)
	Seed          uint64
	Progress      func(done, total int) // called as conversations finish; may be nil
	Logger        *slog.Logger
}

func (o *Options) defaults() error {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("chaos: the bot binary: %w", err)
		}
		o.Binary = exe
	}
	if o.Flows == "" {
		o.Flows = "flows"
	}
	if o.Locales == "" {
		o.Locales = "locales"
	}
	if o.RedisConf == "" {
		if _, err := os.Stat("redis.conf"); err == nil {
			o.RedisConf, _ = filepath.Abs("redis.conf")
		}
	}
	if o.Conversations <= 0 {
		o.Conversations = 1000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 50
	}
	if o.Instances <= 0 {
		o.Instances = 3
	}
	if o.RefuseFor <= 0 {
		o.RefuseFor = 30 * time.Second
	}
	if o.Think <= 0 {
		o.Think = 60 * time.Millisecond
	}
	if o.DeliverWithin <= 0 {
		o.DeliverWithin = 3 * time.Minute
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if o.Flows, err = filepath.Abs(o.Flows); err != nil {
		return err
	}
	o.Locales, err = filepath.Abs(o.Locales)
	return err
}

// Fault is one fault of the run and how long the system took to recover.
type Fault struct {
	Name      string        `json:"name"`
	At        time.Duration `json:"at_ns"`        // since the run started
	Recovered time.Duration `json:"recovered_ns"` // from the fault to working again (see Report)
	Detail    string        `json:"detail"`
	Done      bool          `json:"done"` // the fault happened and the system recovered from it
}

// Report is what a chaos run found. Lost, DoubleFiled and MultiIDs must
// be zero.
type Report struct {
	Conversations  int           `json:"conversations"`
	Finished       int           `json:"finished"`          // conversations that reached their end
	Receipts       int           `json:"receipts_shown"`    // receipt numbers shown to people
	Delivered      int           `json:"claims_delivered"`  // distinct claims the receiver accepted
	Lost           int           `json:"lost"`              // receipt shown, never delivered
	DoubleFiled    int           `json:"double_filed"`      // conversations with two claim ids delivered
	MultiIDs       int           `json:"multi_webhook_ids"` // claims accepted under two webhook-ids
	Unknown        int           `json:"unknown_claims"`    // claims delivered that no conversation was shown
	NoReceipt      int           `json:"no_receipt"`        // conversations that ended without a receipt (every one should file)
	Turns          int64         `json:"turns"`
	Unavailable    int64         `json:"unavailable"` // frames answered "unavailable"
	Reconnects     int64         `json:"reconnects"`
	LongestWait    time.Duration `json:"longest_wait_ns"`    // the longest any conversation waited for one answer
	LongestDeliver time.Duration `json:"longest_deliver_ns"` // from a receipt to its claim accepted, the longest
	Faults         []Fault       `json:"faults"`
	Duration       time.Duration `json:"duration_ns"`
	Seed           uint64        `json:"seed"`
}

// OK reports whether nothing was lost, doubled or unknown.
func (r *Report) OK() bool {
	faults := len(r.Faults) == 3
	for _, f := range r.Faults {
		faults = faults && f.Done
	}
	return faults && r.Lost == 0 && r.DoubleFiled == 0 && r.MultiIDs == 0 && r.Unknown == 0 &&
		r.NoReceipt == 0 && r.Finished == r.Conversations
}

// Write prints the report as a table.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "chaos run: %d conversations in %v (seed %d)\n", r.Conversations, r.Duration.Round(time.Millisecond), r.Seed)
	fmt.Fprintf(w, "  finished            %d\n", r.Finished)
	fmt.Fprintf(w, "  receipts shown      %d\n", r.Receipts)
	fmt.Fprintf(w, "  claims delivered    %d\n", r.Delivered)
	fmt.Fprintf(w, "  lost                %d   (receipt shown, never delivered)\n", r.Lost)
	fmt.Fprintf(w, "  double-filed        %d   (one conversation, two claim ids)\n", r.DoubleFiled)
	fmt.Fprintf(w, "  two webhook-ids     %d   (one claim accepted under two ids)\n", r.MultiIDs)
	fmt.Fprintf(w, "  unknown claims      %d   (delivered, never shown)\n", r.Unknown)
	fmt.Fprintf(w, "  no receipt          %d   (conversations that ended without filing)\n", r.NoReceipt)
	fmt.Fprintf(w, "  turns               %d, unavailable %d, reconnects %d\n", r.Turns, r.Unavailable, r.Reconnects)
	fmt.Fprintf(w, "  longest wait        %v   (one answer, retries included)\n", r.LongestWait.Round(time.Millisecond))
	fmt.Fprintf(w, "  longest delivery    %v   (receipt to accepted)\n", r.LongestDeliver.Round(time.Millisecond))
	for _, f := range r.Faults {
		if !f.Done {
			fmt.Fprintf(w, "  fault at %6.1fs     %-28s NOT DONE: %s\n", f.At.Seconds(), f.Name, f.Detail)
			continue
		}
		fmt.Fprintf(w, "  fault at %6.1fs     %-28s recovered in %v  %s\n", f.At.Seconds(), f.Name, f.Recovered.Round(time.Millisecond), f.Detail)
	}
	verdict := "OK: nothing lost, nothing doubled"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintln(w, "  "+verdict)
}

// Run starts everything in dir (made if missing, left for the logs) and
// drives the run. It stops every process it started before it returns.
func Run(ctx context.Context, dir string, opt Options) (*Report, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	log := opt.Logger
	cl, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{Masters: 3, Replicas: 1, Dir: filepath.Join(dir, "redis"), Conf: opt.RedisConf})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	log.Info("chaos: cluster up", "nodes", len(cl.Nodes), "took", time.Since(start))

	secretText, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	secret, _ := webhook.ParseSecret(secretText)
	recv, err := startReceiver(secret)
	if err != nil {
		return nil, err
	}
	defer recv.close()

	banner := make([]byte, 32)
	rand.Read(banner)
	bannerSecret := hex.EncodeToString(banner)
	bots := make([]*instance, opt.Instances)
	for i := range bots {
		port, err := redisproc.FreePort(false)
		if err != nil {
			return nil, err
		}
		bots[i] = &instance{
			name: "bot" + strconv.Itoa(i), addr: "127.0.0.1:" + strconv.Itoa(port), bin: opt.Binary,
			logPath: filepath.Join(dir, "bot"+strconv.Itoa(i)+".log"),
			env: []string{
				"CLAIMBOT_ADDR=127.0.0.1:" + strconv.Itoa(port),
				"REDIS_CLUSTER_URL=" + cl.URL(),
				"CLAIMBOT_BANNER_SECRET=" + bannerSecret,
				"CLAIMBOT_WEBHOOK_URL=" + recv.url,
				"CLAIMBOT_WEBHOOK_SECRET=" + secretText,
				"CLAIMBOT_FLOWS=" + opt.Flows,
				"CLAIMBOT_LOCALES=" + opt.Locales,
				"CLAIMBOT_RATE_LIMIT=0",
				"CLAIMBOT_LOG_LEVEL=warn",
				// Evidence files: one folder all instances share, as a
				// shared volume or S3 would be in production.
				"CLAIMBOT_UPLOADS=" + filepath.Join(dir, "uploads"),
				"CLAIMBOT_PUBLIC_URL=http://127.0.0.1:" + strconv.Itoa(port),
				// Retries within the run: the receiver's refusal and the
				// outbox's takeover of a killed instance's deliveries.
				"CLAIMBOT_RETRY_SCHEDULE=1s,2s,2s,3s,5s,5s,5s,5s,10s,10s,10s,10s,10s,10s",
			},
		}
		if err := bots[i].start(ctx); err != nil {
			for _, b := range bots[:i] {
				b.kill()
			}
			return nil, err
		}
	}
	defer func() {
		for _, b := range bots {
			b.stop()
		}
	}()
	log.Info("chaos: instances up", "instances", len(bots), "took", time.Since(start))

	probe, err := redisconn.Open(redisconn.Settings{ClusterURL: cl.URL()}, redisconn.Turns, 4)
	if err != nil {
		return nil, err
	}
	defer probe.Close()

	d := &driver{opt: opt, bots: bots, secret: []byte(bannerSecret), runID: randomHex(3), shown: map[string][]shown{}}
	rep := &Report{Conversations: opt.Conversations, Seed: opt.Seed}
	runStart := time.Now()

	// Faults, each once, at a share of the conversations finished.
	var faults sync.WaitGroup
	var faultMu sync.Mutex
	addFault := func(f Fault) {
		faultMu.Lock()
		rep.Faults = append(rep.Faults, f)
		faultMu.Unlock()
		log.Info("chaos: fault recovered", "fault", f.Name, "recovered", f.Recovered)
	}
	at := func(share float64, fn func()) {
		faults.Go(func() {
			for d.finished.Load() < int64(share*float64(opt.Conversations)) {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			fn()
		})
	}
	victim := int(opt.Seed % shard.Count)
	at(0.2, func() {
		t0 := time.Now()
		node, err := cl.KillMaster(ctx, shard.SlotOf(victim))
		if err != nil {
			addFault(Fault{Name: "redis master SIGKILL", At: t0.Sub(runStart), Detail: "not done: " + err.Error()})
			return
		}
		rec, ok := waitProbe(ctx, probe, shard.Outbox(victim)+":chaos-probe", 60*time.Second)
		addFault(Fault{Name: "redis master SIGKILL", At: t0.Sub(runStart), Recovered: rec, Done: ok,
			Detail: fmt.Sprintf("master %s of shard %d; writes to its slots work again", node.Addr, victim)})
	})
	at(0.45, func() {
		b := bots[int(opt.Seed/7)%len(bots)]
		t0 := time.Now()
		b.kill()
		err := b.start(ctx)
		detail := b.name + " killed and started again; ready"
		if err != nil {
			detail = "restart failed: " + err.Error()
		}
		addFault(Fault{Name: "bot instance SIGKILL", At: t0.Sub(runStart), Recovered: time.Since(t0), Detail: detail, Done: err == nil})
	})
	at(0.65, func() {
		t0 := time.Now()
		recv.refuse(true)
		time.Sleep(opt.RefuseFor)
		recv.refuse(false)
		back := time.Now()
		// Recovered once every claim whose receipt was shown before the
		// receiver came back is accepted.
		want := d.receiptsBefore(back)
		for !recv.hasAll(want) && time.Since(back) < opt.DeliverWithin && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		addFault(Fault{Name: "receiver refuses " + opt.RefuseFor.String(), At: t0.Sub(runStart), Recovered: time.Since(back), Done: recv.hasAll(want),
			Detail: fmt.Sprintf("then every claim shown before it came back is delivered (%d)", len(want))})
	})

	// The conversations.
	sem := make(chan struct{}, opt.Concurrency)
	var convs sync.WaitGroup
	for i := range opt.Conversations {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		convs.Go(func() {
			defer func() { <-sem }()
			d.converse(ctx, i)
			done := d.finished.Add(1)
			if opt.Progress != nil {
				opt.Progress(int(done), opt.Conversations)
			}
		})
	}
	convs.Wait()
	faults.Wait()

	// The last deliveries.
	all := d.receiptsBefore(time.Now())
	deadline := time.Now().Add(opt.DeliverWithin)
	for !recv.hasAll(all) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a late duplicate would show now

	rep.Finished = int(d.finished.Load()) - int(d.failed.Load())
	rep.NoReceipt = int(d.noReceipt.Load())
	rep.Turns, rep.Unavailable, rep.Reconnects = d.turns.Load(), d.unavailable.Load(), d.reconnects.Load()
	rep.LongestWait = time.Duration(d.longestWait.Load())
	d.count(rep, recv)
	rep.Duration = time.Since(start)
	return rep, ctx.Err()
}

// waitProbe writes key every 100 ms until a write succeeds and returns how
// long that took; false when none did within limit.
func waitProbe(ctx context.Context, rdb redisconnClient, key string, limit time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	for time.Since(t0) < limit && ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, time.Second)
		err := rdb.Set(c, key, "1", time.Minute).Err()
		cancel()
		if err == nil {
			return time.Since(t0), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(t0), false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// instance is one bot process.
type instance struct {
	name, addr, bin, logPath string
	env                      []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (b *instance) start(ctx context.Context) error {
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(b.bin, "serve")
	cmd.Env = append(os.Environ(), b.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("chaos: start %s: %w", b.name, err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	b.mu.Lock()
	b.cmd = cmd
	b.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get("http://" + b.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(b.logPath)
	return fmt.Errorf("chaos: %s not ready within 30 s:\n%s", b.name, log)
}

// kill ends the process with SIGKILL, as a crash would.
func (b *instance) kill() { b.signal(syscall.SIGKILL) }

// stop ends the process with SIGTERM, then SIGKILL after 10 s.
func (b *instance) stop() {
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				close(done)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
	}
}

func (b *instance) signal(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Signal(sig)
		if sig == syscall.SIGKILL {
			// Wait for the port to be free before a restart binds it.
			for range 100 {
				c, err := net.DialTimeout("tcp", b.addr, 50*time.Millisecond)
				if err != nil {
					break
				}
				c.Close()
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

var errGaveUp = errors.New("chaos: conversation gave up")

// seeds gives each conversation its own random source.
func seeded(seed uint64, i int) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, uint64(i))) }
