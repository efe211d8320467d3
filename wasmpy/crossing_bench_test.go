package wasmpy

import (
	"context"
	"testing"
)

// BenchmarkHostCrossing times one _wasmpy.call from Python to a Go function
// that returns a short result, less the cost of the Python loop around it.
func BenchmarkHostCrossing(b *testing.B) {
	in, out := newInterp(b, Config{})
	in.Register("noop", func(ctx context.Context, data []byte) ([]byte, error) { return data[:1], nil })
	code := `
import _wasmpy, time
c = _wasmpy.call
n = 200000
t0 = time.perf_counter()
for _ in range(n): pass
e = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(n): c("noop", b"xy")
d = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(n): len(b"xy")
l = time.perf_counter() - t0
print(f"call {(d-e)/n*1e9:.0f} ns  (builtin call {(l-e)/n*1e9:.0f} ns, loop {e/n*1e9:.0f} ns)")
`
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.Log(mustExec(b, in, out, code))
	}
}

// BenchmarkGuestEntry times one top-level call from Go into Python (Dispatch
// to a Python dispatcher that returns at once), as the event loop makes for
// a timer or a drain: its context, the interrupt watch and the Python
// dispatcher, before the callback does anything.
func BenchmarkGuestEntry(b *testing.B) {
	in, out := newInterp(b, Config{})
	mustExec(b, in, out, "import _wasmpy_rt\n_wasmpy_rt.register('nop', lambda data: b'')\n")
	ctx := context.Background()
	if _, err := in.Dispatch(ctx, "nop", []byte("x")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := in.Dispatch(ctx, "nop", []byte("x")); err != nil {
			b.Fatal(err)
		}
	}
}
