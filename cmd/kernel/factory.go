package main

// This file connects the wasmpy binary to the Python runtime: it is the only
// place that knows how interpreters are made.

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"wasmpy/interp"
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
func newFactory(ctx context.Context, opts runtimeOptions, log *slog.Logger) (interp.Factory, error) {
	cfg := wasmpy.Config{Env: opts.Env, Logger: log}
	for _, m := range opts.Mounts {
		cfg.Mounts = append(cfg.Mounts, wasmpy.Mount{Host: m.Host, Guest: m.Guest, ReadOnly: m.ReadOnly})
	}
	load := sync.OnceValues(func() (*wasmpy.Runtime, error) {
		return wasmpy.LoadRuntime(context.WithoutCancel(ctx), runtimeConfig(opts, log))
	})
	return func(ctx context.Context, bg interp.Events) (interp.Interpreter, error) {
		rt, err := load()
		if err != nil {
			return nil, err
		}
		// Each interpreter has its own event loop, which owns it: every call
		// into Python runs there, and timers and I/O completions run there
		// between requests. It stops when the interpreter is closed.
		l := loop.New(log)
		lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		go l.Run(lctx)
		fetcher := loop.NewFetcher(loop.DenyAll)
		k, err := rt.NewKernel(ctx, wasmpy.KernelConfig{
			Config:     cfg,
			Background: bg,
			Run:        l.Do,
			Setup: []func(context.Context, *wasmpy.Interpreter) error{
				func(_ context.Context, in *wasmpy.Interpreter) error {
					return loop.Attach(lctx, l, in, loop.WithFetcher(fetcher))
				},
			},
		})
		if err != nil {
			stop()
			return nil, err
		}
		return &loopKernel{Kernel: k, stop: stop, run: l.Do}, nil
	}, nil
}

// loopKernel is a kernel interpreter with the event loop that owns it.
type loopKernel struct {
	*wasmpy.Kernel
	stop context.CancelFunc
	run  func(context.Context, func()) error
}

// Close closes the interpreter on its loop (so that no timer or I/O
// completion is running guest code meanwhile), then stops the loop. A loop
// stuck in a guest call that will not end is not waited for long.
func (k *loopKernel) Close() error {
	defer k.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if k.run(ctx, func() { err = k.Kernel.Close() }) != nil {
		return k.Kernel.Close()
	}
	return err
}

// warmCache compiles the runtime into its compilation cache, so that the
// first kernel start after `wasmpy install` is fast.
func warmCache(ctx context.Context, opts runtimeOptions, log *slog.Logger) error {
	rt, err := wasmpy.LoadRuntime(ctx, runtimeConfig(opts, log))
	if err != nil {
		return fmt.Errorf("warm the compilation cache: %w", err)
	}
	log.Info("compilation cache ready", "runtime", rt.Dir(), "took", rt.CompileTime)
	return rt.Close(ctx)
}
