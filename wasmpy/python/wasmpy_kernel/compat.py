"""Work-arounds for what the WASI sandbox lacks, applied before IPython loads.

Only what the kernel itself needs: a home directory (IPython keeps its profile
there and parso/jedi their cache, found when they are imported; WASI has no pwd
module to find one), and a process CPU clock for %time (WASI hosts such as
wazero may offer only the realtime and monotonic clocks).
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from types import ModuleType

SANDBOX_HOME = "/home/pyodide"


def ensure_home(env: MutableMapping[str, str] = os.environ) -> str:
    """Set HOME, if unset, to /home/pyodide (else the cwd); return HOME."""
    if not env.get("HOME"):
        env["HOME"] = SANDBOX_HOME if os.path.isdir(SANDBOX_HOME) else os.getcwd()
    return env["HOME"]


def ensure_process_time(mod: ModuleType = time) -> bool:
    """Make mod.process_time() work; return True if it had to be replaced.

    Without a CPU clock, CPU time is measured by the monotonic clock: the
    sandbox runs one thread, so that is CPU time plus the time spent waiting.
    IPython's %time binds time.process_time when it is imported, hence "before".
    """
    try:
        mod.process_time()
        return False
    except (OSError, RuntimeError):
        mod.process_time = mod.perf_counter  # type: ignore[attr-defined]
        mod.process_time_ns = mod.perf_counter_ns  # type: ignore[attr-defined]
        return True
