package server

import "syscall"

const canPeek = true

// peek is the socket's readiness for idleReader: false (wait) while it has
// nothing to read. A whole empty pong at the head of the stream is taken
// off it, and the wait ends with ponged set.
func (in *idleReader) peek(fd uintptr) bool {
	var head [8]byte
	n, _, err := syscall.Recvfrom(int(fd), head[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	if err == syscall.EAGAIN {
		return false
	}
	if err == nil && isEmptyPong(head[:n]) {
		if m, _, err := syscall.Recvfrom(int(fd), head[:emptyPongLen], syscall.MSG_DONTWAIT); err == nil && m == emptyPongLen {
			in.ponged = true
		}
	}
	return true
}
