"""Tests of wasmpy_kernel through the dispatcher, as the host drives it."""

from __future__ import annotations

import base64
import os
import re
import sys
import unittest

import harness
from harness import execute, msgs, request, stream_text

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def setUpModule() -> None:
    harness.setup()


class KernelInfoTest(unittest.TestCase):
    def test_kernel_info(self) -> None:
        reply, events = request("kernel_info", {})
        info = reply["language_info"]
        self.assertEqual(info["name"], "python")
        self.assertEqual(info["version"], sys.version.split()[0])
        self.assertEqual(info["file_extension"], ".py")
        self.assertEqual(info["pygments_lexer"], "ipython3")
        self.assertIn(sys.version, reply["banner"])
        self.assertIn("IPython", reply["banner"])
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(events, [])

    def test_unknown_op(self) -> None:
        reply, _ = request("frobnicate", {})
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "LookupError")

    def test_streams_block_buffered(self) -> None:
        # A line is not a host call each (see _wasmpy_rt.buffer_std)...
        self.assertFalse(sys.stdout.line_buffering)
        self.assertFalse(sys.stderr.line_buffering)
        # ...but a partial line is flushed at the end of the request, and
        # what was printed reaches the host before a message published later.
        _, events = execute("print('partial', end='')")
        self.assertEqual(stream_text(events, "stdout"), "partial")
        _, events = execute("print('before')\nfrom IPython.display import display\ndisplay(1)\nprint('after')")
        kinds = [v[1] if k == "stream" else v["msg_type"] for k, v in events]
        self.assertEqual(kinds, ["execute_input", "before\n", "display_data", "after\n"])

    def test_bad_request(self) -> None:
        reply = harness._wasmpy.strict_loads(harness.send("kernel", b"{not json"))
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "JSONDecodeError")

    def test_no_history_thread(self) -> None:
        kernel = harness.setup()
        self.assertIsNone(kernel.shell.history_manager.save_thread)

    def test_nothing_forbidden_was_tried(self) -> None:
        execute("None")
        self.assertEqual(harness.forbidden_attempts, [])


