"""The Pyodide FFI conformance cases of ../shared/conformance/pyodide-ffi
(real Pyodide 0.29.5's output) through the kernel, with a kernelspec that may
reach the runner's fixture server on 127.0.0.1 (--allow-net=127.0.0.1)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from conftest import ARTIFACTS, SHARED


def test_pyodide_ffi_conformance(tmp_path):
    conf = SHARED / "conformance" / "pyodide-ffi"
    assert (conf / "run_kernel.py").exists(), f"{conf} is missing"
    wasmpy = os.environ.get("WASMPY_BIN", "wasmpy")
    subprocess.run([wasmpy, "install", "--prefix", str(tmp_path), "--name", "wasmpy-localnet",
                    "--allow-net=127.0.0.1"], check=True, capture_output=True)
    env = dict(os.environ, JUPYTER_PATH=str(tmp_path / "share" / "jupyter"))
    results = ARTIFACTS / "pyodide-ffi-results.jsonl"
    # A free port for the runner's fixture server (its default may be taken).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.run([sys.executable, str(conf / "run_kernel.py"), "--kernel", "wasmpy-localnet",
                          "--port", str(port), "--out", str(results)],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    cmp = subprocess.run([sys.executable, str(conf / "compare.py"), "--actual", str(results), "--show-diff"],
                         capture_output=True, text=True, timeout=60)
    print(cmp.stdout[-6000:])
    last = cmp.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0 failed"), cmp.stdout[-6000:]
