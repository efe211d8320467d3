package jsbridge

import "testing"

// The hot paths of JsProxy that run in C (wasmpy/csrc/jsref.c): attribute
// reads, calls with simple arguments, making proxies and releasing their
// handles, and the decoding of answers, each with the cases that must fall
// back to the Python side.
func TestJsRefFastPaths(t *testing.T) {
	e := newPyEnv(t)
	e.mustExec(`import js, asyncio, gc
from pyodide.code import run_js
from pyodide.ffi import JsProxy, JsException, create_proxy
o = run_js("""({i: -7, big: 2 ** 40, huge: 2n ** 70n, f: 1.5, s: 'h\u00e9 \ud83d\ude00', lone: '\ud800',
  t: true, no: false, nul: null, und: undefined, arr: [1, 2], fn(x) { return x; }, keys: 1,
  getter: { get g() { return 'got'; } }})""")
`)
	e.run(t, []pyCase{
		{"scalars", `
for k in ("i", "big", "huge", "f", "s", "t", "no", "nul", "und"):
    v = getattr(o, k)
    print(k, type(v).__name__, repr(v))
print(repr(o.lone), len(o.lone))`,
			"i int -7\nbig int 1099511627776\nhuge int 1180591620717411303424\nf float 1.5\n" +
				"s str 'hé 😀'\nt bool True\nno bool False\nnul JsNull jsnull\nund NoneType None\n" +
				"'\\ud800' 1\n"},
		{"missing names and Python-side ones", `
try:
    o.nope
except AttributeError as e:
    print("AttributeError", e.args)
print(hasattr(o, "nope"), hasattr(o, "i"), getattr(o, "nope", 5))
print(type(o._G).__name__, len(o._G), o._G[:1], o.js_id == o._id, isinstance(o._flags, int))
print(o.keys, run_js("[1]").__class__.__name__)
try:
    run_js("[1, 2]").keys
except AttributeError as e:
    print("array keys:", e)
print(o.getter.g, o.arr.length, o.fn(3))`,
			"AttributeError ('nope',)\nFalse True 5\nbytes 5 b'G' True True\n1 JsProxy\narray keys: keys\ngot 2 3\n"},
		{"reserved words and Python-side attributes", `
p = run_js("({from: 1, 'class': 2, 'x_': 3})")
print(p.from_, p.class_, p.x_)
p.__name__ = "kept in Python"
print(p.__name__, run_js("(o) => '__name__' in o")(p))`,
			"1 2 3\nkept in Python False\n"},
		{"call arguments in C and in Python", `
ident = run_js("(...a) => a.map(x => x === null ? 'null' : x === undefined ? 'undef' : typeof x + ':' + String(x)).join(' ')")
print(ident(1, -2**31, 2**31 - 1, 2.5, "s\u00e9", None, True, False, o.arr))
print(ident(2**31, 2**53 + 1, "\ud800").encode("utf-8", "surrogatepass"))
print(ident([1], {"a": 1}, x=1))
print(ident())`,
			"number:1 number:-2147483648 number:2147483647 number:2.5 string:sé undef boolean:true boolean:false object:1,2\n" +
				"b'number:2147483648 bigint:9007199254740993 string:\\xed\\xa0\\x80'\n" +
				"object:[1] object:{'a': 1} object:[object Object]\n\n"},
		{"call results", `
f = run_js("(k) => ({num: 3, str: 'x', obj: {a: 1}, fn: () => 1, nul: null, arr: [1]})[k]")
for k in ("num", "str", "obj", "fn", "nul", "arr"):
    v = f(k)
    print(k, type(v).__name__, callable(v))
m = run_js("({v: 5, get() { return this.v; }})").get
print(m(), type(m).__name__)`,
			"num int False\nstr str False\nobj JsProxy False\nfn JsProxy True\nnul JsNull False\narr JsProxy False\n5 JsProxy\n"},
		{"call errors", `
thrower = run_js("(x) => { throw new TypeError('bad ' + x); }")
try:
    thrower(1)
except JsException as e:
    print(type(e).__name__, e.name, e.message)
def boom():
    raise ValueError("py")
try:
    run_js("(f) => f()")(boom)
except ValueError as e:
    print("ValueError", e)
try:
    run_js("({})").notfn(1)
except AttributeError as e:
    print("AttributeError", e)`,
			"JsException TypeError bad 1\nValueError py\nAttributeError notfn\n"},
		// A call returning a settled promise gives a future settled from the
		// loop (the host answers with the outcome, not the promise).
		{"settled and pending promises", `
async def main():
    res = run_js("(x) => Promise.resolve(x)")
    rej = run_js("(x) => Promise.reject(new RangeError('r' + x))")
    later = run_js("(x) => new Promise(r => setTimeout(() => r(x), 1))")
    f = res(1)
    print(type(f).__name__, f.done(), await f)
    g = rej(2)
    print(g.done())
    try:
        await g
    except JsException as e:
        print(type(e).__name__, e.name, e.message)
    print(await later(3), await res(o.arr), await js.Promise.resolve("s"))
    print(sum([await res(i) for i in range(100)]))
asyncio.run(main())`,
			"PyodideFuture False 1\nFalse\nJsException RangeError r2\n3 1,2 s\n4950\n"},
		// The settling entry (webloop._Settle) leaves a cancelled future
		// alone and runs in order with the other ready callbacks.
		{"settled promise futures on the loop", `
async def main():
    res = run_js("(x) => Promise.resolve(x)")
    log = []
    a = res(1)
    asyncio.get_event_loop().call_soon(log.append, "soon")
    b = res(2)
    a.add_done_callback(lambda f: log.append(("a", f.result())))
    b.add_done_callback(lambda f: log.append(("b", f.result())))
    c = res(3)
    c.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    print(log, c.cancelled(), repr(a))
asyncio.run(main())`,
			"['soon', ('a', 1), ('b', 2)] True <PyodideFuture finished result=1>\n"},
		// Awaiting such a future settles it at once when its settling is all
		// the loop has to run (PyodideFuture.__await__, in C), else in turn.
		{"awaiting a settled promise's future", `
from pyodide.webloop import PyodideFuture
async def main():
    res = run_js("(x) => Promise.resolve(x)")
    it = res(5).__await__()
    try:
        next(it)
        print("yielded")
    except StopIteration as e:
        print("at once", e.value)
    g = res(6)
    g.cancel()
    try:
        await g
    except asyncio.CancelledError:
        print("cancelled")
    h = res(7)
    asyncio.get_event_loop().call_soon(print, "other first")
    print(await h, [await res(i) for i in range(3)], list(iter(res(8))))
    print(type(PyodideFuture.__await__).__name__)
asyncio.run(main())`,
			"at once 5\ncancelled\nother first\n7 [0, 1, 2] []\nmethod_descriptor\n"},
		// The host says with the call's outcome whether its loop had anything
		// else to run ('W'); awaiting before the next host call trusts that,
		// later ones ask again. Either way a due JS timer gets its turn.
		{"awaiting while the host's loop has work", `
import time
async def main():
    res = run_js("(x) => Promise.resolve(x)")
    later = run_js("globalThis.__log = []; (s) => { setTimeout(() => globalThis.__log.push(s), 0); }")
    later("t0")
    for i in range(300):
        await res(i)
        if len(js.__log):
            print("timer ran by await", i > 0)
            break
    else:
        print("timer starved")
    f = res(1)
    later("t1")  # a host call: what the host said with f's outcome is stale
    t = time.perf_counter()
    while time.perf_counter() - t < 0.005:
        pass
    print(await f, list(js.__log))  # the timer's turn came first
asyncio.run(main())`,
			"timer ran by await True\n1 ['t0', 't1']\n"},
		{"released handles", `
from pyodide._core_ffi import _flush_release
_flush_release()
n0 = run_js("globalThis.__h = () => 0; 0")
mk = run_js("() => ({})")
for i in range(3000):
    mk()
    o.fn
gc.collect()
_flush_release()
print("ok")`, "ok\n"},
	})
}