class ExecuteTest(unittest.TestCase):
    def test_result_and_count(self) -> None:
        reply, events = execute("1 + 1")
        n = reply["execution_count"]
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(reply["user_expressions"], {})
        self.assertEqual(reply["payload"], [])
        inp, res = msgs(events)
        self.assertEqual(inp, {"msg_type": "execute_input", "content": {"code": "1 + 1", "execution_count": n},
                               "metadata": {}})
        self.assertEqual(res["msg_type"], "execute_result")
        self.assertEqual(res["content"], {"execution_count": n, "data": {"text/plain": "2"}, "metadata": {}})
        reply2, _ = execute("None")
        self.assertEqual(reply2["execution_count"], n + 1)

    def test_stream_and_display_order(self) -> None:
        reply, events = execute("print('a', end='')\ndisplay('b')\nprint('c')\nimport sys; print('e', file=sys.stderr)")
        self.assertEqual(reply["status"], "ok")
        kinds = [(k, v[0] if k == "stream" else v["msg_type"]) for k, v in events]
        self.assertEqual(
            kinds,
            [("emit", "execute_input"), ("stream", "stdout"), ("emit", "display_data"), ("stream", "stdout"),
             ("stream", "stderr")],
        )
        self.assertEqual(events[1][1][1], "a")
        self.assertEqual(msgs(events, "display_data")[0]["content"],
                         {"data": {"text/plain": "'b'"}, "metadata": {}, "transient": {}})

    def test_error(self) -> None:
        reply, events = execute("def f():\n    return 1/0\nf()")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "ZeroDivisionError")
        self.assertEqual(reply["evalue"], "division by zero")
        self.assertEqual(reply["user_expressions"], {})
        (err,) = msgs(events, "error")
        self.assertEqual(err["content"]["traceback"], reply["traceback"])
        tb = "\n".join(reply["traceback"])
        self.assertRegex(tb, ANSI)  # coloured as ipykernel's
        plain = ANSI.sub("", tb)
        self.assertIn("ZeroDivisionError", plain)
        self.assertIn("return 1/0", plain)
        self.assertEqual(msgs(events, "execute_result"), [])

    def test_syntax_error(self) -> None:
        reply, events = execute("x = )")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "SyntaxError")
        self.assertEqual(len(msgs(events, "error")), 1)
        # As with ipykernel on 3.13, codeop's flag makes an unfinished cell this SyntaxError subclass.
        reply, _ = execute("x = (")
        self.assertIn(reply["ename"], ("SyntaxError", "_IncompleteInputError"))

    def test_keyboard_interrupt_in_user_code(self) -> None:
        reply, _ = execute("raise KeyboardInterrupt")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt")

    def test_silent(self) -> None:
        before, _ = execute("None")
        reply, events = execute("print('quiet'); 42", silent=True, store_history=False)
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(reply["execution_count"], before["execution_count"])
        self.assertEqual(msgs(events), [])
        self.assertEqual(stream_text(events, "stdout"), "quiet\n")

    def test_store_history_false(self) -> None:
        before, _ = execute("None")
        reply, events = execute("7", store_history=False)
        self.assertEqual(reply["execution_count"], before["execution_count"])
        self.assertEqual(msgs(events, "execute_input")[0]["content"]["execution_count"],
                         before["execution_count"] + 1)

    def test_user_expressions(self) -> None:
        reply, _ = execute("zz = 20", user_expressions={"a": "zz + 1", "b": "1/0"})
        ue = reply["user_expressions"]
        self.assertEqual(ue["a"], {"status": "ok", "data": {"text/plain": "21"}, "metadata": {}})
        self.assertEqual(ue["b"]["status"], "error")
        self.assertEqual(ue["b"]["ename"], "ZeroDivisionError")

    def test_rich_repr(self) -> None:
        code = """
class Rich:
    def _repr_html_(self): return '<b>x</b>'
    def _repr_markdown_(self): return '**x**'
    def _repr_json_(self): return {'k': [1, 2]}
    def _repr_latex_(self): return '$x$'
    def _repr_svg_(self): return '<svg></svg>'
    def _repr_png_(self): return b'\\x89PNG\\r\\n\\x1a\\nfake'
    def _repr_javascript_(self): return 'void 0'
    def __repr__(self): return 'Rich()'
Rich()
"""
        reply, events = execute(code)
        self.assertEqual(reply["status"], "ok")
        data = msgs(events, "execute_result")[0]["content"]["data"]
        self.assertEqual(data["text/plain"], "Rich()")
        self.assertEqual(data["text/html"], "<b>x</b>")
        self.assertEqual(data["text/markdown"], "**x**")
        self.assertEqual(data["application/json"], {"k": [1, 2]})
        self.assertEqual(data["text/latex"], "$x$")
        self.assertEqual(data["image/svg+xml"], "<svg></svg>")
        self.assertEqual(base64.b64decode(data["image/png"]), b"\x89PNG\r\n\x1a\nfake")
        self.assertEqual(data["application/javascript"], "void 0")

    def test_nan_is_strict_json(self) -> None:
        reply, events = execute("from IPython.display import JSON, display\ndisplay({'application/json': {'v': float('nan')}}, raw=True)")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(msgs(events, "display_data")[0]["content"]["data"]["application/json"], {"v": "nan"})

    def test_display_id_and_clear_output(self) -> None:
        code = ("h = display('one', display_id=True)\nh.update('two')\n"
                "from IPython.display import clear_output\nclear_output(wait=True)")
        reply, events = execute(code)
        self.assertEqual(reply["status"], "ok")
        shown, updated = msgs(events, "display_data")[0], msgs(events, "update_display_data")[0]
        did = shown["content"]["transient"]["display_id"]
        self.assertTrue(did)
        self.assertEqual(updated["content"]["transient"], {"display_id": did})
        self.assertEqual(updated["content"]["data"], {"text/plain": "'two'"})
        self.assertEqual(msgs(events, "clear_output")[0]["content"], {"wait": True})

    def test_semicolon_suppresses_result(self) -> None:
        _, events = execute("1 + 1;")
        self.assertEqual(msgs(events, "execute_result"), [])

    def test_set_next_input_payload(self) -> None:
        reply, _ = execute("get_ipython().set_next_input('hello', replace=True)")
        self.assertEqual(reply["payload"], [{"source": "set_next_input", "text": "hello", "replace": True}])
        reply2, _ = execute("None")
        self.assertEqual(reply2["payload"], [])

    def test_help_is_page_payload(self) -> None:
        for code in ("len?", "len??", "?len"):
            reply, _ = execute(code)
            self.assertEqual(reply["status"], "ok", code)
            (payload,) = reply["payload"]
            self.assertEqual(payload["source"], "page")
            self.assertIn("text/plain", payload["data"])
            self.assertIn("Return the number of items", ANSI.sub("", payload["data"]["text/plain"]))

    def test_exit_asks_to_exit(self) -> None:
        reply, _ = execute("exit")
        self.assertEqual(reply["payload"], [{"source": "ask_exit", "keepkernel": False}])
        harness.setup().shell.exit_now = False
        reply, _ = execute("quit(keep_kernel=True)")
        self.assertEqual(reply["payload"], [{"source": "ask_exit", "keepkernel": True}])

    def test_interrupt_outside_user_code(self) -> None:
        # An interrupt landing in the kernel's own code still gives an error reply.
        import _wasmpy_rt

        real_call = _wasmpy_rt.call

        def interrupt_once(name: str, data: bytes) -> bytes:
            _wasmpy_rt.call = real_call
            raise KeyboardInterrupt

        _wasmpy_rt.call = interrupt_once
        try:
            reply, events = execute("1")
        finally:
            _wasmpy_rt.call = real_call
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyboardInterrupt")
        self.assertIn("execution_count", reply)
        self.assertEqual(msgs(events, "error")[0]["content"]["ename"], "KeyboardInterrupt")
        self.assertEqual(execute("2")[0]["status"], "ok")

    def test_cell_id(self) -> None:
        reply, _ = execute("1", metadata={"cellId": "abc"})
        self.assertEqual(reply["status"], "ok")


