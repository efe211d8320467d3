"""The core of the JavaScript FFI: JsProxy, PyProxy bookkeeping, conversions.

This is the Python half of wasmpy's Pyodide-compatible FFI; the other half is
the Go package jsbridge (a goja JavaScript world). Python calls Go through the
host function "js" (``_wasmpy.call("js", request)``); Go calls Python through
the dispatch target "jsffi". Both directions use the compact binary format
described in jsbridge/wire.go: an op byte, handle ids, tagged values.

JsProxy
    A Python object standing for a JavaScript value. It holds a handle id
    into the Go handle table (one reference); ``__del__`` releases it
    (batched). Its class depends on what the JavaScript value can do (the
    "type flags" computed by Go), as in Pyodide: every such class is named
    ``JsProxy``; ``isinstance(x, JsArray)`` and friends check the flags.

PyProxy
    A JavaScript object standing for a Python object. The Python object is
    kept in ``_objs`` under an id until Go says it was destroyed or collected.

Public names are re-exported by :mod:`pyodide.ffi`; nothing here is API.
"""

from __future__ import annotations

import asyncio
import collections.abc as cabc
import contextvars
import itertools
import json
import struct
import sys
import traceback
from typing import Any

import _wasmpy
import _wasmpy_rt

_hostcall = _wasmpy_rt.call
HostError = _wasmpy_rt.HostError
HOST = "js"
TARGET = "jsffi"

# ---- JsProxy type flags (jsbridge/handles.go) ----
IS_CALLABLE = 1 << 0
IS_AWAITABLE = 1 << 1
IS_ITERABLE = 1 << 2
IS_ASYNC_ITERABLE = 1 << 3
IS_ITERATOR = 1 << 4
IS_ASYNC_ITERATOR = 1 << 5
HAS_LENGTH = 1 << 6
HAS_GET = 1 << 7
HAS_SET = 1 << 8
HAS_HAS = 1 << 9
HAS_INCLUDES = 1 << 10
IS_BUFFER = 1 << 11
IS_DOUBLE_PROXY = 1 << 12
IS_ARRAY = 1 << 13
IS_NODE_LIST = 1 << 14
IS_TYPEDARRAY = 1 << 15
IS_GENERATOR = 1 << 16
IS_ASYNC_GENERATOR = 1 << 17
IS_ERROR = 1 << 18
IS_OBJECT_MAP = 1 << 19
IS_PY_JSON_DICT = 1 << 20
IS_PY_JSON_SEQUENCE = 1 << 21
HAS_DISPOSE = 1 << 22
IS_SYMBOL = 1 << 23
# Not a flag of the JS value: how the proxy was made (as_object_map).
OBJMAP_HEREDITARY = 1 << 24

js_flags = {
    name: value
    for name, value in globals().items()
    if (name.startswith("IS_") or name.startswith("HAS_")) and isinstance(value, int)
}

# ---- PyProxy flags (jsbridge/pyproxy.go) ----
PY_HAS_LENGTH = 1 << 0
PY_HAS_GET = 1 << 1
PY_HAS_SET = 1 << 2
PY_HAS_CONTAINS = 1 << 3
PY_IS_ITERABLE = 1 << 4
PY_IS_ITERATOR = 1 << 5
PY_IS_AWAITABLE = 1 << 6
PY_IS_BUFFER = 1 << 7
PY_IS_CALLABLE = 1 << 8
PY_IS_ASYNC_ITERABLE = 1 << 9
PY_IS_ASYNC_ITERATOR = 1 << 10
PY_IS_GENERATOR = 1 << 11
PY_IS_ASYNC_GENERATOR = 1 << 12
PY_IS_SEQUENCE = 1 << 13
PY_IS_MUTABLE_SEQUENCE = 1 << 14
PY_IS_DICT = 1 << 17

# ---- JS helpers callable by index (jsbridge/js/bridge.js pyHelpers) ----
H_TYPEOF = 0
H_REPR = 1
H_BOOL = 2
H_LENGTH = 3
H_DIR = 4
H_COMPARE = 5
H_ENTRIES = 6
H_KEYS = 7
H_VALUES = 8
H_ITER = 9
H_AITER = 10
H_MAPITER = 11
H_REVERSED = 12
H_OBJKEYSITER = 13
H_MAPGET = 14
H_MAPSET = 15
H_MAPDELETE = 16
H_HAS = 17
H_INCLUDES = 18
H_ARRAYDELETE = 19
H_ARRAYINSERT = 20
H_ARRAYSLICE = 21
H_ARRAYSLICEASSIGN = 22
H_PUSH = 23
H_EXTEND = 24
H_REPEAT = 25
H_INPLACEREPEAT = 26
H_INDEXOF = 27
H_COUNT = 28
H_REVERSE = 29
H_SHALLOWCOPY = 30
H_OBJMAPLENGTH = 31
H_OBJMAPGET = 32
H_OBJMAPSET = 33
H_OBJMAPDELETE = 34
H_OBJMAPCONTAINS = 35
H_WEAKREF = 36
H_CONSTRUCT = 37
H_PROMISERESOLVE = 38
H_THEN = 39
H_CTORNAME = 40
H_TYPETAG = 41
H_BUFFERINFO = 42
H_TEXTDECODE = 43
H_CALLMETHOD = 44
H_NEWERROR = 45
H_OWNNAMES = 46
H_IN = 47
H_FINALLY = 48
H_CATCH = 49
H_ISPROMISE = 50
H_ARRAYFROM = 51
H_GETSYMBOL = 52
H_FROMENTRIES = 53
H_DISPOSE = 54
H_DESTROYALL = 55

MAX_SAFE_INTEGER = 2**53 - 1

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_u32 = _U32.pack
_i32 = _I32.pack
_u64 = _U64.pack
_i64 = _I64.pack
_f64 = _F64.pack
_u32_at = _U32.unpack_from
_i32_at = _I32.unpack_from
_u64_at = _U64.unpack_from
_i64_at = _I64.unpack_from
_f64_at = _F64.unpack_from
_u32u32_at = struct.Struct("<II").unpack_from
_u32u32u32_at = struct.Struct("<III").unpack_from
_call_hdr = struct.Struct("<xQBI").unpack_from
# A call from JavaScript with one int32 argument and no keywords: op, u64
# Python id, u8 relaxed, u32 1, 'i', i32, u32 0 (see _dispatch).

_RESERVED = frozenset(
    [
        "False", "await", "else", "import", "pass", "None", "break", "except", "in",
        "raise", "True", "class", "finally", "is", "return", "and", "continue", "for",
        "lambda", "try", "as", "def", "from", "nonlocal", "while", "assert", "del",
        "global", "not", "with", "async", "elif", "if", "or", "yield",
    ]
)


class ConversionError(Exception):
    """An error thrown when conversion between JavaScript and Python fails."""

    __module__ = "pyodide.ffi"


class InternalError(Exception):
    """Thrown when a recoverable assertion error occurs in internal Pyodide code"""

    __module__ = "pyodide.ffi"


# ---------------------------------------------------------------------------
# jsnull


class JsNull:
    """The type of the Python representation of the JavaScript null object"""

    __slots__ = ()
    __module__ = "pyodide.ffi"

    def __new__(cls):
        return jsnull

    def __repr__(self):
        return "jsnull"

    def __bool__(self):
        return False

    def __reduce__(self):
        return (JsNull, ())

    typeof = "object"


jsnull: JsNull = object.__new__(JsNull)


class JSBigInt(int):
    """An int that always becomes a JavaScript BigInt (PEP 818)."""

    __slots__ = ()

    def __repr__(self):
        return f"JSBigInt({int(self)})"


# ---------------------------------------------------------------------------
# The Python object table behind PyProxies

_objs: dict[int, Any] = {}
_next_id = itertools.count(1).__next__


def _type_flags(tp: type) -> int:
    flags = 0
    mro = tp.__mro__

    def hasattr_t(name: str) -> bool:
        return any(name in k.__dict__ for k in mro)

    if hasattr_t("__len__"):
        flags |= PY_HAS_LENGTH
    if hasattr_t("__getitem__"):
        flags |= PY_HAS_GET
    if hasattr_t("__setitem__") or hasattr_t("__delitem__"):
        flags |= PY_HAS_SET
    if hasattr_t("__contains__"):
        flags |= PY_HAS_CONTAINS
    if hasattr_t("__iter__") or hasattr_t("__getitem__"):
        flags |= PY_IS_ITERABLE
    if hasattr_t("__aiter__"):
        flags |= PY_IS_ASYNC_ITERABLE
    if hasattr_t("__next__"):
        flags = (flags & ~PY_IS_ITERABLE) | PY_IS_ITERATOR
    if hasattr_t("__anext__"):
        flags = (flags & ~PY_IS_ASYNC_ITERABLE) | PY_IS_ASYNC_ITERATOR
    if issubclass(tp, cabc.Generator):
        flags |= PY_IS_GENERATOR
    if issubclass(tp, cabc.AsyncGenerator):
        flags |= PY_IS_ASYNC_GENERATOR
    if hasattr_t("__await__"):
        flags |= PY_IS_AWAITABLE
    if hasattr_t("__buffer__"):
        flags |= PY_IS_BUFFER
    if hasattr_t("__call__"):
        flags |= PY_IS_CALLABLE
    need = PY_HAS_LENGTH | PY_HAS_GET | PY_HAS_CONTAINS | PY_IS_ITERABLE
    if flags & need == need and issubclass(tp, cabc.Sequence):
        flags |= PY_IS_SEQUENCE
        if issubclass(tp, cabc.MutableSequence):
            flags |= PY_IS_MUTABLE_SEQUENCE
    if tp is dict:
        flags |= PY_IS_DICT
    return flags


_flag_cache: dict[type, int] = {}


def _pyflags(obj: Any) -> int:
    tp = type(obj)
    f = _flag_cache.get(tp)
    if f is None:
        f = _flag_cache[tp] = _type_flags(tp)
    if isinstance(obj, type) and hasattr(obj, "__class_getitem__"):
        f |= PY_HAS_GET
    return f


def _register(obj: Any) -> int:
    i = _next_id()
    _objs[i] = obj
    return i


# ---------------------------------------------------------------------------
# Encoding Python values for Go (implicit conversion, python2js)


def _enc_str(b: bytearray, s: str) -> None:
    e = s.encode("utf-8", "surrogatepass")
    b += b"s"
    b += _u32(len(e))
    b += e


def _enc_int(b: bytearray, v: int) -> None:
    if -0x80000000 <= v <= 0x7FFFFFFF:
        b += b"i"
        b += _i32(v)
    elif -MAX_SAFE_INTEGER < v < MAX_SAFE_INTEGER:
        b += b"I"
        b += _i64(v)
    else:
        _enc_bigint(b, v)


def _enc_bigint(b: bytearray, v: int) -> None:
    n = (v.bit_length() + 8) // 8
    raw = int(v).to_bytes(n, "little", signed=True)
    b += b"b"
    b += _u32(len(raw))
    b += raw


def _enc(b: bytearray, v: Any, created: list[int] | None = None) -> None:
    """Append the implicit conversion of v; objects become new PyProxies."""
    t = type(v)
    if t is int:
        if -0x80000000 <= v <= 0x7FFFFFFF:
            b += b"i"
            b += _i32(v)
        else:
            _enc_int(b, v)
    elif t is str:
        e = v.encode("utf-8", "surrogatepass")
        b += b"s"
        b += _u32(len(e))
        b += e
    elif v is None:
        b += b"u"
    elif v is True:
        b += b"t"
    elif v is False:
        b += b"f"
    elif t is float:
        b += b"d"
        b += _f64(v)
    elif isinstance(v, JsProxy):
        b += b"j"
        b += v._hb
    elif v is jsnull:
        b += b"n"
    elif isinstance(v, JSBigInt):
        _enc_bigint(b, v)
    elif isinstance(v, int):
        _enc_int(b, int(v))
    elif isinstance(v, float):
        b += b"d"
        b += _f64(v)
    elif isinstance(v, str):
        _enc_str(b, str(v))
    else:
        i = _next_id()
        _objs[i] = v
        if created is not None:
            created.append(i)
        b += b"P"
        b += _u64(i)
        b += _u32(_pyflags(v))


