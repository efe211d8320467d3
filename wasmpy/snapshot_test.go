package wasmpy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/interp"
)

// events records what a kernel call publishes.
type events struct {
	mu   sync.Mutex
	out  strings.Builder
	msgs []interp.Message
}

func (e *events) Stream(name, text string) { e.mu.Lock(); e.out.WriteString(text); e.mu.Unlock() }
func (e *events) Publish(m interp.Message) { e.mu.Lock(); e.msgs = append(e.msgs, m); e.mu.Unlock() }
func (e *events) Input(context.Context, string, bool) (string, error) {
	return "", interp.ErrStdinNotAllowed
}

// run executes code in k and returns its stdout and the text/plain result.
func run(t *testing.T, k *Kernel, code string) (string, string) {
	t.Helper()
	content, _ := json.Marshal(map[string]any{"code": code, "silent": false, "store_history": true})
	ev := &events{}
	reply, err := k.Call(context.Background(), interp.Request{Op: "execute", Content: content}, ev)
	if err != nil {
		t.Fatalf("%q: %v", code, err)
	}
	var r struct{ Status, Ename, Evalue string }
	if err := json.Unmarshal(reply, &r); err != nil || r.Status != "ok" {
		t.Fatalf("%q: reply %s (%v)\n%s", code, reply, err, ev.out.String())
	}
	result := ""
	for _, m := range ev.msgs {
		if m.Type == "execute_result" {
			var c struct {
				Data map[string]string `json:"data"`
			}
			json.Unmarshal(m.Content, &c)
			result = c.Data["text/plain"]
		}
	}
	return ev.out.String(), result
}

// waitFile waits (bounded) for the store to hold a snapshot file.
func waitFile(t *testing.T, dir string) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.snap")); len(m) == 1 {
			return m[0]
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no snapshot saved in %s", dir)
	return ""
}

