package main

// This file connects the wasmpy binary to the Python runtime: it is the only
// place that knows how interpreters are made.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wasmpy/interp"
	"wasmpy/jsbridge"
	"wasmpy/loop"
	"wasmpy/wasmpy"
)

func runtimeConfig(opts runtimeOptions, log *slog.Logger) wasmpy.RuntimeConfig {
	return wasmpy.RuntimeConfig{
		Dir:         opts.RuntimeDir,
		CacheDir:    opts.CacheDir,
		MemoryLimit: uint64(opts.MemoryLimitMiB) << 20,
		Logger:      log,
	}
}

// newFactory returns the factory that makes the kernel's interpreters from
// opts. The runtime is compiled (or loaded from the compilation cache) once,
// on the first call, and shared by every interpreter the kernel makes.
//
// mark, if not nil, is told when the runtime is loaded and when each
// interpreter is ready (the start-up profile).
func newFactory(ctx context.Context, opts runtimeOptions, log *slog.Logger, mark func(phase string)) (interp.Factory, error) {
	if mark == nil {
		mark = func(string) {}
	}
	env := map[string]string{}
	if opts.AllowAllEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	for _, k := range opts.AllowEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	cfg := wasmpy.Config{Env: env, Logger: log}
	for _, m := range opts.Mounts {
		cfg.Mounts = append(cfg.Mounts, wasmpy.Mount{Host: m.Host, Guest: m.Guest, ReadOnly: m.ReadOnly})
	}
	perms := permissionsOf(opts, env)
	log.Info("sandbox permissions", "network", perms.Network, "read", perms.Read, "write", perms.Write,
		"env", perms.Env, "memory_mib", perms.MemoryMiB, "cell_timeout", perms.CellTimeout,
		"fetch_max_bytes", perms.FetchMax, "fetch_timeout", perms.FetchTime)
	permsJSON, err := json.Marshal(perms)
	if err != nil {
		return nil, err
	}
	var snapshots *wasmpy.SnapshotStore
	if !opts.NoSnapshot {
		snapshots = wasmpy.NewSnapshotStore(snapshotDir(opts), log)
	}
	// What Python's start-up may depend on besides the interpreter's Config:
	// the permissions it can ask for.
	snapKey := string(permsJSON)
	// Start-up makes some 40 MB of short-lived garbage (a first compilation
	// some 300 MB): collecting it while the kernel starts would slow the
	// start. Shortly after the first interpreter is made (at once if that
	// fails) the hold ends; a timer ends it in any case.
	endHold := wasmpy.HoldGC()
	time.AfterFunc(time.Minute, endHold)
	// The runtime compiles in the background: meanwhile the kernel binds its
	// sockets and a kernel reads its snapshot.
	load := sync.OnceValues(func() (*wasmpy.Runtime, error) {
		rt, err := wasmpy.OpenRuntime(context.WithoutCancel(ctx), runtimeConfig(opts, log))
		mark("runtime opened")
		if err == nil {
			go func() {
				if rt.Wait(ctx) == nil {
					mark("runtime loaded")
				}
			}()
		}
		return rt, err
	})
	go load()
	// The first interpreter's host side (its loop and JS world, milliseconds
	// to make) is made while the runtime compiles.
	first := sync.OnceValues(func() (*host, error) { return newHost(context.WithoutCancel(ctx), opts, log) })
	go first()
	var firstTaken atomic.Bool
	return func(ctx context.Context, bg interp.Events) (interp.Interpreter, error) {
		rt, err := load()
		if err != nil {
			endHold()
			return nil, err
		}
		// Each interpreter has its own event loop, which owns it: every call
		// into Python runs there, and timers and I/O completions run there
		// between requests. It stops when the interpreter is closed.
		var h *host
		if firstTaken.CompareAndSwap(false, true) {
			h, err = first()
		} else {
			h, err = newHost(ctx, opts, log)
		}
		if err != nil {
			endHold()
			return nil, err
		}
		l := h.loop
		var block loop.BlockFunc
		k, err := rt.NewKernel(ctx, wasmpy.KernelConfig{
			Config:     cfg,
			Background: bg,
			Run:        l.Do,
			// Set by loop.Attach (a Setup function) before Python can wait.
			Block:          func(ctx context.Context, ready <-chan struct{}) error { return block(ctx, ready) },
			Snapshots:      snapshots,
			SnapshotKey:    snapKey,
			WarmCompletion: opts.warmCompletion,
			Quiescent: func() error {
				if n := l.Pending(); n > 0 {
					return fmt.Errorf("%d event-loop tasks pending", n)
				}
				if !h.world.Untouched() {
					return errors.New("Python holds JavaScript values")
				}
				return nil
			},
			Setup: []func(context.Context, *wasmpy.Interpreter) error{
				func(_ context.Context, in *wasmpy.Interpreter) error {
					in.Register("permissions", func(context.Context, []byte) ([]byte, error) { return permsJSON, nil })
					return loop.Attach(h.ctx, l, in, loop.WithFetcher(h.fetcher), loop.WithBlocker(&block), loop.WithIdle(&h.idle))
				},
				func(_ context.Context, in *wasmpy.Interpreter) error { return h.attach(in) },
			},
		})
		if err != nil {
			endHold()
			h.close()
			return nil, err
		}
		if k.Restored {
			mark("interpreter ready (restored from a snapshot)")
		} else {
			mark("interpreter ready")
		}
		// Once the first requests (queued while the kernel started) had
		// their turn: the collector back on, and start-up's garbage collected
		// and given back to the system, on the loop, where no guest code runs
		// (a collection cannot preempt it).
		time.AfterFunc(500*time.Millisecond, func() {
			endHold()
			l.Post(func() { wasmpy.FreeOSMemory() })
		})
		return &loopKernel{Kernel: k, world: h.world, stop: h.stop, run: l.Do}, nil
	}, nil
}

