"""Getting the kernel ready for a snapshot of the interpreter, and back.

The host (wasmpy.Kernel, in Go) may snapshot the interpreter's memory right
after start-up and start later kernels from it. It calls the dispatch target
"wasmpy_kernel.snapshot" with b"freeze" before taking the snapshot and with
b"thaw" after it (in the kernel that made it, and in every restored one).

freeze closes what a restored interpreter would not have (files: the host
rebuilds only the mounts) and reports the file descriptors still open; thaw
reopens them and gives the restored interpreter its own random state.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
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


def freeze(history: Any) -> list[int]:
    """Close files and collect garbage; return the fds still open."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if history is not None and str(history.hist_file) != ":memory:":
        history.writeout_cache()
        history.db.close()
    gc.collect()
    return open_fds()


def thaw(history: Any) -> None:
    """Reopen what freeze closed; reseed what start-up seeded."""
    if history is not None and str(history.hist_file) != ":memory:":
        history.init_db()
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()
    tmp = sys.modules.get("tempfile")
    if tmp is not None:
        tmp._name_sequence = None  # type: ignore[attr-defined]  # made again, from the new seed
    importlib.invalidate_caches()


def handler(history: Any):  # type: ignore[no-untyped-def]
    """The dispatch handler for TARGET."""

    def handle(data: bytes) -> bytes:
        op = bytes(data).decode()
        if op == "freeze":
            return json.dumps(freeze(history)).encode()
        if op == "thaw":
            thaw(history)
            return b"{}"
        raise ValueError(f"unknown snapshot step {op!r}")

    return handle
