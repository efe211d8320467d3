"""Timer benchmark: 1,000 concurrent timers in the kernel, fired in order.

In one kernel (wasmpy by default; ipykernel's python3 for asyncio as the
reference, in the same run) a cell schedules 1,000 timers with random
delays of 0 to 50 ms, both as JavaScript setTimeout (wasmpy only) and as
asyncio call_later, waits for them, and reports whether they fired in
deadline order (ties in the order they were set), how late the last one
was, and the median and worst lateness. Run with Debian's python3:

    /usr/bin/python3 bench/timers.py [--kernels wasmpy,python3] [--runs 3]

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json

from jupyter_client.manager import start_new_kernel

from cellrun import run_cell

CELL = r'''
import asyncio, json, random, time
rng = random.Random(7)
delays = [rng.randrange(51) for _ in range(1000)]
out = {}

def summary(fired, earliest, latest):
    # fired: (index, time fired); each timer's deadline lies between
    # earliest[i] and latest[i]. In order: no timer fired before one that
    # was surely due earlier, or (for deadlines known exactly) before one
    # set earlier with the same deadline.
    order = [i for i, _ in fired]
    in_order = all(earliest[a] <= latest[b] and (earliest[a] != latest[b] or a < b)
                   for a, b in zip(order, order[1:]))
    late = sorted(t - latest[i] for i, t in fired)
    return {"fired": len(fired), "in_order": in_order,
            "median_late_ms": round(late[len(late) // 2] * 1e3, 3), "max_late_ms": round(late[-1] * 1e3, 3)}

async def with_asyncio():
    loop = asyncio.get_running_loop()
    fired, done = [], loop.create_future()
    def fire(i):
        fired.append((i, time.monotonic()))
        if len(fired) == len(delays):
            done.set_result(None)
    handles = [loop.call_later(d / 1000, fire, i) for i, d in enumerate(delays)]
    await done
    # asyncio's own deadlines, exactly
    when = [h.when() for h in handles]
    return summary(fired, when, when)

out["asyncio call_later"] = await with_asyncio()
try:
    import js
    from pyodide.ffi import create_proxy
except ImportError:
    js = None
if js is not None:
    fired, before, after = [], [], []
    done = asyncio.get_running_loop().create_future()
    def fire(i):
        fired.append((i, time.monotonic()))
        if len(fired) == len(delays):
            done.set_result(None)
    cb = create_proxy(fire)
    set_timeout = js.setTimeout
    for i, d in enumerate(delays):
        before.append(time.monotonic())
        set_timeout(cb, d, i)
        after.append(time.monotonic())
    await done
    cb.destroy()
    # JavaScript's deadlines, known to the time of the call; a delay under
    # 1 ms is 1 ms, as in Node
    out["JS setTimeout"] = summary(fired, [t + max(d, 1) / 1000 for t, d in zip(before, delays)],
                                   [t + max(d, 1) / 1000 for t, d in zip(after, delays)])
print("RESULT " + json.dumps(out))
'''


def run_timers(kernel: str) -> dict:
    km, kc = start_new_kernel(kernel_name=kernel, startup_timeout=60)
    try:
        text, error = run_cell(kc, CELL)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if error is not None:
        raise RuntimeError(error)
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"no result in {text!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernels", default="wasmpy,python3")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    for kernel in a.kernels.split(","):
        for run in range(a.runs):
            for what, r in run_timers(kernel).items():
                print(f"{kernel:8} {what:19} fired {r['fired']}, in order {r['in_order']}, "
                      f"late median {r['median_late_ms']} ms, worst {r['max_late_ms']} ms")


if __name__ == "__main__":
    main()