class MagicsTest(unittest.TestCase):
    def test_time_timeit_who(self) -> None:
        reply, events = execute("%time sum(range(10))")
        self.assertEqual(reply["status"], "ok")
        self.assertIn("Wall time", stream_text(events, "stdout"))
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "45")
        reply, events = execute("%timeit -n 3 -r 2 sum(range(10))")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertIn("per loop", stream_text(events, "stdout"))
        reply, events = execute("who_var_1 = 1\n%who int")
        self.assertIn("who_var_1", stream_text(events, "stdout"))

    def test_writefile(self) -> None:
        reply, events = execute("%%writefile hello_wf.txt\nhello\nworld\n")
        self.assertEqual(reply["status"], "ok")
        self.assertIn("Writing hello_wf.txt", stream_text(events, "stdout"))
        with open(os.path.join(os.getcwd(), "hello_wf.txt")) as f:
            self.assertEqual(f.read(), "hello\nworld\n")

    def test_subprocess_refused(self) -> None:
        for code in ("!ls", "x = !ls", "%system ls", "%sx ls", "%%bash\nls", "%%script sh\nls", "%ls",
                     "get_ipython().system('ls')"):
            reply, events = execute(code)
            self.assertEqual(reply["status"], "error", code)
            self.assertEqual(reply["ename"], "SandboxUnsupportedError", code)
            self.assertIn("cannot start subprocesses", reply["evalue"], code)
            (err,) = msgs(events, "error")
            self.assertEqual(len(err["content"]["traceback"]), 1, code)  # one line, no stack
            self.assertIn("SandboxUnsupportedError", err["content"]["traceback"][0])

    def test_packages_refused(self) -> None:
        for code in ("%pip install numpy", "%conda install numpy", "%uv pip install no-such-thing", "%mamba list",
                     "!pip install numpy", "%pip install traitlets==1.0", "%pip install 'ipython>=99'",
                     "%pip install https://example.org/x.whl", "%pip uninstall traitlets"):
            reply, events = execute(code)
            self.assertEqual(reply["status"], "error", code)
            self.assertEqual(reply["ename"], "SandboxUnsupportedError", code)
            self.assertIn("PyPI" if "//" not in code else "URLs", reply["evalue"], code)
            self.assertEqual(len(msgs(events, "error")), 1, code)
        reply, _ = execute("%pip install traitlets numpy")
        self.assertIn("numpy (not preinstalled)", reply["evalue"])
        self.assertNotIn("traitlets", reply["evalue"])
        reply, _ = execute("%pip install traitlets==1.0")
        self.assertRegex(reply["evalue"], r"traitlets==1.0 \(the sandbox has traitlets \d")

    def test_pip_preinstalled(self) -> None:
        import traitlets

        v = traitlets.__version__
        for code, want in [
            ("%pip install traitlets", f"Requirement already satisfied: traitlets in "),
            ("%pip install -q -U traitlets IPython", ""),
            (f"%pip install 'traitlets=={v}' 'ipython>=8,<99' --no-deps", "Requirement already satisfied: ipython>=8,<99 in "),
            ("!pip install Traitlets", "Requirement already satisfied: Traitlets in "),
            ("!python3 -m pip install -q traitlets", ""),
            ("%uv pip install traitlets", "Requirement already satisfied: traitlets"),
            ("%pip show traitlets", f"Name: traitlets\nVersion: {v}\n"),
            ("%pip list", "Package "),
            ("%pip freeze", f"traitlets=={v}\n"),
        ]:
            reply, events = execute(code)
            self.assertEqual(reply["status"], "ok", (code, reply))
            out = stream_text(events, "stdout")
            if want:
                self.assertIn(want, out, code)
            else:
                self.assertEqual(out, "", code)
        with open("reqs.txt", "w") as f:
            f.write("# needs\ntraitlets  # the config system\n\nipython\n")
        reply, events = execute("%pip install -r reqs.txt")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(stream_text(events, "stdout").count("Requirement already satisfied"), 2)
        reply, events = execute("%pip show no-such-thing")
        self.assertIn("WARNING: Package(s) not found: no-such-thing", stream_text(events, "stderr"))

    def test_micropip(self) -> None:
        reply, events = execute(
            "import micropip, piplite\n"
            "await micropip.install('traitlets')\n"
            "await micropip.install(['ipython', 'traitlets>=5'], keep_going=True)\n"
            "await piplite.install('traitlets')\n"
            "print(micropip.list()['traitlets'].version == __import__('traitlets').__version__)\n"
            "try:\n    await micropip.install('numpy')\nexcept ValueError as e:\n    print('ValueError', 'numpy (not preinstalled)' in str(e))\n"
        )
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(stream_text(events, "stdout"), "True\nValueError True\n")

    def test_gui_refused_and_clear(self) -> None:
        reply, events = execute("%gui qt")  # %gui prints the error, as with ipykernel
        self.assertIn("'qt' is not available in the sandbox", stream_text(events, "stderr"))
        reply, events = execute("%clear")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(msgs(events, "clear_output")[0]["content"], {"wait": False})

    def test_store_and_cd_without_warnings(self) -> None:
        # storemagic is loaded as in ipykernel; pickleshare backs shell.db, so
        # %cd keeps its directory history without IPython's "optional
        # functionality" warning.
        reply, events = execute("stored_value = 41\n%store stored_value\ndel stored_value\n%store -r stored_value\nprint(stored_value + 1)")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertIn("42\n", stream_text(events, "stdout"))
        here = os.getcwd()
        try:
            reply, events = execute(f"%cd {here}")
            self.assertEqual(reply["status"], "ok", reply)
            self.assertNotIn("pickleshare", stream_text(events, "stderr"))
        finally:
            os.chdir(here)

    def test_less(self) -> None:
        with open("less_me.txt", "w") as f:
            f.write("paged text\n")
        reply, _ = execute("%less less_me.txt")
        self.assertEqual(reply["payload"][0]["source"], "page")
        self.assertIn("paged text", reply["payload"][0]["data"]["text/plain"])


