//go:build !unix

package loadtest

// processCPU is unknown here.
func processCPU() float64 { return 0 }
