// Package gcpause keeps Go's garbage collector from starting a cycle while
// guest code runs, and runs collections only at points where the guest is in
// Go code.
//
// Why: a GC cycle needs every goroutine to stop at a safe point, and machine
// code compiled from wasm has none (wazero cannot preempt it). A collection
// that starts while Python computes would stop the whole process (heartbeat,
// control, interrupts) until the guest next calls the host. So while any
// guest call runs, the GC percentage is -1; the host's tick (a host call the
// guest makes every few milliseconds, see wasmpy_tick) and every other host
// call run a collection at most once a second.
//
// The GC setting is process-wide, so this package holds the one counter of
// guest calls in progress: the one piece of package-level state in wasmpy,
// unavoidable here.
package gcpause

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Every is the longest time between collections while guests run.
const Every = time.Second

var (
	mu      sync.Mutex
	running int // guest calls in progress
	held    int // holds in force (Hold)
	saved   int
	last    atomic.Int64 // unix nanoseconds of the last collection
)

// off turns collections off if they are on; with mu held.
func off() {
	if running == 0 && held == 0 {
		saved = debug.SetGCPercent(-1)
	}
}

// on restores the setting off saved if nothing needs collections off any
// more; with mu held.
func on() {
	if running == 0 && held == 0 {
		debug.SetGCPercent(saved)
	}
}

// Enter marks the start of a guest call.
func Enter() {
	mu.Lock()
	defer mu.Unlock()
	off()
	if running == 0 {
		last.Store(time.Now().UnixNano())
	}
	running++
}

// Leave marks the end of a guest call.
func Leave() {
	mu.Lock()
	defer mu.Unlock()
	running--
	on()
}

// Hold keeps collections off, guest calls or not, until the returned
// function is called (once; later calls do nothing): for a phase that makes
// short-lived garbage faster than collecting it would pay (a process's
// start-up). Collect still runs collections while guests run.
func Hold() (release func()) {
	mu.Lock()
	off()
	held++
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			held--
			on()
		})
	}
}

// abandoned counts guest calls given up on that still run: while one does,
// no collection may start at all (its stop-the-world phase would wait for
// that call, which may never reach Go code again, and stop the process).
var abandoned atomic.Int32

// Abandon marks a running guest call as given up on (collections stop until
// Unabandon); the call still Leaves when it ends.
func Abandon() { abandoned.Add(1) }

// Unabandon marks the end of a call given to Abandon.
func Unabandon() { abandoned.Add(-1) }

// Abandoned reports how many abandoned guest calls still run.
func Abandoned() int { return int(abandoned.Load()) }

// Collect runs a collection if guests have run for Every since the last one
// (and none was abandoned). Call it only from a goroutine that is in Go code
// on behalf of a guest (a host function); it is cheap when nothing is due.
func Collect() {
	if abandoned.Load() > 0 {
		return
	}
	now := time.Now().UnixNano()
	l := last.Load()
	if now-l < int64(Every) || !last.CompareAndSwap(l, now) {
		return
	}
	runtime.GC()
}

// FreeOSMemory collects and gives memory back to the system, as
// debug.FreeOSMemory, unless a guest call runs (which the collection would
// wait for). Call it where the caller's own guest is idle.
func FreeOSMemory() bool {
	mu.Lock()
	busy := running > 0
	mu.Unlock()
	if busy || abandoned.Load() > 0 {
		return false
	}
	debug.FreeOSMemory()
	return true
}
