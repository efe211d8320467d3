"""_wasmpy_rt: routes the host's calls into Python to named handlers.

The host (wasmpy, in Go) calls one dispatcher with ``target + b"\\0" + data``;
this module is that dispatcher. Python code registers a handler per target
with :func:`register`; a handler takes the data bytes and returns bytes. A
handler's exception propagates: the C side prints it and reports the failure
to the host. :func:`call` is the other direction, Python calling a host
function (``_wasmpy.call``).

Importing this module installs the dispatcher. It owns the dispatcher slot of
``_wasmpy`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import _wasmpy

Handler = Callable[[bytes], bytes]

HostError = _wasmpy.HostError
call: Callable[[str, bytes], bytes] = _wasmpy.call

_handlers: dict[str, Handler] = {}


def register(target: str, fn: Handler) -> None:
    """Make fn answer the host's calls to target, replacing any earlier one."""
    if not target or "\0" in target:
        raise ValueError(f"bad dispatch target {target!r}")
    if not callable(fn):
        raise TypeError("handler must be callable")
    _handlers[target] = fn


def unregister(target: str) -> None:
    """Forget the handler of target, if any."""
    _handlers.pop(target, None)


def targets() -> list[str]:
    """The registered targets, sorted."""
    return sorted(_handlers)


def dispatch(payload: bytes) -> bytes:
    """Route one call from the host: payload is target, NUL, data."""
    raw, sep, data = bytes(payload).partition(b"\0")
    if not sep:
        raise ValueError("dispatch payload has no target separator")
    target = raw.decode("utf-8", "replace")
    fn = _handlers.get(target)
    if fn is None:
        raise LookupError(f"no handler registered for target {target!r}")
    out = fn(data)
    if isinstance(out, str):
        raise TypeError(f"handler for {target!r} returned str, not bytes")
    return bytes(out) if out is not None else b""


def install() -> None:
    """Make dispatch the function the host calls (done at import)."""
    _wasmpy.set_dispatcher(dispatch)


install()
