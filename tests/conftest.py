"""Fixtures for the end-to-end tests: they drive the installed `wasmpy`
kernelspec with the real Jupyter clients from Debian's packages."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("WASMPY_SHARED", REPO.parent / "shared"))
KERNEL = os.environ.get("WASMPY_KERNEL_NAME", "wasmpy")
ARTIFACTS = REPO / "tests" / "artifacts"
TIMEOUT = 30


def pytest_configure(config: pytest.Config) -> None:
    if shutil.which("jupyter") is None:
        raise pytest.UsageError("jupyter is missing: run scripts/setup.sh (apt package jupyter-client)")
    out = subprocess.run(["jupyter", "kernelspec", "list"], capture_output=True, text=True, check=True).stdout
    if not any(line.split()[:1] == [KERNEL] for line in out.splitlines()):
        raise pytest.UsageError(f"kernelspec {KERNEL!r} is not installed: run scripts/setup.sh")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def kernel() -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A fresh wasmpy kernel and a client that is ready to talk to it."""
    km = KernelManager(kernel_name=KERNEL)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def run_cell(kc: BlockingKernelClient, code: str, timeout: float = TIMEOUT, **kw) -> tuple[dict, list[dict]]:
    """Execute code; return the reply and the iopub messages up to idle."""
    msg_id = kc.execute(code, **kw)
    msgs: list[dict] = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    assert reply["parent_header"]["msg_id"] == msg_id
    return reply, msgs


def stdout_of(msgs: list[dict], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)