class AsyncTest(unittest.TestCase):
    def test_top_level_await(self) -> None:
        reply, events = execute("import asyncio\nawait asyncio.sleep(0.01)\nr = await asyncio.gather(*(asyncio.sleep(0, i) for i in range(3)))\nr")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "[0, 1, 2]")

    def test_loops_need_no_socketpair(self) -> None:
        reply, events = execute("import asyncio\nloop = asyncio.new_event_loop()\n"
                                "loop.call_later(0.01, print, 'later')\nloop.run_until_complete(asyncio.sleep(0.02))\n"
                                "loop.close()\nasyncio.run(asyncio.sleep(0, 'ran'))")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(stream_text(events, "stdout"), "later\n")
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "'ran'")

    def test_get_event_loop_is_the_await_loop(self) -> None:
        # Also after asyncio.run() (previous test, or here) unset the current loop.
        self.assertEqual(execute("import asyncio\nasyncio.run(asyncio.sleep(0))")[0]["status"], "ok")
        code = "async def running(): return asyncio.get_running_loop()\n(await running()) is asyncio.get_event_loop()"
        reply, events = execute(code)
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "True")
        self.assertEqual(stream_text(events, "stderr"), "")  # no DeprecationWarning

    def test_await_error(self) -> None:
        reply, _ = execute("import asyncio\nasync def bad():\n    await asyncio.sleep(0)\n    raise ValueError('x')\nawait bad()")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "ValueError")

    def test_loop_runner_is_the_one_choice(self) -> None:
        from wasmpy_kernel.aio import _loop_runner

        self.assertIs(harness.setup().shell.loop_runner, _loop_runner())


