package jsbridge

import (
	"reflect"
	"strconv"
	"sync"
	"unsafe"

	"github.com/dop251/goja"
)

// goja has no public way to read the elements of an Array quickly: Get with
// a decimal key costs ~90 ns an element and ExportTo ~600 ns. The bulk
// conversions (to_py of a 100k-element array) read the dense element slice
// of goja's arrayObject directly. The layout is checked once by reflection
// (goja is pinned in go.mod); if it is not what this code expects, every
// read falls back to Get.

var arrayLayout struct {
	once    sync.Once
	ok      bool
	implTyp reflect.Type // *goja.arrayObject
	selfIdx int          // goja.Object.self
	valIdx  []int        // arrayObject.values
	lenIdx  []int        // arrayObject.length
	valProp reflect.Type // *goja.valueProperty
}

func initArrayLayout(rt *goja.Runtime) {
	arrayLayout.once.Do(func() {
		defer func() {
			if recover() != nil {
				arrayLayout.ok = false
			}
		}()
		a := rt.NewArray(1)
		ov := reflect.ValueOf(a).Elem()
		f, ok := ov.Type().FieldByName("self")
		if !ok || f.Type.Kind() != reflect.Interface {
			return
		}
		self := ov.FieldByIndex(f.Index)
		if self.IsNil() {
			return
		}
		impl := self.Elem()
		if impl.Kind() != reflect.Ptr || impl.Elem().Kind() != reflect.Struct {
			return
		}
		st := impl.Elem().Type()
		vf, ok := st.FieldByName("values")
		if !ok || vf.Type != reflect.TypeOf([]goja.Value(nil)) {
			return
		}
		lf, ok := st.FieldByName("length")
		if !ok || lf.Type.Kind() != reflect.Uint32 {
			return
		}
		arrayLayout.implTyp = impl.Type()
		arrayLayout.selfIdx = f.Index[0]
		arrayLayout.valIdx = vf.Index
		arrayLayout.lenIdx = lf.Index
		// An accessor element is stored as a *valueProperty.
		o, err := rt.RunString("(() => { const a = [0]; Object.defineProperty(a, 0, {get() { return 1; }}); return a; })()")
		if err == nil {
			vals, _ := rawArray(o.(*goja.Object))
			if len(vals) == 1 && vals[0] != nil {
				arrayLayout.valProp = reflect.TypeOf(vals[0])
			}
		}
		arrayLayout.ok = arrayLayout.valProp != nil
	})
}

// rawArray returns goja's element slice of a plain Array and its length.
func rawArray(o *goja.Object) ([]goja.Value, bool) {
	ov := reflect.ValueOf(o).Elem()
	self := ov.Field(arrayLayout.selfIdx)
	if self.IsNil() {
		return nil, false
	}
	impl := self.Elem()
	if impl.Type() != arrayLayout.implTyp {
		return nil, false
	}
	st := impl.Elem()
	vf := st.FieldByIndex(arrayLayout.valIdx)
	lf := st.FieldByIndex(arrayLayout.lenIdx)
	vals := *(*[]goja.Value)(unsafe.Pointer(vf.UnsafeAddr()))
	n := int(*(*uint32)(unsafe.Pointer(lf.UnsafeAddr())))
	if n > len(vals) {
		return nil, false
	}
	return vals[:n], true
}

// arrayElems returns the elements of an Array for reading only: goja's own
// element slice when the layout check passed (borrowed true: holes are nil
// and accessors are goja's property values, so callers must check each
// element's type), else a copy made as arrayItems does.
func (w *World) arrayElems(o *goja.Object) (vals []goja.Value, borrowed bool) {
	initArrayLayout(w.rt)
	if arrayLayout.ok {
		if vals, ok := rawArray(o); ok {
			return vals, true
		}
	}
	return w.arrayItems(o), false
}

// arrayItems returns the elements of an Array (holes as undefined), fast
// when the layout check passed. Only the loop goroutine may call it.
func (w *World) arrayItems(o *goja.Object) []goja.Value {
	initArrayLayout(w.rt)
	if arrayLayout.ok {
		if vals, ok := rawArray(o); ok {
			out := make([]goja.Value, len(vals))
			plain := true
			for i, v := range vals {
				if v == nil {
					v = goja.Undefined()
				} else if reflect.TypeOf(v) == arrayLayout.valProp {
					plain = false
					break
				}
				out[i] = v
			}
			if plain {
				return out
			}
		}
	}
	n := int(o.Get("length").ToInteger())
	out := make([]goja.Value, n)
	for i := range out {
		v := o.Get(strconv.Itoa(i))
		if v == nil {
			v = goja.Undefined()
		}
		out[i] = v
	}
	return out
}
