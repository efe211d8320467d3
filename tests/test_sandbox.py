"""The permission flags end to end: a kernel installed with --allow-read,
--allow-write, --allow-env, --allow-net and --memory gets exactly those, shows
them with %permissions, and is refused the rest with errors naming the flag."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time

import pytest
from conftest import run_cell, stdout_of
from jupyter_client.manager import KernelManager


@pytest.fixture
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from 127.0.0.1"
            if self.path == "/big":
                body = b"x" * 5000
            elif self.path == "/slow":
                time.sleep(5)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def start(tmp_path, name, *flags):
    wasmpy = os.environ.get("WASMPY_BIN", "wasmpy")
    subprocess.run([wasmpy, "install", "--prefix", str(tmp_path / "k"), "--name", name, *flags],
                   check=True, capture_output=True)
    os.environ["JUPYTER_PATH"] = str(tmp_path / "k" / "share" / "jupyter")
    try:
        km = KernelManager(kernel_name=name)
        km.start_kernel(env=dict(os.environ, WASMPY_TEST_SECRET="s3cret", WASMPY_TEST_OTHER="hidden"))
    finally:
        del os.environ["JUPYTER_PATH"]
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def test_permissions(tmp_path, server):
    ro = tmp_path / "data"
    rw = tmp_path / "out"
    hidden = tmp_path / "hidden"
    for d in (ro, rw, hidden):
        d.mkdir()
    (ro / "in.txt").write_text("readable")
    (hidden / "secret.txt").write_text("secret")
    km, kc = start(tmp_path, "wasmpy-perms", f"--allow-read={ro}", f"--allow-write={rw}",
                   "--allow-env=WASMPY_TEST_SECRET", f"--allow-net={server}", "--memory=512M",
                   "--fetch-max-bytes=1000", "--fetch-timeout=3s")
    try:
        _, msgs = run_cell(kc, "%permissions")
        shown = stdout_of(msgs)
        assert f"read            {ro}" in shown and f"write           {rw}" in shown
        assert "WASMPY_TEST_SECRET" in shown and "memory_mib      512" in shown and server in shown
        assert "fetch_max_bytes 1000" in shown and "fetch_timeout   3s" in shown
        code = f"""
import os
print(open({str(ro / 'in.txt')!r}).read())
open({str(rw / 'result.txt')!r}, 'w').write('written')
for label, action in [('hidden', lambda: open({str(hidden / 'secret.txt')!r}).read()),
                      ('write-ro', lambda: open({str(ro / 'new.txt')!r}, 'w'))]:
    try:
        action()
        print(label, 'ALLOWED')
    except OSError as e:
        print(label, 'refused')
print(os.environ.get('WASMPY_TEST_SECRET'), os.environ.get('WASMPY_TEST_OTHER'))
"""
        reply, msgs = run_cell(kc, code)
        out = stdout_of(msgs)
        assert out == "readable\nhidden refused\nwrite-ro refused\ns3cret None\n", out + str(reply["content"])
        assert (rw / "result.txt").read_text() == "written"
        _, msgs = run_cell(kc, f"from pyodide.http import pyfetch\nr = await pyfetch('http://{server}/')\nprint(await r.text())")
        assert stdout_of(msgs) == "hello from 127.0.0.1\n"
        # Over --fetch-max-bytes, and past --fetch-timeout.
        for path, want in (("big", "over the limit of 1000"), ("slow", "timed out")):
            reply, _ = run_cell(kc, f"from pyodide.http import pyfetch\nawait pyfetch('http://{server}/{path}')")
            assert reply["content"]["status"] == "error" and want in reply["content"]["evalue"], reply["content"]
        reply, _ = run_cell(kc, "from pyodide.http import open_url\nopen_url('http://127.0.0.2:9/')")
        assert reply["content"]["ename"] == "PermissionError" and "--allow-net" in reply["content"]["evalue"]
        reply, msgs = run_cell(kc, "try:\n    x = bytearray(1024 ** 3)\nexcept MemoryError:\n    print('MemoryError')")
        assert stdout_of(msgs) == "MemoryError\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_no_permissions_by_default(kernel, server):
    _, kc = kernel
    _, msgs = run_cell(kc, "%permissions")
    shown = stdout_of(msgs)
    assert "network         none" in shown and "read            none" in shown and "env             none" in shown
    assert "fetch_max_bytes 67108864" in shown and "fetch_timeout   1m0s" in shown
    reply, _ = run_cell(kc, f"from pyodide.http import pyfetch\nawait pyfetch('http://{server}/')")
    assert reply["content"]["ename"] == "PermissionError"
    assert f"--allow-net={server}" in reply["content"]["evalue"]
    reply, _ = run_cell(kc, "import urllib.request\nurllib.request.urlopen('file:///etc/passwd').read()")
    assert reply["content"]["status"] == "error"


def test_host_files_of_the_kernel_are_out_of_reach(kernel):
    """The connection file (its key signs messages), the binary, and another
    kernel's scratch directory cannot be read from a cell."""
    km, kc = kernel
    binary = os.path.realpath(os.environ.get("WASMPY_BIN") or subprocess.check_output(["which", "wasmpy"], text=True).strip())
    code = f"""
for label, path in [('connection file', {km.connection_file!r}), ('binary', {binary!r})]:
    try:
        open(path, 'rb').read(1)
        print(label, 'ALLOWED')
    except OSError:
        print(label, 'refused')
open('/home/pyodide/mine.txt', 'w').write('kernel one')
"""
    _, msgs = run_cell(kc, code)
    assert stdout_of(msgs) == "connection file refused\nbinary refused\n"
    km2 = KernelManager(kernel_name="wasmpy")
    km2.start_kernel()
    kc2 = km2.client()
    kc2.start_channels()
    try:
        kc2.wait_for_ready(timeout=60)
        _, msgs = run_cell(kc2, "import os\nprint(os.path.exists('/home/pyodide/mine.txt'))")
        assert stdout_of(msgs) == "False\n"
    finally:
        kc2.stop_channels()
        km2.shutdown_kernel(now=True)


