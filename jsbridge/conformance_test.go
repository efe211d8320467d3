package jsbridge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/loop"
	"wasmpy/wasmpy"
)

// The Pyodide FFI conformance cases (../shared/conformance/pyodide-ffi, or
// $WASMPY_CONFORMANCE), run through the kernel's Python side (IPython, top-
// level await on the kernel's loop) as run_kernel.py runs them: a baseline
// cell, then per case the js_setup cell, the case's cell and a reset cell.

type confCase struct {
	ID        string `json:"id"`
	Area      string `json:"area"`
	Code      string `json:"code"`
	JSSetup   string `json:"js_setup"`
	NeedsHTTP bool   `json:"needs_http"`
}

type confExpected struct {
	ID     string  `json:"id"`
	Stdout string  `json:"stdout"`
	Error  *string `json:"error"`
}

func conformanceDir() string {
	if d := os.Getenv("WASMPY_CONFORMANCE"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "conformance", "pyodide-ffi") // ../shared beside the repository
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no conformance cases: %v", err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// kernelEnv is wasmpy_kernel in the sandbox with a World and the loop.
type kernelEnv struct {
	l   *loop.Loop
	in  *wasmpy.Interpreter
	w   *World
	ctx context.Context

	mu     sync.Mutex
	stream strings.Builder
}

func newKernelEnv(t *testing.T) *kernelEnv {
	t.Helper()
	r := runtimeOrSkip(t)
	ctx, cancel := context.WithCancel(context.Background())
	ke := &kernelEnv{l: loop.New(nil), ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- ke.l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	dctx, dcancel := context.WithTimeout(ctx, 120*time.Second)
	defer dcancel()
	var err error
	write := func(s string) {
		ke.mu.Lock()
		ke.stream.WriteString(s)
		ke.mu.Unlock()
	}
	derr := ke.l.Do(dctx, func() {
		ke.w, err = New(Options{Scheduler: loopScheduler(ke.l), CallContext: loopContext(ke.l), Stdout: write, Stderr: func(string) {}})
		if err != nil {
			return
		}
		var k *wasmpy.Kernel
		k, err = r.NewKernel(dctx, wasmpy.KernelConfig{Setup: []func(context.Context, *wasmpy.Interpreter) error{
			func(_ context.Context, in *wasmpy.Interpreter) error { return loop.Attach(ctx, ke.l, in) },
			func(_ context.Context, in *wasmpy.Interpreter) error { return ke.w.Attach(ctx, in) },
		}})
		if err != nil {
			return
		}
		ke.in = k.Interpreter()
		ke.in.SetOutput(func(stream, text string) {
			if stream == "stdout" {
				write(text)
			}
		})
		ke.in.Register("emit", func(context.Context, []byte) ([]byte, error) { return nil, nil })
	})
	if derr != nil || err != nil {
		t.Fatalf("start the kernel: %v %v", derr, err)
	}
	t.Cleanup(func() { ke.in.Close(); ke.w.Close() })
	return ke
}

// execute runs a cell as the kernel does; it returns stdout and the error
// name of the reply ("" when ok).
func (ke *kernelEnv) execute(code string, timeout time.Duration) (string, string, error) {
	ke.mu.Lock()
	ke.stream.Reset()
	ke.mu.Unlock()
	req, _ := json.Marshal(map[string]any{
		"op":      "execute",
		"content": map[string]any{"code": code, "silent": false, "store_history": false, "allow_stdin": false},
		"header":  map[string]any{"msg_id": fmt.Sprint(time.Now().UnixNano()), "msg_type": "execute_request"},
	})
	ctx, cancel := context.WithTimeout(ke.ctx, timeout)
	defer cancel()
	var out []byte
	var err error
	if derr := ke.l.Do(ctx, func() { out, err = ke.in.Dispatch(ctx, "kernel", req) }); derr != nil {
		return "", "", derr
	}
	if err != nil {
		return "", "", err
	}
	var rep struct {
		Status string `json:"status"`
		Ename  string `json:"ename"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return "", "", err
	}
	ke.mu.Lock()
	defer ke.mu.Unlock()
	if rep.Status == "ok" {
		rep.Ename = ""
	}
	return ke.stream.String(), rep.Ename, nil
}

func TestConformance(t *testing.T) {
	dir := conformanceDir()
	cases := readJSONL[confCase](t, filepath.Join(dir, "cases.jsonl"))
	exp := map[string]confExpected{}
	for _, e := range readJSONL[confExpected](t, filepath.Join(dir, "expected.jsonl")) {
		exp[e.ID] = e
	}
	ke := newKernelEnv(t)
	if _, ename, err := ke.execute("__acc_base__ = set(globals()) | {'__acc_base__'}", time.Minute); err != nil || ename != "" {
		t.Fatalf("baseline: %v %s", err, ename)
	}
	const reset = "exec('for k in [k for k in list(G) if k not in B]: del G[k]', {'G': globals(), 'B': __acc_base__})"
	pass, fail, skipped := 0, 0, 0
	areas := map[string][2]int{}
	for _, c := range cases {
		if c.NeedsHTTP {
			skipped++
			continue
		}
		want, ok := exp[c.ID]
		if !ok {
			t.Errorf("%s: no expected output", c.ID)
			continue
		}
		if c.JSSetup != "" {
			inner := "from pyodide.code import run_js\nrun_js(" + pyRepr(c.JSSetup) + ")\n"
			setup := "exec(compile(" + pyRepr(inner) + ", '<js_setup>', 'exec'), {})"
			if _, ename, err := ke.execute(setup, 30*time.Second); err != nil || ename != "" {
				t.Errorf("%s: setup failed: %v %s", c.ID, err, ename)
				fail++
				continue
			}
		}
		got, ename, err := ke.execute(c.Code, 30*time.Second)
		if err != nil {
			t.Errorf("%s: %v", c.ID, err)
			fail++
			continue
		}
		wantErr := ""
		if want.Error != nil {
			wantErr = *want.Error
		}
		a := areas[c.Area]
		if got == want.Stdout && ename == wantErr {
			pass++
			a[0]++
		} else {
			fail++
			a[1]++
			t.Errorf("%s:\n--- got (error %q)\n%s--- want (error %q)\n%s", c.ID, ename, got, wantErr, want.Stdout)
		}
		areas[c.Area] = a
		if _, ename, err := ke.execute(reset, 30*time.Second); err != nil || ename != "" {
			t.Fatalf("reset after %s: %v %s", c.ID, err, ename)
		}
	}
	for area, a := range areas {
		t.Logf("%-10s %d passed, %d failed", area, a[0], a[1])
	}
	t.Logf("conformance: %d passed, %d failed, %d skipped (needs_http)", pass, fail, skipped)
}

// pyRepr quotes s as a Python string literal.
func pyRepr(s string) string {
	b, _ := json.Marshal(s)
	// JSON string escapes are valid Python escapes, except that Python
	// would read \u2028 etc. the same; "/" is not escaped by Marshal.
	return string(b)
}
