package jsbridge

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProxyChurnMemory makes a million short-lived JsProxies and a million
// short-lived PyProxies (returned to JavaScript and dropped, or borrowed by
// a call) and checks that the handle table, the Python object table, the
// Python heap and the Go heap come back to where they were.
func TestProxyChurnMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	in, out, w := newPlainPyWorld(t)
	ctx := context.Background()
	run := func(code string) string {
		t.Helper()
		out.Reset()
		if err := in.Exec(ctx, code); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		return out.String()
	}
	run(`
import gc, sys, js
from pyodide.code import run_js
from pyodide._core_ffi import _objs, _flush_release
make_obj = js.Object.new
ident = run_js("(x) => x")
call_n = run_js("(g, n) => { let k = 0; for (let i = 0; i < n; i++) { if (g() !== undefined) k++; } return k; }")
def churn(n):
    for i in range(n):
        o = make_obj()
    for i in range(n // 10):
        ident([i])
    call_n(lambda: object(), n)
def stats():
    gc.collect()
    _flush_release()
    print(len(_objs), sys.getallocatedblocks())
`)
	type snap struct {
		handles, objs, blocks int
		heap                  uint64
	}
	measure := func() snap {
		var s snap
		for i := 0; i < 3; i++ {
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
			w.Collect()
		}
		f := strings.Fields(run("stats()"))
		s.objs, _ = strconv.Atoi(f[0])
		s.blocks, _ = strconv.Atoi(f[1])
		s.handles = w.handles.live()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.heap = ms.HeapInuse
		return s
	}
	run("churn(20000)")
	before := measure()
	start := time.Now()
	run("churn(1000000)")
	took := time.Since(start)
	after := measure()
	t.Logf("1M JsProxies + 100k borrowed + 1M returned PyProxies in %v", took)
	t.Logf("before: %+v", before)
	t.Logf("after:  %+v", after)
	if after.handles > before.handles+300 {
		t.Errorf("handles grew: %d -> %d", before.handles, after.handles)
	}
	if after.objs > before.objs+300 {
		t.Errorf("Python objects held for JavaScript grew: %d -> %d", before.objs, after.objs)
	}
	if after.blocks > before.blocks+20000 {
		t.Errorf("Python heap grew: %d -> %d blocks", before.blocks, after.blocks)
	}
	if after.heap > before.heap+32<<20 {
		t.Errorf("Go heap grew: %d -> %d", before.heap, after.heap)
	}
}
