"""Tests of _wasmpy_rt, the dispatcher router."""

from __future__ import annotations

import unittest

import _wasmpy
import _wasmpy_rt


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


if __name__ == "__main__":
    unittest.main()
