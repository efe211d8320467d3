"""pyodide.ffi: the JavaScript foreign function interface (Pyodide 0.29 API).

Implemented by pyodide._core_ffi on top of the Go JavaScript world (goja);
see that module for how it works and what differs from Pyodide.
"""

import sys
from typing import Any as _Any
from typing import Protocol as _Protocol

from .._core_ffi import (
    ConversionError,
    InternalError,
    JsArray,
    JsAsyncGenerator,
    JsAsyncIterable,
    JsAsyncIterator,
    JsBuffer,
    JsCallable,
    JsCallableDoubleProxy,
    JsDomElement,
    JsDoubleProxy,
    JsException,
    JsFetchResponse,
    JsGenerator,
    JsIterable,
    JsIterator,
    JsMap,
    JsMutableMap,
    JsNull,
    JsOnceCallable,
    JsPromise,
    JsProxy,
    JsTypedArray,
    JsWeakRef,
    create_once_callable,
    create_proxy,
    destroy_proxies,
    jsnull,
    to_js,
)
from .._core_importhook import register_js_module, unregister_js_module

# False, as the kernel's specification asks: this is no browser. (Pyodide's
# own test, "_pyodide_core" in sys.modules, makes it true under Node too.)
IN_BROWSER = False
# Pyodide's module keeps the variable of its loop over the _pyodide_core names.
t = "to_js"


class ToJsConverter(_Protocol):
    """Protocol for the ``default_converter`` and ``eager_converter`` arguments of to_js."""

    def __call__(self, value: _Any, converter: _Any, cache: _Any, /) -> _Any: ...


def run_sync(x: _Any) -> _Any:
    """Block until an awaitable is resolved (runs the kernel's event loop nested)."""
    from ..webloop import run_sync as _run_sync

    return _run_sync(x)


def can_run_sync() -> bool:
    """Returns ``True`` if :py:func:`run_sync` is available and ``False`` if not."""
    try:
        from ..webloop import can_run_sync as _can_run_sync
    except ImportError:
        return False
    return _can_run_sync()


# Pyodide's are functions of its C module _pyodide_core.
for _f in (create_once_callable, create_proxy, destroy_proxies, to_js, run_sync, can_run_sync):
    _f.__module__ = "_pyodide_core"
del _f

__all__ = [
    "ConversionError",
    "InternalError",
    "JsArray",
    "JsAsyncGenerator",
    "JsAsyncIterable",
    "JsAsyncIterator",
    "JsBuffer",
    "JsCallableDoubleProxy",
    "JsDoubleProxy",
    "JsException",
    "JsFetchResponse",
    "JsGenerator",
    "JsIterable",
    "JsIterator",
    "JsMap",
    "JsMutableMap",
    "JsOnceCallable",
    "JsPromise",
    "JsProxy",
    "JsDomElement",
    "JsCallable",
    "JsTypedArray",
    "JsWeakRef",
    "ToJsConverter",
    "create_once_callable",
    "create_proxy",
    "destroy_proxies",
    "to_js",
    "run_sync",
    "can_run_sync",
    "IN_BROWSER",
    "register_js_module",
    "unregister_js_module",
    "JsNull",
    "jsnull",
]
