package wasmpy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"wasmpy/interp"
	"wasmpy/wasmpy/internal/gcpause"
)

// Guest paths of the sandbox's file tree.
const (
	GuestHome   = "/home/pyodide" // the scratch directory, also the cwd and $HOME
	GuestTmp    = "/tmp"
	GuestLib    = "/usr"            // lib.zip: /usr/lib/python3.13, /usr/share/zoneinfo
	GuestPyRoot = "/usr/lib/wasmpy" // the project's own Python packages
)

// Mount makes a host directory visible inside the sandbox.
type Mount struct {
	Host     string // directory on the host
	Guest    string // absolute path inside; empty means the same as Host
	ReadOnly bool
}

// FSMount makes a Go file system visible, read-only, inside the sandbox.
type FSMount struct {
	FS    fs.FS
	Guest string
}

// Config configures one interpreter.
type Config struct {
	// Mounts are host directories the interpreter may see. Nothing else of the
	// host is visible.
	Mounts []Mount
	// FSMounts are read-only Go file systems to mount (for example a zip).
	FSMounts []FSMount
	// Env is the interpreter's environment; HOME is set to GuestHome unless
	// given. Nothing of the host's environment is passed otherwise.
	Env map[string]string
	// Output receives what the guest writes to stdout ("stdout") and stderr
	// ("stderr"), as it is written. Nil discards it (SetOutput changes it).
	Output func(stream string, text string)
	// InterruptGrace is how long an interrupt may take to land before the
	// interpreter is stopped (when the runtime allows hard stops). Zero: 500ms.
	InterruptGrace time.Duration
	// Logger: nil means the runtime's.
	Logger *slog.Logger
	// Restore, when set, starts the interpreter from a snapshot (see
	// Interpreter.Snapshot) instead of initializing CPython: Mounts, Env
	// and the runtime must be those the snapshot was made with (its key).
	Restore *Snapshot
}

// HostFunc is a Go function that Python calls as _wasmpy.call(name, data).
// It may call back into Python with Interpreter.Dispatch using the ctx it was
// given. Its ctx is cancelled when the interpreter is interrupted: return
// ctx.Err() (or a KeyboardInterrupt error) to raise KeyboardInterrupt.
type HostFunc = func(ctx context.Context, data []byte) ([]byte, error)

// Interpreter is one sandboxed CPython. Calls into it (Exec, Dispatch) must
// come from one goroutine at a time, or from host functions that it is
// running; Interrupt and Close may be called from any goroutine.
type Interpreter struct {
	rt      *Runtime
	cfg     Config
	log     *slog.Logger
	mem     *mappedMemory // the guest's memory, when it is a mapping of ours
	mod     api.Module
	scratch string

	// fns[d] are the exported functions used at nesting depth d: a wazero
	// api.Function has one call stack and must not be re-entered.
	fns                                           []*guestFuncs
	sigTripped, sigIsTripped, sigBreaker, sigTick uint32
	// resultAddr is the guest's result slot (wasmpy_result_addr): a
	// dispatch that returns 3 left its result there.
	resultAddr uint32
	// hostCalls counts the guest's host calls (only the guest's goroutine
	// makes them).
	hostCalls uint32

	mu       sync.Mutex
	handlers map[string]HostFunc
	output   func(stream, text string)

	// State of the call in progress; touched only by the calling goroutine.
	pending []byte
	results [][]byte
	depth   int
	carry   map[string][]byte // incomplete UTF-8 at the end of a write
	// argBuf is guest memory (from the guest's malloc) of argCap bytes
	// that holds the arguments of calls into the guest (see argBuffer).
	argBuf, argCap uint32

	gen         atomic.Uint64 // counts top-level calls; 0 bit = a call is running
	pendSIGINT  atomic.Bool   // InterruptNext: raise SIGINT when the next call begins
	wake        chan struct{}
	intr        atomic.Pointer[chan struct{}] // closed by an interrupt (see hostCtx)
	callCancel  atomic.Pointer[context.CancelCauseFunc]
	abandoned   chan struct{} // closed when a call is given up on
	abandonOnce sync.Once
	// abandonedCall: the running call was given up on (gcpause.Abandon);
	// cleared, with gcpause.Unabandon, when it returns.
	abandonedCall atomic.Bool
	closeLater    atomic.Bool // Close was called while an abandoned call ran
	dead          atomic.Pointer[error]
	closeOnce     sync.Once
}

