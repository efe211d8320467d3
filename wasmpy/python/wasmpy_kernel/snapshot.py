"""Getting the kernel ready for a snapshot of the interpreter, and back.

The host (wasmpy.Kernel, in Go) may snapshot the interpreter's memory right
after start-up and start later kernels from it. It calls the dispatch target
"wasmpy_kernel.snapshot" with {"op": "freeze", "env": ...} before taking the
snapshot and with {"op": "thaw", "env": ...} after it (in the kernel that made
it, and in every restored one); env is the environment the host gives this
interpreter.

freeze closes what a restored interpreter would not have (files: the host
rebuilds only the mounts) and reports the file descriptors still open; thaw
reopens them, gives the restored interpreter its own random state, and its
own environment (the snapshot's key covers only the variables that start-up
reads; the others may differ from one kernel to the next).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

TARGET = "wasmpy_kernel.snapshot"
MAX_FD = 256


def open_fds(limit: int = MAX_FD) -> list[int]:
    """File descriptors from 3 up (below limit) that are open."""
    fds = []
    for fd in range(3, limit):
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    return fds


class _State:
    """The host environment the snapshot was made with."""

    env: dict[str, str] = {}


def freeze(history: Any, env: dict[str, str], warm: Callable[[], object] | None = None) -> list[int]:
    """Warm what a first cell would build lazily (warm), close files and
    collect garbage; return the fds still open."""
    _State.env = dict(env)
    if warm is not None:
        warm()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if history is not None and str(history.hist_file) != ":memory:":
        history.writeout_cache()
        history.db.close()
    gc.collect()
    # What start-up made stays: keep the collector from walking it, which
    # would touch (and so copy) the snapshot's pages in every kernel.
    gc.freeze()
    return open_fds()


def set_env(env: dict[str, str]) -> None:
    """Make os.environ hold env in place of the host environment it had
    (variables that start-up set itself, such as IPython's PAGER, stay)."""
    for name in _State.env.keys() - env.keys():
        os.environ.pop(name, None)
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
    _State.env = dict(env)


def thaw(history: Any, env: dict[str, str] | None = None) -> None:
    """Reopen what freeze closed; reseed what start-up seeded; set env."""
    if env is not None:
        set_env(env)
    if history is not None and str(history.hist_file) != ":memory:":
        history.init_db()
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()
    tmp = sys.modules.get("tempfile")
    if tmp is not None:
        tmp._name_sequence = None  # type: ignore[attr-defined]  # made again, from the new seed
    importlib.invalidate_caches()


def handler(history: Any, warm: Callable[[], object] | None = None):  # type: ignore[no-untyped-def]
    """The dispatch handler for TARGET; warm runs before each freeze."""

    def handle(data: bytes) -> bytes:
        req = json.loads(bytes(data))
        op, env = req.get("op"), dict(req.get("env") or {})
        if op == "freeze":
            return json.dumps(freeze(history, env, warm)).encode()
        if op == "thaw":
            thaw(history, env)
            return b"{}"
        raise ValueError(f"unknown snapshot step {op!r}")

    return handle