// Calls of PyProxies from JavaScript, answered in C when the arguments are
// simple (wasmpy_jsref_dispatch), with the Python dispatcher's semantics.
func TestJsRefCallsFromJS(t *testing.T) {
	e := newPyEnv(t)
	e.mustExec(`import js, asyncio
from pyodide.code import run_js
from pyodide.ffi import create_proxy, to_js, JsException
show = lambda *a, **k: repr(a) + (repr(k) if k else "")
p = create_proxy(show)
call = run_js("(f, ...a) => f(...a)")
`)
	e.run(t, []pyCase{
		{"arguments", `
print(call(p, 1, -2.5, "s\u00e9", None, True, False))
print(call(p, js.Object.new(), run_js("[1, 2]"), run_js("null"), run_js("2n ** 64n")))
print(run_js("(f) => f()")(p), run_js("(f) => f(undefined, 2 ** 31)")(p))
q = create_proxy([1, 2])
print(run_js("(f, q) => f(q, q)")(p, q))
q.destroy()`,
			"(1, -2.5, 'sé', None, True, False)\n([object Object], 1,2, jsnull, 18446744073709551616)\n() (None, 2147483648)\n([1, 2], [1, 2])\n"},
		{"keywords and callRelaxed", `
print(run_js("(f) => f.callKwargs(1, {b: 2})")(p))
def two(a, b=0):
    return a + b
print(run_js("(f) => f.callRelaxed(1, 2, 3)")(two), run_js("(f) => f.callRelaxed(5)")(two))`,
			"(1,){'b': 2}\n3 5\n"},
		{"results", `
def res(k):
    return {"i": 7, "big": 2**40, "f": 0.5, "s": "x", "n": None, "t": True, "o": [1], "j": js.Math, "null": run_js("null")}[k]
r = create_proxy(res)
print(run_js("(f) => ['i', 'big', 'f', 's', 'n', 't', 'o', 'j', 'null'].map(k => { const v = f(k); return typeof v + ':' + (v === null ? 'null' : String(v)); }).join(' ')")(r))
r.destroy()`,
			"number:7 number:1099511627776 number:0.5 string:x undefined:undefined boolean:true object:[1] object:[object Math] object:null\n"},
		{"errors cross", `
def bad(x):
    raise KeyError(x)
b = create_proxy(bad)
print(run_js("(f) => { try { f(1); } catch (e) { return e.constructor.name + ' ' + e.type; } }")(b))
try:
    call(b, 2)
except KeyError as e:
    print("KeyError", e)
b.destroy()
try:
    call(b, 3)
except JsException as e:
    print(type(e).__name__, "destroyed" in str(e))`,
			"PythonError KeyError\nKeyError 2\nJsException True\n"},
		// What a callback prints comes before what JavaScript logs after it.
		{"output order", `
def say(x):
    print("py", x)
    return x
s = create_proxy(say)
run_js("(f) => { console.log('js before'); f(1); console.log('js after'); f(2); }")(s)
s.destroy()`,
			"js before\npy 1\njs after\npy 2\n"},
		{"async function gives a promise", `
async def later(x):
    await asyncio.sleep(0)
    return x * 2
l = create_proxy(later)
async def main():
    print(await run_js("(f) => f(21)")(l))
asyncio.run(main())
l.destroy()`,
			"42\n"},
	})
}

