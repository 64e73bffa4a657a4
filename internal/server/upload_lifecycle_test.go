package server_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/config"
	"github.com/redis/go-redis/v9"
)

// TestTurnTouchesSessionFiles: every applied turn of a session that holds
// files pushes their sweep to a session TTL from then, so a session kept
// alive past its TTL does not lose the files attached early in it.
func TestTurnTouchesSessionFiles(t *testing.T) {
	e := startEnv(t)
	up := e.tus("touch-user")
	first := up.upload("a.pdf", "application/pdf", pdfBytes(2000))
	second := up.upload("b.pdf", "application/pdf", pdfBytes(2000))
	c := e.dial("touch-user")
	c.toEvidence()
	if r := c.file(first); r.Type != "reply" || r.Invalid {
		t.Fatalf("first file: %+v", r)
	}
	rdb := e.redis.Client(t)
	ctx := context.Background()
	// As if the first file had been made a session TTL ago: due now.
	old := float64(time.Now().Add(time.Second).Unix())
	time.Sleep(100 * time.Millisecond) // the first turn's own Touch is done
	rdb.ZAddXX(ctx, "upload:pending", redis.Z{Score: old, Member: uploadID(first)})
	if r := c.file(second); r.Type != "reply" || r.Invalid || len(r.Files) != 2 {
		t.Fatalf("second file: %+v", r)
	}
	want := float64(time.Now().Add(e.cfg.SessionTTL - time.Minute).Unix())
	deadline := time.Now().Add(3 * time.Second)
	for {
		n, err := rdb.ZScore(ctx, "upload:pending", uploadID(first)).Result()
		if err == nil && n >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session's first file is still swept at %v (want at least %v): %v", n, want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := e.run.Server.Uploads().Sweep(ctx, time.Now().Add(2*time.Second)); err != nil || n != 0 {
		t.Fatalf("the sweep took a file of a live session: %d, %v", n, err)
	}
}

// stallProxy forwards TCP to Redis. Once armed, it delays the reply to
// the first HGETALL of an upload record (a file frame's lookup) by delay
// and then holds every reply: a Redis that answers the lookup slowly and
// then nothing.
type stallProxy struct {
	addr  string
	delay time.Duration

	mu     sync.Mutex
	armed  bool
	frozen chan struct{} // closed when released; nil: not frozen
}

func startStallProxy(t *testing.T, target string, delay time.Duration) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), delay: delay}
	t.Cleanup(func() { ln.Close(); p.release() })
	go func() {
		for {
			cl, err := ln.Accept()
			if err != nil {
				return
			}
			srv, err := net.Dial("tcp", target)
			if err != nil {
				cl.Close()
				continue
			}
			go p.pipe(cl, srv)
		}
	}()
	return p
}

func (p *stallProxy) arm() { p.mu.Lock(); p.armed = true; p.mu.Unlock() }

func (p *stallProxy) release() {
	p.mu.Lock()
	if p.frozen != nil {
		close(p.frozen)
		p.frozen = nil
	}
	p.mu.Unlock()
}

func (p *stallProxy) pipe(cl, srv net.Conn) {
	defer cl.Close()
	defer srv.Close()
	var mu sync.Mutex
	delayNext := false
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := cl.Read(buf)
			if n > 0 {
				lower := bytes.ToLower(buf[:n])
				p.mu.Lock()
				if p.armed && bytes.Contains(lower, []byte("hgetall")) && bytes.Contains(lower, []byte("upload:{")) {
					p.armed = false
					mu.Lock()
					delayNext = true
					mu.Unlock()
				}
				p.mu.Unlock()
				if _, err := srv.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				srv.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := srv.Read(buf)
		if n > 0 {
			mu.Lock()
			d := delayNext
			delayNext = false
			mu.Unlock()
			if d {
				time.Sleep(p.delay)
				p.mu.Lock()
				p.frozen = make(chan struct{})
				p.mu.Unlock()
			} else {
				p.mu.Lock()
				f := p.frozen
				p.mu.Unlock()
				if f != nil {
					<-f
				}
			}
			if _, err := cl.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// TestFileFrameSlowLookupThenFrozen: a lookup that Redis answers late and
// a turn it does not answer at all together still answer the file frame
// "unavailable" in time: the lookup and the turn share one deadline
// (within 1.6 s, the store's turn deadline and the batcher's slack, as
// any other frame; the contract's bound is 2 s).
func TestFileFrameSlowLookupThenFrozen(t *testing.T) {
	var p *stallProxy
	e := startEnv(t, func(c *config.Config) {
		p = startStallProxy(t, strings.TrimPrefix(c.RedisURL, "redis://"), 650*time.Millisecond)
		c.RedisURL = "redis://" + p.addr
	})
	up := e.tus("slow-user")
	url := up.upload("a.pdf", "application/pdf", pdfBytes(2000))
	c := e.dial("slow-user")
	c.toEvidence()
	p.arm()
	start := time.Now()
	r := c.file(url)
	d := time.Since(start)
	time.Sleep(time.Until(start.Add(p.delay + 100*time.Millisecond))) // the proxy has frozen
	p.release()
	if r.Type != "error" || r.Code != "unavailable" || d > 1600*time.Millisecond {
		t.Fatalf("file frame, lookup slow and then Redis frozen: %+v after %v", r, d)
	}
	time.Sleep(unavailableGapForTest)
	if r := c.file(url); r.Type != "reply" || r.Invalid || len(r.Files) != 1 {
		t.Fatalf("the file frame again, Redis back: %+v", r)
	}
}

// TestKakaoTurnTouchesSessionFiles: a skill turn of a session whose files
// came through the web page it links to pushes their sweep too.
func TestKakaoTurnTouchesSessionFiles(t *testing.T) {
	e := startEnv(t, withKakaoKey(skillKey))
	const user = "touch-kakao-user"
	toEvidence(t, e.run.URL(), user)
	url := e.tus("kakao:"+user).upload("a.pdf", "application/pdf", pdfBytes(2000))
	c := e.dial("kakao:" + user)
	if r := c.file(url); r.Type != "reply" || r.Invalid || len(r.Files) != 1 {
		t.Fatalf("file on the web page: %+v", r)
	}
	c.ws.Close()
	rdb := e.redis.Client(t)
	ctx := context.Background()
	time.Sleep(100 * time.Millisecond) // the web turn's own Touch is done
	rdb.ZAddXX(ctx, "upload:pending", redis.Z{Score: float64(time.Now().Add(time.Second).Unix()), Member: uploadID(url)})
	// done through the skill: on to the email question, the file held.
	code, r, _ := postSkill(t, e.run.URL(), skillKey, skillBody(user, "완료", `{"value":"done","state":"evidence"}`))
	if code != 200 || r.Data == nil || r.Data.State != "email" {
		t.Fatalf("done through the skill: %d %+v %s", code, r.Data, skillText(r))
	}
	want := float64(time.Now().Add(e.cfg.SessionTTL - time.Minute).Unix())
	deadline := time.Now().Add(3 * time.Second)
	for {
		n, err := rdb.ZScore(ctx, "upload:pending", uploadID(url)).Result()
		if err == nil && n >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session's file is still swept at %v (want at least %v): %v", n, want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
