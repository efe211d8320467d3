"""The kernel's behaviour through jupyter_client, on the real interpreter."""

from __future__ import annotations

import re
import time

import pytest
from conftest import run_cell, stdout_of


def test_kernel_info(kernel):
    _, kc = kernel
    kc.kernel_info()
    reply = kc.get_shell_msg(timeout=10)["content"]
    assert reply["implementation"] == "wasmpy"
    assert reply["protocol_version"] == "5.5"
    li = reply["language_info"]
    assert li["name"] == "python" and li["version"].startswith("3.13")
    assert li["pygments_lexer"] == "ipython3" and li["file_extension"] == ".py"


def test_execute_state_and_result(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "import sys\nx = 20\nprint('platform', sys.platform)\nx * 2 + 2")
    assert reply["content"]["status"] == "ok"
    assert stdout_of(msgs) == "platform wasi\n"
    results = [m for m in msgs if m["msg_type"] == "execute_result"]
    assert results and results[0]["content"]["data"]["text/plain"] == "42"
    types = [m["msg_type"] for m in msgs]
    assert types[0] == "status" and types[1] == "execute_input" and types[-1] == "status"
    reply2, msgs2 = run_cell(kc, "x")
    assert [m for m in msgs2 if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"] == "20"
    assert reply2["content"]["execution_count"] == reply["content"]["execution_count"] + 1


def test_error_traceback_and_kernel_survives(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "def f():\n    1/0\nf()")
    c = reply["content"]
    assert c["status"] == "error" and c["ename"] == "ZeroDivisionError"
    err = [m for m in msgs if m["msg_type"] == "error"][0]["content"]
    assert any("\x1b[" in line for line in err["traceback"]), "traceback should be coloured"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(err["traceback"]))
    assert "1/0" in plain and "f()" in plain, plain
    reply, msgs = run_cell(kc, "print('still here')")
    assert stdout_of(msgs) == "still here\n"


def test_rich_display_and_update(kernel):
    _, kc = kernel
    code = (
        "from IPython.display import display, HTML\n"
        "display(HTML('<b>bold</b>'))\n"
        "h = display('v1', display_id='abc')\n"
        "h.update('v2')\n"
    )
    reply, msgs = run_cell(kc, code)
    assert reply["content"]["status"] == "ok"
    dd = [m for m in msgs if m["msg_type"] == "display_data"]
    assert dd[0]["content"]["data"]["text/html"] == "<b>bold</b>"
    assert dd[1]["content"]["transient"]["display_id"] == "abc"
    upd = [m for m in msgs if m["msg_type"] == "update_display_data"]
    assert upd and upd[0]["content"]["data"]["text/plain"] == "'v2'"


@pytest.mark.parametrize("wait", [
    "time.sleep(1.5)",  # blocked in the host
    "t = time.monotonic()\nwhile time.monotonic() - t < 1.5:\n    pass",  # running Python
    "import asyncio\nawait asyncio.sleep(1.5)",  # awaiting on the event loop
])
def test_streaming_while_running(kernel, wait):
    """stdout is block-buffered in the sandbox, yet a line printed before a
    long wait or computation shows while the cell runs, without flush=True."""
    _, kc = kernel
    msg_id = kc.execute(f"import time\nprint('early')\n{wait}\nprint('late')")
    while True:
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
            break
    early = time.monotonic()
    assert m["content"]["text"] == "early\n"
    reply = kc.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert time.monotonic() - early > 1.2, "stdout must arrive while the cell runs, not at its end"


