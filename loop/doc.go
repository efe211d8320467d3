// Package loop is the kernel-owned event loop: one goroutine (the one running
// Loop.Run) on which all Python and JavaScript execution happens, with
// browser-like ordering of macrotasks (posted completions, timers) and
// microtasks.
//
// It owns: the Loop (macrotask queue, microtask queue, timer heap, nested
// runs); the glue that drives the sandbox's asyncio event loop from Go
// (Attach, the "loop.*" host functions and the "webloop" dispatch target, see
// host.go and wasmpy/python/pyodide/webloop.py), including the blocking waits
// (time.sleep, and input() through WithBlocker) that keep the loop serving
// JavaScript while Python waits; and the Go side of HTTP for
// the sandbox (Fetcher, with one Policy hook, see fetch.go).
//
// It must not import wasmpy or jsbridge: it reaches an interpreter through the
// small Host interface, which *wasmpy.Interpreter satisfies. Other goroutines
// may only Post (or Do) work onto the loop; everything else (timers,
// microtasks, nested runs, the Host) is touched on the loop goroutine only.
package loop
