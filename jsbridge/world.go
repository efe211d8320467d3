package jsbridge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// Host is the interpreter as jsbridge sees it: *wasmpy.Interpreter
// satisfies it. Register makes a Go function callable from Python as
// _wasmpy.call(name, data); Dispatch calls the Python handler registered for
// target (see wasmpy/python/_wasmpy_rt.py), possibly re-entrantly from inside
// a host function, with the ctx that host function was given.
type Host interface {
	Register(name string, fn func(ctx context.Context, data []byte) ([]byte, error))
	Dispatch(ctx context.Context, target string, data []byte) ([]byte, error)
}

// Scheduler runs timers on the loop goroutine (the goroutine that owns the
// World). SetTimer calls fn after d (and every d if repeat) until ClearTimer;
// Post runs fn soon, after the current task.
type Scheduler interface {
	SetTimer(d time.Duration, repeat bool, fn func()) int64
	ClearTimer(id int64)
	Post(fn func())
}

// SchedulerFuncs adapts functions to Scheduler (for example the methods of a
// loop whose timer ids have their own type).
type SchedulerFuncs struct {
	SetTimerFunc   func(d time.Duration, repeat bool, fn func()) int64
	ClearTimerFunc func(id int64)
	PostFunc       func(fn func())
}

func (s SchedulerFuncs) SetTimer(d time.Duration, repeat bool, fn func()) int64 {
	return s.SetTimerFunc(d, repeat, fn)
}
func (s SchedulerFuncs) ClearTimer(id int64) { s.ClearTimerFunc(id) }
func (s SchedulerFuncs) Post(fn func())      { s.PostFunc(fn) }

// Options configures a World. The zero value is usable: no timers (setTimeout
// throws), console output discarded.
type Options struct {
	// Scheduler runs setTimeout/setInterval callbacks. Nil: timers throw.
	Scheduler Scheduler
	// Stdout and Stderr receive console output (log/info/debug/table to
	// Stdout, warn/error/trace to Stderr), a line at a time with its "\n".
	Stdout, Stderr func(text string)
	// Random is the source of crypto.getRandomValues and randomUUID. Nil:
	// crypto/rand.
	Random io.Reader
	// Logger receives internal diagnostics. Nil: slog.Default().
	Logger *slog.Logger
	// CallContext gives the context for calls into Python made outside a
	// host function (timer callbacks, promise reactions run by a macrotask).
	// A call made while Python is inside a host function (a nested run of
	// the loop) must carry that function's context; with loop/ this is
	// func() context.Context { return context.WithoutCancel(l.Context()) }.
	// Nil: the context given to Attach.
	CallContext func() context.Context
	// Fetch serves globalThis.fetch (see FetchFunc). Nil: fetch fails as
	// with no network. SetFetch changes it later.
	Fetch FetchFunc
	// Idle reports whether nothing but the running Python code is ready on
	// the event loop (loop.more's answer), asked after a call that returned
	// a fulfilled promise. Nil: never idle.
	Idle func(ctx context.Context) bool
}

// Target is the dispatch target the Python side registers (pyodide/_core_ffi.py);
// HostFunction is the host function it calls.
const (
	Target       = "jsffi"
	HostFunction = "js"
)

// ErrClosed is returned when a World is used after Close.
var ErrClosed = errors.New("wasmpy: JavaScript world closed")

// World is one kernel's JavaScript world. See the package documentation for
// its goroutine rule.
type World struct {
	rt   *goja.Runtime
	opts Options
	log  *slog.Logger
	rand io.Reader

	start time.Time

	// host is set by Attach; baseCtx is used for calls into Python that do
	// not come from a host function (timer callbacks); ctx is the context
	// of the host function running now, if any.
	host    Host
	baseCtx context.Context
	ctx     context.Context

	handles handleTable
	py      pyState

	timers  map[int64]int64 // JS timer id -> scheduler id
	timerID int64

	interrupted atomic.Bool
	running     atomic.Int32
	closed      bool
	jsErr       error // making the runtime failed (see js)

	// helpers are JavaScript functions of the prelude the bridge calls.
	helpers helpers

	// released PyProxy ids, queued by finalizers (any goroutine).
	relMu    sync.Mutex
	released []uint64
	relCount atomic.Int32
	// releaseNow: a PyProxy was destroyed explicitly (destroy()); its
	// Python object is released when the current operation ends, not with
	// a later batch (Pyodide drops the reference at once).
	releaseNow bool

	// propReads counts the property reads Python asked for (ops 'G' and
	// 'K'); tests use it to see which reads jsref.c answered itself.
	propReads int

	// numTypes are the dynamic types of goja's int and float numbers
	// (packNumbers), found on first use.
	numTypes [2]reflect.Type
}

