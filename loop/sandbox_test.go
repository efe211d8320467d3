package loop_test

import (
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/loop"
	"wasmpy/wasmpy"
)

// These tests run Python in the real sandbox (the runtime built by `make
// runtime`), always on the loop goroutine, as the kernel does.

var (
	rtOnce sync.Once
	rt     *wasmpy.Runtime
	rtErr  error
)

func runtimeOrSkip(t *testing.T) *wasmpy.Runtime {
	t.Helper()
	if raceEnabled {
		t.Skip("under the race detector: wasmpy writes the guest's signal flags from other goroutines by design (interrupts, ticks)")
	}
	rtOnce.Do(func() {
		rt, rtErr = wasmpy.LoadRuntime(context.Background(), wasmpy.RuntimeConfig{HardStop: true})
	})
	if errors.Is(rtErr, wasmpy.ErrNoRuntime) {
		t.Skipf("no runtime: %v", rtErr)
	}
	if rtErr != nil {
		t.Fatalf("load runtime: %v", rtErr)
	}
	return rt
}

type output struct {
	mu      sync.Mutex
	streams map[string]*strings.Builder
}

func (o *output) add(stream, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.streams[stream] == nil {
		o.streams[stream] = &strings.Builder{}
	}
	o.streams[stream].WriteString(text)
}

// take returns and forgets what was written to stream.
func (o *output) take(stream string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.streams[stream]
	if b == nil {
		return ""
	}
	s := b.String()
	b.Reset()
	return s
}

type sandbox struct {
	t   *testing.T
	l   *loop.Loop
	in  *wasmpy.Interpreter
	out *output
}

