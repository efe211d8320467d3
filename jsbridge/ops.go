package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/dop251/goja"
)

// Ops of the "js" host function (Python -> Go); see _core_ffi.py.
const (
	opGetAttr  = 'G'
	opGetData  = 'K'
	opSetAttr  = 'S'
	opDelAttr  = 'D'
	opCall     = 'C'
	opNew      = 'N'
	opGetIndex = 'g'
	opSetIndex = 's'
	opHelper   = 'H'
	opNext     = 'n'
	opEval     = 'E'
	opGlobal   = 'L'
	opRelease  = 'r'
	opToJs     = 'T'
	opToPy     = 'P'
	opBufRead  = 'b'
	opBufWrite = 'w'
	opAwait    = 'W'
	opSettle   = 'Q'
	opProxy    = 'Y'
	opOnce     = 'O'
	opFlags    = 'F'
	opEntries  = 'e'
	opDestroy  = 'x'
	opUnwrap   = 'U'
	opCollect  = 'c'
	opAddRef   = 'a'
)

// hostCall is the "js" host function: one request from Python.
func (w *World) hostCall(ctx context.Context, data []byte) ([]byte, error) {
	if w.closed {
		return nil, ErrClosed
	}
	if len(data) == 0 {
		return nil, errors.New("js: empty request")
	}
	if err := ctx.Err(); err != nil {
		return []byte{tIntr}, nil
	}
	if err := w.js(); err != nil {
		return nil, err
	}
	prev := w.ctx
	w.ctx = ctx
	defer func() { w.ctx = prev }()

	var out []byte
	var perr *pyError
	err := w.guard(func() error {
		return w.runJS(func() {
			defer func() {
				if x := recover(); x != nil {
					if pe, ok := x.(*pyError); ok {
						perr = pe
						return
					}
					if x == errShort {
						perr = raise(kindRuntimeError, "jsbridge: truncated request")
						return
					}
					panic(x)
				}
			}()
			out = w.op(data)
		})
	})
	if perr != nil {
		return append([]byte{tRaise, perr.kind}, perr.msg...), nil
	}
	if err != nil {
		return w.encodeError(err), nil
	}
	if w.releaseNow {
		w.releaseNow = false
		w.flushReleases(1)
	} else {
		w.flushReleases(1024)
	}
	// Asked after the call's promise jobs ran (runJS), which may have
	// scheduled work.
	if data[0] == opCall && len(out) > 1 && out[0] == 0 && out[1] == tSettled &&
		w.opts.Idle != nil && w.opts.Idle(ctx) {
		out[1] = tSettledIdle
	}
	return out, nil
}

// encodeError turns an error of running JavaScript into a result.
func (w *World) encodeError(err error) []byte {
	var ex *goja.Exception
	switch {
	case errors.Is(err, errInterrupted):
		return []byte{tIntr}
	case errors.As(err, &ex):
		return w.encodeThrown(ex.Value())
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		e, _ := w.rt.New(w.rt.Get("RangeError"), w.rt.ToValue("Maximum call stack size exceeded"))
		return w.encodeThrown(e)
	}
	return append([]byte{tRaise, kindRuntimeError}, err.Error()...)
}

// encodeThrown encodes a thrown JavaScript value: a PythonError carries the
// token of the Python exception it wraps.
func (w *World) encodeThrown(v goja.Value) []byte {
	var b []byte
	if o, ok := v.(*goja.Object); ok {
		if isPy, err := w.helpers.isPyErr(goja.Undefined(), o); err == nil && isPy.ToBoolean() {
			tok := o.Get("__error_address")
			if tok != nil && !goja.IsUndefined(tok) {
				b = append(b, tPyErr)
				b = appendU64(b, uint64(tok.ToInteger()))
				id, flags := w.handles.add(o, func() uint32 { return w.typeFlags(o) })
				b = appendU32(b, id)
				return appendU32(b, flags)
			}
		}
	}
	ev, err := w.helpers.toError(goja.Undefined(), v)
	if err != nil {
		ev = w.newError("A value was thrown that could not be converted to an Error")
	}
	eo := ev.ToObject(w.rt)
	id, flags := w.handles.add(eo, func() uint32 { return w.typeFlags(eo) })
	b = append(b, tJsErr)
	b = appendU32(b, id)
	return appendU32(b, flags)
}

