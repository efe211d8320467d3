"""complete_request through jupyter_client: what ipykernel offers, and fast."""

from __future__ import annotations

import statistics
import time

from conftest import run_cell


def complete(kc, code: str, cursor_pos: int | None = None) -> dict:
    msg_id = kc.complete(code, len(code) if cursor_pos is None else cursor_pos)
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def typed(reply: dict) -> dict[str, tuple[str, int, int]]:
    return {t["text"]: (t["type"], t["start"], t["end"]) for t in reply["metadata"]["_jupyter_types_experimental"]}


def test_completions_as_ipykernel(kernel):
    _, kc = kernel
    reply, _ = run_cell(kc, "import os\nd = {'alpha': 1}\nclass K:\n    def meth(self, xarg): pass\nk = K()")
    assert reply["content"]["status"] == "ok"
    cases = [
        # (code, match, type, length of the token replaced)
        ("import os\nos.pa", "path", "module", 2),
        ("import os\nos.pa", "pathconf", "function", 2),
        ("k.me", "meth", "function", 2),
        ("k.meth(xa", "xarg=", "param", 2),
        ("d['al", "alpha", "dict key", 2),
        ("import jso", "json", "module", 3),
        ("%tim", "%timeit", "magic", 4),
        ("'abc'.upper().low", "lower", "function", 3),
        ("def f(alpha_p):\n    return alpha", "alpha_p", "param", 5),
        # Not run: only jedi knows (the fallback).
        ("import textwrap as tw_new\ntw_new.ded", "dedent", "function", 3),
    ]
    for code, text, type_, n in cases:
        reply = complete(kc, code)
        assert reply["status"] == "ok", code
        assert text in reply["matches"], (code, reply["matches"])
        assert (reply["cursor_start"], reply["cursor_end"]) == (len(code) - n, len(code)), code
        assert typed(reply)[text] == (type_, len(code) - n, len(code)), code
    sig = {t["text"]: t["signature"] for t in complete(kc, "k.me")["metadata"]["_jupyter_types_experimental"]}
    assert sig["meth"] == "(xarg)"


def test_complete_is_fast(kernel):
    _, kc = kernel
    run_cell(kc, "import os")
    code = "import os\nos.pa"
    complete(kc, code)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        assert "path" in complete(kc, code)["matches"]
        times.append(time.perf_counter() - start)
    # jedi took ~170 ms here; the live namespace answers in a few.
    assert statistics.median(times) < 0.06, times
