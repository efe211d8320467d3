package jsbridge

import (
	"encoding/binary"
	"math"
	"math/big"

	"github.com/dop251/goja"
)

// Ops of the "jsffi" dispatch target (Go -> Python); see _core_ffi.py.
const (
	pyOpCall      = 'c'
	pyOpGetAttr   = 'g'
	pyOpHasAttr   = 'h'
	pyOpSetAttr   = 's'
	pyOpDelAttr   = 'd'
	pyOpGetItem   = 'G'
	pyOpSetItem   = 'S'
	pyOpDelItem   = 'D'
	pyOpContains  = 'i'
	pyOpLen       = 'l'
	pyOpStr       = 'r'
	pyOpType      = 't'
	pyOpDir       = 'k'
	pyOpIter      = 'I'
	pyOpNext      = 'n'
	pyOpThrow     = 'x'
	pyOpReturn    = 'y'
	pyOpAIter     = 'J'
	pyOpANext     = 'N'
	pyOpAThrow    = 'X'
	pyOpAReturn   = 'Y'
	pyOpToJs      = 'j'
	pyOpPromise   = 'a'
	pyOpRelease   = 'R'
	pyOpMethod    = 'M'
	pyOpPop       = 'p'
	pyOpSlice     = 'A'
	pyOpBuffer    = 'B'
	pyOpBufWrite  = 'W'
	pyOpDictKeys  = 'K'
	pyOpCopy      = 'C'
	pyOpConverter = 'v'
	pyOpMethods   = 'Q'
)

// dispatch sends a request to the Python side and returns its answer. A
// failure to reach Python is thrown as a JavaScript error.
func (w *World) dispatch(buf []byte) []byte {
	if w.host == nil {
		panic(w.newError("Python is not attached to this JavaScript world"))
	}
	w.flushReleases(256)
	out, err := w.host.Dispatch(w.callContext(), Target, buf)
	if err != nil {
		w.log.Warn("jsbridge: call into Python failed", "op", string(rune(buf[0])), "err", err)
		panic(w.newError("call into Python failed: " + err.Error()))
	}
	if len(out) == 0 {
		panic(w.newError("call into Python failed: empty answer"))
	}
	return out
}

// result decodes a Python answer holding a value. ok is false for 'A'
// (missing attribute or key); a Python exception is thrown as PythonError.
func (w *World) result(out []byte) (v goja.Value, ok bool) {
	switch out[0] {
	case tMissing:
		return nil, false
	case tJsErr:
		panic(w.pythonError(out[1:]))
	}
	r := &reader{b: out}
	return w.readValue(r), true
}

// pythonError builds the PythonError of an 'E' answer: u64 token, u32
// length + type name, formatted traceback.
func (w *World) pythonError(b []byte) goja.Value {
	r := &reader{b: b}
	token := r.u64()
	typ := string(r.bytes(int(r.u32())))
	msg := stringValue(w.rt, r.rest())
	e, err := w.helpers.newPythonError(goja.Undefined(), w.rt.ToValue(typ), msg, w.rt.ToValue(float64(token)))
	if err != nil {
		panic(err)
	}
	return e
}

func (w *World) req(op byte, ref *pyRef) []byte {
	b := make([]byte, 0, 32)
	b = append(b, op)
	return appendU64(b, w.liveID(ref))
}

// ---- values, JS -> Python ----

// appendValue encodes a JS value for Python; objects become handles.
func (w *World) appendValue(b []byte, v goja.Value) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, tUndef)
	case *goja.Object:
		if id, ok := w.handles.lookup(x); ok {
			if w.handles.flags[id]&flagDoubleProxy == 0 {
				w.handles.refs[id]++
				b = append(b, tHandle)
				b = appendU32(b, id)
				return appendU32(b, w.handles.flags[id])
			}
		}
		if ref := w.pyRefOf(x); ref != nil && !ref.roundtrip {
			b = append(b, tPyObj)
			return appendU64(b, w.liveID(ref))
		}
		id, flags := w.handles.add(x, func() uint32 { return w.typeFlags(x) })
		b = append(b, tHandle)
		b = appendU32(b, id)
		return appendU32(b, flags)
	case *goja.Symbol:
		id, flags := w.handles.add(x, func() uint32 { return flagSymbol })
		b = append(b, tHandle)
		b = appendU32(b, id)
		return appendU32(b, flags)
	case goja.String:
		return appendJSString(b, x)
	}
	if v == goja.Undefined() {
		return append(b, tUndef)
	}
	if v == goja.Null() {
		return append(b, tNull)
	}
	switch e := v.Export().(type) {
	case int64:
		if e > maxSafe || e < -maxSafe {
			return appendFloat(b, float64(e))
		}
		return appendInt(b, e)
	case float64:
		return appendFloat(b, e)
	case bool:
		if e {
			return append(b, tTrue)
		}
		return append(b, tFalse)
	case *big.Int:
		return appendBigInt(b, e)
	case string:
		return appendStr(b, e)
	}
	return appendStr(b, v.String())
}