// object returns the value of handle id as an object (primitives such as
// symbols are boxed).
func (w *World) object(id uint32) *goja.Object {
	v := w.handles.get(id)
	if v == nil {
		panic(raise(kindRuntimeError, "JsProxy refers to a released JavaScript value (id "+strconv.Itoa(int(id))+")"))
	}
	if o, ok := v.(*goja.Object); ok {
		return o
	}
	return v.ToObject(w.rt)
}

func (w *World) value(id uint32) goja.Value {
	if id == 0 {
		return goja.Undefined()
	}
	v := w.handles.get(id)
	if v == nil {
		panic(raise(kindRuntimeError, "JsProxy refers to a released JavaScript value (id "+strconv.Itoa(int(id))+")"))
	}
	return v
}

// getAttr reads property name of handle id (op 'G'): 'A' when there is
// none, a bound method for a function.
func (w *World) getAttr(id uint32, name string) []byte {
	w.propReads++
	o, isObj := w.handles.get(id).(*goja.Object)
	if !isObj {
		o = w.object(id)
	}
	v := o.Get(name)
	if v == nil || (!isObj && goja.IsUndefined(v)) {
		// jsproxy.c tells a missing name from an undefined value with
		// `in`, which throws on a symbol (the one primitive a JsProxy
		// holds): Symbol().description raises.
		if sym, ok := w.handles.get(id).(*goja.Symbol); ok {
			panic(w.rt.NewTypeError("Cannot use 'in' operator to search for '%s' in Symbol(%s)", name, sym.String()))
		}
		return []byte{tMissing}
	}
	if fo, ok := v.(*goja.Object); ok {
		if _, isFn := goja.AssertFunction(fo); isFn {
			return w.appendMethod(nil, fo, o)
		}
	}
	return w.appendValue(make([]byte, 0, 16), v)
}

