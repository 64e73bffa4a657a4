package server

import "time"

// SetQuietWait sets how long a pump waits after a frame before parking
// its connection, until restore.
func SetQuietWait(d time.Duration) (restore func()) {
	old := quietWait
	quietWait = d
	return func() { quietWait = old }
}

// Parked is how many connections wait in the poller, without a goroutine.
func Parked() int {
	p := parking()
	if p == nil {
		return 0
	}
	return p.parked()
}

// SetPings sets how often pings go out and how long a peer may stay
// silent, until restore.
func SetPings(period, wait time.Duration) (restore func()) {
	oldPeriod, oldWait := pingPeriod, pongWait
	pingPeriod, pongWait = period, wait
	return func() { pingPeriod, pongWait = oldPeriod, oldWait }
}