// to_js of lists and tuples of numbers: packed in C (i32s, or f64s when a
// float is mixed in), or item by item when a value needs it.
func TestJsRefPackedNumbers(t *testing.T) {
	e := newPyEnv(t)
	e.mustExec(`from pyodide.ffi import to_js
from pyodide.code import run_js
desc = run_js("(a) => Array.isArray(a) + ' ' + a.map(x => typeof x + ':' + String(x)).join(',')")
`)
	e.run(t, []pyCase{
		{"ints", `
print(desc(to_js(list(range(-3, 7)))))
print(desc(to_js(tuple([2**31 - 1, -2**31] * 4))))`,
			"true number:-3,number:-2,number:-1,number:0,number:1,number:2,number:3,number:4,number:5,number:6\n" +
				"true number:2147483647,number:-2147483648,number:2147483647,number:-2147483648,number:2147483647,number:-2147483648,number:2147483647,number:-2147483648\n"},
		{"floats, big ints, bools", `
print(desc(to_js([1, 2.5, 3, 4, 5, 6, 7, float("inf")])))
print(desc(to_js([2**31, 1, 2, 3, 4, 5, 6, 7])))
print(desc(to_js([2**53, 1, 2, 3, 4, 5, 6, 7.5])))
print(desc(to_js([True, 1, 2, 3, 4, 5, 6, 7])))
class I(int): pass
print(desc(to_js([I(5), 1, 2, 3, 4, 5, 6, 7])))`,
			"true number:1,number:2.5,number:3,number:4,number:5,number:6,number:7,number:Infinity\n" +
				"true number:2147483648,number:1,number:2,number:3,number:4,number:5,number:6,number:7\n" +
				"true bigint:9007199254740992,number:1,number:2,number:3,number:4,number:5,number:6,number:7.5\n" +
				"true boolean:true,number:1,number:2,number:3,number:4,number:5,number:6,number:7\n" +
				"true number:5,number:1,number:2,number:3,number:4,number:5,number:6,number:7\n"},
		// Lists of scalars are encoded in C (jsref_enc_scalars) unless an
		// item needs the Python encoder.
		{"to_js of scalar lists", `
print(desc(to_js(["a", 1, 2.5, None, True, False, "h\u00e9", "", -7])))
print(desc(to_js(("x", 2**40, 1, 2, 3, 4, 5, 6))))
print(desc(to_js(["\ud800", 1, 2, 3, 4, 5, 6, 7])).encode("utf-8", "surrogatepass"))
print(desc(to_js([[1], "s", 1, 2, 3, 4, 5, 6])), to_js(["a"] * 8)[7])`,
			"true string:a,number:1,number:2.5,undefined:undefined,boolean:true,boolean:false,string:h\u00e9,string:,number:-7\n" +
				"true string:x,number:1099511627776,number:1,number:2,number:3,number:4,number:5,number:6\n" +
				"b'true string:\\xed\\xa0\\x80,number:1,number:2,number:3,number:4,number:5,number:6,number:7'\n" +
				"true object:1,string:s,number:1,number:2,number:3,number:4,number:5,number:6 a\n"},
		{"to_js of dicts of scalars", `
import js
o = to_js({"a": 1, "b": "x", "c": 2.5, "d": None, "e": True, 3: "three"})
print(js.JSON.stringify(o), o.d, run_js("(o) => Object.keys(o).join()")(o))
m = to_js({1: "one", "k": [1, 2], None: 0}, dict_converter=js.Map.new)
print(run_js("(m) => [...m.entries()].map(([k, v]) => String(k) + '=' + String(v)).join(' ')")(m))
print(js.JSON.stringify(to_js({"big": 2**40, "s": "\u00e9"})))`,
			`{"3":"three","a":1,"b":"x","c":2.5,"e":true} None 3,a,b,c,d,e` + "\n" +
				"1=one k=1,2 undefined=0\n" + `{"big":1099511627776,"s":"é"}` + "\n"},
		// Nested lists, tuples and dicts of scalars are encoded in C
		// (jsref_enc_tree); shared and cyclic ones, depth limits and other
		// objects go through the Python encoder. Pyodide 0.29.5's output.
		{"to_js of nested data", `
import js
from pyodide.ffi import to_js
from pyodide.code import run_js
out = []
recs = [{"a": i, "b": "x%d" % i, "c": [i, i + 0.5], "d": {"e": None, "f": True}} for i in range(3)]
out.append(js.JSON.stringify(to_js(recs)))
shared = [1, 2]
t = to_js({"p": shared, "q": shared, "r": (shared, [shared])})
out.append(run_js("(t) => [t.p === t.q, t.r[0] === t.p, t.r[1][0] === t.p].join()")(t))
cyc = [1]; cyc.append(cyc)
out.append(str(run_js("(c) => c[1] === c")(to_js(cyc))))
d = {"k": [1, {"deep": [[[]]]}], 2: "two", None: 3, 1.5: "f"}
out.append(js.JSON.stringify(to_js(d)))
class O: pass
m = to_js([{"a": 1}, O()])
out.append(run_js("(m) => typeof m[1] + ' ' + m[0].a")(m))
x = [1]
out.append(str(run_js("(o) => o[0] === o[1].again")(to_js([x, {"again": x}]))))
inner = {"z": 1}
out.append(str(run_js("(t) => t[0][0] === t[1]")(to_js([[inner], inner]))))
out.append(js.JSON.stringify(to_js([[1, [2, [3]]]], depth=2), None, 0) if False else str(run_js("(a) => typeof a[0][1]")(to_js([[1, [2, [3]]]], depth=2))))
out.append(js.JSON.stringify(to_js([[1, 2.5, "s", None, True, 2**40, -1] * 2, ()])))
try:
    to_js({(1, 2): 3})
except Exception as e:
    out.append(type(e).__name__)
out.append(js.JSON.stringify(to_js({"a": 1, 1: 2})))
try:
    to_js({"1": 1, 1: 2})
except Exception as e:
    out.append(type(e).__name__ + ": " + str(e)[:60])
print("\n".join(out))
`,
			"[{\"a\":0,\"b\":\"x0\",\"c\":[0,0.5],\"d\":{\"f\":true}},{\"a\":1,\"b\":\"x1\",\"c\":[1,1.5],\"d\":{\"f\":true}},{\"a\":2,\"b\":\"x2\",\"c\":[2,2.5],\"d\":{\"f\":true}}]\n" +
				"true,true,true\n" +
				"True\n" +
				"{\"2\":\"two\",\"k\":[1,{\"deep\":[[[]]]}],\"undefined\":3,\"1.5\":\"f\"}\n" +
				"object 1\n" +
				"True\n" +
				"True\n" +
				"object\n" +
				"[[1,2.5,\"s\",null,true,1099511627776,-1,1,2.5,\"s\",null,true,1099511627776,-1],[]]\n" +
				"ConversionError\n" +
				"{\"1\":2,\"a\":1}\n" +
				"ConversionError: Key collision when converting Python dictionary to JavaScrip\n"},
		{"to_py of integer arrays", `
a = run_js("[1, -2, 2 ** 40, 0, -(2 ** 52), 2 ** 31]").to_py()
print(a, [type(x).__name__ for x in a][:2])
print(run_js("Array.from({length: 1000}, (_, i) => i * 3)").to_py()[-3:], run_js("[]").to_py())`,
			"[1, -2, 1099511627776, 0, -4503599627370496, 2147483648] ['int', 'int']\n[2991, 2994, 2997] []\n"},
		// Numbers that are not all safe integers come as doubles ('F'); a
		// safe integer among them is still an int, as in Pyodide.
		{"to_py of number arrays", `
a = run_js("[1, 2.5, -0, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 - 1, -(2 ** 53 - 1), 1e300, 3.0]").to_py()
print(a, [type(x).__name__ for x in a])
b = run_js("Array.from({length: 1000}, (_, i) => i / 2)").to_py()
print(b[:3], b[-1], sum(type(x) is int for x in b))`,
			"[1, 2.5, 0, nan, inf, -inf, 9007199254740992.0, 9007199254740991, -9007199254740991, 1e+300, 3] " +
				"['int', 'float', 'int', 'float', 'float', 'float', 'float', 'int', 'int', 'float', 'int']\n" +
				"[0, 0.5, 1] 499.5 500\n"},
	})
}

