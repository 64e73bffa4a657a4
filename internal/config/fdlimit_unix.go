//go:build unix

package config

import "syscall"

// fdLimit is the process's limit of open descriptors; 0 when unknown. Go
// raises the soft limit to the hard one at start, so this is the real one.
func fdLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == 0 {
		return 0
	}
	if l.Cur > 1<<30 {
		return 1 << 30
	}
	return int(l.Cur)
}
