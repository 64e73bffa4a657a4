package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/token"
)

// A connection upgraded just as Shutdown takes its list of connections
// still gets 1012. The upgrader's origin check runs after the handler's
// "stopping?" check and before the connection is registered: Shutdown runs
// there, so the race is lost every time.
func TestShutdownDuringUpgradeCloses1012(t *testing.T) {
	rs := redistest.Start(t)
	opt, err := redis.ParseURL(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	eng, _, err := LoadEngine("../../flows", "../../locales", nil)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "test-banner-secret-0123456789abcdef"
	cfg := &config.Config{DefaultFlow: "damage-1015", BannerSecret: secret, SessionTTL: time.Hour}
	s := New(Options{Config: cfg, Redis: rdb, Engine: eng})
	s.upgrader.CheckOrigin = func(*http.Request) bool {
		s.Shutdown(context.Background())
		return true
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	tok, err := token.Mint([]byte(secret), "user-late", "", "", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws?t="+tok, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err == nil {
			t.Logf("frame before the close: %s", data)
			continue
		}
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseServiceRestart {
			t.Fatalf("want close 1012, got %v", err)
		}
		break
	}
	if v := gaugeValue(t, s.metrics.connections); v != 0 {
		t.Errorf("claimbot_connections = %v after the close, want 0", v)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
