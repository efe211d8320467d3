package jsbridge

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"github.com/dop251/goja_nodejs/require"
	"github.com/dop251/goja_nodejs/url"
	"github.com/google/uuid"
)

//go:embed js/prelude.js
var preludeJS string

// installGlobals builds the global environment (js/prelude.js plus the Node
// modules goja_nodejs provides: URL, URLSearchParams, Buffer).
func (w *World) installGlobals() error {
	rt := w.rt
	// A registry that never reads files: require() of anything but the
	// built-in modules fails, and the global require is removed afterwards.
	reg := require.NewRegistry(require.WithLoader(func(string) ([]byte, error) {
		return nil, require.ModuleFileDoesNotExistError
	}))
	reg.Enable(rt)
	url.Enable(rt)
	buffer.Enable(rt)
	if err := rt.GlobalObject().Delete("require"); err != nil {
		return err
	}

	n := rt.NewObject()
	set := func(name string, fn func(goja.FunctionCall) goja.Value) {
		_ = n.Set(name, fn)
	}
	set("write", func(c goja.FunctionCall) goja.Value {
		text := c.Argument(1).String()
		w.flushPython()
		if c.Argument(0).ToInteger() == 2 {
			if w.opts.Stderr != nil {
				w.opts.Stderr(text)
			}
		} else if w.opts.Stdout != nil {
			w.opts.Stdout(text)
		}
		return goja.Undefined()
	})
	set("now", func(goja.FunctionCall) goja.Value {
		return rt.ToValue(float64(time.Since(w.start).Nanoseconds()) / 1e6)
	})
	set("timeOrigin", func(goja.FunctionCall) goja.Value {
		return rt.ToValue(float64(w.start.UnixNano()) / 1e6)
	})
	set("setTimer", w.jsSetTimer)
	set("clearTimer", func(c goja.FunctionCall) goja.Value {
		w.clearTimer(c.Argument(0).ToInteger())
		return goja.Undefined()
	})
	set("randomFill", func(c goja.FunctionCall) goja.Value {
		var b []byte
		if err := rt.ExportTo(c.Argument(0), &b); err != nil {
			panic(rt.NewTypeError("getRandomValues: %v", err))
		}
		if _, err := w.rand.Read(b); err != nil {
			panic(rt.NewGoError(fmt.Errorf("random source: %w", err)))
		}
		return goja.Undefined()
	})
	set("randomUUID", func(goja.FunctionCall) goja.Value {
		u, err := uuid.NewRandomFromReader(w.rand)
		if err != nil {
			panic(rt.NewGoError(fmt.Errorf("random source: %w", err)))
		}
		return rt.ToValue(u.String())
	})
	set("btoa", func(c goja.FunctionCall) goja.Value {
		units := utf16Units(c.Argument(0))
		b := make([]byte, len(units))
		for i, u := range units {
			b[i] = byte(u)
		}
		return rt.ToValue(base64.StdEncoding.EncodeToString(b))
	})
	set("atob", func(c goja.FunctionCall) goja.Value {
		b, ok := forgivingBase64(c.Argument(0).String())
		if !ok {
			return goja.Null()
		}
		units := make([]uint16, len(b))
		for i, x := range b {
			units[i] = uint16(x)
		}
		return goja.StringFromUTF16(units)
	})
	set("encodeUTF8", func(c goja.FunctionCall) goja.Value {
		return w.newUint8Array([]byte(c.Argument(0).String()))
	})
	set("decode", func(c goja.FunctionCall) goja.Value {
		var b []byte
		if err := rt.ExportTo(c.Argument(0), &b); err != nil {
			panic(rt.NewTypeError("decode: %v", err))
		}
		s, ok := decodeText(b, c.Argument(1).String(), c.Argument(2).ToBoolean(), c.Argument(3).ToBoolean())
		if !ok {
			return goja.Null()
		}
		return s
	})
	set("resolveURL", func(c goja.FunctionCall) goja.Value {
		base, err := neturl.Parse(c.Argument(1).String())
		if err != nil || !base.IsAbs() {
			return goja.Null()
		}
		ref, err := neturl.Parse(c.Argument(0).String())
		if err != nil {
			return goja.Null()
		}
		return rt.ToValue(base.ResolveReference(ref).String())
	})
	set("isPyProxy", func(c goja.FunctionCall) goja.Value {
		return rt.ToValue(w.pyRefOf(c.Argument(0)) != nil)
	})

	exp, err := runModule(rt, "prelude.js", preludeJS, n)
	if err != nil {
		return err
	}
	w.helpers.inspect, _ = goja.AssertFunction(exp.Get("inspect"))
	w.helpers.reportError, _ = goja.AssertFunction(exp.Get("reportError"))
	w.helpers.uint8Array = rt.Get("Uint8Array")
	return nil
}

