package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/redisproc"
)

// StartCluster starts a Redis Cluster of 3 masters, each with one replica,
// as real redis-server processes with the shipped redis.conf, joined by
// redis-cli, with a 2 s node timeout so a killed master's replica takes
// over within a few seconds. It skips the test when redis-server or
// redis-cli is missing, and fails it under CLAIMBOT_REQUIRE_REAL=1.
func StartCluster(t testing.TB) *redisproc.Cluster {
	t.Helper()
	if err := redisproc.Installed(); err != nil {
		if RequireReal() {
			t.Fatalf("redistest: %v and CLAIMBOT_REQUIRE_REAL=1", err)
		}
		t.Skip(err.Error())
	}
	conf, err := Conf()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := redisproc.StartCluster(ctx, redisproc.ClusterOptions{Masters: 3, Replicas: 1, Dir: t.TempDir(), Conf: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Log())
		}
		c.Close()
	})
	return c
}
