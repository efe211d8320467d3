package jsbridge

import (
	"reflect"

	"github.com/dop251/goja"
)

// Type flags of a JS value held by Python (JsProxy), computed as Pyodide's
// JsProxy_compute_typeflags does. The values are shared with
// wasmpy/python/pyodide/_core_ffi.py.
const (
	flagCallable       = 1 << 0
	flagAwaitable      = 1 << 1
	flagIterable       = 1 << 2
	flagAsyncIterable  = 1 << 3
	flagIterator       = 1 << 4
	flagAsyncIterator  = 1 << 5
	flagHasLength      = 1 << 6
	flagHasGet         = 1 << 7
	flagHasSet         = 1 << 8
	flagHasHas         = 1 << 9
	flagHasIncludes    = 1 << 10
	flagBuffer         = 1 << 11
	flagDoubleProxy    = 1 << 12
	flagArray          = 1 << 13
	flagNodeList       = 1 << 14
	flagTypedArray     = 1 << 15
	flagGenerator      = 1 << 16
	flagAsyncGenerator = 1 << 17
	flagError          = 1 << 18
	flagHasDispose     = 1 << 22
	flagSymbol         = 1 << 23
)

// handleTable holds the JS values Python refers to, with a reference count
// per entry (one per live JsProxy). Objects and symbols are deduplicated so
// that the same JS object always has the same id while it is held.
type handleTable struct {
	vals  []goja.Value
	refs  []int32
	flags []uint32
	free  []uint32
	objs  map[*goja.Object]uint32
	syms  map[*goja.Symbol]uint32
}

func (t *handleTable) init() {
	// id 0 is never used.
	t.vals = []goja.Value{nil}
	t.refs = []int32{0}
	t.flags = []uint32{0}
	t.free = nil
	t.objs = map[*goja.Object]uint32{}
	t.syms = map[*goja.Symbol]uint32{}
}

// lookup returns the id of v if it is held.
func (t *handleTable) lookup(v goja.Value) (uint32, bool) {
	switch x := v.(type) {
	case *goja.Object:
		id, ok := t.objs[x]
		return id, ok
	case *goja.Symbol:
		id, ok := t.syms[x]
		return id, ok
	}
	return 0, false
}

// add takes a new reference to v (an object or symbol) whose flags are
// computed by flagsOf on first use.
func (t *handleTable) add(v goja.Value, flagsOf func() uint32) (id, flags uint32) {
	if id, ok := t.lookup(v); ok {
		t.refs[id]++
		return id, t.flags[id]
	}
	flags = flagsOf()
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
		t.vals[id] = v
		t.refs[id] = 1
		t.flags[id] = flags
	} else {
		id = uint32(len(t.vals))
		t.vals = append(t.vals, v)
		t.refs = append(t.refs, 1)
		t.flags = append(t.flags, flags)
	}
	switch x := v.(type) {
	case *goja.Object:
		t.objs[x] = id
	case *goja.Symbol:
		t.syms[x] = id
	}
	return id, flags
}

// get returns the value of id, or nil if id is not held.
func (t *handleTable) get(id uint32) goja.Value {
	if int(id) >= len(t.vals) || t.refs[id] <= 0 {
		return nil
	}
	return t.vals[id]
}

// release drops one reference to id.
func (t *handleTable) release(id uint32) {
	if id == 0 || int(id) >= len(t.vals) || t.refs[id] <= 0 {
		return
	}
	t.refs[id]--
	if t.refs[id] > 0 {
		return
	}
	switch x := t.vals[id].(type) {
	case *goja.Object:
		delete(t.objs, x)
	case *goja.Symbol:
		delete(t.syms, x)
	}
	t.vals[id] = nil
	t.flags[id] = 0
	t.free = append(t.free, id)
}

// live is the number of ids held.
func (t *handleTable) live() int { return len(t.objs) + len(t.syms) }