def test_ten_megabytes_of_output_in_order(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "import sys\nfor i in range(100000):\n    sys.stdout.write(f'{i:09d}' + 'x' * 90 + '\\n')", timeout=120)
    assert reply["content"]["status"] == "ok"
    text = stdout_of(msgs)
    assert len(text) == 100000 * 100
    assert text == "".join(f"{i:09d}" + "x" * 90 + "\n" for i in range(100000))


def test_js_faults_leave_the_kernel_alive(kernel):
    """A JS exception thrown from a timer, and a Python callback that raises
    inside a JS call: reported, and the next cell runs."""
    _, kc = kernel
    code = (
        "import asyncio\nfrom pyodide.code import run_js\n"
        "run_js('setTimeout(() => { throw new Error(\"boom from a timer\") }, 10)')\n"
        "await asyncio.sleep(0.2)\nprint('after the timer')"
    )
    reply, msgs = run_cell(kc, code)
    assert "after the timer" in stdout_of(msgs), reply["content"]
    code = (
        "from pyodide.code import run_js\nfrom pyodide.ffi import create_proxy\n"
        "def bad():\n    raise ValueError('raised in a callback')\n"
        "f = create_proxy(bad)\n"
        "print(run_js('(f) => { try { f(); return \"no error\" } catch (e) { return e.constructor.name + \": \" + (e.message.includes(\"ValueError: raised in a callback\")) } }')(f))\n"
        "f.destroy()"
    )
    reply, msgs = run_cell(kc, code)
    assert stdout_of(msgs) == "PythonError: true\n", (stdout_of(msgs), reply["content"])
    _, msgs = run_cell(kc, "print('still alive')")
    assert stdout_of(msgs) == "still alive\n"


def test_a_line_every_millisecond_for_thirty_seconds(kernel):
    """A cell that prints a numbered line about every millisecond for 30 s of
    wall time: every line arrives, whole and in order (no gap, no duplicate,
    the last one present), and the kernel then serves the next cell."""
    _, kc = kernel
    code = (
        "import time\n"
        "t0 = time.monotonic()\n"
        "i = 0\n"
        "while time.monotonic() - t0 < 30:\n"
        "    print(i)\n"
        "    i += 1\n"
        "    time.sleep(0.001)\n"
        "print('done', i)"
    )
    reply, msgs = run_cell(kc, code, timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = stdout_of(msgs)
    assert text.endswith("\n"), text[-200:]
    lines = text.split("\n")[:-1]
    last = lines.pop()
    assert last.startswith("done "), last
    n = int(last.split()[1])
    assert n > 1000, n  # 30 s at one line per ms, allowing for a slow shared machine
    numbers = [int(s) if s.isdigit() else -1 for s in lines]  # -1: a broken line
    if numbers != list(range(n)):
        missing = sorted(set(range(n)) - set(numbers))
        dups = len(numbers) - len(set(numbers))
        bad = next((k for k, v in enumerate(numbers) if v != k), None)
        pytest.fail(f"{len(numbers)} lines for {n} printed: {len(missing)} missing (first {missing[:5]}), "
                    f"{dups} duplicated, first out of place at index {bad}")
    reply, msgs = run_cell(kc, "1+1")
    assert reply["content"]["status"] == "ok"
    results = [m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"]
    assert results == ["2"]
