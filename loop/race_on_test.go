//go:build race

package loop_test

// raceEnabled: the race detector is on. wasmpy writes the guest's signal
// flags from other goroutines (interrupts, ticks), as a signal handler would;
// the detector reports that, so the tests in the real sandbox skip.
const raceEnabled = true
