"""pyodide.ffi: the JavaScript foreign function interface (Pyodide 0.29 API).

Implemented by pyodide._core_ffi on top of the Go JavaScript world (goja);
see that module for how it works and what differs from Pyodide.
"""

from typing import Any, Protocol

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

IN_BROWSER = False


class ToJsConverter(Protocol):
    """Protocol for the ``default_converter`` and ``eager_converter`` arguments of to_js."""

    def __call__(self, value: Any, converter: Any, cache: Any, /) -> Any: ...


def run_sync(x: Any) -> Any:
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
