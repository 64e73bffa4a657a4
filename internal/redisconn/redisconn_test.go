package redisconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/redisconn"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
)

func TestSettingsCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    redisconn.Settings
		want string // substring of the error; empty: no error
	}{
		{"embedded", redisconn.Settings{}, ""},
		{"one server", redisconn.Settings{URL: "redis://127.0.0.1:6379/2"}, ""},
		{"cluster", redisconn.Settings{ClusterURL: "redis://a:7000?addr=b:7001&addr=c:7002"}, ""},
		{"both", redisconn.Settings{URL: "redis://a:1", ClusterURL: "redis://b:2"}, "REDIS_URL and REDIS_CLUSTER_URL"},
		{"bad url", redisconn.Settings{URL: "http://a:1"}, "REDIS_URL:"},
		{"bad cluster url", redisconn.Settings{ClusterURL: "mongodb://a:1"}, "REDIS_CLUSTER_URL:"},
		{"password kept out", redisconn.Settings{URL: "redis://u:hunter2@a:1/x"}, "REDIS_URL:"},
		{"password kept out of a bad escape", redisconn.Settings{URL: "redis://u:hunter2%t@a:1"}, "REDIS_URL:"},
		{"password kept out of a bad port", redisconn.Settings{URL: "redis://u:hunter2@a:port"}, "REDIS_URL:"},
		{"password kept out of a bad cluster url", redisconn.Settings{ClusterURL: "redis://u:hunter2@a:port?addr=b:1"}, "REDIS_CLUSTER_URL:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	s := redisconn.Settings{ClusterURL: "redis://u:hunter2@a:7000?addr=b:7001"}
	if got := s.String(); strings.Contains(got, "hunter2") || !strings.Contains(got, "a:7000") {
		t.Errorf("String() = %q", got)
	}
}

// TestClusterRecoversFromMasterLoss kills the master of a shard and
// measures how soon writes to that shard succeed again through the turns
// client: go-redis alone keeps dialling the dead node until its 60 s
// reload, the hook reloads the slot map as soon as the replica is promoted.
func TestClusterRecoversFromMasterLoss(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb, err := redisconn.Open(redisconn.Settings{ClusterURL: c.URL()}, redisconn.Turns, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	key := shard.Outbox(5)
	if err := rdb.Set(ctx, key+":probe", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KillMaster(ctx, shard.SlotOf(5)); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var last error
	for time.Since(killed) < 30*time.Second {
		tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		last = rdb.Set(tctx, key+":probe", "2", 0).Err()
		cancel()
		if last == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("writes to the killed master's slots succeed again after %v", took)
	if last != nil || took > 10*time.Second {
		t.Fatalf("not recovered within 10 s (%v): %v", took, last)
	}
}
