"""Tests of complete_request: live-namespace completions, their types, jedi's fallback."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import unittest
from typing import Any

import harness
from harness import execute, request
from IPython.core import completerlib
from wasmpy_kernel import completion

SETUP = """\
import os, json, collections
cd = {'alpha': 1, 'beta': 2}
class CK:
    zattr = 3
    getter_runs = 0
    @property
    def prop(self):
        CK.getter_runs += 1
        return 1
    def meth(self, xarg, yarg=1):
        pass
ck = CK()
def my_unique_fn(a, b=2):
    pass
"""


def setUpModule() -> None:
    harness.setup()
    reply, _ = execute(SETUP)
    assert reply["status"] == "ok", reply
    with open("cmpl_file.txt", "w") as f:
        f.write("x")


def complete(code: str, cursor_pos: int | None = None) -> dict[str, Any]:
    reply, events = request("complete", {"code": code, "cursor_pos": len(code) if cursor_pos is None else cursor_pos})
    assert events == [], events  # no traceback of a failing matcher, no warning
    return reply


def origins(code: str) -> set[str]:
    """Which matchers answered (the kernel's completer, called directly)."""
    completer = harness.setup().shell.Completer
    return {c._origin for c in completer.complete_cell(code, len(code))}


class CompleteTest(unittest.TestCase):
    def test_cases(self) -> None:
        # (code, a match, its type, its signature or None for any, length of the token replaced)
        cases = [
            ("import os\nos.pa", "path", "module", "", 2),
            ("import os\nos.pa", "pathconf", "function", None, 2),
            ("import os\nos.pa", "pardir", "instance", "", 2),
            ("ck.me", "meth", "function", "(xarg, yarg=1)", 2),
            ("CK.me", "meth", "function", "(self, xarg, yarg=1)", 2),
            ("ck.", "zattr", "instance", "", 0),
            ("ck.pro", "prop", "instance", "", 3),
            ("collections.Ord", "OrderedDict", "class", "", 3),
            ("'abc'.upper().low", "lower", "function", None, 3),
            ("cd['alpha'].bit_l", "bit_length", "function", None, 5),
            ("cd['al", "alpha", "dict key", "", 2),
            ("import jso", "json", "module", "", 3),
            ("from os import pa", "path", "module", "", 2),
            ("from os import pa", "pathconf", "function", None, 2),
            ("%tim", "%timeit", "magic", "", 4),
            ("ck.meth(xa", "xarg=", "param", "", 2),
            ("whil", "while", "keyword", "", 4),
            ("my_unique", "my_unique_fn", "function", "(a, b=2)", 9),
            ("x = my_unique", "my_unique_fn", "function", "(a, b=2)", 9),
            ("pri", "print", "function", None, 3),
            ("Value", "ValueError", "class", "", 5),
            ("open('cmpl_fi", "cmpl_file.txt", "path", "", 7),
            # Names the cell binds before the cursor, not run yet.
            ("def fn(alpha_p):\n    return alpha", "alpha_p", "param", "", 5),
            ("zz_new = 1\nzz_n", "zz_new", "statement", "", 4),
            ("class Newk:\n    pass\nNew", "Newk", "class", "", 3),
            ("import textwrap as tw_alias\ntw_al", "tw_alias", "module", "", 5),
        ]
        for code, text, type_, sig, n in cases:
            with self.subTest(code=code, text=text):
                reply = complete(code)
                self.assertEqual(reply["status"], "ok")
                self.assertIn(text, reply["matches"])
                self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (len(code) - n, len(code)))
                types = reply["metadata"]["_jupyter_types_experimental"]
                self.assertEqual([t["text"] for t in types], reply["matches"])
                item = types[reply["matches"].index(text)]
                self.assertEqual(item["type"], type_)
                self.assertEqual((item["start"], item["end"]), (len(code) - n, len(code)))
                if sig is None:
                    self.assertTrue(item["signature"].startswith("("), item)
                else:
                    self.assertEqual(item["signature"], sig)

    def test_no_private_names_after_dot(self) -> None:
        matches = complete("ck.")["matches"]
        self.assertEqual(sorted(matches), ["getter_runs", "meth", "prop", "zattr"])
        self.assertIn("__init__", complete("ck.__in")["matches"])

    def test_order(self) -> None:
        # Keyword arguments first, then names regardless of case (as jedi), magics among them.
        execute("def order_fn(zeta, alpha): pass\nclass OrderC:\n    Beta = alpha = Gamma = 1\norder_c = OrderC()")
        matches = complete("order_fn(")["matches"]
        self.assertEqual(matches[:2], ["alpha=", "zeta="])
        self.assertEqual(complete("order_c.")["matches"], ["alpha", "Beta", "Gamma"])
        self.assertEqual(complete("os.getcwd")["matches"], ["getcwd", "getcwdb"])

    def test_cursor_inside_the_code(self) -> None:
        reply = complete("os.pa + 1", 5)
        self.assertIn("path", reply["matches"])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (3, 5))

    def test_properties_are_not_run(self) -> None:
        before = execute("CK.getter_runs")[0]
        complete("ck.")
        complete("ck.pr")
        reply, events = execute("print(CK.getter_runs)")
        self.assertEqual(harness.stream_text(events, "stdout"), "0\n", before)

    def test_live_names_need_no_jedi(self) -> None:
        for code in ("import os\nos.pa", "ck.me", "cd['al", "pri", "'abc'.upper().low", "import jso"):
            with self.subTest(code=code):
                found = origins(code)
                self.assertTrue(found)
                self.assertNotIn("jedi", found)

    def test_jedi_when_the_expression_cannot_be_evaluated(self) -> None:
        cases = [
            # An import not run yet, of a module not loaded.
            ("import tabnanny as tn_never_run\ntn_never_run.proc", "process_tokens"),
            # A call the "limited" policy refuses: not the "()" of it.
            ("import os\nos.getcwd().upp", "upper"),
            # A name the cell assigns, not run yet.
            ("new_list = [1, 2]\nnew_list.app", "append"),
        ]
        for code, text in cases:
            with self.subTest(code=code):
                self.assertEqual(origins(code), {"jedi"})
                reply = complete(code)
                self.assertIn(text, reply["matches"])
                self.assertEqual(reply["cursor_end"] - reply["cursor_start"], len(code) - len(code.rstrip("abcdefghijklmnopqrstuvwxyz_")))
                types = reply["metadata"]["_jupyter_types_experimental"]
                self.assertEqual(types[reply["matches"].index(text)]["type"], "function")

    def test_imports_of_loaded_modules_need_no_jedi(self) -> None:
        # Not run, but the modules are loaded: their live attributes, as the
        # names will be bound when the cell runs (shadowing the namespace's).
        import colorsys  # noqa: F401  (loaded, not in the user's namespace)

        cases = [
            ("import os as os_never_run\nos_never_run.pa", "path"),
            ("import os.path\nos.path.jo", "join"),
            ("from os import path as p_never_run\np_never_run.jo", "join"),
            ("from collections import (OrderedDict as OD_never_run,)\nOD_never_run.from", "fromkeys"),
            ("import colorsys as cd\ncd.rgb_to", "rgb_to_hsv"),  # cd is a dict in the namespace
        ]
        for code, text in cases:
            with self.subTest(code=code):
                self.assertIn(text, complete(code)["matches"])
                self.assertEqual(origins(code) & {"jedi"}, set())

    def test_imported_names(self) -> None:
        import collections
        import os.path

        self.assertEqual(completion.imported("import os, json as j  # c\nfrom os import path, nope\nimport never_loaded_x\n"),
                         {"os": os, "j": sys.modules["json"], "path": os.path})
        # A parenthesized list's first line only.
        self.assertEqual(completion.imported("from collections import (deque,\n  defaultdict)"), {"deque": collections.deque})
        self.assertEqual(completion.imported("from collections import (deque)"), {"deque": collections.deque})
        self.assertEqual(completion.imported("from . import x\nimport a as\nimport os.path as op"), {"op": os.path})

    def test_no_jedi_when_the_object_has_no_such_attribute(self) -> None:
        self.assertEqual(complete("ck.zzz")["matches"], [])
        self.assertEqual(origins("ck.zzz"), set())

    def test_use_jedi_false_is_obeyed(self) -> None:
        execute("%config IPCompleter.use_jedi = False")
        try:
            self.assertEqual(complete("import tabnanny as tn_off\ntn_off.proc")["matches"], [])
            self.assertIn("path", complete("os.pa")["matches"])
        finally:
            execute("%config IPCompleter.use_jedi = True")
        self.assertIn("dedent", complete("import textwrap as tw_on\ntw_on.ded")["matches"])

    def test_nothing_found(self) -> None:
        reply = complete("zzqqxx_nope")
        self.assertEqual(reply["matches"], [])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (11, 11))

    def test_fast(self) -> None:
        # jedi took 2-20 ms natively (170 ms in wasm) for these; the live namespace well under.
        for code in ("import os\nos.pa", "ck.me", "pri"):
            complete(code)
            start = time.perf_counter()
            for _ in range(5):
                complete(code)
            self.assertLess((time.perf_counter() - start) / 5, 0.05, code)


