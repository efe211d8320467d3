package jsbridge

import (
	"context"
	"testing"

	"github.com/dop251/goja"
)

func BenchmarkRunJS(b *testing.B) {
	w, _ := New(Options{})
	for i := 0; i < b.N; i++ {
		w.runJS(func() {})
	}
}

func BenchmarkTypeFlagsPlain(b *testing.B) {
	w, _ := New(Options{})
	v, _ := w.rt.RunString("({x: 1})")
	o := v.(*goja.Object)
	for i := 0; i < b.N; i++ {
		w.typeFlags(o)
	}
}

func BenchmarkNewPyProxy(b *testing.B) {
	w, _ := New(Options{})
	for i := 0; i < b.N; i++ {
		w.newPyProxy(&pyShared{id: uint64(i + 1), flags: 0}, &pyRef{}, true)
	}
}

func BenchmarkOpGetAttr(b *testing.B) {
	w, _ := New(Options{})
	v, _ := w.rt.RunString("({x: 1})")
	id, _ := w.handles.add(v, func() uint32 { return 0 })
	req := append([]byte{'G'}, appendU32(nil, id)...)
	req = append(req, 'x')
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
