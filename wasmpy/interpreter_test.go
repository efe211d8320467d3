package wasmpy

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/interp"
	"wasmpy/wasmpy/internal/gcpause"
)

// The runtime is compiled once for all tests (the compilation cache makes
// later test runs fast).
var (
	sharedOnce sync.Once
	shared     *Runtime
	sharedErr  error
)

func testRuntime(t testing.TB) *Runtime {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = LoadRuntime(context.Background(), RuntimeConfig{})
	})
	if sharedErr != nil {
		t.Fatalf("the runtime is needed (build it with `bash wasmpy/build/build-runtime.sh`): %v", sharedErr)
	}
	return shared
}

// output collects what an interpreter prints, with the time of each chunk.
type output struct {
	mu     sync.Mutex
	chunks []chunk
}

type chunk struct {
	stream, text string
	at           time.Time
}

func (o *output) add(stream, text string) {
	o.mu.Lock()
	o.chunks = append(o.chunks, chunk{stream, text, time.Now()})
	o.mu.Unlock()
}

func (o *output) text(stream string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, c := range o.chunks {
		if c.stream == stream {
			b.WriteString(c.text)
		}
	}
	return b.String()
}

// waitRunning waits (at most 30 s) until a call into in is in progress.
func waitRunning(t *testing.T, in *Interpreter) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !in.Running(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call never started")
		}
	}
}