// errHardStop is the cause given when an interrupt did not land in time.
var errHardStop = errors.New("interrupt did not land in time; the interpreter was stopped")

// errAbandoned is why an interpreter whose code could not be stopped died.
var errAbandoned = errors.New("interrupt did not land in time: the interpreter was given up on, " +
	"but its C code still runs on a CPU until it ends (restart the kernel to stop it)")

// NewInterpreter instantiates python.wasm and initializes CPython.
func (r *Runtime) NewInterpreter(ctx context.Context, cfg Config) (*Interpreter, error) {
	if err := r.Wait(ctx); err != nil {
		return nil, err
	}
	if cfg.InterruptGrace == 0 {
		cfg.InterruptGrace = 500 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = r.log
	}
	in := &Interpreter{
		rt: r, cfg: cfg, log: log,
		handlers:  map[string]HostFunc{},
		output:    cfg.Output,
		carry:     map[string][]byte{},
		wake:      make(chan struct{}, 1),
		abandoned: make(chan struct{}),
	}
	intr := make(chan struct{})
	in.intr.Store(&intr)
	if err := in.start(ctx); err != nil {
		in.Close()
		return nil, fmt.Errorf("start interpreter: %w", err)
	}
	return in, nil
}

func (in *Interpreter) start(ctx context.Context) error {
	scratch, err := os.MkdirTemp("", "wasmpy-scratch-*")
	if err != nil {
		return err
	}
	in.scratch = scratch
	home := filepath.Join(scratch, "home")
	tmp := filepath.Join(scratch, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	snap := in.cfg.Restore
	if snap != nil {
		if err := snap.restoreFiles(scratch); err != nil {
			return err
		}
	}
	// Go file systems: read-only, refusing write modes at open.
	var fsc wazero.FSConfig = wazero.NewFSConfig()
	ro := append([]FSMount{{in.rt.lib, GuestLib}, {in.rt.pylib, GuestPyRoot}}, in.cfg.FSMounts...)
	for _, m := range ro {
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(&sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: m.FS}}, m.Guest)
	}
	// Host directories: confined, so that no symlink leads out of them.
	dirs := append([]Mount{{Host: home, Guest: GuestHome}, {Host: tmp, Guest: GuestTmp}}, in.cfg.Mounts...)
	for _, m := range dirs {
		g := m.Guest
		if g == "" {
			g = m.Host
		}
		if !filepath.IsAbs(m.Host) || !filepath.IsAbs(g) {
			return fmt.Errorf("mount %q -> %q: paths must be absolute", m.Host, g)
		}
		cfs, err := newConfinedFS(m.Host, m.ReadOnly)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Host, err)
		}
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(cfs, g)
	}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("python3.13").
		WithStartFunctions("_initialize").
		WithFSConfig(fsc).
		WithStdout(streamWriter{in, "stdout"}).
		WithStderr(streamWriter{in, "stderr"}).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithNanosleep(in.sleep).
		WithOsyield(func() {})
	env := guestEnv(in.cfg)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mc = mc.WithEnv(k, env[k])
	}

	cctx := context.WithValue(ctx, ctxKey{}, in)
	mod, err := in.rt.rt.InstantiateModule(experimental.WithMemoryAllocator(cctx, memoryAllocator(&in.mem)), in.rt.compiled, mc)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	in.mod = mod

	if snap != nil {
		in.cfg.Restore = nil // the caller may release it once we return
		t0 := time.Now()
		if err := in.restoreMemory(snap); err != nil {
			return err
		}
		in.log.Debug("snapshot memory restored", "took", time.Since(t0), "mib", snap.size>>20)
	} else {
		res, err := exported(mod, "wasmpy_init").Call(cctx)
		if err != nil {
			return in.died(fmt.Errorf("wasmpy_init: %w", err))
		}
		if res[0] != 0 {
			return fmt.Errorf("CPython failed to initialize (code %d)", res[0])
		}
	}
	sig := exported(mod, "wasmpy_signal_addr")
	addrs := make([]uint32, 4)
	for k := range addrs {
		r, err := sig.Call(cctx, uint64(k))
		if err != nil {
			return in.died(fmt.Errorf("wasmpy_signal_addr: %w", err))
		}
		addrs[k] = uint32(r[0])
	}
	in.sigTripped, in.sigIsTripped, in.sigBreaker, in.sigTick = addrs[0], addrs[1], addrs[2], addrs[3]
	for k, a := range addrs {
		if a == 0 || a%4 != 0 {
			return fmt.Errorf("python.wasm reports a bad signal address %d: %#x", k, a)
		}
	}
	r, err := exported(mod, "wasmpy_result_addr").Call(cctx)
	if err != nil {
		return in.died(fmt.Errorf("wasmpy_result_addr: %w", err))
	}
	if in.resultAddr = uint32(r[0]); in.resultAddr == 0 || in.resultAddr%4 != 0 {
		return fmt.Errorf("python.wasm reports a bad result slot: %#x", in.resultAddr)
	}
	if snap != nil {
		return nil // booted before the snapshot
	}
	boot := "import sys, os\nsys.path.insert(0, " + pyQuote(GuestPyRoot) + ")\nimport _wasmpy_rt\n" +
		"os.chdir(" + pyQuote(GuestHome) + ")\ndel os\n" +
		"sys.stdout.reconfigure(line_buffering=True)\nsys.stderr.reconfigure(line_buffering=True)\n"
	if err := in.Exec(ctx, boot); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	return nil
}