// appendMethod encodes a function read as a property of this: Python keeps
// the this for calls.
func (w *World) appendMethod(b []byte, fn *goja.Object, this goja.Value) []byte {
	thisObj, ok := this.(*goja.Object)
	if !ok || w.pyRefOf(fn) != nil {
		return w.appendValue(b, fn)
	}
	id, flags := w.handles.add(fn, func() uint32 { return w.typeFlags(fn) })
	tid, _ := w.handles.add(thisObj, func() uint32 { return w.typeFlags(thisObj) })
	b = append(b, tMethod)
	b = appendU32(b, id)
	b = appendU32(b, flags)
	return appendU32(b, tid)
}

// ---- values, Python -> JS ----

func (w *World) readValue(r *reader) goja.Value {
	switch t := r.byte(); t {
	case tUndef:
		return goja.Undefined()
	case tNull:
		return goja.Null()
	case tTrue:
		return w.rt.ToValue(true)
	case tFalse:
		return w.rt.ToValue(false)
	case tInt32:
		return w.rt.ToValue(int64(int32(r.u32())))
	case tInt64:
		return w.rt.ToValue(int64(r.u64()))
	case tFloat:
		return w.rt.ToValue(math.Float64frombits(r.u64()))
	case tBigInt:
		return w.rt.ToValue(fromTwosComplement(r.bytes(int(r.u32()))))
	case tString:
		return stringValue(w.rt, r.bytes(int(r.u32())))
	case tJsRef:
		id := r.u32()
		v := w.handles.get(id)
		if v == nil {
			panic(raise(kindRuntimeError, "JsProxy refers to a released JavaScript value"))
		}
		return v
	case tNewPy:
		id := r.u64()
		flags := r.u32()
		return w.readNewProxy(id, flags)
	case tTree:
		return w.readTree(r)
	default:
		panic(raise(kindRuntimeError, "jsbridge: bad value tag "+string(rune(t))))
	}
}

// readNewProxy makes the PyProxy of a 'P' value. While arguments of a call
// are converted, it is borrowed: destroyed when the call returns.
func (w *World) readNewProxy(id uint64, flags uint32) goja.Value {
	shared := &pyShared{id: id, flags: flags}
	ref := &pyRef{}
	if w.py.borrow != nil {
		p := w.newPyProxy(shared, ref, false)
		*w.py.borrow = append(*w.py.borrow, ref)
		return p
	}
	p := w.newPyProxy(shared, ref, true)
	if w.py.collect != nil {
		if push, ok := goja.AssertFunction(w.py.collect.Get("push")); ok {
			if _, err := push(w.py.collect, p); err != nil {
				panic(err)
			}
		}
	}
	return p
}

// ---- operations on Python objects ----

func (w *World) pyGetAttr(ref *pyRef, key string) (goja.Value, bool) {
	b := w.req(pyOpGetAttr, ref)
	b = append(b, key...)
	return w.result(w.dispatch(b))
}

// probeQueries are what a PyProxy's type flags need of its Python object
// (see pyProxyTypeFlags and _core_ffi._methods_mask): "m" a callable
// attribute (or a dict's item), "k" a dict's item.
const probeQueries = "mthen\x00mnext\x00mget\x00mset\x00mhas\x00mincludes\x00ksize\x00kname\x00kmessage\x00kstack"

// pyMethodsOf asks the Python object the probeQueries (bit i for query i).
func (w *World) pyMethodsOf(ref *pyRef) uint32 {
	b := w.req(pyOpMethods, ref)
	b = append(b, probeQueries...)
	v, ok := w.result(w.dispatch(b))
	if !ok {
		return 0
	}
	return uint32(v.ToInteger())
}

func (w *World) pyHasAttr(ref *pyRef, key string) bool {
	b := w.req(pyOpHasAttr, ref)
	b = append(b, key...)
	v, ok := w.result(w.dispatch(b))
	return ok && v.ToBoolean()
}

