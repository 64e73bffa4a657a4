//go:build !unix

package loadtest

// RaiseNoFile does nothing here: there is no RLIMIT_NOFILE.
func RaiseNoFile() (uint64, error) { return 0, nil }
