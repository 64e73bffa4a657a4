package redisproc_test

import (
	"context"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/redistest"
)

func TestClusterStartsAndFailsOver(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := context.Background()
	masters, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("masters = %v, want 3", masters)
	}
	cc := c.ClusterClient()
	defer cc.Close()
	if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dead, err := c.KillMaster(ctx, 7629) // slot of "k"
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica took over in %v", time.Since(start))
	now, _ := c.MasterOf(ctx, 7629)
	if now == dead.Addr {
		t.Fatalf("slot still served by the killed master %s", dead.Addr)
	}
	if err := c.Rejoin(dead); err != nil {
		t.Fatal(err)
	}
}
