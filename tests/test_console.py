"""`jupyter console --kernel wasmpy` in tmux, read from the screen as a person
would: a cell, a coloured traceback, input(), Ctrl-C on a running loop, exit."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import time
import uuid

import pytest
from conftest import ARTIFACTS, KERNEL

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux missing (apt package tmux)")


class Screen:
    def __init__(self) -> None:
        self.name = "wasmpy-" + uuid.uuid4().hex[:8]
        self.recovered = 0
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50",
                        "jupyter", "console", "--kernel", KERNEL], check=True)

    def text(self, escapes: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-S", "-200", "-t", self.name] + (["-e"] if escapes else [])
        return subprocess.run(args, capture_output=True, text=True).stdout

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True).returncode == 0

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, line: str) -> None:
        self.keys("-l", line)
        self.keys("Enter")

    def wait_for(self, needle: str, timeout: float = 30, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if screen.count(needle) >= count:
                return screen
            self.recover(screen)
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} (x{count}) not on screen after {timeout}s:\n{self.text()}")

    # Debian's jupyter-console 6.4.4 on Python 3.11 now and then fails in its
    # own event loop ("cannot enter context: ... is already entered", then
    # "Press ENTER to continue..."), mostly under load and with keys typed
    # ahead: a client bug, seen with an older wasmpy as well. The session
    # goes on after Enter, as a person would press it.
    CLIENT_BUG = "Press ENTER to continue..."

    def recover(self, screen: str) -> None:
        seen = screen.count(self.CLIENT_BUG)
        if seen > self.recovered:
            self.recovered = seen
            print(f"jupyter console hit its event-loop bug ({seen}); pressing Enter")
            self.keys("Enter")

    def close(self) -> None:
        if self.alive():
            (ARTIFACTS / "console-screen.txt").write_text(self.text())
    def kill(self) -> None:
        if self.alive():
            subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def interrupt_newest_kernel(since: float) -> None:
    from jupyter_client.blocking.client import BlockingKernelClient
    from jupyter_core.paths import jupyter_runtime_dir

    files = [p for p in pathlib.Path(jupyter_runtime_dir()).glob("kernel-*.json") if p.stat().st_mtime >= since]
    assert files, "no connection file for the console's kernel"
    kc = BlockingKernelClient(connection_file=str(max(files, key=lambda p: p.stat().st_mtime)))
    kc.load_connection_file()
    kc.start_channels()
    try:
        msg = kc.session.msg("interrupt_request", {})
        kc.control_channel.send(msg)
        reply = kc.get_control_msg(timeout=10)
        assert reply["msg_type"] == "interrupt_reply"
    finally:
        kc.stop_channels()


def test_console_session():
    started = time.time() - 1
    s = Screen()
    try:
        s.wait_for("In [1]:", timeout=60)
        s.type("print(6 * 7)")
        s.wait_for("42")
        s.wait_for("In [2]:")
        s.type("1/0")
        s.wait_for("ZeroDivisionError")
        assert "\x1b[" in s.text(escapes=True), "the traceback should be coloured"
        s.wait_for("In [3]:")
        s.type("name = input('who are you? ')")
        s.wait_for("who are you?")
        s.type("wasm")
        s.wait_for("In [4]:")
        s.type("print('hello', name)")
        s.wait_for("hello wasm")
        s.wait_for("In [5]:")
        s.type("while True: pass")
        time.sleep(1.5)
        # Debian's jupyter-console 6.4.4 under Python 3.11 does not forward
        # Ctrl-C to the kernel (it shows "KeyboardInterrupt escaped
        # interact()", with ipykernel too), so the interrupt_request it
        # should send goes from a second client on the control channel.
        interrupt_newest_kernel(started)
        s.wait_for("KeyboardInterrupt", timeout=15)
        s.wait_for("In [6]:", timeout=15)
        s.type("print('alive after interrupt')")
        s.wait_for("alive after interrupt")
        s.wait_for("In [7]:")  # typing ahead is what trips the client's bug
        s.close()  # keep the screen as an artifact before leaving
        s.type("exit")
        deadline = time.monotonic() + 20
        while s.alive() and time.monotonic() < deadline:
            if s.alive():
                s.recover(s.text())
            time.sleep(0.2)
        assert not s.alive(), "jupyter console did not exit"
    finally:
        s.kill()