class HistoryTest(unittest.TestCase):
    def test_tail_range_search(self) -> None:
        execute("hist_a = 'first'")
        execute("hist_b = 'second'")
        reply, _ = request("history", {"hist_access_type": "tail", "n": 2, "output": False, "raw": True})
        self.assertEqual(reply["status"], "ok")
        hist = reply["history"]
        self.assertEqual([h[2] for h in hist], ["hist_a = 'first'", "hist_b = 'second'"])
        session = hist[0][0]
        self.assertGreaterEqual(session, 1)
        self.assertEqual(hist[1][1], hist[0][1] + 1)

        # Range numbers the current session as tail and search do (not as IPython's get_range).
        reply, _ = request("history", {"hist_access_type": "range", "session": session, "start": hist[0][1],
                                       "stop": hist[1][1] + 1, "output": False, "raw": True})
        self.assertEqual(reply["history"], hist)
        reply, _ = request("history", {"hist_access_type": "range", "session": 0, "start": hist[1][1],
                                       "stop": None, "output": False, "raw": True})
        self.assertEqual(reply["history"][0], hist[1])

        reply, _ = request("history", {"hist_access_type": "search", "pattern": "hist_[ab] = *", "n": 10,
                                       "unique": True, "output": False, "raw": True})
        self.assertEqual([h[2] for h in reply["history"]], ["hist_a = 'first'", "hist_b = 'second'"])
        self.assertEqual(reply["history"][0][0], session)

    def test_output_history(self) -> None:
        execute("'out' * 2")
        reply, _ = request("history", {"hist_access_type": "tail", "n": 1, "output": True, "raw": True})
        (entry,) = reply["history"]
        self.assertEqual(entry[2], ["'out' * 2", "'outout'"])
        reply, _ = request("history", {"hist_access_type": "range", "session": entry[0], "start": entry[1],
                                       "stop": entry[1] + 1, "output": True, "raw": True})
        self.assertEqual(reply["history"], [entry])
        reply, _ = request("history", {"hist_access_type": "search", "pattern": "'out' *", "n": 1,
                                       "output": True, "raw": True})
        self.assertEqual(reply["history"], [entry])

    def test_magic_history(self) -> None:
        execute("hist_c = 3")
        reply, events = execute("%history -n -l 1")
        self.assertEqual(reply["status"], "ok")
        self.assertIn("hist_c = 3", stream_text(events, "stdout"))


class CompleteInspectTest(unittest.TestCase):
    def test_complete_attribute(self) -> None:
        code = "import os\nos.pa"
        reply, _ = request("complete", {"code": code, "cursor_pos": len(code)})
        self.assertEqual(reply["status"], "ok")
        self.assertIn("path", reply["matches"])
        self.assertIn("pardir", reply["matches"])
        self.assertEqual(reply["cursor_start"], len(code) - 2)
        self.assertEqual(reply["cursor_end"], len(code))
        types = reply["metadata"]["_jupyter_types_experimental"]
        self.assertEqual(len(types), len(reply["matches"]))
        self.assertTrue({"start", "end", "text", "type", "signature"} <= set(types[0]))

    def test_complete_user_name(self) -> None:
        execute("my_unique_variable = 1")
        reply, _ = request("complete", {"code": "my_uni", "cursor_pos": 6})
        self.assertIn("my_unique_variable", reply["matches"])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (0, 6))

    def test_complete_nothing(self) -> None:
        reply, _ = request("complete", {"code": "zzqqxx_nope", "cursor_pos": 11})
        self.assertEqual(reply["matches"], [])
        self.assertEqual((reply["cursor_start"], reply["cursor_end"]), (11, 11))

    def test_inspect(self) -> None:
        reply, _ = request("inspect", {"code": "len(", "cursor_pos": 3, "detail_level": 0})
        self.assertEqual(reply["status"], "ok")
        self.assertTrue(reply["found"])
        text = ANSI.sub("", reply["data"]["text/plain"])
        self.assertIn("Return the number of items", text)
        self.assertNotIn("text/html", reply["data"])
        execute("def documented(a, b=2):\n    'Doc here.'\n    return a")
        reply, _ = request("inspect", {"code": "documented", "cursor_pos": 10, "detail_level": 1})
        self.assertTrue(reply["found"])
        self.assertIn("return a", ANSI.sub("", reply["data"]["text/plain"]))

    def test_inspect_missing(self) -> None:
        reply, _ = request("inspect", {"code": "no_such_name_here", "cursor_pos": 5, "detail_level": 0})
        self.assertEqual(reply, {"status": "ok", "data": {}, "metadata": {}, "found": False})

    def test_is_complete(self) -> None:
        cases = [
            ("x = 1", {"status": "complete"}),
            ("for i in range(3):", {"status": "incomplete", "indent": "    "}),
            ("x = [1,", {"status": "incomplete", "indent": ""}),
            ("1 +* 2 )", {"status": "invalid"}),
        ]
        for code, want in cases:
            reply, _ = request("is_complete", {"code": code})
            self.assertEqual(reply, want, code)