def _is_immutable(v: Any) -> bool:
    return (
        v is None
        or v is jsnull
        or isinstance(v, (bool, int, float, str))
    )


# ---------------------------------------------------------------------------
# Decoding Go's answers


def _dec_py(r: bytes, off: int) -> tuple[Any, int]:
    """Decode one value at off; return it and the offset after it. (_dec,
    in C, decodes the common tags and hands the others to this.)"""
    t = r[off]
    if t == 105:  # 'i'
        return _i32_at(r, off + 1)[0], off + 5
    if t == 115:  # 's'
        n = _u32_at(r, off + 1)[0]
        return r[off + 5 : off + 5 + n].decode("utf-8", "surrogatepass"), off + 5 + n
    if t == 104:  # 'h'
        i, f = _u32u32_at(r, off + 1)
        return _wrap(i, f, 0), off + 9
    if t == 117:  # 'u'
        return None, off + 1
    if t == 100:  # 'd'
        return _f64_at(r, off + 1)[0], off + 9
    if t == 116:  # 't'
        return True, off + 1
    if t == 102:  # 'f'
        return False, off + 1
    if t == 110:  # 'n'
        return jsnull, off + 1
    if t == 109:  # 'm'
        i, f, this = _u32u32u32_at(r, off + 1)
        return _wrap(i, f, this), off + 13
    if t == 73:  # 'I'
        return _i64_at(r, off + 1)[0], off + 9
    if t == 112:  # 'p'
        return _objs[_u64_at(r, off + 1)[0]], off + 9
    if t == 98:  # 'b'
        n = _u32_at(r, off + 1)[0]
        return int.from_bytes(r[off + 5 : off + 5 + n], "little", signed=True), off + 5 + n
    _raise_result(r, off)
    raise InternalError(f"bad value tag {chr(t)!r}")


_dec = _wasmpy.jsref_dec


def _raise_result(r: bytes, off: int) -> None:
    """Raise the error of an error result at off (does nothing otherwise)."""
    t = r[off]
    if t == 69:  # 'E'
        i, f = _u32u32_at(r, off + 1)
        raise _wrap(i, f, 0)
    if t == 88:  # 'X'
        token = _u64_at(r, off + 1)[0]
        i, f = _u32u32_at(r, off + 9)
        exc = _restore_exception(token)
        if exc is not None:
            _release(i)
            raise exc
        raise _wrap(i, f, 0)
    if t == 75:  # 'K'
        raise KeyboardInterrupt
    if t == 90:  # 'Z'
        kind = r[off + 1]
        msg = r[off + 2 :].decode("utf-8", "replace")
        raise _KINDS.get(kind, RuntimeError)(msg)


_KINDS = {
    ord("T"): TypeError,
    ord("V"): ValueError,
    ord("K"): KeyError,
    ord("I"): IndexError,
    ord("A"): AttributeError,
    ord("C"): ConversionError,
    ord("R"): RuntimeError,
    ord("S"): StopIteration,
    ord("N"): NotImplementedError,
    ord("O"): OverflowError,
}


def _restore_exception(token: int) -> BaseException | None:
    last = getattr(sys, "last_exc", None)
    if last is not None and id(last) == token:
        return last
    return None


def _exc_value(r: bytes, off: int) -> BaseException:
    """The exception an 'E'/'X' value at off stands for (not raised)."""
    try:
        _raise_result(r, off)
    except BaseException as e:  # noqa: BLE001
        return e
    return InternalError("not an error")


def _rejection(r: bytes, off: int) -> BaseException:
    """The exception a rejected promise gives in Python: as in Pyodide
    (create_promise_handles), a PythonError stays a JsException (the Python
    exception it carries is not restored, unlike a synchronous throw)."""
    if r[off] == 88:  # 'X'
        i, f = _u32u32_at(r, off + 9)
        return _wrap(i, f, 0)
    return _exc_value(r, off)


def _call(req) -> bytes:
    return _hostcall(HOST, req)


def _value(req) -> Any:
    """Send req and decode a single value answer."""
    r = _hostcall(HOST, req)
    t = r[0]
    if t == 105:
        return _i32_at(r, 1)[0]
    if t == 117:
        return None
    return _dec(r, 0)[0]


def _helper(index: int, *args: Any) -> Any:
    """Call a JavaScript helper of bridge.js; missing -> KeyError."""
    b = bytearray(b"H")
    b.append(index)
    b += _u32(len(args))
    created: list[int] = []
    for a in args:
        _enc(b, a, created)
    b += b"\0\0\0\0"
    r = _hostcall(HOST, b)
    if r[0] == 65:  # 'A'
        for i in created:
            _objs.pop(i, None)
        raise KeyError
    try:
        return _dec(r, 0)[0]
    finally:
        for i in created:
            _objs.pop(i, None)


def _helper_keep(index: int, *args: Any) -> Any:
    """_helper whose new PyProxies outlive the call (Pyodide's setitem
    converts the value with python2js and never destroys it)."""
    b = bytearray(b"H")
    b.append(index | 0x80)
    b += _u32(len(args))
    for a in args:
        _enc(b, a)
    b += b"\0\0\0\0"
    r = _hostcall(HOST, b)
    if r[0] == 65:  # 'A'
        raise KeyError
    return _dec(r, 0)[0]


def _helper_maybe(index: int, *args: Any) -> tuple[bool, Any]:
    try:
        return True, _helper(index, *args)
    except KeyError:
        return False, None


# ---------------------------------------------------------------------------
# Releasing handles

# The handles of collected proxies are released in batches (_wasmpy.JsRef's
# deallocation queues them; see wasmpy/csrc/jsref.c).
_release = _wasmpy.jsref_release
_flush_release = _wasmpy.jsref_flush


# ---------------------------------------------------------------------------
# JsProxy classes


_type_name_attr = type.__dict__["__name__"]


class _JsProxyMeta(type):
    # The concrete proxy classes are made with the name "pyodide.ffi.JsProxy"
    # (so "pyodide.ffi.JsException"): CPython's messages use that name (tp_name),
    # as for Pyodide's C types ("'pyodide.ffi.JsProxy' object is not
    # subscriptable"), while __name__ is the short name.
    @property
    def __name__(cls):
        return cls.__dict__.get("_js_short_name") or _type_name_attr.__get__(cls)

    @__name__.setter
    def __name__(cls, value):
        _type_name_attr.__set__(cls, value)

    def __instancecheck__(cls, instance):
        return cls.__subclasscheck__(type(instance))

    def __subclasscheck__(cls, subclass):
        if type.__subclasscheck__(cls, subclass):
            return True
        sub = getattr(subclass, "_js_type_flags", None)
        if not isinstance(sub, int) or not getattr(subclass, "_js_concrete", False):
            return False
        want = cls.__dict__.get("_js_check_flags")
        if not want:
            return False
        return any(sub & f == f for f in want)


class _ABCMeta(_JsProxyMeta, type(cabc.MutableSequence)):
    pass


_instantiate_token = object()


class JsProxy(metaclass=_JsProxyMeta):
    """A proxy to make a JavaScript object behave like a Python object

    For more information see the :ref:`type-translations` documentation. In
    particular, see
    :ref:`the list of __dunder__ methods <type-translations-jsproxy>`
    that are (conditionally) implemented on :py:class:`JsProxy`.
    """

    __slots__ = ()
    __module__ = "pyodide.ffi"
    _js_type_flags = 0
    _js_check_flags: tuple[int, ...] = ()

    def __new__(cls, *args, **kwargs):
        raise TypeError(f"{cls.__name__} cannot be instantiated.")

    # -- attributes (reads: _wasmpy.JsRef's getattro, or _getattr_py) --
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PY_SIDE_ATTRS:
            object.__setattr__(self, name, value)
            return
        if name[-1:] == "_" and name.rstrip("_") in _RESERVED:
            name = name[:-1]
        b = bytearray(b"S")
        b += self._hb
        e = name.encode("utf-8", "surrogatepass")
        b += _u32(len(e))
        b += e
        _enc(b, value)
        _check(_hostcall(HOST, b))

    def __delattr__(self, name: str) -> None:
        if name in _PY_SIDE_ATTRS:
            object.__delattr__(self, name)
            return
        if name[-1:] == "_" and name.rstrip("_") in _RESERVED:
            name = name[:-1]
        _check(_hostcall(HOST, b"D" + self._hb + name.encode("utf-8", "surrogatepass")))

    def __dir__(self) -> list[str]:
        result = set(object.__dir__(self))
        result.update(_helper(H_DIR, self))
        if self._flags & IS_ARRAY:
            result.discard("keys")
        return sorted(result)

    # -- basics --
    def __repr__(self) -> str:
        return _helper(H_REPR, self)

    def __bool__(self) -> bool:
        return _helper(H_BOOL, self)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, JsProxy):
            return False
        return self._id == other._id

    def __ne__(self, other: Any) -> bool:
        if not isinstance(other, JsProxy):
            return True
        return self._id != other._id

    def _compare(self, other: Any, op: int) -> Any:
        if not isinstance(other, JsProxy):
            return NotImplemented
        return _helper(H_COMPARE, self, other, op)

    def __lt__(self, other):
        return self._compare(other, 0)

    def __le__(self, other):
        return self._compare(other, 1)

    def __gt__(self, other):
        return self._compare(other, 4)

    def __ge__(self, other):
        return self._compare(other, 5)

    __hash__ = None  # type: ignore[assignment]

    @property
    def typeof(self) -> str:
        """Returns the JavaScript type of the ``JsProxy``."""
        return _helper(H_TYPEOF, self)

    @property
    def js_id(self) -> int:
        """An id number which can be used as a dictionary/set key if you want to
        key on JavaScript object identity."""
        return self._id

    def object_entries(self) -> JsProxy:
        """The JavaScript API ``Object.entries(object)``"""
        return _helper(H_ENTRIES, self)

    def object_keys(self) -> JsProxy:
        """The JavaScript API ``Object.keys(object)``"""
        return _helper(H_KEYS, self)

    def object_values(self) -> JsProxy:
        """The JavaScript API ``Object.values(object)``"""
        return _helper(H_VALUES, self)

    def to_weakref(self) -> JsProxy:
        """Wrap the proxy in a JavaScript WeakRef."""
        return _helper(H_WEAKREF, self)

    def to_py(self, *, depth: int = -1, default_converter: Any = None) -> Any:
        """Convert the :class:`JsProxy` to a native Python object as best as possible."""
        return _to_py(self, depth, default_converter)

    def as_object_map(self, *, hereditary: bool = False) -> JsProxy:
        """Returns a new JsProxy that treats the object as a map."""
        global _warned_object_map
        if not _warned_object_map:
            _warned_object_map = True
            import warnings

            warnings.warn(
                "JsProxy.as_object_map() is deprecated. Use as_py_json() instead.",
                RuntimeWarning,
                stacklevel=2,
            )
        flags = IS_OBJECT_MAP | (OBJMAP_HEREDITARY if hereditary else 0)
        return _wrap_again(self, flags)

    def as_py_json(self) -> JsProxy:
        """Returns a new JsProxy that treats a JavaScript object as Python json."""
        f = self._flags
        if f & (IS_ARRAY | IS_NODE_LIST):
            return _wrap_again(self, f | IS_PY_JSON_SEQUENCE)
        return _wrap_again(self, f | IS_PY_JSON_DICT)

    def bind_sig(self, signature: Any) -> Any:
        """Creates a copy of the JsProxy with a signature bound to it (no-op here)."""
        return self

    def bind_class(self, signature: Any) -> Any:
        """Creates a copy of the JsProxy with a signature bound to it (no-op here)."""
        return self

    # CPython's reduce_newobj names the C type by tp_name.
    def __reduce__(self):
        raise TypeError("cannot pickle 'pyodide.ffi.JsProxy' object")


_names: dict[str, bytes] = {}


