"""Tests of the kernel's parts on their own: history manager, event loop, JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import unittest
from typing import Any

import harness
from wasmpy_kernel import aio, host
from wasmpy_kernel.history import WasmHistoryManager


def setUpModule() -> None:
    harness.setup()  # the WASI-like process: threads forbidden


class HistoryManagerTest(unittest.TestCase):
    def test_sessions_go_on_in_a_file(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.sqlite")
            first = WasmHistoryManager(hist_file=path)
            self.assertEqual(str(first.hist_file), path)
            self.assertIsNone(first.save_thread)
            first.store_inputs(1, "a = 1")
            first.store_inputs(2, "b = 2")
            s1 = first.session_number
            first.end_session()
            # A restarted interpreter: a new manager on the same file.
            second = WasmHistoryManager(hist_file=path)
            self.assertEqual(second.session_number, s1 + 1)
            second.store_inputs(1, "c = 3")
            tail = list(second.get_tail(3, include_latest=True))
            self.assertEqual(tail, [(s1, 1, "a = 1"), (s1, 2, "b = 2"),
                                    (second.session_number, 1, "c = 3")])
            self.assertEqual(list(second.get_range_stored(-1, 1, None)), tail[:2])

    def test_unusable_file_falls_back_to_memory(self) -> None:
        hm = WasmHistoryManager(hist_file="/nonexistent-dir/sub/h.sqlite")
        self.assertEqual(str(hm.hist_file), ":memory:")
        hm.store_inputs(1, "x = 1")
        self.assertEqual(list(hm.search("x*")), [(hm.session_number, 1, "x = 1")])

    def test_memory(self) -> None:
        hm = WasmHistoryManager(hist_file=":memory:")
        hm.store_inputs(5, "y = 2")
        self.assertEqual(list(hm.get_range_stored(0, 5, 6)), [(hm.session_number, 5, "y = 2")])


class MinimalLoopTest(unittest.TestCase):
    def test_timers_tasks_threadsafe(self) -> None:
        loop = aio.MinimalEventLoop()
        order: list[str] = []

        async def main() -> str:
            loop.call_later(0.03, order.append, "later")
            loop.call_soon_threadsafe(order.append, "soon")
            t = asyncio.ensure_future(asyncio.sleep(0.01, "task"))
            await asyncio.sleep(0.05)
            return await t

        t0 = time.monotonic()
        try:
            self.assertEqual(loop.run_until_complete(main()), "task")
        finally:
            loop.close()
        self.assertEqual(order, ["soon", "later"])
        self.assertGreaterEqual(time.monotonic() - t0, 0.05)

    def test_policy(self) -> None:
        aio.install_policy()
        self.assertIsInstance(asyncio.get_event_loop_policy(), aio.MinimalEventLoopPolicy)
        loop = asyncio.new_event_loop()
        self.assertIsInstance(loop, aio.MinimalEventLoop)
        loop.close()
        from IPython.core.async_helpers import get_asyncio_loop

        asyncio.set_event_loop(None)
        self.assertIs(asyncio.get_event_loop(), get_asyncio_loop())

class RunHandleTest(unittest.TestCase):
    """aio.run_handle: a handle of an earlier request prints to that one."""

    def setUp(self) -> None:
        import gc

        import _wasmpy

        # Text earlier tests left in the buffers (a ResourceWarning printed
        # when a collection finds their unclosed database) is not ours.
        gc.collect()
        sys.stdout.flush()
        sys.stderr.flush()
        self.log = _wasmpy.log
        _wasmpy.reset()

    def run_in(self, parent: dict[str, object] | None, *args: object) -> None:
        import contextvars

        ctx = contextvars.copy_context()
        if parent is not None:
            ctx.run(host.PARENT.set, parent)
        aio.run_handle(ctx, print, args)

    def test_foreign_parent_is_set_around_the_handle(self) -> None:
        earlier = {"msg_id": "earlier-cell", "msg_type": "execute_request"}
        print("mine", end="")  # pending: goes out first, to the current request
        self.run_in(earlier, "theirs")
        self.assertEqual(self.log, [
            ("stream", ("stdout", "mine")),
            ("stream.parent", earlier),
            ("stream", ("stdout", "theirs\n")),
            ("stream.parent", None),
        ])

    def test_own_handles_are_run_directly(self) -> None:
        self.run_in(None, "plain")
        sys.stdout.flush()
        self.assertEqual(self.log, [("stream", ("stdout", "plain\n"))])

    def test_nested_foreign_handles_restore_the_outer_parent(self) -> None:
        import contextvars

        first = {"msg_id": "first"}
        second = {"msg_id": "second"}
        ctx = contextvars.copy_context()
        ctx.run(host.PARENT.set, first)
        aio.run_handle(ctx, self.run_in, (second, "inner"))
        parents = [v for k, v in self.log if k == "stream.parent"]
        self.assertEqual(parents, [first, second, first, None])


class TracebacksTest(unittest.TestCase):
    """tracebacks.install: the same traceback text, without handing the
    skipped frames to stack_data."""

    def test_same_text_skipped_frames_not_parsed(self) -> None:
        from unittest import mock

        import stack_data
        from IPython.core import ultratb

        from wasmpy_kernel import tracebacks

        def inner() -> float:
            return 1 / 0

        def outer() -> float:
            return inner()

        try:
            outer()
        except ZeroDivisionError as e:
            err = e
        plain = ultratb.AutoFormattedTB(mode="Context", color_scheme="NoColor")
        fast = ultratb.AutoFormattedTB(mode="Context", color_scheme="NoColor")
        tracebacks.install(fast)
        tracebacks.install(fast)  # once
        self.assertFalse(hasattr(fast.get_records.__wrapped__, "__wrapped__"))  # type: ignore[attr-defined]
        seen: list[str] = []
        real = stack_data.FrameInfo.stack_data

        def spy(frame_or_tb: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(frame_or_tb.tb_frame.f_code.co_name)
            return real(frame_or_tb, *args, **kwargs)

        for offset in (0, 1, 2, 3, 7):
            with self.subTest(offset=offset):
                want = plain.structured_traceback(type(err), err, err.__traceback__, tb_offset=offset)
                seen.clear()
                with mock.patch.object(stack_data.FrameInfo, "stack_data", spy):
                    got = fast.structured_traceback(type(err), err, err.__traceback__, tb_offset=offset)
                self.assertEqual(got, want)
                first = ["test_same_text_skipped_frames_not_parsed", "outer", "inner"]
                self.assertEqual(seen, first[offset:offset + 1])


class TracebackCachesTest(unittest.TestCase):
    def test_failing_cells_leave_bounded_caches(self) -> None:
        import executing
        import stack_data

        from harness import execute
        from wasmpy_kernel import tracebacks

        n = 10 * tracebacks.KEEP_CELLS
        for i in range(n):
            reply, _ = execute(f"def f{i}():\n    return 1 / 0\nf{i}()")
            self.assertEqual(reply["ename"], "ZeroDivisionError")

        def cells(cls: type, name: str, filename: Any) -> int:
            cache = cls.__dict__.get(name) or {}
            return sum(1 for k in cache if str(filename(k)).startswith("<ipython-input-"))

        for cls in (executing.Source, stack_data.Source):
            self.assertLessEqual(cells(cls, "__source_cache_with_lines", lambda k: k[0]), tracebacks.KEEP_CELLS)
            self.assertLessEqual(
                cells(cls, "__executing_cache", lambda k: k[0].co_filename), tracebacks.KEEP_CELLS
            )
        self.assertGreater(cells(stack_data.Source, "__source_cache_with_lines", lambda k: k[0]), 0)
        import gc

        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, executing.Source) and o.filename.startswith("<ipython-input-")]
        self.assertLessEqual(len(alive), 5 * tracebacks.KEEP_CELLS + 16)


class HiddenTailTest(unittest.TestCase):
    def test_trailing_hidden_frames_dropped(self) -> None:
        from IPython.core import ultratb

        from wasmpy_kernel import tracebacks

        def plumbing() -> None:
            __tracebackhide__ = True  # noqa: F841
            raise KeyboardInterrupt

        def user_code() -> None:
            plumbing()

        try:
            user_code()
        except KeyboardInterrupt as e:
            err = e
        for skip_hidden, shown in ((True, False), (False, True)):
            with self.subTest(skip_hidden=skip_hidden):
                tb = ultratb.AutoFormattedTB(mode="Context", color_scheme="NoColor")
                tb.skip_hidden = skip_hidden
                tracebacks.install(tb)
                text = "\n".join(tb.structured_traceback(type(err), err, err.__traceback__, tb_offset=1))
                self.assertIn(".user_code()", text)
                self.assertEqual(".plumbing()" in text, shown, text)


class ReuseHighlightingTest(unittest.TestCase):
    """tracebacks.reuse_highlighting: the same coloured text, and nothing
    rebuilt for the next traceback."""

    def traceback_text(self) -> str:
        from IPython.core import ultratb

        def inner(n: int) -> float:
            return 1 / n

        try:
            inner(0)
        except ZeroDivisionError as e:
            err = e
        tb = ultratb.AutoFormattedTB(mode="Context", color_scheme="Linux")
        return "\n".join(tb.structured_traceback(type(err), err, err.__traceback__))

    def test_same_text(self) -> None:
        from wasmpy_kernel import tracebacks

        tracebacks.reuse_highlighting()
        patched = self.traceback_text()
        self.assertIn("\x1b[", patched)  # highlighted
        saved = {key: getattr(*key) for key in tracebacks.ORIGINALS}
        try:
            for (module, name), original in tracebacks.ORIGINALS.items():
                setattr(module, name, original)
            plain = self.traceback_text()
        finally:
            for (module, name), value in saved.items():
                setattr(module, name, value)
        self.assertEqual(patched, plain)

    def test_nothing_rebuilt(self) -> None:
        from unittest import mock

        from pygments.lexer import RegexLexerMeta

        from wasmpy_kernel import tracebacks

        tracebacks.reuse_highlighting()
        self.traceback_text()
        with mock.patch.object(RegexLexerMeta, "process_tokendef", side_effect=AssertionError("rebuilt")):
            self.traceback_text()


class DisplayFormatterTest(unittest.TestCase):
    """WasmDisplayFormatter answers as IPython's DisplayFormatter does."""

    def test_same_as_ipython(self) -> None:
        from IPython.core.formatters import DisplayFormatter

        from wasmpy_kernel.formatting import WasmDisplayFormatter

        class Rich(int):
            def _repr_html_(self) -> str:
                return "<b>rich</b>"

        values = [0, 2**70, -1.5, float("nan"), 1j, True, None, "text", b"bytes", "x" * 5000, Rich(3), [1, 2], {"a": 1}]
        ours, theirs = WasmDisplayFormatter(), DisplayFormatter()
        from unittest import mock

        with mock.patch.object(DisplayFormatter, "format", side_effect=AssertionError("the long way")):
            self.assertEqual(ours.format(1 + 1), ({"text/plain": "2"}, {}))  # the short way
        cases = [(None, None), (["text/html"], None), (None, ["text/plain"])]
        for include, exclude in cases:
            for v in values:
                with self.subTest(value=v, include=include, exclude=exclude):
                    self.assertEqual(ours.format(v, include, exclude), theirs.format(v, include, exclude))
        # A printer registered anywhere: IPython's whole way again.
        for f in (ours, theirs):
            f.formatters["text/html"].for_type(int, lambda n: f"<i>{n}</i>")
        for v in values:
            with self.subTest(value=v, printer="html for int"):
                self.assertEqual(ours.format(v), theirs.format(v))
        self.assertEqual(ours.format(7)[0]["text/html"], "<i>7</i>")


