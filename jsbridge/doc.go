// Package jsbridge is the JavaScript world of a kernel and its bridge to the
// sandboxed Python: one goja Runtime with a browser/Node-like global
// environment, the handle tables that let Python hold JavaScript values
// (JsProxy) and JavaScript hold Python objects (PyProxy), and the host
// function and dispatch target through which the two call each other, with
// Pyodide 0.29's FFI semantics. The Python half is wasmpy/python/pyodide
// (_core_ffi.py, ffi, code), wasmpy/python/js.py and wasmpy/python/jstypes,
// with its hot paths in C in python.wasm (wasmpy/csrc/jsref.c: the JsProxy
// base type, simple calls both ways, packed lists of numbers); both speak
// the wire format of this package.
//
// It owns: the goja Runtime and everything inside it (globals, timers on the
// Scheduler, microtasks, console, fetch on a FetchFunc), the JS handle
// table, the PyProxy objects and their finalization, and the binary wire
// format of the "js" host function and the "jsffi" dispatch target (see
// wire.go, ops.go and pycalls.go).
//
// It must not import wasmpy or loop: it reaches the interpreter through the
// small Host interface (which *wasmpy.Interpreter satisfies) and the event
// loop through Scheduler, CallContext and FetchFunc.
//
// # Wiring
//
// On the loop goroutine, before Python imports pyodide:
//
//	w, err := jsbridge.New(jsbridge.Options{
//		Scheduler:   jsbridge.SchedulerFuncs{SetTimerFunc: ..., ClearTimerFunc: ..., PostFunc: l.Post},
//		CallContext: func() context.Context { return context.WithoutCancel(l.Context()) },
//		Stdout:      ..., Stderr: ...,
//		Fetch:       ..., // optional, see FetchFunc
//	})
//	err = w.Attach(ctx, interpreter)
//
// and make the kernel's interrupt call w.Interrupt() along with the
// interpreter's Interrupt (JavaScript that Python called is stopped only
// this way). py_test.go wires it exactly so.
//
// # Goroutines
//
// A World is not safe for concurrent use. Everything (New, Attach, the host
// functions, timer callbacks, RunString) must run on one goroutine at a time,
// the kernel's loop goroutine (or the goroutine a top-level interpreter call
// runs on while the loop goroutine waits for it). Interrupt may be called
// from any goroutine. Finalizers of PyProxy objects run on the Go runtime's
// cleanup goroutine; they only queue ids, which are handed to Python on the
// next call into Python (or by Collect).
//
// # Attribute reads kept by Python
//
// JavaScript runs only while Python waits for a host call (or between
// Python's entries), so between two host calls nothing in this World
// changes. jsref.c relies on it: the value of an own data property holding
// a primitive, read with op 'K' (whose answer '=' says it was read without
// running any JavaScript), is kept by the proxy until Python's next host
// call or the host's next call into Python. Getters, Proxies, inherited
// properties and objects are read each time. So nothing may change a
// JavaScript object except on the loop goroutine, in a host call or a loop
// turn, as the rule above already says.
//
// # Microtasks
//
// goja runs Promise jobs when the outermost JavaScript call returns to Go.
// Every call from Python into JavaScript and every timer callback is such a
// call, so microtasks run at the end of each of them. This differs from a
// browser in one observable way: a promise reaction registered from Python
// (p.then(f) on a settled promise) runs before the Python statement after
// the call, not after the whole Python task.
//
// # Calls that return a settled promise
//
// A call whose result is a fulfilled promise of the intrinsic Promise is
// answered with the value ('V'), not the promise: Python makes the
// PyodideFuture and settles it from its loop, as a promise reaction would.
// When Options.Idle says that nothing else is ready on the event loop once
// the call's jobs ran, the answer says so ('W'); awaiting that future before
// Python's next host call then settles it at once, without asking the loop
// again (loop.more). Work posted or timers falling due in between wait for
// the next turn, as if they had come just after the await.
//
// # Lifetimes
//
// A JsProxy holds one reference to a handle; Python releases it when the
// proxy is freed (batched, 256 at a time, by the C base type's deallocation). A PyProxy keeps its Python object
// alive until it is destroyed (destroy(); and, as in Pyodide, proxies made
// for the arguments of a call from Python into JavaScript are destroyed when
// the call returns, or when the promise it returned settles) or until Go
// collects the goja object, which plays the part of JavaScript's
// FinalizationRegistry (runtime.AddCleanup): the Python reference is then
// dropped at the next call into Python. goja has no WeakRef or
// FinalizationRegistry for JavaScript code: the globals of those names keep
// strong references and never run cleanups.
//
// # Buffers
//
// PyProxy.getBuffer gives a copy of the Python buffer, not a view of its
// memory: what JavaScript writes to data reaches the Python object when
// release() is called (Pyodide's view shows it at once), and strided
// buffers come as a contiguous copy (strides 1, offset 0).
//
// # Missing from goja, provided here
//
// Symbol.asyncIterator, async generators (rewritten into generators driven
// by a helper, for code run by run_js/RunString; see transform.go),
// queueMicrotask, structuredClone, TextEncoder/TextDecoder, atob/btoa,
// crypto.getRandomValues/randomUUID, performance, EventTarget/Event/
// AbortController, timers, console (Node-like formatting), fetch/Headers/
// Request/Response. URL, URLSearchParams and Buffer come from goja_nodejs.
// `for await` is not supported (goja cannot parse it).
package jsbridge