def _encname(name: str) -> bytes:
    """The UTF-8 of a JS property name for a Python attribute name (a
    reserved word followed by underscores loses one: ``from_`` is ``from``)."""
    js = name
    if name[-1:] == "_" and name.rstrip("_") in _RESERVED:
        js = name[:-1]
    e = js.encode("utf-8", "surrogatepass")
    if len(_names) > 4096:
        _names.clear()
    _names[name] = e
    return e



_PY_SIDE_ATTRS = frozenset(["__loader__", "__name__", "__package__", "__path__", "__spec__", "__file__", "__all__"])
_warned_object_map = False


def _check(r: bytes) -> None:
    t = r[0]
    if t in (69, 88, 75, 90):
        _raise_result(r, 0)


def _getattr_py(self: Any, name: str) -> Any:
    """Attribute reads of the proxies that are not JsRefs (JsException)."""
    if name == "keys" and self._flags & IS_ARRAY:
        raise AttributeError(name)
    n = _names.get(name)
    if n is None:
        n = _encname(name)
    r = _hostcall(HOST, self._G + n)
    t = r[0]
    if t == 105:
        return _i32_at(r, 1)[0]
    if t == 109:  # 'm', a method: before _dec's longer chain of tests
        i, f, this = _u32u32u32_at(r, 1)
        return _wrap(i, f, this)
    if t == 65:  # 'A'
        raise AttributeError(name)
    return _dec(r, 0)[0]


class _Impl(JsProxy, _wasmpy.JsRef):
    """An ordinary JsProxy: its handle, attribute reads and calls are
    _wasmpy.JsRef's (JsException instances keep theirs in __dict__)."""

    __slots__ = ("__dict__", "__weakref__")


class _ImplCall(_Impl, _wasmpy.JsCallRef):
    """A callable JsProxy: _wasmpy.JsCallRef's vectorcall calls it."""

    __slots__ = ()


class JsException(JsProxy, Exception):
    """A JavaScript Error.

    These are pickleable unlike other JsProxies.
    """

    __module__ = "pyodide.ffi"

    def __new__(cls, *args, **kwargs):
        if args and args[0] is _instantiate_token:
            return Exception.__new__(cls)
        return _new_exc(*args, **kwargs)

    def __init__(self, *args, **kwargs):
        pass

    @property
    def js_error(self) -> JsException:
        return self

    # As Pyodide's (JsProxy_create_with_type): args is a 1-tuple of a plain
    # JsProxy of the same error; assigning to it changes nothing.
    @property
    def args(self) -> tuple[Any, ...]:
        d = self.__dict__
        a = d.get("_args")
        if a is None:
            a = d["_args"] = (_wrap_again(self, d["_flags"] & ~IS_ERROR),)
        return a

    @args.setter
    def args(self, value: Any) -> None:
        pass

    # Exception.__str__ of args[0]: the error's toString(), so an empty
    # message gives just the name (jsproxy.c JsProxy_Repr).
    def __str__(self) -> str:
        return _helper(H_REPR, self)

    def __repr__(self) -> str:
        return _helper(H_REPR, self)

    def __reduce__(self):
        return (_new_exc, (self.name, self.message, self.stack))

    __getattr__ = _getattr_py

    def __del__(self):
        try:
            d = self.__dict__
            _release(d["_id"])
            if d.get("_this"):
                _release(d["_this"])
        except Exception:  # noqa: BLE001
            pass

    __hash__ = object.__hash__


def _new_exc(*args: Any, **kwargs: Any) -> JsException:
    # As jsproxy.c JsException_new: PyArg_ParseTupleAndKeywords "s|ss".
    names = ("name", "message", "stack")
    if len(args) + len(kwargs) > 3:
        raise TypeError(f"__new__() takes at most 3 arguments ({len(args) + len(kwargs)} given)")
    vals: list[Any] = list(args) + [None] * (3 - len(args))
    for i, n in enumerate(names):
        if n in kwargs:
            if i < len(args):
                raise TypeError(f"argument for __new__() given by name ('{n}') and position ({i + 1})")
            vals[i] = kwargs[n]
    for k in kwargs:
        if k not in names:
            raise TypeError(f"'{k}' is an invalid keyword argument for __new__()")
    if not args and "name" not in kwargs:
        raise TypeError("__new__() missing required argument 'name' (pos 1)")
    for i, v in enumerate(vals):
        if (v is not None or i < len(args) or names[i] in kwargs) and not isinstance(v, str):
            raise TypeError(f"__new__() argument {i + 1} must be str, not {_c_type_name(v)}")
    return _helper(H_NEWERROR, vals[0], vals[1] or "", vals[2] or "")


def _c_type_name(v: Any) -> str:
    # What CPython's argument parser names a value's type (tp_name).
    if v is None:
        return "None"
    t = type(v)
    if isinstance(v, JsProxy):
        return "pyodide.ffi." + ("JsException" if isinstance(v, JsException) else "JsProxy")
    if t.__flags__ & (1 << 9) or t.__module__ == "builtins":
        return t.__name__
    return f"{t.__module__}.{t.__qualname__}"


# -- mixins (behaviour chosen by flags, as in Pyodide's JsProxy_create_subtype) --


def _length(self) -> int:
    n = _helper(H_LENGTH, self)
    if n >= 0:
        return n
    if n == -2:
        raise TypeError("object does not have a valid length")
    if n == -3:
        raise ValueError("length of object is negative")
    raise OverflowError("length of object is larger than INT_MAX (2147483647)")


class _Length:
    __slots__ = ()
    __len__ = _length