// guestEnv is the environment the guest gets: cfg.Env, and HOME.
func guestEnv(cfg Config) map[string]string {
	env := map[string]string{"HOME": GuestHome}
	for k, v := range cfg.Env {
		env[k] = v
	}
	return env
}

// preopens is how many directories the guest has open from the start (its
// mounts): file descriptors 3 to 2+preopens.
func (in *Interpreter) preopens() int {
	return 2 + len(in.cfg.FSMounts) + 2 + len(in.cfg.Mounts)
}

// Scratch is the host directory that holds the interpreter's home and /tmp.
func (in *Interpreter) Scratch() string { return in.scratch }

// SetOutput changes where stdout and stderr go.
func (in *Interpreter) SetOutput(fn func(stream, text string)) {
	in.mu.Lock()
	in.output = fn
	in.mu.Unlock()
}

// Write sends text to the interpreter's output as if the guest had written
// it to stream ("stdout" or "stderr"): for the JS console, say.
func (in *Interpreter) Write(stream, text string) {
	in.mu.Lock()
	out := in.output
	in.mu.Unlock()
	if out != nil && in.dead.Load() == nil {
		out(stream, text)
	}
}

// Register makes fn callable from Python as _wasmpy.call(name, data).
func (in *Interpreter) Register(name string, fn HostFunc) {
	in.mu.Lock()
	in.handlers[name] = fn
	in.mu.Unlock()
}

// callHost runs the host function name for the guest. It sees a context
// that an interrupt cancels (see hostCtx).
func (in *Interpreter) callHost(ctx context.Context, name []byte, data []byte) ([]byte, error) {
	in.mu.Lock()
	fn := in.handlers[string(name)]
	in.mu.Unlock()
	if fn == nil {
		return nil, fmt.Errorf("no host function %q", name)
	}
	out, err := fn(&hostCtx{Context: ctx, intr: *in.intr.Load()}, data)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return nil, KeyboardInterrupt("interrupted")
	}
	return out, err
}