class StdinTest(unittest.TestCase):
    def test_input(self) -> None:
        reply, events = execute("name = input('who? ')\nprint('hi', name)", allow_stdin=True, inputs=["bob"])
        self.assertEqual(reply["status"], "ok")
        self.assertEqual([v for k, v in events if k == "input"], [{"prompt": "who? ", "password": False}])
        self.assertEqual(stream_text(events, "stdout"), "hi bob\n")

    def test_getpass(self) -> None:
        reply, events = execute("import getpass\npw = getpass.getpass()\nlen(pw)", allow_stdin=True, inputs=["s3cret"])
        self.assertEqual(reply["status"], "ok")
        self.assertEqual([v for k, v in events if k == "input"], [{"prompt": "Password: ", "password": True}])
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "6")

    def test_stdin_not_allowed(self) -> None:
        reply, events = execute("input()", allow_stdin=False)
        self.assertEqual(reply["ename"], "StdinNotImplementedError")
        self.assertEqual([v for k, v in events if k == "input"], [])
        # The host refusing has the same effect.
        reply, _ = execute("input()", allow_stdin=True)
        self.assertEqual(reply["ename"], "StdinNotImplementedError")

    def test_interrupted_input(self) -> None:
        reply, _ = execute("input()", allow_stdin=True, inputs=[KeyboardInterrupt()])
        self.assertEqual(reply["ename"], "KeyboardInterrupt")

    def test_reentrant_request_while_waiting(self) -> None:
        import json

        nested: list[dict] = []

        def reenter() -> str:
            req = {"op": "kernel_info", "content": {}, "header": {"msg_id": "inner"}}
            nested.append(json.loads(harness.send("kernel", json.dumps(req).encode())))
            return "typed"

        code = "v = input()\nprint(v, get_ipython().kernel.get_parent()['header']['msg_id'])"
        reply, events = execute(code, allow_stdin=True, inputs=[reenter])
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(nested[0]["status"], "ok")
        self.assertEqual(stream_text(events, "stdout"), "typed test-execute\n")

    def test_eof(self) -> None:
        reply, _ = execute("input()", allow_stdin=True, inputs=["\x04"])
        self.assertEqual(reply["ename"], "EOFError")


