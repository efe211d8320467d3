"""Tests of _wasmpy_rt, the dispatcher router."""

from __future__ import annotations

import signal
import sys
import unittest
from typing import Any

import _wasmpy
import _wasmpy_rt


class _Stream:
    """Records flushes (a stand-in for sys.stdout or sys.stderr)."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name
        self.line_buffering = True

    def flush(self) -> None:
        self.log.append("flush " + self.name)

    def reconfigure(self, *, line_buffering: bool) -> None:
        self.line_buffering = line_buffering


class RouterTest(unittest.TestCase):
    def tearDown(self) -> None:
        _wasmpy_rt.unregister("echo")
        _wasmpy_rt.unregister("boom")

    def test_installed_as_dispatcher(self) -> None:
        self.assertIs(_wasmpy.dispatcher, _wasmpy_rt.dispatch)

    def test_routes_by_target(self) -> None:
        seen: list[bytes] = []

        def echo(data: bytes) -> bytes:
            seen.append(data)
            return b"<" + data + b">"

        _wasmpy_rt.register("echo", echo)
        self.assertIn("echo", _wasmpy_rt.targets())
        self.assertEqual(_wasmpy.dispatcher(b"echo\0a\0b"), b"<a\0b>")  # type: ignore[misc]
        self.assertEqual(_wasmpy_rt.dispatch(b"echo\0"), b"<>")
        self.assertEqual(seen, [b"a\0b", b""])

    def test_errors_propagate(self) -> None:
        def boom(data: bytes) -> bytes:
            raise ZeroDivisionError("boom")

        _wasmpy_rt.register("boom", boom)
        with self.assertRaises(ZeroDivisionError):
            _wasmpy_rt.dispatch(b"boom\0x")
        with self.assertRaises(LookupError):
            _wasmpy_rt.dispatch(b"nobody\0x")
        with self.assertRaises(ValueError):
            _wasmpy_rt.dispatch(b"no separator")

    def test_handler_must_return_bytes(self) -> None:
        _wasmpy_rt.register("echo", lambda d: "text")  # type: ignore[arg-type,return-value]
        with self.assertRaises(TypeError):
            _wasmpy_rt.dispatch(b"echo\0")
        _wasmpy_rt.register("echo", lambda d: bytearray(b"ok"))
        self.assertEqual(_wasmpy_rt.dispatch(b"echo\0"), b"ok")

    def test_register_validates(self) -> None:
        for bad in ("", "a\0b"):
            with self.assertRaises(ValueError):
                _wasmpy_rt.register(bad, lambda d: d)
        with self.assertRaises(TypeError):
            _wasmpy_rt.register("echo", 3)  # type: ignore[arg-type]

    def test_call_reaches_host(self) -> None:
        with self.assertRaises(_wasmpy_rt.HostError):
            _wasmpy_rt.call("no-such-function", b"")



class FlushTest(unittest.TestCase):
    """What block-buffered output needs: a flush whenever Python hands
    control back to the host, and not on every nested call."""

    def setUp(self) -> None:
        self.log: list[str] = []
        self.saved = sys.stdout, sys.stderr, _wasmpy_rt.call
        sys.stdout, sys.stderr = _Stream(self.log, "out"), _Stream(self.log, "err")  # type: ignore[assignment]
        _wasmpy_rt.register("echo", self.echo)
        _wasmpy_rt.register("inner", self.inner)

    def tearDown(self) -> None:
        sys.stdout, sys.stderr, _wasmpy_rt.call = self.saved
        _wasmpy_rt.unregister("echo")
        _wasmpy_rt.unregister("inner")

    def echo(self, data: bytes) -> bytes:
        self.log.append("echo")
        return data

    def inner(self, data: bytes) -> bytes:
        self.log.append("inner")
        return b""

    def test_flushes_when_the_outermost_call_returns(self) -> None:
        self.assertEqual(_wasmpy_rt.dispatch(b"echo\0x"), b"x")
        self.assertEqual(self.log, ["echo", "flush out", "flush err"])

    def test_flushes_after_a_failing_call(self) -> None:
        with self.assertRaises(LookupError):
            _wasmpy_rt.dispatch(b"nobody\0")
        _wasmpy_rt.register("echo", lambda d: 1 / 0)  # type: ignore[arg-type,return-value]
        with self.assertRaises(ZeroDivisionError):
            _wasmpy_rt.dispatch(b"echo\0")
        self.assertEqual(self.log, ["flush out", "flush err"])

    def test_nested_calls(self) -> None:
        # Python called the host (a JS call, say), which called back in: the
        # outer Python goes on at once, so the inner call does not flush.
        def host_calls_back(target: str, data: bytes) -> bytes:
            self.log.append("host " + target)
            return _wasmpy_rt.dispatch(b"inner\0")

        _wasmpy_rt.call = host_calls_back
        _wasmpy_rt.register("echo", lambda d: _wasmpy_rt.call("js", d))
        _wasmpy_rt.dispatch(b"echo\0")
        self.assertEqual(self.log, ["host js", "inner", "flush out", "flush err"])

        # While Python waits (time.sleep, a nested run of the loop), what a
        # call back in prints goes out when that call returns.
        del self.log[:]
        _wasmpy_rt.register("echo", lambda d: _wasmpy_rt.wait("loop.sleep", d))
        _wasmpy_rt.dispatch(b"echo\0")
        self.assertEqual(
            self.log,
            ["flush out", "flush err", "host loop.sleep", "inner", "flush out", "flush err", "flush out", "flush err"],
        )

    def test_flush_target(self) -> None:
        self.assertIn("flush", _wasmpy_rt.targets())
        _wasmpy_rt.dispatch(b"flush\0")
        self.assertEqual(self.log[:2], ["flush out", "flush err"])

    def test_flush_ignores_streams_that_cannot(self) -> None:
        class Closed:
            def flush(self) -> None:
                raise ValueError("I/O operation on closed file.")

        class Broken:
            def flush(self, wrong: object) -> None:
                pass

        sys.stdout, sys.stderr = Closed(), Broken()  # type: ignore[assignment]
        _wasmpy_rt.flush_std()
        _wasmpy_rt.register("echo", lambda d: d)
        self.assertEqual(_wasmpy_rt.dispatch(b"echo\0ok"), b"ok")

    def test_buffer_std_flushes_on_the_tick(self) -> None:
        ticks: list[int] = []

        def tick(signum: int, frame: Any) -> None:
            ticks.append(signum)

        old = signal.signal(signal.SIGUSR2, tick)
        try:
            _wasmpy_rt.buffer_std()
            _wasmpy_rt.buffer_std()  # idempotent: one wrapper
            self.assertFalse(sys.stdout.line_buffering)
            self.assertFalse(sys.stderr.line_buffering)
            handler = signal.getsignal(signal.SIGUSR2)
            self.assertIs(handler.__wrapped__, tick)  # type: ignore[union-attr]
            handler(signal.SIGUSR2, None)  # type: ignore[operator,misc]
            self.assertEqual(ticks, [signal.SIGUSR2])
            self.assertEqual(self.log, ["flush out", "flush err"])
        finally:
            signal.signal(signal.SIGUSR2, old)


if __name__ == "__main__":
    unittest.main()