// typeFlags computes the JsProxy type flags of o, as Pyodide does (a getter
// that throws counts as absent).
func (w *World) typeFlags(o *goja.Object) uint32 {
	if ref := w.pyRefOf(o); ref != nil {
		// Pyodide computes a PyProxy's flags as any object's (its methods
		// and, through the proxy traps, the Python attributes: a dict's
		// get/set/has/length make its double proxy a mapping); a destroyed
		// one gets none.
		if ref.shared.id == 0 {
			return flagDoubleProxy
		}
		return w.pyProxyTypeFlags(ref)
	}
	if f, ok := w.typeFlagsFast(o); ok {
		return f
	}
	return w.typeFlagsWith(o, true)
}

// pyProxyTypeFlags is typeFlags of a live PyProxy without going through
// its traps name by name: the methods its class defines come from the
// prototype; the ones it does not are looked up on the Python object (the
// get trap's fallback, and a dict's items) in one call. hasProperty (size,
// length, name, ...) reads descriptors along the prototype chain: it
// reaches Python only for a dict's items.
func (w *World) pyProxyTypeFlags(ref *pyRef) uint32 {
	pf := ref.shared.flags
	proto := w.protoFor(pf)
	callable := pf&pyCallable != 0
	dict := pf&pyDict != 0
	flags := uint32(flagDoubleProxy)
	if callable {
		flags |= flagCallable
	}
	isFn := func(v goja.Value) bool {
		vo, ok := v.(*goja.Object)
		if !ok {
			return false
		}
		_, ok = goja.AssertFunction(vo)
		return ok
	}
	// Methods, then (for a dict, whose items are own properties) the
	// properties hasProperty looks for (probeQueries, bit by bit).
	names := [...]string{"then", "next", "get", "set", "has", "includes", "size", "name", "message", "stack"}
	const nMethods = 6
	var found [len(names)]bool
	var mask uint32
	asked := false
	ask := func() uint32 {
		if !asked {
			asked = true
			if ref.shared.probed {
				mask = ref.shared.probe
			} else {
				mask = w.pyMethodsOf(ref)
			}
		}
		return mask
	}
	for i, name := range names {
		if i < nMethods {
			if v := proto.Get(name); v != nil {
				found[i] = isFn(v)
				continue
			}
			found[i] = ask()&(1<<i) != 0
		} else if dict {
			found[i] = ask()&(1<<i) != 0
		}
	}
	for i, flag := range [nMethods]uint32{flagAwaitable, 0, flagHasGet, flagHasSet, flagHasHas, flagHasIncludes} {
		if found[i] {
			flags |= flag
		}
	}
	hasIter := isFn(proto.GetSymbol(goja.SymIterator))
	hasAsyncIter := isFn(proto.GetSymbol(w.helpers.asyncIterator))
	if hasIter {
		flags |= flagIterable
	}
	if hasAsyncIter {
		flags |= flagAsyncIterable
	}
	if found[1] {
		if hasIter || !hasAsyncIter {
			flags |= flagIterator
		}
		if !hasIter || hasAsyncIter {
			flags |= flagAsyncIterator
		}
	}
	if found[6] || (!callable && pf&pyHasLength != 0) {
		flags |= flagHasLength
	}
	if !callable && found[7] && found[8] && found[9] {
		flags |= flagError
	}
	if isFn(proto.GetSymbol(w.helpers.dispose)) {
		flags |= flagHasDispose
	}
	return flags
}

// typeFlagsFast tries the computation without a guard per property; false
// if a property access threw.
func (w *World) typeFlagsFast(o *goja.Object) (f uint32, ok bool) {
	defer func() {
		if x := recover(); x != nil {
			if _, intr := x.(*goja.InterruptedError); intr {
				panic(x)
			}
			ok = false
		}
	}()
	return w.typeFlagsWith(o, false), true
}

