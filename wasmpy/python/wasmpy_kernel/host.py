"""The kernel's calls to the host: publishing messages and asking for input.

Everything the kernel publishes goes through :func:`emit` as JSON
``{"msg_type", "content", "metadata", "buffers"}`` to the host function
"emit"; stdout and stderr are flushed first so the host sees stream text and
messages in the order they happened. When the code that publishes runs in a
task or callback of the event loop, the message also carries ``"parent"``:
the header of the request that created it (see PARENT), which may not be the
one being handled (a task a cell left running). :func:`request_input` asks the host
function "input" for a line.
"""

from __future__ import annotations

import base64
import contextvars
import datetime
import json
import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

import _wasmpy_rt
from IPython.core.error import StdinNotImplementedError

JSONDict = dict[str, Any]

# The host's HostError message when the request did not allow stdin.
STDIN_NOT_ALLOWED = "stdin-not-allowed"

# The header of the request (cell) that code runs for, when it is not the one
# being handled: set in the context of tasks and callbacks by the event loop
# (see aio.py), so that what a background task publishes goes to its cell.
PARENT: contextvars.ContextVar[JSONDict | None] = contextvars.ContextVar("wasmpy_parent", default=None)


# Flush sys.stdout and sys.stderr (block-buffered: see _wasmpy_rt.buffer_std).
flush_std = _wasmpy_rt.flush_std


def _default(obj: Any) -> Any:
    """JSON for what json cannot encode, as jupyter_client's json_default."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _clean(obj: Any) -> Any:
    """A strictly JSON-safe copy: NaN/inf and unknown objects become strings."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_clean(v) for v in obj]
    try:
        return _clean(_default(obj))
    except TypeError:
        return repr(obj)


def dumps(obj: Any) -> bytes:
    """Encode obj as strict JSON (no NaN), UTF-8."""
    try:
        text = json.dumps(obj, default=_default, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "replace")


def emit(
    msg_type: str,
    content: JSONDict,
    metadata: JSONDict | None = None,
    buffers: Sequence[bytes | bytearray | memoryview] | None = None,
) -> None:
    """Publish one IOPub message through the host."""
    flush_std()
    msg: JSONDict = {"msg_type": msg_type, "content": content, "metadata": metadata or {}}
    if (parent := PARENT.get()) is not None:
        msg["parent"] = parent
    if buffers:
        msg["buffers"] = [base64.b64encode(bytes(b)).decode("ascii") for b in buffers]
    _wasmpy_rt.call("emit", dumps(msg))


def request_input(prompt: str, password: bool = False) -> str:
    """Ask the front end for a line; raise StdinNotImplementedError if not allowed.

    A value of "\\x04" (EOF, as ipykernel) raises EOFError; an interrupt while
    waiting raises KeyboardInterrupt.
    """
    try:
        out = _wasmpy_rt.wait("input", dumps({"prompt": prompt, "password": password}))
    except _wasmpy_rt.HostError as e:
        if STDIN_NOT_ALLOWED in str(e):
            raise StdinNotImplementedError(
                "raw_input was called, but this frontend does not support input requests."
            ) from None
        raise
    except KeyboardInterrupt:
        raise KeyboardInterrupt("Interrupted by user") from None
    value = json.loads(out or b"{}").get("value", "")
    if value == "\x04":
        raise EOFError
    return str(value)