func (w *World) op(data []byte) []byte {
	r := &reader{b: data[1:]}
	switch data[0] {
	case opGetData:
		// A read that Python may cache until its next call into the host
		// (jsref.c): answered '=' and the value when it is an own data
		// property holding a primitive, read without running any
		// JavaScript; otherwise as opGetAttr.
		id := r.u32()
		name := string(r.rest())
		if o, ok := w.handles.get(id).(*goja.Object); ok && o.ExportType() != proxyType {
			if v, err := w.helpers.ownData(goja.Undefined(), o, w.rt.ToValue(name)); err == nil && v != w.helpers.missing {
				if _, isObj := v.(*goja.Object); !isObj {
					if _, isSym := v.(*goja.Symbol); !isSym {
						w.propReads++
						return w.appendValue(append(make([]byte, 0, 16), tData), v)
					}
				}
			}
		}
		return w.getAttr(id, name)

	case opGetAttr:
		id := r.u32()
		return w.getAttr(id, string(r.rest()))

	case opSetAttr:
		o := w.object(r.u32())
		name := string(r.bytes(int(r.u32())))
		v := w.readValue(r)
		if err := o.Set(name, v); err != nil {
			panic(err)
		}
		return []byte{tUndef}

	case opDelAttr:
		o := w.object(r.u32())
		if err := o.Delete(string(r.rest())); err != nil {
			panic(err)
		}
		return []byte{tUndef}

	case opCall, opNew:
		fn := w.value(r.u32())
		this := goja.Undefined()
		if data[0] == opCall {
			this = w.value(r.u32())
		}
		var borrowed []*pyRef
		args := w.readArgs(r, &borrowed)
		var res goja.Value
		if data[0] == opNew {
			o, err := w.rt.New(fn, args...)
			if err != nil {
				// Convert the thrown value while the argument proxies
				// live (it may be one of them).
				return w.failCall(err, borrowed)
			}
			res = o
		} else {
			f, ok := goja.AssertFunction(fn)
			if !ok {
				w.destroyBorrowed(borrowed)
				panic(w.rt.NewTypeError("%s is not a function", fn.String()))
			}
			var err error
			res, err = f(this, args...)
			if err != nil {
				return w.failCall(err, borrowed)
			}
		}
		if data[0] == opCall {
			// jsbind.c Js2Py_func_default_call_result: any thenable counts
			// as a promise (pre.js isPromise), a PyProxy of a Python
			// awaitable too (the coroutine of an async Python function).
			if ref := w.pyRefOf(res); ref != nil && ref.shared.flags&pyAwaitable != 0 && ref.shared.id != 0 {
				if then, ok := goja.AssertFunction(res.(*goja.Object).Get("then")); ok {
					if p, err := then(res); err == nil {
						res = p
					}
				}
			}
		}
		if data[0] == opCall && len(borrowed) == 0 {
			if out := w.settledCallResult(res); out != nil {
				return out
			}
		}
		out := w.callResult(res, borrowed)
		if data[0] == opCall && out[0] == 0 && len(out) > 1 && out[1] == tPyObj {
			// jsbind.c Js2Py_func_default_call_result: a PyProxy returned
			// by the call is destroyed with the arguments (roundtrip ones
			// are kept, and they decode as JsProxies anyway).
			if ref := w.pyRefOf(res); ref != nil {
				w.destroy(ref, msgBorrowed, false)
			}
		}
		return out

	case opGetIndex:
		o := w.object(r.u32())
		idx := int64(r.u64())
		v := o.Get(strconv.FormatInt(idx, 10))
		if v == nil {
			return []byte{tMissing}
		}
		return w.appendValue(nil, v)

	case opSetIndex:
		o := w.object(r.u32())
		idx := int64(r.u64())
		v := w.readValue(r)
		if err := o.Set(strconv.FormatInt(idx, 10), v); err != nil {
			panic(err)
		}
		return []byte{tUndef}

	case opHelper:
		i := int(r.byte())
		// The high bit asks for the PyProxies made for the arguments to
		// outlive the call (setitem: jsproxy.c uses plain python2js).
		keep := i&0x80 != 0
		i &^= 0x80
		if i >= len(w.helpers.pyHelpers) {
			panic(raise(kindRuntimeError, fmt.Sprintf("jsbridge: no helper %d", i)))
		}
		var borrowed []*pyRef
		var args []goja.Value
		if keep {
			args = w.readArgs(r, nil)
		} else {
			args = w.readArgs(r, &borrowed)
		}
		res, err := w.helpers.pyHelpers[i](goja.Undefined(), args...)
		if err != nil {
			w.destroyBorrowed(borrowed)
			panic(err)
		}
		w.destroyBorrowed(borrowed)
		if res == w.helpers.missing {
			return []byte{tMissing}
		}
		return w.appendValue(nil, res)

	case opNext:
		it := w.object(r.u32())
		var borrowed []*pyRef
		args := w.readArgs(r, &borrowed)
		defer w.destroyBorrowed(borrowed)
		return w.iterNext(it, args)

	case opEval:
		src := stringValue(w.rt, r.rest())
		return w.appendValue(nil, w.eval(src))

	case opGlobal:
		return w.appendValue(nil, w.rt.GlobalObject())

	case opRelease:
		for r.more() {
			w.handles.release(r.u32())
		}
		return []byte{tUndef}

	case opToJs:
		v := w.readValue(r)
		return w.appendConverted(v)

	case opToPy:
		return w.toPy(r)

	case opEntries:
		return w.entries(r)

	case opBufRead:
		b := w.bufferBytes(w.object(r.u32()))
		return b

	case opBufWrite:
		dst := w.bufferBytes(w.object(r.u32()))
		src := r.rest()
		if len(dst) != len(src) {
			panic(raise(kindValueError, fmt.Sprintf("cannot assign to TypedArray of length %d from buffer of length %d", len(dst), len(src))))
		}
		copy(dst, src)
		return []byte{tUndef}

	case opAwait:
		return w.await(r)

	case opSettle:
		// u32 deferred handle, u8 how: 1 resolve(value), 0 reject(value),
		// 2 resolve({done: false, value}), 3 resolve({done: true, value}),
		// 4 reject(PythonError of an 'E' answer).
		id := r.u32()
		how := r.byte()
		d := w.object(id)
		w.handles.release(id)
		var v goja.Value
		name := "resolve"
		switch how {
		case 0:
			v = w.readValue(r)
			name = "reject"
		case 4:
			r.byte() // 'E'
			v = w.pythonError(r.rest())
			name = "reject"
		case 2, 3:
			res := w.rt.NewObject()
			_ = res.Set("done", how == 3)
			_ = res.Set("value", w.readValue(r))
			v = res
		default:
			v = w.readValue(r)
		}
		if f, isFn := goja.AssertFunction(d.Get(name)); isFn {
			if _, err := f(goja.Undefined(), v); err != nil {
				panic(err)
			}
		}
		return []byte{tUndef}

	case opProxy:
		opts := r.byte()
		if r.byte() != tNewPy {
			panic(raise(kindRuntimeError, "jsbridge: create_proxy needs a new proxy"))
		}
		id := r.u64()
		flags := r.u32()
		ref := &pyRef{roundtrip: opts&1 != 0, captureThis: opts&2 != 0}
		shared := &pyShared{id: id, flags: flags}
		if r.more() {
			shared.probe, shared.probed = r.u32(), true
		}
		p := w.newPyProxy(shared, ref, true)
		return w.appendConverted(p)

	case opOnce:
		return w.appendConverted(w.onceCallable(r))

	case opFlags:
		o := w.object(r.u32())
		b := appendU32(nil, w.typeFlags(o))
		return b

	case opDestroy:
		for r.more() {
			if ref := w.pyRefOf(w.value(r.u32())); ref != nil {
				w.destroy(ref, "", true)
				w.releaseNow = true
			}
		}
		return []byte{tUndef}

	case opUnwrap:
		ref := w.pyRefOf(w.value(r.u32()))
		if ref == nil {
			panic(raise(kindTypeError, "not a double proxy"))
		}
		b := []byte{tPyObj}
		return appendU64(b, w.liveID(ref))

	case opCollect:
		w.flushReleases(1)
		return []byte{tUndef}

	case opAddRef:
		for r.more() {
			id := r.u32()
			if id == 0 {
				continue
			}
			if w.handles.get(id) == nil {
				panic(raise(kindRuntimeError, "JsProxy refers to a released JavaScript value"))
			}
			w.handles.refs[id]++
		}
		return []byte{tUndef}
	}
	panic(raise(kindRuntimeError, fmt.Sprintf("jsbridge: unknown op %q", data[0])))
}

