package jsbridge

import (
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// The wire format between Go and Python (mirrored in
// wasmpy/python/pyodide/_core_ffi.py). All integers are little-endian.
//
// A request from Python to Go (host function "js") is one op byte and its
// operands; a request from Go to Python (dispatch target "jsffi") likewise.
// Values are a tag byte and a payload:
//
//	'u' undefined / None          'n' null / jsnull
//	't' true                      'f' false
//	'i' int32 (4)                 'I' int64 (8), |v| < 2**53
//	'd' float64 (8)               'b' BigInt: u32 length, two's complement bytes
//	's' string: u32 length, UTF-8 (lone surrogates as in Python's surrogatepass)
//	'h' (Go->Py) JS object handle: u32 id, u32 type flags
//	'm' (Go->Py) JS function handle bound to a this: u32 id, u32 flags, u32 this id
//	'p' (Go->Py) a Python object of the table: u32 Python id
//	'j' (Py->Go) a handle Python holds: u32 id
//	'P' (Py->Go) a new PyProxy: u32 Python id, u32 PyProxy flags
//	'T' (Py->Go) a converted tree (to_js), see decodeTree
//
// Results of host calls may instead be errors:
//
//	'E' a JavaScript exception: u32 handle, u32 flags of the thrown Error
//	'X' a PythonError: u64 token of the Python exception, u32 handle, u32 flags
//	'K' the JavaScript was interrupted (KeyboardInterrupt)
//	'Z' kind byte + UTF-8 message: a Python exception to raise (see errKinds)
//
// and Python's answers to dispatches may be 'E' (a Python exception: u64
// token, u32 length + type name, then the formatted traceback) or, for
// lookups, 'A' (missing).
const (
	tUndef   = 'u'
	tNull    = 'n'
	tTrue    = 't'
	tFalse   = 'f'
	tInt32   = 'i'
	tInt64   = 'I'
	tFloat   = 'd'
	tBigInt  = 'b'
	tString  = 's'
	tHandle  = 'h'
	tMethod  = 'm'
	tPyObj   = 'p'
	tJsRef   = 'j'
	tNewPy   = 'P'
	tTree    = 'T'
	tJsErr   = 'E'
	tPyErr   = 'X'
	tIntr    = 'K'
	tRaise   = 'Z'
	tMissing = 'A'
	// Replies of opAwait for a promise already settled: 'V' value, or 'Y'
	// and the reason as an 'E'/'X' value.
	tSettled  = 'V'
	tRejected = 'Y'
	// A call's fulfilled promise (tSettled) answered while nothing else
	// was ready on the event loop (Options.Idle): Python may settle its
	// future without a turn of the loop if it is awaited before Python's
	// next host call.
	tSettledIdle = 'W'
	// Reply of opGetData for a value Python may keep until its next host
	// call: '=' then the value.
	tData = '='
)

// Kinds of Python exceptions a 'Z' result raises.
const (
	kindTypeError       = 'T'
	kindValueError      = 'V'
	kindKeyError        = 'K'
	kindIndexError      = 'I'
	kindAttributeError  = 'A'
	kindConversionError = 'C'
	kindRuntimeError    = 'R'
	kindStopIteration   = 'S'
	kindNotImplemented  = 'N'
	kindOverflowError   = 'O'
)

// maxSafe is Number.MAX_SAFE_INTEGER.
const maxSafe = 1<<53 - 1

// pyError is a Python exception to raise, produced while serving a host call.
type pyError struct {
	kind byte
	msg  string
}

func (e *pyError) Error() string { return e.msg }

func raise(kind byte, msg string) *pyError { return &pyError{kind, msg} }

// ---- encoding (Go -> Python) ----

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendStr(b []byte, s string) []byte {
	b = append(b, tString)
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

func appendInt(b []byte, v int64) []byte {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		b = append(b, tInt32)
		return appendU32(b, uint32(int32(v)))
	}
	b = append(b, tInt64)
	return appendU64(b, uint64(v))
}

func appendFloat(b []byte, f float64) []byte {
	// Number.isSafeInteger values become Python ints.
	if f == math.Trunc(f) && math.Abs(f) <= maxSafe {
		return appendInt(b, int64(f))
	}
	b = append(b, tFloat)
	return appendU64(b, math.Float64bits(f))
}

func appendBigInt(b []byte, x *big.Int) []byte {
	bs := twosComplement(x)
	b = append(b, tBigInt)
	b = appendU32(b, uint32(len(bs)))
	return append(b, bs...)
}

// twosComplement is x as little-endian two's complement, shortest form.
func twosComplement(x *big.Int) []byte {
	n := x.BitLen()/8 + 1
	out := make([]byte, n)
	if x.Sign() >= 0 {
		be := x.Bytes()
		for i := range be {
			out[i] = be[len(be)-1-i]
		}
		return out
	}
	// -x - 1, inverted.
	t := new(big.Int).Neg(x)
	t.Sub(t, big.NewInt(1))
	be := t.Bytes()
	for i := range out {
		var c byte
		if i < len(be) {
			c = be[len(be)-1-i]
		}
		out[i] = ^c
	}
	return out
}

func fromTwosComplement(le []byte) *big.Int {
	n := len(le)
	be := make([]byte, n)
	for i := range le {
		be[i] = le[n-1-i]
	}
	x := new(big.Int).SetBytes(be)
	if n > 0 && le[n-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	return x
}

// appendJSString appends a JS string as UTF-8, writing lone surrogates as
// Python's surrogatepass does.
func appendJSString(b []byte, v goja.Value) []byte {
	s := v.String()
	// goja.String.String() replaces lone surrogates with U+FFFD: only then
	// do the code units need a closer look.
	if !containsReplacement(s) {
		return appendStr(b, s)
	}
	gs, ok := v.(goja.String)
	if !ok {
		return appendStr(b, s)
	}
	n := gs.Length()
	units := make([]uint16, n)
	for i := range units {
		units[i] = gs.CharAt(i)
	}
	return appendStr(b, wtf8FromUTF16(units))
}

func containsReplacement(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == 0xEF && s[i+1] == 0xBF && s[i+2] == 0xBD {
			return true
		}
	}
	return false
}

// wtf8FromUTF16 encodes UTF-16 code units, keeping lone surrogates as
// 3-byte sequences.
func wtf8FromUTF16(units []uint16) string {
	out := make([]byte, 0, len(units)*3)
	for i := 0; i < len(units); i++ {
		u := units[i]
		if utf16.IsSurrogate(rune(u)) {
			if u < 0xDC00 && i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] <= 0xDFFF {
				r := utf16.DecodeRune(rune(u), rune(units[i+1]))
				out = utf8.AppendRune(out, r)
				i++
				continue
			}
			out = append(out, 0xE0|byte(u>>12), 0x80|byte(u>>6)&0x3F, 0x80|byte(u)&0x3F)
			continue
		}
		out = utf8.AppendRune(out, rune(u))
	}
	return string(out)
}