func newSandbox(t *testing.T, f *loop.Fetcher) *sandbox {
	t.Helper()
	r := runtimeOrSkip(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &output{streams: map[string]*strings.Builder{}}
	s := &sandbox{t: t, l: loop.New(nil), out: out}
	done := make(chan error, 1)
	go func() { done <- s.l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	err := s.do(30*time.Second, func(dctx context.Context) error {
		in, err := r.NewInterpreter(dctx, wasmpy.Config{Output: out.add})
		if err != nil {
			return err
		}
		s.in = in
		var opts []loop.Option
		if f != nil {
			opts = append(opts, loop.WithFetcher(f))
		}
		return loop.Attach(ctx, s.l, in, opts...)
	})
	if err != nil {
		t.Fatalf("start the sandbox: %v", err)
	}
	t.Cleanup(func() { s.in.Close() })
	s.mustExec("import asyncio\nfrom pyodide import webloop, http\nwebloop.install()\nhttp.install_urllib()")
	return s
}

// do runs fn on the loop goroutine, bounded by d.
func (s *sandbox) do(d time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var err error
	if derr := s.l.Do(ctx, func() { err = fn(ctx) }); derr != nil {
		return derr
	}
	return err
}

func (s *sandbox) exec(code string) error {
	return s.do(30*time.Second, func(ctx context.Context) error { return s.in.Exec(ctx, code) })
}

func (s *sandbox) mustExec(code string) string {
	s.t.Helper()
	if err := s.exec(code); err != nil {
		s.t.Fatalf("Exec: %v\ncode:\n%s\nstderr:\n%s", err, code, s.out.take("stderr"))
	}
	return s.out.take("stdout")
}

// waitFor polls stdout until it contains want.
func (s *sandbox) waitFor(want string, d time.Duration) string {
	s.t.Helper()
	var got strings.Builder
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		got.WriteString(s.out.take("stdout"))
		if strings.Contains(got.String(), want) {
			return got.String()
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("stdout never contained %q within %v; got %q; stderr %q", want, d, got.String(), s.out.take("stderr"))
	return ""
}

func TestSandboxAsyncio(t *testing.T) {
	s := newSandbox(t, nil)
	tests := []struct {
		name, code, want string
	}{
		{
			name: "asyncio.run, call_later order, real-time sleep",
			code: `
import time
order = []
async def main():
    loop = asyncio.get_running_loop()
    for name, d in [("c", 0.03), ("a", 0.01), ("b1", 0.02), ("b2", 0.02), ("soon", 0)]:
        loop.call_later(d, order.append, name)
    t0 = time.monotonic()
    await asyncio.sleep(0.05)
    return time.monotonic() - t0
slept = asyncio.run(main())
print(order, slept >= 0.05)`,
			want: "['soon', 'a', 'b1', 'b2', 'c'] True\n",
		},
		{
			// A drain runs what it scheduled in the same turn (loop.more) only
			// while nothing else is ready: a timer still fires in time.
			name: "a busy chain of sleep(0) leaves timers their turn",
			code: `
import time
async def main():
    loop = asyncio.get_running_loop()
    fired = []
    t0 = time.monotonic()
    loop.call_later(0.01, fired.append, 1)
    n = 0
    while not fired and time.monotonic() - t0 < 5:
        await asyncio.sleep(0)
        n += 1
    return bool(fired), time.monotonic() - t0 < 0.2, n > 10
print(asyncio.run(main()))`,
			want: "(True, True, True)\n",
		},
		{
			// A completion runs as a turn of the fetch's loop: the task it
			// wakes goes on in that call from the host, without a drain of
			// its own (loop.more allowing).
			name: "a fetch's completion wakes its task in the same turn",
			code: `
from pyodide.http import pyfetch
from pyodide.webloop import WebLoop
drains = 0
plain = WebLoop._on_drain
def counting(self):
    global drains
    drains += 1
    return plain(self)
WebLoop._on_drain = counting
async def main():
    texts = [await (await pyfetch("data:,x%d" % i)).string() for i in range(20)]
    return texts[0], texts[-1]
try:
    print(asyncio.run(main()), drains < 10)
finally:
    WebLoop._on_drain = plain`,
			want: "('x0', 'x19') True\n",
		},
		{
			name: "gather, create_task, futures, then",
			code: `
async def main():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    loop.call_later(0.01, f.set_result, 20)
    t = asyncio.create_task(asyncio.sleep(0.005, 1))
    r = await asyncio.gather(t, f.then(lambda x: x + 1), *(asyncio.sleep(0.001 * i, i) for i in range(3)))
    return r
print(asyncio.run(main()))`,
			want: "[1, 21, 0, 1, 2]\n",
		},
		{
			name: "a second loop, closed after use",
			code: `
l2 = asyncio.new_event_loop()
l2.call_later(0.01, print, "later on l2")
l2.run_until_complete(asyncio.sleep(0.02))
l2.close()
print(l2.is_closed(), asyncio.get_event_loop() is not l2)`,
			want: "later on l2\nTrue True\n",
		},
		{
			name: "run_sync inside a task, while other tasks run",
			code: `
ticks = []
async def ticker():
    for i in range(3):
        ticks.append(i)
        await asyncio.sleep(0.005)
async def main():
    t = asyncio.create_task(ticker())
    v = webloop.run_sync(asyncio.sleep(0.05, "synced"))
    await t
    return v, ticks
print(asyncio.run(main()))`,
			want: "('synced', [0, 1, 2])\n",
		},
		{
			name: "errors: exception from asyncio.run, exception handler",
			code: `
async def bad():
    await asyncio.sleep(0)
    raise ValueError("boom")
try:
    asyncio.run(bad())
except ValueError as e:
    print("caught", e)
seen = []
loop = asyncio.get_event_loop()
loop.set_exception_handler(lambda loop, ctx: seen.append(type(ctx["exception"]).__name__))
loop.call_soon(lambda: 1/0)
asyncio.run(asyncio.sleep(0.01))
loop.set_exception_handler(None)
print(seen)`,
			want: "caught boom\n['ZeroDivisionError']\n",
		},
		{
			name: "run_forever until stop, on the default loop and on a new one",
			code: `
loop = asyncio.get_event_loop()
loop.call_later(0.02, loop.stop)
loop.call_soon(print, "soon")
loop.run_forever()
l2 = asyncio.new_event_loop()
async def stopper():
    await asyncio.sleep(0.01)
    print("stopping l2", asyncio.get_running_loop() is l2)
    l2.stop()
l2.create_task(stopper())
l2.run_forever()
l2.close()
print("after")`,
			want: "soon\nstopping l2 True\nafter\n",
		},
		{
			name: "is_running and the running loop in plain code",
			code: `
loop = asyncio.get_event_loop()
print(loop.is_running(), asyncio.get_running_loop() is loop, type(loop).__name__)`,
			want: "True True WebLoop\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.mustExec(tc.code); got != tc.want {
				t.Errorf("stdout %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSandboxTaskOutlivesExec(t *testing.T) {
	s := newSandbox(t, nil)
	got := s.mustExec(`
async def bg():
    await asyncio.sleep(0.05)
    print("bg done")
    await asyncio.sleep(0.05)
    print("bg done twice")
task = asyncio.create_task(bg())
asyncio.get_event_loop().call_later(0.02, print, "later from plain code")
print("cell ends")`)
	if got != "cell ends\n" {
		t.Fatalf("stdout %q", got)
	}
	// Nothing runs Python now but the Go loop's timers.
	out := s.waitFor("bg done twice", 3*time.Second)
	if out != "later from plain code\nbg done\nbg done twice\n" {
		t.Errorf("background output %q", out)
	}
	if got := s.mustExec("print(task.done())"); got != "True\n" {
		t.Errorf("task.done() = %q", got)
	}

	// A fire-and-forget task that fails is reported at once, on stderr.
	s.mustExec(`
async def fails():
    await asyncio.sleep(0.01)
    raise RuntimeError("background failure")
asyncio.create_task(fails())`)
	deadline := time.Now().Add(3 * time.Second)
	var stderr string
	for time.Now().Before(deadline) && !strings.Contains(stderr, "background failure") {
		time.Sleep(5 * time.Millisecond)
		stderr += s.out.take("stderr")
	}
	if !strings.Contains(stderr, "Task exception was never retrieved") || !strings.Contains(stderr, "RuntimeError: background failure") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestSandboxThousandTimers(t *testing.T) {
	s := newSandbox(t, nil)
	got := s.mustExec(`
import random, time
rng = random.Random(1)
loop = asyncio.get_event_loop()
fired = []
handles = []
for i in range(1000):
    handles.append((loop.call_later(rng.randrange(50) / 1000, fired.append, i), i))
expected = [i for h, i in sorted(handles, key=lambda hi: (hi[0].when(), hi[1]))]
t0 = time.monotonic()
asyncio.run(asyncio.sleep(0.06))
print(len(fired), fired == expected, time.monotonic() - t0 < 1)`)
	if got != "1000 True True\n" {
		t.Errorf("stdout %q (count, in order, quick)", got)
	}
}

// interrupt runs code on the loop, interrupts it after `after`, and returns
// Exec's error, stdout, stderr and how long the interrupt took to land.
func (s *sandbox) interrupt(code string, after time.Duration) (error, string, string, time.Duration) {
	s.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.exec(code) }()
	// Count from the call's start: an idle interpreter ignores an interrupt.
	for deadline := time.Now().Add(30 * time.Second); !s.in.Running() && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(after)
	t0 := time.Now()
	s.in.Interrupt()
	select {
	case err := <-errc:
		return err, s.out.take("stdout"), s.out.take("stderr"), time.Since(t0)
	case <-time.After(10 * time.Second):
		s.t.Fatal("the interrupted code did not return within 10s")
	}
	return nil, "", "", 0
}

func TestSandboxInterrupt(t *testing.T) {
	s := newSandbox(t, nil)
	tests := []struct {
		name       string
		code       string
		wantErr    bool
		wantStdout string
		wantStderr string
	}{
		{name: "asyncio.run(sleep(60))", code: "asyncio.run(asyncio.sleep(60))", wantErr: true, wantStderr: "KeyboardInterrupt"},
		{
			name: "delivered at the innermost await",
			code: `
async def inner():
    await asyncio.sleep(60)
async def f():
    try:
        await asyncio.create_task(inner())
    except KeyboardInterrupt:
        print("caught at the await")
        return "recovered"
print(asyncio.get_event_loop().run_until_complete(f()))`,
			wantStdout: "caught at the await\nrecovered\n",
		},
		{
			name: "a task spinning in Python",
			code: `
async def spin():
    while True:
        pass
asyncio.run(spin())`,
			wantErr: true, wantStderr: "KeyboardInterrupt",
		},
		{
			name:    "blocking run_sync of a future that never completes",
			code:    "webloop.run_sync(asyncio.get_event_loop().create_future())",
			wantErr: true, wantStderr: "KeyboardInterrupt",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err, stdout, stderr, took := s.interrupt(tc.code, 300*time.Millisecond)
			t.Logf("interrupt landed in %v", took)
			if took > time.Second {
				t.Errorf("interrupt took %v", took)
			}
			if tc.wantErr != (err != nil) {
				t.Errorf("Exec error %v, want error: %v (stderr %q)", err, tc.wantErr, stderr)
			}
			if errors.Is(err, context.DeadlineExceeded) || s.in.Dead() != nil {
				t.Fatalf("interpreter dead: %v", s.in.Dead())
			}
			if stdout != tc.wantStdout {
				t.Errorf("stdout %q, want %q", stdout, tc.wantStdout)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tc.wantStderr)
			}
			if got := s.mustExec("print(asyncio.run(asyncio.sleep(0.01, 'usable')))"); got != "usable\n" {
				t.Errorf("loop not usable after the interrupt: %q", got)
			}
		})
	}
}

func fetchFixture(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Seen", r.Header.Get("X-Test"))
		io.WriteString(w, `{"hello": "world", "n": 3}`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), b)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusFound)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusNotFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "flavour", Value: "oat", Path: "/"})
		io.WriteString(w, "set")
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("Cookie"))
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, "unzipped")
		zw.Close()
	})
	mux.HandleFunc("/files.zip", func(w http.ResponseWriter, r *http.Request) {
		zw := zip.NewWriter(w)
		f, _ := zw.Create("pkg/hello.txt")
		io.WriteString(f, "hello from the archive")
		zw.Close()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestSandboxFetch(t *testing.T) {
	srv := fetchFixture(t)
	s := newSandbox(t, &loop.Fetcher{Policy: loop.AllowHosts("127.0.0.1")})
	s.mustExec(fmt.Sprintf("BASE = %q\nfrom pyodide.http import pyfetch, open_url, pyxhr, HttpStatusError, AbortError", srv.URL))
	localhost := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name, code, want string
	}{
		{
			name: "pyfetch json and headers",
			code: `
async def main():
    r = await pyfetch(BASE + "/json", headers={"X-Test": "yes"})
    return r.status, r.ok, r.status_text, r.headers["x-seen"], r.headers["content-type"], await r.json(), r.body_used
print(asyncio.run(main()))`,
			want: "(200, True, 'OK', 'yes', 'application/json', {'hello': 'world', 'n': 3}, True)\n",
		},
		{
			name: "POST body, clone, bytes and buffer",
			code: `
async def main():
    r = await pyfetch(BASE + "/echo?q=1", method="POST", body='{"a": 1}', headers={"Content-Type": "application/json"})
    c = r.clone()
    b = await r.bytes()
    buf = await c.buffer()
    try:
        await r.text()
    except OSError as e:
        used = type(e).__name__
    return b, buf.to_string(), bytes(buf.to_memoryview()) == b, used
print(asyncio.run(main()))`,
			want: "(b'POST q=1 application/json {\"a\": 1}', 'POST q=1 application/json {\"a\": 1}', True, 'BodyUsedError')\n",
		},
		{
			name: "redirect, 404 and raise_for_status",
			code: `
async def main():
    r = await pyfetch(BASE + "/redirect")
    m = await pyfetch(BASE + "/missing")
    try:
        m.raise_for_status()
    except HttpStatusError as e:
        err = (e.status, str(e).startswith("404 Client Error"))
    return r.redirected, r.url.endswith("/json"), m.status, err
print(asyncio.run(main()))`,
			want: "(True, True, 404, (404, True))\n",
		},
		{
			name: "policy refusal is PermissionError, data: URLs work",
			code: fmt.Sprintf(`
async def main():
    try:
        await pyfetch(%q)
    except PermissionError as e:
        denied = "denied" in str(e)
    d = await pyfetch("data:text/plain;base64,aGVsbG8=")
    return denied, await d.text(), d.headers["content-type"]
print(asyncio.run(main()))`, localhost+"/json"),
			want: "(True, 'hello', 'text/plain')\n",
		},
		{
			name: "cancelling the task aborts the request",
			code: `
import time
async def main():
    t = asyncio.create_task(pyfetch(BASE + "/slow"))
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        return "cancelled", time.monotonic() - t0 < 1
print(asyncio.run(main()))`,
			want: "('cancelled', True)\n",
		},
		{
			name: "unpack_archive",
			code: `
async def main():
    r = await pyfetch(BASE + "/files.zip")
    await r.unpack_archive(extract_dir="/tmp/unpacked")
    return open("/tmp/unpacked/pkg/hello.txt").read()
print(asyncio.run(main()))`,
			want: "hello from the archive\n",
		},
		{
			name: "open_url and pyxhr block",
			code: `
print(open_url(BASE + "/json").read())
r = pyxhr.post(BASE + "/echo", params={"a": "b"}, json={"x": 1})
print(r.status_code, r.ok, r.text)
print(pyxhr.get(BASE + "/missing").status_code)`,
			want: "{\"hello\": \"world\", \"n\": 3}\n200 True POST a=b application/json {\"x\": 1}\n404\n",
		},
		{
			name: "urllib.request.urlopen",
			code: `
import urllib.request, urllib.error
with urllib.request.urlopen(BASE + "/json") as r:
    print(r.status, r.headers["Content-Type"], r.read())
req = urllib.request.Request(BASE + "/echo", data=b"k=v", method="PUT")
print(urllib.request.urlopen(req).read())
try:
    urllib.request.urlopen(BASE + "/missing")
except urllib.error.HTTPError as e:
    print("HTTPError", e.code)
try:
    urllib.request.urlopen(BASE.replace("127.0.0.1", "localhost"))
except urllib.error.URLError as e:
    print("URLError", type(e.reason).__name__)`,
			want: "200 application/json b'{\"hello\": \"world\", \"n\": 3}'\nb'PUT  application/x-www-form-urlencoded k=v'\nHTTPError 404\nURLError PermissionError\n",
		},
	}
	tests = append(tests, struct{ name, code, want string }{
		name: "requests",
		code: `
from pyodide import _http_requests
_http_requests.install()
import requests
r = requests.get(BASE + "/json", headers={"X-Test": "yes"}, params={"a": "1"})
print(r.status_code, r.reason, r.ok, r.headers["x-seen"], r.json(), r.url.endswith("/json?a=1"))
print(requests.post(BASE + "/echo", json={"x": 1}).text)
r = requests.get(BASE + "/redirect")
print(r.status_code, [h.status_code for h in r.history], r.url.endswith("/json"))
r = requests.get(BASE + "/redirect", allow_redirects=False)
print(r.status_code, r.is_redirect, r.headers["location"])
s = requests.Session()
s.get(BASE + "/cookie")
print(s.cookies.get("flavour"), s.get(BASE + "/whoami").text)
print(requests.get(BASE + "/gzip").text)
print(b"".join(requests.get(BASE + "/json", stream=True).iter_content(5)) == requests.get(BASE + "/json").content)
try:
    requests.get(BASE + "/missing").raise_for_status()
except requests.HTTPError as e:
    print("HTTPError", e.response.status_code)
try:
    requests.get(BASE.replace("127.0.0.1", "localhost"))
except requests.ConnectionError as e:
    print("ConnectionError", "denied" in str(e))
try:
    requests.get(BASE + "/slow", timeout=0.2)
except requests.Timeout as e:
    print(type(e).__name__)`,
		want: "200 OK True yes {'hello': 'world', 'n': 3} True\n" +
			"POST  application/json {\"x\": 1}\n" +
			"200 [302] True\n" +
			"302 True /json\n" +
			"oat flavour=oat\n" +
			"unzipped\n" +
			"True\n" +
			"HTTPError 404\n" +
			"ConnectionError True\n" +
			"ReadTimeout\n",
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.mustExec(tc.code); got != tc.want {
				t.Errorf("stdout %q\nwant   %q", got, tc.want)
			}
		})
	}
}