// New makes a World. Its JavaScript runtime and global environment (some
// megabytes, milliseconds to make) are made when first needed: most
// notebooks never use JavaScript. It does not touch Python: call Attach to
// connect it to an interpreter.
func New(opts Options) (*World, error) {
	w := &World{
		opts:   opts,
		log:    opts.Logger,
		rand:   opts.Random,
		start:  time.Now(),
		timers: map[int64]int64{},
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.rand == nil {
		w.rand = rand.Reader
	}
	w.baseCtx = context.Background()
	w.helpers.refSym = goja.NewSymbol("pyproxy.attrs")
	w.handles.init()
	w.py.init()
	return w, nil
}

// js makes the JavaScript runtime and its global environment, once; every
// way into JavaScript calls it first. World's goroutine only.
func (w *World) js() error {
	if w.rt != nil || w.jsErr != nil {
		return w.jsErr
	}
	w.rt = goja.New()
	w.rt.SetFieldNameMapper(goja.UncapFieldNameMapper())
	steps := []struct {
		what string
		fn   func() error
	}{{"globals", w.installGlobals}, {"bridge", w.installBridge}, {"fetch", w.installFetch}}
	for _, step := range steps {
		if err := step.fn(); err != nil {
			w.jsErr = fmt.Errorf("javascript %s: %w", step.what, err)
			return w.jsErr
		}
	}
	return nil
}

// Runtime is the goja Runtime, made now if need be (nil if that failed).
// Use it only on the World's goroutine.
func (w *World) Runtime() *goja.Runtime {
	if err := w.js(); err != nil {
		w.log.Error("jsbridge: cannot make the JavaScript runtime", "err", err)
	}
	return w.rt
}

// Attach registers the host function "js" on h and remembers h for calls
// from JavaScript into Python (dispatch target "jsffi", registered by the
// Python side when pyodide.ffi is imported). ctx is used for calls into
// Python that do not happen inside a host function (timer callbacks).
func (w *World) Attach(ctx context.Context, h Host) error {
	if w.closed {
		return ErrClosed
	}
	if h == nil {
		return errors.New("attach: nil host")
	}
	w.host = h
	if ctx != nil {
		w.baseCtx = ctx
	}
	h.Register(HostFunction, w.hostCall)
	return nil
}

// Interrupt stops the JavaScript running now (it throws an uncatchable
// error that reaches Python as KeyboardInterrupt). Safe from any goroutine.
// When no JavaScript is running it does nothing: the kernel calls it along
// with the interpreter's Interrupt.
func (w *World) Interrupt() {
	if w.running.Load() > 0 {
		w.interrupted.Store(true)
		w.rt.Interrupt(errInterrupted)
	}
}

var errInterrupted = errors.New("KeyboardInterrupt")

// Untouched reports whether Python has never been given a JS value and no
// timer is set: a snapshot of the interpreter loses nothing of the World.
func (w *World) Untouched() bool {
	return len(w.handles.vals) <= 1 && len(w.py.protos) == 0 && len(w.timers) == 0
}

// Close stops the World's timers and releases its handles. The World must
// not be used afterwards.
func (w *World) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if s := w.opts.Scheduler; s != nil {
		for _, sid := range w.timers {
			s.ClearTimer(sid)
		}
	}
	w.timers = nil
	w.handles.init()
	return nil
}

// RunString evaluates JavaScript source in the global scope (as a script)
// and returns its completion value. Microtasks run before it returns.
func (w *World) RunString(name, src string) (goja.Value, error) {
	if w.closed {
		return nil, ErrClosed
	}
	if err := w.js(); err != nil {
		return nil, err
	}
	if out, changed := transformSource(src); changed {
		src = out
	}
	prg, err := goja.Compile(name, src, false)
	if err != nil {
		return nil, err
	}
	var v goja.Value
	err = w.guard(func() error {
		var err error
		v, err = w.rt.RunProgram(prg)
		return err
	})
	return v, err
}

// guard runs fn (which runs JavaScript) and turns an interrupt into
// errInterrupted. The outermost guard clears goja's interrupt flag.
func (w *World) guard(fn func() error) error {
	top := w.running.Add(1) == 1
	if top {
		w.rt.ClearInterrupt()
		w.interrupted.Store(false)
	}
	err := fn()
	w.running.Add(-1)
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		err = errInterrupted
	}
	if top && w.interrupted.Load() {
		w.interrupted.Store(false)
		w.rt.ClearInterrupt()
	}
	return err
}

// callContext is the context for a call into Python made now.
func (w *World) callContext() context.Context {
	if w.ctx != nil {
		return w.ctx
	}
	if w.opts.CallContext != nil {
		return w.opts.CallContext()
	}
	return w.baseCtx
}