func (w *World) typeFlagsWith(o *goja.Object, guarded bool) (flags uint32) {
	get := func(name string) goja.Value {
		if guarded {
			defer func() { _ = recover() }()
		}
		return o.Get(name)
	}
	getSym := func(s *goja.Symbol) goja.Value {
		if guarded {
			defer func() { _ = recover() }()
		}
		return o.GetSymbol(s)
	}
	isFn := func(v goja.Value) bool {
		if v == nil {
			return false
		}
		vo, ok := v.(*goja.Object)
		if !ok {
			return false
		}
		_, ok = goja.AssertFunction(vo)
		return ok
	}
	if _, ok := goja.AssertFunction(o); ok {
		flags |= flagCallable
	}
	if isFn(get("then")) {
		flags |= flagAwaitable
	}
	hasIter := isFn(getSym(goja.SymIterator))
	hasAsyncIter := isFn(getSym(w.helpers.asyncIterator))
	if hasIter {
		flags |= flagIterable
	}
	if hasAsyncIter {
		flags |= flagAsyncIterable
	}
	if isFn(get("next")) {
		if hasIter || !hasAsyncIter {
			flags |= flagIterator
		}
		if !hasIter || hasAsyncIter {
			flags |= flagAsyncIterator
		}
	}
	// pre.js hasProperty looks for own properties along the prototype
	// chain; for ordinary objects a read finds the same ones, but a Proxy
	// answers a read through its get trap (which may make up values for
	// every key), so ask it the way Pyodide does.
	// The guarded pass runs when a getter threw: such a property exists for
	// hasProperty (which does not run getters).
	has := func(name string) bool { return get(name) != nil }
	proxy := o.ExportType() == proxyType
	if proxy || guarded {
		has = func(name string) bool {
			v, err := w.helpers.hasProperty(goja.Undefined(), o, w.rt.ToValue(name))
			return err == nil && v.ToBoolean()
		}
	}
	if has("size") || (flags&flagCallable == 0 && has("length")) {
		flags |= flagHasLength
	}
	if isFn(get("get")) {
		flags |= flagHasGet
	}
	if isFn(get("set")) {
		flags |= flagHasSet
	}
	if isFn(get("has")) {
		flags |= flagHasHas
	}
	if isFn(get("includes")) {
		flags |= flagHasIncludes
	}
	if isFn(getSym(w.helpers.dispose)) {
		flags |= flagHasDispose
	}
	cls := o.ClassName()
	tag := cls
	if t, ok := getSym(goja.SymToStringTag).(goja.String); ok {
		tag = t.String()
	}
	isView := false
	switch tag {
	case "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
		"Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array":
		isView = true
		flags |= flagTypedArray
	case "DataView":
		isView = true
	}
	if (isView || tag == "ArrayBuffer") && flags&flagCallable == 0 {
		flags |= flagBuffer
	}
	if cls == "Array" || (proxy && w.isArray(o)) {
		flags |= flagArray
	}
	switch tag {
	case "HTMLCollection", "NodeList":
		flags |= flagNodeList
	case "Generator":
		flags |= flagGenerator
	case "AsyncGenerator":
		flags |= flagAsyncGenerator
	}
	if flags&(flagCallable|flagBuffer) == 0 && has("name") && has("message") {
		if has("stack") || w.constructorName(o) == "DOMException" {
			flags |= flagError
		}
	}
	return flags
}

var proxyType = reflect.TypeOf(goja.Proxy{})

// typeTag is Object.prototype.toString.call(o) without the brackets.
func (w *World) typeTag(o *goja.Object) (tag string) {
	defer func() {
		if x := recover(); x != nil {
			if _, intr := x.(*goja.InterruptedError); intr {
				panic(x)
			}
			tag = o.ClassName()
		}
	}()
	if t, ok := o.GetSymbol(goja.SymToStringTag).(goja.String); ok {
		return t.String()
	}
	return o.ClassName()
}

func (w *World) isArray(o *goja.Object) bool {
	if o.ClassName() == "Array" {
		return true
	}
	v, err := w.helpers.isArray(goja.Undefined(), o)
	return err == nil && v.ToBoolean()
}

func (w *World) constructorName(o *goja.Object) (name string) {
	defer func() {
		if recover() != nil {
			name = ""
		}
	}()
	c, ok := o.Get("constructor").(*goja.Object)
	if !ok {
		return ""
	}
	if n := c.Get("name"); n != nil {
		return n.String()
	}
	return ""
}
