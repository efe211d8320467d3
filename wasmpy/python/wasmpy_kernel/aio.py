"""Top-level await and asyncio for the shell: the runner and the event loop.

The event loop is pyodide.webloop's WebLoop, driven by the kernel's Go event
loop (loop/): tasks a cell creates keep running after it, between requests.
install_policy() installs it (with urllib.request over the host's fetch) and
ties what tasks publish to the cell that created them: every handle and task
made without an explicit context gets one where host.PARENT is the header of
the request being handled, so emit() adds it as "parent", and what they print
goes out as "stream" messages to that cell when it is not the current one.

_loop_runner() is the one place that chooses the runner of top-level await.
"""

from __future__ import annotations

import contextvars
import io
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from pyodide import webloop

from . import host

Runner = Callable[[Coroutine[Any, Any, Any]], Any]

# Kept for older callers and tests.
MinimalEventLoop = webloop.WebLoop
MinimalEventLoopPolicy = webloop.WebLoopPolicy


def _current_header() -> dict[str, Any] | None:
    """The header of the request being handled, or None."""
    import wasmpy_kernel

    kernel = wasmpy_kernel.get_kernel()
    if kernel is None:
        return None
    return kernel.get_parent().get("header") or None


def capture_parent() -> contextvars.Context:
    """The context for a new handle or task: the current one, with
    host.PARENT set to the request being handled unless already set."""
    ctx = contextvars.copy_context()
    if ctx.get(host.PARENT) is None:
        header = _current_header()
        if header:
            ctx.run(host.PARENT.set, header)
    return ctx


def _is_current(parent: dict[str, Any]) -> bool:
    header = _current_header()
    return header is not None and (header is parent or header.get("msg_id") == parent.get("msg_id"))


class RoutedStream(io.TextIOBase):
    """sys.stdout/sys.stderr: text written for another request than the one
    being handled (host.PARENT) is published as a "stream" message with that
    parent; the rest goes to the wrapped stream as before."""

    def __init__(self, inner: Any, name: str) -> None:
        self._inner = inner
        self._name = name
        self._pending: dict[str, tuple[dict[str, Any], list[str]]] = {}

    def write(self, s: str) -> int:
        parent = host.PARENT.get()
        if parent is None or _is_current(parent):
            return self._inner.write(s)
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        key = str(parent.get("msg_id"))
        entry = self._pending.setdefault(key, (parent, []))
        entry[1].append(s)
        if "\n" in s:
            self._flush_pending()
        return len(s)

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for parent, chunks in pending.values():
            text = "".join(chunks)
            if text:
                token = host.PARENT.set(parent)
                try:
                    host.emit("stream", {"name": self._name, "text": text})
                finally:
                    host.PARENT.reset(token)

    def flush(self) -> None:
        if self._pending:
            self._flush_pending()
        self._inner.flush()

    # Everything else is the wrapped stream's.
    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._inner.errors

    @property
    def closed(self) -> bool:  # type: ignore[override]
        return self._inner.closed

    @property
    def buffer(self) -> Any:
        return self._inner.buffer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _route_streams() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RoutedStream):
            setattr(sys, name, RoutedStream(stream, name))


def install_policy() -> None:
    """Install the event loop (idempotent); see the module's documentation."""
    webloop.install(capture_context=capture_parent)
    webloop.install_sleep()
    from pyodide import http

    http.install_urllib()
    _route_streams()


class _Runner:
    """IPython's loop_runner: runs the cell's coroutine on the event loop."""

    def __call__(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return webloop.get_loop().run_until_complete(coro)

    def __str__(self) -> str:
        return "asyncio"


_runner = _Runner()


def _loop_runner() -> Runner:
    """The runner IPython uses for top-level await (shell.loop_runner)."""
    install_policy()
    return _runner