// hostCtx is the context of a host function: its guest call's, and also
// done when the interpreter is interrupted while it runs. It costs no
// allocation beyond itself: the interrupt closes the channel shared by the
// host calls in progress and makes a fresh one for later calls.
type hostCtx struct {
	context.Context
	intr chan struct{}
}

func (c *hostCtx) Done() <-chan struct{} { return c.intr }

func (c *hostCtx) Err() error {
	select {
	case <-c.intr:
		if err := c.Context.Err(); err != nil {
			return err
		}
		return context.Canceled
	default:
		return nil
	}
}

// interruptHosts cancels the contexts of the host calls in progress.
func (in *Interpreter) interruptHosts() {
	fresh := make(chan struct{})
	close(*in.intr.Swap(&fresh))
}

// ErrExecFailed is returned by Exec when the code raised; the traceback went
// to stderr.
var ErrExecFailed = errors.New("python code raised an exception")

// Exec runs Python source in __main__. An exception is printed to stderr and
// reported as ErrExecFailed; a trap or hard stop as an error wrapping
// interp.ErrDead (the interpreter is then closed).
func (in *Interpreter) Exec(ctx context.Context, code string) error {
	rc, err := in.callWithBytes(ctx, "wasmpy_exec", "", []byte(code))
	if err != nil {
		return err
	}
	switch rc {
	case 0:
		return nil
	case 1:
		return ErrExecFailed
	default:
		return fmt.Errorf("wasmpy_exec returned %d", rc)
	}
}

// Dispatch calls the Python handler registered for target (see _wasmpy_rt)
// with data and returns its result. It may be called from a host function
// (re-entrantly) with the ctx that function was given.
func (in *Interpreter) Dispatch(ctx context.Context, target string, data []byte) ([]byte, error) {
	in.results = append(in.results, nil)
	rc, err := in.callWithBytes(ctx, "wasmpy_dispatch", target, data)
	out := in.results[len(in.results)-1]
	in.results = in.results[:len(in.results)-1]
	if err != nil {
		return nil, err
	}
	switch rc {
	case 0:
		return out, nil
	case 3:
		// In the result slot; nothing ran in the guest since it was written.
		mem := in.mod.Memory()
		n, ok := mem.ReadUint32Le(in.resultAddr)
		b, ok2 := mem.Read(in.resultAddr+4, n)
		if !ok || !ok2 {
			return nil, fmt.Errorf("dispatch to %q: result slot out of bounds", target)
		}
		return append([]byte(nil), b...), nil
	case 1:
		return nil, fmt.Errorf("dispatch to %q: %w", target, ErrExecFailed)
	default:
		return nil, fmt.Errorf("dispatch to %q: no dispatcher (code %d)", target, rc)
	}
}

type guestFuncs struct {
	exec, dispatch, malloc, free api.Function
}

func (in *Interpreter) funcsAt(depth int) *guestFuncs {
	for len(in.fns) <= depth {
		in.fns = append(in.fns, &guestFuncs{
			exec:     exported(in.mod, "wasmpy_exec"),
			dispatch: exported(in.mod, "wasmpy_dispatch"),
			malloc:   exported(in.mod, "malloc"),
			free:     exported(in.mod, "free"),
		})
	}
	return in.fns[depth]
}

// callWithBytes copies its argument into guest memory and calls the export
// name(ptr, len): at the top level with a fresh call context, or nested,
// from a host function, with the context that function was given. The
// argument is data, preceded by target and a NUL when target is not empty
// (the dispatch payload), written in place to spare a copy.
func (in *Interpreter) callWithBytes(ctx context.Context, name, target string, data []byte) (uint32, error) {
	if p := in.dead.Load(); p != nil {
		return 0, *p
	}
	if in.depth > 0 {
		if interpFrom(ctx) != in {
			return 0, errors.New("re-entrant call without the host function's context")
		}
		return in.invoke(ctx, name, target, data)
	}
	cctx, cancel := context.WithCancelCause(context.WithValue(ctx, ctxKey{}, in))
	defer cancel(nil)
	defer context.AfterFunc(cctx, in.interruptHosts)() // a hard stop, or the caller's ctx
	in.callCancel.Store(&cancel)
	defer in.callCancel.Store(nil)
	gcpause.Enter()
	defer gcpause.Leave()
	defer func() {
		if in.abandonedCall.Swap(false) {
			gcpause.Unabandon()
		}
	}()
	in.beginCall()
	defer in.endCall()
	rc, err := in.invoke(cctx, name, target, data)
	if p := in.dead.Load(); p != nil && err == nil {
		return 0, *p // abandoned while it ran: its result does not count
	}
	return rc, err
}

