package wasmpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// RuntimeConfig says where the runtime is and how to run it. The zero value
// finds the runtime with FindRuntimeDir and caches compiled code under the
// user's cache directory.
type RuntimeConfig struct {
	// Dir holds python.wasm, lib.zip and manifest.json. Empty: FindRuntimeDir.
	Dir string
	// CacheDir is wazero's compilation cache. Empty: DefaultCacheDir()/compiled.
	CacheDir string
	// MemoryLimit caps each interpreter's linear memory in bytes; Python gets
	// MemoryError beyond it. Zero: DefaultMemoryLimit.
	MemoryLimit uint64
	// HardStop makes an interrupt that Python does not honour in time stop the
	// guest code at once (wazero's close-on-context-done), at a cost in speed.
	HardStop bool
	// Logger receives the runtime's logs. Nil: slog.Default().
	Logger *slog.Logger
}

// DefaultMemoryLimit is the memory cap of an interpreter when none is given.
const DefaultMemoryLimit = 2 << 30

// Manifest describes a built runtime (manifest.json, written by the build).
type Manifest struct {
	ID       string `json:"id"`
	Python   string `json:"python"`
	Packages string `json:"packages"`
}

// Runtime is a compiled python.wasm with its standard library, shared by all
// interpreters of a process. It is safe for concurrent use.
type Runtime struct {
	cfg      RuntimeConfig
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	lib      fs.FS
	pylib    fs.FS
	manifest Manifest
	closer   func() error
	// sizes of python.wasm and lib.zip, and the digest of pylib (lazily),
	// for snapshot keys
	binSize, libSize int64
	pylibOnce        sync.Once
	pylibSum         string
	// CompileTime is how long compiling (or loading from the cache) took;
	// set once Wait returned.
	CompileTime time.Duration

	compileDone chan struct{} // closed when the compilation has ended
	compileErr  error
}

// DefaultCacheDir is where the build and the compilation cache live:
// $WASMPY_CACHE, else $XDG_CACHE_HOME/wasmpy, else ~/.cache/wasmpy.
func DefaultCacheDir() string {
	if d := os.Getenv("WASMPY_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "wasmpy")
	}
	return filepath.Join(os.TempDir(), "wasmpy-cache")
}

// ErrNoRuntime is returned when no built runtime can be found.
var ErrNoRuntime = errors.New("wasmpy runtime not found: in a checkout of wasmpy, `bash scripts/setup.sh` builds and installs it (or set WASMPY_RUNTIME to a directory with python.wasm and lib.zip)")

// FindRuntimeDir looks for a runtime in $WASMPY_RUNTIME, next to the running
// binary (../share/wasmpy/runtime), then in the build cache (runtime/current).
func FindRuntimeDir() (string, error) {
	var tried []string
	cands := []string{}
	if d := os.Getenv("WASMPY_RUNTIME"); d != "" {
		cands = append(cands, d)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "share", "wasmpy", "runtime"))
	}
	cands = append(cands, filepath.Join(DefaultCacheDir(), "runtime", "current"))
	for _, d := range cands {
		tried = append(tried, d)
		if st, err := os.Stat(filepath.Join(d, "python.wasm")); err == nil && st.Mode().IsRegular() {
			return filepath.Clean(d), nil
		}
	}
	return "", fmt.Errorf("%w (looked in %v)", ErrNoRuntime, tried)
}

// LoadRuntime compiles python.wasm (or loads it from the compilation cache)
// and opens the standard library. Compiling the first time takes seconds; a
// cached load takes about a hundred milliseconds (wazero validates the
// module each time).
func LoadRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	r, err := OpenRuntime(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := r.Wait(ctx); err != nil {
		r.Close(ctx)
		return nil, err
	}
	return r, nil
}

// OpenRuntime reads the runtime and starts compiling python.wasm in the
// background: Manifest, SnapshotKey and the snapshot store can be used while
// it compiles (on another core); NewInterpreter waits for it, and Wait
// reports how it ended.
func OpenRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	if cfg.Dir == "" {
		d, err := FindRuntimeDir()
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(DefaultCacheDir(), "compiled")
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, compileDone: make(chan struct{})}
	if err := r.open(ctx); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("load runtime from %s: %w", cfg.Dir, err)
	}
	return r, nil
}

