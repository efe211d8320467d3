package wasmpy

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// A long-running guest must not stop the host's other goroutines: Go's GC
// needs every goroutine to reach a safe point, which compiled wasm code does
// not offer (see internal/gcpause). Another goroutine allocating a lot must
// go on while the guest computes.
func TestGCWhileGuestComputes(t *testing.T) {
	in, _ := newInterp(t, Config{})
	done := make(chan error, 1)
	go func() { done <- in.Exec(context.Background(), "n = 0\nwhile n < 20_000_000: n += 1") }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	var sink [][]byte
	for i := 0; i < 2000; i++ {
		sink = append(sink, make([]byte, 64<<10))
		if len(sink) > 100 {
			sink = sink[:0]
		}
	}
	took := time.Since(start)
	<-done
	if took > time.Second {
		t.Fatalf("allocating 128 MB took %v while the guest computed", took)
	}
	t.Logf("allocating 128 MB took %v while the guest computed", took)
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	if st.NumGC == 0 {
		t.Fatalf("no collection ran")
	}
}