// readArgs reads u32 n, n values, u32 nkw, nkw (string, value) pairs; the
// keyword arguments become a trailing object. PyProxies made for them are
// collected in borrowed.
func (w *World) readArgs(r *reader, borrowed *[]*pyRef) []goja.Value {
	prev := w.py.borrow
	w.py.borrow = borrowed
	defer func() { w.py.borrow = prev }()
	n := int(r.u32())
	args := make([]goja.Value, n, n+1)
	for i := range args {
		args[i] = w.readValue(r)
	}
	if !r.more() {
		return args
	}
	nkw := int(r.u32())
	if nkw > 0 {
		kw := w.rt.NewObject()
		for i := 0; i < nkw; i++ {
			if r.byte() != tString {
				panic(raise(kindTypeError, "keywords must be strings"))
			}
			k := string(r.bytes(int(r.u32())))
			_ = kw.Set(k, w.readValue(r))
		}
		args = append(args, kw)
	}
	return args
}

// callResult encodes the result of a call: a byte telling Python whether
// the PyProxies made for the arguments stay alive (1, until the returned
// promise settles) or were destroyed (0), then the value.
func (w *World) callResult(res goja.Value, borrowed []*pyRef) []byte {
	b := make([]byte, 1, 16)
	if len(borrowed) > 0 {
		if o, ok := res.(*goja.Object); ok && w.pyRefOf(o) == nil {
			if then, isFn := goja.AssertFunction(o.Get("then")); isFn {
				b[0] = 1
				done := w.rt.ToValue(func(goja.FunctionCall) goja.Value {
					for _, ref := range borrowed {
						w.destroy(ref, msgBorrowed, false)
					}
					return goja.Undefined()
				})
				_, _ = then(o, done, done)
			} else if tag := w.typeTag(o); tag == "Generator" || tag == "AsyncGenerator" {
				b[0] = 1
				for _, ref := range borrowed {
					if !ref.shared.hasGC && ref.shared.id != 0 {
						w.registerGC(ref.shared)
					}
				}
			}
		}
	}
	b = w.appendValue(b, res)
	if b[0] == 0 {
		// Python drops the entries itself: only mark the proxies destroyed.
		for _, ref := range borrowed {
			if ref.shared.id != 0 && !ref.roundtrip {
				ref.shared.msg = msgBorrowed + msgDebugSuffix
				ref.shared.id = 0
			}
		}
	}
	return b
}