def test_output_order_with_js_console(kernel):
    """JS console output and Python's buffered prints come out in the order
    they happened, also from Python called back by JS."""
    _, kc = kernel
    code = (
        "import js, sys\n"
        "from pyodide.ffi import create_proxy\n"
        "print('a')\n"
        "js.console.log('b')\n"
        "print('c', end='')\n"
        "f = create_proxy(lambda: print('e'))\n"
        "js.eval('(f) => { console.log(\"d\"); f(); console.log(\"f\") }')(f)\n"
        "sys.stdout.write('g\\n')\n"
    )
    reply, msgs = run_cell(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout_of(msgs) == "a\nb\ncd\ne\nf\ng\n"


def test_background_task_prints_to_its_cell(kernel):
    """What a task prints goes to the cell that created it (its parent
    header), as in ipykernel: while another cell runs, and while idle."""
    _, kc = kernel
    first = kc.execute(
        "import asyncio\n"
        "async def ticker():\n"
        "    for i in range(3):\n"
        "        await asyncio.sleep(0.3)\n"
        "        print('tick', i)\n"
        "task = asyncio.create_task(ticker())\n"
        "print('started')"
    )
    kc.get_shell_msg(timeout=30)
    second = kc.execute("import time\nprint('second')\nawait asyncio.sleep(0.45)\nprint('second done')")
    kc.get_shell_msg(timeout=30)
    text: dict[str, str] = {first: "", second: ""}
    deadline = time.monotonic() + 10
    while "tick 2" not in text[first] and time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=1)
        except Exception:
            continue
        mid = m["parent_header"].get("msg_id")
        if m["msg_type"] == "stream" and mid in text:
            text[mid] += m["content"]["text"]
    assert text[first] == "started\ntick 0\ntick 1\ntick 2\n"
    assert text[second] == "second\nsecond done\n"


def test_many_lines_delivered_in_order(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "for i in range(100000):\n    print(i)", timeout=60)
    text = stdout_of(msgs)
    assert text == "".join(f"{i}\n" for i in range(100000))
    streams = [m for m in msgs if m["msg_type"] == "stream"]
    assert len(streams) < 2000, f"{len(streams)} stream messages: output is not coalesced"


def test_interrupt_running_loop(kernel):
    km, kc = kernel
    msg_id = kc.execute("while True:\n    pass")
    time.sleep(1.0)
    start = time.monotonic()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - start < 2
    assert_only_cell_frames(reply["content"]["traceback"])
    reply, msgs = run_cell(kc, "print('after')")
    assert stdout_of(msgs) == "after\n"


