"""Start-up benchmark: process start to the first result of `1+1`.

For each kernel (wasmpy, and ipykernel's python3 as the reference, in the
same run) it starts the kernel N times through jupyter_client and measures,
from just before the kernel process is spawned:

  kernel_info   the first kernel_info_reply on shell
  first_result  the execute_reply of `1+1`, sent as soon as the client is up,
                carrying the value (user_expressions: iopub may not be
                connected yet so early, shell queues)
  rss_idle_mb   the kernel process's RSS, one second after that result

For wasmpy it also prints the start-up profile: when each phase ended, read
from the kernel's debug log (the "startup" and "interpreter boot" lines),
and whether the interpreter came from a snapshot. Run with Debian's python3:

    /usr/bin/python3 bench/startup.py [--runs 5] [--kernels wasmpy,python3]

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from typing import Any

from jupyter_client.manager import KernelManager

TIMEOUT = 60.0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def kernel_pid(km: KernelManager) -> int | None:
    prov = getattr(km, "provisioner", None)
    proc = getattr(prov, "process", None) or getattr(km, "kernel", None)
    return getattr(proc, "pid", None)


def one_start(name: str, debug_log: bool) -> dict[str, Any]:
    km = KernelManager(kernel_name=name)
    log = tempfile.NamedTemporaryFile(prefix="wasmpy-startup-", suffix=".log", delete=False)
    extra = ["--log-level", "debug"] if debug_log else []
    t0 = time.time()
    km.start_kernel(extra_arguments=extra, stderr=log)
    kc = km.client()
    kc.start_channels()
    out: dict[str, Any] = {}
    try:
        info_id = kc.kernel_info()
        exec_id = kc.execute("1+1", user_expressions={"r": "1+1"})
        deadline = time.monotonic() + TIMEOUT
        while "kernel_info" not in out or "execute_reply" not in out:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: no replies within {TIMEOUT}s")
            msg = kc.get_shell_msg(timeout=TIMEOUT)
            pid = msg["parent_header"].get("msg_id")
            if pid == info_id:
                out["kernel_info"] = time.time() - t0
            elif pid == exec_id:
                out["execute_reply"] = out["first_result"] = time.time() - t0
                got = msg["content"].get("user_expressions", {}).get("r", {})
                if got.get("data", {}).get("text/plain") != "2":
                    raise AssertionError(f"{name}: 1+1 gave {got}")
        time.sleep(1.0)
        pid = kernel_pid(km)
        out["rss_idle_mb"] = rss_mb(pid) if pid else float("nan")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        log.close()
    if debug_log:
        out["profile"] = profile(log.name, t0)
    os.unlink(log.name)
    return out


PHASE = re.compile(r'msg=startup phase="?([^"]+?)"? unix_us=(\d+)')
BOOT = re.compile(r'msg="interpreter boot" restored=(\w+) instantiate=(\S+) setup=(\S+) ipython=(\S+) kernel_info=(\S+)')
SNAP = re.compile(r'msg="snapshot loaded" took=(\S+)')
LOADED = re.compile(r'msg="runtime loaded" .* compile=(\S+)')


def profile(path: str, t0: float) -> list[tuple[str, str]]:
    """The phases of the kernel's start-up, in ms from the spawn."""
    rows: list[tuple[str, str]] = []
    with open(path, errors="replace") as f:
        for line in f:
            if m := PHASE.search(line):
                rows.append((m.group(1), f"{(int(m.group(2)) / 1e6 - t0) * 1000:.1f} ms"))
            elif m := BOOT.search(line):
                rows.append(("  restored from a snapshot" if m.group(1) == "true" else "  started from scratch", ""))
                rows.append(("  instantiate python.wasm (+ map the snapshot)", m.group(2)))
                rows.append(("  host set-up (event loop, JS world)", m.group(3)))
                rows.append(("  IPython start-up (or thaw)", m.group(4)))
                rows.append(("  kernel_info inside", m.group(5)))
            elif m := SNAP.search(line):
                rows.append(("  snapshot read and checked (while compiling)", m.group(1)))
            elif m := LOADED.search(line):
                rows.append(("  compiled code loaded from the cache in", m.group(1)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kernels", default="wasmpy,python3")
    a = ap.parse_args()
    print(f"start-up benchmark, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {a.runs} runs per kernel\n")
    results: dict[str, list[dict[str, Any]]] = {}
    for name in a.kernels.split(","):
        wasm = name.startswith("wasmpy")
        one_start(name, wasm)  # warm the page cache (and make the snapshot, if none)
        results[name] = [one_start(name, wasm) for _ in range(a.runs)]
    print(f"{'kernel':10} {'kernel_info':>12} {'first 1+1':>12} {'idle RSS':>10}   (medians; min-max)")
    for name, runs in results.items():

        def med(key: str, scale: float = 1000.0) -> str:
            vals = [r[key] * scale for r in runs]
            return f"{statistics.median(vals):.0f} ({min(vals):.0f}-{max(vals):.0f})"

        print(f"{name:10} {med('kernel_info') + ' ms':>12} {med('first_result') + ' ms':>12} {med('rss_idle_mb', 1.0) + ' MB':>10}")
    for name, runs in results.items():
        if runs and runs[-1].get("profile"):
            print(f"\n{name}: start-up profile of the last run (ms after the spawn)")
            for phase, when in runs[-1]["profile"]:
                print(f"  {phase:48} {when}")
            print(f"  {'kernel_info_reply received':48} {runs[-1]['kernel_info'] * 1000:.1f} ms")
            print(f"  {'execute_result of 1+1 received':48} {runs[-1]['first_result'] * 1000:.1f} ms")
    print("\nJSON: " + json.dumps({k: [{x: y for x, y in r.items() if x != "profile"} for r in v] for k, v in results.items()}))


if __name__ == "__main__":
    main()
