// Package redisproc runs real redis-server processes on loopback: one
// server, or a Redis Cluster of masters and replicas joined with
// `redis-cli --cluster create`. The tests start them through
// internal/redistest; the chaos run (`claimbot loadtest --chaos`) starts a
// cluster through it directly, so both use one way of starting Redis.
package redisproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Installed reports whether redis-server and redis-cli are on the PATH.
func Installed() error {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("redisproc: %s is not on the PATH", bin)
		}
	}
	return nil
}

// Node is one redis-server process listening on 127.0.0.1.
type Node struct {
	Addr string
	Port int
	Dir  string // its data folder: append-only file, nodes.conf, redis.log

	conf  string
	extra []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartNode starts redis-server with the config file conf (may be empty),
// on port, keeping its data in dir, with extra arguments after the file
// (such as "--cluster-enabled", "yes"). It returns once the server
// answers PING.
func StartNode(conf, dir string, port int, extra ...string) (*Node, error) {
	n := &Node{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, conf: conf, extra: extra}
	if err := n.start(); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Node) start() error {
	var args []string
	if n.conf != "" {
		args = append(args, n.conf)
	}
	args = append(args, "--port", strconv.Itoa(n.Port), "--bind", "127.0.0.1",
		"--dir", n.Dir, "--daemonize", "no", "--save", "", "--logfile", filepath.Join(n.Dir, "redis.log"))
	args = append(args, n.extra...)
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a ^C to the chaos run reaches it only through Close
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redisproc: start redis-server: %w", err)
	}
	n.mu.Lock()
	n.cmd = cmd
	n.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			n.Kill()
			log, _ := os.ReadFile(filepath.Join(n.Dir, "redis.log"))
			return fmt.Errorf("redisproc: redis-server on %s did not answer: %v\n%s", n.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running reports whether the process was started and not killed.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Kill stops the process with SIGKILL, as a crash would.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd := n.cmd
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT) // a frozen process dies all the same, but let Wait return
	cmd.Process.Kill()
	cmd.Wait()
}

// Freeze stops the process with SIGSTOP: it keeps its connections and
// accepts new ones (the kernel does), and answers nothing until Thaw.
func (n *Node) Freeze() error { return n.signal(syscall.SIGSTOP) }

// Thaw lets a frozen process go on (SIGCONT).
func (n *Node) Thaw() error { return n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return fmt.Errorf("redisproc: %s is not running", n.Addr)
	}
	return n.cmd.Process.Signal(sig)
}

// Restart kills the process and starts it again on the same port and data
// folder, so it loads its append-only file (and, in a cluster, its
// nodes.conf, rejoining as it was).
func (n *Node) Restart() error {
	n.Kill()
	return n.start()
}

// Client returns a client of this node alone.
func (n *Node) Client() *redis.Client { return redis.NewClient(&redis.Options{Addr: n.Addr}) }

// FreePort returns a loopback port that is free now, and whose port+10000
// (a cluster node's bus port) is free too when bus is set.
func FreePort(bus bool) (int, error) {
	for range 200 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !bus {
			l.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		l.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port, nil
	}
	return 0, errors.New("redisproc: no free port pair found")
}
