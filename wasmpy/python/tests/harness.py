"""Test harness: a WASI-like process with the fake _wasmpy and one kernel.

setup() (idempotent) forbids threads, subprocesses and socketpair as WASI
does, replaces sys.stdout/sys.stderr by fd-like streams whose writes land in
_wasmpy.log (so tests see the order of stream text and messages), moves to a
scratch cwd and starts the kernel. request() sends one op the way the host
does and returns the reply and what was published meanwhile.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from typing import Any

import _wasmpy

_started = False
scratch = tempfile.mkdtemp(prefix="wasmpy-kernel-test-")
atexit.register(shutil.rmtree, scratch, ignore_errors=True)
# Before wasmpy_kernel (and so IPython, jedi, parso) is imported by any test module.
os.environ["HOME"] = scratch
os.environ["WASMPY_HISTORY_FILE"] = os.path.join(scratch, "history.sqlite")


class _HostFd(io.RawIOBase):
    """Like fds 1/2 in the sandbox: what is written goes to the host."""

    def __init__(self, name: str) -> None:
        self.name_ = name

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        _wasmpy.log.append(("stream", (self.name_, bytes(b).decode("utf-8", "replace"))))
        return len(b)


def _host_stream(name: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(_HostFd(name)), encoding="utf-8")


forbidden_attempts: list[str] = []


def _forbid(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        forbidden_attempts.append(what)
        raise RuntimeError(f"test forbids {what} (not available in WASI)")

    return refuse


def setup() -> Any:
    """Start the kernel once in a WASI-like process; return it."""
    global _started
    import wasmpy_kernel

    if _started:
        return wasmpy_kernel.get_kernel()
    threading.Thread.start = _forbid("threads")  # type: ignore[method-assign,assignment]
    subprocess.Popen.__init__ = _forbid("subprocesses")  # type: ignore[method-assign,assignment]
    socket.socketpair = _forbid("socketpair")  # type: ignore[assignment]
    os.fork = _forbid("fork")  # type: ignore[assignment]
    os.chdir(scratch)
    sys.stdout = _host_stream("stdout")
    sys.stderr = _host_stream("stderr")
    kernel = wasmpy_kernel.start()
    _started = True
    return kernel


def send(target: str, payload: bytes) -> bytes:
    assert _wasmpy.dispatcher is not None, "no dispatcher installed"
    return _wasmpy.dispatcher(target.encode() + b"\0" + payload)


def request(
    op: str, content: dict[str, Any], *, inputs: list[Any] | None = None, metadata: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Send one kernel op; return (reply content, published events).

    Events are ("stream", (name, text)) with adjacent stream text of the same
    name coalesced as the host does, ("emit", msg) and ("input", request).
    """
    _wasmpy.reset()
    _wasmpy.inputs.extend(inputs or [])
    req = {"op": op, "content": content, "header": {"msg_id": f"test-{op}", "msg_type": f"{op}_request"}}
    if metadata is not None:
        req["metadata"] = metadata
    raw = send("kernel", json.dumps(req).encode())
    reply = _wasmpy.strict_loads(raw)
    events: list[tuple[str, Any]] = []
    for kind, value in _wasmpy.log:
        if kind == "stream" and events and events[-1][0] == "stream" and events[-1][1][0] == value[0]:
            events[-1] = ("stream", (value[0], events[-1][1][1] + value[1]))
        else:
            events.append((kind, value))
    return reply, events


def execute(code: str, **content: Any) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    inputs = content.pop("inputs", None)
    metadata = content.pop("metadata", None)
    body = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
    body.update(content)
    return request("execute", body, inputs=inputs, metadata=metadata)


def msgs(events: list[tuple[str, Any]], msg_type: str | None = None) -> list[dict[str, Any]]:
    """The emitted messages, optionally only those of msg_type."""
    return [v for k, v in events if k == "emit" and (msg_type is None or v["msg_type"] == msg_type)]


def stream_text(events: list[tuple[str, Any]], name: str) -> str:
    return "".join(v[1] for k, v in events if k == "stream" and v[0] == name)
