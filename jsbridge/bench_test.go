package jsbridge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/wasmpy"
)

// TestFFIBench runs the synchronous parts of ../shared/bench/ffi_bench.py
// ($WASMPY_FFI_BENCH) in an interpreter without hard stops (the kernel's
// default configuration) and logs the per-operation costs. It fails only if
// the benchmark cannot run.
func TestFFIBench(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark")
	}
	dir := os.Getenv("WASMPY_FFI_BENCH")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "bench") // ../shared beside the repository
	}
	benchPy, err := os.ReadFile(dir + "/ffi_bench.py")
	if err != nil {
		t.Skipf("no ffi_bench.py: %v", err)
	}
	helpersJS, err := os.ReadFile(dir + "/ffi_helpers.js")
	if err != nil {
		t.Skipf("no ffi_helpers.js: %v", err)
	}
	in, out := newPlainPy(t)
	code := string(benchPy) + `
import json as _json
from pyodide.code import run_js as _run_js
js.benchHelpers = _run_js(` + pyRepr(string(helpersJS)) + `)
_res = {}
for _name, _fn, _n in [("empty_loop", _empty_loop, 100000), ("attr_read", _attr_read, 100000),
                       ("js_call", _js_call, 100000), ("py_from_js", _py_from_js, 100000),
                       ("to_js_100k", _to_js, 100000), ("to_py_100k", _to_py, 100000)]:
    _best, _times, _ = _rep(lambda: _fn(_n), 3)
    _res[_name] = (_best, _n)
_best, _, _info = _rep(lambda: _json_roundtrip(1000, 20), 3)
_res["json_roundtrip_1000rec"] = (_best, 20)
_base = _res["empty_loop"][0]
for _k, (_b, _n) in _res.items():
    _per = (_b - (_base if _k in ("attr_read", "js_call") else 0)) / _n * 1e6
    print(f"{_k}: total {_b * 1e3:.2f} ms, per op {_per:.3f} us")
`
	if err := in.Exec(context.Background(), code); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) add(_, s string) { l.mu.Lock(); l.b.WriteString(s); l.mu.Unlock() }
func (l *lockedBuf) String() string  { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *lockedBuf) Reset()          { l.mu.Lock(); l.b.Reset(); l.mu.Unlock() }

var (
	plainOnce sync.Once
	plainRT   *wasmpy.Runtime
	plainErr  error
)

// newPlainPy is an interpreter on the default runtime configuration (no
// hard stops) with a World and a fake scheduler, used from the test
// goroutine only.
func newPlainPy(t testing.TB) (*wasmpy.Interpreter, *lockedBuf) {
	in, out, _ := newPlainPyWorld(t)
	return in, out
}

func newPlainPyWorld(t testing.TB) (*wasmpy.Interpreter, *lockedBuf, *World) {
	t.Helper()
	runtimeOrSkip(t)
	plainOnce.Do(func() {
		plainRT, plainErr = wasmpy.LoadRuntime(context.Background(), wasmpy.RuntimeConfig{})
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	out := &lockedBuf{}
	in, err := plainRT.NewInterpreter(context.Background(), wasmpy.Config{Output: out.add})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Scheduler: newFakeScheduler(), Stdout: func(s string) { out.add("", s) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Attach(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); w.Close() })
	if err := in.Exec(context.Background(), "import pyodide, js\n"); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	_ = time.Now
	return in, out, w
}
