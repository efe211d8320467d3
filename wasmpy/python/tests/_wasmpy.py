"""A fake _wasmpy for tests (the real one is built into python.wasm).

It records what Python asks of the host: "emit" messages and stream text go
to `log` in order; "input" answers from `inputs` (a str, an exception to
raise, or a function that returns the str), and raises HostError("stdin-not-allowed") when `inputs` is empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class HostError(RuntimeError):
    """A host function failed."""


log: list[tuple[str, Any]] = []
inputs: list[str | BaseException] = []
input_requests: list[dict[str, Any]] = []
dispatcher: Callable[[bytes], bytes] | None = None


def _reject(token: str) -> Any:
    raise ValueError(f"non-strict JSON constant {token} (Go's encoding/json rejects it)")


def strict_loads(data: bytes) -> Any:
    """Parse JSON as Go would: UTF-8, no NaN/Infinity."""
    return json.loads(data.decode("utf-8"), parse_constant=_reject)


def call(name: str, data: bytes) -> bytes:
    data = bytes(data)
    if name == "emit":
        log.append(("emit", strict_loads(data)))
        return b""
    if name == "input":
        req = strict_loads(data)
        input_requests.append(req)
        log.append(("input", req))
        if not inputs:
            raise HostError("stdin-not-allowed")
        value = inputs.pop(0)
        if isinstance(value, BaseException):
            raise value
        if callable(value):  # e.g. re-enter the dispatcher while "waiting"
            value = value()
        return json.dumps({"value": value}).encode()
    if name == "stream.parent":
        log.append(("stream.parent", strict_loads(data) if data else None))
        return b""
    raise HostError(f"no host function {name!r}")


class JsRef:
    """Stands in for the C base of JsProxy (jsref.c): there is no JavaScript
    world here, so nothing makes one."""

    __slots__ = ("_id", "_this", "_flags", "_hb", "_G", "_C")

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        raise HostError("no JavaScript world in the fake _wasmpy")

    def _array_getitem(self, idx: Any) -> Any:
        return self._getitem_py(idx)  # type: ignore[attr-defined]

    def _iter_next(self) -> Any:
        return self._next_py()  # type: ignore[attr-defined]


class JsCallRef(JsRef):
    """Stands in for jsref.c's base of callable proxies."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)


def jsref_setup(*args: Any) -> None:
    pass


def jsref_setup_calls(*args: Any) -> None:
    pass


def jsref_setup_seq(*args: Any) -> None:
    pass


def jsref_setup_loop(*args: Any) -> None:
    pass


def jsref_wrap(i: int, flags: int, this: int) -> Any:
    raise HostError("no JavaScript world in the fake _wasmpy")


def jsref_dec(r: bytes, off: int) -> Any:
    raise HostError("no JavaScript world in the fake _wasmpy")


def jsref_pack_i32(seq: Any) -> None:
    return None


def jsref_pack_f64(seq: Any) -> None:
    return None


def jsref_enc_scalars(b: bytearray, seq: Any) -> bool:
    return False


def jsref_enc_tree(b: bytearray, x: Any, cache: dict) -> None:
    return None


def jsref_unpack_i64(r: bytes, off: int) -> list[int]:
    return memoryview(r)[off:].cast("q").tolist()


def jsref_unpack_f64(r: bytes, off: int) -> list[int | float]:
    safe = 2**53 - 1
    return [int(d) if d == d and abs(d) <= safe and d == int(d) else d for d in memoryview(r)[off:].cast("d").tolist()]


def jsref_release(i: int) -> None:
    pass


def jsref_flush() -> None:
    pass


def set_dispatcher(fn: Callable[[bytes], bytes] | None) -> None:
    global dispatcher
    if fn is not None and not callable(fn):
        raise TypeError("dispatcher must be callable or None")
    dispatcher = fn


def reset() -> None:
    log.clear()
    inputs.clear()
    input_requests.clear()
