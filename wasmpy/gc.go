package wasmpy

import "wasmpy/wasmpy/internal/gcpause"

// HoldGC keeps Go's garbage collector off until the returned function is
// called (once; later calls do nothing), in step with the interpreters of
// this process, which turn it off while guest code runs (a collection
// cannot stop compiled wasm, and would stop every other goroutine until the
// guest called the host). For a phase that makes short-lived garbage faster
// than collecting it would pay back, such as a kernel's start-up.
func HoldGC() (release func()) { return gcpause.Hold() }

// FreeOSMemory runs debug.FreeOSMemory unless guest code runs anywhere in
// the process (a collection would wait for it: for ever, for a call that was
// given up on), and reports whether it did. Call it where the caller's own
// interpreter is idle.
func FreeOSMemory() bool { return gcpause.FreeOSMemory() }