// host is an interpreter's host side, made before the interpreter: the
// event loop that will own it, the fetcher of its network policy, and its
// JavaScript world.
type host struct {
	loop    *loop.Loop
	ctx     context.Context // the loop's: done when it stops
	stop    context.CancelFunc
	log     *slog.Logger
	fetcher *loop.Fetcher
	world   *jsbridge.World
	in      atomic.Pointer[wasmpy.Interpreter] // where console output goes
	idle    func(context.Context) bool         // loop.more's answer, set by loop.Attach
	used    bool                               // world was attached once
}

func newHost(ctx context.Context, opts runtimeOptions, log *slog.Logger) (*host, error) {
	h := &host{loop: loop.New(log), log: log}
	h.ctx, h.stop = context.WithCancel(context.WithoutCancel(ctx))
	go h.loop.Run(h.ctx)
	h.fetcher = loop.NewPolicyFetcher(opts.Net)
	h.fetcher.MaxResponseBytes = opts.FetchMaxBytes
	h.fetcher.Timeout = opts.FetchTimeout
	w, err := h.newWorld()
	if err != nil {
		h.stop()
		return nil, err
	}
	h.world = w
	return h, nil
}

func (h *host) newWorld() (*jsbridge.World, error) {
	write := func(stream string) func(string) {
		return func(s string) {
			if in := h.in.Load(); in != nil {
				in.Write(stream, s)
			}
		}
	}
	return jsbridge.New(jsbridge.Options{
		Scheduler:   loopScheduler(h.loop),
		CallContext: func() context.Context { return context.WithoutCancel(h.loop.Context()) },
		Fetch:       loopFetch(h.ctx, h.loop, h.fetcher),
		Stdout:      write("stdout"),
		Stderr:      write("stderr"),
		Logger:      h.log,
		Idle:        func(ctx context.Context) bool { return h.idle != nil && h.idle(ctx) },
	})
}

// attach gives the world to in (a Setup step): a fresh world if a restore
// that failed gave the first one to another interpreter.
func (h *host) attach(in *wasmpy.Interpreter) error {
	if h.used {
		h.world.Close()
		w, err := h.newWorld()
		if err != nil {
			return err
		}
		h.world = w
	}
	h.used = true
	h.in.Store(in)
	return h.world.Attach(h.ctx, in)
}

func (h *host) close() {
	h.world.Close()
	h.stop()
}

// loopKernel is a kernel interpreter with the event loop that owns it and
// its JavaScript world.
type loopKernel struct {
	*wasmpy.Kernel
	world *jsbridge.World
	stop  context.CancelFunc
	run   func(context.Context, func()) error
}

// Interrupt stops the running Python code and any JavaScript it called.
func (k *loopKernel) Interrupt() {
	k.world.Interrupt()
	k.Kernel.Interrupt()
}

func loopScheduler(l *loop.Loop) jsbridge.Scheduler {
	return jsbridge.SchedulerFuncs{
		SetTimerFunc:   func(d time.Duration, repeat bool, fn func()) int64 { return int64(l.SetTimer(d, repeat, fn)) },
		ClearTimerFunc: func(id int64) { l.ClearTimer(loop.TimerID(id)) },
		PostFunc:       l.Post,
	}
}

