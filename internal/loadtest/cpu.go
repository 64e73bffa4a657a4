package loadtest

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// CPU is the processor time a round cost per turn, in microseconds. Turns
// per second move with whatever else a shared machine runs; the processor
// time a turn costs moves much less, so it is the steadier measure of a
// change.
type CPU struct {
	LoadTester float64  `json:"load_tester_us"`      // this process: the simulated people, and the bare loop or an in-process server
	Server     *float64 `json:"server_us,omitempty"` // the serving process, when it is not this one (/proc/<pid>/stat, else its /metrics)
	Redis      *float64 `json:"redis_us,omitempty"`  // Redis's own (/proc/<pid>/stat when local, else INFO cpu)
	Total      float64  `json:"total_us"`
}

// cpuReading is the processor seconds used so far.
type cpuReading struct {
	self          float64
	server, redis float64
	serverOK      bool
	redisOK       bool
}

// cpuClock reads the processor time of the parts of a run.
type cpuClock struct {
	rdb      *redis.Client // nil: Redis's time is not read
	redisPID int           // > 0: Redis's time is read from /proc
}

func newCPUClock(redisURL string) *cpuClock {
	c := &cpuClock{}
	if redisURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c.redisPID = localRedisPID(ctx, redisURL)
		cancel()
	}
	if opt, err := redis.ParseURL(redisURL); redisURL != "" && err == nil && c.redisPID == 0 {
		opt.DialTimeout, opt.ReadTimeout = time.Second, time.Second
		opt.PoolSize = 1
		c.rdb = redis.NewClient(opt)
	}
	return c
}

func (c *cpuClock) close() {
	if c.rdb != nil {
		c.rdb.Close()
	}
}

func (c *cpuClock) read(ctx context.Context, t Target) cpuReading {
	r := cpuReading{self: processCPU()}
	if t.PID > 0 {
		r.server, r.serverOK = procCPU(t.PID)
	} else if !t.InProcess && t.MetricsURL != "" {
		if m, err := scrape(ctx, t.MetricsURL); err == nil {
			r.server, r.serverOK = m[metricCPU]
		}
	}
	if c.redisPID > 0 {
		r.redis, r.redisOK = procCPU(c.redisPID)
	} else if c.rdb != nil {
		if info, err := c.rdb.Info(ctx, "cpu").Result(); err == nil {
			r.redis, r.redisOK = redisCPU(info)
		}
	}
	return r
}

// used is the processor seconds the run's processes used between two
// readings; below zero when a serving process's or Redis's time is
// unknown (then what the others used is unknown too).
func (a cpuReading) used(b cpuReading) float64 {
	if a.self <= 0 || a.serverOK != b.serverOK || a.redisOK != b.redisOK {
		return -1
	}
	u := b.self - a.self
	if a.serverOK {
		u += b.server - a.server
	}
	if a.redisOK {
		u += b.redis - a.redis
	}
	return u
}

// perTurn is the time between two readings per turn.
func (a cpuReading) perTurn(b cpuReading, turns int64) *CPU {
	if turns <= 0 || a.self <= 0 {
		return nil
	}
	us := func(s float64) float64 { return s / float64(turns) * 1e6 }
	c := &CPU{LoadTester: us(b.self - a.self)}
	c.Total = c.LoadTester
	if a.serverOK && b.serverOK {
		v := us(b.server - a.server)
		c.Server, c.Total = &v, c.Total+v
	}
	if a.redisOK && b.redisOK {
		v := us(b.redis - a.redis)
		c.Redis, c.Total = &v, c.Total+v
	}
	return c
}

// Serving is the processor time per turn of the serving side: the
// server's process and Redis. For a server in the load tool's own process
// (whose time is mixed with the simulated people's) it is the total.
func (c *CPU) Serving() float64 {
	if c.Server == nil {
		return c.Total
	}
	v := *c.Server
	if c.Redis != nil {
		v += *c.Redis
	}
	return v
}

// redisCPU sums used_cpu_sys and used_cpu_user of an INFO cpu answer.
func redisCPU(info string) (float64, bool) {
	var sum float64
	n := 0
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || (k != "used_cpu_sys" && k != "used_cpu_user") {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		sum += f
		n++
	}
	return sum, n == 2
}
