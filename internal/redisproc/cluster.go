package redisproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterOptions shape a cluster.
type ClusterOptions struct {
	Masters     int           // default 3
	Replicas    int           // replicas per master; default 1 (use -1 for none)
	Dir         string        // parent folder of the nodes' data folders (required)
	Conf        string        // a redis.conf every node loads first (the shipped one); may be empty
	NodeTimeout time.Duration // cluster-node-timeout: how soon a dead master's replica takes over; default 2 s
}

// Cluster is a Redis Cluster of local processes, made as an operator makes
// one: redis-server processes with cluster-enabled, joined by
// `redis-cli --cluster create … --cluster-replicas N --cluster-yes`, which
// splits the 16384 slots evenly over the masters in the order given.
type Cluster struct {
	Nodes []*Node
	opt   ClusterOptions
}

// StartCluster starts and joins a cluster and returns once every slot is
// served and every node agrees the cluster is ok.
func StartCluster(ctx context.Context, opt ClusterOptions) (*Cluster, error) {
	if err := Installed(); err != nil {
		return nil, err
	}
	if opt.Masters <= 0 {
		opt.Masters = 3
	}
	if opt.Replicas == 0 {
		opt.Replicas = 1
	}
	if opt.Replicas < 0 {
		opt.Replicas = 0
	}
	if opt.NodeTimeout <= 0 {
		opt.NodeTimeout = 2 * time.Second
	}
	if opt.Dir == "" {
		return nil, errors.New("redisproc: cluster needs a folder")
	}
	c := &Cluster{opt: opt}
	total := opt.Masters * (1 + opt.Replicas)
	addrs := make([]string, 0, total)
	for i := range total {
		port, err := FreePort(true)
		if err != nil {
			c.Close()
			return nil, err
		}
		dir := filepath.Join(opt.Dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.Close()
			return nil, err
		}
		n, err := StartNode(opt.Conf, dir, port,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(opt.NodeTimeout.Milliseconds(), 10),
			// A replica takes over however long ago it last heard its
			// master: in a crash that is what is wanted.
			"--cluster-replica-validity-factor", "0",
			// The masters that are up keep serving their slots while
			// one is being replaced: see README, running on a cluster.
			"--cluster-require-full-coverage", "no",
		)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opt.Replicas), "--cluster-yes")
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redisproc: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitHealthy(ctx, 30*time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// URL is the cluster in REDIS_CLUSTER_URL's form: the first node, and the
// others as addr= seeds.
func (c *Cluster) URL() string {
	var b strings.Builder
	b.WriteString("redis://")
	for i, n := range c.Nodes {
		switch i {
		case 0:
			b.WriteString(n.Addr)
		case 1:
			b.WriteString("?addr=" + n.Addr)
		default:
			b.WriteString("&addr=" + n.Addr)
		}
	}
	return b.String()
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr
	}
	return a
}

// Close kills every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// Node returns the node listening on addr.
func (c *Cluster) Node(addr string) *Node {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// SlotRange is a run of slots one master serves.
type SlotRange struct {
	Start, End int // inclusive
	Master     string
	Replicas   []string
}

// Slots asks a running node for the slot map (CLUSTER SHARDS' older
// sibling CLUSTER SLOTS, which Redis 7.0 has), sorted by slot.
func (c *Cluster) Slots(ctx context.Context) ([]SlotRange, error) {
	var lastErr error
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		cl := n.Client()
		slots, err := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil {
			lastErr = err
			continue
		}
		out := make([]SlotRange, 0, len(slots))
		for _, s := range slots {
			if len(s.Nodes) == 0 {
				continue
			}
			r := SlotRange{Start: s.Start, End: s.End, Master: s.Nodes[0].Addr}
			for _, rn := range s.Nodes[1:] {
				r.Replicas = append(r.Replicas, rn.Addr)
			}
			out = append(out, r)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
		return out, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no node is running")
	}
	return nil, fmt.Errorf("redisproc: cluster slots: %w", lastErr)
}

// MasterOf returns the address of the master serving slot.
func (c *Cluster) MasterOf(ctx context.Context, slot int) (string, error) {
	rs, err := c.Slots(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.Start <= slot && slot <= r.End {
			return r.Master, nil
		}
	}
	return "", fmt.Errorf("redisproc: slot %d is not served", slot)
}

// Masters returns the masters' addresses, in slot order.
func (c *Cluster) Masters(ctx context.Context) ([]string, error) {
	rs, err := c.Slots(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.Master] {
			seen[r.Master] = true
			out = append(out, r.Master)
		}
	}
	return out, nil
}

// WaitHealthy waits until every running node says cluster_state:ok, every
// slot is assigned to a master that is up, every running node serves as a
// master or a replica, and every running replica's link to its master is
// up.
func (c *Cluster) WaitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	var why string
	for {
		why = c.unhealthy(ctx)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redisproc: cluster not healthy after %v: %s", within, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) unhealthy(ctx context.Context) string {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		cl := n.Client()
		info, err := cl.ClusterInfo(ctx).Result()
		cl.Close()
		if err != nil {
			return n.Addr + ": " + err.Error()
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return n.Addr + ": " + firstLines(info, 3)
		}
		// A replica that has not finished its first sync holds nothing
		// yet: a failover then would lose what its master had.
		cl = n.Client()
		repl, err := cl.Info(ctx, "replication").Result()
		cl.Close()
		if err != nil {
			return n.Addr + ": " + err.Error()
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return n.Addr + ": replica not in sync with its master yet"
		}
	}
	rs, err := c.Slots(ctx)
	if err != nil {
		return err.Error()
	}
	// Every running node serves: as a master of its slots or as a
	// replica of one (redis-cli makes the replicas after the masters).
	serving := map[string]bool{}
	for _, r := range rs {
		serving[r.Master] = true
		for _, a := range r.Replicas {
			serving[a] = true
		}
	}
	for _, n := range c.Nodes {
		if n.Running() && !serving[n.Addr] {
			return n.Addr + " is neither a master of slots nor a replica yet"
		}
	}
	covered := 0
	for _, r := range rs {
		if n := c.Node(r.Master); n == nil || !n.Running() {
			return "slot " + strconv.Itoa(r.Start) + " still served by the dead " + r.Master
		}
		covered += r.End - r.Start + 1
	}
	if covered != 16384 {
		return strconv.Itoa(covered) + " slots served"
	}
	return ""
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}

// KillMaster kills the master serving slot with SIGKILL and returns it; a
// replica takes over after the node timeout. WaitHealthy tells when.
func (c *Cluster) KillMaster(ctx context.Context, slot int) (*Node, error) {
	addr, err := c.MasterOf(ctx, slot)
	if err != nil {
		return nil, err
	}
	n := c.Node(addr)
	if n == nil {
		return nil, fmt.Errorf("redisproc: master %s is not one of ours", addr)
	}
	n.Kill()
	return n, nil
}

// Rejoin restarts a killed node: it loads its nodes.conf and comes back as
// a replica of the master that replaced it.
func (c *Cluster) Rejoin(n *Node) error { return n.Restart() }

// ClusterClient returns a client of the whole cluster for checks and
// test set-up (not the bot's: that one comes from internal/redisconn).
func (c *Cluster) ClusterClient() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
}

// Log returns the tail of every node's log, for a failing test.
func (c *Cluster) Log() string {
	var b bytes.Buffer
	for _, n := range c.Nodes {
		data, _ := os.ReadFile(filepath.Join(n.Dir, "redis.log"))
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "== %s\n%s\n", n.Addr, data)
	}
	return b.String()
}