class CommTest(unittest.TestCase):
    def test_kernel_side_comm(self) -> None:
        code = """
import comm
received = []
c = comm.create_comm(target_name='t1', data={'a': 1}, metadata={'m': 2}, buffers=[b'xy'])
c.on_msg(lambda msg: received.append((msg['content']['data'], [bytes(b) for b in msg['buffers']])))
closed = []
c.on_close(lambda msg: closed.append(msg['content']['data']))
c.send({'b': 2}, buffers=[memoryview(b'zz')])
c.comm_id
"""
        reply, events = execute(code)
        self.assertEqual(reply["status"], "ok", reply)
        opened, sent = msgs(events, "comm_open")[0], msgs(events, "comm_msg")[0]
        cid = opened["content"]["comm_id"]
        self.assertEqual(opened["content"], {"data": {"a": 1}, "comm_id": cid, "target_name": "t1", "target_module": None})
        self.assertEqual(opened["metadata"], {"m": 2})
        self.assertEqual(opened["buffers"], [base64.b64encode(b"xy").decode()])
        self.assertEqual(sent["content"], {"data": {"b": 2}, "comm_id": cid})
        self.assertEqual(sent["buffers"], [base64.b64encode(b"zz").decode()])

        reply, _ = request("comm_info", {"target_name": "t1"})
        self.assertEqual(reply, {"status": "ok", "comms": {cid: {"target_name": "t1"}}})
        reply, _ = request("comm_info", {"target_name": "other"})
        self.assertEqual(reply["comms"], {})

        reply, events = request("comm_msg", {"comm_id": cid, "data": {"hello": 1}})
        self.assertEqual(reply, {})
        reply, _ = execute("received")
        # Request buffers, when the host passes them, reach the callback too.
        harness.send("kernel", b'{"op":"comm_msg","content":{"comm_id":"%s","data":{"x":2}},"header":{},"buffers":["AAE="]}'
                     % cid.encode())
        _, events = execute("received")
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"],
                         "[({'hello': 1}, []), ({'x': 2}, [b'\\x00\\x01'])]")

        reply, _ = request("comm_close", {"comm_id": cid, "data": {"bye": True}})
        self.assertEqual(reply, {})
        _, events = execute("closed")
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "[{'bye': True}]")
        reply, _ = request("comm_info", {})
        self.assertNotIn(cid, reply["comms"])

    def test_frontend_opens_comm(self) -> None:
        code = """
import comm
opened = []
def target(c, msg):
    opened.append(msg['content']['data'])
    c.on_msg(lambda m: c.send({'echo': m['content']['data']}))
comm.get_comm_manager().register_target('echo_target', target)
"""
        self.assertEqual(execute(code)[0]["status"], "ok")
        reply, events = request("comm_open", {"comm_id": "c-1", "target_name": "echo_target", "data": {"x": 1}})
        self.assertEqual(reply, {})
        self.assertEqual(msgs(events), [])
        reply, events = request("comm_msg", {"comm_id": "c-1", "data": {"ping": 1}})
        self.assertEqual(msgs(events), [{"msg_type": "comm_msg", "content": {"data": {"echo": {"ping": 1}}, "comm_id": "c-1"},
                                         "metadata": {}}])
        reply, _ = request("comm_info", {})
        self.assertEqual(reply["comms"]["c-1"], {"target_name": "echo_target"})
        _, events = execute("opened")
        self.assertEqual(msgs(events, "execute_result")[0]["content"]["data"]["text/plain"], "[{'x': 1}]")

    def test_callback_errors_do_not_break_the_kernel(self) -> None:
        code = """
import comm, sys
bad = comm.create_comm(target_name='bad')
bad.on_msg(lambda m: sys.exit(3) if m['content']['data'].get('exit') else 1/0)
bad.comm_id
"""
        reply, events = execute(code)
        cid = msgs(events, "comm_open")[0]["content"]["comm_id"]
        reply, _ = request("comm_msg", {"comm_id": cid, "data": {}})
        self.assertEqual(reply, {})  # logged, as ipykernel does
        reply, _ = request("comm_msg", {"comm_id": cid, "data": {"exit": True}})
        self.assertEqual(reply["ename"], "SystemExit")
        self.assertEqual(execute("'alive'")[0]["status"], "ok")

    def test_unknown_target_closes(self) -> None:
        reply, events = request("comm_open", {"comm_id": "c-2", "target_name": "nobody", "data": {}})
        self.assertEqual(reply, {})
        self.assertEqual([m["msg_type"] for m in msgs(events)], ["comm_close"])
        self.assertEqual(msgs(events)[0]["content"]["comm_id"], "c-2")


if __name__ == "__main__":
    unittest.main()


class InterruptInBookkeepingTest(unittest.TestCase):
    def test_line_numbers_are_not_reused(self) -> None:
        from wasmpy_kernel import get_kernel

        hm = get_kernel().shell.history_manager
        real = hm.store_output

        def interrupted(line_num: int) -> None:
            hm.store_output = real  # once
            raise KeyboardInterrupt

        hm.store_output = interrupted
        reply, _ = execute("'first'")
        self.assertEqual((reply["status"], reply["ename"]), ("error", "KeyboardInterrupt"))
        reply, events = execute("print('second')")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(stream_text(events, "stdout"), "second\n")  # no "ERROR! Session/line number was not unique"
        hm.writeout_cache()
        inputs = [src for _, _, src in hm.get_range_stored(0, 1, None)]
        self.assertEqual(inputs[-2:], ["'first'", "print('second')"])