// loopFetch gives the JS world's fetch the loop's Fetcher, so that js.fetch
// and pyfetch go through the same network policy.
func loopFetch(ctx context.Context, l *loop.Loop, f *loop.Fetcher) jsbridge.FetchFunc {
	return func(r jsbridge.FetchRequest, done func(*jsbridge.FetchResponse, error)) func() {
		req := &loop.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: r.Body, Redirect: r.Redirect}
		return f.Start(l, ctx, req, func(res *loop.Response, err error) {
			var fe *loop.FetchError
			if errors.As(err, &fe) {
				err = jsbridge.NewFetchError(string(fe.Kind), fe)
			}
			if err != nil {
				done(nil, err)
				return
			}
			done(&jsbridge.FetchResponse{Status: res.Status, StatusText: res.StatusText, URL: res.URL,
				Redirected: res.Redirected, Type: res.Type, Header: res.Header, Body: res.Body}, nil)
		})
	}
}

// Close closes the interpreter on its loop (so that no timer or I/O
// completion is running guest code meanwhile), then stops the loop. A loop
// stuck in a guest call that will not end is not waited for long.
func (k *loopKernel) Close() error {
	defer k.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if k.run(ctx, func() { err = k.Kernel.Close(); k.world.Close() }) != nil {
		return k.Kernel.Close()
	}
	return err
}

// snapshotDir is where start-up snapshots are kept: $WASMPY_SNAPSHOT_DIR,
// else beside the compiled code when --cache-dir is given, else in the
// user's wasmpy cache.
func snapshotDir(opts runtimeOptions) string {
	if d := os.Getenv("WASMPY_SNAPSHOT_DIR"); d != "" {
		return d
	}
	if opts.CacheDir != "" {
		return filepath.Join(opts.CacheDir, "snapshots")
	}
	return filepath.Join(wasmpy.DefaultCacheDir(), "snapshots")
}

// warmCache compiles the runtime into its compilation cache and makes the
// start-up snapshot of these options, so that the first kernel start after
// `wasmpy install` is fast.
func warmCache(ctx context.Context, opts runtimeOptions, log *slog.Logger) error {
	rt, err := wasmpy.LoadRuntime(ctx, runtimeConfig(opts, log))
	if err != nil {
		return fmt.Errorf("warm the compilation cache: %w", err)
	}
	log.Info("compilation cache ready", "runtime", rt.Dir(), "took", rt.CompileTime)
	if err := rt.Close(ctx); err != nil {
		return err
	}
	if opts.NoSnapshot {
		return nil
	}
	// The snapshot is a bonus: a kernel that cannot start now (a mount
	// that does not exist yet, say) makes it at its first start instead.
	t0 := time.Now()
	opts.warmCompletion = true // time is no object here, unlike at a user's first start
	factory, err := newFactory(ctx, opts, log, nil)
	if err == nil {
		var in interp.Interpreter
		if in, err = factory(ctx, nil); err == nil {
			if lk, ok := in.(*loopKernel); ok {
				lk.WaitSnapshot()
			}
			err = in.Close()
		}
	}
	if err != nil {
		log.Warn("no start-up snapshot made at install; the first kernel will make it", "err", err)
		return nil
	}
	log.Info("start-up snapshot ready", "took", time.Since(t0))
	return nil
}

// permissions is what %permissions shows and the kernel logs at start.
type permissions struct {
	Network     string   `json:"network"`
	Read        []string `json:"read"`
	Write       []string `json:"write"`
	Env         []string `json:"env"`
	MemoryMiB   int      `json:"memory_mib"`
	CellTimeout string   `json:"cell_timeout"`
	FetchMax    string   `json:"fetch_max_bytes"`
	FetchTime   string   `json:"fetch_timeout"`
}

func permissionsOf(opts runtimeOptions, env map[string]string) permissions {
	p := permissions{Network: opts.Net.String(), Read: []string{}, Write: []string{}, Env: []string{},
		MemoryMiB: opts.MemoryLimitMiB, CellTimeout: "off",
		FetchMax:  strconv.FormatInt(cmp.Or(opts.FetchMaxBytes, loop.DefaultMaxResponseBytes), 10),
		FetchTime: cmp.Or(opts.FetchTimeout, loop.DefaultFetchTimeout).String()}
	if p.MemoryMiB == 0 {
		p.MemoryMiB = wasmpy.DefaultMemoryLimit >> 20
	}
	if opts.CellTimeout > 0 {
		p.CellTimeout = opts.CellTimeout.String()
	}
	for _, m := range opts.Mounts {
		where := m.Host
		if m.Guest != m.Host {
			where += " at " + m.Guest
		}
		if m.ReadOnly {
			p.Read = append(p.Read, where)
		} else {
			p.Write = append(p.Write, where)
		}
	}
	for k := range env {
		p.Env = append(p.Env, k)
	}
	sort.Strings(p.Env)
	return p
}
