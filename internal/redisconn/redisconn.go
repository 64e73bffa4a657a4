// Package redisconn is the one place that builds claimbot's Redis clients
// from the settings: one server (REDIS_URL), a Redis Cluster
// (REDIS_CLUSTER_URL), or the embedded in-process Redis of dev mode. The
// rest of the code takes redis.UniversalClient, or a narrower interface,
// and never names the concrete client types.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Settings say where Redis is. At most one of URL and ClusterURL is set;
// neither means the embedded Redis (the server's dev mode only).
type Settings struct {
	URL        string // REDIS_URL: redis://[user:pass@]host:port[/db]
	ClusterURL string // REDIS_CLUSTER_URL: redis://[user:pass@]host:port?addr=host:port&addr=…
}

// Check refuses both set, or a malformed one, naming the variable.
func (s Settings) Check() error {
	if s.URL != "" && s.ClusterURL != "" {
		return errors.New("REDIS_URL and REDIS_CLUSTER_URL are both set: set one (REDIS_CLUSTER_URL for a Redis Cluster)")
	}
	if s.URL != "" {
		if _, err := redis.ParseURL(s.URL); err != nil {
			return fmt.Errorf("REDIS_URL: %v", scrub(err, s.URL))
		}
	}
	if s.ClusterURL != "" {
		if _, err := redis.ParseClusterURL(s.ClusterURL); err != nil {
			return fmt.Errorf("REDIS_CLUSTER_URL: %v", scrub(err, s.ClusterURL))
		}
	}
	return nil
}

// scrub keeps a URL's user info out of a parse error's text: the URL may
// not parse at all, so whatever stands between "://" and the last "@" is
// taken out of the message.
func scrub(err error, raw string) string {
	msg := err.Error()
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if at := strings.LastIndexByte(rest, '@'); at > 0 {
		for _, secret := range []string{rest[:at], url.PathEscape(rest[:at])} {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
		if p, perr := url.Parse(raw); perr == nil && p.User != nil {
			if pw, ok := p.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
	}
	return msg
}

// Cluster reports whether the settings name a cluster.
func (s Settings) Cluster() bool { return s.ClusterURL != "" }

// String is the settings for logs: scheme, hosts and ports; never a
// password, user or query parameter other than the seeds.
func (s Settings) String() string {
	switch {
	case s.ClusterURL != "":
		o, err := redis.ParseClusterURL(s.ClusterURL)
		if err != nil {
			return "cluster (unparsable)"
		}
		return "cluster " + strings.Join(o.Addrs, ",")
	case s.URL != "":
		o, err := redis.ParseURL(s.URL)
		if err != nil {
			return "(unparsable)"
		}
		return o.Addr
	}
	return "embedded"
}

// Role shapes a client for its use.
type Role int

const (
	// Turns serves chat turns: every call bounded by its context's
	// deadline at the socket (so "unavailable" comes in time), a pool for
	// many connections' turns, one retry.
	Turns Role = iota
	// Background serves the outbox sender and operator tools: blocking
	// stream reads need a read timeout longer than their block.
	Background
)

// Open builds a client for role. poolSize, when above zero, is the pool of
// each node (go-redis's cluster pool is per node).
func Open(s Settings, role Role, poolSize int) (redis.UniversalClient, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	switch {
	case s.ClusterURL != "":
		o, _ := redis.ParseClusterURL(s.ClusterURL)
		shapeCluster(o, role, poolSize)
		c := redis.NewClusterClient(o)
		c.AddHook(reloadOnNodeLoss{c})
		return c, nil
	case s.URL != "":
		o, _ := redis.ParseURL(s.URL)
		shape(o, role, poolSize)
		return redis.NewClient(o), nil
	}
	return nil, errors.New("redisconn: no REDIS_URL or REDIS_CLUSTER_URL")
}

func shape(o *redis.Options, role Role, poolSize int) {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = time.Second, time.Second, time.Second
	o.MaxRetries = 1
	if poolSize > o.PoolSize { // a pool_size in the URL may ask for more
		o.PoolSize = poolSize
	}
	switch role {
	case Turns:
		o.ContextTimeoutEnabled = true
	case Background:
		o.ReadTimeout = 5 * time.Second // longer than the sender's blocking reads
	}
}

func shapeCluster(o *redis.ClusterOptions, role Role, poolSize int) {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = time.Second, time.Second, time.Second
	o.MaxRetries = 1
	// Redirects after a failover: MOVED to the new master, then the
	// command. More would outlast a turn's deadline.
	o.MaxRedirects = 3
	if poolSize > o.PoolSize { // a pool_size in the URL may ask for more
		o.PoolSize = poolSize
	}
	switch role {
	case Turns:
		o.ContextTimeoutEnabled = true
	case Background:
		o.ReadTimeout = 5 * time.Second
	}
}

// reloadOnNodeLoss reloads the cluster's slot map when a command fails on
// a node that is gone. go-redis reloads it on MOVED, and otherwise only
// every ClusterStateReloadInterval (60 s): after a master dies and its
// replica is promoted, every command for its slots would keep dialling the
// dead address until then (redis/go-redis#3979). ReloadState is lazy and
// coalesced (one reload at a time, 200 ms apart), so a burst of failing
// turns costs one CLUSTER SLOTS, repeated until the map names the
// promoted replica.
type reloadOnNodeLoss struct{ c *redis.ClusterClient }

// DialHook passes dials through: a cluster client's node clients dial on
// their own, so a refused dial shows as the command's error below.
func (h reloadOnNodeLoss) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnNodeLoss) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && nodeLost(err) {
			h.c.ReloadState(context.Background())
		}
		return err
	}
}

