package store_test

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/claimbot/claimbot/internal/engine"
	"github.com/claimbot/claimbot/internal/redistest"
	"github.com/claimbot/claimbot/internal/shard"
	"github.com/claimbot/claimbot/internal/store"
)

// The turn script's arguments are reused from turn to turn, the session's
// value goes as its lent buffer and the TTLs boxed once: what Redis keeps
// after every turn of a whole claim decodes as Encode of the session the
// connection holds, with the idle expiry, and the receipt's reservation
// has its own expiry.
func TestWrittenValueIsEncode(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	eng := testEngine(t)
	st := store.New(rdb, func() *engine.Engine { return eng }, store.Options{TTL: time.Hour, ClaimIDTL: 2 * time.Hour,
		Now: func() time.Time { return during }})
	c, _, err := st.Open(ctx, "u-args", "damage-1015", "ko")
	if err != nil {
		t.Fatal(err)
	}
	key := shard.Session("u-args", "damage-1015")
	check := func(step string, rev int64) {
		t.Helper()
		val, err := rdb.Get(ctx, key).Bytes()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		// The answers' order is the map's: compare what they decode to.
		want, _ := store.Encode(rev, c.Session())
		gotRev, got, err := store.Decode(val)
		wantRev, wantSess, _ := store.Decode(want)
		if err != nil || gotRev != wantRev || !reflect.DeepEqual(got, wantSess) {
			t.Errorf("%s: stored (%v)\n%s\nwant\n%s", step, err, val, want)
		}
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
			t.Errorf("%s: session TTL %v, want the idle expiry", step, ttl)
		}
	}
	steps := []struct {
		kind engine.Kind
		text string
	}{
		{engine.Choose, "yes"}, {engine.Choose, "general"}, {engine.Choose, "pay"}, {engine.Choose, "paid"},
		{engine.Text, "me@example.com"}, {engine.Text, "010-1234-5678"}, {engine.Text, "결제 실패"},
		{engine.Text, "결제가 \"두 번\" 됐어요\n확인해 주세요"}, {engine.Choose, "submit"},
	}
	var claimID string
	for i, s := range steps {
		r := turn(t, c, s.kind, s.text)
		if r.Invalid {
			t.Fatalf("%q refused: %v", s.text, r.Messages)
		}
		check(strconv.Quote(s.text), int64(i+1))
		claimID = r.ClaimID
	}
	if claimID == "" {
		t.Fatal("no claim filed")
	}
	res := rdb.PTTL(ctx, shard.ClaimReservation(shard.Of("u-args"), claimID)).Val()
	if res <= time.Hour || res > 2*time.Hour {
		t.Errorf("receipt reservation TTL %v, want the ClaimIDTL", res)
	}
}
