package jsbridge

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// ---- to_js: trees from Python ----

// readTree reads a converted tree (after 'T': u32 handle of a pyproxies
// array that collects the PyProxies made, or 0; then the root node):
//
//	a value tag      a leaf (see wire.go)
//	'A' u32 n        an Array of n nodes
//	'a' u32 n        an Array of n int32
//	'F' u32 n        an Array of n float64
//	'O' u32 n        an Object of n (key leaf, value node) pairs
//	'D' u32 n        n (key leaf, value node) pairs, then the dict_converter
//	                 value: converter([[k, v], ...])
//	'S' u32 n        a Set of n leaves
//	'R' u32 i        the i-th container of this tree (shared or cyclic)
//	'B' u32 len fmt, u32 len bytes   a TypedArray for the Python buffer format
//
// Containers are numbered in the order they start.
func (w *World) readTree(r *reader) goja.Value {
	if pid := r.u32(); pid != 0 {
		if arr, ok := w.handles.get(pid).(*goja.Object); ok {
			prev := w.py.collect
			w.py.collect = arr
			defer func() { w.py.collect = prev }()
		}
	}
	var nodes []goja.Value
	// References to a dict that a dict_converter converts, made while it is
	// converted, are set when the whole tree is done (Pyodide's postprocess
	// list, python2js.c).
	type fixup struct {
		parent *goja.Object
		key    goja.Value
		ref    int
	}
	var fixups []fixup
	pendingRef := -1
	var node func() goja.Value
	node = func() goja.Value {
		t := r.b[r.off]
		switch t {
		case 'A':
			r.off++
			n := int(r.u32())
			arr := w.rt.NewArray()
			nodes = append(nodes, arr)
			items := make([]goja.Value, n)
			for i := range items {
				items[i] = node()
				if items[i] == nil {
					items[i] = goja.Undefined()
					fixups = append(fixups, fixup{arr, w.rt.ToValue(i), pendingRef})
				}
			}
			w.fillArray(arr, items)
			return arr
		case 'a':
			r.off++
			n := int(r.u32())
			raw := r.bytes(4 * n)
			items := make([]interface{}, n)
			for i := range items {
				items[i] = int64(int32(le32(raw[4*i:])))
			}
			arr := w.rt.NewArray(items...)
			nodes = append(nodes, arr)
			return arr
		case 'F':
			r.off++
			n := int(r.u32())
			raw := r.bytes(8 * n)
			items := make([]interface{}, n)
			for i := range items {
				items[i] = math.Float64frombits(uint64(le32(raw[8*i:])) | uint64(le32(raw[8*i+4:]))<<32)
			}
			arr := w.rt.NewArray(items...)
			nodes = append(nodes, arr)
			return arr
		case 'O':
			r.off++
			n := int(r.u32())
			obj := w.rt.NewObject()
			nodes = append(nodes, obj)
			for i := 0; i < n; i++ {
				k := w.readValue(r)
				v := node()
				key := k.String()
				if v == nil {
					fixups = append(fixups, fixup{obj, k, pendingRef})
					continue
				}
				if obj.Get(key) != nil {
					panic(raise(kindConversionError, "Key collision when converting Python dictionary to JavaScript. Key: "+pyReprKey(k)))
				}
				if err := obj.Set(key, v); err != nil {
					panic(err)
				}
			}
			return obj
		case 'D':
			r.off++
			n := int(r.u32())
			idx := len(nodes)
			nodes = append(nodes, nil)
			entries := make([]interface{}, 0, n)
			for i := 0; i < n; i++ {
				k := w.readValue(r)
				v := node()
				if v == nil {
					// As in Pyodide (python2js.c), whose postprocess list
					// sets the value on the entries array the converter
					// already read: the entry is lost.
					continue
				}
				entries = append(entries, w.rt.NewArray(k, v))
			}
			conv := w.readValue(r)
			f, ok := goja.AssertFunction(conv)
			if !ok {
				panic(raise(kindTypeError, "dict_converter is not callable"))
			}
			res, err := f(goja.Undefined(), w.rt.NewArray(entries...))
			if err != nil {
				panic(err)
			}
			nodes[idx] = res
			return res
		case 'S':
			r.off++
			n := int(r.u32())
			set, err := w.rt.New(w.rt.Get("Set"))
			if err != nil {
				panic(err)
			}
			nodes = append(nodes, set)
			add, _ := goja.AssertFunction(set.Get("add"))
			for i := 0; i < n; i++ {
				if _, err := add(set, w.readValue(r)); err != nil {
					panic(err)
				}
			}
			return set
		case 'R':
			r.off++
			i := int(r.u32())
			if i >= len(nodes) {
				panic(raise(kindConversionError, "Conversion from python to javascript failed: unsupported self reference"))
			}
			if nodes[i] == nil {
				// A dict being converted by a dict_converter: its value is
				// known at the end (the caller records a fixup).
				pendingRef = i
				return nil
			}
			return nodes[i]
		case 'B':
			r.off++
			format := string(r.bytes(int(r.u32())))
			data := append([]byte(nil), r.bytes(int(r.u32()))...)
			name := typedArrayFor(format)
			if name == "" {
				panic(raise(kindConversionError, "Unrecognized format character '"+format+"'."))
			}
			bigEndian := len(format) > 1 && (format[0] == '>' || format[0] == '!')
			if bigEndian {
				swapBytes(data, itemSizeOf(name))
			}
			ab := w.rt.NewArrayBuffer(data)
			v, err := w.rt.New(w.rt.Get(name), w.rt.ToValue(ab))
			if err != nil {
				panic(err)
			}
			nodes = append(nodes, v)
			return v
		}
		return w.readValue(r)
	}
	res := node()
	for _, f := range fixups {
		if f.parent.ClassName() == "Map" {
			set, _ := goja.AssertFunction(f.parent.Get("set"))
			if _, err := set(f.parent, f.key, nodes[f.ref]); err != nil {
				panic(err)
			}
			continue
		}
		if err := f.parent.Set(f.key.String(), nodes[f.ref]); err != nil {
			panic(err)
		}
	}
	return res
}