class BoundNamesTest(unittest.TestCase):
    def test_table(self) -> None:
        cases = [
            ("x = 1", {"x": "statement"}),
            ("a, b = 1, 2", {"a": "statement", "b": "statement"}),
            ("a = b = 3", {"a": "statement", "b": "statement"}),
            ("x: int = 1", {"x": "statement"}),
            ("def f(p, q=r, *args, k: int, **kw): pass", {"f": "function", "p": "param", "q": "param",
                                                          "args": "param", "k": "param", "kw": "param"}),
            ("class C(Base):\n    attr = 1", {"C": "class", "attr": "statement"}),
            ("import a.b, c as d", {"a": "module", "d": "module"}),
            ("from m import (x, y as z)", {"x": "statement", "z": "statement"}),
            ("for i, (j, k) in pairs: pass", {"i": "statement", "j": "statement", "k": "statement"}),
            ("with open(p) as fh: pass", {"fh": "statement"}),
            ("if (n := 3): pass", {"n": "statement"}),
            ("sq = [z * z for z in r]", {"sq": "statement", "z": "statement"}),
            ("f = lambda u, v=1: u", {"f": "statement", "u": "param", "v": "param"}),
            ("g(x=1)\nobj.attr = 2\nd[k] = 3\nx == y\nx += 1", {}),
            ("foo(a, b", {}),
            ("s = 'unterminated\nt = 1", {"s": "statement"}),
            ("if ok: flag = 1\nelse: flag = 2", {"flag": "statement"}),
            # IPython's syntax does not stop the scan.
            ("%time y = 2\n!ls\nw = 1", {"w": "statement"}),
        ]
        for code, want in cases:
            with self.subTest(code=code):
                self.assertEqual(completion.bound_names(code), want)


class RootModulesTest(unittest.TestCase):
    def test_cached_while_the_directory_stays(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            sys.path.insert(0, d)
            calls: list[str] = []
            real = completerlib.module_list
            completerlib.module_list = lambda path: calls.append(path) or real(path)  # type: ignore[assignment]
            try:
                self.assertNotIn("cmpl_new_mod", completion.root_modules())
                calls.clear()
                completion.root_modules()
                self.assertEqual(calls, [])
                with open(os.path.join(d, "cmpl_new_mod.py"), "w") as f:
                    f.write("")
                os.utime(d, ns=(0, os.stat(d).st_mtime_ns + 1_000_000))
                self.assertIn("cmpl_new_mod", completion.root_modules())
                self.assertEqual(calls, [d])
            finally:
                completerlib.module_list = real  # type: ignore[assignment]
                sys.path.remove(d)


if __name__ == "__main__":
    unittest.main()