class CompatTest(unittest.TestCase):
    def test_process_time_fallback(self) -> None:
        import types

        from wasmpy_kernel.compat import ensure_process_time

        def broken() -> float:
            raise OSError(58, "Not supported")

        fake = types.SimpleNamespace(process_time=broken, perf_counter=time.perf_counter,
                                     perf_counter_ns=time.perf_counter_ns)
        self.assertTrue(ensure_process_time(fake))  # type: ignore[arg-type]
        self.assertIsInstance(fake.process_time(), float)
        self.assertIsInstance(fake.process_time_ns(), int)
        self.assertFalse(ensure_process_time(time))

    def test_home(self) -> None:
        from wasmpy_kernel.compat import ensure_home

        self.assertEqual(ensure_home({"HOME": "/x"}), "/x")
        env: dict[str, str] = {}
        home = ensure_home(env)
        self.assertEqual(env["HOME"], home)
        self.assertTrue(os.path.isdir(home))


class JSONTest(unittest.TestCase):
    def test_dumps_is_strict_and_total(self) -> None:
        import datetime

        obj = {"nan": float("nan"), "inf": [float("-inf")], "b": b"\x00\xff", "s": {1}, "o": object(),
               "d": datetime.date(2024, 1, 2), "u": "é\ud800"}
        out = json.loads(host.dumps(obj), parse_constant=lambda c: self.fail(c))
        self.assertEqual(out["nan"], "nan")
        self.assertEqual(out["inf"], ["-inf"])
        self.assertEqual(out["b"], "AP8=")
        self.assertEqual(out["s"], [1])
        self.assertTrue(out["o"].startswith("<object object"))
        self.assertEqual(out["d"], "2024-01-02")
        self.assertEqual(out["u"], "é?")
        fast = {"a": [1, 2.5, None, True], "b": b"hi", "t": (1, 2)}
        self.assertEqual(json.loads(host.dumps(fast)), {"a": [1, 2.5, None, True], "b": "aGk=", "t": [1, 2]})


