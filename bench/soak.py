"""soak.py: a long run of mixed cells against one kernel, watching its memory.

Starts a kernel through jupyter_client (kernelspec from --kernel, else
$WASMPY_KERNEL_NAME, else wasmpy) with --allow-net=127.0.0.1:PORT appended to
its command line, PORT being an HTTP server this script runs on 127.0.0.1.
Then runs N cells in rotation: printed output, an exception, display() and rich
reprs, update_display, top-level `await asyncio.sleep(0)`, `await pyfetch(...)`
and `await js.fetch(...)` to the local server, and the JS FFI both ways; every M cells, instead, a
`while True: pass` cell that is interrupted. Every cell's result is checked.
Prints the kernel process's RSS (VmRSS of /proc/PID/status) and the rate every
K cells, then a summary. Every wait is bounded. Not part of the test suite:

    /usr/bin/python3 bench/soak.py [--cells 10000] [--every 500] [--kernel NAME]
"""

from __future__ import annotations

import argparse
import http.server
import os
import queue
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict

from jupyter_client.manager import KernelManager


class CellTimeout(Exception):
    pass


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_server() -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"soak {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _next(get, deadline: float, what: str) -> dict:
    """The next message from get (a client's get_*_msg) before deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CellTimeout(f"no {what}")
        try:
            return get(timeout=left)
        except queue.Empty:
            continue


def collect(kc, msg_id: str, timeout: float) -> tuple[dict, list[dict]]:
    """The iopub messages of msg_id up to idle, and its shell reply, within timeout."""
    deadline = time.monotonic() + timeout
    msgs: list[dict] = []
    while True:
        m = _next(kc.get_iopub_msg, deadline, f"idle within {timeout:g} s")
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    while True:
        reply = _next(kc.get_shell_msg, deadline, f"execute_reply within {timeout:g} s")
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply, msgs


def stream(msgs, name="stdout"):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def of_type(msgs, t):
    return [m["content"] for m in msgs if m["msg_type"] == t]


def ok(reply):
    return None if reply["content"]["status"] == "ok" else f"status {reply['content']['status']}: {reply['content'].get('ename')}"


# Each kind: (code for cell i, check(i, reply, msgs) -> None or what went wrong).
def kinds(url: str):
    def output(i):
        return f"import sys\nfor j in range(20):\n    print('line', {i}, j)\nprint('to stderr', {i}, file=sys.stderr)"

    def check_output(i, reply, msgs):
        want = "".join(f"line {i} {j}\n" for j in range(20))
        if stream(msgs) != want:
            return f"stdout {stream(msgs)[:80]!r}"
        if stream(msgs, "stderr") != f"to stderr {i}\n":
            return f"stderr {stream(msgs, 'stderr')[:80]!r}"
        return ok(reply)

    def exception(i):
        return f"def f():\n    raise ValueError('soak {i}')\nf()"

    def check_exception(i, reply, msgs):
        c = reply["content"]
        if c["status"] != "error" or c["ename"] != "ValueError" or c["evalue"] != f"soak {i}":
            return f"reply {c.get('status')} {c.get('ename')} {c.get('evalue')}"
        errs = of_type(msgs, "error")
        if len(errs) != 1 or errs[0]["ename"] != "ValueError":
            return f"{len(errs)} error messages"
        return None

    def rich(i):
        return (
            "from IPython.display import display, HTML, Markdown\n"
            f"display(HTML('<b>{i}</b>'))\n"
            f"display(Markdown('*{i}*'))\n"
            "class R:\n"
            f"    def _repr_html_(self): return '<i>{i}</i>'\n"
            "R()"
        )

    def check_rich(i, reply, msgs):
        shown = [d["data"] for d in of_type(msgs, "display_data")]
        if [d.get("text/html") for d in shown[:1]] != [f"<b>{i}</b>"] or len(shown) != 2 \
                or shown[1].get("text/markdown") != f"*{i}*":
            return f"display_data {shown!r:.120}"
        res = of_type(msgs, "execute_result")
        if len(res) != 1 or res[0]["data"].get("text/html") != f"<i>{i}</i>":
            return f"execute_result {res!r:.120}"
        return ok(reply)

    def update(i):
        return f"h = display('before {i}', display_id=True)\nh.update('after {i}')"

    def check_update(i, reply, msgs):
        shown = of_type(msgs, "display_data")
        updated = of_type(msgs, "update_display_data")
        if len(shown) != 1 or shown[0]["data"].get("text/plain") != f"'before {i}'":
            return f"display_data {shown!r:.120}"
        if len(updated) != 1 or updated[0]["data"].get("text/plain") != f"'after {i}'" \
                or updated[0]["transient"].get("display_id") != shown[0]["transient"].get("display_id"):
            return f"update_display_data {updated!r:.120}"
        return ok(reply)

    def sleep0(i):
        return f"import asyncio\nawait asyncio.sleep(0)\n{i} + 1"

    def check_result(i, reply, msgs):
        res = of_type(msgs, "execute_result")
        if len(res) != 1 or res[0]["data"].get("text/plain") != str(i + 1):
            return f"execute_result {res!r:.120}; reply {reply['content'].get('ename')}"
        return ok(reply)

    def pyfetch(i):
        return f"from pyodide.http import pyfetch\nr = await pyfetch('{url}/py/{i}')\nprint(r.status, await r.text())"

    def check_fetch(path):
        def check(i, reply, msgs):
            if stream(msgs) != f"200 soak /{path}/{i}\n":
                c = reply["content"]
                return f"stdout {stream(msgs)[:80]!r}; reply {c.get('ename')} {c.get('evalue')}"
            return ok(reply)

        return check

    def jsfetch(i):
        return f"import js\nr = await js.fetch('{url}/js/{i}')\nprint(r.status, await r.text())"

    def ffi(i):
        # The FFI's hot paths (jsref.c): attribute reads, calls both ways,
        # proxies made and released, an exception from a callback, an
        # awaited settled promise.
        return (
            "from pyodide.ffi import create_proxy\nfrom pyodide.code import run_js\nimport js\n"
            f"o = run_js('({{n: {i}, f(x) {{ return x + 1; }}, arr: [1, 2, 3]}})')\n"
            "cb = create_proxy(lambda x: x * 2)\n"
            f"s = o.n + o.f(o.n) + run_js('(f, x) => f(x)')(cb, {i}) + sum(o.arr) + await js.Promise.resolve({i})\n"
            "cb.destroy()\n"
            "def bad():\n    raise ValueError('v')\n"
            "try:\n    run_js('(f) => f()')(bad)\nexcept ValueError:\n    s += 1\n"
            "print(s)"
        )

    def check_ffi(i, reply, msgs):
        if stream(msgs) != f"{5 * i + 8}\n":
            c = reply["content"]
            return f"stdout {stream(msgs)[:80]!r}; reply {c.get('ename')} {c.get('evalue')}"
        return ok(reply)

    return [
        ("output", output, check_output),
        ("exception", exception, check_exception),
        ("rich", rich, check_rich),
        ("update_display", update, check_update),
        ("await_sleep0", sleep0, check_result),
        ("pyfetch", pyfetch, check_fetch("py")),
        ("js_fetch", jsfetch, check_fetch("js")),
        ("ffi", ffi, check_ffi),
    ]


def interrupt_cell(km, kc, timeout: float) -> tuple[str | None, float]:
    """Run `while True: pass`, interrupt it once it runs; (problem, seconds from interrupt to idle)."""
    msg_id = kc.execute("while True: pass")
    deadline = time.monotonic() + timeout
    early: list[dict] = []
    while True:  # wait for busy, then give the loop a moment to be running
        m = _next(kc.get_iopub_msg, deadline, "busy status")
        if m["parent_header"].get("msg_id") == msg_id:
            early.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "busy":
                break
    time.sleep(0.05)
    t0 = time.monotonic()
    km.interrupt_kernel()
    reply, msgs = collect(kc, msg_id, timeout)
    took = time.monotonic() - t0
    c = reply["content"]
    if c["status"] != "error" or c.get("ename") != "KeyboardInterrupt":
        return f"reply {c.get('status')} {c.get('ename')}", took
    return None, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.environ.get("WASMPY_KERNEL_NAME", "wasmpy"), help="kernelspec name")
    ap.add_argument("--cells", type=int, default=10000, help="number of cells (default 10000)")
    ap.add_argument("--every", type=int, default=500, help="print RSS and rate every K cells (default 500)")
    ap.add_argument("--interrupt-every", type=int, default=50, help="every M-th cell is an interrupted loop (default 50)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds allowed per cell (default 60)")
    ap.add_argument("--start-timeout", type=float, default=120, help="seconds allowed for the kernel to start")
    args = ap.parse_args()

    srv = start_server()
    port = srv.server_address[1]
    url = f"http://127.0.0.1:{port}"
    rotation = kinds(url)
    km = KernelManager(kernel_name=args.kernel)
    km.start_kernel(extra_arguments=[f"--allow-net=127.0.0.1:{port}"])
    kc = km.client()
    kc.start_channels()
    counts: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    failures: list[str] = []
    lat: defaultdict[str, list[float]] = defaultdict(list)
    samples: list[tuple[int, float]] = []
    done = 0
    t_start = time.monotonic()
    try:
        kc.wait_for_ready(timeout=args.start_timeout)
        pid = km.provisioner.pid
        print(f"kernel {args.kernel} pid {pid}, server {url}, {args.cells} cells, "
              f"RSS every {args.every}, interrupt every {args.interrupt_every}", flush=True)
        samples.append((0, rss_mib(pid)))
        print(f"{'cells':>6} {'RSS MiB':>8} {'cells/s':>8} {'elapsed s':>9}", flush=True)
        print(f"{0:6d} {samples[-1][1]:8.1f} {'':>8} {0:9.1f}", flush=True)
        t_mark = time.monotonic()
        consecutive = 0
        k = 0
        for i in range(args.cells):
            t0 = time.monotonic()
            try:
                if args.interrupt_every and i % args.interrupt_every == args.interrupt_every - 1:
                    kind = "interrupt"
                    problem, took = interrupt_cell(km, kc, args.timeout)
                    lat["interrupt_to_idle"].append(took)
                else:
                    kind, code, check = rotation[k % len(rotation)]
                    k += 1
                    reply, msgs = collect(kc, kc.execute(code(i)), args.timeout)
                    problem = check(i, reply, msgs)
            except CellTimeout as e:
                problem = f"timeout: {e}"
                if not km.is_alive():
                    failures.append(f"cell {i} ({kind}): kernel died")
                    failed[kind] += 1
                    counts[kind] += 1
                    break
                km.interrupt_kernel()
            counts[kind] += 1
            lat[kind].append(time.monotonic() - t0)
            done = i + 1
            if problem:
                failed[kind] += 1
                consecutive += 1
                failures.append(f"cell {i} ({kind}): {problem}")
                if len(failures) <= 20:
                    print(f"FAIL cell {i} ({kind}): {problem}", flush=True)
                if consecutive >= 10:
                    print("10 failures in a row: stopping", flush=True)
                    break
            else:
                consecutive = 0
            if done % args.every == 0:
                now = time.monotonic()
                samples.append((done, rss_mib(pid)))
                print(f"{done:6d} {samples[-1][1]:8.1f} {args.every / (now - t_mark):8.1f} {now - t_start:9.1f}", flush=True)
                t_mark = now
    finally:
        elapsed = time.monotonic() - t_start
        kc.stop_channels()
        try:
            km.shutdown_kernel(now=False)
        except Exception:
            km.shutdown_kernel(now=True)
        srv.shutdown()

    print("\n== summary")
    print(f"cells run {done} of {args.cells} in {elapsed:.1f} s: {done / elapsed:.1f} cells/s")
    for kind in [r[0] for r in rotation] + ["interrupt"]:
        ls = lat.get(kind, [])
        p50 = f"{statistics.median(ls) * 1e3:.1f}" if ls else "-"
        mx = f"{max(ls) * 1e3:.1f}" if ls else "-"
        print(f"  {kind:15} {counts[kind]:6d} cells, {failed[kind]:4d} failed, p50 {p50:>7} ms, max {mx:>8} ms")
    if lat.get("interrupt_to_idle"):
        ls = lat["interrupt_to_idle"]
        print(f"  interrupt to idle: p50 {statistics.median(ls) * 1e3:.1f} ms, max {max(ls) * 1e3:.1f} ms")
    print(f"failures: {len(failures)}")
    for f in failures[:20]:
        print("  " + f)
    if samples:
        rss = [r for _, r in samples]
        print(f"RSS MiB: first {rss[0]:.1f} (after start), last {rss[-1]:.1f}, max {max(rss):.1f}")
        later = [(n, r) for n, r in samples if n > 0]
        if done and len(later) >= 4:
            q2 = [r for n, r in later if done / 4 < n <= done / 2]
            q4 = [r for n, r in later if n > done * 3 / 4]
            a2, a4 = statistics.mean(q2), statistics.mean(q4)
            change = (a4 - a2) / a2 * 100
            verdict = "flat" if abs(change) <= 10 else "NOT flat"
            print(f"RSS second quarter avg {a2:.1f}, last quarter avg {a4:.1f}: {change:+.1f} % -> {verdict} (within 10 %)")
        else:
            print("too few RSS samples to judge flatness")
    return 1 if failures or done < args.cells else 0


if __name__ == "__main__":
    sys.exit(main())