func (w *World) fillArray(arr *goja.Object, items []goja.Value) {
	push, _ := goja.AssertFunction(arr.Get("push"))
	const chunk = 4096
	for i := 0; i < len(items); i += chunk {
		j := i + chunk
		if j > len(items) {
			j = len(items)
		}
		if _, err := push(arr, items[i:j]...); err != nil {
			panic(err)
		}
	}
}

func swapBytes(b []byte, size int) {
	if size <= 1 {
		return
	}
	for i := 0; i+size <= len(b); i += size {
		for j := 0; j < size/2; j++ {
			b[i+j], b[i+size-1-j] = b[i+size-1-j], b[i+j]
		}
	}
}

func itemSizeOf(name string) int {
	switch name {
	case "Int16Array", "Uint16Array":
		return 2
	case "Int32Array", "Uint32Array", "Float32Array":
		return 4
	case "Float64Array", "BigInt64Array", "BigUint64Array":
		return 8
	}
	return 1
}

// pyReprKey is how Python's repr shows a converted key in an error.
func pyReprKey(k goja.Value) string {
	if s, ok := k.(goja.String); ok {
		return "'" + s.String() + "'"
	}
	return k.String()
}

// ---- to_py: JSON for Python's json.loads ----

var (
	typeInt64   = reflect.TypeOf(int64(0))
	typeFloat64 = reflect.TypeOf(float64(0))
)

// toPy answers a to_py request (u32 handle, i32 depth):
//
//	'a' n × int64    an Array of safe integers
//	'F' n × float64  an Array of numbers, one of them not a safe integer
//	'J' u8 hook, JSON   json.loads(text), with Python's object_hook when hook
//	                    is 1 (markers: "\u0000h" handle, "\u0000p" Python
//	                    object, "\u0000n" null, "\u0000M" Map entries,
//	                    "\u0000S" Set, "\u0000b" buffer)
//	'Y'              shared or cyclic: Python converts step by step
//	'E' / 'Z'        an error
func (w *World) toPy(r *reader) []byte {
	v := w.value(r.u32())
	depth := int(int32(r.u32()))
	if o, ok := v.(*goja.Object); ok && w.isArray(o) {
		if b, ok := w.packNumbers(o); ok {
			return b
		}
	}
	c := &toPyCtx{w: w, seen: map[*goja.Object]bool{}}
	c.buf = append(c.buf, 'J', 0)
	c.value(v, depth)
	if c.fallback {
		return []byte{'Y'}
	}
	if c.hook {
		c.buf[1] = 1
	}
	return c.buf
}