// failCall answers a call that threw: the thrown value is converted (as
// Pyodide does) before the argument proxies are destroyed, since it may be
// one of them. Interrupts and Go errors go up as before.
func (w *World) failCall(err error, borrowed []*pyRef) []byte {
	var ex *goja.Exception
	if !errors.As(err, &ex) {
		w.destroyBorrowed(borrowed)
		panic(err)
	}
	out := w.encodeThrown(ex.Value())
	w.destroyBorrowed(borrowed)
	return out
}

// destroyBorrowed marks the argument proxies of a failed call destroyed
// (Python drops its entries itself).
func (w *World) destroyBorrowed(borrowed []*pyRef) {
	for _, ref := range borrowed {
		if ref.shared.id != 0 && !ref.roundtrip {
			ref.shared.msg = msgBorrowed + msgDebugSuffix
			ref.shared.id = 0
		}
	}
}

// iterNext calls it.next(arg) and answers u8 done + value.
func (w *World) iterNext(it *goja.Object, args []goja.Value) []byte {
	next, ok := goja.AssertFunction(it.Get("next"))
	if !ok {
		panic(w.rt.NewTypeError("object is not an iterator"))
	}
	res, err := next(it, args...)
	if err != nil {
		panic(err)
	}
	ro, ok := res.(*goja.Object)
	if !ok {
		panic(raise(kindTypeError, fmt.Sprintf("Result should have type \"object\" not \"%s\"", w.typeOf(res))))
	}
	done := ro.Get("done")
	if done == nil || goja.IsUndefined(done) {
		if _, isP := goja.AssertFunction(ro.Get("then")); isP {
			panic(raise(kindTypeError, "Result was a promise, use anext() / asend() / athrow() instead."))
		}
		panic(raise(kindTypeError, "Result has no \"done\" field."))
	}
	b := []byte{0}
	if done.ToBoolean() {
		b[0] = 1
	}
	v := ro.Get("value")
	if v == nil {
		v = goja.Undefined()
	}
	if ref := w.pyRefOf(v); ref != nil && !ref.roundtrip {
		b = w.appendValue(b, v)
		return b
	}
	return w.appendValue(b, v)
}

func (w *World) typeOf(v goja.Value) string {
	r, err := w.helpers.pyHelpers[0](goja.Undefined(), v)
	if err != nil {
		return "unknown"
	}
	return r.String()
}

// eval runs source as the global eval function does (var declarations
// become global, let/const stay local), after rewriting constructs goja
// lacks (async generators).
func (w *World) eval(src goja.Value) goja.Value {
	s := src.String()
	if out, changed := transformSource(s); changed {
		src = w.rt.ToValue(out)
	}
	f, ok := goja.AssertFunction(w.rt.Get("eval"))
	if !ok {
		panic(w.rt.NewTypeError("eval is not a function"))
	}
	v, err := f(goja.Undefined(), src)
	if err != nil {
		panic(err)
	}
	return v
}

// appendConverted encodes the result of to_js: a PyProxy stays a handle
// (a JsDoubleProxy in Python) instead of turning back into its object.
func (w *World) appendConverted(v goja.Value) []byte {
	if o, ok := v.(*goja.Object); ok && w.pyRefOf(o) != nil {
		id, flags := w.handles.add(o, func() uint32 { return w.typeFlags(o) })
		b := []byte{tHandle}
		b = appendU32(b, id)
		return appendU32(b, flags)
	}
	return w.appendValue(nil, v)
}

// bufferBytes is the memory of an ArrayBuffer, TypedArray or DataView.
func (w *World) bufferBytes(o *goja.Object) []byte {
	var b []byte
	if err := w.rt.ExportTo(o, &b); err != nil {
		panic(raise(kindTypeError, "not a buffer: "+err.Error()))
	}
	return b
}