func (w *World) pySetAttr(ref *pyRef, key string, val goja.Value) {
	b := w.req(pyOpSetAttr, ref)
	b = appendU32(b, uint32(len(key)))
	b = append(b, key...)
	b = w.appendValue(b, val)
	w.result(w.dispatch(b))
}

func (w *World) pyDelAttr(ref *pyRef, key string) {
	b := w.req(pyOpDelAttr, ref)
	b = append(b, key...)
	w.result(w.dispatch(b))
}

// pyGetItem is obj[key]; ok is false for KeyError/IndexError.
func (w *World) pyGetItem(ref *pyRef, key goja.Value, _ bool) (goja.Value, bool) {
	b := w.req(pyOpGetItem, ref)
	b = w.appendValue(b, key)
	return w.result(w.dispatch(b))
}

// pySetItem is obj[key] = val; false for KeyError/IndexError (when lenient).
func (w *World) pySetItem(ref *pyRef, key, val goja.Value, lenient bool) bool {
	b := w.req(pyOpSetItem, ref)
	if lenient {
		b[0] = 'T'
	}
	b = w.appendValue(b, key)
	b = w.appendValue(b, val)
	_, ok := w.result(w.dispatch(b))
	return ok
}

func (w *World) pyDelItem(ref *pyRef, key goja.Value, lenient bool) bool {
	b := w.req(pyOpDelItem, ref)
	if lenient {
		b[0] = 'U'
	}
	b = w.appendValue(b, key)
	_, ok := w.result(w.dispatch(b))
	return ok
}

func (w *World) pyContains(ref *pyRef, key goja.Value) bool {
	b := w.req(pyOpContains, ref)
	b = w.appendValue(b, key)
	v, ok := w.result(w.dispatch(b))
	return ok && v.ToBoolean()
}

func (w *World) pyLen(ref *pyRef) int64 {
	v, _ := w.result(w.dispatch(w.req(pyOpLen, ref)))
	return v.ToInteger()
}

func (w *World) pyStrings(op byte, ref *pyRef) []string {
	out := w.dispatch(w.req(op, ref))
	if out[0] == tJsErr {
		panic(w.pythonError(out[1:]))
	}
	r := &reader{b: out}
	n := int(r.u32())
	keys := make([]string, 0, n)
	for i := 0; i < n; i++ {
		keys = append(keys, string(r.bytes(int(r.u32()))))
	}
	return keys
}

func (w *World) pyDir(ref *pyRef) []string      { return w.pyStrings(pyOpDir, ref) }
func (w *World) pyDictKeys(ref *pyRef) []string { return w.pyStrings(pyOpDictKeys, ref) }

// pyCall calls the Python object of ref.
func (w *World) pyCall(ref *pyRef, this goja.Value, args []goja.Value, kwargs *goja.Object, relaxed bool) goja.Value {
	if ref.captureThis {
		if ref.bound {
			args = append(append([]goja.Value{ref.boundThis}, ref.boundArgs...), args...)
		} else {
			args = append([]goja.Value{this}, args...)
		}
	} else if ref.bound {
		args = append(append([]goja.Value(nil), ref.boundArgs...), args...)
	}
	b := w.req(pyOpCall, ref)
	switch {
	case relaxed && ref.roundtrip:
		// Pyodide's callRelaxed passes the proxy itself to relaxed_call,
		// and a roundtrip proxy arrives as a JsDoubleProxy (see _op_call).
		b = append(b, 2)
	case relaxed:
		b = append(b, 1)
	default:
		b = append(b, 0)
	}
	b = appendU32(b, uint32(len(args)))
	for _, a := range args {
		b = w.appendValue(b, a)
	}
	if kwargs == nil {
		b = appendU32(b, 0)
	} else {
		keys := kwargs.Keys()
		b = appendU32(b, uint32(len(keys)))
		for _, k := range keys {
			b = appendStr(b, k)
			b = w.appendValue(b, kwargs.Get(k))
		}
	}
	v, _ := w.result(w.dispatch(b))
	return v
}

// ---- natives of bridge.js ----

