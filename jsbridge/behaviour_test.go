package jsbridge

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Behaviours of Pyodide 0.29's FFI beyond the published conformance cases
// (what the Pyodide documentation and test suite state), run in one
// interpreter on the loop. Each case's stdout must match exactly.
func TestBehaviours(t *testing.T) {
	e := newPyEnv(t)
	e.mustExec("import js\nfrom pyodide.code import run_js\nfrom pyodide.ffi import *\n")
	cases := []pyCase{
		// conversions
		{"int boundaries", `
f = run_js("(x) => typeof x")
for v in [2**53 - 2, 2**53 - 1, -(2**53 - 1), 2**53, 2**64]:
    print(f(v))`, "number\nbigint\nbigint\nbigint\nbigint\n"},
		{"float int", `print(run_js("2.0"), type(run_js("2.0")).__name__, run_js("2.5"), run_js("-0"), type(run_js("2**53")).__name__)`, "2 int 2.5 0 float\n"},
		{"bool", `print(run_js("true"), run_js("(x) => x === true")(True), run_js("(x) => typeof x")(False))`, "True True boolean\n"},
		{"None undefined", `print(run_js("(x) => x === undefined")(None), run_js("[undefined]")[0])`, "True None\n"},
		{"str unicode", `print(run_js("(s) => s.length")("😀é"), run_js("'😀'"), len(run_js("'😀'")))`, "3 😀 1\n"},
		{"bigint neg", `print(run_js("-(2n ** 100n)") == -(2**100), run_js("(x) => x === -(2n ** 100n)")(-(2**100)))`, "True True\n"},
		{"to_js immutable", `print(to_js(5), to_js("s"), to_js(None), to_js(True), to_js(1.5))`, "5 s None True 1.5\n"},
		{"to_js dict", `o = to_js({"a": 1, "b": {"c": [1, 2]}})
print(run_js("(o) => Object.prototype.toString.call(o) + JSON.stringify(o)")(o))`, "[object Object]{\"a\":1,\"b\":{\"c\":[1,2]}}\n"},
		{"to_js dict Map", `m = to_js({"a": 1, 2: "b"}, dict_converter=js.Map.new)
print(m.get("a"), m.get(2), m.size, type(m).__name__)`, "1 b 2 JsProxy\n"},
		{"to_js dict int keys", `print(js.JSON.stringify(to_js({1: "a", 2: "b"})))`, "{\"1\":\"a\",\"2\":\"b\"}\n"},
		{"to_js key collision", `try:
    to_js({1: "a", "1": "b"})
except Exception as e:
    print(type(e).__name__)`, "ConversionError\n"},
		{"to_js bad key", `try:
    to_js({(1, 2): 3})
except Exception as e:
    print(type(e).__name__)`, "ConversionError\n"},
		{"to_js set bad", `try:
    to_js({(1,)})
except Exception as e:
    print(type(e).__name__)`, "ConversionError\n"},
		{"to_js bytes", `u = to_js(b"abc")
print(run_js("(x) => Object.prototype.toString.call(x)")(u), list(u))`, "[object Uint8Array] [97, 98, 99]\n"},
		{"to_js array i", `import array
a = to_js(array.array("i", [1, -2]))
print(run_js("(x) => Object.prototype.toString.call(x)")(a), list(a))`, "[object Int32Array] [1, -2]\n"},
		{"to_js cycle", `l = [1]
l.append(l)
j = to_js(l)
print(run_js("(a) => a[1] === a")(j))`, "True\n"},
		{"to_js shared", `a = [1]
j = to_js([a, a])
print(run_js("(x) => x[0] === x[1]")(j))`, "True\n"},
		{"to_js proxies", `class C: pass
arr = js.Array.new()
j = to_js([C(), C()], pyproxies=arr)
print(arr.length, run_js("(a) => a.map(p => p.type).join()")(j))
destroy_proxies(arr)
try:
    run_js("(a) => a[0].type")(j)
except JsException as e:
    print("destroyed", "destroyed" in e.message)`, "2 C,C\ndestroyed True\n"},
		{"to_js create_pyproxies False", `class C: pass
try:
    to_js([C()], create_pyproxies=False)
except Exception as e:
    print(type(e).__name__)`, "ConversionError\n"},
		{"to_js default_converter", `import datetime
def conv(v, convert, cache):
    if isinstance(v, datetime.date):
        return js.Date.new(v.year, v.month - 1, v.day)
    return v
d = to_js([datetime.date(2020, 1, 2)], default_converter=conv)
print(d[0].getFullYear(), d[0].getMonth(), d[0].getDate())`, "2020 0 2\n"},
		{"to_js eager", `def eager(v, convert, cache):
    if isinstance(v, tuple):
        return "tuple!"
    return convert(v)
print(js.JSON.stringify(to_js([1, (2, 3), [4]], eager_converter=eager)))`, "[1,\"tuple!\",[4]]\n"},
		{"to_py map set", `m = run_js("new Map([[1, 'a'], ['b', [2]]])").to_py()
s = run_js("new Set([1, 'x'])").to_py()
print(m, sorted(map(str, s)), type(s).__name__)`, "{1: 'a', 'b': [2]} ['1', 'x'] set\n"},
		{"to_py class instance", `v = run_js("new (class A { constructor() { this.x = 1; } })()").to_py()
print(type(v).__name__, v.x)`, "JsProxy 1\n"},
		{"to_py null proto", `print(run_js("Object.assign(Object.create(null), {a: 1})").to_py())`, "{'a': 1}\n"},
		{"to_py buffer", `mv = run_js("new Uint16Array([1, 2])").to_py()
print(type(mv).__name__, mv.format, mv.tolist())`, "memoryview H [1, 2]\n"},
		{"to_py cycle", `v = run_js("(() => { const a = [1]; a.push(a); return a; })()").to_py()
print(v[0], v[1] is v)`, "1 True\n"},
		{"to_py shared", `v = run_js("(() => { const o = {x: 1}; return [o, o]; })()").to_py()
print(v[0] is v[1], v[0])`, "True {'x': 1}\n"},
		{"to_py default converter", `def conv(v, convert, cache):
    if v.constructor.name == "Date":
        return "date"
    return v
print(run_js("[new Date(0), {a: new Date(0)}]").to_py(default_converter=conv))`, "['date', {'a': 'date'}]\n"},
		{"to_py nested floats", `print(run_js("[1, 1.5, -2, 1e21, NaN]").to_py())`, "[1, 1.5, -2, 1e+21, nan]\n"},
		{"to_py bool int map", `try:
    run_js("new Map([[1, 'a'], [true, 'b']])").to_py()
except JsException as e:
    print(e.name)`, "Error\n"},
		// JsProxy
		{"repr str", `print(repr(run_js("({})")), str(run_js("[1, [2]]")), repr(run_js("Symbol.iterator")))`, "[object Object] 1,2 Symbol(Symbol.iterator)\n"},
		{"eq", `o = run_js("({})")
print(o == o, o == run_js("({})"), o != 1, js.Object == js.Object)`, "True False True True\n"},
		{"hash", `try:
    hash(run_js("({})"))
except TypeError:
    print("unhashable")`, "unhashable\n"},
		{"js_id", `o = run_js("globalThis.__o = {}")
print(o.js_id == js.__o.js_id)`, "True\n"},
		{"typeof", `print(run_js("({})").typeof, run_js("() => 1").typeof, run_js("Symbol()").typeof, js.Object.typeof)`, "object function symbol function\n"},
		{"getattr missing", `try:
    run_js("({})").nothere
except AttributeError as e:
    print("AttributeError", e)`, "AttributeError nothere\n"},
		{"undefined attr", `print(run_js("({a: undefined})").a)`, "None\n"},
		{"hasattr", `o = run_js("({a: 1})")
print(hasattr(o, "a"), hasattr(o, "b"), hasattr(o, "toString"))`, "True False True\n"},
		{"setattr delattr", `o = run_js("({a: 1})")
o.b = [1, 2]
print(run_js("(o) => JSON.stringify(Object.keys(o)) + typeof o.b + o.b.type")(o))
del o.a
print(run_js("(o) => 'a' in o")(o))`, "[\"a\",\"b\"]objectlist\nFalse\n"},
		{"reserved words", `a = js.Array.from_([1, 2])
print(type(a).__name__, a.length)
o = run_js("({from: 1, from_: 2, then: 3})")
print(o.from_, o.from__)`, "JsProxy 2\n1 2\n"},
		{"dir", `d = dir(run_js("({aa: 1, bb: 2})"))
print("aa" in d, "bb" in d, "to_py" in d, "hasOwnProperty" in d)`, "True True True True\n"},
		{"array keys hidden", `a = run_js("[1]")
print(hasattr(a, "keys"), "keys" in dir(a))`, "False False\n"},
		{"bool", `print(bool(run_js("({})")), bool(run_js("[]")), bool(run_js("new Map()")), bool(run_js("() => 0")), bool(run_js("new ArrayBuffer(0)")))`, "True False False True False\n"},
		{"len", `print(len(run_js("'abc'.split('')")), len(run_js("({length: 4})")), len(run_js("({size: 2})")))`, "3 4 2\n"},
		{"isinstance", `import collections.abc as abc
a, m, f, p = run_js("[[1], new Map(), () => 1, Promise.resolve()]")
print(isinstance(a, JsArray), isinstance(a, abc.MutableSequence), isinstance(m, JsMap), isinstance(m, JsMutableMap), isinstance(m, abc.Mapping))
print(isinstance(f, JsCallable), isinstance(p, JsPromise), isinstance(a, JsCallable), isinstance(a, JsProxy), isinstance(1, JsProxy))`, "True True True True True\nTrue True False True False\n"},
		{"new", `d = js.Date.new(0)
print(d.getTime(), js.Array.new(3).length, js.Map.new([[1, 2]]).get(1))`, "0 3 2\n"},
		{"kwargs", `f = run_js("(a, o) => a + ':' + JSON.stringify(o)")
print(f(1, x=2, y="z"))`, "1:{\"x\":2,\"y\":\"z\"}\n"},
		{"this", `o = run_js("({v: 5, get() { return this.v; }})")
g = o.get
print(g(), o.get())`, "5 5\n"},
		// arrays
		{"array ops", `a = run_js("[1, 2, 3, 4, 5]")
print(a[0], a[-1], list(a[1:3]), list(a[::-2]))
a[0] = 10
a.append(6)
a.extend([7, 8])
print(a.pop(), a.pop(0), a.index(3), a.count(3), 3 in a, 99 in a)
a.insert(1, 0)
a.remove(4)
a.reverse()
print(list(a), len(a))
del a[0]
del a[1:3]
print(list(a))`, "1 5 [2, 3] [5, 3, 1]\n8 10 1 1 True False\n[7, 6, 5, 3, 0, 2] 6\n[6, 0, 2]\n"},
		{"array index error", `a = run_js("[1]")
try:
    a[5]
except IndexError as e:
    print("IndexError")
try:
    a.pop(3)
except IndexError as e:
    print(e)`, "IndexError\npop index out of range\n"},
		{"array slice assign", `a = run_js("[1, 2, 3, 4]")
a[1:3] = ["a", "b", "c"]
print(list(a))`, "[1, 'a', 'b', 'c', 4]\n"},
		{"array concat", `a = run_js("[1, 2]")
b = a + [3]
a += [4]
print(list(b), list(a), list(a * 2))`, "[1, 2, 3] [1, 2, 4] [1, 2, 4, 1, 2, 4]\n"},
		{"reversed", `print(list(reversed(run_js("[1, 2, 3]"))))`, "[3, 2, 1]\n"},
		{"typed array", `u = run_js("new Uint8Array([1, 2, 3])")
u[0] = 9
print(u[0], len(u), list(u), u.to_py().tolist())
try:
    u[0:1]
except NotImplementedError:
    print("no slices")`, "9 3 [9, 2, 3] [9, 2, 3]\nno slices\n"},
		// maps
		{"map ops", `m = run_js("new Map([['a', 1]])")
m["b"] = 2
print(len(m), m["a"], "b" in m, "z" in m, sorted(m), sorted(m.items()))
print(m.pop("a"), m.pop("zz", "d"), m.setdefault("c", 3), len(m))
m.update({"d": 4})
print(len(m))
m.clear()
print(len(m))`, "2 1 True False ['a', 'b'] [('a', 1), ('b', 2)]\n1 d 3 2\n3\n0\n"},
		{"map keyerror", `m = run_js("new Map()")
try:
    del m["x"]
except KeyError:
    print("KeyError")`, "KeyError\n"},
		{"as_py_json", `o = run_js("({x: {y: [1, {z: 2}]}})").as_py_json()
print(o["x"]["y"][1]["z"], list(o), len(o), "x" in o)`, "2 ['x'] 1 True\n"},
		// iteration
		{"generator", `g = run_js("(function* () { const x = yield 1; yield x * 2; return 'end'; })()")
print(next(g), g.send(21))
try:
    next(g)
except StopIteration as e:
    print("stop", e.value)`, "1 42\nstop end\n"},
		{"iterator", `it = run_js("[1, 2].values()")
print(isinstance(it, JsIterator), list(it))`, "True [1, 2]\n"},
		{"object not iterable", `try:
    iter(run_js("({})"))
except TypeError:
    print("TypeError")`, "TypeError\n"},
		// PyProxy from JS
		{"pyproxy type repr", `f = run_js("(x) => [x.type, String(x), typeof x, x.toString()].join('|')")
import collections
print(f(collections.OrderedDict(a=1)))
print(f([1]))`, "collections.OrderedDict|OrderedDict({'a': 1})|object|OrderedDict({'a': 1})\nlist|[1]|object|[1]\n"},
		{"pyproxy attrs", `class C:
    def __init__(self): self.v = 1
    def m(self, x): return self.v + x
c = C()
f = run_js("(c) => { c.v = 10; c.w = 'new'; return [c.v, c.m(5), 'v' in c, 'zz' in c, c.zz].join() }")
print(f(c), c.w)`, "10,15,true,false, new\n"},
		{"pyproxy dict", `f = run_js("(d) => [d.get('a'), d.has('a'), d.length, d.a, 'a' in d, JSON.stringify(Object.keys(d))].join('|')")
print(f({"a": 1}))`, "1|true|1|1|true|[\"a\"]\n"},
		{"pyproxy list", `f = run_js("(l) => [l.length, l[0], l.get(1), l.includes(2), JSON.stringify(l), l.map(x => x * 2).join()].join('|')")
print(f([1, 2]))`, "2|1|2|true|[1,2]|2,4\n"},
		{"pyproxy list mutate", `l = [3, 1, 2]
run_js("(l) => { l.push(4); l.sort(); l[0] = 0; }")(l)
print(l)`, "[0, 2, 3, 4]\n"},
		{"pyproxy toJs", `f = run_js("(p) => JSON.stringify(p.toJs())")
print(f({"a": [1, (2,)]}))
g = run_js("(p) => p.toJs({depth: 1})[0].type")
print(g([[1]]))`, "{\"a\":[1,[2]]}\nlist\n"},
		{"pyproxy callKwargs", `def f(a, b=0, *, c=0): return a + b * 10 + c * 100
print(run_js("(f) => f.callKwargs(1, {b: 2, c: 3})")(f), run_js("(f) => f.call(null, 4)")(f), run_js("(f) => f.apply(null, [5, 6])")(f))`, "321 4 65\n"},
		{"pyproxy bind captureThis", `def f(*a): return ",".join(map(str, a))
print(run_js("(f) => f.bind(null, 1)(2)")(f))
p = create_proxy(f)
print(run_js("(f) => { const o = {m: f.captureThis(), n: 7}; return o.m(8); }")(p)[:14])
p.destroy()`, "1,2\n[object Object\n"},
		{"pyproxy iterate", `print(run_js("(it) => Array.from(it).join()")(range(4)), run_js("(d) => [...d].join()")({"a": 1, "b": 2}))`, "0,1,2,3 a,b\n"},
		{"pyproxy generator", `def gen():
    x = yield 1
    yield x + 1
print(run_js("(g) => { const a = g.next(); const b = g.next(41); const c = g.next(); return [a.value, b.value, c.done].join(); }")(gen()))`, "1,42,true\n"},
		{"pyproxy copy destroy", `store = run_js("(p) => { globalThis.__kept = p.copy(); }")
store([1, 2])
print(run_js("__kept.length"))
run_js("__kept.destroy()")
try:
    run_js("__kept.length")
except JsException as e:
    print(e.message.splitlines()[0])`, "2\nObject has already been destroyed\n"},
		{"borrowed", `run_js("(p) => { globalThis.__b = p; }")([1])
try:
    run_js("__b.length")
except JsException as e:
    print(e.message.splitlines()[0])`, "This borrowed proxy was automatically destroyed at the end of a function call. Try using create_proxy or create_once_callable.\n"},
		{"create_proxy roundtrip", `d = {}
p = create_proxy(d)
r = run_js("(x) => x")(p)
print(type(p).__name__, isinstance(p, JsDoubleProxy), p.unwrap() is d, r is d, type(r).__name__, r.unwrap() is d)
q = create_proxy(d, roundtrip=False)
print(run_js("(x) => x")(q) is d)
p.destroy()
q.destroy()`, "JsProxy True True False JsProxy True\nTrue\n"},
		{"create_proxy callable", `p = create_proxy(lambda x: x + 1)
print(isinstance(p, JsCallable), p(1), run_js("(f) => f(2)")(p))
p.destroy()`, "True 2 3\n"},
		{"pyproxy instanceof", `print(run_js("(p, f) => [p instanceof PyProxy, f instanceof Function, typeof f, Object.prototype.toString.call(f)].join()")([1], len))`, "true,true,function,[object PyProxy]\n"},
		{"pyproxy getattr error", `class C:
    @property
    def bad(self): raise ValueError("nope")
f = run_js("(c) => { try { return c.bad; } catch (e) { return e.type; } }")
print(f(C()))`, "ValueError\n"},
		// errors
		{"js error props", `try:
    run_js("null.x")
except JsException as e:
    print(e.name, type(e).__name__, isinstance(e.js_error, JsProxy), "stack" in dir(e) or e.stack is not None)`, "TypeError JsException True True\n"},
		{"throw non error", `for src in ["throw 'str'", "throw 42", "throw {a: 1}", "throw null"]:
    try:
        run_js(src)
    except JsException as e:
        print(e.name, e.message.splitlines()[0])`, "Error str\nError A value of type number with tag [object Number] was thrown as an error!\nError A value of type object with tag [object Object] was thrown as an error!\nError A value of type object with tag [object Null] was thrown as an error!\n"},
		{"JsException new", `e = JsException("RangeError", "msg")
print(type(e).__name__, e.name, e.message, str(e))`, "JsException RangeError msg RangeError: msg\n"},
		{"python error message", `def bad(): raise KeyError("k")
msg = run_js("(f) => { try { f(); } catch (e) { return e.message; } }")(bad)
print(msg.splitlines()[0], msg.splitlines()[-1])`, "Traceback (most recent call last): KeyError: 'k'\n"},
		{"nested error chain", `def inner(): raise IndexError("deep")
f = run_js("(g) => g()")
try:
    f(lambda: f(inner))
except IndexError as e:
    print("IndexError", e)`, "IndexError deep\n"},
		{"js catches python", `print(run_js("(f) => { try { f(); return 'no'; } catch (e) { return e instanceof Error && e instanceof PythonError; } }")(lambda: 1 / 0))`, "True\n"},
		// buffers
		{"buffer to_string", `print(run_js("new TextEncoder().encode('héllo')").to_string(), run_js("new Uint8Array([104, 105])").to_bytes())`, "héllo b'hi'\n"},
		{"buffer assign_to", `u = run_js("new Uint8Array([1, 2, 3])")
b = bytearray(3)
u.assign_to(b)
print(b)
try:
    u.assign_to(bytearray(2))
except ValueError:
    print("ValueError")`, "bytearray(b'\\x01\\x02\\x03')\nValueError\n"},
		{"buffer memoryview float", `mv = run_js("new Float64Array([1.5, 2])").to_memoryview()
print(mv.format, mv.tolist(), run_js("new ArrayBuffer(4)").to_bytes())`, "d [1.5, 2.0] b'\\x00\\x00\\x00\\x00'\n"},
		// code
		{"eval_code", `from pyodide.code import eval_code, find_imports, should_quiet, CodeRunner
print(eval_code("1 + 1"), eval_code("1 + 1;"), eval_code("x = 5", return_mode="last_expr_or_assign"))
ns = {}
eval_code("a = 3\nb = a * 2", ns)
print(ns["b"], find_imports("import numpy as np\nfrom a.b import c\nimport os.path"), should_quiet("1;"))
print(CodeRunner("2 + 3").compile().run())`, "2 None 5\n6 ['a', 'a.b', 'numpy', 'os', 'os.path'] True\n5\n"},
		{"run_js type error", `try:
    run_js(5)
except TypeError as e:
    print(e)`, "argument should have type 'string' not type 'int'\n"},
		{"run_js var", `run_js("var __vv = 3; function __ff() { return 4; }")
print(js.__vv, js.__ff())`, "3 4\n"},
		{"jstypes", `from jstypes.ffi import JSProxy, JSArray, to_js as tj, jsnull as jn
from jstypes.code import run_js as rj
from jstypes import global_this
print(isinstance(rj("[]"), JSArray), jn is jsnull, global_this.Math.max(1, 2), JSProxy is JsProxy)`, "True True 2 True\n"},
		{"json jsnull", `import json
print(json.dumps({"a": jsnull}))`, "{\"a\": null}\n"},
		{"IN_BROWSER", `import pyodide.ffi
print(pyodide.ffi.IN_BROWSER, pyodide.__version__)`, "False 0.29.5\n"},
	}
	e.run(t, cases)
}

