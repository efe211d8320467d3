"""What the Jupyter client costs by itself, beside wasmpy and ipykernel.

The kernel benchmarks time a request from the client's side, so a figure
includes jupyter_client's own work. This prints that share, in one run:

  execute   p50 of `pass` (and of an empty cell) from send to idle, for a
            "floor" kernel that answers at once without running anything (a
            few lines of pyzmq, below), for wasmpy and for ipykernel.
  nbconvert `jupyter nbconvert --to notebook` of the anchor notebook without
            --execute (nbconvert's own start), with --execute for each
            kernel (the floor kernel's start is a Python process's, with pyzmq), and nbclient's phases for each kernel: setting up the
            kernel (jupyter_client's wait_for_ready ends by draining iopub
            until it has been silent for 0.2 s), the cells, and the shutdown
            (jupyter_client polls the process every 0.1 s).

Run with Debian's python3 (it has jupyter_client, nbclient and pyzmq):

    /usr/bin/python3 bench/floor.py [--kernels wasmpy,python3] [--n 200]

Not a test: it prints figures. `python3 bench/floor.py --serve -f FILE` is
the floor kernel itself.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def serve(connection_file: str) -> None:
    """The floor kernel: status busy, the reply, status idle; no code runs.
    Its iopub welcomes each subscriber (JEP 65), as wasmpy's does, so that a
    client's first wait for iopub does not time out."""
    import zmq

    cfg = json.load(open(connection_file))
    ctx = zmq.Context()
    url = f"{cfg['transport']}://{cfg['ip']}:%d"

    def bind(kind: int, port: str) -> Any:
        s = ctx.socket(kind)
        s.bind(url % cfg[port])
        return s

    shell, control = bind(zmq.ROUTER, "shell_port"), bind(zmq.ROUTER, "control_port")
    iopub, hb = bind(zmq.XPUB, "iopub_port"), bind(zmq.REP, "hb_port")
    bind(zmq.ROUTER, "stdin_port")
    key = cfg["key"].encode()
    session = uuid.uuid4().hex

    def send(sock: Any, ids: list[bytes], kind: str, content: dict, parent: dict) -> None:
        header = {"msg_id": uuid.uuid4().hex, "session": session, "username": "floor",
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                  "msg_type": kind, "version": "5.3"}
        parts = [json.dumps(p).encode() for p in (header, parent, {}, content)]
        sig = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode()
        sock.send_multipart(ids + [b"<IDS|MSG>", sig] + parts)

    count = 0
    poller = zmq.Poller()
    for s in (shell, control, hb, iopub):
        poller.register(s, zmq.POLLIN)
    while True:
        for sock, _ in poller.poll():
            if sock is hb:
                hb.send(hb.recv())
                continue
            if sock is iopub:
                sub = iopub.recv()
                if sub[:1] == b"\x01":
                    send(iopub, [sub[1:]], "iopub_welcome", {"subscription": sub[1:].decode()}, {})
                continue
            frames = sock.recv_multipart()
            i = frames.index(b"<IDS|MSG>")
            parent = json.loads(frames[i + 2])
            kind = parent["msg_type"]
            send(iopub, [b"status"], "status", {"execution_state": "busy"}, parent)
            if kind == "execute_request":
                count += 1
                code = json.loads(frames[i + 5])["code"]
                send(iopub, [b"execute_input"], "execute_input", {"code": code, "execution_count": count}, parent)
                send(sock, frames[:i], "execute_reply",
                     {"status": "ok", "execution_count": count, "user_expressions": {}, "payload": []}, parent)
            elif kind == "kernel_info_request":
                send(sock, frames[:i], "kernel_info_reply",
                     {"status": "ok", "protocol_version": "5.3", "implementation": "floor",
                      "implementation_version": "0", "banner": "",
                      "language_info": {"name": "python", "file_extension": ".py"}}, parent)
            elif kind == "shutdown_request":
                send(sock, frames[:i], "shutdown_reply", {"status": "ok", "restart": False}, parent)
                send(iopub, [b"status"], "status", {"execution_state": "idle"}, parent)
                return
            send(iopub, [b"status"], "status", {"execution_state": "idle"}, parent)


def install_floor(prefix: str) -> None:
    d = os.path.join(prefix, "kernels", "floor")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "kernel.json"), "w") as f:
        json.dump({"argv": [sys.executable, os.path.abspath(__file__), "--serve", "-f", "{connection_file}"],
                   "display_name": "floor", "language": "python", "interrupt_mode": "message"}, f)


def execute_p50(kernel: str, n: int) -> dict[str, float]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=kernel, startup_timeout=60)
    try:
        out = {}
        for code in ("", "pass"):
            times = []
            for i in range(n + 20):
                t0 = time.perf_counter()
                msg_id = kc.execute(code)
                deadline = t0 + 30
                while True:
                    m = kc.get_iopub_msg(timeout=max(0.01, deadline - time.perf_counter()))
                    if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                            and m["content"]["execution_state"] == "idle"):
                        break
                if i >= 20:
                    times.append(time.perf_counter() - t0)
            out[code or "empty"] = round(statistics.median(times) * 1000, 2)
        return out
    finally:
        km.shutdown_kernel(now=True)


def nbclient_phases(kernel: str, path: str) -> dict[str, float]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel, allow_errors=True)

    async def run() -> dict[str, float]:
        t0 = time.perf_counter()
        async with client.async_setup_kernel():
            t1 = time.perf_counter()
            for i, cell in enumerate(nb.cells):
                await client.async_execute_cell(cell, i)
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        return {"setup_ms": (t1 - t0) * 1000, "cells_ms": (t2 - t1) * 1000, "shutdown_ms": (t3 - t2) * 1000}

    return asyncio.run(run())


def nbconvert_s(path: str, out: str, kernel: str | None) -> float:
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--output", out, path]
    if kernel:
        cmd[5:5] = ["--execute", "--allow-errors", f"--ExecutePreprocessor.kernel_name={kernel}"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-f", help=argparse.SUPPRESS)
    p.add_argument("--kernels", default="wasmpy,python3")
    p.add_argument("--n", type=int, default=200, help="cells per execute figure")
    p.add_argument("--runs", type=int, default=3, help="runs per nbconvert figure (median)")
    p.add_argument("--notebook", default=os.path.join(HERE, "..", "..", "shared", "bench", "anchor_notebook.ipynb"))
    a = p.parse_args()
    if a.serve:
        serve(a.f)
        return
    with tempfile.TemporaryDirectory() as tmp:
        install_floor(tmp)
        os.environ["JUPYTER_PATH"] = tmp + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        kernels = ["floor"] + [k for k in a.kernels.split(",") if k]
        print("== execute, send -> idle, p50 ms")
        for k in kernels:
            print(f"{k:10} {execute_p50(k, a.n)}")
        out = os.path.join(tmp, "out.ipynb")
        print("== nbconvert of", os.path.basename(a.notebook), "(median s)")
        runs = [nbconvert_s(a.notebook, out, None) for _ in range(a.runs)]
        print(f"{'no kernel':10} {statistics.median(runs):.2f} s (nbconvert without --execute)")
        for k in kernels:
            runs = [nbconvert_s(a.notebook, out, k) for _ in range(a.runs)]
            phases = [nbclient_phases(k, a.notebook) for _ in range(a.runs)]
            med = {key: round(statistics.median(ph[key] for ph in phases)) for key in phases[0]}
            print(f"{k:10} {statistics.median(runs):.2f} s; nbclient phases (ms): {med}")


if __name__ == "__main__":
    main()
