"""_wasmpy_rt: routes the host's calls into Python to named handlers.

The host (wasmpy, in Go) calls one dispatcher with ``target + b"\\0" + data``;
this module is that dispatcher. Python code registers a handler per target
with :func:`register`; a handler takes the data bytes and returns bytes. A
handler's exception propagates: the C side prints it and reports the failure
to the host. :func:`call` is the other direction, Python calling a host
function (``_wasmpy.call``); :func:`wait` is that for host functions that
block while the host serves others (and may call back in).

:func:`buffer_std` makes sys.stdout and sys.stderr block-buffered, which
makes printing several times cheaper than a host call per line; the text
still reaches the host while code runs, because both streams are flushed
whenever Python hands control back to the host (a call from it returns, a
wait starts) and by the host's tick (SIGUSR2, every few milliseconds while
Python runs).

Importing this module installs the dispatcher. It owns the dispatcher slot of
``_wasmpy`` and the flushing of the standard streams.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import _wasmpy

Handler = Callable[[bytes], bytes]

HostError = _wasmpy.HostError
call: Callable[[str, bytes], bytes] = _wasmpy.call

_handlers: dict[str, Handler] = {}
# The same, keyed by the target as the host sends it (UTF-8): no decoding
# on the path of every call.
_by_raw: dict[bytes, Handler] = {}

# Calls from the host in progress, and the depth (in those calls) of each
# wait in progress: a call that returns to a waiting frame flushes, as Python
# then stays blocked.
_depth = 0
_waits: list[int] = []


def flush_std() -> None:
    """Flush sys.stdout and sys.stderr, ignoring streams that cannot."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: BLE001
            # Closed, re-entered, or replaced by the user's object whose
            # flush fails: that must not fail the host's call.
            pass


def wait(target: str, data: bytes) -> bytes:
    """call() for a host function that blocks Python while the host serves
    other work (timers, I/O, calls back into Python): what was printed goes
    out first."""
    __tracebackhide__ = True  # noqa: F841  (IPython leaves this frame out)
    flush_std()
    _waits.append(_depth)
    try:
        return call(target, data)
    finally:
        _waits.pop()


def buffer_std() -> None:
    """Make sys.stdout and sys.stderr block-buffered, flushed on the host's
    tick and whenever Python hands control back to the host."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=False)
    tick = signal.getsignal(signal.SIGUSR2)
    if getattr(tick, "__wrapped__", None) is None and callable(tick):
        signal.signal(signal.SIGUSR2, _flushing(tick))


def _flushing(tick: Callable[[int, Any], object]) -> Callable[[int, Any], None]:
    def on_tick(signum: int, frame: Any) -> None:
        __tracebackhide__ = True  # noqa: F841  (an interrupt may land in here)
        tick(signum, frame)
        flush_std()

    on_tick.__wrapped__ = tick  # type: ignore[attr-defined]
    return on_tick


def register(target: str, fn: Handler) -> None:
    """Make fn answer the host's calls to target, replacing any earlier one."""
    if not target or "\0" in target:
        raise ValueError(f"bad dispatch target {target!r}")
    if not callable(fn):
        raise TypeError("handler must be callable")
    _handlers[target] = fn
    _by_raw[target.encode("utf-8", "surrogatepass")] = fn


def unregister(target: str) -> None:
    """Forget the handler of target, if any."""
    _handlers.pop(target, None)
    _by_raw.pop(target.encode("utf-8", "surrogatepass"), None)


def targets() -> list[str]:
    """The registered targets, sorted."""
    return sorted(_handlers)


def dispatch(payload: bytes) -> bytes:
    """Route one call from the host: payload is target, NUL, data. (On the
    path of every call into Python: a few operations only.)"""
    if type(payload) is not bytes:
        payload = bytes(payload)
    cut = payload.find(0)
    if cut < 0:
        raise ValueError("dispatch payload has no target separator")
    fn = _by_raw.get(payload[:cut])
    if fn is None:
        raise LookupError(f"no handler registered for target {payload[:cut].decode('utf-8', 'replace')!r}")
    global _depth
    _depth += 1
    try:
        out = fn(payload[cut + 1 :])
    finally:
        _depth -= 1
        if not _depth or (_waits and _waits[-1] == _depth):
            flush_std()
    if type(out) is bytes:
        return out
    if out is None:
        return b""
    if isinstance(out, str):
        raise TypeError(f"handler for {payload[:cut].decode('utf-8', 'replace')!r} returned str, not bytes")
    return bytes(out)


def install() -> None:
    """Make dispatch the function the host calls (done at import), with the
    target "flush" (flush_std) for the host's own output to follow Python's."""
    _wasmpy.set_dispatcher(dispatch)
    if "flush" not in _handlers:
        register("flush", _flush_target)


def _flush_target(_: bytes) -> bytes:
    flush_std()
    return b""


install()