// invoke makes the call at the current nesting depth.
func (in *Interpreter) invoke(ctx context.Context, name, target string, data []byte) (uint32, error) {
	f := in.funcsAt(in.depth)
	fn := f.exec
	if name == "wasmpy_dispatch" {
		fn = f.dispatch
	}
	in.depth++
	defer func() { in.depth-- }()
	n := len(data)
	if target != "" {
		n += len(target) + 1
	}
	ptr, owned, err := in.argBuffer(ctx, f, n+1)
	if err != nil {
		return 0, err
	}
	mem := in.mod.Memory()
	at := ptr
	if target != "" {
		mem.WriteString(at, target)
		mem.WriteByte(at+uint32(len(target)), 0)
		at += uint32(len(target)) + 1
	}
	mem.Write(at, data)
	r, err := fn.Call(ctx, uint64(ptr), uint64(n))
	if err != nil {
		return 0, in.died(in.causeOf(ctx, err))
	}
	rc := uint32(r[0])
	if owned {
		if _, err := f.free.Call(ctx, uint64(ptr)); err != nil {
			return 0, in.died(in.causeOf(ctx, err))
		}
	}
	return rc, nil
}

// maxKeptArg is the largest argument buffer kept in guest memory between
// calls; larger arguments get a buffer of their own, freed after the call.
const maxKeptArg = 64 << 10

// argBuffer returns guest memory for a call's argument of n bytes: the
// buffer kept between calls when n fits in it, which spares a call to the
// guest's malloc and free for every call into Python (most arguments are
// small). One buffer serves every nesting depth: wasmpy_exec and
// wasmpy_dispatch copy their argument into a Python object before running
// any Python, so a nested call may overwrite or replace the buffer. owned
// reports a buffer the caller must free.
func (in *Interpreter) argBuffer(ctx context.Context, f *guestFuncs, n int) (ptr uint32, owned bool, err error) {
	if n <= int(in.argCap) {
		return in.argBuf, false, nil
	}
	size := n
	if size <= maxKeptArg {
		size = max(256, 1<<bitsFor(n))
	}
	r, err := f.malloc.Call(ctx, uint64(size))
	if err != nil {
		return 0, false, in.died(in.causeOf(ctx, err))
	}
	ptr = uint32(r[0])
	if ptr == 0 {
		return 0, false, errors.New("out of guest memory for the call's arguments")
	}
	if size > maxKeptArg {
		return ptr, true, nil
	}
	if in.argBuf != 0 {
		if _, err := f.free.Call(ctx, uint64(in.argBuf)); err != nil {
			return 0, false, in.died(in.causeOf(ctx, err))
		}
	}
	in.argBuf, in.argCap = ptr, uint32(size)
	return ptr, false, nil
}

// bitsFor is the number of bits needed to write n-1: 1<<bitsFor(n) >= n.
func bitsFor(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

func (in *Interpreter) causeOf(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, errHardStop) {
		return errHardStop
	}
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("python exited with code %d", ee.ExitCode())
	}
	// wazero's trap errors carry a guest stack trace after the first line.
	msg := err.Error()
	if i := strings.Index(msg, "\nwasm stack trace:"); i > 0 {
		in.log.Debug("guest trap", "trace", msg[i+1:])
		msg = msg[:i]
	}
	return errors.New(msg)
}

// died marks the interpreter as unusable and closes it.
func (in *Interpreter) died(cause error) error {
	err := in.markDead(cause)
	go in.Close()
	return err
}

