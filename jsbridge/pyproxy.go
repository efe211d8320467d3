package jsbridge

import (
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/dop251/goja"
)

//go:embed js/bridge.js
var bridgeJS string

// Flags of a Python object behind a PyProxy (Pyodide's pyproxy.c values,
// shared with bridge.js and _core_ffi.py).
const (
	pyHasLength       = 1 << 0
	pyHasGet          = 1 << 1
	pyHasSet          = 1 << 2
	pyHasContains     = 1 << 3
	pyIterable        = 1 << 4
	pyIterator        = 1 << 5
	pyAwaitable       = 1 << 6
	pyBuffer          = 1 << 7
	pyCallable        = 1 << 8
	pyAsyncIterable   = 1 << 9
	pyAsyncIterator   = 1 << 10
	pyGenerator       = 1 << 11
	pyAsyncGenerator  = 1 << 12
	pySequence        = 1 << 13
	pyMutableSequence = 1 << 14
	pyDict            = 1 << 17
)

// Messages of destroyed proxies, as Pyodide words them (without debug).
const (
	msgDestroyed     = "Object has already been destroyed"
	msgBorrowed      = "This borrowed proxy was automatically destroyed at the end of a function call. Try using create_proxy or create_once_callable."
	msgIterBorrowed  = "This borrowed proxy was automatically destroyed when an iterator was exhausted."
	msgDebugSuffix   = "\nFor more information about the cause of this error, use `pyodide.setDebug(true)`"
	msgOnceCalled    = "OnceProxy can only be called once"
	msgOnceDestroyed = "OnceProxy has already been destroyed"
)

// pyShared is what aliases of a PyProxy (bind, captureThis) share: the
// Python object's id in the Python-side table and its lifetime.
type pyShared struct {
	id      uint64 // 0 once destroyed
	flags   uint32
	msg     string
	cleanup runtime.Cleanup
	hasGC   bool
	// promise is the Promise of an awaitable (then/catch/finally share it).
	promise goja.Value
	// probe is the answer to probeQueries when Python sent it with the
	// object (create_proxy), so the type flags need no call back.
	probe  uint32
	probed bool
}

// pyRef is one PyProxy.
type pyRef struct {
	shared      *pyShared
	roundtrip   bool
	captureThis bool
	bound       bool
	boundThis   goja.Value
	boundArgs   []goja.Value
}

// refHolder carries a *pyRef inside the proxy's target (under refSym).
type refHolder struct{ ref *pyRef }

func (refHolder) Get(string) goja.Value       { return nil }
func (refHolder) Set(string, goja.Value) bool { return false }
func (refHolder) Has(string) bool             { return false }
func (refHolder) Delete(string) bool          { return false }
func (refHolder) Keys() []string              { return nil }

// pyState is the World's PyProxy bookkeeping.
type pyState struct {
	protos map[uint32]*goja.Object
	// borrow collects the PyProxies made while converting the arguments of
	// a call from Python into JavaScript; nil when not collecting.
	borrow *[]*pyRef
	// collect, when set, receives the PyProxies made by to_js (its
	// pyproxies argument).
	collect *goja.Object
}

func (p *pyState) init() {
	p.protos = map[uint32]*goja.Object{}
}

// helpers are JavaScript functions of the preludes the Go side calls.
type helpers struct {
	inspect, reportError     goja.Callable
	uint8Array               goja.Value
	proto, deferred, toError goja.Callable
	isArray, hasProperty     goja.Callable
	ownData                  goja.Callable
	newPythonError, isPyErr  goja.Callable
	asyncIterator, dispose   *goja.Symbol
	refSym                   *goja.Symbol
	noop                     func(goja.FunctionCall) goja.Value
	noopCtor                 func(goja.ConstructorCall) *goja.Object
	traps, seqTraps          *goja.ProxyTrapConfig
	dictTraps                *goja.ProxyTrapConfig
	tramp                    goja.Callable
	trampFn                  func()
	// pyHelpers are bridge.js's helpers Python calls by index (op 'H').
	pyHelpers []goja.Callable
	missing   goja.Value
	// promiseCtor is the intrinsic Promise (see nativePromise).
	promiseCtor goja.Value
}