def _enc_args(b: bytearray, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[int]:
    """Append a call's arguments; return the ids of the PyProxies made."""
    created: list[int] = []
    b += _u32(len(args))
    for a in args:
        _enc(b, a, created)
    if kwargs:
        b += _u32(len(kwargs))
        for k, v in kwargs.items():
            _enc_str(b, k)
            _enc(b, v, created)
    return created


def _call_py(self: Any, *args: Any, **kwargs: Any) -> Any:
    """A call of a JavaScript function with keywords or with arguments that
    become PyProxies (JsRef's _call encodes the simple ones itself)."""
    b = bytearray(self._C)
    created = _enc_args(b, args, kwargs)
    r = _hostcall(HOST, b)
    k = r[0]
    if k > 1:
        # An error result has no "kept" byte.
        for i in created:
            _objs.pop(i, None)
        _raise_result(r, 0)
    t = r[1]
    if t == 86 or t == 89:  # 'V', 'Y': a settled promise's outcome
        return _settled_future(r)
    if t == 105:
        v = _i32_at(r, 2)[0]
    else:
        v = _dec(r, 1)[0]
    if created and k == 0:
        for i in created:
            _objs.pop(i, None)
    if t == 104 and v._flags & IS_AWAITABLE:
        return _promise_future(v)
    return v


class _Callable:
    # Called through _wasmpy.JsCallRef's vectorcall (see _ImplCall).
    __slots__ = ()

    def new(self, *args, **kwargs) -> JsProxy:
        """Construct a new instance of the JavaScript object"""
        b = bytearray(b"N")
        b += self._hb
        created = _enc_args(b, args, kwargs)
        r = _hostcall(HOST, b)
        if r[0] > 1:
            for i in created:
                _objs.pop(i, None)
            _raise_result(r, 0)
        v = _dec(r, 1)[0]
        if created and r[0] != 1:
            for i in created:
                _objs.pop(i, None)
        return v


def _next_value(self, arg: Any = None) -> tuple[bool, Any]:
    b = bytearray(b"n")
    b += self._hb
    created: list[int] = []
    if arg is None:
        b += b"\0\0\0\0"
    else:
        b += _u32(1)
        _enc(b, arg, created)
    r = _hostcall(HOST, b)
    if r[0] > 1:
        for i in created:
            _objs.pop(i, None)
        _raise_result(r, 0)
    v = _dec(r, 1)[0]
    for i in created:
        _objs.pop(i, None)
    if r[0] == 0 and self._flags & IS_PY_JSON_SEQUENCE:
        v = _json_adapt(v)
    return r[0] == 1, v


class _Iterator:
    __slots__ = ()

    def __iter__(self):
        return self

    # In C (jsref.c); as_py_json iterators use _next_py.
    __next__ = _wasmpy.JsRef._iter_next

    def _next_py(self):
        done, v = _next_value(self)
        if done:
            if v is None:
                raise StopIteration
            raise StopIteration(v)
        return v

    def send(self, value):
        done, v = _next_value(self, value)
        if done:
            raise StopIteration(v) if v is not None else StopIteration
        return v


class _Iterable:
    __slots__ = ()

    def __iter__(self):
        it = _helper(H_ITER, self)
        if self._flags & IS_PY_JSON_SEQUENCE:
            it = _wrap_again(it, it._flags | IS_PY_JSON_SEQUENCE)
        return it


class _Generator(_Iterator):
    __slots__ = ()

    def throw(self, typ, val=None, tb=None):
        if isinstance(typ, type) and issubclass(typ, BaseException):
            exc = typ(val) if val is not None and not isinstance(val, BaseException) else (val or typ())
        else:
            exc = typ
        if not isinstance(exc, BaseException):
            raise TypeError(
                f"exceptions must be classes or instances deriving from BaseException, not {type(exc).__name__}"
            )
        if isinstance(exc, GeneratorExit):
            res = _helper(H_CALLMETHOD, self, "return")
        else:
            res = _helper(H_CALLMETHOD, self, "throw", _python_error(exc))
        done = res.done
        value = res.value
        if done:
            raise StopIteration(value) if value is not None else StopIteration
        return value

    def close(self):
        try:
            self.throw(GeneratorExit)
        except (GeneratorExit, StopIteration):
            return
        raise RuntimeError("JavaScript generator ignored GeneratorExit")


class _AsyncIterable:
    __slots__ = ()

    def __aiter__(self):
        return _helper(H_AITER, self)


async def _anext_of(promise: JsProxy) -> Any:
    res = await promise
    if res.done:
        raise StopAsyncIteration
    return res.value


class _AsyncIterator:
    __slots__ = ()

    def __aiter__(self):
        return self

    def __anext__(self):
        return _anext_of(_helper(H_CALLMETHOD, self, "next"))

    def asend(self, value):
        return _anext_of(_helper(H_CALLMETHOD, self, "next", value))


class _AsyncGenerator(_AsyncIterator):
    __slots__ = ()

    def athrow(self, value, *args):
        if isinstance(value, type):
            value = value(*args)
        return _anext_of(_helper(H_CALLMETHOD, self, "throw", _python_error(value)))

    async def aclose(self):
        await _helper(H_CALLMETHOD, self, "return")
        return None


class _Awaitable:
    __slots__ = ()

    def __await__(self):
        token = _future_ids()
        outcome = _watch(self, token)
        if outcome is None:
            fut = asyncio.get_event_loop().create_future()
            _futures[token] = fut
            return (yield from fut)
        if isinstance(outcome, _Rejected):
            raise outcome.exc
        return outcome.value

    def then(self, onfulfilled=None, onrejected=None):
        """The :js:meth:`Promise.then` API, wrapped to manage the lifetimes of the handlers."""
        handles: list[JsProxy] = []

        def done():
            for h in handles:
                try:
                    h.destroy()
                except Exception:  # noqa: BLE001
                    pass
            handles.clear()

        def wrap(f):
            if f is None:
                return None

            def cb(*args):
                try:
                    return f(*args)
                finally:
                    done()

            px = create_proxy(cb)
            handles.append(px)
            return px

        a = wrap(onfulfilled)
        b = wrap(onrejected)
        p = _helper(H_PROMISERESOLVE, self)
        return _helper(H_THEN, p, a, b)

    def catch(self, onrejected):
        """The :js:meth:`Promise.catch` API, wrapped to manage the lifetimes of the handler."""
        return self.then(None, onrejected)

    def finally_(self, onfinally):
        """The :js:meth:`Promise.finally` API, wrapped to manage the lifetimes of the handler."""
        p = _helper(H_PROMISERESOLVE, self)
        return _helper(H_FINALLY, p, create_once_callable(onfinally))


# Awaits in progress: token -> the future to settle, or None while the host
# call that registered the await runs (a settlement then goes to _early).
_futures: dict[int, asyncio.Future | None] = {}
_future_ids = itertools.count(1).__next__


class _Fulfilled:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Rejected:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_early: dict[int, _Fulfilled | _Rejected] = {}


def _settle_future(data: bytes) -> bytes:
    token = _u64_at(data, 1)[0]
    ok = data[9]
    if token not in _futures:
        return b"u"
    fut = _futures.pop(token)
    outcome: _Fulfilled | _Rejected = _Fulfilled(_dec(data, 10)[0]) if ok else _Rejected(_rejection(data, 10))
    if fut is None:
        _early[token] = outcome
    elif not fut.done():
        if isinstance(outcome, _Fulfilled):
            fut.set_result(outcome.value)
        else:
            fut.set_exception(outcome.exc)
    return b"u"


def _watch(p: Any, token: int) -> _Fulfilled | _Rejected | None:
    """Ask the host to settle the future to be registered under token
    (_futures) when the thenable p settles. Returns p's outcome if it is known
    already (settled, or settled during the call); nothing is registered then."""
    _futures[token] = None  # a settlement during the call goes to _early
    try:
        r = _hostcall(HOST, b"W" + p._hb + _u64(token))
    except BaseException:
        _futures.pop(token, None)
        raise
    t = r[0]
    if t == 86 or t == 89:  # 'V', 'Y': settled already
        _futures.pop(token, None)
        return _Fulfilled(_dec(r, 1)[0]) if t == 86 else _Rejected(_rejection(r, 1))
    _check(r)
    early = _early.pop(token, None)
    if early is not None:
        _futures.pop(token, None)
    return early


def _promise_future(p: JsProxy) -> asyncio.Future:
    """The future a call that returned the thenable p gives, as in Pyodide
    (jsproxy_call.c: a call's result that is a promise is wrapped by
    wrap_promise): a loop future settled by p's outcome, never at once (Pyodide
    settles it from a promise reaction, a microtask)."""
    loop = asyncio.get_event_loop()
    fut = loop.create_future()
    token = _future_ids()
    outcome = _watch(p, token)
    if outcome is None:
        _futures[token] = fut
        return fut
    ok = isinstance(outcome, _Fulfilled)
    return _settling_future(loop, fut, ok, outcome.value if ok else outcome.exc)


def _settled_future(r: bytes) -> asyncio.Future:
    """The future of a call whose promise had settled already: the host
    answered with the outcome (r[1] 'V' or 'Y') instead of the promise."""
    if r[1] == 86:
        return _settled(True, _dec(r, 2)[0])
    return _settled(False, _rejection(r, 2))


def _settled(ok: bool, value: Any) -> asyncio.Future:
    """_settled_future of a decoded outcome (what jsref.c calls)."""
    loop = asyncio.get_event_loop()
    make = getattr(loop, "_settled_future", None)
    if make is not None:
        return make(ok, value)
    return _settling_future(loop, loop.create_future(), ok, value)


def _settling_future(loop: Any, fut: asyncio.Future, ok: bool, value: Any) -> asyncio.Future:
    # Settled from the loop, never at once (Pyodide settles it from a promise
    # reaction): a WebLoop's _settle_soon; on another loop, a callback with an
    # empty context (settling runs no user code, and the future's own
    # callbacks keep theirs).
    settle = getattr(loop, "_settle_soon", None)
    if settle is not None:
        h = settle(fut, ok, value)
    else:
        h = loop.call_soon(_settle_outcome, fut, ok, value, context=contextvars.Context())
    if hasattr(fut, "_pending_settle"):
        fut._pending_settle = h  # see PyodideFuture.__await__
    return fut


def _settle_outcome(fut: asyncio.Future, ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class _Subscript:
    """obj.get(key) (HAS_GET)."""

    __slots__ = ()
    # Pyodide fills only the mapping slots (mp_subscript), never sq_item: a
    # JsProxy with get() is not reversible, where a Python class with
    # __getitem__ and __len__ would use the sequence protocol. (Nor is it
    # iterable unless the JavaScript object is: see _class_for.)
    __reversed__ = None

    def __getitem__(self, key):
        ok, v = _helper_maybe(H_MAPGET, self, key)
        if not ok:
            raise KeyError(key)
        return v


class _AssignSubscript:
    """obj.set(key, value) / obj.delete(key) (HAS_SET)."""

    __slots__ = ()

    def __setitem__(self, key, value):
        _helper_keep(H_MAPSET, self, key, value)

    def __delitem__(self, key):
        if not _helper(H_MAPDELETE, self, key):
            raise KeyError(key)


class _ContainsHas:
    __slots__ = ()

    def __contains__(self, key):
        return _helper(H_HAS, self, key)


class _ContainsIncludes:
    __slots__ = ()

    def __contains__(self, key):
        return _helper(H_INCLUDES, self, key)


class _Mapping:
    __slots__ = ()
    __reversed__ = None  # a mapping, not a sequence (see _Subscript)

    def __iter__(self):
        return _helper(H_MAPITER, self)

    def keys(self):
        """Return a :py:class:`~collections.abc.KeysView` for the map."""
        return cabc.KeysView(self)

    def values(self):
        """Return a :py:class:`~collections.abc.ValuesView` for the map."""
        return cabc.ValuesView(self)

    def items(self):
        """Return a :py:class:`~collections.abc.ItemsView` for the map."""
        return cabc.ItemsView(self)

    def get(self, key, default=None, /):
        """If ``key in self``, returns ``self[key]``. Otherwise returns ``default``."""
        try:
            return self[key]
        except KeyError:
            return default


_MISSING = object()


class _MutableMapping(_Mapping):
    __slots__ = ()

    def pop(self, key, default=_MISSING, /):
        try:
            v = self[key]
        except KeyError:
            if default is _MISSING:
                raise
            return default
        del self[key]
        return v

    def popitem(self):
        return cabc.MutableMapping.popitem(self)

    def clear(self):
        ok, f = _helper_maybe(H_IN, self, "clear")
        if ok and f:
            try:
                _helper(H_CALLMETHOD, self, "clear")
                return
            except Exception:  # noqa: BLE001
                pass
        cabc.MutableMapping.clear(self)

    def update(self, other=_MISSING, /, **kwargs):
        # As jsproxy.c JsMap_update: keyword arguments are not added; when
        # there are some, `other` is applied a second time instead.
        if other is _MISSING:
            return
        cabc.MutableMapping.update(self, other)
        if kwargs:
            cabc.MutableMapping.update(self, other)

    def setdefault(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            self[key] = default
            return default


class _ObjMap(_MutableMapping):
    """as_object_map / as_py_json(dict): items are own properties."""

    __slots__ = ()
    __reversed__ = None

    def __iter__(self):
        return _helper(H_OBJKEYSITER, self)

    def __len__(self):
        return _helper(H_OBJMAPLENGTH, self)

    def __getitem__(self, key):
        if not isinstance(key, str):
            raise KeyError(key)
        ok, v = _helper_maybe(H_OBJMAPGET, self, key)
        if not ok:
            raise KeyError(key)
        return self._adapt(v)

    def _adapt(self, v):
        if isinstance(v, JsProxy):
            f = self._flags
            if f & IS_PY_JSON_DICT:
                return _json_adapt(v)
            if f & OBJMAP_HEREDITARY and not v._flags & (IS_CALLABLE | IS_BUFFER | IS_ERROR | IS_ARRAY):
                return _wrap_again(v, v._flags | IS_OBJECT_MAP | OBJMAP_HEREDITARY)
        return v

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError("Can only assign keys of type string to JavaScript object map")
        _helper_keep(H_OBJMAPSET, self, key, value)

    def __delitem__(self, key):
        if not isinstance(key, str):
            raise KeyError(key)
        ok, _ = _helper_maybe(H_OBJMAPDELETE, self, key)
        if not ok:
            raise KeyError(key)

    def __contains__(self, key):
        if not isinstance(key, str):
            return False
        return _helper(H_OBJMAPCONTAINS, self, key)


def _json_adapt(v):
    if isinstance(v, JsProxy):
        f = v._flags
        if f & (IS_ARRAY | IS_NODE_LIST | IS_ITERATOR):
            return _wrap_again(v, f | IS_PY_JSON_SEQUENCE)
        if not f & (IS_CALLABLE | IS_BUFFER | IS_ERROR | IS_TYPEDARRAY):
            return _wrap_again(v, f | IS_PY_JSON_DICT)
    return v


def _valid_index(self, i: int) -> int:
    if i < 0:
        i += len(self)
    return i


class _Array:
    """Array (IS_ARRAY): a MutableSequence."""

    __slots__ = ()

    def __len__(self):
        return _length(self)

    # Non-negative int indexes in C (jsref.c); the others, slices and
    # as_py_json sequences in _getitem_py.
    __getitem__ = _wasmpy.JsRef._array_getitem

    def _getitem_py(self, idx):
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            n = len(range(start, stop, step))
            if n <= 0:
                res = _helper(H_ARRAYSLICE, self, 0, 0, 1)
            else:
                res = _helper(H_ARRAYSLICE, self, start, stop, step)
            return self._adapt(res)
        if not hasattr(idx, "__index__"):
            raise TypeError(f"list indices must be integers or slices, not {type(idx).__name__}")
        i = idx.__index__()
        if i < 0:
            i += len(self)
        r = _hostcall(HOST, b"g" + self._hb + _i64(i))
        t = r[0]
        if t == 105:
            return _i32_at(r, 1)[0]
        if t == 65:
            raise IndexError(idx)
        return self._adapt(_dec(r, 0)[0])

    def _adapt(self, v):
        if self._flags & IS_PY_JSON_SEQUENCE:
            return _json_adapt(v)
        return v

    def __setitem__(self, idx, value):
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            seq = list(value)
            n = len(range(start, stop, step))
            if step != 1 and len(seq) != n:
                raise ValueError(
                    f"attempt to assign sequence of size {len(seq)} to extended slice of size {n}"
                )
            if step != 1 and n == 0:
                return
            if step == 1 and stop < start:
                stop = start
            _helper(H_ARRAYSLICEASSIGN, self, start, stop, step, to_js(seq, depth=1))
            return
        if not hasattr(idx, "__index__"):
            raise TypeError(f"list indices must be integers or slices, not {type(idx).__name__}")
        i = idx.__index__()
        if i < 0:
            i += len(self)
        b = bytearray(b"s")
        b += self._hb
        b += _i64(i)
        _enc(b, value)
        _check(_hostcall(HOST, b))

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            n = len(range(start, stop, step))
            if n <= 0:
                return
            if step < 0:
                stop = start + 1
                start = stop + step * (n - 1) - 1
                step = -step
            _helper(H_ARRAYSLICEASSIGN, self, start, stop, step, None)
            return
        i = idx.__index__()
        if i < 0:
            i += len(self)
        ok, _ = _helper_maybe(H_ARRAYDELETE, self, i)
        if not ok:
            raise IndexError(idx)

    def __iter__(self):
        it = _helper(H_ITER, self)
        if self._flags & IS_PY_JSON_SEQUENCE:
            it = _wrap_again(it, it._flags | IS_PY_JSON_SEQUENCE)
        return it

    def __reversed__(self):
        """Return a reverse iterator over the :js:class:`Array`."""
        return _helper(H_REVERSED, self)

    def __contains__(self, value):
        for v in self:
            if v is value or v == value:
                return True
        return False

    def extend(self, other, /):
        """Extend array by appending elements from the iterable."""
        _helper(H_EXTEND, self, to_js(list(other), depth=1))

    def __iadd__(self, other):
        self.extend(other)
        return self

    def __add__(self, other):
        res = _helper(H_SHALLOWCOPY, self)
        res.extend(other)
        return res

    def __mul__(self, n):
        return _helper(H_REPEAT, self, n)

    def __imul__(self, n):
        _helper(H_INPLACEREPEAT, self, n)
        return self

    def pop(self, /, index=-1):
        """Remove and return the ``item`` at ``index`` (default last)."""
        index = index.__index__()
        n = len(self)
        if n == 0:
            raise IndexError("pop from empty list")
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("pop index out of range")
        ok, v = _helper_maybe(H_ARRAYDELETE, self, index)
        return v

    def append(self, /, object):
        """Append object to the end of the list."""
        _helper(H_PUSH, self, object)

    def index(self, /, value, start=0, stop=sys.maxsize):
        """Return first ``index`` at which ``value`` appears in the ``Array``."""
        n = len(self)
        if start < 0:
            start = max(start + n, 0)
        if stop < 0:
            stop = max(stop + n, 0)
        stop = min(stop, n)
        if _is_immutable(value) or isinstance(value, JsProxy):
            r = _helper(H_INDEXOF, self, value, start, stop)
            if r >= 0:
                return r
        else:
            for i in range(start, stop):
                v = self[i]
                if v is value or (not isinstance(v, JsProxy) and v == value):
                    return i
        raise ValueError(f"{value!r} is not in list")

    def count(self, /, x):
        """Return the number of times x appears in the list."""
        if _is_immutable(x) or isinstance(x, JsProxy):
            return _helper(H_COUNT, self, x)
        return sum(1 for v in self if v is x or (not isinstance(v, JsProxy) and v == x))

    def reverse(self):
        """Reverse the array in place."""
        _helper(H_REVERSE, self)

    def insert(self, index, value):
        """Insert an item at a given position."""
        _helper(H_ARRAYINSERT, self, index.__index__(), value)

    def remove(self, value):
        """Remove the first item from the list whose value is equal to ``x``."""
        i = self.index(value)
        _helper(H_ARRAYDELETE, self, i)

    def clear(self):
        del self[:]


class _TypedArray(_Array):
    __slots__ = ()

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            raise NotImplementedError("Slice subscripting isn't implemented for typed arrays")
        return _Array.__getitem__(self, idx)

    def __setitem__(self, idx, value):
        if isinstance(idx, slice):
            raise NotImplementedError("Slice assignment isn't implemented for typed arrays")
        _Array.__setitem__(self, idx, value)

    def __delitem__(self, idx):
        raise TypeError("object doesn't support item deletion")

    def subarray(self, start=None, stop=None):
        return _helper(H_CALLMETHOD, self, "subarray", start, stop)


class _NodeList(_Array):
    __slots__ = ()

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            raise NotImplementedError("Slice subscripting isn't implemented for HTMLCollection or NodeList")
        return _Array.__getitem__(self, idx)


_BUFFER_FORMATS = {
    "Int8Array": ("b", 1), "Uint8Array": ("B", 1), "Uint8ClampedArray": ("B", 1),
    "Int16Array": ("h", 2), "Uint16Array": ("H", 2), "Int32Array": ("i", 4),
    "Uint32Array": ("I", 4), "Float32Array": ("f", 4), "Float64Array": ("d", 8),
    "BigInt64Array": ("q", 8), "BigUint64Array": ("Q", 8),
}


def _buffer_view(x: Any) -> memoryview:
    try:
        return memoryview(x)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(x).__name__}'") from None


class _Buffer:
    __slots__ = ()

    def _info(self) -> tuple[str, int, int]:
        info = _helper(H_BUFFERINFO, self).to_py()
        fmt, size, nbytes = info
        if fmt is None or fmt is jsnull:
            raise RuntimeError("Unknown typed array type")
        return fmt, size, nbytes

    def to_bytes(self) -> bytes:
        """Convert a buffer to a bytes object."""
        r = _hostcall(HOST, b"b" + self._hb)
        return bytes(r)

    def to_memoryview(self) -> memoryview:
        """Convert a buffer to a memoryview."""
        fmt, size, _ = self._info()
        data = bytearray(_hostcall(HOST, b"b" + self._hb))
        mv = memoryview(data)
        if fmt != "B":
            mv = mv.cast(fmt)
        return mv

    # As Pyodide's JsBuffer_assign/assign_to (jsproxy.c
    # check_buffer_compatibility): the lengths must match and, for a typed
    # array (not a DataView or ArrayBuffer), the item sizes too.
    def assign(self, rhs, /) -> None:
        """Assign from a Python buffer into the JavaScript buffer."""
        m = _buffer_view(rhs)
        if self._flags & IS_TYPEDARRAY:
            _, size, nbytes = self._info()
            if m.nbytes != nbytes:
                raise ValueError(f"cannot assign to TypedArray of length {m.nbytes} from buffer of length {nbytes}")
            if m.itemsize != size:
                raise ValueError("TypedArray and memorybuffer have incompatible formats")
        src = rhs if isinstance(rhs, (bytes, bytearray)) else m.cast("B")
        r = _hostcall(HOST, b"w" + self._hb + bytes(src))
        if r[0] == 90:
            _, _, nbytes = self._info()
            raise ValueError(
                f"cannot assign to TypedArray of length {len(src)} from buffer of length {nbytes}"
            )
        _check(r)

    def assign_to(self, to, /) -> None:
        """Assign to a Python buffer from the JavaScript buffer."""
        dst = _buffer_view(to)
        if dst.readonly:
            raise BufferError("Object is not writable.")
        if self._flags & IS_TYPEDARRAY:
            _, size, nbytes = self._info()
            if dst.nbytes != nbytes:
                raise ValueError(f"cannot assign from TypedArray of length {nbytes} to buffer of length {dst.nbytes}")
            if dst.itemsize != size:
                raise ValueError("TypedArray and memorybuffer have incompatible formats")
        data = _hostcall(HOST, b"b" + self._hb)
        if dst.nbytes != len(data):
            raise ValueError(
                f"cannot assign from TypedArray of length {len(data)} to buffer of length {dst.nbytes}"
            )
        dst.cast("B")[:] = data

    def to_string(self, encoding: str | None = None) -> str:
        """Convert a buffer to a string object."""
        ok, s = _helper_maybe(H_TEXTDECODE, self, encoding)
        if not ok:
            raise ValueError(f"Failed to decode Javascript TypedArray as {encoding or 'utf8'}")
        return s

    # jslib.c JsvBuffer_writeToFile/readFromFile: one write/read on the
    # file's descriptor (file.fileno()), past Python's buffering; a short
    # read leaves the rest of the buffer as it was.
    def to_file(self, file, /) -> None:
        """Writes a buffer to a file."""
        import os

        fd = file.fileno()
        os.write(fd, self.to_bytes())

    def from_file(self, file, /) -> None:
        """Reads from a file into a buffer."""
        import os

        fd = file.fileno()
        cur = self.to_bytes()
        data = os.read(fd, len(cur))
        if len(data) < len(cur):
            data += cur[len(data):]
        _check(_hostcall(HOST, b"w" + self._hb + data))

    def _into_file(self, file, /) -> None:
        file.seek(0)
        file.truncate()
        file.write(self.to_bytes())


class _DoubleProxy:
    __slots__ = ()

    def destroy(self) -> None:
        """Destroy the proxy."""
        _check(_hostcall(HOST, b"x" + self._hb))

    def unwrap(self) -> Any:
        """Unwrap a double proxy created with create_proxy into the wrapped Python object."""
        r = _hostcall(HOST, b"U" + self._hb)
        if r[0] != 112:
            _raise_result(r, 0)
        return _dec(r, 0)[0]


class _Dispose:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _helper(H_DISPOSE, self)


_classes: dict[int, type] = {}


def _class_for(flags: int) -> type:
    cls = _classes.get(flags)
    if cls is not None:
        return cls
    bases: list[type] = []
    objmap = bool(flags & (IS_OBJECT_MAP | IS_PY_JSON_DICT))
    mapping_flags = HAS_GET | HAS_LENGTH | IS_ITERABLE
    mapping = flags & mapping_flags == mapping_flags
    mutable_mapping = mapping and bool(flags & HAS_SET)
    abc = None
    if objmap:
        bases.append(_ObjMap)
        abc = cabc.MutableMapping
    else:
        if flags & IS_TYPEDARRAY:
            bases.append(_TypedArray)
            abc = cabc.MutableSequence
        elif flags & IS_NODE_LIST:
            bases.append(_NodeList)
            abc = cabc.Sequence
        elif flags & IS_ARRAY:
            bases.append(_Array)
            abc = cabc.MutableSequence
        if mutable_mapping:
            bases.append(_MutableMapping)
            abc = abc or cabc.MutableMapping
        elif mapping:
            bases.append(_Mapping)
            abc = abc or cabc.Mapping
        if flags & HAS_HAS:
            bases.append(_ContainsHas)
        elif flags & HAS_INCLUDES and not flags & (IS_ARRAY | IS_TYPEDARRAY):
            bases.append(_ContainsIncludes)
        if flags & HAS_GET and not flags & (IS_ARRAY | IS_TYPEDARRAY | IS_NODE_LIST):
            bases.append(_Subscript)
        if flags & HAS_SET and not flags & (IS_ARRAY | IS_TYPEDARRAY | IS_NODE_LIST):
            bases.append(_AssignSubscript)
        if flags & HAS_LENGTH and not flags & (IS_ARRAY | IS_TYPEDARRAY | IS_NODE_LIST):
            bases.append(_Length)
        if flags & IS_GENERATOR:
            bases.append(_Generator)
        elif flags & IS_ITERATOR:
            bases.append(_Iterator)
        elif flags & IS_ITERABLE and not flags & (IS_ARRAY | IS_TYPEDARRAY | IS_NODE_LIST) and not mapping:
            bases.append(_Iterable)
        if flags & IS_ASYNC_GENERATOR:
            bases.append(_AsyncGenerator)
        elif flags & IS_ASYNC_ITERATOR:
            bases.append(_AsyncIterator)
        elif flags & IS_ASYNC_ITERABLE:
            bases.append(_AsyncIterable)
    if flags & IS_AWAITABLE:
        bases.append(_Awaitable)
    if flags & IS_CALLABLE:
        bases.append(_Callable)
    if flags & IS_BUFFER:
        bases.append(_Buffer)
    if flags & IS_DOUBLE_PROXY:
        bases.append(_DoubleProxy)
    if flags & HAS_DISPOSE:
        bases.append(_Dispose)
    if not any(hasattr(b, "__iter__") for b in bases) and any(hasattr(b, "__getitem__") for b in bases):
        # No sequence-protocol fallback to __getitem__ (get(0), get(1), ...
        # for ever): only a JavaScript iterable is iterable, as in Pyodide.
        ns_extra = {"__iter__": None}
    else:
        ns_extra = {}
    if flags & IS_ERROR:
        bases.append(JsException)
        name = "JsException"
        ns = {"_js_type_flags": flags, "_js_concrete": True}
        if flags & IS_CALLABLE:
            ns["__call__"] = _call_py
    else:
        bases.append(_ImplCall if flags & IS_CALLABLE else _Impl)
        name = "JsProxy"
        ns = {"__slots__": (), "_js_type_flags": flags, "_js_concrete": True}
    ns.update(ns_extra, __module__="pyodide.ffi", __qualname__=name, _js_short_name=name)
    cls = _JsProxyMeta("pyodide.ffi." + name, tuple(bases), ns)
    if abc is not None:
        abc.register(cls)
    _classes[flags] = cls
    return cls


def _wrap_error(i: int, flags: int, this: int) -> Any:
    """A proxy of a JavaScript Error: a JsException, which keeps its handle in
    __dict__ (an exception cannot have JsRef's layout)."""
    p = Exception.__new__(_classes.get(flags) or _class_for(flags))
    d = p.__dict__
    d["_id"] = i
    d["_hb"] = _u32(i)
    d["_this"] = this
    d["_flags"] = flags
    d["_G"] = b"G" + d["_hb"]
    if flags & IS_CALLABLE:
        d["_C"] = struct.pack("<cII", b"C", i, this)
    return p


# _wrap(id, flags, this): a new proxy that owns handle id (and this).
_wrap = _wasmpy.jsref_wrap


def _wrap_again(p: JsProxy, flags: int) -> Any:
    """Another proxy of the same JavaScript value, with other flags."""
    this = p._this
    _check(_hostcall(HOST, b"a" + p._hb + _u32(this)))
    return _wrap(p._id, flags, this)


# ---------------------------------------------------------------------------
# to_js: deep conversion Python -> JavaScript (a tree Go materializes)


def _has_buffer(x: Any) -> bool:
    return hasattr(type(x), "__buffer__")


class _ToJs:
    def __init__(self, create: bool, pyproxies: Any, dict_converter: Any, default_converter: Any, eager_converter: Any):
        self.create = create
        self.pyproxies_id = pyproxies._id if pyproxies is not None else 0
        self.dict_converter = dict_converter
        self.default_converter = default_converter
        self.eager_converter = eager_converter
        self.cache: dict[int, Any] = {}
        self.keep: list[Any] = []
        self.tree = 0
        self.nodes = 0
        self.depth = -1
        self.eager_visited: set[int] = set()
        # Without converters, plain nested data is encoded in C (_tree).
        self.plain = dict_converter is None and default_converter is None and eager_converter is None

    def run(self, x: Any, depth: int) -> Any:
        saved = (self.tree, self.nodes)
        self.tree += 1000000
        self.nodes = 0
        b = bytearray(b"TT")  # op to_js, then a tree value
        b += _u32(self.pyproxies_id)
        self.conv(b, x, depth)
        try:
            r = _hostcall(HOST, b)
        finally:
            self.tree, self.nodes = saved
        return _dec(r, 0)[0]

    def converter(self, y: Any) -> Any:
        if _is_immutable(y) or isinstance(y, JsProxy):
            return y
        # (Pyodide's converter caches by address without holding the object,
        # so a temporary freed within one to_js can hand its result to a later
        # object at the same address; here what is cached is kept alive.)
        v = self.run(y, self.depth)
        if isinstance(v, JsProxy):
            self.keep.append(y)
            self.cache[id(y)] = v
        return v

    def cache_conversion(self, input: Any, output: Any) -> None:
        self.keep.append(input)
        self.cache[id(input)] = output

    def node(self, x: Any) -> None:
        self.keep.append(x)
        self.cache[id(x)] = (self.tree, self.nodes)
        self.nodes += 1

    def conv(self, b: bytearray, x: Any, depth: int) -> None:
        t = type(x)
        if t is int or t is str or t is float or x is None or t is bool or x is jsnull:
            _enc(b, x)
            return
        if isinstance(x, JsProxy) or isinstance(x, (int, float, str)):
            _enc(b, x)
            return
        c = self.cache.get(id(x))
        if c is not None:
            if type(c) is tuple:
                if c[0] == self.tree:
                    b += b"R"
                    b += _u32(c[1])
                    return
            else:
                self.emit(b, c)
                return
        if depth == 0:
            if self.default_converter is not None:
                self.default(b, x, depth)
            else:
                self.proxy(b, x)
            return
        self.deep(b, x, depth - 1)

    def emit(self, b: bytearray, r: Any) -> None:
        if isinstance(r, JsProxy) or _is_immutable(r):
            _enc(b, r)
        else:
            self.proxy(b, r)

    def proxy(self, b: bytearray, x: Any) -> None:
        if not self.create:
            raise ConversionError("No conversion known for x.")
        _enc(b, x)

    def default(self, b: bytearray, x: Any, depth: int) -> None:
        self.depth = depth
        r = self.default_converter(x, self.converter, self.cache_conversion)
        self.emit(b, r)

    def deep(self, b: bytearray, x: Any, depth: int) -> None:
        if self.eager_converter is not None and id(x) not in self.eager_visited:
            self.eager_visited.add(id(x))
            self.keep.append(x)
            self.depth = depth
            r = self.eager_converter(x, self.converter, self.cache_conversion)
            self.emit(b, r)
            return
        if isinstance(x, (list, tuple)):
            n = len(x)
            if n >= 8 and (type(x) is list or type(x) is tuple) and self._packed(b, x):
                return
            # (Where _tree was tried, a list of scalars only would have
            # been encoded by it: no second scan.)
            tree = self.plain and depth < 0
            if tree and self._tree(b, x):
                return
            self.node(x)
            b += b"A"
            b += _u32(n)
            if not tree and n >= 8 and (type(x) is list or type(x) is tuple) and _wasmpy.jsref_enc_scalars(b, x):
                return  # all of them ints, floats, strs, None or bools (in C)
            conv = self.conv
            for item in x:
                conv(b, item, depth)
            return
        if isinstance(x, dict):
            tree = self.plain and depth < 0
            if tree and self._tree(b, x):
                return
            items = list(x.items())
            if self.dict_converter is None:
                self.node(x)
                b += b"O"
            else:
                self.node(x)
                b += b"D"
            b += _u32(len(items))
            if tree or type(x) is not dict or not _wasmpy.jsref_enc_scalars(b, x):
                for k, v in items:
                    if not _is_immutable(k):
                        raise ConversionError(f"Cannot use {k!r} as a key for a Javascript Map")
                    _enc(b, k)
                    self.conv(b, v, depth)
            if self.dict_converter is not None:
                _enc(b, self.dict_converter)
            return
        if isinstance(x, set):
            elems = list(x)
            for k in elems:
                if not _is_immutable(k):
                    raise ConversionError(f"Cannot use {k!r} as a key for a Javascript Set")
            self.node(x)
            b += b"S"
            b += _u32(len(elems))
            for k in elems:
                _enc(b, k)
            return
        if _has_buffer(x):
            m = memoryview(x)
            if m.ndim > 1:
                self.conv(b, m.tolist(), depth + 1)
                return
            fmt = m.format
            data = m.tobytes()
            self.node(x)
            b += b"B"
            e = fmt.encode()
            b += _u32(len(e))
            b += e
            b += _u32(len(data))
            b += data
            return
        if self.default_converter is not None:
            self.default(b, x, depth)
            return
        self.proxy(b, x)

    def _tree(self, b: bytearray, x: Any) -> bool:
        """x and all in it encoded in C, when it is made only of lists,
        tuples, dicts and scalars, none of them met before; its containers
        are numbered here as conv would have."""
        order = _wasmpy.jsref_enc_tree(b, x, self.cache)
        if order is None:
            return False
        for c in order:
            self.node(c)
        return True

    def _packed(self, b: bytearray, x: Any) -> bool:
        """A list or tuple of numbers as one packed node: i32s ('a'), or f64s
        ('F') when floats are mixed in and no int needs a BigInt."""
        packed = _wasmpy.jsref_pack_i32(x)
        if packed is not None:
            self.node(x)
            b += b"a"
        else:
            packed = _wasmpy.jsref_pack_f64(x)
            if packed is None:
                return False
            self.node(x)
            b += b"F"
        b += _u32(len(x))
        b += packed
        return True


def to_js(
    obj: Any,
    /,
    *,
    depth: int = -1,
    pyproxies: Any = None,
    create_pyproxies: bool = True,
    dict_converter: Any = None,
    default_converter: Any = None,
    eager_converter: Any = None,
) -> Any:
    """Convert the object to JavaScript."""
    if obj is None or isinstance(obj, (bool, int, float, str, JsProxy)):
        return obj
    if pyproxies is not None:
        if not isinstance(pyproxies, JsProxy) or not pyproxies._flags & IS_ARRAY:
            raise TypeError("Expected a JsArray for the pyproxies argument")
    temps: list[Any] = []
    if dict_converter is not None and not isinstance(dict_converter, JsProxy):
        dict_converter = create_proxy(dict_converter)
        temps.append(dict_converter)
    ctx = _ToJs(create_pyproxies, pyproxies, dict_converter, default_converter, eager_converter)
    try:
        return ctx.run(obj, depth)
    except (ConversionError, JsException, KeyboardInterrupt):
        raise
    except RecursionError:
        raise
    except Exception as e:
        if isinstance(e, (TypeError, ValueError)) and default_converter is None and eager_converter is None:
            raise ConversionError("Conversion from python to javascript failed") from e
        raise
    finally:
        for t in temps:
            t.destroy()


# ---------------------------------------------------------------------------
# to_py: deep conversion JavaScript -> Python


def _hook(d: dict) -> Any:
    if len(d) != 1:
        return d
    for k, v in d.items():
        if not k or k[0] != "\x00":
            return d
        m = k[1:]
        if m == "h":
            return _wrap(v[0], v[1], 0)
        if m == "n":
            return jsnull
        if m == "p":
            return _objs[v]
        if m == "M":
            return dict(v)
        if m == "S":
            return set(v)
        if m == "b":
            import base64

            data = bytearray(base64.b64decode(v[2]))
            mv = memoryview(data)
            return mv.cast(v[0]) if v[0] != "B" else mv
    return d


def _to_py(p: JsProxy, depth: int, default_converter: Any) -> Any:
    if default_converter is None:
        r = _hostcall(HOST, b"P" + p._hb + _i32(depth))
        t = r[0]
        if t == 97:  # 'a': i64s
            return _wasmpy.jsref_unpack_i64(r, 1)
        if t == 70:  # 'F': f64s
            return _wasmpy.jsref_unpack_f64(r, 1)
        if t == 74:  # 'J'
            return json.loads(r[2:], object_hook=_hook if r[1] else None)
        if t != 89:  # 'Y'
            _raise_result(r, 0)
    return _ToPy(default_converter).conv(p, depth)


class _ToPy:
    def __init__(self, default_converter: Any):
        self.default_converter = default_converter
        self.cache: dict[int, Any] = {}
        self.depth = -1

    def conv(self, v: Any, depth: int) -> Any:
        if not isinstance(v, JsProxy):
            return v
        if depth == 0:
            return v
        c = self.cache.get(v._id)
        if c is not None:
            return c
        depth -= 1
        r = _hostcall(HOST, b"e" + v._hb)
        kind = r[0]
        if kind == 65:  # 'A'
            out: Any = []
            self.cache[v._id] = out
            n = _u32_at(r, 1)[0]
            off = 5
            for _ in range(n):
                x, off = _dec(r, off)
                out.append(self.conv(x, depth))
            return out
        if kind == 79:  # 'O'
            out = {}
            self.cache[v._id] = out
            n = _u32_at(r, 1)[0]
            off = 5
            for _ in range(n):
                k, off = _dec(r, off)
                x, off = _dec(r, off)
                out[k] = self.conv(x, depth)
            return out
        if kind == 77:  # 'M'
            out = {}
            self.cache[v._id] = out
            n = _u32_at(r, 1)[0]
            off = 5
            for _ in range(n):
                k, off = _dec(r, off)
                x, off = _dec(r, off)
                out[k] = self.conv(x, depth)
            return out
        if kind == 83:  # 'S'
            out = set()
            self.cache[v._id] = out
            n = _u32_at(r, 1)[0]
            off = 5
            for _ in range(n):
                k, off = _dec(r, off)
                out.add(k)
            return out
        if kind == 66:  # 'B'
            n = _u32_at(r, 1)[0]
            fmt = r[5 : 5 + n].decode()
            data = bytearray(r[9 + n :])
            mv = memoryview(data)
            return mv.cast(fmt) if fmt != "B" else mv
        if kind != 88:  # 'X'
            _raise_result(r, 0)
        if self.default_converter is None:
            return v
        self.depth = depth
        res = self.default_converter(v, lambda x: self.conv(x, self.depth), self._cache)
        return res

    def _cache(self, input: Any, output: Any) -> None:
        if isinstance(input, JsProxy):
            self.cache[input._id] = output


# ---------------------------------------------------------------------------
# PyProxies made on purpose


def create_proxy(obj: Any, /, *, capture_this: bool = False, roundtrip: bool = True) -> Any:
    """Create a :py:class:`JsProxy` of a :js:class:`~pyodide.ffi.PyProxy`."""
    b = bytearray(b"Y")
    b.append((1 if roundtrip else 0) | (2 if capture_this else 0))
    i = _register(obj)
    b += b"P"
    b += _u64(i)
    b += _u32(_pyflags(obj))
    b += _u32(_methods_mask(obj))
    r = _hostcall(HOST, b)
    if r[0] != 104:
        _objs.pop(i, None)
        _raise_result(r, 0)
    return _dec(r, 0)[0]


def create_once_callable(obj: Any, /, *, _may_syncify: bool = False) -> Any:
    """Wrap a Python Callable in a JavaScript function that can be called once."""
    if not callable(obj):
        raise TypeError("a callable is required")
    b = bytearray(b"O")
    i = _register(obj)
    b += b"P"
    b += _u64(i)
    b += _u32(_pyflags(obj))
    r = _hostcall(HOST, b)
    if r[0] != 104:
        _objs.pop(i, None)
        _raise_result(r, 0)
    return _dec(r, 0)[0]


def destroy_proxies(pyproxies: Any, /) -> None:
    """Destroy all PyProxies in a JavaScript array."""
    if not isinstance(pyproxies, JsProxy):
        raise TypeError("Expected a JsProxy for the argument")
    if not pyproxies._flags & IS_ARRAY:
        raise TypeError("Expected a Js Array for the pyproxies argument")
    _helper(H_DESTROYALL, pyproxies)


_global: Any = None


def _global_this() -> Any:
    global _global
    if _global is None:
        _global = _dec(_hostcall(HOST, b"L"), 0)[0]
    return _global


def run_js(code: str, /) -> Any:
    """Run JavaScript code (as the global eval does) and return the result."""
    if not isinstance(code, str):
        raise TypeError(f"argument should have type 'string' not type '{type(code).__name__}'")
    r = _hostcall(HOST, b"E" + code.encode("utf-8", "surrogatepass"))
    t = r[0]
    if t == 105:
        return _i32_at(r, 1)[0]
    v = _dec(r, 0)[0]
    # Pyodide's run_js is a call of eval: a promise result becomes a future.
    if t == 104 and v._flags & IS_AWAITABLE:
        return _promise_future(v)
    return v


# ---------------------------------------------------------------------------
# Calls from JavaScript (dispatch target "jsffi")


def _py_exc(e: BaseException) -> bytes:
    """Answer 'E' for a Python exception crossing into JavaScript (PythonError)."""
    sys.last_exc = e
    sys.last_type = type(e)
    sys.last_value = e
    sys.last_traceback = e.__traceback__
    msg = _format_exc(e)
    name = type(e).__qualname__.encode()
    return b"E" + _u64(id(e)) + _u32(len(name)) + name + msg.encode("utf-8", "surrogatepass")


def _python_error(e: Any) -> Any:
    """The JavaScript PythonError a Python exception thrown into JavaScript
    code becomes (as Pyodide's generator throw does); other values as they are."""
    if not isinstance(e, BaseException) or isinstance(e, JsException):
        # A JsException is thrown as the JavaScript error it stands for.
        return e
    sys.last_exc = e
    sys.last_type = type(e)
    sys.last_value = e
    sys.last_traceback = e.__traceback__
    return _global_this().PythonError.new(type(e).__qualname__, _format_exc(e), float(id(e)))


def _format_exc(e: BaseException) -> str:
    """The message of the PythonError of e: its traceback without the frames
    of this module (the FFI's dispatch), as Pyodide leaves out its own."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(e), e, tb))
    except BaseException:  # noqa: BLE001
        return f"{type(e).__qualname__}: <error formatting traceback>\n"


def _result(v: Any) -> bytes:
    b = bytearray()
    _enc(b, v)
    return b


def _args(data: bytes, off: int) -> tuple[list[Any], dict[str, Any], int]:
    n = _u32_at(data, off)[0]
    off += 4
    args = []
    for _ in range(n):
        v, off = _dec(data, off)
        args.append(v)
    kwargs: dict[str, Any] = {}
    if off < len(data):
        nkw = _u32_at(data, off)[0]
        off += 4
        for _ in range(nkw):
            k, off = _dec(data, off)
            v, off = _dec(data, off)
            kwargs[k] = v
    return args, kwargs, off


def _op_call(data: bytes) -> bytes:
    pid, relaxed, nargs = _call_hdr(data)
    obj = _objs[pid]
    args, kwargs, _ = _args(data, 10)
    if relaxed:
        from pyodide.code import relaxed_call

        if relaxed == 2:
            # pyproxy.ts callRelaxed is relaxed_call(this, ...args): a
            # roundtrip PyProxy (create_proxy) converts to a JsDoubleProxy,
            # which relaxed_call's lru_cache cannot hash.
            raise TypeError("unhashable type: 'pyodide.ffi.JsProxy'")
        res = relaxed_call(obj, *args, **kwargs)
    else:
        res = obj(*args, **kwargs)
    return _call_result(obj, res)


def _call_result(obj: Any, res: Any) -> bytes:
    """What a call of obj from JavaScript returns: a small int inline; the
    coroutine of an async function as a Future (a Promise in JS)."""
    if type(res) is int and -0x80000000 <= res <= 0x7FFFFFFF:
        return b"i" + _i32(res)
    if asyncio.iscoroutine(res):
        import inspect

        if inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(getattr(obj, "__call__", None)):
            res = asyncio.ensure_future(res)
    return _result(res)


def _op_getattr(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    try:
        v = getattr(obj, data[9:].decode("utf-8", "surrogatepass"))
    except AttributeError:
        return b"A"
    return _result(v)


def _op_hasattr(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    return b"t" if hasattr(obj, data[9:].decode("utf-8", "surrogatepass")) else b"f"


_methods_queries: dict[bytes, list[tuple[bool, str]]] = {}
# (type, queries) -> whether an attribute of those names can only come from
# the instance __dict__ (ordinary attribute lookup, none on the class).
_methods_plain: dict[tuple[type, bytes], bool] = {}


_PROBE = b"mthen\0mnext\0mget\0mset\0mhas\0mincludes\0ksize\0kname\0kmessage\0kstack"


def _methods_mask(obj: Any, raw: bytes = _PROBE) -> int:
    """What JavaScript reads of a PyProxy would find, for its type flags.

    The NUL-separated queries are "m<name>" (the get trap's result is a
    function: a callable attribute or, for a dict, item) and "k<name>" (a
    dict's own property: an item). The answer has a bit per query.
    """
    queries = _methods_queries.get(raw)
    if queries is None:
        queries = [(q[0] == "k", q[1:]) for q in raw.decode("utf-8", "surrogatepass").split("\0")]
        _methods_queries[raw] = queries
    tp = type(obj)
    plain = _methods_plain.get((tp, raw))
    if plain is None:
        plain = getattr(tp, "__getattribute__", None) is object.__getattribute__ and not any(
            name in vars(c) for c in tp.__mro__ for name in ("__getattr__", *(n for k, n in queries if not k))
        )
        if len(_methods_plain) < 1000:
            _methods_plain[(tp, raw)] = plain
    is_dict = tp is dict
    inst = None
    if plain:
        try:
            inst = object.__getattribute__(obj, "__dict__")
        except AttributeError:
            pass
        if not inst and not is_dict:
            return 0
    mask = 0
    for i, (key, name) in enumerate(queries):
        if key:
            if is_dict and name in obj:
                mask |= 1 << i
            continue
        if plain:
            if inst and name in inst:
                v = inst[name]
            elif is_dict and name in obj:
                v = obj[name]
            else:
                continue
        else:
            try:
                v = getattr(obj, name, _methods_mask)
            except Exception:  # noqa: BLE001 - a failing read is no method
                continue
            if v is _methods_mask:
                if not is_dict or name not in obj:
                    continue
                v = obj[name]
        if callable(v):
            mask |= 1 << i
    return mask


def _op_methods(data: bytes) -> bytes:
    return _result(_methods_mask(_objs[_u64_at(data, 1)[0]], data[9:]))


def _op_setattr(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    n = _u32_at(data, 9)[0]
    name = data[13 : 13 + n].decode("utf-8", "surrogatepass")
    v = _dec(data, 13 + n)[0]
    setattr(obj, name, v)
    return b"u"


def _op_delattr(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    delattr(obj, data[9:].decode("utf-8", "surrogatepass"))
    return b"u"


def _op_getitem(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    key = _dec(data, 9)[0]
    try:
        v = obj[key]
    except (KeyError, IndexError):
        return b"A"
    return _result(v)


def _op_setitem(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    key, off = _dec(data, 9)
    v = _dec(data, off)[0]
    if data[0] == 84:  # 'T': lenient
        try:
            obj[key] = v
        except (KeyError, IndexError):
            return b"A"
    else:
        obj[key] = v
    return b"u"


def _op_delitem(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    key = _dec(data, 9)[0]
    if data[0] == 85:  # 'U': lenient
        try:
            del obj[key]
        except (KeyError, IndexError):
            return b"A"
    else:
        del obj[key]
    return b"u"


def _op_contains(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    return b"t" if _dec(data, 9)[0] in obj else b"f"


def _op_len(data: bytes) -> bytes:
    return _result(len(_objs[_u64_at(data, 1)[0]]))


def _op_str(data: bytes) -> bytes:
    return _result(str(_objs[_u64_at(data, 1)[0]]))


def _type_name(obj: Any) -> str:
    tp = type(obj)
    if tp.__flags__ & (1 << 9):  # Py_TPFLAGS_HEAPTYPE: tp_name is the bare name
        return tp.__name__
    mod = tp.__module__
    if mod == "builtins":
        return tp.__name__
    return f"{mod}.{tp.__name__}"


def _op_type(data: bytes) -> bytes:
    return _result(_type_name(_objs[_u64_at(data, 1)[0]]))


def _strings(names: Any) -> bytes:
    b = bytearray(_u32(0))
    n = 0
    for s in names:
        if isinstance(s, int) and not isinstance(s, bool):
            s = str(s)
        if not isinstance(s, str):
            continue
        e = s.encode("utf-8", "surrogatepass")
        b += _u32(len(e))
        b += e
        n += 1
    b[0:4] = _u32(n)
    return bytes(b)


def _op_dir(data: bytes) -> bytes:
    return _strings(dir(_objs[_u64_at(data, 1)[0]]))


def _op_dictkeys(data: bytes) -> bytes:
    return _strings(_objs[_u64_at(data, 1)[0]].keys())


def _op_iter(data: bytes) -> bytes:
    return _result(iter(_objs[_u64_at(data, 1)[0]]))


def _op_aiter(data: bytes) -> bytes:
    return _result(aiter(_objs[_u64_at(data, 1)[0]]))


def _op_next(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    arg = _dec(data, 9)[0]
    op = data[0]
    try:
        if op == 110:  # 'n'
            v = obj.send(arg) if arg is not None and hasattr(obj, "send") else next(obj)
        elif op == 120:  # 'x' throw
            exc = arg if isinstance(arg, BaseException) else _js_to_exc(arg)
            v = obj.throw(exc)
        else:  # 'y' return
            obj.close()
            return b"\x01" + _result(arg)
    except StopIteration as e:
        return b"\x01" + _result(e.value)
    return b"\x00" + _result(v)


def _js_to_exc(v: Any) -> BaseException:
    if isinstance(v, BaseException):
        return v
    return Exception(v)


def _settle(did: int, ok: int, v: Any) -> None:
    b = bytearray(b"Q")
    b += _u32(did)
    b.append(ok)
    if isinstance(v, BaseException) and ok == 0:
        _enc(b, v)
    else:
        _enc(b, v)
    _check(_hostcall(HOST, b))


def _settle_iter(did: int, fut: asyncio.Future) -> None:
    if fut.cancelled():
        _settle(did, 0, asyncio.CancelledError())
        return
    exc = fut.exception()
    if isinstance(exc, StopAsyncIteration):
        _settle_obj(did, True, None)
    elif exc is not None:
        _settle_exc(did, exc)
    else:
        _settle_obj(did, False, fut.result())


def _settle_obj(did: int, done: bool, value: Any) -> None:
    b = bytearray(b"Q")
    b += _u32(did)
    b.append(3 if done else 2)
    _enc(b, value)
    _check(_hostcall(HOST, b))


def _settle_exc(did: int, exc: BaseException) -> None:
    b = bytearray(b"Q")
    b += _u32(did)
    b.append(4)
    b += _py_exc(exc)
    _check(_hostcall(HOST, b))


def _settle_future_result(did: int, fut: asyncio.Future) -> None:
    if fut.cancelled():
        _settle_exc(did, asyncio.CancelledError())
        return
    exc = fut.exception()
    if exc is not None:
        _settle_exc(did, exc)
    else:
        _settle(did, 1, fut.result())


def _op_anext(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    did = _u32_at(data, 9)[0]
    arg = _dec(data, 13)[0]
    op = data[0]
    if op == 78:  # 'N'
        aw = obj.asend(arg) if arg is not None and hasattr(obj, "asend") else anext(obj)
    elif op == 88:  # 'X'
        aw = obj.athrow(_js_to_exc(arg))
    else:
        aw = obj.aclose()
    fut = asyncio.ensure_future(aw)
    if op == 89:  # 'Y' return: done with the value
        fut.add_done_callback(lambda f: _settle_obj(did, True, arg) if not f.exception() else _settle_exc(did, f.exception()))
    else:
        fut.add_done_callback(lambda f: _settle_iter(did, f))
    return b"u"


def _op_promise(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    did = _u32_at(data, 9)[0]
    fut = asyncio.ensure_future(obj)
    fut.add_done_callback(lambda f: _settle_future_result(did, f))
    return b"u"


def _op_tojs(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    depth = _i32_at(data, 9)[0]
    create = data[13] == 1
    pyproxies, off = _dec(data, 14)
    dict_converter, off = _dec(data, off)
    default_converter, off = _dec(data, off)
    eager_converter, off = _dec(data, off)
    if pyproxies is None or not isinstance(pyproxies, JsProxy):
        pyproxies = None
    v = to_js(
        obj,
        depth=depth,
        pyproxies=pyproxies,
        create_pyproxies=create,
        dict_converter=dict_converter,
        default_converter=default_converter,
        eager_converter=eager_converter,
    )
    return _result(v)


def _op_release(data: bytes) -> bytes:
    n = (len(data) - 1) // 8
    pop = _objs.pop
    for (i,) in struct.iter_unpack("<Q", data[1 : 1 + 8 * n]):
        pop(i, None)
    return b"u"


def _op_method(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    n = _u32_at(data, 9)[0]
    name = data[13 : 13 + n].decode()
    args, kwargs, _ = _args(data, 13 + n)
    return _result(getattr(obj, name)(*args, **kwargs))


def _op_pop(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    try:
        v = obj.pop(0) if data[9] else obj.pop()
    except IndexError:
        return b"u"
    return _result(v)


def _op_slice(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    start = _i64_at(data, 9)[0]
    stop = _i64_at(data, 17)[0]
    items, _, _ = _args(data, 25)
    n = len(obj)
    stop = min(stop, n)
    removed = obj[start:stop]
    obj[start:stop] = items
    v = to_js(list(removed), depth=1)
    return _result(v)


def _buffer_span(m: memoryview) -> tuple[int, int]:
    """Where the lowest and the highest (plus one item) byte of m lie,
    relative to its first element (pyproxy.c _pyproxy_get_buffer)."""
    if m.ndim == 0:
        return 0, m.itemsize
    if m.nbytes == 0:
        return 0, 0
    lo = hi = 0
    for n, st in zip(m.shape, m.strides):
        if st > 0:
            hi += st * (n - 1)
        else:
            lo += st * (n - 1)
    return lo, hi + m.itemsize


def _buffer_items(m: memoryview, lo: int):
    """(index, byte position in the span) of every element of m."""
    for idx in itertools.product(*(range(n) for n in m.shape)):
        yield idx, sum(i * st for i, st in zip(idx, m.strides)) - lo


def _op_buffer(data: bytes) -> bytes:
    # u32 len + format, u32 itemsize, u8 readonly, u32 ndim, ndim x u64
    # shape, ndim x i64 strides (bytes), u8 c_contiguous, u8 f_contiguous,
    # u64 offset of the first element (bytes), then the span's bytes: as
    # Pyodide's getBuffer, the data covers the memory from the lowest to the
    # highest element, whatever the strides.
    obj = _objs[_u64_at(data, 1)[0]]
    m = memoryview(obj)
    fmt = m.format.encode()
    b = bytearray(_u32(len(fmt)))
    b += fmt
    b += _u32(m.itemsize)
    b.append(1 if m.readonly else 0)
    b += _u32(m.ndim)
    for s in m.shape or ():
        b += _u64(s)
    for s in m.strides or ():
        b += struct.pack("<q", s)
    b.append(1 if m.c_contiguous else 0)
    b.append(1 if m.f_contiguous else 0)
    lo, hi = _buffer_span(m)
    b += _u64(-lo)
    if m.c_contiguous:
        b += m.tobytes()
    else:
        # Gaps between the elements are not part of the view: zeros.
        span = bytearray(hi - lo)
        raw = m.tobytes()
        k = 0
        size = m.itemsize
        for _, pos in _buffer_items(m, lo):
            span[pos:pos + size] = raw[k:k + size]
            k += size
        b += span
    return bytes(b)


def _op_bufwrite(data: bytes) -> bytes:
    """PyBufferView.release(): the JavaScript copy back into the object."""
    obj = _objs[_u64_at(data, 1)[0]]
    m = memoryview(obj)
    new = data[9:]
    if m.readonly:
        return b"u"
    lo, hi = _buffer_span(m)
    if len(new) != hi - lo:
        return b"u"
    if m.c_contiguous:
        if m.nbytes:
            m.cast("B")[:] = new
        return b"u"
    try:
        unpack = struct.Struct(m.format).unpack_from
        for idx, pos in _buffer_items(m, lo):
            m[idx if m.ndim > 1 else idx[0]] = unpack(new, pos)[0]
    except (TypeError, ValueError, NotImplementedError, struct.error):
        pass
    return b"u"


def _op_copy(data: bytes) -> bytes:
    obj = _objs[_u64_at(data, 1)[0]]
    b = bytearray(b"P")
    b += _u64(_register(obj))
    b += _u32(_pyflags(obj))
    return bytes(b)


_OPS = {
    ord("c"): _op_call,
    ord("g"): _op_getattr,
    ord("h"): _op_hasattr,
    ord("s"): _op_setattr,
    ord("d"): _op_delattr,
    ord("G"): _op_getitem,
    ord("S"): _op_setitem,
    ord("T"): _op_setitem,
    ord("D"): _op_delitem,
    ord("U"): _op_delitem,
    ord("i"): _op_contains,
    ord("l"): _op_len,
    ord("r"): _op_str,
    ord("t"): _op_type,
    ord("k"): _op_dir,
    ord("K"): _op_dictkeys,
    ord("I"): _op_iter,
    ord("J"): _op_aiter,
    ord("n"): _op_next,
    ord("x"): _op_next,
    ord("y"): _op_next,
    ord("N"): _op_anext,
    ord("X"): _op_anext,
    ord("Y"): _op_anext,
    ord("a"): _op_promise,
    ord("j"): _op_tojs,
    ord("R"): _op_release,
    ord("M"): _op_method,
    ord("p"): _op_pop,
    ord("A"): _op_slice,
    ord("B"): _op_buffer,
    ord("W"): _op_bufwrite,
    ord("C"): _op_copy,
    ord("F"): _settle_future,
    ord("Q"): _op_methods,
}


def _dispatch(data: bytes) -> bytes:
    # (Calls with simple arguments, the hot path, are answered in C first:
    # wasmpy_jsref_dispatch in jsref.c.)
    try:
        return _OPS[data[0]](data)
    except BaseException as e:  # noqa: BLE001 - every exception goes to JS
        return _py_exc(e)


def _patch_json() -> None:
    """json.dumps(jsnull) gives null, as in Pyodide."""
    enc = json.JSONEncoder
    orig = enc.default
    if getattr(orig, "_wasmpy_jsnull", False):
        return

    def default(self, o):
        if o is jsnull:
            return None
        return orig(self, o)

    default._wasmpy_jsnull = True  # type: ignore[attr-defined]
    enc.default = default


def install() -> None:
    """Register the dispatch target (idempotent)."""
    _wasmpy_rt.register(TARGET, _dispatch)
    _patch_json()


install()


# ---------------------------------------------------------------------------
# The public JsProxy types: isinstance() checks the type flags, as in Pyodide.


def _public(name: str, bases: tuple[type, ...], flags: tuple[int, ...], doc: str) -> type:
    cls = _JsProxyMeta(name, bases, {"__slots__": (), "_js_check_flags": flags, "__doc__": doc, "__module__": "pyodide.ffi"})
    return cls


JsIterable = _public("JsIterable", (JsProxy,), (IS_ITERABLE,), "A JavaScript iterable object")
JsIterator = _public("JsIterator", (JsProxy,), (IS_ITERATOR,), "A JsProxy of a JavaScript iterator.")
JsAsyncIterable = _public("JsAsyncIterable", (JsProxy,), (IS_ASYNC_ITERABLE,), "A JavaScript async iterable object")
JsAsyncIterator = _public("JsAsyncIterator", (JsProxy,), (IS_ASYNC_ITERATOR,), "A JsProxy of a JavaScript async iterator.")
JsGenerator = _public("JsGenerator", (JsIterable,), (IS_GENERATOR,), "A JavaScript generator")
JsAsyncGenerator = _public("JsAsyncGenerator", (JsAsyncIterable,), (IS_ASYNC_GENERATOR,), "A JavaScript AsyncGenerator")
JsCallable = _public("JsCallable", (JsProxy,), (IS_CALLABLE,), "A JavaScript callable")
JsOnceCallable = _public("JsOnceCallable", (JsCallable,), (IS_CALLABLE,), "A JavaScript handle for a Python function which can be called at most once.")
JsBuffer = _public("JsBuffer", (JsProxy,), (IS_BUFFER,), "A JsProxy of an array buffer or array buffer view")
JsArray = _public("JsArray", (JsIterable,), (IS_ARRAY, IS_NODE_LIST, IS_TYPEDARRAY), "A JsProxy of an Array, NodeList, or TypedArray")
JsTypedArray = _public("JsTypedArray", (JsBuffer, JsArray), (IS_TYPEDARRAY,), "A JsProxy of a TypedArray")
JsMap = _public(
    "JsMap", (JsIterable,), (HAS_GET | HAS_LENGTH | IS_ITERABLE, IS_OBJECT_MAP, IS_PY_JSON_DICT), "A JavaScript Map"
)
JsMutableMap = _public(
    "JsMutableMap",
    (JsMap,),
    (HAS_GET | HAS_SET | HAS_LENGTH | IS_ITERABLE, IS_OBJECT_MAP, IS_PY_JSON_DICT),
    "A JavaScript mutable map",
)
JsPromise = _public("JsPromise", (JsProxy,), (IS_AWAITABLE,), "A JsProxy of a Promise or other thenable")
JsDoubleProxy = _public("JsDoubleProxy", (JsProxy,), (IS_DOUBLE_PROXY,), "A double proxy created with create_proxy.")
JsCallableDoubleProxy = _public(
    "JsCallableDoubleProxy", (JsDoubleProxy, JsCallable), (IS_DOUBLE_PROXY,), "A callable double proxy"
)
# These three inherit _js_type_flags = 0 in Pyodide's _core_docs.py, and
# 0 & flags == 0: isinstance() is true of every JsProxy; so is the
# JsCallableDoubleProxy check of a non-callable double proxy (it inherits
# JsDoubleProxy's flags).
JsWeakRef = _public("JsWeakRef", (JsProxy,), (0,), "A JsProxy of a JavaScript WeakRef.")
JsFetchResponse = _public("JsFetchResponse", (JsProxy,), (0,), "A JsProxy of a fetch Response.")
JsDomElement = _public("JsDomElement", (JsProxy,), (0,), "A JsProxy of a DOM element.")


_wasmpy.jsref_setup(
    _classes, _class_for, _wrap_error, _dec_py, _names, _encname, jsnull, _promise_future,
    _call_py, _raise_result, _settled_future, _settled, IS_ERROR, IS_ARRAY, IS_CALLABLE, IS_AWAITABLE,
)
# Calls of PyProxies from JavaScript with simple arguments are answered in C
# (wasmpy_dispatch), with _op_call's semantics; the others come to _dispatch.
_wasmpy.jsref_setup_calls(_objs, _call_result, _py_exc, vars(_wasmpy_rt))
# Array items and iterators' next values are read in C, except for as_py_json.
_wasmpy.jsref_setup_seq(IS_PY_JSON_SEQUENCE)
