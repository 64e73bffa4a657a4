package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redisproc"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/server"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/webhook"
	"github.com/claimbot/claimbot/internal/webhook/webhooktest"
)

// clusterEnv is several server instances on one Redis Cluster, delivering
// to one receiver.
type clusterEnv struct {
	t         *testing.T
	cluster   *redisproc.Cluster
	instances []*server.Running
	recv      *webhooktest.Receiver
	e         *env // for tokens
}

func startClusterEnv(t *testing.T, n int) *clusterEnv {
	t.Helper()
	c := redistest.StartCluster(t)
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	ce := &clusterEnv{t: t, cluster: c, recv: webhooktest.NewReceiver(t, secret), e: &env{t: t}}
	for range n {
		cfg := &config.Config{
			Addr: "127.0.0.1:0", RedisClusterURL: c.URL(), FiledReplicas: 1, Flows: "../../flows", Locales: "../../locales",
			DefaultFlow: "damage-1015", BannerSecret: bannerSecret, WebhookURL: ce.recv.URL(), WebhookSecret: secret,
			SessionTTL: time.Hour, Retention: time.Hour, Uploads: t.TempDir(), PublicURL: "http://claimbot.test",
			RetrySchedule: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second},
			LogLevel:      slog.LevelInfo,
		}
		r, err := server.Start(context.Background(), cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Stop() })
		ce.instances = append(ce.instances, r)
	}
	return ce
}

// hopper is one person's conversation that reconnects, to the next
// instance in turn, before every frame, and resends a frame (with the same
// id) that got "unavailable" or lost its connection.
type hopper struct {
	t     *testing.T
	ce    *clusterEnv
	user  string
	next  int
	ws    *websocket.Conn
	last  reply
	n     int
	hop   bool // reconnect before every frame
	mu    sync.Mutex
	stats hopStats
}

type hopStats struct {
	unavailable int           // frames answered "unavailable"
	slowest     time.Duration // longest wait for any one "unavailable"
	outage      time.Duration // longest time from a first "unavailable" to the frame applied
}

func (h *hopper) connect() error {
	r := h.ce.instances[h.next%len(h.ce.instances)]
	h.next++
	if h.ws != nil {
		h.ws.Close()
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+r.Addr+"/ws?t="+h.ce.e.token(h.user), nil)
	if err != nil {
		return err
	}
	h.ws = ws
	rep, err := h.readFrame()
	if err != nil {
		return err
	}
	if rep.Type != "reply" {
		return fmt.Errorf("connect: %+v", rep)
	}
	return nil
}

func (h *hopper) readFrame() (reply, error) {
	h.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := h.ws.ReadMessage()
	if err != nil {
		return reply{}, err
	}
	var r reply
	if err := json.Unmarshal(data, &r); err != nil {
		return reply{}, err
	}
	if r.Type == "reply" {
		h.last = r
	}
	return r, nil
}