func (w *World) installBridge() error {
	rt := w.rt
	h := &w.helpers
	h.noop = func(goja.FunctionCall) goja.Value { return goja.Undefined() }
	h.noopCtor = func(goja.ConstructorCall) *goja.Object { return nil }
	h.promiseCtor = rt.Get("Promise")
	var err error
	h.tramp, err = w.callable(rt.ToValue(func(goja.FunctionCall) goja.Value {
		f := h.trampFn
		h.trampFn = nil
		if f != nil {
			f()
		}
		return goja.Undefined()
	}))
	if err != nil {
		return err
	}

	n := rt.NewObject()
	set := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = n.Set(name, fn) }
	set("isPyProxy", func(c goja.FunctionCall) goja.Value {
		return rt.ToValue(w.pyRefOf(c.Argument(0)) != nil)
	})
	w.pyNatives(set)

	exp, err := runModule(rt, "bridge.js", bridgeJS, n)
	if err != nil {
		return err
	}
	for name, dst := range map[string]*goja.Callable{
		"proto": &h.proto, "deferred": &h.deferred, "toError": &h.toError, "isArray": &h.isArray, "hasProperty": &h.hasProperty, "ownData": &h.ownData,
		"newPythonError": &h.newPythonError, "isPythonError": &h.isPyErr,
	} {
		c, ok := goja.AssertFunction(exp.Get(name))
		if !ok {
			return fmt.Errorf("bridge helper %s missing", name)
		}
		*dst = c
	}
	var hs []goja.Value
	if err := rt.ExportTo(exp.Get("pyHelpers"), &hs); err != nil {
		return fmt.Errorf("bridge helpers: %w", err)
	}
	for i, v := range hs {
		c, ok := goja.AssertFunction(v)
		if !ok {
			return fmt.Errorf("bridge helper %d is not a function", i)
		}
		h.pyHelpers = append(h.pyHelpers, c)
	}
	h.missing = exp.Get("MISSING")
	h.asyncIterator, _ = exp.Get("asyncIterator").(*goja.Symbol)
	h.dispose, _ = exp.Get("dispose").(*goja.Symbol)
	if h.asyncIterator == nil || h.dispose == nil {
		return errors.New("bridge symbols missing")
	}
	h.traps = w.newTraps(false, false)
	h.seqTraps = w.newTraps(true, false)
	h.dictTraps = w.newTraps(false, true)
	return nil
}

func (w *World) callable(v goja.Value) (goja.Callable, error) {
	c, ok := goja.AssertFunction(v)
	if !ok {
		return nil, errors.New("not a function")
	}
	return c, nil
}

// runJS runs f inside a JavaScript call, so that JavaScript exceptions
// thrown by goja's API (a getter that throws) come back as errors and
// microtasks run when the outermost call returns.
func (w *World) runJS(f func()) error {
	w.helpers.trampFn = f
	_, err := w.helpers.tramp(goja.Undefined())
	return err
}

// pyRefOf returns the pyRef of a PyProxy (or of its target), or nil.
func (w *World) pyRefOf(v goja.Value) *pyRef {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil
	}
	hv := o.GetSymbol(w.helpers.refSym)
	if hv == nil {
		return nil
	}
	ho, ok := hv.(*goja.Object)
	if !ok {
		return nil
	}
	h, ok := ho.Export().(*refHolder)
	if !ok {
		return nil
	}
	return h.ref
}

// protoFor is the prototype of PyProxies with the given flags.
func (w *World) protoFor(flags uint32) *goja.Object {
	if p, ok := w.py.protos[flags]; ok {
		return p
	}
	v, err := w.helpers.proto(goja.Undefined(), w.rt.ToValue(flags))
	if err != nil {
		panic(err)
	}
	p := v.ToObject(w.rt)
	w.py.protos[flags] = p
	return p
}