func newKernel(t *testing.T, rt *Runtime, cfg KernelConfig) *Kernel {
	t.Helper()
	k, err := rt.NewKernel(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestKernelSnapshotRestore(t *testing.T) {
	rt := testRuntime(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := NewSnapshotStore(filepath.Join(t.TempDir(), "snapshots"), log)
	cfg := KernelConfig{Snapshots: store, SnapshotKey: "test"}
	cfg.Env = map[string]string{"GREETING": "hello"}
	cfg.Logger = log

	first := newKernel(t, rt, cfg)
	if first.Restored {
		t.Fatal("first kernel restored from an empty store")
	}
	file := waitFile(t, store.Dir())
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file mode: %v %v", st.Mode(), err)
	}
	// The kernel that made the snapshot goes on working (its history reopened).
	run(t, first, "a = 40")
	if _, res := run(t, first, "a + 2"); res != "42" {
		t.Fatalf("first kernel: a + 2 = %q", res)
	}

	t0 := time.Now()
	second := newKernel(t, rt, cfg)
	took := time.Since(t0)
	if !second.Restored {
		t.Fatalf("second kernel was not restored; logs:\n%s", logs.String())
	}
	t.Logf("restored in %v", took)
	// A fresh namespace at execution count 1, IPython working, history
	// written to its own database, the environment of the key.
	if _, res := run(t, second, "'a' in globals(), __import__('os').environ['GREETING']"); res != "(False, 'hello')" {
		t.Fatalf("restored kernel state: %q", res)
	}
	run(t, second, "b = 2")
	if out, _ := run(t, second, "%history -n"); !strings.Contains(out, "b = 2") {
		t.Fatalf("%%history after restore: %q", out)
	}
	if _, res := run(t, second, "import pathlib; pathlib.Path('/home/pyodide/.ipython/profile_default').is_dir()"); res != "True" {
		t.Fatalf("profile directory after restore: %q", res)
	}
	// Each restored kernel draws its own random numbers.
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	third := newKernel(t, rt, cfg)
	_, r2 := run(t, second, "import random; random.random()")
	_, r3 := run(t, third, "import random; random.random()")
	if r2 == r3 {
		t.Fatalf("two restored kernels drew the same random number %s", r2)
	}
	// Kernels restored from one file (mapped copy-on-write where the system
	// allows) write neither into each other nor into the file.
	run(t, second, "import json; json.MARK = 'second'; big = bytearray(b'x') * (64 << 20)")
	if _, res := run(t, third, "import json; hasattr(json, 'MARK'), 'b' in globals()"); res != "(False, False)" {
		t.Fatalf("a write of one restored kernel is seen by another: %s", res)
	}
	if after, err := os.ReadFile(file); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the snapshot file changed while kernels ran from it (%v)", err)
	}
	if runtime.GOOS == "linux" && strings.Contains(logs.String(), "cannot map the snapshot") {
		t.Fatalf("the snapshot was copied, not mapped:\n%s", logs.String())
	}
	// Variables that start-up does not read are not in the key: a kernel
	// with other ones is restored, with its own environment.
	other := cfg
	other.Env = map[string]string{"GREETING": "bye", "EXTRA": "x"}
	fourth := newKernel(t, rt, other)
	if !fourth.Restored {
		t.Fatal("a kernel that differs only in GREETING and EXTRA was not restored")
	}
	code := "import os; os.environ.get('GREETING'), os.environ.get('EXTRA'), os.getenv('EXTRA'), os.environ['HOME']"
	if _, res := run(t, fourth, code); res != "('bye', 'x', 'x', '/home/pyodide')" {
		t.Fatalf("environment after restore: %s", res)
	}
	if _, res := run(t, second, code); res != "('hello', None, None, '/home/pyodide')" {
		t.Fatalf("environment of the kernel restored with the snapshot's own: %s", res)
	}
	// Restored kernels leave the snapshot alone.
	if m, _ := filepath.Glob(filepath.Join(store.Dir(), "*.snap")); len(m) != 1 {
		t.Fatalf("snapshots: %v", m)
	}
}

func TestKernelSnapshotKeyedByConfig(t *testing.T) {
	rt := testRuntime(t)
	store := NewSnapshotStore(filepath.Join(t.TempDir(), "snapshots"), nil)
	cfg := KernelConfig{Snapshots: store, SnapshotKey: "one"}
	newKernel(t, rt, cfg)
	waitFile(t, store.Dir())
	for name, c := range map[string]KernelConfig{
		"extra key":   {Snapshots: store, SnapshotKey: "two"},
		"environment": {Snapshots: store, SnapshotKey: "one", Config: Config{Env: map[string]string{"PYTHONDONTWRITEBYTECODE": "1"}}},
		"mounts":      {Snapshots: store, SnapshotKey: "one", Config: Config{Mounts: []Mount{{Host: t.TempDir(), Guest: "/data", ReadOnly: true}}}},
	} {
		if k := newKernel(t, rt, c); k.Restored {
			t.Errorf("%s differs, yet the kernel was restored", name)
		}
	}
	if k := newKernel(t, rt, cfg); !k.Restored {
		t.Error("the same configuration was not restored")
	}
}

func TestKernelSnapshotCorruptFallsBack(t *testing.T) {
	rt := testRuntime(t)
	cfg, logs := loggedStore(t)
	store := cfg.Snapshots
	newKernel(t, rt, cfg)
	file := waitFile(t, store.Dir())
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	k := newKernel(t, rt, cfg)
	if k.Restored {
		t.Fatal("restored from a corrupt snapshot")
	}
	if !strings.Contains(logs.String(), "snapshot unusable") || !strings.Contains(logs.String(), "checksum") {
		t.Fatalf("no log line about the corrupt snapshot:\n%s", logs.String())
	}
	if _, res := run(t, k, "6 * 7"); res != "42" {
		t.Fatalf("kernel after fallback: %q", res)
	}
	// A good snapshot replaces the corrupt one.
	waitFile(t, store.Dir())
	for i := 0; i < 200; i++ {
		if s, err := store.Load(mustKey(t, rt, cfg)); err == nil && s != nil {
			s.Release()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("the corrupt snapshot was not replaced")
}

// loggedStore is a kernel configuration with a fresh snapshot store, whose
// logs (the kernel's too) are collected.
func loggedStore(t *testing.T) (KernelConfig, *bytes.Buffer) {
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	cfg := KernelConfig{Snapshots: NewSnapshotStore(filepath.Join(t.TempDir(), "snapshots"), log)}
	cfg.Logger = log
	return cfg, logs
}

func mustKey(t *testing.T, rt *Runtime, cfg KernelConfig) string {
	key, ok := rt.SnapshotKey(cfg.Config, cfg.SnapshotKey)
	if !ok {
		t.Fatal("config cannot be keyed")
	}
	return key
}

func TestKernelSnapshotRestoreFailureFallsBack(t *testing.T) {
	rt := testRuntime(t)
	cfg, logs := loggedStore(t)
	store := cfg.Snapshots
	newKernel(t, rt, cfg)
	waitFile(t, store.Dir())
	// A well-formed snapshot of a memory that is garbage: the restored
	// interpreter traps, and the kernel starts from scratch instead.
	key := mustKey(t, rt, cfg)
	s, err := store.Load(key)
	if err != nil || s == nil {
		t.Fatal(err)
	}
	bad := &Snapshot{key: s.key, size: s.size, present: bytes.Clone(s.present), files: s.files,
		data: bytes.Repeat([]byte{0xA5}, s.StoredBytes())}
	if err := store.Save(bad); err != nil {
		t.Fatal(err)
	}
	s.Release()
	t0 := time.Now()
	k := newKernel(t, rt, cfg)
	if k.Restored {
		t.Fatal("restored from a garbage snapshot")
	}
	t.Logf("fallback start took %v", time.Since(t0))
	if !strings.Contains(logs.String(), "restoring the snapshot failed") {
		t.Fatalf("no log line about the failed restore:\n%s", logs.String())
	}
	if _, res := run(t, k, "6 * 7"); res != "42" {
		t.Fatalf("kernel after fallback: %q", res)
	}
}

func TestKernelSnapshotNotQuiescent(t *testing.T) {
	rt := testRuntime(t)
	store := NewSnapshotStore(filepath.Join(t.TempDir(), "snapshots"), nil)
	busy := errors.New("a timer is pending")
	newKernel(t, rt, KernelConfig{Snapshots: store, Quiescent: func() error { return busy }})
	time.Sleep(200 * time.Millisecond)
	if m, _ := filepath.Glob(filepath.Join(store.Dir(), "*.snap")); len(m) != 0 {
		t.Fatalf("snapshot taken although the host was not quiescent: %v", m)
	}
}

func TestKernelSnapshotStoreNotWritable(t *testing.T) {
	rt := testRuntime(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := KernelConfig{Snapshots: NewSnapshotStore(filepath.Join(dir, "file", "snapshots"), nil)}
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	t0 := time.Now()
	k := newKernel(t, rt, cfg)
	if _, res := run(t, k, "6 * 7"); res != "42" {
		t.Fatalf("kernel: %q", res)
	}
	// No warm-up was paid for a snapshot that could not be saved.
	if !strings.Contains(logs.String(), "no start-up snapshot") || !strings.Contains(logs.String(), "snapshot store") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	t.Logf("start without a writable store: %v", time.Since(t0))
}

func TestSnapshotEncoding(t *testing.T) {
	s := &Snapshot{key: "k", size: 65536, present: make([]byte, 2),
		files: []snapFile{{path: "home", dir: true}, {path: "home/f", data: []byte("x")}}}
	s.present[0] = 0b101
	s.data = bytes.Repeat([]byte{7}, 2*snapPage)
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Snapshot
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 65536)
	copy(want, bytes.Repeat([]byte{7}, snapPage))
	copy(want[2*snapPage:], bytes.Repeat([]byte{7}, snapPage))
	if got.key != "k" || got.size != 65536 || !bytes.Equal(got.image, want) || got.StoredBytes() != 2*snapPage ||
		len(got.files) != 2 || string(got.files[1].data) != "x" {
		t.Fatalf("round trip: %+v", got)
	}
	if got.imageOff%snapPage != 0 || int(got.imageOff)+len(want) != len(b) {
		t.Fatalf("image at %d of %d bytes: not page-aligned at the end", got.imageOff, len(b))
	}
	// The file a store writes is the same bytes, its zero pages left as holes.
	f, err := os.Create(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.writeTo(f); err != nil {
		t.Fatal(err)
	}
	if fb, err := os.ReadFile(f.Name()); err != nil || !bytes.Equal(fb, b) {
		t.Fatalf("written file differs from MarshalBinary (%v)", err)
	}
	for name, mut := range map[string]func([]byte) []byte{
		"flipped bit in the header": func(b []byte) []byte { b[30] ^= 1; return b },
		"flipped bit in a page":     func(b []byte) []byte { b[got.imageOff+2*snapPage+5] ^= 1; return b },
		"padding not zero":          func(b []byte) []byte { b[got.imageOff-1] = 1; return b },
		"truncated":                 func(b []byte) []byte { return b[:len(b)-100] },
		"empty":                     func([]byte) []byte { return nil },
		"other magic":               func(b []byte) []byte { b[0] = 'X'; return b },
	} {
		var x Snapshot
		if err := x.UnmarshalBinary(mut(bytes.Clone(b))); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: got %v, want a corrupt-snapshot error", name, err)
		}
	}
}

func FuzzSnapshotUnmarshal(f *testing.F) {
	s := &Snapshot{key: "k", size: 65536, present: make([]byte, 2), files: []snapFile{{path: "a", data: []byte("b")}}}
	b, _ := s.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The parser, past the checksum (the fuzzer cannot forge it).
		var x Snapshot
		if err := x.decode(b, false); err != nil {
			return
		}
		if x.imageOff%snapPage != 0 || x.imageOff+int64(x.size) != int64(len(b)) {
			t.Fatalf("image at %d, %d bytes, in %d", x.imageOff, x.size, len(b))
		}
		if int(x.size)/snapPage > len(x.present)*8 {
			t.Fatalf("present bitmap too short for %d bytes", x.size)
		}
		for _, f := range x.files {
			if strings.Contains(f.path, "..") || filepath.IsAbs(f.path) {
				t.Fatalf("accepted path %q", f.path)
			}
		}
		// Re-encoding gives the same bytes, but for the checksum and the
		// image's pages that the bitmap says are zeros.
		out, err := x.MarshalBinary()
		if err != nil || len(out) != len(b) {
			t.Fatalf("re-encoding differs in length")
		}
		hdr, off := x.header()
		if !bytes.Equal(out[:len(hdr)], b[:len(hdr)]) || !bytes.Equal(out[len(hdr)+4:off], b[len(hdr)+4:off]) {
			t.Fatalf("re-encoded header differs")
		}
		_ = x.runs(func(first int, p []byte) error {
			if o := off + int64(first*snapPage); !bytes.Equal(out[o:o+int64(len(p))], p) {
				t.Fatalf("re-encoded page %d differs", first)
			}
			return nil
		})
		var y Snapshot
		if err := y.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
	})
}