def assert_only_cell_frames(traceback: list[str]) -> None:
    """As in ipykernel, an interrupted cell's traceback ends at the cell's
    line: no frame of the kernel's own (its SIGINT handler, its host calls)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback))
    assert "Cell In[" in text, text
    assert "File /" not in text, text


def test_interrupt_c_code_that_never_checks_signals(kernel):
    """A C loop that never returns to Python cannot take KeyboardInterrupt:
    the kernel gives the interpreter up, says so, and keeps serving from a
    new one, through long cells and collections (while the old code still
    runs in the background), and then shuts down."""
    km, kc = kernel
    msg_id = kc.execute("x = sum(range(10**13))")  # hours of C
    time.sleep(1.0)
    start = time.monotonic()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["ename"] == "InterpreterCrashed", reply["content"]
    assert "restart the kernel" in reply["content"]["evalue"]
    assert time.monotonic() - start < 3
    for code, want in [
        ("n = 0\nwhile n < 4_000_000: n += 1\nprint(n)", "4000000\n"),  # ticks ask for collections
        ("import gc; print(gc.collect() >= 0)", "True\n"),
        ("print('x' in globals())", "False\n"),
    ]:
        _, msgs = run_cell(kc, code, timeout=60)
        assert stdout_of(msgs) == want, code
    assert kc.is_alive()
    kc.shutdown()
    deadline = time.monotonic() + 15
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not km.is_alive(), "the kernel did not exit on shutdown_request"


def test_interrupt_sleep(kernel):
    km, kc = kernel
    kc.execute("import time\ntime.sleep(60)")
    time.sleep(0.5)
    start = time.monotonic()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - start < 2
    assert_only_cell_frames(reply["content"]["traceback"])


def test_input_round_trip(kernel):
    _, kc = kernel
    msg_id = kc.execute("name = input('who? ')\nprint('hello', name)", allow_stdin=True)
    req = kc.get_stdin_msg(timeout=10)
    assert req["msg_type"] == "input_request" and req["content"]["prompt"] == "who? "
    kc.input("wasm")
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok"
    _, msgs = run_cell(kc, "print(name)")
    assert stdout_of(msgs) == "wasm\n"


def test_js_timers_run_while_input_waits(kernel):
    """input() blocks the cell, not the kernel's event loop: a JS interval
    keeps ticking until the front end replies."""
    _, kc = kernel
    code = (
        "import js\n"
        "js.eval('globalThis.n = 0; globalThis.iv = setInterval(() => { n += 1 }, 10)')\n"
        "answer = input('wait: ')\n"
        "print(answer, js.n >= 10)\n"
        "js.clearInterval(js.iv)\n"
    )
    msg_id = kc.execute(code, allow_stdin=True)
    req = kc.get_stdin_msg(timeout=10)
    assert req["content"]["prompt"] == "wait: "
    time.sleep(0.4)
    kc.input("ok")
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok", reply["content"]
    _, msgs = run_cell(kc, "print(answer, js.n >= 10)")
    assert stdout_of(msgs) == "ok True\n"


def test_stdin_not_allowed(kernel):
    _, kc = kernel
    reply, _ = run_cell(kc, "input('x')", allow_stdin=False)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StdinNotImplementedError"


def test_complete_inspect_is_complete(kernel):
    _, kc = kernel
    run_cell(kc, "import collections\nmy_variable = 1")
    kc.complete("my_var", 6)
    c = kc.get_shell_msg(timeout=30)["content"]
    assert "my_variable" in c["matches"]
    kc.inspect("collections.OrderedDict", 10, detail_level=0)
    c = kc.get_shell_msg(timeout=30)["content"]
    assert c["found"] and "OrderedDict" in c["data"]["text/plain"]
    kc.is_complete("for i in range(3):")
    c = kc.get_shell_msg(timeout=10)["content"]
    assert c["status"] == "incomplete" and c["indent"] == "    "
    kc.is_complete("x = (")
    assert kc.get_shell_msg(timeout=10)["content"]["status"] == "incomplete"
    kc.is_complete("1 +* 2")
    assert kc.get_shell_msg(timeout=10)["content"]["status"] == "invalid"


def test_sandbox_refusals(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "!ls /")
    text = stdout_of(msgs) + stdout_of(msgs, "stderr") + str(reply["content"].get("evalue", ""))
    assert "sandbox" in text.lower()
    reply, msgs = run_cell(kc, "open('/etc/passwd').read()")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] in ("FileNotFoundError", "PermissionError")


def test_magics(kernel):
    _, kc = kernel
    reply, msgs = run_cell(kc, "%%writefile hello.txt\nhi from a magic\n")
    assert reply["content"]["status"] == "ok"
    _, msgs = run_cell(kc, "print(open('hello.txt').read().strip())\n%time sum(range(1000))")
    assert "hi from a magic" in stdout_of(msgs)
    assert "Wall time" in stdout_of(msgs)


def test_restart_gives_fresh_interpreter(kernel):
    km, kc = kernel
    run_cell(kc, "secret = 1")
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=30)
    reply, _ = run_cell(kc, "secret")
    assert reply["content"]["ename"] == "NameError"


def test_crash_recovery(kernel):
    _, kc = kernel
    reply, _ = run_cell(kc, "import faulthandler\nfaulthandler._sigabrt()")
    assert reply["content"]["status"] == "error"
    reply, msgs = run_cell(kc, "print('fresh interpreter')")
    assert reply["content"]["status"] == "ok"
    assert stdout_of(msgs) == "fresh interpreter\n"


def test_comm_buffers_from_the_front_end(kernel):
    _, kc = kernel
    setup = (
        "import comm\ngot = []\n"
        "def target(c, msg):\n"
        "    got.append(('open', [bytes(b) for b in msg['buffers']]))\n"
        "    c.on_msg(lambda m: got.append(('msg', [bytes(b) for b in m['buffers']])))\n"
        "comm.get_comm_manager().register_target('probe', target)\n"
    )
    run_cell(kc, setup)
    msg = kc.session.msg("comm_open", {"comm_id": "c1", "target_name": "probe", "data": {}})
    kc.session.send(kc.shell_channel.socket, msg, buffers=[b"\x00\x01\x02"])
    msg = kc.session.msg("comm_msg", {"comm_id": "c1", "data": {"x": 1}})
    kc.session.send(kc.shell_channel.socket, msg, buffers=[b"abc", b"de"])
    _, msgs = run_cell(kc, "print(got)")
    assert stdout_of(msgs) == "[('open', [b'\\x00\\x01\\x02']), ('msg', [b'abc', b'de'])]\n"


def test_kernels_restored_from_the_start_up_snapshot(tmp_path):
    """The installed kernel starts from a snapshot of an initialised
    interpreter (made at install or by the first kernel); each restored
    kernel is fresh and has its own random state and scratch directory."""
    import tempfile

    from jupyter_client.manager import KernelManager

    from conftest import KERNEL, TIMEOUT

    values, logs = [], []
    for _ in range(2):
        km = KernelManager(kernel_name=KERNEL)
        log = tempfile.NamedTemporaryFile(dir=tmp_path, suffix=".log", delete=False)
        km.start_kernel(extra_arguments=["--log-level", "debug"], stderr=log)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=TIMEOUT)
            reply, msgs = run_cell(kc, "import random, os\nprint(random.random(), 'mine.txt' in os.listdir('.'), 'x' in globals())")
            assert reply["content"]["status"] == "ok"
            values.append(stdout_of(msgs))
            run_cell(kc, "x = 1\nopen('mine.txt', 'w').write('a')")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=False)
            log.close()
        logs.append(open(log.name, errors="replace").read())
    # Kernel start-up made or reused the snapshot; the second start used it.
    assert "interpreter ready (restored from a snapshot)" in logs[1], logs[1][-3000:]
    rand = [v.split()[0] for v in values]
    assert rand[0] != rand[1], values
    for v in values:
        assert v.split()[1:] == ["False", "False"], values  # own home, fresh namespace


def test_time_sleep_lets_js_timers_run(kernel):
    """time.sleep blocks the cell, while the kernel's loop serves JS timers,
    including ones that call back into Python (as Pyodide with JSPI would)."""
    _, kc = kernel
    code = (
        "import time, js\n"
        "from pyodide.ffi import create_proxy\n"
        "ticks = []\n"
        "js.eval('globalThis.n = 0; setTimeout(() => { n += 1 }, 20)')\n"
        "js.setTimeout(create_proxy(lambda: ticks.append(js.n)), 60)\n"
        "time.sleep(0.3)\n"
        "print(js.n, ticks)\n"
    )
    reply, msgs = run_cell(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout_of(msgs) == "1 [1]\n"


def test_ipywidgets_round_trip(kernel):
    """ipywidgets (from the runtime's packages) over comms: the models open,
    the front end's update reaches Python, Python's change reaches the front
    end, and an Output widget claims what is printed inside it."""
    _, kc = kernel
    reply, msgs = run_cell(kc, "import ipywidgets as w\ns = w.IntSlider(value=3)\ns")
    assert reply["content"]["status"] == "ok", reply["content"]
    opened = {m["content"]["data"]["state"]["_model_name"]: m["content"] for m in msgs if m["msg_type"] == "comm_open"}
    assert opened["IntSliderModel"]["target_name"] == "jupyter.widget"
    assert opened["IntSliderModel"]["data"]["state"]["value"] == 3
    result = [m for m in msgs if m["msg_type"] == "execute_result"][0]["content"]["data"]
    assert result["application/vnd.jupyter.widget-view+json"]["model_id"] == opened["IntSliderModel"]["comm_id"]

    update = {"method": "update", "state": {"value": 7}, "buffer_paths": []}
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": opened["IntSliderModel"]["comm_id"], "data": update}))
    deadline = time.monotonic() + 10
    while True:
        _, msgs = run_cell(kc, "print(s.value)")
        if stdout_of(msgs) == "7\n" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert stdout_of(msgs) == "7\n"

    _, msgs = run_cell(kc, "s.value = 9")
    assert [m["content"]["data"]["state"] for m in msgs if m["msg_type"] == "comm_msg"] == [{"value": 9}]

    _, msgs = run_cell(kc, "out = w.Output()\nwith out:\n    print('inside')")
    seq = [(m["msg_type"], m["content"]["data"]["state"].get("msg_id") if m["msg_type"] == "comm_msg" else m["content"].get("text"))
           for m in msgs if m["msg_type"] in ("comm_msg", "stream")]
    cell = msgs[0]["parent_header"]["msg_id"]
    assert seq == [("comm_msg", cell), ("stream", "inside\n"), ("comm_msg", "")]