func (h reloadOnNodeLoss) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			for _, c := range cmds {
				if e := c.Err(); e != nil && nodeLost(e) {
					err = e
					break
				}
			}
		}
		if err != nil && nodeLost(err) {
			h.c.ReloadState(context.Background())
		}
		return err
	}
}

// nodeLost reports errors that say a node is unreachable or no longer
// serves its slots: refused or reset connections, time-outs, and the
// cluster's own CLUSTERDOWN and READONLY (a demoted master), and MOVED or
// ASK coming back from a node addressed directly (NodeFor).
func nodeLost(err error) bool {
	if errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "CLUSTERDOWN") || strings.HasPrefix(msg, "READONLY") ||
		strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ") ||
		strings.Contains(msg, "EOF") || strings.Contains(msg, "connection refused")
}

// Failed tells a cluster client that a command sent around it (on a node
// client from NodeFor) failed, so a lost node makes it reload its slot
// map as its own commands' failures do.
func Failed(rdb redis.UniversalClient, err error) {
	if cc, ok := rdb.(*redis.ClusterClient); ok && err != nil && nodeLost(err) {
		cc.ReloadState(context.Background())
	}
}

// Embedded starts the in-process Redis of dev mode on a loopback port and
// returns its URL and a function that stops it.
func Embedded() (redisURL string, stop func(), err error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return "", nil, fmt.Errorf("embedded redis: %w", err)
	}
	return "redis://" + mr.Addr(), mr.Close, nil
}

// Masters calls fn once for each master of a cluster client, or once with
// the client itself for one server. Commands without keys that must reach
// every node (SCAN, INFO, FLUSHDB) go through it.
func Masters(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node redis.UniversalClient) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}

// NodeFor returns the client that serves key: the master of its slot on a
// cluster, the client itself on one server. A pipeline on it runs on one
// connection, so a WAIT after a write counts that write's replicas.
func NodeFor(ctx context.Context, rdb redis.UniversalClient, key string) (redis.UniversalClient, error) {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.MasterForKey(ctx, key)
	}
	return rdb, nil
}

// IsCluster reports whether rdb is a cluster client.
func IsCluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}
