"""wasmpy_kernel: the Python side of the wasmpy Jupyter kernel.

Runs inside the sandboxed CPython (WASI): an IPython shell that behaves like
ipykernel 6's, answering the requests the Go kernel forwards to the dispatcher
target "kernel" and publishing through the host functions "emit" and "input"
(see host.py). No threads, subprocesses or sockets.

The host starts it once after interpreter init with::

    import wasmpy_kernel; wasmpy_kernel.start()

It owns this package only; the dispatcher router is _wasmpy_rt.
"""

from __future__ import annotations

import sys
from typing import Any

import _wasmpy_rt

from .compat import ensure_home, ensure_process_time

ensure_home()
ensure_process_time()

from .kernel import Kernel  # noqa: E402  (IPython loads here, after the work-arounds)

__all__ = ["Kernel", "get_kernel", "start"]

_kernel: Kernel | None = None

# Seconds between a cell and the write of its history (see start).
HISTORY_WRITE_DELAY = 0.5


def start() -> Kernel:
    """Create the kernel (once) and register it as dispatcher target "kernel"."""
    global _kernel
    if _kernel is None:
        # Printing a line is a host call when line-buffered: buffer instead
        # (flushed on the host's tick and on every return to the host).
        _wasmpy_rt.buffer_std()
        _kernel = Kernel()
        _wasmpy_rt.register("kernel", _kernel.handle)
        from pyodide import webloop

        from . import completion, snapshot, tracebacks

        shell = _kernel.shell
        tracebacks.install(shell.InteractiveTB)
        tracebacks.reuse_highlighting()

        # History is written on the event loop after the request is answered
        # (as IPython's saving thread would), not on every cell's path, and
        # at most every HISTORY_WRITE_DELAY: cells run back to back (a
        # notebook run) share a write, some 0.7 ms a cell in wasm. (The
        # database lives in the interpreter's scratch directory, removed
        # with it: nothing is lost that would have outlived it.)
        shell.history_manager.defer = lambda fn: webloop.get_loop().call_later(HISTORY_WRITE_DELAY, fn)

        def warm() -> None:
            # Work a first result, error or completion would do lazily, done
            # before a snapshot: the display formatters (12 configurables),
            # the traceback formatter's imports and syntax highlighting, and
            # the list of modules.
            shell.display_formatter.format(0)
            _warm_traceback(shell)
            completion.root_modules()  # the list `import <Tab>` offers

        _wasmpy_rt.register(snapshot.TARGET, snapshot.handler(shell.history_manager, warm))
    return _kernel


def _warm_traceback(shell: Any) -> None:
    """Format the traceback of an error in a cell-like source as a failing
    cell would (imports, syntax highlighting), without publishing it."""
    import linecache

    name = "<wasmpy-warm-up>"
    src = "(lambda: 1 / 0)()\n"
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    try:
        exec(compile(src, name, "exec"), {})
    except ZeroDivisionError as e:
        shell.InteractiveTB.structured_traceback(type(e), e, e.__traceback__, tb_offset=1)
    finally:
        linecache.cache.pop(name, None)


def get_kernel() -> Kernel | None:
    """The kernel start() made, or None."""
    return _kernel


def permissions() -> dict[str, object]:
    """The sandbox's permissions, as the host reports them: network ("none",
    "public addresses" or hosts), read and write (host paths mounted), env
    (variables passed in), memory_mib and cell_timeout."""
    import json

    import _wasmpy_rt

    try:
        return dict(json.loads(_wasmpy_rt.call("permissions", b"")))
    except _wasmpy_rt.HostError:
        return {}
