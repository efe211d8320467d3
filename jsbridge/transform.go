package jsbridge

import (
	"reflect"
	"sort"
	"strings"

	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"
)

// transformSource rewrites async generator functions, which goja parses
// but cannot compile, into generators driven by __wasmpy_asyncGen (see
// js/prelude.js): `async function* f(a) { ... await x ... }` becomes
// `function f(a) { return __wasmpy_asyncGen((function* () { ...
// (yield __wasmpy_await(x)) ... }).apply(this, arguments)); }`, likewise for
// class methods. It reports whether it changed anything; source that does
// not parse is left alone for eval to report.
func transformSource(src string) (string, bool) {
	if !strings.Contains(src, "async") || !strings.Contains(src, "*") {
		return src, false
	}
	prg, err := parser.ParseFile(nil, "", src, 0)
	if err != nil {
		return src, false
	}
	type edit struct {
		pos, del int
		ins      string
	}
	var edits []edit
	var walk func(v reflect.Value, inAsyncGen bool)
	fnType := reflect.TypeOf(&ast.FunctionLiteral{})
	arrowType := reflect.TypeOf(&ast.ArrowFunctionLiteral{})
	awaitType := reflect.TypeOf(&ast.AwaitExpression{})
	walk = func(v reflect.Value, inAsyncGen bool) {
		switch v.Kind() {
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), inAsyncGen)
			}
			return
		case reflect.Ptr:
			if v.IsNil() {
				return
			}
			switch v.Type() {
			case fnType:
				fl := v.Interface().(*ast.FunctionLiteral)
				isAG := fl.Async && fl.Generator
				if isAG && fl.Body != nil {
					start := int(fl.Function) - 1
					head := src[start:]
					star := strings.IndexByte(head, '*')
					if star < 0 || int(fl.Body.LeftBrace)-1 < start+star {
						break
					}
					if strings.HasPrefix(head, "async") {
						rest := head[5:star]
						if strings.Contains(rest, "function") {
							// async function* name(...)
							edits = append(edits, edit{start, star + 1, "function"})
						} else {
							// async *name(...) (a method)
							edits = append(edits, edit{start, star + 1, ""})
						}
					}
					edits = append(edits,
						edit{int(fl.Body.LeftBrace) - 1, 1, "{ return __wasmpy_asyncGen((function* () {"},
						edit{int(fl.Body.RightBrace) - 1, 1, "}).apply(this, arguments)); }"})
				}
				walk(v.Elem(), isAG)
				return
			case arrowType:
				walk(v.Elem(), false)
				return
			case awaitType:
				aw := v.Interface().(*ast.AwaitExpression)
				if inAsyncGen && aw.Argument != nil {
					edits = append(edits,
						edit{int(aw.Await) - 1, len("await"), "(yield __wasmpy_await("},
						edit{int(aw.Argument.Idx1()) - 1, 0, "))"})
				}
			}
			walk(v.Elem(), inAsyncGen)
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), inAsyncGen)
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), inAsyncGen)
			}
		}
	}
	walk(reflect.ValueOf(prg), false)
	if len(edits) == 0 {
		return src, false
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].pos > edits[j].pos })
	out := src
	for _, e := range edits {
		if e.pos < 0 || e.pos+e.del > len(out) {
			return src, false
		}
		out = out[:e.pos] + e.ins + out[e.pos+e.del:]
	}
	return out, true
}