func (in *Interpreter) markDead(cause error) error {
	err := fmt.Errorf("%w: %v", interp.ErrDead, cause)
	if in.dead.CompareAndSwap(nil, &err) {
		in.log.Warn("interpreter died", "cause", cause)
	}
	return *in.dead.Load()
}

// Dead reports why the interpreter cannot be used, or nil.
func (in *Interpreter) Dead() error {
	if p := in.dead.Load(); p != nil {
		return *p
	}
	return nil
}

func (in *Interpreter) beginCall() {
	// A stale interrupt (sent while nothing ran) must not hit this call.
	select {
	case <-in.wake:
	default:
	}
	mem := in.mod.Memory()
	mem.WriteUint32Le(in.sigTripped, 0)
	mem.WriteUint32Le(in.sigIsTripped, 0)
	g := in.gen.Add(1) // odd: running
	go in.ticker(g)
	if in.pendSIGINT.Swap(false) {
		in.Interrupt()
	}
}

// InterruptNext interrupts the call in progress, or if none is, the next one
// when it begins (before any of its Python code runs), unless
// CancelInterruptNext comes first: for an interrupt meant for a call that is
// about to be made.
func (in *Interpreter) InterruptNext() {
	in.pendSIGINT.Store(true)
	// If a call began meanwhile, it may have looked already: deliver it here
	// unless it took it.
	if in.gen.Load()%2 == 1 && in.pendSIGINT.CompareAndSwap(true, false) {
		in.Interrupt()
	}
}

// CancelInterruptNext forgets an interrupt InterruptNext kept for the next
// call.
func (in *Interpreter) CancelInterruptNext() { in.pendSIGINT.Store(false) }

// tickEvery is how often a running guest is made to call the host, where
// the garbage collector can run (see internal/gcpause): without it, a long
// pure-Python loop would either never collect or stall the whole process.
const tickEvery = 10 * time.Millisecond

// ticker raises SIGUSR2 in the guest while call g runs; its handler calls the
// host (see wasmpy_tick in wasmpymodule.c).
func (in *Interpreter) ticker(g uint64) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for range t.C {
		if in.gen.Load() != g || in.dead.Load() != nil {
			return
		}
		mem := in.mod.Memory()
		mem.WriteUint32Le(in.sigTick, 1)
		mem.WriteUint32Le(in.sigIsTripped, 1)
		in.setBreaker()
	}
}

// setBreaker sets the eval breaker's signals-pending bit. The guest updates
// the word without atomics (wasm32 without threads), so a race can still
// lose the bit: callers set it again until the signal is taken.
func (in *Interpreter) setBreaker() {
	if b, ok := in.mod.Memory().Read(in.sigBreaker, 4); ok {
		atomic.OrUint32((*uint32)(unsafe.Pointer(&b[0])), 2)
	}
}

func (in *Interpreter) endCall() {
	in.gen.Add(1) // even: idle
	if in.closeLater.Load() {
		in.Close()
	}
}

// Running reports whether a call into the interpreter is in progress (an
// Interrupt now would land in it).
func (in *Interpreter) Running() bool { return in.gen.Load()%2 == 1 }

// Abandoned is closed when a call was given up on because an interrupt did
// not land in time and the runtime cannot stop guest code (RuntimeConfig.
// HardStop false). The call itself returns only when the guest's C code next
// reaches Python's eval loop; callers that must not wait (the kernel) select
// on this channel. The interpreter is dead from then on.
func (in *Interpreter) Abandoned() <-chan struct{} { return in.abandoned }

// Interrupt raises KeyboardInterrupt in the running Python code, as a SIGINT
// would: in a pure-Python loop, in time.sleep (which wakes at once), in a long
// C call that checks for signals (a regex), and in a host function waiting
// (its context is cancelled). If Python has not taken the signal within the
// grace period and the runtime allows hard stops, the interpreter is stopped
// and its call returns an error wrapping interp.ErrDead. Interrupting an idle
// interpreter does nothing.
func (in *Interpreter) Interrupt() {
	g := in.gen.Load()
	if g%2 == 0 || in.dead.Load() != nil {
		return
	}
	in.raiseSIGINT()
	select {
	case in.wake <- struct{}{}:
	default:
	}
	in.interruptHosts()
	go in.watchInterrupt(g)
}