if __name__ == "__main__":
    unittest.main()


class SnapshotStepsTest(unittest.TestCase):
    def test_freeze_closes_history_and_thaw_reopens(self) -> None:
        import random
        import sqlite3

        from wasmpy_kernel import snapshot

        with tempfile.TemporaryDirectory() as d:
            hm = WasmHistoryManager(hist_file=os.path.join(d, "h.sqlite"))
            hm.store_inputs(1, "a = 1")
            before = snapshot.open_fds(1024)
            warmed: list[int] = []
            handle = snapshot.handler(hm, lambda: warmed.append(1))
            os.environ["WASMPY_TEST_OLD"] = "1"
            fds = json.loads(handle(json.dumps({"op": "freeze", "env": {"WASMPY_TEST_OLD": "1", "HOME": os.environ.get("HOME", "/")}}).encode()))
            self.assertLess(len(snapshot.open_fds(1024)), len(before), "the database file stayed open")
            self.assertEqual(fds, [fd for fd in snapshot.open_fds() if fd >= 3])
            with self.assertRaises(sqlite3.ProgrammingError):
                hm.db.execute("SELECT 1")
            random.seed(1)
            drawn = random.random()
            random.seed(1)
            thaw = {"op": "thaw", "env": {"WASMPY_TEST_NEW": "2", "HOME": os.environ.get("HOME", "/")}}
            self.assertEqual(handle(json.dumps(thaw).encode()), b"{}")
            self.assertEqual(warmed, [1], "warm runs once, before the freeze")
            self.assertNotEqual(random.random(), drawn, "thaw did not reseed random")
            self.assertNotIn("WASMPY_TEST_OLD", os.environ)  # the snapshot's, gone
            self.assertEqual(os.environ.pop("WASMPY_TEST_NEW"), "2")
            hm.store_inputs(2, "b = 2")
            self.assertEqual([x[2] for x in hm.get_range_stored(0, 1, None)], ["a = 1", "b = 2"])
            hm.db.close()
            with self.assertRaises(ValueError):
                handle(b'{"op": "melt"}')


