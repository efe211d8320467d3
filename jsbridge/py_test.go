package jsbridge

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/loop"
	"wasmpy/wasmpy"
)

// Tests with a real interpreter (the built runtime), a real loop and a
// World attached, as the kernel wires them.

var (
	rtOnce sync.Once
	rtVal  *wasmpy.Runtime
	rtErr  error
)

func runtimeOrSkip(t testing.TB) *wasmpy.Runtime {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the runtime (skipped with -short)")
	}
	rtOnce.Do(func() {
		// HardStop keeps every call on the caller's goroutine, which the
		// loop's nested runs (top-level await) need: see loop/sandbox_test.go.
		rtVal, rtErr = wasmpy.LoadRuntime(context.Background(), wasmpy.RuntimeConfig{HardStop: true})
	})
	if errors.Is(rtErr, wasmpy.ErrNoRuntime) {
		t.Skipf("no runtime: %v", rtErr)
	}
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	return rtVal
}

// pyEnv is an interpreter with a World, on a running loop.
type pyEnv struct {
	t     testing.TB
	l     *loop.Loop
	in    *wasmpy.Interpreter
	w     *World
	ctx   context.Context
	mu    sync.Mutex
	out   strings.Builder
	errs  strings.Builder
	cance context.CancelFunc
	idle  func(context.Context) bool // loop.more's answer (loop.WithIdle)
}

func loopScheduler(l *loop.Loop) Scheduler {
	return SchedulerFuncs{
		SetTimerFunc: func(d time.Duration, repeat bool, fn func()) int64 {
			return int64(l.SetTimer(d, repeat, fn))
		},
		ClearTimerFunc: func(id int64) { l.ClearTimer(loop.TimerID(id)) },
		PostFunc:       l.Post,
	}
}

// loopFetch adapts the loop's Fetcher to FetchFunc, as the kernel does.
func loopFetch(ctx context.Context, l *loop.Loop, f *loop.Fetcher) FetchFunc {
	return func(r FetchRequest, done func(*FetchResponse, error)) func() {
		req := &loop.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: r.Body, Redirect: r.Redirect}
		return f.Start(l, ctx, req, func(res *loop.Response, err error) {
			var fe *loop.FetchError
			if errors.As(err, &fe) {
				err = NewFetchError(string(fe.Kind), fe)
			}
			if err != nil {
				done(nil, err)
				return
			}
			done(&FetchResponse{Status: res.Status, StatusText: res.StatusText, URL: res.URL,
				Redirected: res.Redirected, Type: res.Type, Header: res.Header, Body: res.Body}, nil)
		})
	}
}

func loopContext(l *loop.Loop) func() context.Context {
	return func() context.Context { return context.WithoutCancel(l.Context()) }
}

func newPyEnv(t testing.TB) *pyEnv {
	t.Helper()
	r := runtimeOrSkip(t)
	ctx, cancel := context.WithCancel(context.Background())
	e := &pyEnv{t: t, l: loop.New(nil), ctx: ctx, cance: cancel}
	done := make(chan error, 1)
	go func() { done <- e.l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var err error
	derr := e.l.Do(ctx, func() {
		e.in, err = r.NewInterpreter(ctx, wasmpy.Config{Output: func(stream, text string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if stream == "stderr" {
				e.errs.WriteString(text)
			} else {
				e.out.WriteString(text)
			}
		}})
		if err != nil {
			return
		}
		e.w, err = New(Options{
			Scheduler: loopScheduler(e.l), CallContext: loopContext(e.l),
			Fetch:  loopFetch(ctx, e.l, loop.NewFetcher(loop.AllowHosts("127.0.0.1"))),
			Stdout: func(s string) { e.mu.Lock(); e.out.WriteString(s); e.mu.Unlock() },
			Stderr: func(s string) { e.mu.Lock(); e.errs.WriteString(s); e.mu.Unlock() },
			Idle:   func(ctx context.Context) bool { return e.idle != nil && e.idle(ctx) },
		})
		if err != nil {
			return
		}
		if err = e.w.Attach(ctx, e.in); err != nil {
			return
		}
		// pyodide.http's pyfetch goes through the loop's Fetcher.
		if err = loop.Attach(ctx, e.l, e.in, loop.WithFetcher(loop.NewFetcher(loop.AllowHosts("127.0.0.1"))), loop.WithIdle(&e.idle)); err != nil {
			return
		}
		err = e.in.Exec(ctx, "import pyodide\nimport pyodide.webloop\npyodide.webloop.install()\n")
	})
	if derr != nil || err != nil {
		t.Fatalf("set up: %v %v\n%s", derr, err, e.errs.String())
	}
	t.Cleanup(func() { e.in.Close(); e.w.Close() })
	return e
}

// exec runs code in __main__ on the loop and returns stdout, stderr.
func (e *pyEnv) exec(code string) (string, string, error) {
	e.mu.Lock()
	e.out.Reset()
	e.errs.Reset()
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	var err error
	if derr := e.l.Do(ctx, func() { err = e.in.Exec(ctx, code) }); derr != nil {
		return "", "", derr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.out.String(), e.errs.String(), err
}

func (e *pyEnv) mustExec(code string) string {
	e.t.Helper()
	out, errs, err := e.exec(code)
	if err != nil {
		e.t.Fatalf("%v\ncode:\n%s\nstderr:\n%s", err, code, errs)
	}
	return out
}

// pyCase is Python code run in a pyEnv and the stdout it must print.
type pyCase struct{ name, code, want string }

// run runs each case as a subtest, in e's one interpreter.
func (e *pyEnv) run(t *testing.T, cases []pyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errs, err := e.exec(strings.TrimPrefix(c.code, "\n"))
			if err != nil {
				t.Fatalf("%v\n%s", err, errs)
			}
			if out != c.want {
				t.Errorf("got\n%s\nwant\n%s\nstderr:\n%s", out, c.want, errs)
			}
		})
	}
}