func TestSandboxFigures(t *testing.T) {
	srv := fetchFixture(t)
	s := newSandbox(t, &loop.Fetcher{Policy: loop.AllowHosts("127.0.0.1")})
	got := s.mustExec(fmt.Sprintf(`
import time
from pyodide.http import pyfetch
loop = asyncio.get_event_loop()
async def awaits(n):
    f = loop.create_future(); f.set_result(1)
    t0 = time.perf_counter()
    for _ in range(n):
        await f
    return (time.perf_counter() - t0) / n
async def sleeps0(n):
    t0 = time.perf_counter()
    for _ in range(n):
        await asyncio.sleep(0)
    return (time.perf_counter() - t0) / n
def nested(n):
    f = loop.create_future(); f.set_result(1)
    t0 = time.perf_counter()
    for _ in range(n):
        loop.run_until_complete(asyncio.sleep(0))
    return (time.perf_counter() - t0) / n
async def fetches(n):
    t0 = time.perf_counter()
    for _ in range(n):
        r = await pyfetch(%q)
        await r.text()
    return (time.perf_counter() - t0) / n
print("await of a resolved future: %%.2f us" %% (asyncio.run(awaits(20000)) * 1e6))
print("await asyncio.sleep(0) (a round trip through the Go loop): %%.1f us" %% (asyncio.run(sleeps0(2000)) * 1e6))
print("run_until_complete(sleep(0)) from plain code: %%.1f us" %% (nested(500) * 1e6))
print("pyfetch of a small local response, sequential: %%.2f ms" %% (asyncio.run(fetches(100)) * 1e3))
`, srv.URL+"/small"))
	t.Log("\n" + got)
}