class HistoryDeferredWriteTest(unittest.TestCase):
    def test_writes_once_deferred_and_coalesced(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            hm = WasmHistoryManager(hist_file=os.path.join(d, "h.sqlite"))
            later: list = []
            hm.defer = later.append

            def stored() -> list[str]:
                rows = hm.db.execute("SELECT source FROM history WHERE session = ?", (hm.session_number,))
                return [r[0] for r in rows]

            hm.store_inputs(1, "a = 1")
            hm.store_inputs(2, "b = 2")
            self.assertEqual(stored(), [], "written before the deferred write ran")
            self.assertEqual(len(later), 1, "one deferred write for the pending cells")
            later.pop()()
            self.assertEqual(stored(), ["a = 1", "b = 2"])
            hm.store_inputs(3, "c = 3")
            self.assertEqual(len(later), 1, "a new write is deferred after the last one ran")
            # Reading the history writes what is pending first.
            self.assertEqual([x[2] for x in hm.get_range_stored(0, 1, None)], ["a = 1", "b = 2", "c = 3"])
            hm.db.close()


class HistoryDurabilityTest(unittest.TestCase):
    def test_no_fsync_per_cell(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            hm = WasmHistoryManager(hist_file=os.path.join(d, "h.sqlite"))
            self.assertEqual(hm.db.execute("PRAGMA synchronous").fetchone()[0], 0)
            hm.db.close()
            hm.init_db()  # reopened after a snapshot's thaw: the same
            self.assertEqual(hm.db.execute("PRAGMA synchronous").fetchone()[0], 0)
            hm.db.close()


class TransformFastPathTest(unittest.TestCase):
    """The fast paths of transform.py give what IPython gives."""

    CELLS = [
        "pass", "1 + 1", "x = 1\ny = x * 2\ny", "def f(a, b=2):\n    return a / b\n",
        "%time 1", "a = %who_ls", "a = !ls", "!ls -l", "x?", "x??", "%%writefile f\nx", "  1 + 1",
        ">>> 1 + 1", "In [1]: 2", ",f a b", ";f a b", "/f a", "  /f a", "x = (1\n     / 2)",
        "s = 'no magic % here'", "print('hi!')", "d = {'a': 1}; d['a']", "if x:\n    %time 1\n",
        "f(a,\n  ,b)", "x = 1 # what?", "await x", "async def f(): pass", "async with a: pass",
        "for i in range(3):\n    await asyncio.sleep(0)", "y = [await z for z in q]", "lambda: await_me",
        "x = 'await'", "import asyncio\nasyncio.run(main())", "",
    ]

    def test_token_transforms(self) -> None:
        from IPython.core.inputtransformer2 import TransformerManager

        from wasmpy_kernel.transform import WasmTransformerManager, needs_token_transforms

        fast, ipython = WasmTransformerManager(), TransformerManager()
        for cell in self.CELLS:
            with self.subTest(cell=cell):
                self.assertEqual(fast.transform_cell(cell), ipython.transform_cell(cell))
        self.assertFalse(needs_token_transforms(["x = 1\n", "y = x / 2\n"]))
        self.assertTrue(needs_token_transforms(["x = 1\n", "  /f a\n"]))
        # An extension's own token transformer turns the fast path off.
        fast.token_transformers.append(type("Custom", (), {"find": classmethod(lambda cls, t: None)}))
        self.assertEqual(fast.transform_cell("x = 1"), "x = 1\n")

    def test_may_await(self) -> None:
        from IPython.core.async_helpers import _should_be_async

        from wasmpy_kernel.transform import may_await

        for cell in self.CELLS:
            with self.subTest(cell=cell):
                if _should_be_async(cell):
                    self.assertTrue(may_await(cell))
