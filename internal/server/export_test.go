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
