package jsbridge

import (
	"context"
	"testing"

	"github.com/dop251/goja"
)

// newMicroWorld is a World whose JavaScript runtime is made (it is made
// lazily, on first use, in a kernel).
func newMicroWorld(b *testing.B) *World {
	w, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	w.Runtime()
	return w
}

func BenchmarkRunJS(b *testing.B) {
	w := newMicroWorld(b)
	for i := 0; i < b.N; i++ {
		w.runJS(func() {})
	}
}

func BenchmarkTypeFlagsPlain(b *testing.B) {
	w := newMicroWorld(b)
	v, _ := w.Runtime().RunString("({x: 1})")
	o := v.(*goja.Object)
	for i := 0; i < b.N; i++ {
		w.typeFlags(o)
	}
}

func BenchmarkNewPyProxy(b *testing.B) {
	w := newMicroWorld(b)
	for i := 0; i < b.N; i++ {
		w.newPyProxy(&pyShared{id: uint64(i + 1), flags: 0}, &pyRef{}, true)
	}
}

func BenchmarkOpGetAttr(b *testing.B) {
	w := newMicroWorld(b)
	v, _ := w.Runtime().RunString("({x: 1})")
	id, _ := w.handles.add(v, func() uint32 { return 0 })
	req := append([]byte{'G'}, appendU32(nil, id)...)
	req = append(req, 'x')
	for i := 0; i < b.N; i++ {
		w.hostCall(w.baseCtx, req)
	}
}

// BenchmarkOpGetData is op 'K' (a read Python may cache) of an own data
// property, of an inherited method and of a getter.
func BenchmarkOpGetData(b *testing.B) {
	w := newMicroWorld(b)
	v, _ := w.Runtime().RunString("({x: 1, __proto__: {get g() { return 2 }, m() {}}})")
	id, _ := w.handles.add(v, func() uint32 { return 0 })
	for _, name := range []string{"x", "m", "g"} {
		for _, op := range []byte{'G', 'K'} {
			req := append([]byte{op}, appendU32(nil, id)...)
			req = append(req, name...)
			b.Run(string(op)+"-"+name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					w.hostCall(w.baseCtx, req)
				}
			})
		}
	}
}

// BenchmarkOpCall is the Go side of calling a one-argument JS function
// from Python (op 'C') with an int.
func BenchmarkOpCall(b *testing.B) {
	benchCall(b, "(function (v) { return v + 1; })", "\x00i\x08\x00\x00\x00")
}

// BenchmarkOpCallSettled is op 'C' of Promise.resolve(7): a call whose
// result is a settled promise, answered with its outcome.
func BenchmarkOpCallSettled(b *testing.B) {
	benchCall(b, "Promise.resolve.bind(Promise)", "\x00Vi\x07\x00\x00\x00")
}

// benchCall times op 'C' of the function src evaluates to, called with 7;
// its first answer must be want.
func benchCall(b *testing.B, src, want string) {
	w := newMicroWorld(b)
	v, _ := w.Runtime().RunString(src)
	id, _ := w.handles.add(v, func() uint32 { return 0 })
	req := append([]byte{'C'}, appendU32(nil, id)...)
	req = appendU32(req, 0)
	req = appendU32(req, 1)
	req = append(req, 'i')
	req = appendU32(req, 7)
	if out, _ := w.hostCall(w.baseCtx, req); string(out) != want {
		b.Fatalf("%q", out)
	}
	for i := 0; i < b.N; i++ {
		w.hostCall(w.baseCtx, req)
	}
}

func BenchmarkAfterFunc(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < b.N; i++ {
		stop := context.AfterFunc(ctx, func() {})
		stop()
	}
}

// BenchmarkToJsInts100k is the Go side of to_js of a 100k-int list.
func BenchmarkToJsInts100k(b *testing.B) {
	w := newMicroWorld(b)
	n := 100000
	req := []byte{'T', 'T', 0, 0, 0, 0, 'a'}
	req = appendU32(req, uint32(n))
	for i := 0; i < n; i++ {
		req = appendU32(req, uint32(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _ := w.hostCall(w.baseCtx, req)
		if i == 0 && out[0] != 'h' {
			b.Fatalf("%q", out[:1])
		}
	}
}

// BenchmarkToPyInts100k is the Go side of to_py of a 100k-number Array.
func BenchmarkToPyInts100k(b *testing.B) {
	w := newMicroWorld(b)
	v, _ := w.Runtime().RunString("(() => { const a = new Array(100000); for (let i = 0; i < a.length; i++) a[i] = i; return a; })()")
	id, _ := w.handles.add(v, func() uint32 { return 0 })
	req := append([]byte{'P'}, appendU32(nil, id)...)
	req = appendU32(req, 0xffffffff)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.hostCall(w.baseCtx, req)
	}
}