// newPyProxy makes a PyProxy of the Python object id. With gc, the Python
// reference is dropped when Go collects the proxy.
func (w *World) newPyProxy(shared *pyShared, ref *pyRef, gc bool) *goja.Object {
	rt := w.rt
	var target *goja.Object
	if shared.flags&pyCallable != 0 {
		// Pyodide's target is `function () {}` without length and name and
		// with prototype undefined: `new proxy()` makes a plain object
		// without calling Python.
		target = rt.ToValue(w.helpers.noopCtor).(*goja.Object)
		_ = target.Delete("length")
		_ = target.Delete("name")
		_ = target.Set("prototype", goja.Undefined())
	} else {
		target = rt.NewObject()
	}
	ref.shared = shared
	_ = target.SetPrototype(w.protoFor(shared.flags))
	_ = target.DefineDataPropertySymbol(w.helpers.refSym, rt.NewDynamicObject(&refHolder{ref}), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	traps := w.helpers.traps
	switch {
	case shared.flags&pySequence != 0:
		traps = w.helpers.seqTraps
	case shared.flags&pyDict != 0:
		traps = w.helpers.dictTraps
	}
	p := rt.NewProxy(target, traps)
	if gc && !shared.hasGC {
		w.registerGC(shared)
	}
	return rt.ToValue(p).(*goja.Object)
}

// registerGC makes Go's collector release the Python object when the
// proxy (all its aliases) becomes unreachable.
func (w *World) registerGC(shared *pyShared) {
	shared.hasGC = true
	shared.cleanup = runtime.AddCleanup(shared, w.queueRelease, shared.id)
}

// queueRelease runs on the Go runtime's cleanup goroutine.
func (w *World) queueRelease(id uint64) {
	w.relMu.Lock()
	w.released = append(w.released, id)
	w.relMu.Unlock()
	w.relCount.Add(1)
}

// destroy releases the Python object of a PyProxy now. destroyRoundtrip
// false leaves roundtrip proxies (create_proxy(roundtrip=True)) alone.
func (w *World) destroy(ref *pyRef, msg string, destroyRoundtrip bool) {
	s := ref.shared
	if s.id == 0 {
		return
	}
	if !destroyRoundtrip && ref.roundtrip {
		return
	}
	if msg == "" {
		msg = msgDestroyed
	}
	s.msg = msg + msgDebugSuffix
	id := s.id
	s.id = 0
	if s.hasGC {
		s.cleanup.Stop()
	}
	w.releasePython([]uint64{id})
}

// releasePython tells Python to drop table entries (batched with the ones
// the collector freed).
func (w *World) releasePython(ids []uint64) {
	w.relMu.Lock()
	w.released = append(w.released, ids...)
	w.relMu.Unlock()
	w.relCount.Add(int32(len(ids)))
}

// flushReleases hands queued releases to Python if there are at least min.
func (w *World) flushReleases(min int32) {
	if w.relCount.Load() < min || w.host == nil {
		return
	}
	w.relMu.Lock()
	ids := w.released
	w.released = nil
	w.relCount.Store(0)
	w.relMu.Unlock()
	if len(ids) == 0 {
		return
	}
	buf := make([]byte, 1, 1+8*len(ids))
	buf[0] = 'R'
	for _, id := range ids {
		buf = appendU64(buf, id)
	}
	if _, err := w.host.Dispatch(w.callContext(), Target, buf); err != nil {
		w.log.Debug("jsbridge: release", "err", err)
	}
}

// Collect hands Python the ids of PyProxies that were destroyed or
// collected. The loop may call it when idle; it also happens as calls go by.
func (w *World) Collect() { w.flushReleases(1) }

// liveRef returns the Python id of ref or throws the destroyed message.
func (w *World) liveID(ref *pyRef) uint64 {
	if ref.shared.id == 0 {
		panic(w.newError(ref.shared.msg))
	}
	return ref.shared.id
}

func (w *World) newError(msg string) *goja.Object {
	o, err := w.rt.New(w.rt.Get("Error"), w.rt.ToValue(msg))
	if err != nil {
		panic(err)
	}
	return o
}

// thisRef is the pyRef a native called as a PyProxy method works on.
func (w *World) thisRef(c goja.FunctionCall) *pyRef {
	ref := w.pyRefOf(c.This)
	if ref == nil {
		panic(w.rt.NewTypeError("not a PyProxy"))
	}
	return ref
}

// ---- the Proxy traps ----

var filteredKeys = map[string]bool{"name": true, "length": true, "caller": true, "arguments": true}

// filteredGet returns the JavaScript-side property of a PyProxy target
// (own or inherited), or nil when Python's attribute should be used.
func (w *World) filteredGet(target *goja.Object, key string, callable, filterProto bool) goja.Value {
	if callable && (filteredKeys[key] || (filterProto && key == "prototype")) {
		return nil
	}
	return target.Get(key)
}

func (w *World) newTraps(seq, dict bool) *goja.ProxyTrapConfig {
	refOf := func(target *goja.Object) *pyRef {
		ref := w.pyRefOf(target)
		if ref == nil {
			panic(w.rt.NewTypeError("not a PyProxy"))
		}
		return ref
	}
	isIndex := func(key string) bool {
		if key == "" {
			return false
		}
		for i := 0; i < len(key); i++ {
			if key[i] < '0' || key[i] > '9' {
				return false
			}
		}
		return true
	}
	var t *goja.ProxyTrapConfig
	baseHas := func(target *goja.Object, key string) bool {
		ref := refOf(target)
		if w.filteredGet(target, key, ref.shared.flags&pyCallable != 0, false) != nil {
			return true
		}
		key = strings.TrimPrefix(key, "$")
		return w.pyHasAttr(ref, key)
	}
	baseGet := func(target *goja.Object, key string) goja.Value {
		ref := refOf(target)
		if v := w.filteredGet(target, key, ref.shared.flags&pyCallable != 0, true); v != nil {
			return v
		}
		key = strings.TrimPrefix(key, "$")
		v, ok := w.pyGetAttr(ref, key)
		if !ok {
			return goja.Undefined()
		}
		return v
	}
	baseSet := func(target *goja.Object, key string, val goja.Value) bool {
		ref := refOf(target)
		if w.filteredGet(target, key, ref.shared.flags&pyCallable != 0, true) != nil {
			return target.Set(key, val) == nil
		}
		key = strings.TrimPrefix(key, "$")
		w.pySetAttr(ref, key, val)
		return true
	}
	baseDelete := func(target *goja.Object, key string) bool {
		ref := refOf(target)
		if w.filteredGet(target, key, ref.shared.flags&pyCallable != 0, true) != nil {
			return target.Delete(key) == nil
		}
		key = strings.TrimPrefix(key, "$")
		w.pyDelAttr(ref, key)
		return true
	}
	t = &goja.ProxyTrapConfig{
		IsExtensible: func(*goja.Object) bool { return true },
		Has: func(target *goja.Object, key string) bool {
			if seq && isIndex(key) {
				return int64(len64(w, refOf(target))) > atoi(key)
			}
			if baseHas(target, key) {
				return true
			}
			if dict {
				return w.pyContains(refOf(target), w.rt.ToValue(key))
			}
			return false
		},
		HasSym: func(target *goja.Object, s *goja.Symbol) bool {
			return target.GetSymbol(s) != nil
		},
		Get: func(target *goja.Object, key string, receiver goja.Value) goja.Value {
			if seq {
				if key == "length" {
					return w.rt.ToValue(len64(w, refOf(target)))
				}
				if isIndex(key) {
					v, ok := w.pyGetItem(refOf(target), w.rt.ToValue(atoi(key)), true)
					if !ok {
						return goja.Undefined()
					}
					return v
				}
			}
			if dict {
				ref := refOf(target)
				if v := w.filteredGet(target, key, false, true); v != nil {
					return v
				}
				k := strings.TrimPrefix(key, "$")
				if v, ok := w.pyGetAttr(ref, k); ok {
					return v
				}
				if v, ok := w.pyGetItem(ref, w.rt.ToValue(key), false); ok {
					return v
				}
				return goja.Undefined()
			}
			return baseGet(target, key)
		},
		GetSym: func(target *goja.Object, s *goja.Symbol, receiver goja.Value) goja.Value {
			return target.GetSymbol(s)
		},
		Set: func(target *goja.Object, key string, val goja.Value, receiver goja.Value) bool {
			if seq && isIndex(key) {
				return w.pySetItem(refOf(target), w.rt.ToValue(atoi(key)), val, true)
			}
			if dict {
				ref := refOf(target)
				if w.filteredGet(target, key, false, true) == nil && !w.pyHasAttr(ref, key) {
					return w.pySetItem(ref, w.rt.ToValue(key), val, false)
				}
			}
			return baseSet(target, key, val)
		},
		SetSym: func(target *goja.Object, s *goja.Symbol, val goja.Value, receiver goja.Value) bool {
			return target.SetSymbol(s, val) == nil
		},
		DeleteProperty: func(target *goja.Object, key string) bool {
			if seq && isIndex(key) {
				return w.pyDelItem(refOf(target), w.rt.ToValue(atoi(key)), true)
			}
			if dict {
				ref := refOf(target)
				if w.filteredGet(target, key, false, true) == nil && !w.pyHasAttr(ref, key) {
					return w.pyDelItem(ref, w.rt.ToValue(key), false)
				}
			}
			return baseDelete(target, key)
		},
		DeletePropertySym: func(target *goja.Object, s *goja.Symbol) bool {
			return target.DeleteSymbol(s) == nil
		},
		OwnKeys: func(target *goja.Object) *goja.Object {
			ref := refOf(target)
			keys := w.pyDir(ref)
			seen := map[string]bool{}
			vals := make([]interface{}, 0, len(keys)+4)
			add := func(k string) {
				if !seen[k] {
					seen[k] = true
					vals = append(vals, k)
				}
			}
			for _, k := range keys {
				add(k)
			}
			if dict {
				for _, k := range w.pyDictKeys(ref) {
					add(k)
				}
			}
			for _, k := range target.GetOwnPropertyNames() {
				add(k)
			}
			// The target's symbols, as Pyodide's Reflect.ownKeys(target):
			// Symbols() leaves out the non-enumerable refSym (Pyodide's
			// Symbol(pyproxy.attrs)).
			vals = append(vals, w.helpers.refSym)
			for _, s := range target.Symbols() {
				if s != w.helpers.refSym {
					vals = append(vals, s)
				}
			}
			if seq {
				n := len64(w, ref)
				for i := int64(0); i < n; i++ {
					add(fmt.Sprint(i))
				}
				add("length")
			}
			return w.rt.NewArray(vals...)
		},
		Apply: func(target *goja.Object, this goja.Value, args []goja.Value) goja.Value {
			return w.pyCall(refOf(target), this, args, nil, false)
		},
	}
	if dict {
		t.GetOwnPropertyDescriptor = func(target *goja.Object, key string) goja.PropertyDescriptor {
			ref := refOf(target)
			if v := target.Get(key); v != nil {
				if _, own := ownProp(target, key); own {
					return goja.PropertyDescriptor{Value: v, Writable: goja.FLAG_TRUE, Configurable: goja.FLAG_TRUE, Enumerable: goja.FLAG_FALSE}
				}
			}
			if v, ok := w.pyGetItem(ref, w.rt.ToValue(key), false); ok {
				return goja.PropertyDescriptor{Value: v, Writable: goja.FLAG_TRUE, Configurable: goja.FLAG_TRUE, Enumerable: goja.FLAG_TRUE}
			}
			return goja.PropertyDescriptor{}
		}
	}
	return t
}

func ownProp(o *goja.Object, key string) (goja.Value, bool) {
	for _, k := range o.GetOwnPropertyNames() {
		if k == key {
			return o.Get(key), true
		}
	}
	return nil, false
}

func atoi(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*10 + int64(s[i]-'0')
		if n > 1<<53 {
			return n
		}
	}
	return n
}

func len64(w *World, ref *pyRef) int64 {
	return w.pyLen(ref)
}
