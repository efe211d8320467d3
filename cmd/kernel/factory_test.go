package main

import (
	"runtime/debug"
	"testing"
)

func TestHoldGC(t *testing.T) {
	pct := debug.SetGCPercent(77)
	lim := debug.SetMemoryLimit(1 << 40)
	defer func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(lim)
	}()
	end := holdGC(64 << 20)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GC percent while held = %d, want -1 (off)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("memory limit while held = %d, want 64 MiB", got)
	}
	end()
	end() // a second call changes nothing
	if got := debug.SetGCPercent(-1); got != 77 {
		t.Errorf("GC percent after = %d, want 77", got)
	}
	debug.SetGCPercent(77)
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("memory limit after = %d, want the one before", got)
	}
	// A lower limit set before stays while held.
	debug.SetMemoryLimit(32 << 20)
	end = holdGC(64 << 20)
	if got := debug.SetMemoryLimit(-1); got != 32<<20 {
		t.Errorf("held limit = %d, want the lower 32 MiB", got)
	}
	end()
}