// packNumbers packs an Array whose elements are all numbers: 'a' and int64
// elements when all are safe integers, else 'F' and float64 elements.
func (w *World) packNumbers(o *goja.Object) ([]byte, bool) {
	items, _ := w.arrayElems(o)
	if len(items) == 0 {
		return nil, false
	}
	if w.numTypes[0] == nil {
		w.numTypes = [2]reflect.Type{reflect.TypeOf(w.rt.ToValue(1)), reflect.TypeOf(w.rt.ToValue(0.5))}
	}
	intType, floatType := w.numTypes[0], w.numTypes[1]
	// One pass: ints while they all are, then (from the first that is
	// not) floats, the ints already written turned into floats.
	b := make([]byte, 1+8*len(items))
	out := b[1:]
	allInt := true
	toFloats := func(n int) {
		allInt = false
		for j := 0; j < n; j++ {
			v := int64(binary.LittleEndian.Uint64(out[8*j:]))
			binary.LittleEndian.PutUint64(out[8*j:], math.Float64bits(float64(v)))
		}
	}
	for i, it := range items {
		// A hole (nil), an accessor (a borrowed valueProperty) or anything
		// but a number: the general path.
		switch reflect.TypeOf(it) {
		case intType:
			n := it.ToInteger()
			if allInt && (n > maxSafe || n < -maxSafe) {
				toFloats(i)
			}
			if allInt {
				binary.LittleEndian.PutUint64(out[8*i:], uint64(n))
			} else {
				binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(float64(n)))
			}
		case floatType:
			f := it.ToFloat()
			if allInt && (f != math.Trunc(f) || math.Abs(f) > maxSafe || math.IsInf(f, 0)) {
				toFloats(i)
			}
			if allInt {
				binary.LittleEndian.PutUint64(out[8*i:], uint64(int64(f)))
			} else {
				binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(f))
			}
		default:
			return nil, false
		}
	}
	if allInt {
		b[0] = 'a'
	} else {
		b[0] = 'F'
	}
	return b, true
}

type toPyCtx struct {
	w        *World
	buf      []byte
	seen     map[*goja.Object]bool
	hook     bool
	fallback bool
}

func (c *toPyCtx) marker(name string) {
	c.hook = true
	c.buf = append(c.buf, `{"\u0000`...)
	c.buf = append(c.buf, name...)
	c.buf = append(c.buf, `":`...)
}

func (c *toPyCtx) value(v goja.Value, depth int) {
	if c.fallback {
		return
	}
	w := c.w
	switch x := v.(type) {
	case nil:
		c.buf = append(c.buf, "null"...)
		return
	case goja.String:
		c.buf = appendJSONString(c.buf, x)
		return
	case *goja.Symbol:
		c.handle(x)
		return
	case *goja.Object:
		c.object(x, depth)
		return
	}
	switch {
	case v == goja.Undefined():
		c.buf = append(c.buf, "null"...)
		return
	case v == goja.Null():
		c.marker("n")
		c.buf = append(c.buf, "0}"...)
		return
	}
	switch e := v.Export().(type) {
	case int64:
		if e > maxSafe || e < -maxSafe {
			c.buf = appendJSONFloat(c.buf, float64(e))
		} else {
			c.buf = strconv.AppendInt(c.buf, e, 10)
		}
	case float64:
		if e == math.Trunc(e) && math.Abs(e) <= maxSafe {
			c.buf = strconv.AppendInt(c.buf, int64(e), 10)
		} else {
			c.buf = appendJSONFloat(c.buf, e)
		}
	case bool:
		if e {
			c.buf = append(c.buf, "true"...)
		} else {
			c.buf = append(c.buf, "false"...)
		}
	case *big.Int:
		c.buf = e.Append(c.buf, 10)
	default:
		c.buf = appendJSONString(c.buf, w.rt.ToValue(v.String()))
	}
}

func (c *toPyCtx) handle(v goja.Value) {
	w := c.w
	var id, flags uint32
	switch x := v.(type) {
	case *goja.Object:
		id, flags = w.handles.add(x, func() uint32 { return w.typeFlags(x) })
	case *goja.Symbol:
		id, flags = w.handles.add(x, func() uint32 { return flagSymbol })
	}
	c.marker("h")
	c.buf = append(c.buf, '[')
	c.buf = strconv.AppendUint(c.buf, uint64(id), 10)
	c.buf = append(c.buf, ',')
	c.buf = strconv.AppendUint(c.buf, uint64(flags), 10)
	c.buf = append(c.buf, "]}"...)
}

