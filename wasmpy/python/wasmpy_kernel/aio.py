"""Top-level await and asyncio for the shell: the runner and the event loop.

The event loop is pyodide.webloop's WebLoop, driven by the kernel's Go event
loop (loop/): tasks a cell creates keep running after it, between requests.
install_policy() installs it (with urllib.request over the host's fetch) and
ties what tasks publish to the cell that created them: every handle and task
made without an explicit context gets one where host.PARENT is the header of
the request being handled, so emit() adds it as "parent", and run_handle()
sends what they print to that cell when it is not the current one.

_loop_runner() is the one place that chooses the runner of top-level await.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Coroutine
from typing import Any

import _wasmpy_rt
from pyodide import webloop

from . import host

Runner = Callable[[Coroutine[Any, Any, Any]], Any]

# Kept for older callers and tests.
MinimalEventLoop = webloop.WebLoop
MinimalEventLoopPolicy = webloop.WebLoopPolicy


def _current_header() -> dict[str, Any] | None:
    """The header of the request being handled, or None."""
    kernel = _get_kernel()
    if kernel is None:
        return None
    return kernel.get_parent().get("header") or None


def _get_kernel() -> Any:
    global _get_kernel
    import wasmpy_kernel  # not at import: wasmpy_kernel imports this module

    _get_kernel = wasmpy_kernel.get_kernel
    return _get_kernel()


def capture_parent() -> contextvars.Context:
    """The context for a new handle or task: the current one, with
    host.PARENT set to the request being handled unless already set."""
    ctx = contextvars.copy_context()
    if ctx.get(host.PARENT) is None:
        header = _current_header()
        if header:
            ctx.run(host.PARENT.set, header)
    return ctx


# The stream parents set on the host by run_handle, innermost last.
_routes: list[dict[str, Any]] = []


def _set_stream_parent(parent: dict[str, Any] | None) -> None:
    _wasmpy_rt.call("stream.parent", json.dumps(parent).encode() if parent is not None else b"")


def run_handle(ctx: contextvars.Context, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """The event loop's way to run a ready handle (WebLoop.run_handle): a
    handle of another request than the one whose output is being written
    (a task its cell left running) runs with the host's stream parent set to
    that request, so that what it prints, even through a reference to
    sys.stdout taken earlier, goes to that cell's output."""
    parent = ctx.get(host.PARENT)
    into = _routes[-1] if _routes else _current_header()
    if parent is None or parent is into or (into is not None and into.get("msg_id") == parent.get("msg_id")):
        ctx.run(callback, *args)
        return
    host.flush_std()
    _routes.append(parent)
    _set_stream_parent(parent)
    try:
        ctx.run(callback, *args)
    finally:
        host.flush_std()
        _routes.pop()
        _set_stream_parent(_routes[-1] if _routes else None)


def install_policy() -> None:
    """Install the event loop (idempotent); see the module's documentation."""
    webloop.install(capture_context=capture_parent, run_handle=run_handle)
    webloop.install_sleep()
    from pyodide import _http_requests, http

    http.install_urllib()
    _http_requests.install()


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