func TestPythonBasics(t *testing.T) {
	e := newPyEnv(t)
	e.run(t, []pyCase{
		{"import js", "import js\nprint(type(js).__name__, js.Math.max(1, 5, 3))", "JsProxy 5\n"},
		{"attrs", "import js\njs.globalThis.q = 5\nprint(js.q, js.Object.keys(js.JSON.parse('{\"a\":1}')))", "5 a\n"},
		{"run_js", "from pyodide.code import run_js\nprint(run_js('1+2'), run_js('\"s\"'), run_js('null'), run_js('undefined'))", "3 s jsnull None\n"},
		{"callback", "from pyodide.code import run_js\nf = run_js('(g) => g(20) + 1')\nprint(f(lambda x: x * 2))", "41\n"},
		{"roundtrip", "from pyodide.code import run_js\nident = run_js('(x) => x')\nl = [1]\nprint(ident(l) is l)", "True\n"},
		{"to_js", "from pyodide.ffi import to_js\nimport js\nprint(js.JSON.stringify(to_js({'a': [1, 2.5, 'x', None, True]})))", "{\"a\":[1,2.5,\"x\",null,true]}\n"},
		{"to_py", "from pyodide.code import run_js\nprint(run_js('({a: [1, 2], b: {c: null}})').to_py())", "{'a': [1, 2], 'b': {'c': jsnull}}\n"},
		{"error", "from pyodide.code import run_js\ntry:\n    run_js('throw new TypeError(\"bad\")')\nexcept Exception as e:\n    print(type(e).__name__, e.name, e.message)", "JsException TypeError bad\n"},
		{"pyerror", "from pyodide.code import run_js\nf = run_js('(g) => { try { g(); } catch (e) { return e.type + \"|\" + e.name; } }')\nprint(f(lambda: 1/0))", "ZeroDivisionError|PythonError\n"},
		{"console", "from pyodide.code import run_js\nrun_js('console.log(\"hi\", [1, 2])')", "hi [ 1, 2 ]\n"},
	})
}

// An interrupt stops JavaScript that Python called (the kernel calls the
// World's Interrupt along with the interpreter's).
func TestInterruptJSFromPython(t *testing.T) {
	in, out, w := newPlainPyWorld(t)
	go func() {
		// Only once the call runs: an idle interpreter ignores an interrupt.
		for deadline := time.Now().Add(30 * time.Second); !in.Running() && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		in.Interrupt()
		w.Interrupt()
	}()
	start := time.Now()
	err := in.Exec(context.Background(), "from pyodide.code import run_js\ntry:\n    run_js('for (;;) {}')\nexcept KeyboardInterrupt:\n    print('interrupted')\n")
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := out.String(); got != "interrupted\n" {
		t.Fatalf("got %q", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	out.Reset()
	if err := in.Exec(context.Background(), "print(run_js('1 + 1'))"); err != nil || out.String() != "2\n" {
		t.Fatalf("after: %v %q", err, out.String())
	}
}