// await attaches handlers to a thenable that settle a Python future: u32
// handle, u64 token. When it settles, Python's 'F' op gets the token, u8 ok
// and the value (or the error, as a handle).
func (w *World) await(r *reader) []byte {
	v := w.value(r.u32())
	token := r.u64()
	p := w.nativePromise(v)
	if p == nil {
		res, err := w.helpers.pyHelpers[38](goja.Undefined(), v) // Promise.resolve
		if err != nil {
			panic(err)
		}
		p = res.ToObject(w.rt)
	}
	// Settled already: answer now. Python resumes only after this call
	// returns, and so after the jobs queued meanwhile, as with then().
	if prom, ok := p.Export().(*goja.Promise); ok {
		switch prom.State() {
		case goja.PromiseStateFulfilled:
			return w.appendValue([]byte{tSettled}, prom.Result())
		case goja.PromiseStateRejected:
			return append([]byte{tRejected}, w.encodeThrown(prom.Result())...)
		}
	}
	settle := func(ok bool) goja.Value {
		return w.rt.ToValue(func(c goja.FunctionCall) goja.Value {
			b := []byte{'F'}
			b = appendU64(b, token)
			if ok {
				b = append(b, 1)
				b = w.appendValue(b, c.Argument(0))
			} else {
				b = append(b, 0)
				b = append(b, w.encodeThrown(c.Argument(0))...)
			}
			w.dispatch(b)
			return goja.Undefined()
		})
	}
	then, ok := goja.AssertFunction(p.Get("then"))
	if !ok {
		panic(w.rt.NewTypeError("not a promise"))
	}
	if _, err := then(p, settle(true), settle(false)); err != nil {
		panic(err)
	}
	return []byte{tUndef}
}

// settledCallResult answers a call that returned a settled promise of the
// intrinsic Promise with its outcome, as opAwait would give it, instead of
// the promise: Python makes the call's future from it (it settles that
// future from the loop, as a promise reaction would) with no handle and no
// second request. Nil for any other result.
func (w *World) settledCallResult(res goja.Value) []byte {
	o := w.nativePromise(res)
	if o == nil {
		return nil
	}
	prom := o.Export().(*goja.Promise)
	switch prom.State() {
	case goja.PromiseStateFulfilled:
		return w.appendValue([]byte{0, tSettled}, prom.Result())
	case goja.PromiseStateRejected:
		return append([]byte{0, tRejected}, w.encodeThrown(prom.Result())...)
	}
	return nil
}

var typePromise = reflect.TypeOf((*goja.Promise)(nil))

// nativePromise returns v if Promise.resolve(v) is v itself (a promise of
// the intrinsic Promise, as IsPromise and the constructor check of the
// spec decide), which spares a call into JavaScript; else nil.
func (w *World) nativePromise(v goja.Value) *goja.Object {
	o, ok := v.(*goja.Object)
	// (A goja promise's class name is "Object"; its export type tells it
	// without exporting anything.)
	if !ok || o.ExportType() != typePromise {
		return nil
	}
	if o.Get("constructor") != w.helpers.promiseCtor {
		return nil
	}
	return o
}

// onceCallable makes the function create_once_callable returns: it calls
// the Python object once, then releases it.
func (w *World) onceCallable(r *reader) goja.Value {
	if r.byte() != tNewPy {
		panic(raise(kindRuntimeError, "jsbridge: create_once_callable needs a new proxy"))
	}
	id := r.u64()
	flags := r.u32()
	shared := &pyShared{id: id, flags: flags}
	ref := &pyRef{shared: shared}
	w.registerGC(shared)
	used := false
	fn := w.rt.ToValue(func(c goja.FunctionCall) goja.Value {
		// As Pyodide's create_once_callable (pyproxy.c): a call after
		// destroy() says it was called already.
		if used || shared.id == 0 {
			panic(w.newError(msgOnceCalled))
		}
		used = true
		defer w.destroy(ref, msgOnceCalled, true)
		return w.pyCall(ref, c.This, c.Arguments, nil, false)
	}).(*goja.Object)
	_ = fn.Set("destroy", func(goja.FunctionCall) goja.Value {
		if shared.id == 0 {
			panic(w.newError(msgOnceDestroyed))
		}
		w.destroy(ref, msgOnceDestroyed, true)
		return goja.Undefined()
	})
	return fn
}
