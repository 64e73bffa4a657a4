package shard_test

import (
	"context"
	"math"
	"testing"

	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
)

func TestSlotMatchesRedis(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{
		"123456789":            12739,
		"foo":                  12182,
		"{user1000}.following": 3443,
		"{}x":                  shard.Slot("{}x"), // an empty tag hashes the whole key
		"a{b}c":                shard.Slot("b"),
	} {
		if got := shard.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	if shard.Slot("{}x") == shard.Slot("") {
		t.Error("an empty hash tag must hash the whole key")
	}
}

// defaultSplit is how redis-cli --cluster create splits the slots over m
// masters (clusterManagerCommandCreate): runs of 16384/m, rounded.
func defaultSplit(m int) []int {
	per := 16384 / float64(m)
	ends := make([]int, m)
	first, cursor := 0, 0.0
	for i := range m {
		last := int(math.Round(cursor + per - 1))
		if last > 16384 || i == m-1 {
			last = 16383
		}
		if last < first {
			last = first
		}
		ends[i] = last
		first = last + 1
		cursor += per
	}
	return ends
}

func TestShardsSpreadEvenlyOverDefaultSplits(t *testing.T) {
	for _, m := range []int{1, 2, 3, 4, 6, 8, 12, 24} {
		ends := defaultSplit(m)
		count := make([]int, m)
		for n := range shard.Count {
			slot := shard.SlotOf(n)
			for i, end := range ends {
				if slot <= end {
					count[i]++
					break
				}
			}
		}
		for i, c := range count {
			if c != shard.Count/m {
				t.Errorf("%d masters: master %d carries %d shards, want %d (%v)", m, i, c, shard.Count/m, count)
				break
			}
		}
	}
}

func TestUsersAndClaimsStayInTheirShard(t *testing.T) {
	seen := make([]int, shard.Count)
	for i := range 24000 {
		u := "user-" + string(rune('a'+i%26)) + string(rune(i))
		n := shard.Of(u)
		seen[n]++
		if shard.Slot(shard.Session(u, "damage-1015")) != shard.SlotOf(n) || shard.Slot(shard.Outbox(n)) != shard.SlotOf(n) {
			t.Fatalf("user %q: session and outbox in different slots", u)
		}
	}
	for n, c := range seen {
		if c < 700 || c > 1300 {
			t.Errorf("shard %d has %d of 24000 users: uneven", n, c)
		}
	}
	for n := range shard.Count {
		// The acknowledge and purge scripts schedule files in the same slot.
		if shard.Slot(shard.Files(n)) != shard.SlotOf(n) || shard.Files(n) == shard.Due(n) {
			t.Errorf("shard %d: files schedule %q outside the shard's slot", n, shard.Files(n))
		}
		id := shard.NewClaimID(n, []byte{1, 2, 3, 4, 5})
		if got, ok := shard.OfClaim(id); !ok || got != n {
			t.Errorf("OfClaim(%q) = %d, %v; want %d", id, got, ok, n)
		}
	}
}

// TestMastersShareOfShards creates a real 3-master cluster the way an
// operator does and counts the shards each master serves.
func TestMastersShareOfShards(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := context.Background()
	cc := c.ClusterClient()
	defer cc.Close()
	per := map[string]int{}
	for n := range shard.Count {
		slot, err := cc.ClusterKeySlot(ctx, shard.Outbox(n)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if int(slot) != shard.SlotOf(n) {
			t.Fatalf("shard %d: Redis says slot %d, Slot says %d", n, slot, shard.SlotOf(n))
		}
		m, err := c.MasterOf(ctx, int(slot))
		if err != nil {
			t.Fatal(err)
		}
		per[m]++
	}
	if len(per) != 3 {
		t.Fatalf("shards on %d masters, want 3: %v", len(per), per)
	}
	for m, k := range per {
		if k != shard.Count/3 {
			t.Errorf("master %s carries %d shards, want %d (%v)", m, k, shard.Count/3, per)
		}
	}
}