func (c *toPyCtx) object(o *goja.Object, depth int) {
	w := c.w
	if ref := w.pyRefOf(o); ref != nil {
		if ref.roundtrip {
			c.handle(o)
			return
		}
		c.marker("p")
		c.buf = strconv.AppendUint(c.buf, w.liveID(ref), 10)
		c.buf = append(c.buf, '}')
		return
	}
	if depth == 0 {
		c.handle(o)
		return
	}
	kind := w.containerKind(o)
	if kind == 0 {
		c.handle(o)
		return
	}
	if c.seen[o] {
		c.fallback = true
		return
	}
	c.seen[o] = true
	switch kind {
	case 'A':
		items := w.arrayItems(o)
		c.buf = append(c.buf, '[')
		for i, it := range items {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.value(it, depth-1)
		}
		c.buf = append(c.buf, ']')
	case 'O':
		c.buf = append(c.buf, '{')
		for i, k := range o.Keys() {
			if len(k) > 0 && k[0] == 0 {
				c.fallback = true
				return
			}
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.buf = appendJSONString(c.buf, w.rt.ToValue(k))
			c.buf = append(c.buf, ':')
			c.value(o.Get(k), depth-1)
		}
		c.buf = append(c.buf, '}')
	case 'M', 'S':
		entries := w.mapSetEntries(o, kind)
		if kind == 'M' {
			c.marker("M")
		} else {
			c.marker("S")
		}
		c.buf = append(c.buf, '[')
		for i, e := range entries {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			if kind == 'M' {
				c.buf = append(c.buf, '[')
				c.key(e[0], "dict")
				c.buf = append(c.buf, ',')
				c.value(e[1], depth-1)
				c.buf = append(c.buf, ']')
			} else {
				c.key(e[0], "set")
			}
		}
		c.buf = append(c.buf, "]}"...)
	case 'B':
		format, size, data := w.bufferInfo(o)
		c.marker("b")
		c.buf = append(c.buf, '[')
		c.buf = appendJSONString(c.buf, w.rt.ToValue(format))
		c.buf = append(c.buf, ',')
		c.buf = strconv.AppendInt(c.buf, int64(size), 10)
		c.buf = append(c.buf, ",\""...)
		c.buf = base64.StdEncoding.AppendEncode(c.buf, data)
		c.buf = append(c.buf, "\"]}"...)
	}
}

// key writes a Map key or Set element, which must become an immutable
// Python value; what is "dict" or "set".
func (c *toPyCtx) key(k goja.Value, what string) {
	if o, ok := k.(*goja.Object); ok && c.w.pyRefOf(o) == nil {
		name := c.w.constructorName(o)
		if name == "" {
			name = c.w.typeOf(o)
		}
		panic(c.w.newError("Cannot use key of type " + name + " as a key to a Python " + what))
	}
	c.value(k, 0)
}

// containerKind is how to_py converts o: 'A' Array, 'O' plain Object, 'M'
// Map, 'S' Set, 'B' buffer, 0 not at all (a JsProxy).
func (w *World) containerKind(o *goja.Object) byte {
	switch o.ClassName() {
	case "Array":
		return 'A'
	case "Map":
		return 'M'
	case "Set":
		return 'S'
	case "Function", "Error", "Date", "RegExp", "Promise":
		return 0
	}
	if w.isArray(o) {
		return 'A'
	}
	tag := w.typeTag(o)
	switch tag {
	case "Map":
		return 'M'
	case "Set":
		return 'S'
	case "Object":
		c := o.Get("constructor")
		if c == nil || goja.IsUndefined(c) {
			return 'O'
		}
		if co, ok := c.(*goja.Object); ok {
			if n := co.Get("name"); n != nil && n.String() == "Object" {
				return 'O'
			}
		}
		return 0
	case "ArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
		"Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array",
		"BigInt64Array", "BigUint64Array":
		return 'B'
	}
	return 0
}