// ---- decoding (Python -> Go) ----

type reader struct {
	b   []byte
	off int
}

var errShort = errors.New("jsbridge: truncated message")

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		panic(errShort)
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) u32() uint32 {
	if r.off+4 > len(r.b) {
		panic(errShort)
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if r.off+8 > len(r.b) {
		panic(errShort)
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || r.off+n > len(r.b) {
		panic(errShort)
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) rest() []byte {
	v := r.b[r.off:]
	r.off = len(r.b)
	return v
}

func (r *reader) more() bool { return r.off < len(r.b) }

// stringValue makes a JS string from UTF-8 that may hold surrogates encoded
// by Python's surrogatepass.
func stringValue(rt *goja.Runtime, b []byte) goja.Value {
	if utf8.Valid(b) {
		return rt.ToValue(string(b))
	}
	units := make([]uint16, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0xED && i+2 < len(b) && b[i+1]&0xE0 == 0xA0 {
			// A surrogate: ED A0..BF xx.
			u := uint16(c&0x0F)<<12 | uint16(b[i+1]&0x3F)<<6 | uint16(b[i+2]&0x3F)
			units = append(units, u)
			i += 3
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		i += n
		units = utf16.AppendRune(units, r)
	}
	return goja.StringFromUTF16(units)
}
