package gcpause

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// gcPercent reads the setting without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// Holds and guest calls nest in any order; the setting comes back only when
// the last of them ends, and a release counts once.
func TestHoldAndGuestCalls(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(77))
	var r1, r2 func()
	type step struct {
		name string
		do   func()
		want int
	}
	for _, s := range []step{
		{"hold", func() { r1 = Hold() }, -1},
		{"enter", Enter, -1},
		{"release while a guest runs", func() { r1() }, -1},
		{"release again", func() { r1() }, -1},
		{"leave", Leave, 77},
		{"enter", Enter, -1},
		{"hold", func() { r2 = Hold() }, -1},
		{"leave while held", Leave, -1},
		{"release", func() { r2() }, 77},
	} {
		s.do()
		if got := gcPercent(); got != s.want {
			t.Fatalf("after %s: GC percent %d, want %d", s.name, got, s.want)
		}
	}
}

// While a call given up on runs, nothing here starts a collection.
func TestNoCollectionWhileAbandoned(t *testing.T) {
	numGC := func() uint32 {
		var st runtime.MemStats
		runtime.ReadMemStats(&st)
		return st.NumGC
	}
	if !FreeOSMemory() {
		t.Fatal("FreeOSMemory refused with no guest running")
	}
	Enter()
	if FreeOSMemory() {
		t.Fatal("FreeOSMemory collected while a guest ran")
	}
	last.Store(0) // a collection is due
	Abandon()
	before := numGC()
	Collect()
	if numGC() != before {
		t.Fatal("Collect collected while an abandoned call ran")
	}
	Unabandon()
	Leave()
	if Abandoned() != 0 {
		t.Fatalf("Abandoned() = %d", Abandoned())
	}
	Enter()
	last.Store(0)
	Collect()
	Leave()
	if numGC() == before {
		t.Fatal("Collect did not collect once the abandoned call ended")
	}
}