// time.sleep (webloop.sleep once installed) blocks the Python code but the
// loop goes on: Go timers and tasks run, and may call into Python, while
// asyncio's own callbacks wait for the sleep to end.
func TestSandboxSleepServesTheLoop(t *testing.T) {
	s := newSandbox(t, nil)
	s.mustExec("import time, _wasmpy_rt\nwebloop.install_sleep()\nhits = []\n" +
		"_wasmpy_rt.register('probe', lambda d: (hits.append((bytes(d), time.monotonic())), b'')[1])")

	// A Go timer that calls Python (as a JS timer calling a PyProxy would)
	// fires while a cell sleeps.
	var firedAt time.Time
	var derr error
	if err := s.do(5*time.Second, func(context.Context) error {
		s.l.SetTimer(50*time.Millisecond, false, func() {
			firedAt = time.Now()
			_, derr = s.in.Dispatch(s.l.Context(), "probe", []byte("timer"))
		})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	got := s.mustExec("t0 = time.monotonic()\ntime.sleep(0.3)\nt1 = time.monotonic()\n" +
		"print([(d, round(at - t0, 2)) for d, at in hits], round(t1 - t0, 1))")
	took := time.Since(t0)
	if derr != nil {
		t.Fatalf("dispatch from the timer: %v", derr)
	}
	if firedAt.IsZero() || firedAt.Sub(t0) > 200*time.Millisecond || took < 300*time.Millisecond {
		t.Fatalf("timer fired %v after the start, the cell took %v", firedAt.Sub(t0), took)
	}
	if !strings.HasPrefix(got, "[(b'timer', 0.") || !strings.HasSuffix(got, "0.3\n") {
		t.Fatalf("stdout %q: the probe should have run during the sleep", got)
	}

	// asyncio's callbacks wait for the sleep to end.
	got = s.mustExec("flag = []\nloop = asyncio.get_event_loop()\nloop.call_soon(flag.append, 1)\n" +
		"loop.call_later(0.01, flag.append, 2)\ntime.sleep(0.1)\nprint(flag)\n" +
		"asyncio.run(asyncio.sleep(0.01))\nprint(flag)")
	if got != "[]\n[1, 2]\n" {
		t.Fatalf("stdout %q: asyncio work ran inside time.sleep, or was lost", got)
	}

	// time.sleep's argument rules.
	got = s.mustExec(`
for arg in (-1, "x", float("nan"), 1.5j, 2**80):
    try:
        time.sleep(arg)
    except (TypeError, ValueError, OverflowError) as e:
        print(type(e).__name__, end=" ")
time.sleep(0); time.sleep(True); time.sleep(0.001)
print(time.sleep is webloop.sleep)`)
	if got != "ValueError TypeError ValueError TypeError OverflowError True\n" {
		t.Fatalf("stdout %q", got)
	}

	// An interrupt ends the sleep with one KeyboardInterrupt.
	err, out, stderr, lat := s.interrupt("try:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print('caught')\nprint('after')", 200*time.Millisecond)
	if err != nil || out != "caught\nafter\n" || lat > 500*time.Millisecond {
		t.Fatalf("interrupted sleep: err %v, stdout %q, stderr %q, took %v", err, out, stderr, lat)
	}
}
