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