// newUint8Array makes a Uint8Array that owns b.
func (w *World) newUint8Array(b []byte) goja.Value {
	ab := w.rt.NewArrayBuffer(b)
	o, err := w.rt.New(w.helpers.uint8Array, w.rt.ToValue(ab))
	if err != nil {
		panic(err)
	}
	return o
}

func (w *World) jsSetTimer(c goja.FunctionCall) goja.Value {
	fn, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		panic(w.rt.NewTypeError("callback is not a function"))
	}
	s := w.opts.Scheduler
	if s == nil || w.closed {
		panic(w.rt.NewGoError(errors.New("timers are not available in this JavaScript world")))
	}
	ms := c.Argument(1).ToFloat()
	repeat := c.Argument(2).ToBoolean()
	w.timerID++
	id := w.timerID
	d := time.Duration(ms * float64(time.Millisecond))
	sid := s.SetTimer(d, repeat, func() {
		if !repeat {
			delete(w.timers, id)
		}
		if w.closed {
			return
		}
		w.runTask(func() error {
			_, err := fn(goja.Undefined())
			return err
		})
	})
	w.timers[id] = sid
	return w.rt.ToValue(id)
}

func (w *World) clearTimer(id int64) {
	sid, ok := w.timers[id]
	if !ok {
		return
	}
	delete(w.timers, id)
	if s := w.opts.Scheduler; s != nil {
		s.ClearTimer(sid)
	}
}

// Timers is the number of pending setTimeout/setInterval timers.
func (w *World) Timers() int { return len(w.timers) }

// runTask runs a macrotask (a timer callback, a completion) that calls
// JavaScript. An error that escapes it is reported on stderr, as a browser
// reports an uncaught exception.
func (w *World) runTask(fn func() error) {
	if err := w.js(); err != nil {
		w.writeErr("Uncaught " + err.Error() + "\n")
		return
	}
	err := w.guard(fn)
	if err == nil {
		return
	}
	if errors.Is(err, errInterrupted) {
		w.writeErr("Uncaught KeyboardInterrupt\n")
		return
	}
	var ex *goja.Exception
	if errors.As(err, &ex) && w.helpers.reportError != nil {
		if _, err2 := w.helpers.reportError(goja.Undefined(), ex.Value()); err2 == nil {
			return
		}
	}
	w.writeErr("Uncaught " + err.Error() + "\n")
}

// flushPython has Python flush its buffered stdout and stderr when Python
// called the JS code running now (it waits in a host function), so that
// console output follows what Python printed before the call.
func (w *World) flushPython() {
	if w.ctx == nil || w.host == nil {
		return
	}
	if _, err := w.host.Dispatch(w.ctx, "flush", nil); err != nil {
		w.log.Debug("flush Python's output before console output", "err", err)
	}
}

func (w *World) writeErr(s string) {
	if w.opts.Stderr != nil {
		w.opts.Stderr(s)
	}
}

// Post runs fn as a macrotask on the Scheduler (for completions of work
// done elsewhere, such as fetch). Errors are reported like uncaught ones.
func (w *World) Post(fn func() error) {
	s := w.opts.Scheduler
	if s == nil {
		w.runTask(fn)
		return
	}
	s.Post(func() {
		if !w.closed {
			w.runTask(fn)
		}
	})
}

