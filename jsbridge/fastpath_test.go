package jsbridge

import "testing"

// The fast paths of the FFI (the lazily made attribute request of a
// JsProxy, the one-int call from JavaScript, to_py's packed numbers,
// awaiting a native promise without Promise.resolve) must answer exactly
// as the general paths do, including in the cases they hand back to them.
func TestFastPaths(t *testing.T) {
	e := newPyEnv(t)
	e.mustExec("import js, asyncio\nfrom pyodide.code import run_js\nfrom pyodide.ffi import *\n")
	cases := []pyCase{
		{"attribute request made on first use", `
o = run_js("({a: 1, f(x) { return this.a + x; }})")
m = o.f                         # a method proxy: _G not made yet
print(m(2), o.a, m.name, m.length)
o.a = 5
print(o.a, m(2), o.f(2))
j = o.as_py_json()              # another proxy of the same value
print(j["a"], m.bind(run_js("({a: 10})"))(1))
del m, j
print(run_js("globalThis").Math.max(1, 4))`, "3 1 f 1\n5 7 7\n5 11\n4\n"},
		{"one int argument from javascript", `
call = run_js("(f, x) => f(x)")
def kinds(x):
    return {1: 2**40, 2: "s", 3: None, 4: [x], 5: -2**31, 6: 2**31}.get(x, x * 2)
print([call(kinds, i) for i in range(8)][1:])
def boom(x):
    raise ValueError(f"boom {x}")
print(run_js("(f) => { try { f(3); } catch (e) { return e.type + ': ' + e.message.trim().split('\\n').pop(); } }")(boom))
print(run_js("(f) => f(1, 2)")(lambda a, b: a + b), run_js("(f) => f(7.5)")(lambda a: a * 2), run_js("(f) => f(-1)")(abs))
class C:
    def __call__(self, x):
        return x + 100
print(call(C(), 1), call(create_proxy(lambda x: x - 1), 10))`,
			"[1099511627776, 's', None, [4], -2147483648, 2147483648, 14]\nValueError: ValueError: boom 3\n3 15 1\n101 9\n"},
		{"async function called from javascript", `
async def double(x):
    return x * 2
async def add(a, b):
    return a + b
async def main():
    print(await run_js("(f) => f(21)")(double), await run_js("(f) => f(1, 2)")(add))
    # Both are Futures seen from JS (thenables), not bare coroutines.
    print(run_js("(f) => typeof f(21).then")(double), run_js("(f) => typeof f(1, 2).then")(add))
    await asyncio.sleep(0)
asyncio.run(main())`, "42 3\nfunction function\n"},
		{"to_py of arrays of numbers", `
for src in ["[1, 2, 3]", "[1, 2.5, -3]", "[1, 2**53, 3]", "[0.5, 1e300, -0]", "[1, , 3]",
            "(() => { const a = [1, 2]; Object.defineProperty(a, 1, {get() { return 9; }}); return a; })()",
            "[1, 'a', 2]", "[1, NaN, Infinity]", "[-2147483649, 2147483648, 9007199254740991]"]:
    print(repr(run_js(src).to_py()))`,
			"[1, 2, 3]\n[1, 2.5, -3]\n[1, 9007199254740992.0, 3]\n[0.5, 1e+300, 0]\n[1, None, 3]\n[1, 9]\n[1, 'a', 2]\n[1, nan, inf]\n[-2147483649, 2147483648, 9007199254740991]\n"},
		{"await promises of every kind", `
async def main():
    print(await js.Promise.resolve(1))
    sub = run_js("class P2 extends Promise {}; P2.resolve(2)")
    print(await sub)
    p = run_js("(() => { const p = Promise.resolve(3); p.constructor = function () {}; return p; })()")
    print(await p)
    print(await run_js("({then(r) { r(4); }})"))
    print(await run_js("new Promise(r => setTimeout(() => r(5), 1))"))
    try:
        await run_js("Promise.reject(new RangeError('six'))")
    except JsException as e:
        print(e.name, e.message)
asyncio.run(main())`, "1\n2\n3\n4\n5\nRangeError six\n"},
	}
	e.run(t, cases)
}