func (w *World) pyNatives(set func(string, func(goja.FunctionCall) goja.Value)) {
	rt := w.rt
	arg0 := func(c goja.FunctionCall) *pyRef {
		ref := w.pyRefOf(c.Argument(0))
		if ref == nil {
			panic(rt.NewTypeError("not a PyProxy"))
		}
		return ref
	}
	set("type", func(c goja.FunctionCall) goja.Value {
		v, _ := w.result(w.dispatch(w.req(pyOpType, arg0(c))))
		return v
	})
	set("repr", func(c goja.FunctionCall) goja.Value {
		v, _ := w.result(w.dispatch(w.req(pyOpStr, arg0(c))))
		return v
	})
	set("destroy", func(c goja.FunctionCall) goja.Value {
		ref := w.pyRefOf(c.Argument(0))
		if ref != nil {
			w.destroy(ref, c.Argument(1).String(), c.Argument(2).ToBoolean())
			w.releaseNow = true
		}
		return goja.Undefined()
	})
	set("copy", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		v, _ := w.result(w.dispatch(w.req(pyOpCopy, ref)))
		o, ok := v.(*goja.Object)
		if ok {
			if nref := w.pyRefOf(o); nref != nil {
				nref.captureThis, nref.bound, nref.boundThis, nref.boundArgs = ref.captureThis, ref.bound, ref.boundThis, ref.boundArgs
				nref.roundtrip = ref.roundtrip
			}
		}
		return v
	})
	set("len", func(c goja.FunctionCall) goja.Value { return rt.ToValue(w.pyLen(arg0(c))) })
	set("getItem", func(c goja.FunctionCall) goja.Value {
		v, ok := w.pyGetItem(arg0(c), c.Argument(1), false)
		if !ok {
			return goja.Undefined()
		}
		return v
	})
	set("setItem", func(c goja.FunctionCall) goja.Value {
		w.pySetItem(arg0(c), c.Argument(1), c.Argument(2), false)
		return goja.Undefined()
	})
	set("delItem", func(c goja.FunctionCall) goja.Value {
		w.pyDelItem(arg0(c), c.Argument(1), false)
		return goja.Undefined()
	})
	set("contains", func(c goja.FunctionCall) goja.Value {
		return rt.ToValue(w.pyContains(arg0(c), c.Argument(1)))
	})
	set("iter", func(c goja.FunctionCall) goja.Value {
		v, _ := w.result(w.dispatch(w.req(pyOpIter, arg0(c))))
		return v
	})
	next := func(op byte) func(goja.FunctionCall) goja.Value {
		return func(c goja.FunctionCall) goja.Value {
			b := w.req(op, arg0(c))
			b = w.appendValue(b, c.Argument(1))
			out := w.dispatch(b)
			if out[0] == tJsErr {
				panic(w.pythonError(out[1:]))
			}
			done := out[0] == 1
			v, _ := w.result(out[1:])
			res := rt.NewObject()
			_ = res.Set("done", done)
			_ = res.Set("value", v)
			return res
		}
	}
	set("next", next(pyOpNext))
	set("genThrow", next(pyOpThrow))
	set("genReturn", next(pyOpReturn))
	promised := func(op byte) func(goja.FunctionCall) goja.Value {
		return func(c goja.FunctionCall) goja.Value {
			ref := arg0(c)
			d := w.newDeferred()
			b := w.req(op, ref)
			did, _ := w.handles.add(d.obj, func() uint32 { return 0 })
			b = appendU32(b, did)
			b = w.appendValue(b, c.Argument(1))
			out := w.dispatch(b)
			if out[0] == tJsErr {
				w.handles.release(did)
				panic(w.pythonError(out[1:]))
			}
			return d.promise
		}
	}
	set("aiter", func(c goja.FunctionCall) goja.Value {
		v, _ := w.result(w.dispatch(w.req(pyOpAIter, arg0(c))))
		return v
	})
	set("anext", promised(pyOpANext))
	set("athrow", promised(pyOpAThrow))
	set("areturn", promised(pyOpAReturn))
	set("promise", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		if ref.shared.promise != nil {
			return ref.shared.promise
		}
		p := promised(pyOpPromise)(c)
		ref.shared.promise = p
		return p
	})
	set("toJs", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		b := w.req(pyOpToJs, ref)
		b = appendU32(b, uint32(int32(c.Argument(1).ToInteger())))
		proxies := c.Argument(2)
		create := c.Argument(3).ToBoolean()
		if !create {
			b = append(b, 0)
		} else {
			b = append(b, 1)
		}
		// The pyproxies array and converters are passed as values.
		b = w.appendValue(b, proxies)
		b = w.appendValue(b, c.Argument(4))
		b = w.appendValue(b, c.Argument(5))
		b = w.appendValue(b, c.Argument(6))
		v, _ := w.result(w.dispatch(b))
		return v
	})
	set("call", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		var args []goja.Value
		if a, ok := c.Argument(2).(*goja.Object); ok {
			args = w.arrayItems(a)
		}
		var kw *goja.Object
		if k, ok := c.Argument(3).(*goja.Object); ok {
			kw = k
		}
		return w.pyCall(ref, c.Argument(1), args, kw, c.Argument(4).ToBoolean())
	})
	set("bind", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		w.liveID(ref)
		var args []goja.Value
		if a, ok := c.Argument(2).(*goja.Object); ok {
			args = w.arrayItems(a)
		}
		nref := *ref
		nref.bound = true
		if ref.bound {
			nref.boundArgs = append(append([]goja.Value(nil), ref.boundArgs...), args...)
		} else {
			nref.boundThis = c.Argument(1)
			nref.boundArgs = args
		}
		return w.newPyProxy(ref.shared, &nref, false)
	})
	set("captureThis", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		w.liveID(ref)
		nref := *ref
		nref.captureThis = true
		return w.newPyProxy(ref.shared, &nref, false)
	})
	set("method", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		b := w.req(pyOpMethod, ref)
		name := c.Argument(1).String()
		b = appendU32(b, uint32(len(name)))
		b = append(b, name...)
		var args []goja.Value
		if a, ok := c.Argument(2).(*goja.Object); ok {
			args = w.arrayItems(a)
		}
		b = appendU32(b, uint32(len(args)))
		for _, a := range args {
			b = w.appendValue(b, a)
		}
		v, _ := w.result(w.dispatch(b))
		return v
	})
	set("pop", func(c goja.FunctionCall) goja.Value {
		b := w.req(pyOpPop, arg0(c))
		if c.Argument(1).ToBoolean() {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		v, _ := w.result(w.dispatch(b))
		return v
	})
	set("sliceAssign", func(c goja.FunctionCall) goja.Value {
		b := w.req(pyOpSlice, arg0(c))
		b = appendU64(b, uint64(c.Argument(1).ToInteger()))
		b = appendU64(b, uint64(c.Argument(2).ToInteger()))
		var items []goja.Value
		if a, ok := c.Argument(3).(*goja.Object); ok {
			items = w.arrayItems(a)
		}
		b = appendU32(b, uint32(len(items)))
		for _, a := range items {
			b = w.appendValue(b, a)
		}
		v, _ := w.result(w.dispatch(b))
		return v
	})
	set("getBuffer", func(c goja.FunctionCall) goja.Value {
		ref := arg0(c)
		out := w.dispatch(w.req(pyOpBuffer, ref))
		if out[0] == tJsErr {
			panic(w.pythonError(out[1:]))
		}
		return w.readBufferView(ref, out, c.Argument(1))
	})
}

