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

// testSecret is the banner secret of newTestServer's production mode.
const testSecret = "test-banner-secret-0123456789abcdef"

// newTestServer builds a production-mode Server on a test Redis; the test
// may change it (its upgrader) before serving it with serve.
func newTestServer(t testing.TB) *Server {
	t.Helper()
	rs := redistest.Start(t)
	opt, err := redis.ParseURL(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	eng, _, err := LoadEngine("../../flows", "../../locales", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{DefaultFlow: "damage-1015", BannerSecret: testSecret, SessionTTL: time.Hour}
	return New(Options{Config: cfg, Redis: rdb, Engine: eng})
}

// serve serves s and returns a function that gives a user's /ws URL, with
// a banner token.
func serve(t *testing.T, s *Server) (wsURL func(user string) string) {
	t.Helper()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return func(user string) string {
		tok, err := token.Mint([]byte(testSecret), user, "", "", time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?t=" + tok
	}
}

// A connection upgraded just as Shutdown takes its list of connections
// still gets 1012. The upgrader's origin check runs after the handler's
// "stopping?" check and before the connection is registered: Shutdown runs
// there, so the race is lost every time.
func TestShutdownDuringUpgradeCloses1012(t *testing.T) {
	s := newTestServer(t)
	s.upgrader.CheckOrigin = func(*http.Request) bool {
		s.Shutdown(context.Background())
		return true
	}
	wsURL := serve(t, s)

	ws, _, err := websocket.DefaultDialer.Dial(wsURL("user-late"), nil)
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

func gaugeValue(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// Connections the server's shutdown closes are not abandonments; a user
// closing the page is.
func TestShutdownIsNotAbandonment(t *testing.T) {
	s := newTestServer(t)
	wsURL := serve(t, s)
	abandoned := func() float64 {
		var m dto.Metric
		if err := s.metrics.abandoned.WithLabelValues("damage-1015", "reporter_type").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	atReporterType := func(user string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(user), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for _, f := range []string{"", `{"type":"choice","value":"yes","state":"privacy_consent"}`} {
			if f != "" {
				ws.WriteMessage(websocket.TextMessage, []byte(f))
			}
			if _, _, err := ws.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
		return ws
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("waited 5 s for %s", what)
			}
		}
	}

	// A user leaves at the reporter type question.
	gone := atReporterType("user-gone")
	gone.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
	waitFor("the user who left to count", func() bool { return abandoned() == 1 })

	// Another waits there as the server shuts down.
	stays := atReporterType("user-stays")
	go s.Shutdown(context.Background())
	if _, _, err := stays.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseServiceRestart) {
		t.Fatalf("want close 1012, got %v", err)
	}
	waitFor("the connection to be gone", func() bool { return gaugeValue(t, s.metrics.connections) == 0 })
	if n := abandoned(); n != 1 {
		t.Errorf("claimbot_state_abandoned_total{state=reporter_type} = %v, want 1: the shutdown counted", n)
	}
}