func (in *Interpreter) raiseSIGINT() {
	mem := in.mod.Memory()
	mem.WriteUint32Le(in.sigTripped, 1)
	mem.WriteUint32Le(in.sigIsTripped, 1)
	in.setBreaker()
}

// watchInterrupt keeps the eval breaker bit set until CPython takes the
// signal (the guest may clear the bit in a race with our write), and stops
// the interpreter if it never does.
func (in *Interpreter) watchInterrupt(g uint64) {
	deadline := time.Now().Add(in.cfg.InterruptGrace)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if in.gen.Load() != g || in.dead.Load() != nil {
			return
		}
		tripped, _ := in.mod.Memory().ReadUint32Le(in.sigTripped)
		if tripped == 0 {
			return
		}
		if time.Now().After(deadline) {
			in.log.Warn("interrupt did not land; stopping the interpreter", "grace", in.cfg.InterruptGrace)
			if in.rt.cfg.HardStop {
				if c := in.callCancel.Load(); c != nil {
					(*c)(errHardStop)
				}
			} else {
				// Nothing can stop the guest: give up on it. Its call returns
				// when its C code next reaches Python's eval loop.
				in.abandonOnce.Do(func() {
					gcpause.Abandon()
					in.abandonedCall.Store(true)
					if in.gen.Load() != g && in.abandonedCall.Swap(false) {
						gcpause.Unabandon() // the call ended meanwhile
					}
					in.markDead(errAbandoned)
					in.log.Warn("the interpreter's C code could not be stopped: it runs on until it ends, and Go's garbage collector waits for that; restart the kernel to end it")
					close(in.abandoned)
				})
			}
			return
		}
		in.mod.Memory().WriteUint32Le(in.sigIsTripped, 1)
		in.setBreaker()
	}
}

// sleep is WASI's sleep: real time, cut short by an interrupt.
func (in *Interpreter) sleep(ns int64) {
	if ns <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-in.wake:
	}
}

// Close ends the interpreter and removes its scratch directory. If an
// abandoned call still runs, that happens when it returns.
func (in *Interpreter) Close() error {
	if in.gen.Load()%2 == 1 && in.dead.Load() != nil && !in.rt.cfg.HardStop {
		in.closeLater.Store(true)
		return nil
	}
	var err error
	in.closeOnce.Do(func() {
		if in.mod != nil {
			err = in.mod.Close(context.Background())
		}
		if in.scratch != "" {
			if e := os.RemoveAll(in.scratch); err == nil {
				err = e
			}
		}
	})
	return err
}

// streamWriter feeds the guest's stdout or stderr to the output function,
// holding back an incomplete UTF-8 sequence until the next write.
type streamWriter struct {
	in   *Interpreter
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	in := w.in
	in.mu.Lock()
	out := in.output
	in.mu.Unlock()
	if out == nil || in.dead.Load() != nil {
		return len(p), nil
	}
	buf := p
	if c := in.carry[w.name]; len(c) > 0 {
		buf = append(c, p...)
		in.carry[w.name] = nil
	}
	cut := len(buf)
	for k := 1; k <= 3 && k <= len(buf); k++ {
		b := buf[len(buf)-k]
		if b < 0x80 {
			break
		}
		if utf8.RuneStart(b) {
			if !utf8.FullRune(buf[len(buf)-k:]) {
				cut = len(buf) - k
			}
			break
		}
	}
	if cut < len(buf) {
		in.carry[w.name] = append([]byte(nil), buf[cut:]...)
	}
	if cut > 0 {
		out(w.name, string(buf[:cut]))
	}
	return len(p), nil
}

func pyQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