// utf16Units returns the UTF-16 code units of a JS string value.
func utf16Units(v goja.Value) []uint16 {
	if s, ok := v.(goja.String); ok {
		n := s.Length()
		out := make([]uint16, n)
		for i := 0; i < n; i++ {
			out[i] = s.CharAt(i)
		}
		return out
	}
	return utf16.Encode([]rune(v.String()))
}

// forgivingBase64 decodes base64 as atob does (WHATWG forgiving-base64).
func forgivingBase64(s string) ([]byte, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\f', '\r':
			return -1
		}
		return r
	}, s)
	if len(s)%4 == 0 {
		if strings.HasSuffix(s, "==") {
			s = s[:len(s)-2]
		} else if strings.HasSuffix(s, "=") {
			s = s[:len(s)-1]
		}
	}
	if len(s)%4 == 1 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return nil, false
		}
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		// Non-zero trailing bits are allowed by atob.
		b, err = base64.RawStdEncoding.WithPadding(base64.NoPadding).Strict().DecodeString(s)
		if err != nil {
			var buf bytes.Buffer
			dec := base64.NewDecoder(base64.RawStdEncoding, strings.NewReader(s))
			if _, err := buf.ReadFrom(dec); err != nil {
				return nil, false
			}
			b = buf.Bytes()
		}
	}
	return b, true
}

// decodeText implements TextDecoder.decode for the supported encodings.
func decodeText(b []byte, enc string, fatal, ignoreBOM bool) (goja.Value, bool) {
	switch enc {
	case "utf-16le", "utf-16be":
		if len(b)%2 != 0 && fatal {
			return nil, false
		}
		units := make([]uint16, 0, len(b)/2+1)
		for i := 0; i+1 < len(b); i += 2 {
			if enc == "utf-16le" {
				units = append(units, uint16(b[i])|uint16(b[i+1])<<8)
			} else {
				units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
			}
		}
		if len(b)%2 != 0 {
			units = append(units, 0xFFFD)
		}
		if !ignoreBOM && len(units) > 0 && units[0] == 0xFEFF {
			units = units[1:]
		}
		return goja.StringFromUTF16(units), true
	case "windows-1252":
		units := make([]uint16, len(b))
		for i, x := range b {
			units[i] = uint16(x)
		}
		return goja.StringFromUTF16(units), true
	}
	if !ignoreBOM && len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		b = b[3:]
	}
	if utf8.Valid(b) {
		return goja.StringFromUTF16(utf16.Encode([]rune(string(b)))), true
	}
	if fatal {
		return nil, false
	}
	return goja.StringFromUTF16(utf16.Encode(utf8Replace(b))), true
}

// utf8Replace decodes b replacing each maximal subpart of an ill-formed
// sequence with one U+FFFD, as WHATWG UTF-8 decode does ("\xff\xfe" gives
// two, a truncated "\xe2\x82" one).
func utf8Replace(b []byte) []rune {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, r)
			i += size
			continue
		}
		out = append(out, utf8.RuneError)
		i += utf8MaximalSubpart(b[i:])
	}
	return out
}

// utf8MaximalSubpart is the length of the longest prefix of b (which does
// not start a valid sequence) that could begin one, at least 1.
func utf8MaximalSubpart(b []byte) int {
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	}
	n := 1
	for n <= need && n < len(b) && b[n] >= lo && b[n] <= hi {
		n++
		lo, hi = 0x80, 0xBF
	}
	return n
}

// runModule runs one of the package's embedded scripts: each evaluates to a
// function that takes the Go natives object and returns its exports.
func runModule(rt *goja.Runtime, name, src string, natives *goja.Object) (*goja.Object, error) {
	prg, err := goja.Compile(name, src, false)
	if err != nil {
		return nil, err
	}
	fv, err := rt.RunProgram(prg)
	if err != nil {
		return nil, err
	}
	fn, ok := goja.AssertFunction(fv)
	if !ok {
		return nil, fmt.Errorf("%s does not evaluate to a function", name)
	}
	res, err := fn(goja.Undefined(), natives)
	if err != nil {
		return nil, err
	}
	if res == nil || goja.IsUndefined(res) || goja.IsNull(res) {
		return rt.NewObject(), nil
	}
	return res.ToObject(rt), nil
}
