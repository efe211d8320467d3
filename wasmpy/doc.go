// Package wasmpy hosts CPython 3.13, compiled to wasm32-wasi by the project's
// build (wasmpy/build), inside the wazero runtime.
//
// It owns: loading the runtime (python.wasm and lib.zip) and compiling it once
// per process with wazero's on-disk compilation cache (Runtime); one sandboxed
// interpreter per kernel (Interpreter) with its WASI configuration (real
// clocks, crypto randomness, an interruptible sleep, a read-only standard
// library, a private scratch directory, explicit mounts, an empty environment
// unless given, a memory cap); interrupts and trap recovery; and the calls in
// both directions between Go and Python (the built-in _wasmpy module, see
// wasmpy/csrc), including re-entrant ones; the guest's linear memory (an
// mmap reservation on Unix); start-up snapshots of an initialised
// interpreter and the store that keeps them (Snapshot, SnapshotStore; the
// Kernel takes and restores them). It also embeds the project's own Python
// packages (wasmpy/python), mounted at /usr/lib/wasmpy inside.
//
// It must not touch the Jupyter protocol (kernel/, messaging/) or the JS world
// (jsbridge/): those register host functions and dispatch targets through the
// Interpreter's API.
package wasmpy
