package jsbridge

import (
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeScheduler runs timers in virtual time, in deadline order (FIFO for
// equal deadlines), when run is called.
type fakeScheduler struct {
	now    time.Duration
	seq    int64
	timers map[int64]*fakeTimer
	posted []func()
}

type fakeTimer struct {
	id     int64
	at     time.Duration
	every  time.Duration
	repeat bool
	fn     func()
}

func newFakeScheduler() *fakeScheduler { return &fakeScheduler{timers: map[int64]*fakeTimer{}} }

func (s *fakeScheduler) SetTimer(d time.Duration, repeat bool, fn func()) int64 {
	s.seq++
	s.timers[s.seq] = &fakeTimer{id: s.seq, at: s.now + d, every: d, repeat: repeat, fn: fn}
	return s.seq
}

func (s *fakeScheduler) ClearTimer(id int64) { delete(s.timers, id) }
func (s *fakeScheduler) Post(fn func())      { s.posted = append(s.posted, fn) }

// run fires everything due within d of virtual time (and posted tasks).
func (s *fakeScheduler) run(d time.Duration) {
	end := s.now + d
	for i := 0; i < 100000; i++ {
		for len(s.posted) > 0 {
			fn := s.posted[0]
			s.posted = s.posted[1:]
			fn()
		}
		var due []*fakeTimer
		for _, t := range s.timers {
			if t.at <= end {
				due = append(due, t)
			}
		}
		if len(due) == 0 {
			s.now = end
			return
		}
		sort.Slice(due, func(i, j int) bool {
			if due[i].at != due[j].at {
				return due[i].at < due[j].at
			}
			return due[i].id < due[j].id
		})
		t := due[0]
		s.now = t.at
		if t.repeat {
			t.at += max(t.every, time.Millisecond)
		} else {
			delete(s.timers, t.id)
		}
		t.fn()
	}
}

type testWorld struct {
	*World
	out, errOut strings.Builder
	sched       *fakeScheduler
}

func newTestWorld(t *testing.T) *testWorld {
	t.Helper()
	tw := &testWorld{sched: newFakeScheduler()}
	w, err := New(Options{
		Scheduler: tw.sched,
		Stdout:    func(s string) { tw.out.WriteString(s) },
		Stderr:    func(s string) { tw.errOut.WriteString(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.World = w
	t.Cleanup(func() { w.Close() })
	return tw
}

func (tw *testWorld) run(t *testing.T, src string) string {
	t.Helper()
	v, err := tw.RunString("test.js", src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if v == nil {
		return ""
	}
	return v.String()
}

func TestGlobals(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"typeof", "[typeof console, typeof setTimeout, typeof queueMicrotask, typeof structuredClone, typeof TextEncoder, typeof TextDecoder, typeof URL, typeof URLSearchParams, typeof atob, typeof btoa, typeof crypto.getRandomValues, typeof crypto.randomUUID, typeof performance.now, typeof AbortController, typeof EventTarget, typeof Event, typeof BigInt, typeof Map, typeof Set, typeof JSON, typeof Uint8Array, typeof Buffer, typeof require].join()",
			"object,function,function,function,function,function,function,function,function,function,function,function,function,function,function,function,function,function,function,object,function,function,undefined"},
		{"btoa", "btoa('hello') + ' ' + atob('aGVsbG8=') + ' ' + atob(' aGVs bG8 ')", "aGVsbG8= hello hello"},
		{"atob bad", "(() => { try { atob('a'); } catch (e) { return e.name; } })()", "InvalidCharacterError"},
		{"btoa bad", "(() => { try { btoa('\\u0100'); } catch (e) { return e.name; } })()", "InvalidCharacterError"},
		{"encoder", "Array.from(new TextEncoder().encode('é€')).join()", "195,169,226,130,172"},
		{"decoder", "new TextDecoder().decode(new Uint8Array([195,169,226,130,172]))", "é€"},
		{"decoder fatal", "(() => { try { new TextDecoder('utf-8', {fatal: true}).decode(new Uint8Array([255])); } catch (e) { return e.name; } })()", "TypeError"},
		{"decoder lenient", "new TextDecoder().decode(new Uint8Array([104, 255, 105])).length", "3"},
		{"utf16", "new TextDecoder('utf-16le').decode(new Uint8Array([104, 0, 105, 0]))", "hi"},
		{"url", "const u = new URL('https://a.b/c?x=1&y=2#f'); [u.hostname, u.pathname, u.searchParams.get('y'), u.hash].join()", "a.b,/c,2,#f"},
		{"usp", "new URLSearchParams({a: '1', b: 'x y'}).toString()", "a=1&b=x+y"},
		{"clone", "const o = {a: [1, {b: 2}], m: new Map([[1, 'x']]), d: new Date(0)}; o.self = o; const c = structuredClone(o); [c !== o, c.a[1].b, c.m.get(1), c.d.getTime(), c.self === c].join()", "true,2,x,0,true"},
		{"clone fn", "(() => { try { structuredClone(() => 1); } catch (e) { return e.name; } })()", "DataCloneError"},
		{"random", "const a = new Uint8Array(32); crypto.getRandomValues(a); a.some((x) => x !== 0)", "true"},
		{"uuid", "/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID())", "true"},
		{"perf", "typeof performance.now() === 'number' && performance.now() >= 0", "true"},
		{"abort", "const c = new AbortController(); let n = 0; c.signal.addEventListener('abort', () => n++); c.abort(); c.abort(); [c.signal.aborted, n, c.signal.reason.name].join()", "true,1,AbortError"},
		{"event", "const t = new EventTarget(); let got; t.addEventListener('x', (e) => { got = e.type + e.detail; }, {once: true}); t.dispatchEvent(new CustomEvent('x', {detail: 5})); t.dispatchEvent(new CustomEvent('x', {detail: 6})); got", "x5"},
		{"bigint", "String(2n ** 70n)", "1180591620717411303424"},
		{"asyncIterator", "typeof Symbol.asyncIterator", "symbol"},
		{"weakref", "new WeakRef({a: 1}).deref().a", "1"},
		{"buffer", "Buffer.from('hi').toString('hex')", "6869"},
	}
	tw := newTestWorld(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := tw.run(t, "(() => {"+wrapLast(c.src)+"})()"); got != c.want {
				t.Errorf("%s\n got  %q\n want %q", c.src, got, c.want)
			}
		})
	}
}

// wrapLast makes the last statement of src a return.
func wrapLast(src string) string {
	if strings.HasPrefix(src, "(() =>") {
		return "return " + src
	}
	i := strings.LastIndex(src, "; ")
	if i < 0 {
		return "return " + src
	}
	return src[:i+2] + "return " + src[i+2:]
}

func TestConsole(t *testing.T) {
	cases := []struct{ src, want string }{
		{`console.log("a", 1, true, null, undefined)`, "a 1 true null undefined\n"},
		{`console.log([1, "x", [2]], {a: 1, b: "s"})`, "[ 1, 'x', [ 2 ] ] { a: 1, b: 's' }\n"},
		{`console.log(new Map([["k", 1]]), new Set([1]))`, "Map(1) { 'k' => 1 } Set(1) { 1 }\n"},
		{`console.log("%s=%d", "x", 42, "rest")`, "x=42 rest\n"},
		{`console.log(function foo() {}, class A {}, 5n, Symbol("s"))`, "[Function: foo] [class A] 5n Symbol(s)\n"},
		{`console.log({})`, "{}\n"},
		{`console.log(new Uint8Array([1, 2]))`, "Uint8Array(2) [ 1, 2 ]\n"},
		{`console.info("i"); console.debug("d")`, "i\nd\n"},
	}
	for _, c := range cases {
		tw := newTestWorld(t)
		tw.run(t, c.src)
		if got := tw.out.String(); got != c.want {
			t.Errorf("%s\n got  %q\n want %q", c.src, got, c.want)
		}
	}
	tw := newTestWorld(t)
	tw.run(t, `console.error("bad"); console.warn("w")`)
	if got := tw.errOut.String(); got != "bad\nw\n" {
		t.Errorf("stderr %q", got)
	}
	tw = newTestWorld(t)
	tw.run(t, `console.table([{a: 1, b: 2}, {a: 3}])`)
	want := "┌─────────┬───┬───┐\n│ (index) │ a │ b │\n├─────────┼───┼───┤\n│ 0       │ 1 │ 2 │\n│ 1       │ 3 │   │\n└─────────┴───┴───┘\n"
	if got := tw.out.String(); got != want {
		t.Errorf("table\n%s\nwant\n%s", got, want)
	}
}

func TestTimersAndMicrotasks(t *testing.T) {
	tw := newTestWorld(t)
	tw.run(t, `
		globalThis.log = [];
		setTimeout(() => log.push("t20"), 20);
		setTimeout((a, b) => { log.push("t10:" + a + b); Promise.resolve().then(() => log.push("micro-in-t10")); }, 10, "x", "y");
		const iv = setInterval(() => { log.push("iv"); if (log.filter((x) => x === "iv").length === 3) clearInterval(iv); }, 5);
		const c = setTimeout(() => log.push("cleared"), 1);
		clearTimeout(c);
		queueMicrotask(() => log.push("qm"));
		Promise.resolve().then(() => log.push("p"));
		log.push("sync");
	`)
	if got := tw.run(t, "log.join()"); got != "sync,qm,p" {
		t.Fatalf("before timers: %s", got)
	}
	tw.sched.run(100 * time.Millisecond)
	want := "sync,qm,p,iv,t10:xy,micro-in-t10,iv,iv,t20"
	if got := tw.run(t, "log.join()"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if tw.Timers() != 0 {
		t.Errorf("%d timers left", tw.Timers())
	}
	// An exception in a callback is reported, not fatal.
	tw.run(t, `setTimeout(() => { throw new TypeError("boom"); }, 1); setTimeout(() => log.push("after"), 2)`)
	tw.sched.run(10 * time.Millisecond)
	if !strings.Contains(tw.errOut.String(), "Uncaught TypeError: boom") {
		t.Errorf("stderr %q", tw.errOut.String())
	}
	if got := tw.run(t, "log[log.length - 1]"); got != "after" {
		t.Errorf("got %s", got)
	}
}

func TestAsyncGeneratorTransform(t *testing.T) {
	tw := newTestWorld(t)
	v, err := tw.RunString("t.js", `globalThis.res = []; (async () => {
		const g = (async function*() { yield 1; await null; yield 'two'; const x = await Promise.resolve(3); yield x; })();
		for (let r = await g.next(); !r.done; r = await g.next()) res.push(r.value);
		res.push(Object.prototype.toString.call(g));
	})(); 0`)
	if err != nil || v == nil {
		t.Fatal(err)
	}
	// The eval path transforms; RunString does not: exercise transformSource.
	src := `(async function*() { yield 1; await null; yield 'two'; })()`
	out, changed := transformSource(src)
	if !changed || strings.Contains(out, "async function*") {
		t.Fatalf("not transformed: %s", out)
	}
	tw.run(t, `globalThis.g2 = `+out+`; globalThis.got = []; (async () => { for (;;) { const r = await g2.next(); if (r.done) break; got.push(r.value); } })()`)
	if got := tw.run(t, "got.join()"); got != "1,two" {
		t.Errorf("got %q", got)
	}
	cls, changed := transformSource(`class A { async *m(a) { yield await a; } }; globalThis.A = A`)
	if !changed {
		t.Fatal("class method not transformed")
	}
	tw.run(t, cls)
	tw.run(t, `globalThis.got3 = []; (async () => { for (const it = new A().m(Promise.resolve(7));;) { const r = await it.next(); if (r.done) break; got3.push(r.value); } })()`)
	if got := tw.run(t, "got3.join()"); got != "7" {
		t.Errorf("got %q", got)
	}
}

func TestInterruptJS(t *testing.T) {
	tw := newTestWorld(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		tw.Interrupt()
	}()
	_, err := tw.RunString("loop.js", "for (;;) {}")
	if err == nil {
		t.Fatal("not interrupted")
	}
	if got := tw.run(t, "1 + 1"); got != "2" {
		t.Fatalf("after interrupt: %s", got)
	}
}

func TestFetch(t *testing.T) {
	tw := newTestWorld(t)
	var got FetchRequest
	tw.SetFetch(func(req FetchRequest, done func(*FetchResponse, error)) func() {
		got = req
		if strings.Contains(req.URL, "fail") {
			tw.sched.Post(func() { done(nil, NewFetchError("denied", errorString("no"))) })
			return nil
		}
		if strings.Contains(req.URL, "slow") {
			aborted := false
			tw.sched.SetTimer(50*time.Millisecond, false, func() {
				if !aborted {
					done(&FetchResponse{Status: 200}, nil)
				}
			})
			return func() {
				aborted = true
				tw.sched.Post(func() { done(nil, NewFetchError("aborted", errorString("aborted"))) })
			}
		}
		tw.sched.Post(func() {
			done(&FetchResponse{Status: 201, StatusText: "Created", URL: req.URL, Type: "basic",
				Header: [][2]string{{"content-type", "application/json"}, {"x-a", "1"}},
				Body:   []byte(`{"k": [1, 2]}`)}, nil)
		})
		return nil
	})
	tw.run(t, `globalThis.log = [];
		fetch("http://127.0.0.1:1/x?q=1", {method: "post", body: "hé", headers: {"X-Y": "z"}})
			.then(async (r) => { log.push(r.status, r.ok, r.statusText, r.headers.get("X-A"), r.url, JSON.stringify(await r.json()), r.bodyUsed); })
			.catch((e) => log.push("err " + e));
		fetch("http://127.0.0.1:1/fail").catch((e) => log.push(e.name + ":" + e.message + ":" + e.cause.code));
		const c = new AbortController();
		fetch("http://127.0.0.1:1/slow", {signal: c.signal}).catch((e) => log.push(e.name));
		c.abort();
		fetch("not a url").catch((e) => log.push(e.name));
		0`)
	tw.sched.run(100 * time.Millisecond)
	want := "AbortError,TypeError,201,true,Created,1,http://127.0.0.1:1/x?q=1,{\"k\":[1,2]},true,TypeError:fetch failed:denied"
	if out := tw.run(t, "log.join()"); out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if got.Method != "POST" && got.Method != "GET" {
		t.Errorf("method %q", got.Method)
	}
	tw.run(t, `globalThis.h = new Headers([["A", "1"], ["b", "2"]]); h.append("a", "3"); 0`)
	if out := tw.run(t, "JSON.stringify([...h]) + h.has('B')"); out != `[["a","1, 3"],["b","2"]]true` {
		t.Errorf("headers %s", out)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestDateStringLikeV8(t *testing.T) {
	tw := newTestWorld(t)
	got := tw.run(t, "String(new Date(0))")
	if strings.HasSuffix(got, "(UTC)") {
		t.Errorf("got %q, want V8's (Coordinated Universal Time)", got)
	}
}