// Wait waits until python.wasm is compiled and returns the error that
// compiling it gave, or ctx's.
func (r *Runtime) Wait(ctx context.Context) error {
	select {
	case <-r.compileDone:
		if r.compileErr != nil {
			return fmt.Errorf("load runtime from %s: %w", r.cfg.Dir, r.compileErr)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// open reads the files and starts the compilation.
func (r *Runtime) open(ctx context.Context) error {
	if b, err := os.ReadFile(filepath.Join(r.cfg.Dir, "manifest.json")); err == nil {
		_ = json.Unmarshal(b, &r.manifest)
	}
	// Mapped, not read: reading 8 MB into fresh heap took some 10 ms on the
	// start-up's critical path (the compile waits for it). wazero copies
	// what it keeps of the binary, so the mapping ends with the compile.
	bin, _, release, err := mapFile(filepath.Join(r.cfg.Dir, "python.wasm"))
	if err != nil {
		close(r.compileDone)
		return err
	}
	r.binSize = int64(len(bin))
	go func() {
		defer close(r.compileDone)
		defer release()
		r.compileErr = r.compile(ctx, bin)
	}()
	if st, err := os.Stat(filepath.Join(r.cfg.Dir, "lib.zip")); err == nil {
		r.libSize = st.Size()
	}
	lib, closer, err := OpenZipFS(filepath.Join(r.cfg.Dir, "lib.zip"))
	if err != nil {
		return fmt.Errorf("open standard library: %w", err)
	}
	r.closer = closer
	r.lib = lib
	sub, err := fs.Sub(pythonFiles, "python")
	if err != nil {
		return err
	}
	r.pylib = sub
	return nil
}

// compile makes the wazero runtime and compiles bin in it.
func (r *Runtime) compile(ctx context.Context, bin []byte) error {
	if err := os.MkdirAll(r.cfg.CacheDir, 0o755); err != nil {
		return fmt.Errorf("compilation cache: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(r.cfg.CacheDir)
	if err != nil {
		return fmt.Errorf("compilation cache: %w", err)
	}
	pages := r.cfg.MemoryLimit / 65536
	if pages > 65536 {
		pages = 65536
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithDebugInfoEnabled(false).
		WithMemoryLimitPages(uint32(pages)).
		WithCloseOnContextDone(r.cfg.HardStop)
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		return fmt.Errorf("wasi: %w", err)
	}
	if err := instantiateHostModule(ctx, r.rt); err != nil {
		return fmt.Errorf("host module: %w", err)
	}
	start := time.Now()
	// A first compile takes seconds: use every core (a cached load does not
	// compile).
	r.compiled, err = r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0)), bin)
	if err != nil {
		return fmt.Errorf("compile python.wasm: %w", err)
	}
	r.CompileTime = time.Since(start)
	for _, name := range []string{"wasmpy_init", "wasmpy_exec", "wasmpy_dispatch", "wasmpy_signal_addr", "wasmpy_result_addr", "malloc", "free", "_initialize"} {
		if _, ok := r.compiled.ExportedFunctions()[name]; !ok {
			return fmt.Errorf("python.wasm lacks the export %q: rebuild the runtime with `bash wasmpy/build/build-runtime.sh`", name)
		}
	}
	r.log.Debug("runtime loaded", "dir", r.cfg.Dir, "id", r.manifest.ID, "compile", r.CompileTime)
	return nil
}

// Manifest describes the loaded runtime.
func (r *Runtime) Manifest() Manifest { return r.manifest }

// Dir is the runtime's directory.
func (r *Runtime) Dir() string { return r.cfg.Dir }

// Close releases the compiled module and all interpreters made from it
// (after the compilation, if it still runs).
func (r *Runtime) Close(ctx context.Context) error {
	<-r.compileDone
	var err error
	if r.rt != nil {
		err = r.rt.Close(ctx)
	}
	if r.closer != nil {
		if e := r.closer(); err == nil {
			err = e
		}
	}
	return err
}

// exported returns a function the loader checked exists.
func exported(m api.Module, name string) api.Function {
	return m.ExportedFunction(name)
}

// OpenZipFS opens a zip archive as a read-only, seekable fs.FS to mount in an
// interpreter (Config.FSMounts). Call the returned function to close it.
func OpenZipFS(path string) (fs.FS, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	z, err := newZipFS(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return z, f.Close, nil
}