// Attribute reads that jsref.c keeps between host calls (op 'K'): a value
// is reused only while no JavaScript can have run, and never for getters,
// Proxies or objects.
func TestJsRefReadCache(t *testing.T) {
	e := newPyEnv(t)
	e.mustExec(`import js, asyncio, time
from pyodide.code import run_js
from pyodide.ffi import create_proxy
`)
	// The reads a loop makes of the host: the first, the one that asks
	// whether it may keep the value, and none after.
	e.mustExec(`o = run_js("({x: 1, s: 'a'})")`)
	for _, c := range []struct {
		code  string
		reads int
	}{
		{"for _ in range(100): o.x", 2},
		{"for _ in range(100): o.x; o.s", 4},
		{"p = run_js('({y: 2})')\nfor _ in range(100): o.x + p.y", 4},
		{"for _ in range(100): o.x; js.Object", 200},
		{"for _ in range(100): o.x; run_js('1')", 100},
		{"g = run_js('({get x() { return 1 }})')\nfor _ in range(100): g.x", 100},
	} {
		before := e.w.propReads
		e.mustExec(c.code)
		if got := e.w.propReads - before; got != c.reads {
			t.Errorf("%q: %d reads from the host, want %d", c.code, got, c.reads)
		}
	}
	e.run(t, []pyCase{
		{"a loop reads the value, then sees JavaScript's change", `
o = run_js("({x: 1, s: 'a'})")
inc = run_js("(o) => { o.x++; o.s += 'b'; }")
seen = []
for _ in range(3):
    seen.append((o.x, o.x, o.x, o.s, o.s))
    inc(o)
print(seen, o.x)`,
			"[(1, 1, 1, 'a', 'a'), (2, 2, 2, 'ab', 'ab'), (3, 3, 3, 'abb', 'abb')] 4\n"},
		{"Python's own writes and deletes", `
o = run_js("({x: 1})")
print(o.x, o.x, o.x)
o.x = 10
print(o.x, o.x)
del o.x
print(hasattr(o, "x"))`,
			"1 1 1\n10 10\nFalse\n"},
		{"getters run on every read", `
g = run_js("({n: 0, get c() { return ++this.n; }})")
print([g.c for _ in range(5)], g.n, g.n)`,
			"[1, 2, 3, 4, 5] 5 5\n"},
		{"a Proxy's trap runs on every read", `
p, t = run_js("(() => { const t = {n: 0}; return [new Proxy({x: 1}, {get(o, k) { t.n++; return o[k]; }}), t]; })()")
n = t.n
print([p.x for _ in range(4)], t.n - n)`,
			"[1, 1, 1, 1] 4\n"},
		{"inherited properties and objects are read each time", `
c = run_js("Object.create({x: 1})")
setp = run_js("(c, v) => { Object.getPrototypeOf(c).x = v; }")
print(c.x, c.x, c.x)
setp(c, 2)
print(c.x, c.x)
h = run_js("({inner: {}})")
print(h.inner == h.inner, h.inner is h.inner)`,
			"1 1 1\n2 2\nTrue False\n"},
		{"redefined as a getter from JavaScript", `
o = run_js("({x: 1})")
print(o.x, o.x, o.x)
run_js("(o) => Object.defineProperty(o, 'x', {get() { return 'g'; }})")(o)
print(o.x, o.x)`,
			"1 1 1\ng g\n"},
		{"a callback from JavaScript sees JavaScript's writes", `
o = run_js("({x: 1})")
print(o.x, o.x, o.x)
f = create_proxy(lambda: (o.x, o.x))
print(run_js("(f, o) => { o.x = 5; const a = f(); o.x = 6; return [a, f()]; }")(f, o).to_py(), o.x)
f.destroy()`,
			"1 1 1\n[(5, 5), (6, 6)] 6\n"},
		{"a timer's write is seen after the loop ran it", `
o = run_js("({x: 1})")
js.setTimeout(run_js("(o) => () => { o.x = 2; }")(o), 0)
print(o.x, o.x, o.x)
async def main():
    await asyncio.sleep(0.01)
    return o.x, o.x
print(asyncio.run(main()))`,
			"1 1 1\n(2, 2)\n"},
	})
}
