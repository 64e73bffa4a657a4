package upload

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"
)

// TestLockExclusiveAcrossInstances: two Lockers on one Redis (two
// instances) never hold one upload's lock at once; a contender asks the
// holder to let go and gets the lock when it does.
func TestLockExclusiveAcrossInstances(t *testing.T) {
	rdb := newRedis(t)
	a, b := NewLocker(rdb), NewLocker(rdb)
	la, _ := a.NewLock("u1")
	lb, _ := b.NewLock("u1")
	var asked atomic.Int32
	released := make(chan struct{})
	if err := la.Lock(context.Background(), func() {
		asked.Add(1)
		go func() {
			time.Sleep(100 * time.Millisecond)
			la.Unlock()
			close(released)
		}()
	}); err != nil {
		t.Fatal(err)
	}
	// Another upload is not held up.
	other, _ := b.NewLock("u2")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := other.Lock(ctx, nil); err != nil {
		t.Fatalf("another upload's lock: %v", err)
	}
	defer other.Unlock()

	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lb.Lock(ctx, func() {}); err != nil {
		t.Fatalf("the contender: %v", err)
	}
	select {
	case <-released:
	default:
		t.Fatal("the contender got the lock while the holder still had it")
	}
	if asked.Load() != 1 {
		t.Errorf("the holder was asked %d times to let go", asked.Load())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the contender waited %v", d)
	}
	lb.Unlock()
}

// TestLockTimeout: a holder that does not let go makes the contender give
// up with tusd's ErrLockTimeout when its context ends.
func TestLockTimeout(t *testing.T) {
	rdb := newRedis(t)
	la, _ := NewLocker(rdb).NewLock("u1")
	if err := la.Lock(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	defer la.Unlock()
	lb, _ := NewLocker(rdb).NewLock("u1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := lb.Lock(ctx, nil); !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("want ErrLockTimeout, got %v", err)
	}
}

// TestLockRenewed: a lock held longer than its expiry stays held while its
// holder lives.
func TestLockRenewed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits past the lock's expiry")
	}
	rdb := newRedis(t)
	la, _ := NewLocker(rdb).NewLock("u1")
	if err := la.Lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer la.Unlock()
	time.Sleep(lockTTL + 1500*time.Millisecond)
	lb, _ := NewLocker(rdb).NewLock("u1")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := lb.Lock(ctx, nil); !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("the lock was lost past its expiry: %v", err)
	}
}

// TestUnlockLeavesOthersLock: a holder whose lock expired (its instance
// stalled) and was taken by another must not release the other's lock.
func TestUnlockLeavesOthersLock(t *testing.T) {
	rdb := newRedis(t)
	ctx := context.Background()
	la, _ := NewLocker(rdb).NewLock("u1")
	if err := la.Lock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	key := "upload:{u1}:lock"
	// The stalled holder's lock expires; another takes it.
	rdb.Del(ctx, key)
	lb, _ := NewLocker(rdb).NewLock("u1")
	if err := lb.Lock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer lb.Unlock()
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, key).Val(); n != 1 {
		t.Fatal("the stale holder released the new holder's lock")
	}
	lc, _ := NewLocker(rdb).NewLock("u1")
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := lc.Lock(short, nil); !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("a third got the lock: %v", err)
	}
}

// TestLockReleasedOnUnlock: Unlock frees the lock at once and stops its
// renewal.
func TestLockReleasedOnUnlock(t *testing.T) {
	rdb := newRedis(t)
	la, _ := NewLocker(rdb).NewLock("u1")
	if err := la.Lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(context.Background(), "upload:{u1}:lock").Val(); n != 0 {
		t.Fatal("the lock is still in Redis")
	}
	lb, _ := NewLocker(rdb).NewLock("u1")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := lb.Lock(ctx, nil); err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	lb.Unlock()
}

// TestLockOnEmbeddedRedis: dev mode's embedded Redis (miniredis) runs the
// lock's scripts too.
func TestLockOnEmbeddedRedis(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	la, _ := NewLocker(rdb).NewLock("u1")
	asked := make(chan struct{})
	if err := la.Lock(context.Background(), func() { close(asked) }); err != nil {
		t.Fatal(err)
	}
	lb, _ := NewLocker(rdb).NewLock("u1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := lb.Lock(ctx, nil); !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("a second holder: %v", err)
	}
	select {
	case <-asked:
	default:
		t.Fatal("the holder was not asked to let go")
	}
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	lb.Unlock()
}
