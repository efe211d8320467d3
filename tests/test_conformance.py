"""jupyter_kernel_test 0.4.5 (Debian's python3-jupyter-kernel-test) on the
wasmpy kernelspec, through the shared conformance subclass, with history
tail, range and search enabled."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import KERNEL, SHARED


def test_jupyter_kernel_test():
    suite = SHARED / "bench" / "test_kernel_conformance.py"
    assert suite.exists(), f"{suite} is missing (the shared/ directory beside the repo)"
    env = dict(os.environ, JKT_KERNEL=KERNEL, JKT_HISTORY_OPS="tail,range,search")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    print(proc.stdout[-4000:], proc.stderr[-2000:])
    assert proc.returncode == 0, "jupyter_kernel_test failed:\n" + proc.stdout[-4000:]