// waitFor waits (at most 30 s) until a stream's text starts with want.
func (o *output) waitFor(t *testing.T, stream, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.HasPrefix(o.text(stream), want); {
		if time.Now().After(deadline) {
			t.Fatalf("%s never started with %q: %q", stream, want, o.text(stream))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (o *output) reset() {
	o.mu.Lock()
	o.chunks = nil
	o.mu.Unlock()
}

func newInterp(t testing.TB, cfg Config) (*Interpreter, *output) {
	t.Helper()
	rt := testRuntime(t)
	out := &output{}
	cfg.Output = out.add
	in, err := rt.NewInterpreter(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewInterpreter: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in, out
}

func mustExec(t testing.TB, in *Interpreter, out *output, code string) string {
	t.Helper()
	out.reset()
	if err := in.Exec(context.Background(), code); err != nil {
		t.Fatalf("Exec(%q): %v\nstderr: %s", code, err, out.text("stderr"))
	}
	return out.text("stdout")
}

func TestHelloAndState(t *testing.T) {
	in, out := newInterp(t, Config{})
	if got := mustExec(t, in, out, "import sys\nx = 41\nprint('hello', sys.version_info[:2])"); got != "hello (3, 13)\n" {
		t.Fatalf("stdout = %q", got)
	}
	if got := mustExec(t, in, out, "print(x + 1)"); got != "42\n" {
		t.Fatalf("state not kept between calls: %q", got)
	}
	out.reset()
	err := in.Exec(context.Background(), "1/0")
	if !errors.Is(err, ErrExecFailed) {
		t.Fatalf("Exec(1/0) = %v, want ErrExecFailed", err)
	}
	if s := out.text("stderr"); !strings.Contains(s, "ZeroDivisionError") {
		t.Fatalf("stderr lacks the traceback: %q", s)
	}
	out.reset()
	if err := in.Exec(context.Background(), "raise SystemExit(3)"); !errors.Is(err, ErrExecFailed) || !strings.Contains(out.text("stderr"), "SystemExit: 3") {
		t.Fatalf("SystemExit: %v %q", err, out.text("stderr"))
	}
	if got := mustExec(t, in, out, "print('alive')"); got != "alive\n" {
		t.Fatalf("interpreter not usable after SystemExit: %q", got)
	}
}

func TestModules(t *testing.T) {
	in, out := newInterp(t, Config{})
	code := `
import zlib, bz2, lzma, sqlite3, decimal, json, pickle, struct, datetime, zoneinfo, hashlib
import binascii, unicodedata, array, math, cmath, random, select, asyncio, csv, xml.etree.ElementTree as ET
import _json, _pickle, _struct, _datetime, _decimal, _random, _asyncio, _csv, pyexpat, _bz2, _lzma, _sqlite3
assert zlib.decompress(zlib.compress(b'x' * 1000)) == b'x' * 1000
assert bz2.decompress(bz2.compress(b'abc')) == b'abc'
assert lzma.decompress(lzma.compress(b'abc')) == b'abc'
db = sqlite3.connect('/tmp/t.db'); db.execute('create table t(x)'); db.execute('insert into t values (7)'); db.commit()
assert db.execute('select sum(x) from t').fetchone() == (7,)
assert str(decimal.Decimal(1) / decimal.Decimal(7))[:8] == '0.142857'
tz = zoneinfo.ZoneInfo('Europe/Paris')
assert datetime.datetime(2024, 7, 1, 12, tzinfo=tz).utcoffset() == datetime.timedelta(hours=2)
assert hashlib.sha256(b'abc').hexdigest().startswith('ba7816bf')
assert unicodedata.name('é') == 'LATIN SMALL LETTER E WITH ACUTE'
assert ET.fromstring('<a><b>1</b></a>').find('b').text == '1'
print('ok', sqlite3.sqlite_version)
`
	if got := mustExec(t, in, out, code); !strings.HasPrefix(got, "ok 3.") {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
}

// A sort too big for sqlite's cache spills to temporary storage; in WASI
// sqlite's temp-file path trapped ("invalid table access"), so the build
// keeps temporary storage in memory (SQLITE_TEMP_STORE=3).
func TestSqliteLargeSort(t *testing.T) {
	in, out := newInterp(t, Config{})
	code := `
import sqlite3
for path in (':memory:', '/tmp/big.db'):
    db = sqlite3.connect(path)
    db.execute('create table t(a integer, b text)')
    db.executemany('insert into t values (?, ?)', ((i, str(i)) for i in range(100000)))
    db.execute('create index ti on t(b)')
    print(db.execute('select count(*), max(b) from t').fetchone(), db.execute('select b from t order by b desc limit 1').fetchone())
`
	want := "(100000, '99999') ('99999',)\n(100000, '99999') ('99999',)\n"
	if got := mustExec(t, in, out, code); got != want {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
}

func TestClocksRandomSleep(t *testing.T) {
	in, out := newInterp(t, Config{})
	before := time.Now()
	got := mustExec(t, in, out, `
import time, os
t0 = time.time(); m0 = time.monotonic()
time.sleep(0.2)
print(t0, time.monotonic() - m0, os.urandom(16).hex(), os.urandom(16).hex())`)
	elapsed := time.Since(before)
	var wall, slept float64
	var r1, r2 string
	if _, err := fmt.Sscan(got, &wall, &slept, &r1, &r2); err != nil {
		t.Fatalf("parse %q: %v", got, err)
	}
	if d := wall - float64(before.UnixNano())/1e9; d < -1 || d > 5 {
		t.Errorf("time.time() is %.3f s away from the host's clock", d)
	}
	if slept < 0.19 || elapsed < 200*time.Millisecond {
		t.Errorf("time.sleep(0.2) slept %.3f s (host %v)", slept, elapsed)
	}
	if r1 == r2 || r1 == strings.Repeat("0", 32) {
		t.Errorf("os.urandom is not random: %s %s", r1, r2)
	}
}

func TestStreamsWhileRunning(t *testing.T) {
	in, out := newInterp(t, Config{})
	out.reset()
	start := time.Now()
	if err := in.Exec(context.Background(), "import time\nprint('first')\ntime.sleep(0.5)\nprint('second')"); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.chunks) < 2 || out.chunks[0].text != "first\n" {
		t.Fatalf("chunks = %+v", out.chunks)
	}
	if lag := out.chunks[0].at.Sub(start); lag > 300*time.Millisecond || end.Sub(out.chunks[0].at) < 400*time.Millisecond {
		t.Fatalf("first line arrived %v after the start, %v before the end: not streamed", lag, end.Sub(out.chunks[0].at))
	}
}

func TestInterrupt(t *testing.T) {
	cases := []struct{ name, code string }{
		{"python loop", "while True: pass"},
		{"sleep", "import time\ntime.sleep(30)"},
		{"regex", "import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')"},
	}
	in, out := newInterp(t, Config{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out.reset()
			done := make(chan error, 1)
			go func() { done <- in.Exec(context.Background(), c.code) }()
			waitRunning(t, in)
			time.Sleep(300 * time.Millisecond)
			sent := time.Now()
			in.Interrupt()
			select {
			case err := <-done:
				took := time.Since(sent)
				if !errors.Is(err, ErrExecFailed) {
					t.Fatalf("Exec = %v, want ErrExecFailed (KeyboardInterrupt)", err)
				}
				if !strings.Contains(out.text("stderr"), "KeyboardInterrupt") {
					t.Fatalf("stderr = %q", out.text("stderr"))
				}
				if took > 500*time.Millisecond {
					t.Fatalf("interrupt took %v", took)
				}
				t.Logf("interrupted in %v", took)
			case <-time.After(5 * time.Second):
				t.Fatal("no interrupt within 5 s")
			}
			if got := mustExec(t, in, out, "print('next')"); got != "next\n" {
				t.Fatalf("after interrupt: %q", got)
			}
		})
	}
	// Interrupting an idle interpreter does not hit the next call.
	in.Interrupt()
	if got := mustExec(t, in, out, "import time; time.sleep(0.05); print('fine')"); got != "fine\n" {
		t.Fatalf("stale interrupt: %q %q", got, out.text("stderr"))
	}
}

func TestHardStop(t *testing.T) {
	t.Run("abandon", func(t *testing.T) {
		in, out := newInterp(t, Config{InterruptGrace: 300 * time.Millisecond})
		done := make(chan error, 1)
		// A C loop that never checks for signals, long enough to need giving
		// up on. Interrupt only once it runs: an idle interpreter ignores it.
		go func() {
			done <- in.Exec(context.Background(), "print('started')\nx = sum(range(3 * 10**7))\nprint('finished')")
		}()
		out.waitFor(t, "stdout", "started\n")
		time.Sleep(50 * time.Millisecond)
		sent := time.Now()
		// Interrupt again until the interpreter is given up on: a repeat
		// restarts the grace period only if the last one was taken.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		sends := 0
	wait:
		for {
			running := in.Running()
			in.Interrupt()
			sends++
			select {
			case <-in.Abandoned():
				t.Logf("abandoned after %v (%d interrupts)", time.Since(sent), sends)
				break wait
			case err := <-done:
				t.Fatalf("the call ended before it was abandoned: %v %q (%d interrupts over %v; running at the last: %v)",
					err, out.text("stdout"), sends, time.Since(sent), running)
			case <-time.After(5 * time.Second):
				t.Fatal("not abandoned within 5 s")
			case <-tick.C:
			}
		}
		if !errors.Is(in.Dead(), interp.ErrDead) {
			t.Fatalf("Dead() = %v", in.Dead())
		}
		if gcpause.Abandoned() != 1 {
			t.Errorf("gcpause.Abandoned() = %d while the abandoned call runs, want 1", gcpause.Abandoned())
		}
		select {
		case err := <-done:
			if !errors.Is(err, interp.ErrDead) || strings.Contains(out.text("stdout"), "finished") {
				t.Fatalf("the abandoned call returned %v, stdout %q", err, out.text("stdout"))
			}
			if gcpause.Abandoned() != 0 {
				t.Errorf("gcpause.Abandoned() = %d after the abandoned call returned", gcpause.Abandoned())
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the abandoned call never returned")
		}
	})
	t.Run("close-on-context-done", func(t *testing.T) {
		rt, err := LoadRuntime(context.Background(), RuntimeConfig{HardStop: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(context.Background())
		out := &output{}
		in, err := rt.NewInterpreter(context.Background(), Config{Output: out.add, InterruptGrace: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		testHardStop(t, in, out)
	})
}

func testHardStop(t *testing.T, in *Interpreter, out *output) {
	// A long C computation that never checks for signals.
	done := make(chan error, 1)
	go func() {
		done <- in.Exec(context.Background(), "print('started')\nx = sum(range(10**12))\nprint('finished')")
	}()
	out.waitFor(t, "stdout", "started\n")
	time.Sleep(50 * time.Millisecond)
	sent := time.Now()
	in.Interrupt()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the computation finished before the interrupt (%q)", out.text("stdout"))
		}
		if !errors.Is(err, interp.ErrDead) {
			t.Fatalf("err = %v, want ErrDead; stderr %q", err, out.text("stderr"))
		}
		t.Logf("hard stop after %v: %v", time.Since(sent), err)
	case <-time.After(10 * time.Second):
		t.Fatal("no hard stop within 10 s")
	}
	if err := in.Exec(context.Background(), "print(1)"); !errors.Is(err, interp.ErrDead) {
		t.Fatalf("a stopped interpreter must refuse calls, got %v", err)
	}
}

func TestTrapReplacesInstance(t *testing.T) {
	in, out := newInterp(t, Config{})
	mustExec(t, in, out, "print('before', flush=True)")
	err := in.Exec(context.Background(), "print('streamed', flush=True)\nimport faulthandler\nfaulthandler._sigabrt()")
	if !errors.Is(err, interp.ErrDead) {
		t.Fatalf("err = %v, want ErrDead", err)
	}
	if !strings.Contains(out.text("stdout"), "streamed") {
		t.Errorf("output before the trap was lost: %q", out.text("stdout"))
	}
	t.Logf("trap reported as: %v", err)
	in2, out2 := newInterp(t, Config{})
	if got := mustExec(t, in2, out2, "print('new')"); got != "new\n" {
		t.Fatalf("new instance: %q", got)
	}
}

func TestRecursion(t *testing.T) {
	in, out := newInterp(t, Config{})
	got := mustExec(t, in, out, `
def f(n): return f(n + 1)
try:
    f(0)
except RecursionError as e:
    print('RecursionError')
l = []
for _ in range(200000): l = [l]
try:
    repr(l)
except RecursionError:
    print('RecursionError')
`)
	if got != "RecursionError\nRecursionError\n" {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
}

func TestMemoryCap(t *testing.T) {
	rt, err := LoadRuntime(context.Background(), RuntimeConfig{MemoryLimit: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	out := &output{}
	in, err := rt.NewInterpreter(context.Background(), Config{Output: out.add})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	got := mustExec(t, in, out, `
try:
    b = bytearray(1 << 30)
except MemoryError:
    print('MemoryError 1')
try:
    keep = [bytearray(1 << 20) for _ in range(1000)]
except MemoryError:
    keep = None
    print('MemoryError 2')
print(sum(range(10)))
`)
	if got != "MemoryError 1\nMemoryError 2\n45\n" {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
}

func TestFilesystemSandbox(t *testing.T) {
	ro := t.TempDir()
	rw := t.TempDir()
	secret := t.TempDir()
	os.WriteFile(filepath.Join(ro, "in.txt"), []byte("readable"), 0o644)
	os.WriteFile(filepath.Join(secret, "secret.txt"), []byte("secret"), 0o644)
	in, out := newInterp(t, Config{Mounts: []Mount{{Host: ro, ReadOnly: true}, {Host: rw}}})
	code := fmt.Sprintf(`
import os
def attempt(label, fn):
    try:
        fn()
        print(label, 'ALLOWED')
    except OSError as e:
        print(label, 'denied')
attempt('passwd', lambda: open('/etc/passwd').read())
attempt('secret', lambda: open(%[3]q + '/secret.txt').read())
attempt('dotdot', lambda: open('/home/pyodide/../../etc/passwd').read())
attempt('dotdot-mount', lambda: open(%[1]q + '/../../../etc/passwd').read())
attempt('proc', lambda: open('/proc/self/environ').read())
attempt('write-ro', lambda: open(%[1]q + '/new.txt', 'w').write('x'))
attempt('write-lib', lambda: open('/usr/lib/python3.13/evil.py', 'w').write('x'))
attempt('append-lib', lambda: open('/usr/lib/python3.13/os.py', 'a'))
attempt('symlink', lambda: (os.symlink('/etc/passwd', '/home/pyodide/link'), open('/home/pyodide/link').read()))
attempt('symlink-rel', lambda: (os.symlink('../../../../../../etc/passwd', %[2]q + '/rel'), open(%[2]q + '/rel').read()))
print('ro', open(%[1]q + '/in.txt').read())
open(%[2]q + '/out.txt', 'w').write('written')
open('/home/pyodide/scratch.txt', 'w').write('s')
attempt('listroot', lambda: os.listdir('/'))
print('env', sorted(os.environ))
`, ro, rw, secret)
	got := mustExec(t, in, out, code)
	for _, want := range []string{"passwd denied", "secret denied", "dotdot denied", "dotdot-mount denied",
		"proc denied", "write-ro denied", "write-lib denied", "append-lib denied", "symlink denied", "symlink-rel denied",
		"ro readable", "env ['HOME']"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in:\n%s\nstderr: %s", want, got, out.text("stderr"))
		}
	}
	// A symlink made on the host inside a mount, pointing out, is refused too.
	os.Symlink("/etc/passwd", filepath.Join(rw, "hostabs"))
	os.Symlink("../../../../../../../etc/passwd", filepath.Join(rw, "hostrel"))
	os.Mkdir(filepath.Join(rw, "sub"), 0o755)
	os.WriteFile(filepath.Join(rw, "sub", "ok.txt"), []byte("inside"), 0o644)
	os.Symlink("sub/ok.txt", filepath.Join(rw, "goodlink"))
	got += mustExec(t, in, out, fmt.Sprintf(`
attempt('hostabs', lambda: open(%[1]q + '/hostabs').read())
attempt('hostrel', lambda: open(%[1]q + '/hostrel').read())
attempt('stat-out', lambda: os.stat(%[1]q + '/hostrel'))
print('goodlink', open(%[1]q + '/goodlink').read())
`, rw))
	for _, want := range []string{"hostabs denied", "hostrel denied", "stat-out denied", "goodlink inside"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ALLOWED") {
		t.Errorf("an escape worked:\n%s", got)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out.txt")); err != nil || string(b) != "written" {
		t.Errorf("write to the rw mount: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(in.Scratch(), "home", "scratch.txt")); err != nil {
		t.Errorf("scratch file: %v", err)
	}
	scratch := in.Scratch()
	in.Close()
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch dir left behind: %v", err)
	}
}

func TestNoProcessesNoSockets(t *testing.T) {
	in, out := newInterp(t, Config{})
	got := mustExec(t, in, out, `
import os
for label, fn in [('system', lambda: os.system('true')), ('fork', lambda: os.fork()),
                  ('subprocess', lambda: __import__('subprocess').run(['true'])),
                  ('socket', lambda: __import__('socket').socket().connect(('127.0.0.1', 1))),
                  ('ctypes', lambda: __import__('ctypes')),
                  ('thread', lambda: __import__('threading').Thread(target=print).start())]:
    try:
        fn()
        print(label, 'ALLOWED')
    except Exception as e:
        print(label, 'denied', type(e).__name__)
`)
	if strings.Contains(got, "ALLOWED") || strings.Count(got, "denied") != 6 {
		t.Fatalf("got:\n%s\nstderr: %s", got, out.text("stderr"))
	}
}

func TestReentrantCalls(t *testing.T) {
	in, out := newInterp(t, Config{})
	// Go -> Python -> Go -> Python ...: "down" calls back into Python, which
	// calls down again until the depth reaches 0.
	in.Register("down", func(ctx context.Context, data []byte) ([]byte, error) {
		return in.Dispatch(ctx, "up", data)
	})
	in.Register("fail", func(ctx context.Context, data []byte) ([]byte, error) {
		return nil, fmt.Errorf("failed on purpose: %s", data)
	})
	got := mustExec(t, in, out, `
import _wasmpy_rt
def up(data):
    n = int(data)
    return b'0' if n == 0 else str(int(_wasmpy_rt.call('down', str(n - 1).encode())) + 1).encode()
_wasmpy_rt.register('up', up)
total = 0
for i in range(10000):
    total += int(_wasmpy_rt.call('down', b'1'))
print(total)
print(int(_wasmpy_rt.call('down', b'150')))
try:
    _wasmpy_rt.call('fail', b'x')
except _wasmpy_rt.HostError as e:
    print('HostError', e)
def boom(data):
    raise ValueError('from python')
_wasmpy_rt.register('boom', boom)
`)
	if got != "10000\n150\nHostError failed on purpose: x\n" {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
	// A Python exception in a callback comes back as an error, and Python's
	// caller sees it as a host error.
	in.Register("callboom", func(ctx context.Context, data []byte) ([]byte, error) {
		return in.Dispatch(ctx, "boom", data)
	})
	got = mustExec(t, in, out, `
try:
    _wasmpy_rt.call('callboom', b'')
except _wasmpy_rt.HostError as e:
    print('HostError')
`)
	if got != "HostError\n" || !strings.Contains(out.text("stderr"), "ValueError: from python") {
		t.Fatalf("got %q, stderr %q", got, out.text("stderr"))
	}
}

func TestInterruptHostWait(t *testing.T) {
	in, out := newInterp(t, Config{})
	in.Register("wait", func(ctx context.Context, data []byte) ([]byte, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(30 * time.Second):
			return []byte("late"), nil
		}
	})
	done := make(chan error, 1)
	go func() { done <- in.Exec(context.Background(), "import _wasmpy_rt\n_wasmpy_rt.call('wait', b'')") }()
	waitRunning(t, in)
	time.Sleep(200 * time.Millisecond)
	in.Interrupt()
	select {
	case <-done:
		if !strings.Contains(out.text("stderr"), "KeyboardInterrupt") {
			t.Fatalf("stderr %q", out.text("stderr"))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("host wait not interrupted")
	}
}

// OpenRuntime returns before python.wasm is compiled: what does not need
// the compiled module works at once, NewInterpreter waits for it, and a
// module that does not compile fails Wait and NewInterpreter alike.
func TestOpenRuntime(t *testing.T) {
	dir, err := FindRuntimeDir()
	if err != nil {
		t.Skip(err)
	}
	rt, err := OpenRuntime(context.Background(), RuntimeConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if rt.Manifest().ID == "" {
		t.Error("no manifest before the compilation ended")
	}
	if _, ok := rt.SnapshotKey(Config{}, "x"); !ok {
		t.Error("no snapshot key before the compilation ended")
	}
	in, err := rt.NewInterpreter(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	in.Close()
	if err := rt.Wait(context.Background()); err != nil || rt.CompileTime == 0 {
		t.Fatalf("Wait = %v, CompileTime %v", err, rt.CompileTime)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "python.wasm"), []byte("\x00asm\x01\x00\x00\x00\x99garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(bad, "lib.zip")
	zf, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zip.NewWriter(zf).Close()
	zf.Close()
	rt2, err := OpenRuntime(context.Background(), RuntimeConfig{Dir: bad, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("OpenRuntime reads files only, it should not fail here: %v", err)
	}
	defer rt2.Close(context.Background())
	if err := rt2.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "compile python.wasm") {
		t.Fatalf("Wait on a broken module = %v", err)
	}
	if _, err := rt2.NewInterpreter(context.Background(), Config{}); err == nil {
		t.Fatal("an interpreter from a module that did not compile")
	}
	if _, err := LoadRuntime(context.Background(), RuntimeConfig{Dir: bad, CacheDir: t.TempDir()}); err == nil {
		t.Fatal("LoadRuntime of a broken module succeeded")
	}
}

// TestDispatchResultSizes: a dispatch's result comes back whole whether it
// fits the guest's result slot (read when the call returns) or goes through
// the host import, also when a nested dispatch used the slot meanwhile.
func TestDispatchResultSizes(t *testing.T) {
	in, out := newInterp(t, Config{})
	in.Register("echo", func(ctx context.Context, data []byte) ([]byte, error) {
		n, err := strconv.Atoi(string(data))
		if err != nil {
			return nil, err
		}
		inner, err := in.Dispatch(ctx, "make", []byte("7"))
		if err != nil {
			return nil, err
		}
		outer, err := in.Dispatch(ctx, "make", data)
		if err != nil {
			return nil, err
		}
		if string(inner) != "abcdefa" || len(outer) != n {
			return nil, fmt.Errorf("inner %q, outer of %d bytes for %d", inner, len(outer), n)
		}
		return outer, nil
	})
	got := mustExec(t, in, out, `
import _wasmpy_rt
def make(data):
    n = int(data)
    return (b'abcdef' * (n // 6 + 1))[:n]
_wasmpy_rt.register('make', make)
for n in (0, 1, 4095, 4096, 4097, 100000):
    r = _wasmpy_rt.call('echo', str(n).encode())
    print(n, len(r), r == make(str(n).encode()))
`)
	want := "0 0 True\n1 1 True\n4095 4095 True\n4096 4096 True\n4097 4097 True\n100000 100000 True\n"
	if got != want {
		t.Fatalf("got %q, want %q, stderr %q", got, want, out.text("stderr"))
	}
}
