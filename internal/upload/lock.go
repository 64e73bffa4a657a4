package upload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"
)

// Lock timings. A holder renews its lock every lockRenew, so a lock lives
// lockTTL past the last sign of life of a crashed instance; a contender
// retries every lockRetry and asks the holder to let go.
const (
	lockTTL   = 6 * time.Second
	lockRenew = time.Second
	lockRetry = 50 * time.Millisecond
)

// Locker is tusd's handler.Locker on Redis, so that every instance sharing
// the storage also shares the locks: an upload started on one instance can
// resume on another while the first one still holds a dropped PATCH.
//
// A lock is `SET upload:{id}:lock TOKEN NX PX 6000`, renewed every second
// by its holder and released by a compare-and-delete on its token, so a
// holder whose lock expired never releases another's. A contender sets
// `upload:{id}:unlock`; the holder sees it at its next renewal and calls
// tusd's requestUnlock, which ends the stale PATCH so the new request gets
// the lock within about a second instead of at the timeout.
type Locker struct {
	rdb redis.UniversalClient
}

// NewLocker returns a Locker on rdb.
func NewLocker(rdb redis.UniversalClient) *Locker { return &Locker{rdb: rdb} }

// NewLock implements handler.Locker.
func (l *Locker) NewLock(id string) (handler.Lock, error) {
	// The hash tag keeps both keys of an upload in one Redis Cluster slot.
	return &redisLock{rdb: l.rdb, key: "upload:{" + id + "}:lock", want: "upload:{" + id + "}:unlock"}, nil
}

type redisLock struct {
	rdb        redis.UniversalClient
	key, want  string
	token      string
	stop       chan struct{}
	done       chan struct{}
	unlockOnce sync.Once
}

// renewScript extends the lock when it is still ours and answers 1 when a
// contender asked for it, 0 when not, -1 when the lock is no longer ours.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return -1 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return redis.call("EXISTS", KEYS[2])`)

// releaseScript deletes the lock only when it still holds our token.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Lock implements handler.Lock: it returns once the lock is held, or
// handler.ErrLockTimeout when ctx ends first.
func (l *redisLock) Lock(ctx context.Context, requestUnlock func()) error {
	token := newToken()
	var asked time.Time
	for {
		ok, err := l.rdb.SetNX(ctx, l.key, token, lockTTL).Result()
		if err != nil {
			if ctx.Err() != nil {
				return handler.ErrLockTimeout
			}
			return fmt.Errorf("upload: lock: %w", err)
		}
		if ok {
			break
		}
		if time.Since(asked) >= lockRenew {
			// Ask the holder to end its request; it looks at every renewal.
			// Asked again each second, as a new holder clears the request.
			if err := l.rdb.Set(ctx, l.want, "1", lockTTL).Err(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("upload: lock: %w", err)
			}
			asked = time.Now()
		}
		select {
		case <-ctx.Done():
			return handler.ErrLockTimeout
		case <-time.After(lockRetry):
		}
	}
	// A request for the previous holder is not one for us.
	l.rdb.Del(context.WithoutCancel(ctx), l.want)
	l.token = token
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.renew(requestUnlock)
	return nil
}

func (l *redisLock) renew(requestUnlock func()) {
	defer close(l.done)
	t := time.NewTicker(lockRenew)
	defer t.Stop()
	requested := false
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lockRenew)
		n, err := renewScript.Run(ctx, l.rdb, []string{l.key, l.want}, l.token, lockTTL.Milliseconds()).Int()
		cancel()
		if err != nil {
			continue // Redis away for a moment: the lock may still be ours
		}
		if n != 0 && !requested && requestUnlock != nil {
			requested = true
			requestUnlock()
		}
	}
}

// Unlock implements handler.Lock. Releasing a lock that expired and was
// taken by another leaves the other's lock alone.
func (l *redisLock) Unlock() error {
	var err error
	l.unlockOnce.Do(func() {
		if l.stop == nil {
			return
		}
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if e := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); e != nil {
			err = fmt.Errorf("upload: unlock: %w", e)
		}
	})
	return err
}