// send sends one frame until it is answered with a reply, within limit.
func (h *hopper) send(f map[string]any, limit time.Duration) reply {
	h.t.Helper()
	h.n++
	f["id"] = fmt.Sprintf("%s-%d", h.user, h.n)
	deadline := time.Now().Add(limit)
	var firstProblem time.Time
	fresh := h.hop
	for {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: frame %v not answered within %v (last %+v)", h.user, f, limit, h.last)
		}
		if fresh || h.ws == nil {
			if err := h.connect(); err != nil {
				if firstProblem.IsZero() {
					firstProblem = time.Now()
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			fresh = false
		}
		if _, ok := f["state"]; !ok && f["type"] != "command" {
			f["state"] = h.last.State
		}
		sent := time.Now()
		if err := h.ws.WriteJSON(f); err != nil {
			h.ws = nil
			continue
		}
		r, err := h.readFrame()
		if err != nil {
			h.ws = nil
			continue
		}
		if r.Type == "error" && r.Code == "unavailable" {
			h.mu.Lock()
			h.stats.unavailable++
			h.stats.slowest = max(h.stats.slowest, time.Since(sent))
			h.mu.Unlock()
			if firstProblem.IsZero() {
				firstProblem = sent
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if r.Type != "reply" {
			h.t.Fatalf("%s: %v: %+v", h.user, f, r)
		}
		if !firstProblem.IsZero() {
			h.mu.Lock()
			h.stats.outage = max(h.stats.outage, time.Since(firstProblem))
			h.mu.Unlock()
		}
		return r
	}
}

// claim files a general user's paid claim, frame by frame, and returns the
// receipt number.
func (h *hopper) claim(limit time.Duration, between func(step int)) string {
	h.t.Helper()
	steps := [][2]string{{"choice", "yes"}, {"choice", "general"}, {"choice", "pay"}, {"choice", "paid"},
		{"text", "me@example.com"}, {"text", "010 1234 5678"}, {"text", "결제 오류 " + h.user}, {"text", "결제가 두 번 되었습니다."}, {"choice", "submit"}}
	if h.ws == nil {
		if err := h.connect(); err != nil {
			h.t.Fatal(err)
		}
	}
	for i, st := range steps {
		if between != nil {
			between(i)
		}
		f := map[string]any{"type": "text", "text": st[1]}
		if st[0] == "choice" {
			f = map[string]any{"type": "choice", "value": st[1]}
		}
		r := h.send(f, limit)
		if r.Invalid {
			h.t.Fatalf("%s: %v refused: %+v", h.user, st, r)
		}
		if i == len(steps)-1 {
			if !r.Done || r.ClaimID == "" {
				h.t.Fatalf("%s: submit: %+v", h.user, r)
			}
			return r.ClaimID
		}
	}
	return ""
}

// usersOnShards returns one user on each of shards, in their order.
func usersOnShards(prefix string, shards ...int) []string {
	users := make([]string, len(shards))
	for k, n := range shards {
		for i := 0; ; i++ {
			if u := fmt.Sprintf("%s-%d-%d", prefix, k, i); shard.Of(u) == n {
				users[k] = u
				break
			}
		}
	}
	return users
}

// checkDelivered waits until every receipt is delivered and checks that
// each claim came under one webhook-id, each user filed once, and nothing
// else was filed.
func (ce *clusterEnv) checkDelivered(receipts map[string]string) {
	ce.t.Helper()
	ce.recv.WaitAccepted(ce.t, len(receipts), 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	byClaim := map[string]map[string]bool{}
	for _, a := range ce.recv.Accepted() {
		ev, err := a.Event()
		if err != nil {
			ce.t.Fatal(err)
		}
		data := ev.Data
		if receipts[data.UserID] != data.ClaimID {
			ce.t.Errorf("delivered claim %s of %s, whose receipt was %q", data.ClaimID, data.UserID, receipts[data.UserID])
		}
		if byClaim[data.ClaimID] == nil {
			byClaim[data.ClaimID] = map[string]bool{}
		}
		byClaim[data.ClaimID][a.ID] = true
	}
	for user, id := range receipts {
		switch ids := byClaim[id]; len(ids) {
		case 0:
			ce.t.Errorf("receipt %s shown to %s was never delivered", id, user)
		case 1:
		default:
			ce.t.Errorf("claim %s delivered under %d webhook-ids: %v", id, len(ids), ids)
		}
	}
	if len(byClaim) != len(receipts) {
		ce.t.Errorf("%d claims delivered for %d receipts", len(byClaim), len(receipts))
	}
}

// TestClusterClaimsHopInstances files claims through two instances on a
// 3-master cluster, every frame on a new connection to the other
// instance, for users on shards of every master.
func TestClusterClaimsHopInstances(t *testing.T) {
	ce := startClusterEnv(t, 2)
	receipts := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range usersOnShards("hop", 0, 5, 9, 13, 17, 23) {
		wg.Go(func() {
			h := &hopper{t: t, ce: ce, user: u, hop: true, next: shard.Of(u)}
			id := h.claim(5*time.Second, nil)
			mu.Lock()
			receipts[u] = id
			mu.Unlock()
			if h.stats.unavailable > 0 {
				t.Errorf("%s: %d unavailable answers with every node up", u, h.stats.unavailable)
			}
		})
	}
	wg.Wait()
	ce.checkDelivered(receipts)
}

// TestClusterMasterKilled kills a master with SIGKILL while conversations
// on its shards and others are under way: turns on its shards answer
// "unavailable" within 2 s until its replica is promoted, recover within
// 10 s, and every receipt shown, before or after, is delivered once.
func TestClusterMasterKilled(t *testing.T) {
	ce := startClusterEnv(t, 2)
	ctx := context.Background()
	victim := 4 // the shard whose master dies
	users := usersOnShards("kill", victim, 12, 20)
	// Claims filed before the kill, on the doomed master too: with
	// CLAIMBOT_FILED_REPLICAS=1 the replica has them.
	receipts := map[string]string{}
	before := usersOnShards("before", victim, victim+1)
	for _, u := range before[:1] {
		h := &hopper{t: t, ce: ce, user: u}
		receipts[u] = h.claim(5*time.Second, nil)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var hoppers []*hopper
	killed := make(chan struct{})
	for _, u := range users {
		h := &hopper{t: t, ce: ce, user: u, next: shard.Of(u)}
		hoppers = append(hoppers, h)
		wg.Go(func() {
			id := h.claim(20*time.Second, func(step int) {
				if step == 4 {
					<-killed // every conversation is half way when the master dies
				}
			})
			mu.Lock()
			receipts[h.user] = id
			mu.Unlock()
		})
	}
	time.Sleep(2 * time.Second)
	if _, err := ce.cluster.KillMaster(ctx, shard.SlotOf(victim)); err != nil {
		t.Fatal(err)
	}
	close(killed)
	wg.Wait()
	for _, h := range hoppers {
		t.Logf("%s (shard %d): %d unavailable, slowest %v, recovered after %v", h.user, shard.Of(h.user), h.stats.unavailable, h.stats.slowest, h.stats.outage)
		if h.stats.slowest > 2*time.Second {
			t.Errorf("%s: an unavailable answer took %v; the contract says within 2 s", h.user, h.stats.slowest)
		}
		if h.stats.outage > 10*time.Second {
			t.Errorf("%s: turns recovered only after %v, want within 10 s", h.user, h.stats.outage)
		}
	}
	ce.checkDelivered(receipts)
}

// TestClusterFrozenMasterAppliesNothingLater freezes (SIGSTOP) the master
// of a user's shard while they answer the email question: the frame is
// answered "unavailable" within 2 s, and when the master wakes the answer
// is not applied; the next answer goes to the same question.
func TestClusterFrozenMasterAppliesNothingLater(t *testing.T) {
	ce := startClusterEnv(t, 1)
	ctx := context.Background()
	user := usersOnShards("frozen", 7)[0]
	c := dialURL(t, "ws://"+ce.instances[0].Addr+"/ws?t="+ce.e.token(user), nil)
	for _, v := range []string{"yes", "general", "pay", "paid"} {
		if r := c.choose(v); r.Type != "reply" || r.Invalid {
			t.Fatalf("%s: %+v", v, r)
		}
	}
	if c.last.Field != "email" {
		t.Fatalf("not at the email question: %+v", c.last)
	}
	addr, err := ce.cluster.MasterOf(ctx, shard.SlotOf(7))
	if err != nil {
		t.Fatal(err)
	}
	master := ce.cluster.Node(addr)
	// Shorter than the 2 s node timeout: a pause, not a failover.
	if err := master.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			master.Thaw()
		}
	}()
	start := time.Now()
	r := c.text("frozen@example.com")
	took := time.Since(start)
	time.Sleep(1500*time.Millisecond - took)
	master.Thaw()
	thawed = true
	if r.Type != "error" || r.Code != "unavailable" {
		t.Fatalf("answer while the master was frozen: %+v", r)
	}
	if took > 2*time.Second {
		t.Errorf("unavailable after %v; the contract says within 2 s", took)
	}
	time.Sleep(500 * time.Millisecond) // the master runs what it had queued
	r = c.text("typed-again@example.com")
	if r.Type != "reply" || r.Invalid || r.Field != "phone" {
		t.Fatalf("the answer after the thaw: %+v; want it taken as the email, the phone question next", r)
	}
	for _, v := range []string{"010 1234 5678", "결제 오류", "결제가 두 번 되었습니다."} {
		c.text(v)
	}
	if c.last.State != "summary" || !contains(c.last.Messages, "typed-again@example.com") || contains(c.last.Messages, "frozen@example.com") {
		t.Fatalf("summary: %+v", c.last)
	}
}

// TestClusterSubmitWaitsForReplica: with CLAIMBOT_FILED_REPLICAS=1 a
// submit's receipt comes once a replica holds the claim; with the replica
// frozen, the receipt is still shown (the claim was filed: the user must
// never hear otherwise) and the claim is counted as unreplicated.
func TestClusterSubmitWaitsForReplica(t *testing.T) {
	ce := startClusterEnv(t, 1)
	ctx := context.Background()
	users := usersOnShards("wait", 2, 14)
	unreplicated := func() string {
		_, body := httpGet(t, "http://"+ce.instances[0].Addr+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "claimbot_claims_unreplicated_total ") {
				return strings.TrimPrefix(line, "claimbot_claims_unreplicated_total ")
			}
		}
		return "(absent)"
	}
	h := &hopper{t: t, ce: ce, user: users[0]}
	receipts := map[string]string{users[0]: h.claim(5*time.Second, nil)}
	if got := unreplicated(); got != "0" {
		t.Fatalf("claims unreplicated with every replica up: %s", got)
	}
	// Freeze the replica of the second user's master.
	rs, err := ce.cluster.Slots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var replica *redisproc.Node
	for _, r := range rs {
		if r.Start <= shard.SlotOf(14) && shard.SlotOf(14) <= r.End && len(r.Replicas) > 0 {
			replica = ce.cluster.Node(r.Replicas[0])
		}
	}
	if replica == nil {
		t.Fatal("no replica for shard 14")
	}
	h2 := &hopper{t: t, ce: ce, user: users[1]}
	start := time.Now()
	id := h2.claim(5*time.Second, func(step int) {
		if step == 8 { // the submit
			replica.Freeze()
			start = time.Now()
		}
	})
	took := time.Since(start)
	replica.Thaw()
	receipts[users[1]] = id
	if got := unreplicated(); got != "1" {
		t.Errorf("claims unreplicated with the replica frozen: %s, want 1", got)
	}
	if took > 2*time.Second {
		t.Errorf("the receipt took %v", took)
	}
	ce.checkDelivered(receipts)
}