// mapSetEntries lists a Map's [key, value] pairs or a Set's elements,
// refusing ones Python cannot keep apart (1 and true).
func (w *World) mapSetEntries(o *goja.Object, kind byte) [][2]goja.Value {
	has, _ := goja.AssertFunction(o.Get("has"))
	name := "Map"
	if kind == 'S' {
		name = "Set"
	}
	if has != nil {
		check := func(a, b goja.Value, what string) {
			x, err1 := has(o, a)
			y, err2 := has(o, b)
			if err1 == nil && err2 == nil && x.ToBoolean() && y.ToBoolean() {
				panic(w.newError("Cannot faithfully convert " + name + " into Python since it contains both " + what + " as keys."))
			}
		}
		check(w.rt.ToValue(1), w.rt.ToValue(true), "1 and true")
		check(w.rt.ToValue(0), w.rt.ToValue(false), "0 and false")
	}
	var out [][2]goja.Value
	method := "entries"
	if kind == 'S' {
		method = "values"
	}
	f, ok := goja.AssertFunction(o.Get(method))
	if !ok {
		panic(w.rt.NewTypeError("not iterable"))
	}
	it, err := f(o)
	if err != nil {
		panic(err)
	}
	ito := it.ToObject(w.rt)
	next, _ := goja.AssertFunction(ito.Get("next"))
	for {
		res, err := next(ito)
		if err != nil {
			panic(err)
		}
		ro := res.ToObject(w.rt)
		if ro.Get("done").ToBoolean() {
			break
		}
		val := ro.Get("value")
		if kind == 'S' {
			out = append(out, [2]goja.Value{val, nil})
			continue
		}
		pair := val.ToObject(w.rt)
		out = append(out, [2]goja.Value{pair.Get("0"), pair.Get("1")})
	}
	return out
}

// bufferInfo is the Python format, item size and a copy of the bytes of an
// ArrayBuffer, TypedArray or DataView.
func (w *World) bufferInfo(o *goja.Object) (string, int, []byte) {
	res, err := w.helpers.pyHelpers[42](goja.Undefined(), o)
	if err != nil {
		panic(err)
	}
	ro := res.ToObject(w.rt)
	format := ro.Get("0")
	size := int(ro.Get("1").ToInteger())
	data := append([]byte(nil), w.bufferBytes(o)...)
	if format == nil || goja.IsNull(format) || goja.IsUndefined(format) {
		return "B", 1, data
	}
	return format.String(), size, data
}

// entries answers the step-by-step conversion of one object (u32 handle):
// a kind byte and its shallow contents, objects as handles.
func (w *World) entries(r *reader) []byte {
	o := w.object(r.u32())
	kind := w.containerKind(o)
	b := []byte{kind}
	switch kind {
	case 0:
		b[0] = 'X'
	case 'A':
		items := w.arrayItems(o)
		b = appendU32(b, uint32(len(items)))
		for _, it := range items {
			b = w.appendValue(b, it)
		}
	case 'O':
		keys := o.Keys()
		b = appendU32(b, uint32(len(keys)))
		for _, k := range keys {
			b = appendStr(b, k)
			b = w.appendValue(b, o.Get(k))
		}
	case 'M', 'S':
		es := w.mapSetEntries(o, kind)
		b = appendU32(b, uint32(len(es)))
		for _, e := range es {
			if ko, ok := e[0].(*goja.Object); ok && w.pyRefOf(ko) == nil {
				name := w.constructorName(ko)
				what := "dict"
				if kind == 'S' {
					what = "set"
				}
				panic(w.newError("Cannot use key of type " + name + " as a key to a Python " + what))
			}
			b = w.appendValue(b, e[0])
			if kind == 'M' {
				b = w.appendValue(b, e[1])
			}
		}
	case 'B':
		format, size, data := w.bufferInfo(o)
		b = appendU32(b, uint32(len(format)))
		b = append(b, format...)
		b = appendU32(b, uint32(size))
		b = append(b, data...)
	}
	return b
}

// appendJSONString writes a JS string as a JSON string literal, escaping
// lone surrogates as \uXXXX (Python's json keeps them).
func appendJSONString(b []byte, v goja.Value) []byte {
	s := v.String()
	b = append(b, '"')
	if containsReplacement(s) {
		if gs, ok := v.(goja.String); ok {
			n := gs.Length()
			for i := 0; i < n; i++ {
				u := gs.CharAt(i)
				switch {
				case u == '"':
					b = append(b, '\\', '"')
				case u == '\\':
					b = append(b, '\\', '\\')
				case u < 0x20 || u >= 0x7f:
					b = append(b, '\\', 'u')
					b = append(b, hexDigits[u>>12], hexDigits[u>>8&0xF], hexDigits[u>>4&0xF], hexDigits[u&0xF])
				default:
					b = append(b, byte(u))
				}
			}
			return append(b, '"')
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

func appendJSONFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' {
			return b
		}
	}
	return append(b, ".0"...)
}
