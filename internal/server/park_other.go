//go:build !linux

package server

type poller struct{}

// parking: only Linux parks idle connections (park_linux.go).
func parking() *poller { return nil }

func (p *poller) add(int, *conn) error { return nil }
func (p *poller) remove(int, *conn)    {}

func (p *poller) parked() int { return 0 }
