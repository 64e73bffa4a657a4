package server

import (
	"io"
	"syscall"
)

const canReadNow = true

// readNow reads the socket fd without waiting: errWouldBlock when it has
// nothing yet, io.EOF when the peer closed it.
func readNow(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