// Async behaviours, run with asyncio.run on the kernel's loop.
func TestAsyncBehaviours(t *testing.T) {
	e := newPyEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Test", "yes")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "body": string(b), "q": r.URL.RawQuery})
	}))
	defer srv.Close()
	e.mustExec("import js, asyncio\nfrom pyodide.code import run_js\nfrom pyodide.ffi import *\nURL = " + pyRepr(srv.URL) + "\n")
	cases := []pyCase{
		{"await promise", `async def main():
    print(await js.Promise.resolve(5), await run_js("new Promise(r => setTimeout(() => r('late'), 5))"))
asyncio.run(main())`, "5 late\n"},
		{"rejection", `async def main():
    try:
        await run_js("Promise.reject(new RangeError('r'))")
    except JsException as e:
        print(e.name, e.message)
    try:
        await run_js("Promise.reject('plain')")
    except JsException as e:
        print(e.name, e.message)
asyncio.run(main())`, "RangeError r\nError plain\n"},
		// As Pyodide 0.29.5: the coroutine's PyProxy is thenable, so the call
		// gives a Future whose rejection is the PythonError (a JsException).
		{"python error through promise", `async def bad():
    raise ValueError("inside")
async def main():
    try:
        await run_js("(f) => f()")(bad)
    except JsException as e:
        print(type(e).__name__, e.name, str(e).strip().splitlines()[-1])
asyncio.run(main())`, "JsException PythonError ValueError: inside\n"},
		// Awaiting a call's settled promise does not yield when nothing else
		// would run (PyodideFuture.__await__), and yields when a task is ready.
		{"await of a settled promise keeps the order", `order = []
async def other():
    order.append("other")
async def main():
    asyncio.ensure_future(other())
    order.append(await js.Promise.resolve("awaited"))
    f = js.Promise.resolve(1)
    print(f.done())
    await asyncio.sleep(0)
    print(f.done(), await f, await js.Promise.resolve(2))
asyncio.run(main())
print(order)`, "False\nTrue 1 2\n['other', 'awaited']\n"},
		{"js awaits coroutine", `async def add(a, b):
    await asyncio.sleep(0)
    return a + b
async def main():
    print(await run_js("async (f) => (await f(2, 3)) * 10")(add))
asyncio.run(main())`, "50\n"},
		{"js awaits future", `async def main():
    fut = asyncio.get_event_loop().create_future()
    p = run_js("async (p) => 'got ' + await p")(fut)
    fut.set_result("v")
    print(await p)
asyncio.run(main())`, "got v\n"},
		{"settled and pending promises", `async def main():
    js.eval("globalThis.order = []; Promise.resolve().then(() => order.push('queued before'))")
    v = await js.Promise.resolve("settled")  # answered at once
    order = list(js.order)
    w = await run_js("Promise.resolve().then(() => 'settles during the call')")
    try:
        await js.Promise.reject(js.TypeError.new("no"))
    except JsException as e:
        err = e.name + " " + e.message
    late = await run_js("new Promise(r => setTimeout(() => r('later'), 5))")
    print(v, order, w, err, late)
asyncio.run(main())`, "settled ['queued before'] settles during the call TypeError no later\n"},
		{"then catch finally", `async def main():
    r = await js.Promise.resolve(2).then(lambda v: v * 3)
    c = await run_js("Promise.reject(new Error('x'))").catch(lambda e: "caught " + e.message)
    log = []
    f = await js.Promise.resolve(7).finally_(lambda: log.append("fin"))
    print(r, c, f, log)
asyncio.run(main())`, "6 caught x 7 ['fin']\n"},
		{"gather promises", `async def main():
    ps = [run_js(f"new Promise(r => setTimeout(() => r({i}), {10 - i}))") for i in range(3)]
    print(await asyncio.gather(*map(asyncio.ensure_future, ps)))
asyncio.run(main())`, "[0, 1, 2]\n"},
		{"wait_for", `async def main():
    try:
        await asyncio.wait_for(run_js("new Promise(() => {})"), 0.05)
    except TimeoutError:
        print("timeout")
asyncio.run(main())`, "timeout\n"},
		{"async iterate python from js", `async def agen():
    for i in range(3):
        await asyncio.sleep(0)
        yield i
async def main():
    print(await run_js("async (g) => { const r = []; for (let x = await g.next(); !x.done; x = await g.next()) r.push(x.value); return r.join(); }")(agen()))
asyncio.run(main())`, "0,1,2\n"},
		{"timer order", `async def main():
    log = []
    for d in (20, 5, 10):
        js.setTimeout(create_once_callable(lambda d=d: log.append(d)), d)
    await asyncio.sleep(0.05)
    print(log)
asyncio.run(main())`, "[5, 10, 20]\n"},
		{"set_timeout wrappers", `from pyodide.ffi.wrappers import set_timeout, clear_timeout, set_interval, clear_interval
async def main():
    log = []
    set_timeout(lambda: log.append("t"), 5)
    h = set_timeout(lambda: log.append("cleared"), 5)
    clear_timeout(h)
    n = [0]
    def tick():
        n[0] += 1
        if n[0] == 3:
            clear_interval(iv)
    iv = set_interval(tick, 2)
    await asyncio.sleep(0.05)
    print(log, n[0])
asyncio.run(main())`, "['t'] 3\n"},
		{"js.fetch", `async def main():
    r = await js.fetch(URL + "/j?x=1", method="POST", body="hé")
    print(r.status, r.ok, r.headers.get("x-test"), (await r.json()).to_py())
    try:
        await js.fetch("http://10.255.255.1:9/")
    except JsException as e:
        print(e.name, e.message)
asyncio.run(main())`, "200 True yes {'body': 'hé', 'method': 'POST', 'q': 'x=1'}\nTypeError fetch failed\n"},
		{"run_sync", `from pyodide.ffi import run_sync, can_run_sync
print(can_run_sync(), run_sync(run_js("new Promise(r => setTimeout(() => r('sync!'), 5))")))`, "True sync!\n"},
	}
	e.run(t, cases)
}
