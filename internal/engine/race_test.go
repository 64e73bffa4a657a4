//go:build race

package engine_test

// raceEnabled: the race detector's instrumentation makes frames larger
// (TestStepStack measures the plain build's).
const raceEnabled = true