// deferred is a JavaScript promise with its resolve and reject functions.
type deferred struct {
	obj             *goja.Object
	promise         goja.Value
	resolve, reject goja.Callable
}

func (w *World) newDeferred() deferred {
	v, err := w.helpers.deferred(goja.Undefined())
	if err != nil {
		panic(err)
	}
	o := v.ToObject(w.rt)
	d := deferred{obj: o, promise: o.Get("promise")}
	d.resolve, _ = goja.AssertFunction(o.Get("resolve"))
	d.reject, _ = goja.AssertFunction(o.Get("reject"))
	return d
}

// readBufferView builds the object getBuffer returns from a 'B' answer:
// u32 len + format, u32 itemsize, u8 readonly, u32 ndim, ndim × (u64 shape),
// ndim × (i64 strides in bytes), u8 c_contiguous, u8 f_contiguous, u64
// offset of the first element in bytes, then the bytes from the lowest to
// the highest element (a copy: Python's memory is not JavaScript's). As
// Pyodide's PyProxy.getBuffer (pyproxy.ts): typ is one of its type names;
// strides and offset count elements of the array type; readonly and the
// contiguity flags are 0 or 1.
func (w *World) readBufferView(ref *pyRef, out []byte, typ goja.Value) goja.Value {
	rt := w.rt
	r := &reader{b: out}
	format := string(r.bytes(int(r.u32())))
	itemsize := int64(r.u32())
	readonly := int64(r.byte())
	ndim := int(r.u32())
	shape := make([]interface{}, ndim)
	strides := make([]int64, ndim)
	for i := range shape {
		shape[i] = int64(r.u64())
	}
	for i := range strides {
		strides[i] = int64(r.u64())
	}
	cContiguous := int64(r.byte())
	fContiguous := int64(r.byte())
	offset := int64(r.u64())
	data := append([]byte(nil), r.rest()...)
	ctorName := ""
	if !goja.IsUndefined(typ) && !goja.IsNull(typ) && typ.String() != "" {
		ctorName = bufferTypeNames[typ.String()]
		if ctorName == "" {
			panic(w.newError("Unknown type " + typ.String()))
		}
	} else {
		const hint = " In this case, you can pass an explicit type argument."
		if len(format) > 2 {
			panic(w.newError("Expected format string to have length <= 2, got '" + format + "'." + hint))
		}
		ctorName = typedArrayFor(format)
		if ctorName == "" {
			c := format[len(format)-1:]
			if c == "e" {
				panic(w.newError("Javascript has no Float16 support."))
			}
			panic(w.newError("Unrecognized format character '" + c + "'." + hint))
		}
		if (format[0] == '>' || format[0] == '!') && itemSizeOf(ctorName) > 1 {
			panic(w.newError("JavaScript has no native support for big endian buffers. " +
				"In this case, you can pass an explicit type argument. " +
				"For instance, `getBuffer('dataview')` will return a `DataView`" +
				"which has native support for reading big endian data. " +
				"Alternatively, toJs will automatically convert the buffer " +
				"to little endian."))
		}
	}
	align := 1
	if ctorName != "DataView" {
		align = itemSizeOf(ctorName)
	}
	if len(data)%align != 0 {
		panic(w.newError("Buffer does not have valid alignment for a " + ctorName))
	}
	js := make([]interface{}, ndim)
	for i, st := range strides {
		js[i] = float64(st) / float64(align) // 0.5 for a u16 view of bytes, as in Pyodide
	}
	if offset%int64(align) != 0 {
		panic(w.newError("Buffer does not have valid alignment for a " + ctorName))
	}
	ab := rt.NewArrayBuffer(data)
	ctor := rt.Get(ctorName)
	if ctor == nil {
		panic(w.newError("Unknown type " + ctorName))
	}
	arr, err := rt.New(ctor, rt.ToValue(ab))
	if err != nil {
		panic(err)
	}
	o := rt.NewObject()
	_ = o.Set("offset", offset/int64(align))
	_ = o.Set("readonly", readonly)
	_ = o.Set("format", format)
	_ = o.Set("itemsize", itemsize)
	_ = o.Set("ndim", ndim)
	_ = o.Set("nbytes", len(data))
	_ = o.Set("shape", rt.NewArray(shape...))
	_ = o.Set("strides", rt.NewArray(js...))
	_ = o.Set("data", arr)
	_ = o.Set("c_contiguous", cContiguous)
	_ = o.Set("f_contiguous", fContiguous)
	// The data is a copy: release() writes a writable buffer back, so
	// JavaScript that fills pb.data and releases it changes the Python
	// object as with Pyodide's view of the WebAssembly memory.
	released := false
	_ = o.Set("release", func(goja.FunctionCall) goja.Value {
		if released || readonly != 0 || ref.shared.id == 0 {
			released = true
			return goja.Undefined()
		}
		released = true
		b := w.req(pyOpBufWrite, ref)
		b = append(b, data...)
		if res := w.dispatch(b); len(res) > 0 && res[0] == tJsErr {
			panic(w.pythonError(res[1:]))
		}
		return goja.Undefined()
	})
	return o
}

// bufferTypeNames are the type names getBuffer takes (pyproxy.ts
// type_to_array_map).
var bufferTypeNames = map[string]string{
	"i8": "Int8Array", "u8": "Uint8Array", "u8clamped": "Uint8ClampedArray",
	"i16": "Int16Array", "u16": "Uint16Array", "i32": "Int32Array", "u32": "Uint32Array",
	"i64": "BigInt64Array", "u64": "BigUint64Array", "f32": "Float32Array", "f64": "Float64Array",
	"dataview": "DataView",
}

func typedArrayFor(format string) string {
	if len(format) > 1 {
		switch format[0] {
		case '<', '@', '=', '!', '>':
			format = format[1:]
		}
	}
	switch format {
	case "b":
		return "Int8Array"
	case "B", "c", "s", "p", "?":
		return "Uint8Array"
	case "h":
		return "Int16Array"
	case "H":
		return "Uint16Array"
	case "i", "l", "n":
		return "Int32Array"
	case "I", "L", "N", "P":
		return "Uint32Array"
	case "q":
		return "BigInt64Array"
	case "Q":
		return "BigUint64Array"
	case "f":
		return "Float32Array"
	case "d":
		return "Float64Array"
	}
	return ""
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
