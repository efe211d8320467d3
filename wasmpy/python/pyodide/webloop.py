"""pyodide.webloop: the sandbox's asyncio event loop, driven by the kernel's Go loop.

As Pyodide's WebLoop defers work to the browser's event loop, this WebLoop
defers it to the kernel's event loop (Go, package loop/): no threads, no
self-pipe, no selector. Its pieces:

* A Python-side ready queue. ``call_soon`` appends to it and asks the host
  once (per empty-to-busy change) for a drain macrotask; the host then
  dispatches ``'d'`` to the target "webloop" and the drain runs the callbacks
  that were ready when it started (like one iteration of asyncio's loop).
* A Python-side timer heap (``call_at``/``call_later``). The host holds one Go
  timer per loop, armed for the earliest deadline; when it fires, ``'t'``
  moves the due handles to the ready queue and drains them.
* Nested runs. ``run_until_complete``, ``run_forever`` and :func:`run_sync`
  call the host's ``loop.run``, which runs the Go loop re-entrantly (macrotasks,
  timers, I/O completions, other loops' drains) until the awaited future is
  done. That is how ``asyncio.run`` and IPython's top-level ``await`` work in a
  cell, and how synchronous code (``open_url``) waits for I/O.
* One default loop that is always "running" (as in Pyodide): it is the running
  loop of the interpreter, so ``asyncio.create_task``/``ensure_future`` work in
  plain cells and tasks keep running between cells, served by the Go loop.
  ``asyncio.run(main)`` (without ``loop_factory``) runs ``main`` on it.

Interrupts: a KeyboardInterrupt that arrives while the Go loop waits in a
nested run is delivered at the innermost ``await`` of the awaited task (the
innermost pending future gets the exception), so the code that awaited sees
it where it waits; a second interrupt before that unwinds raises at once.

Without the Go host (native tests with a fake ``_wasmpy``) a pure-Python
stand-in with the same protocol runs everything inside nested runs.

The wire protocol is documented in loop/host.go.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import itertools
import operator
import os
import signal
import struct
import sys
import time
import traceback
import weakref
from asyncio import Future, Task, base_futures, coroutines, events, futures, tasks
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from functools import wraps
from typing import Any, TypeVar

import _wasmpy

T = TypeVar("T")
S = TypeVar("S")

_U32 = struct.Struct("<I")
_LID_NS = struct.Struct("<Iq")
_FLAGS = struct.Struct("<Bq")
_I64 = struct.Struct("<q")
_FLAG_DRAIN = 1
_FLAG_TIMER = 2

# The Go timer's delay is capped (a far deadline re-arms when it fires).
_MAX_DELAY_NS = 1 << 50

TARGET = "webloop"


# --------------------------------------------------------------------------
# Futures and tasks with the JavaScript Promise methods, as in Pyodide.


class _Settle:
    """A ready callback that settles a future with a known outcome: what a
    JavaScript call that returned a settled promise schedules (see
    WebLoop._settle_soon). It has the parts of an events.Handle that the
    loop uses; settling runs no user code, so all share one empty Context."""

    __slots__ = ("_fut", "_ok", "_value", "_cancelled")
    _context = contextvars.Context()
    _args = ()

    def __init__(self, fut: Future[Any], ok: bool, value: Any) -> None:
        self._fut = fut
        self._ok = ok
        self._value = value
        self._cancelled = False

    @property
    def _callback(self) -> Callable[[], None]:
        return self._run

    def _run(self) -> None:
        fut = self._fut
        if not fut.done():
            if self._ok:
                fut.set_result(self._value)
            else:
                fut.set_exception(self._value)

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled

    def __repr__(self) -> str:
        return f"<_Settle {'result' if self._ok else 'exception'} for {self._fut!r}>"


class PyodideFuture(Future[T]):
    """A :class:`asyncio.Future` with ``then``, ``catch`` and ``finally_``, after
    JavaScript's Promise. ``loop.create_future()`` returns these."""

    # The handle that will settle this future from an outcome known already
    # (a call that returned a settled promise), until it is awaited.
    _pending_settle: events.Handle | _Settle | None = None

    def __await__(self) -> Generator[Any, None, T]:
        h = self._pending_settle
        if h is not None:
            self._pending_settle = None
            loop = self._loop  # type: ignore[attr-defined]
            # Awaiting yields once, and then only that handle and the task's
            # wakeup would run, unless something else is ready in Python or on
            # the Go loop. When nothing is, settling now without yielding is
            # the same, without two trips through the loop.
            if type(h) is _Settle and not self.done():
                micro = loop._micro
                ready = loop._ready
                if (
                    (len(micro) == 1 and micro[0] is h and not ready)
                    or (len(ready) == 1 and ready[0] is h and not micro)
                ) and loop._host.more():
                    micro.clear()
                    ready.clear()
                    if h._ok:
                        self.set_result(h._value)
                    else:
                        self.set_exception(h._value)
        return Future.__await__(self)  # type: ignore[misc]

    __iter__ = __await__

    def __repr__(self) -> str:
        # Pyodide's WebLoop adds its _decrement_in_progress as a done callback
        # to every future it makes, and a pending one's repr lists it first.
        loop = self._loop  # type: ignore[attr-defined]
        if self._state != "PENDING" or not isinstance(loop, WebLoop):  # type: ignore[attr-defined]
            return super().__repr__()
        info = ["pending", base_futures._format_callbacks([(loop._decrement_in_progress, None), *(self._callbacks or ())])]  # type: ignore[attr-defined]
        if self._source_traceback:  # type: ignore[attr-defined]
            frame = self._source_traceback[-1]  # type: ignore[attr-defined]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return f"<{type(self).__name__} {' '.join(info)}>"

    def then(
        self,
        onfulfilled: Callable[[T], S | Awaitable[S]] | None,
        onrejected: Callable[[BaseException], S | Awaitable[S]] | None = None,
    ) -> PyodideFuture[S]:
        """A future of onfulfilled(result), or of onrejected(exception); an
        awaitable result is awaited until it is not one."""
        result: PyodideFuture[S] = PyodideFuture(loop=self.get_loop())

        async def settle(fut: Future[T]) -> None:
            if fut.cancelled():
                result.cancel()
                return
            exc = fut.exception()
            try:
                if exc is not None:
                    if onrejected is None:
                        raise exc
                    r: Any = onrejected(exc)
                else:
                    r = fut.result() if onfulfilled is None else onfulfilled(fut.result())
                while inspect.isawaitable(r):
                    r = await r
            except Exception as e:
                result.set_exception(e)
                return
            result.set_result(r)

        self.add_done_callback(lambda fut: asyncio.ensure_future(settle(fut), loop=self.get_loop()))
        return result

    def catch(self, onrejected: Callable[[BaseException], Any]) -> PyodideFuture[Any]:
        """``then(None, onrejected)``."""
        return self.then(None, onrejected)

    def finally_(self, onfinally: Callable[[], Any]) -> PyodideFuture[T]:
        """A future settled like this one once onfinally() (awaited if
        awaitable) has run."""
        result: PyodideFuture[T] = PyodideFuture(loop=self.get_loop())

        async def settle(fut: Future[T]) -> None:
            try:
                r = onfinally()
                while inspect.isawaitable(r):
                    r = await r
            except Exception as e:
                result.set_exception(e)
                return
            if fut.cancelled():
                result.cancel()
            elif (exc := fut.exception()) is not None:
                result.set_exception(exc)
            else:
                result.set_result(fut.result())

        self.add_done_callback(lambda fut: asyncio.ensure_future(settle(fut), loop=self.get_loop()))
        return result


class PyodideTask(Task[T], PyodideFuture[T]):  # type: ignore[misc]
    """A :class:`asyncio.Task` that is also a :class:`PyodideFuture`."""

    _num_done_callbacks = 0

    def add_done_callback(self, fn: Any, *, context: contextvars.Context | None = None) -> None:
        super().add_done_callback(fn, context=context)
        self._num_done_callbacks += 1


# --------------------------------------------------------------------------
# The host: the Go loop, or a stand-in.


# How long a drain may go on running the callbacks it scheduled (see _on_drain).
_TURN_BUDGET = 0.002


class _GoHost:
    """The kernel's Go event loop (loop/host.go), through _wasmpy host calls."""

    def __init__(self, call: Callable[[str, bytes], bytes], wait: Callable[[str, bytes], bytes] | None = None) -> None:
        self.call = call
        # For the calls that block Python while the host serves other work.
        self.wait = wait or call

    def soon(self, lid: int) -> None:
        self.call("loop.soon", _U32.pack(lid))

    def more(self) -> bool:
        """Whether a drain may go on with the callbacks it scheduled: the Go
        loop has nothing else to run now and no nested run is ending."""
        return self.call("loop.more", b"") == b"1"

    def timer(self, lid: int, ns: int) -> None:
        self.call("loop.timer", _LID_NS.pack(lid, ns))

    def run(self, tok: int) -> None:
        __tracebackhide__ = True  # noqa: F841  (IPython leaves this frame out)
        self.wait("loop.run", _U32.pack(tok))

    def stop(self, tok: int) -> None:
        self.call("loop.stop", _U32.pack(tok))

    def close(self, lid: int) -> None:
        self.call("loop.close", _U32.pack(lid))

    def fetch(self, cid: int, request: bytes, body: bytes) -> None:
        self.call("loop.fetch", _U32.pack(cid) + _U32.pack(len(request)) + request + body)

    def abort(self, cid: int) -> None:
        self.call("loop.abort", _U32.pack(cid))

    def sleep(self, ns: int) -> None:
        __tracebackhide__ = True  # noqa: F841
        self.wait("loop.sleep", _I64.pack(ns))


class _LocalHost:
    """A pure-Python stand-in for the Go loop, for tests without the host.

    Same protocol; it runs only inside nested runs (nothing runs "between
    cells") and has no I/O: a nested run with nothing left to wait for raises
    RuntimeError instead of waiting forever.
    """

    def __init__(self) -> None:
        self.tasks: deque[tuple[int, int]] = deque()
        self.posted: set[int] = set()
        self.timers: dict[int, float] = {}
        self.stops: set[int] = set()

    def more(self) -> bool:
        return False  # keep every drain a turn of its own

    def soon(self, lid: int) -> None:
        if lid not in self.posted:
            self.posted.add(lid)
            self.tasks.append((0x64, lid))

    def timer(self, lid: int, ns: int) -> None:
        if ns < 0:
            self.timers.pop(lid, None)
        else:
            self.timers[lid] = time.monotonic() + ns / 1e9

    def run(self, tok: int) -> None:
        try:
            while tok not in self.stops:
                if not self.turn():
                    if not self.timers:
                        raise RuntimeError("event loop stalled: nothing is scheduled and there is no I/O to wait for")
                    time.sleep(max(0.0, min(self.timers.values()) - time.monotonic()))
        finally:
            self.stops.discard(tok)

    def turn(self) -> bool:
        """Run one macrotask (a due timer first); report whether there was one."""
        now = time.monotonic()
        due = [lid for lid, when in self.timers.items() if when <= now]
        if due:
            lid = min(due, key=self.timers.__getitem__)
            del self.timers[lid]
            self._call(0x74, lid)
            return True
        if self.tasks:
            kind, lid = self.tasks.popleft()
            self.posted.discard(lid)
            self._call(kind, lid)
            return True
        return False

    def _call(self, kind: int, lid: int) -> None:
        out = _dispatch(bytes([kind]) + _U32.pack(lid))
        if out:
            flags, ns = _FLAGS.unpack(out)
            if flags & _FLAG_TIMER:
                self.timer(lid, ns)
            if flags & _FLAG_DRAIN:
                self.soon(lid)

    def run_pending(self, until: float = 0.0) -> None:
        """Run what is ready, and the timers due within `until` seconds."""
        deadline = time.monotonic() + until
        while True:
            if self.turn():
                continue
            later = [w for w in self.timers.values() if w <= deadline]
            if not later:
                return
            time.sleep(max(0.0, min(later) - time.monotonic()))

    def stop(self, tok: int) -> None:
        self.stops.add(tok)

    def close(self, lid: int) -> None:
        self.timers.pop(lid, None)

    def fetch(self, cid: int, request: bytes, body: bytes) -> None:
        raise OSError("fetching needs the kernel's host (loop.fetch); none is attached")

    def abort(self, cid: int) -> None:
        pass


_host: _GoHost | _LocalHost | None = None


def _get_host() -> _GoHost | _LocalHost:
    """The Go host if it answers loop.hello, else the stand-in; registers the
    dispatch target on first use."""
    global _host
    if _host is None:
        import _wasmpy_rt

        try:
            _wasmpy_rt.call("loop.hello", b"")
            _host = _GoHost(_wasmpy_rt.call, _wasmpy_rt.wait)
        except _wasmpy_rt.HostError:
            _host = _LocalHost()
        _wasmpy_rt.register(TARGET, _dispatch)
    return _host


def host() -> _GoHost | _LocalHost:
    """The host this interpreter's loops use."""
    return _get_host()


# --------------------------------------------------------------------------
# Interrupts. While Python waits in the host's nested run, an interrupt both
# cancels the wait (the host call raises KeyboardInterrupt) and leaves SIGINT
# pending. The pending signal is absorbed (see _on_sigint) so that the
# interrupt is delivered once, where the awaiting code waits.


class _SigState:
    __slots__ = ("absorbing", "absorbed")

    def __init__(self) -> None:
        self.absorbing = False
        self.absorbed = False


_sig = _SigState()


def _on_sigint(signum: int, frame: Any) -> None:
    """The SIGINT handler: as signal.default_int_handler, except while a
    nested run converts the interrupt itself."""
    __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
    if _sig.absorbing:
        _sig.absorbed = True
        return
    raise KeyboardInterrupt


def _checkpoint() -> None:
    """Let pending signal handlers run (function entry and a backward jump
    both check for them)."""
    __tracebackhide__ = True  # noqa: F841
    for _ in (0, 1):
        pass


# --------------------------------------------------------------------------
# Dispatch from the host.

_loops: dict[int, weakref.ref[WebLoop]] = {}
_completions: dict[int, tuple[Callable[[bytes], None], weakref.ref[WebLoop] | None]] = {}
_ids = itertools.count(1)
_tokens = itertools.count(1)


def _dispatch(data: bytes) -> bytes:
    """The "webloop" dispatch target (see the protocol in loop/host.go)."""
    absorbing, _sig.absorbing = _sig.absorbing, False
    try:
        kind = data[0]
        ident = _U32.unpack_from(data, 1)[0]
        if kind == 0x63:  # 'c': a completion
            entry = _completions.pop(ident, None)
            if entry is not None:
                cb, lref = entry
                loop = lref() if lref is not None else None
                if loop is not None and not loop._closed and not loop._in_turn:
                    loop._on_completion(cb, bytes(data[5:]))
                    return b""
                try:
                    cb(bytes(data[5:]))
                except Exception as exc:
                    get_loop().call_exception_handler({"message": "error in a completion callback", "exception": exc})
            return b""
        ref = _loops.get(ident)
        loop = ref() if ref is not None else None
        if loop is None:
            _loops.pop(ident, None)
            return b""
        return loop._on_drain() if kind == 0x64 else loop._on_timer()
    finally:
        _sig.absorbing = absorbing


def add_completion(callback: Callable[[bytes], None], loop: WebLoop | None = None) -> int:
    """Register callback for a host completion; return its id. The host later
    dispatches 'c' with the id and the data, and callback(data) runs on the
    loop (for loop.fetch, see pyodide.http): as a turn of loop, if given, so
    that what it wakes runs at once."""
    _get_host()
    cid = next(_ids)
    _completions[cid] = (callback, weakref.ref(loop) if isinstance(loop, WebLoop) else None)
    return cid


def cancel_completion(cid: int) -> None:
    """Forget a completion that is no longer wanted."""
    _completions.pop(cid, None)


class _Run:
    """One nested run in progress."""

    __slots__ = ("host", "tok", "stopped", "exc")

    def __init__(self, host: _GoHost | _LocalHost) -> None:
        self.host = host
        self.tok = next(_tokens)
        self.stopped = False
        self.exc: BaseException | None = None

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.host.stop(self.tok)


# The nested runs in progress, of all loops, innermost last.
_runs: list[_Run] = []
# The KeyboardInterrupts delivered at an await by the runs in progress.
_injected: list[BaseException] = []


def _not_available(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what} is not available in the wasmpy sandbox (WASI has no sockets, pipes, "
        "subprocesses or signals); use pyodide.http.pyfetch or urllib.request for HTTP"
    )


# --------------------------------------------------------------------------
# The loop.


class WebLoop(asyncio.AbstractEventLoop):
    """An asyncio event loop whose waiting is done by the kernel's Go loop.

    See the module's documentation. The default loop (see :func:`install`) is
    always running and cannot be closed; other loops (``new_event_loop``) run
    while a nested run or one of their callbacks is in progress.
    """

    # Set by install() on the class (the kernel uses it to capture the current
    # request in the context of handles and tasks): returns the context a
    # handle or task made without an explicit one gets.
    capture_context: Callable[[], contextvars.Context] | None = None
    # Set by install() on the class, optional: runs a ready handle's callback
    # with its args in its context, in place of context.run (the kernel sends
    # what a handle of an earlier request prints to that request's output).
    run_handle: Callable[[contextvars.Context, Callable[..., Any], tuple[Any, ...]], object] | None = None

    def __init__(self) -> None:
        self._host = _get_host()
        self._id = next(_ids)
        _loops[self._id] = weakref.ref(self)
        self._ready: deque[events.Handle] = deque()
        self._scheduled: list[tuple[float, int, events.TimerHandle]] = []
        self._seq = itertools.count()
        self._cancelled_timers = 0
        self._armed: float | None = None  # the deadline the host's timer is set for
        self._drain_pending = False  # a drain was asked of the host and has not started
        self._in_turn = 0  # in a drain or timer turn: the turn's end syncs with the host
        self._runs: list[_Run] = []
        self._closed = False
        self._default = False
        self._exception_handler: Callable[[Any, dict[str, Any]], Any] | None = None
        self._task_factory: Any = None
        self._current_handle: events.Handle | None = None
        # Settlings of futures from outcomes known already, made while a
        # callback ran: they run right after it, before the next callback,
        # as Pyodide settles them from a promise reaction (a microtask).
        self._micro: deque[_Settle] = deque()
        self.set_debug(
            sys.flags.dev_mode or (not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG")))
        )
        self.slow_callback_duration = 0.1
        self._clock_resolution = time.get_clock_info("monotonic").resolution
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._old_agen_hooks: tuple[Any, Any] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self.is_running() else "idle"
        return f"<{type(self).__name__} #{self._id} {state} default={self._default}>"

    # ---- scheduling -------------------------------------------------------

    def time(self) -> float:
        return time.monotonic()

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> events.Handle:
        self._check_closed()
        if context is None and self.capture_context is not None:
            context = self.capture_context()
        h = events.Handle(callback, args, self, context)
        self._push_ready(h)
        return h

    def _push_ready(self, h: events.Handle | _Settle) -> None:
        """Queue h, and have the host drain the queue soon if no turn will."""
        self._ready.append(h)
        if not self._drain_pending and not self._in_turn:
            self._drain_pending = True
            self._host.soon(self._id)

    def _settled_future(self, ok: bool, value: Any) -> PyodideFuture[Any]:
        """A new future that the loop settles with a known outcome (see
        _settle_soon), as a JavaScript call that returned a settled promise
        gives. (jsref.c's settled_fast does the same in C for a fulfilled
        call's promise.)"""
        fut: PyodideFuture[Any] = PyodideFuture(loop=self)
        fut._pending_settle = self._settle_soon(fut, ok, value)
        return fut

    def _settle_soon(self, fut: Future[Any], ok: bool, value: Any) -> _Settle:
        """call_soon of settling fut with a known outcome (a JavaScript call's
        settled promise), without a Handle and a Context of its own. In a
        callback it runs when the callback returns (see _micro)."""
        self._check_closed()
        h = _Settle(fut, ok, value)
        if self._current_handle is not None:
            self._micro.append(h)
        else:
            self._push_ready(h)
        return h

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> events.Handle:
        # One thread: call_soon is thread-safe enough.
        return self.call_soon(callback, *args, context=context)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> events.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> events.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if context is None and self.capture_context is not None:
            context = self.capture_context()
        h = events.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._scheduled, (when, next(self._seq), h))
        h._scheduled = True  # type: ignore[attr-defined]
        if not self._in_turn and (self._armed is None or when < self._armed):
            self._sync_timer()
        return h

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        self._cancelled_timers += 1
        if self._cancelled_timers > 100 and self._cancelled_timers * 2 > len(self._scheduled):
            self._scheduled = [e for e in self._scheduled if not e[2]._cancelled]  # type: ignore[attr-defined]
            heapq.heapify(self._scheduled)
            self._cancelled_timers = 0

    def _next_deadline(self) -> float | None:
        sched = self._scheduled
        while sched and sched[0][2]._cancelled:  # type: ignore[attr-defined]
            heapq.heappop(sched)
            self._cancelled_timers = max(0, self._cancelled_timers - 1)
        return sched[0][0] if sched else None

    def _timer_ns(self, when: float | None) -> int:
        if when is None:
            return -1
        return min(_MAX_DELAY_NS, max(0, int((when - self.time()) * 1e9)))

    def _sync_timer(self) -> None:
        """Arm (or clear) the host's timer for the earliest deadline, now."""
        when = self._next_deadline()
        if when != self._armed:
            self._armed = when
            self._host.timer(self._id, self._timer_ns(when))

    # ---- turns (called by the host) -----------------------------------------

    def _on_drain(self) -> bytes:
        self._drain_pending = False
        return self._turn(self._run_ready)

    def _turn(self, first: Callable[[], None]) -> bytes:
        """A turn of this loop that begins with first() (a drain's ready
        callbacks, or a completion's callback)."""
        self._in_turn += 1
        prev = events._get_running_loop()
        events._set_running_loop(self)
        try:
            first()
            # What those callbacks scheduled runs in this turn too while the
            # Go loop has nothing else to do (it would only call back at
            # once): a turn costs some 30 us, most of an `await` that yields.
            # Bounded in time, so timers and I/O keep their turns.
            if self._ready:
                end = time.monotonic() + _TURN_BUDGET
                more = self._host.more
                while self._ready and more() and time.monotonic() < end:
                    self._run_ready()
        finally:
            events._set_running_loop(prev)
            self._in_turn -= 1
        return self._end_turn()

    def _on_completion(self, callback: Callable[[bytes], None], data: bytes) -> None:
        """Run a host completion's callback (see add_completion) as a turn
        of this loop: what it wakes (the task awaiting the fetch) runs in
        the same call from the host, not in a drain posted for it."""

        def first() -> None:
            try:
                callback(data)
            except Exception as exc:
                self.call_exception_handler({"message": "error in a completion callback", "exception": exc})

        out = self._turn(first)
        if out:
            # The host reads no reply to a completion: ask it here.
            flags, ns = _FLAGS.unpack(out)
            if flags & _FLAG_DRAIN:
                self._host.soon(self._id)
            if flags & _FLAG_TIMER:
                self._host.timer(self._id, ns)

    def _on_timer(self) -> bytes:
        self._armed = None
        sched = self._scheduled
        end = self.time() + self._clock_resolution
        while sched and sched[0][0] <= end:
            h = heapq.heappop(sched)[2]
            if h._cancelled:  # type: ignore[attr-defined]
                self._cancelled_timers = max(0, self._cancelled_timers - 1)
                continue
            h._scheduled = False  # type: ignore[attr-defined]
            self._ready.append(h)
        return self._on_drain()

    def _end_turn(self) -> bytes:
        """What the host must do after a turn: drain again, (re)arm the timer."""
        if self._in_turn:
            return b""
        flags = 0
        ns = 0
        if self._ready and not self._drain_pending:
            self._drain_pending = True
            flags |= _FLAG_DRAIN
        when = self._next_deadline()
        if when != self._armed:
            self._armed = when
            flags |= _FLAG_TIMER
            ns = self._timer_ns(when)
        return _FLAGS.pack(flags, ns) if flags else b""

    def _run_micro(self) -> None:
        """Run the settlings the last callback made (see _micro)."""
        micro = self._micro
        while micro:
            h = micro.popleft()
            if not h._cancelled:
                h._run()

    def _run_ready(self) -> None:
        """Run the callbacks ready now (not those they schedule)."""
        if self._micro:
            self._run_micro()
        ready = self._ready
        n = len(ready)
        outer = self._current_handle
        run = self.run_handle
        try:
            while n > 0 and ready:
                n -= 1
                h = ready.popleft()
                if h._cancelled:  # type: ignore[attr-defined]
                    continue
                self._current_handle = h
                try:
                    if run is None:
                        h._context.run(h._callback, *h._args)  # type: ignore[attr-defined]
                    else:
                        run(h._context, h._callback, h._args)  # type: ignore[attr-defined]
                except (SystemExit, KeyboardInterrupt) as exc:
                    if any(exc is e for e in _injected):
                        # An interrupt delivered at an await (see _interrupt)
                        # that a task let through: the task holds it as its
                        # exception and whoever awaits the task gets it.
                        continue
                    self._raise_later(exc)
                    return
                except BaseException as exc:
                    self.call_exception_handler(
                        {"message": f"Exception in callback {h._callback!r}", "exception": exc, "handle": h}  # type: ignore[attr-defined]
                    )
                finally:
                    if self._micro:
                        self._run_micro()
        finally:
            self._current_handle = outer

    def _raise_later(self, exc: BaseException) -> None:
        """A callback raised KeyboardInterrupt or SystemExit: stop the
        innermost nested run (of any loop) and raise it there; outside any,
        report it."""
        if _runs:
            run = _runs[-1]
            if run.exc is None:
                run.exc = exc
            run.stop()
        else:
            traceback.print_exception(exc, file=sys.stderr)

    # ---- nested runs ----------------------------------------------------------

    def _run_nested(self, fut: Future[Any] | None) -> None:
        """Run the host's loop until fut is done (or stop() for None)."""
        run = _Run(self._host)
        self._runs.append(run)
        _runs.append(run)

        def wake(_f: Any = None) -> None:
            run.stop()

        if fut is not None:
            fut.add_done_callback(wake)
        # Let other tasks step while we wait: leave the current tasks (ours and
        # the running loop's), and stop deferring host calls to a turn's end.
        running = events._get_running_loop()
        left: list[tuple[Any, Task[Any]]] = []
        for lp in {self, running}:
            if lp is not None and (t := tasks.current_task(lp)) is not None:
                tasks._leave_task(lp, t)
                left.append((lp, t))
        in_turn, self._in_turn = self._in_turn, 0
        self._install_asyncgen_hooks()
        interrupts = injected = 0
        cancelled = False
        try:
            if self._micro:
                self._run_micro()
            if self._ready and not self._drain_pending:
                self._drain_pending = True
                self._host.soon(self._id)
            self._sync_timer()
            while not run.stopped:
                _sig.absorbed = False
                _sig.absorbing = True
                try:
                    self._host.run(run.tok)
                except KeyboardInterrupt:
                    pass
                finally:
                    _checkpoint()  # a pending SIGINT is absorbed here
                    _sig.absorbing = False
                if _sig.absorbed:
                    # The interrupt reached no Python code: deliver it here.
                    interrupts += 1
                    if fut is None or fut.done() or interrupts > 1:
                        raise KeyboardInterrupt
                    ki = KeyboardInterrupt()
                    how = _interrupt(fut, ki)
                    if how == _NOT_DELIVERED:
                        raise ki
                    if how == _CANCELLED:
                        cancelled = True
                    _injected.append(ki)
                    injected += 1
                if run.exc is not None:
                    raise run.exc
            if cancelled and fut is not None and fut.cancelled():
                # The task was not waiting, so it was cancelled instead.
                raise KeyboardInterrupt
        finally:
            run.exc = None
            if injected:
                del _injected[-injected:]
            _runs.remove(run)
            self._runs.remove(run)
            if fut is not None:
                fut.remove_done_callback(wake)
            self._in_turn = in_turn
            for lp, t in left:
                tasks._enter_task(lp, t)

    def run_until_complete(self, future: Awaitable[T]) -> T:
        """Run until future is done and return its result. Nests: it may be
        called from a callback or a task (the loop keeps serving others)."""
        self._check_closed()
        new_task = not futures.isfuture(future)
        fut = tasks.ensure_future(future, loop=self)
        try:
            self._run_nested(fut)
        except BaseException:
            if new_task and not fut.done():
                fut.cancel()
            raise
        return fut.result()

    def run_forever(self) -> None:
        """Run until stop() (nested)."""
        self._check_closed()
        self._run_nested(None)

    def stop(self) -> None:
        """End the innermost run_forever (or run_until_complete) of this loop."""
        if self._runs:
            self._runs[-1].stop()

    def is_running(self) -> bool:
        return self._default or bool(self._runs) or bool(self._in_turn)

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the loop. The default loop cannot be closed (it is ignored)."""
        if self._default or self._closed:
            return
        if self._runs:
            raise RuntimeError("Cannot close a running event loop")
        self._closed = True
        self._ready.clear()
        self._scheduled.clear()
        self._armed = None
        self._host.close(self._id)
        _loops.pop(self._id, None)

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = enabled
        # Every Future, Task and Handle asks get_debug() when it is made: an
        # instance attribute that is a C method (bool.__bool__ of the value)
        # answers it without a Python frame (some 0.3 us each in the sandbox).
        self.get_debug = bool(enabled).__bool__  # type: ignore[method-assign]

    # ---- futures and tasks ------------------------------------------------

    def create_future(self) -> Future[Any]:
        # (Pyodide's WebLoop also adds _decrement_in_progress as a done
        # callback; PyodideFuture.__repr__ shows it, without the loop turn
        # that running it would cost.)
        return PyodideFuture(loop=self)

    def create_task(self, coro: Coroutine[Any, Any, T] | Awaitable[T], *, name: str | None = None,
                    context: contextvars.Context | None = None, **kwargs: Any) -> Task[T]:
        self._check_closed()
        if context is None and self.capture_context is not None:
            context = self.capture_context()
        if self._task_factory is None:
            task: Task[T] = PyodideTask(coro, loop=self, name=name, context=context, **kwargs)  # type: ignore[arg-type]
            if task._source_traceback:  # type: ignore[attr-defined]
                del task._source_traceback[-1]  # type: ignore[attr-defined]
            task.add_done_callback(self._decrement_in_progress, context=task.get_context())
        else:
            if context is None:
                task = self._task_factory(self, coro, **kwargs)
            else:
                task = self._task_factory(self, coro, context=context, **kwargs)
            if name is not None:
                task.set_name(name)
        try:
            return task
        finally:
            del task

    def _decrement_in_progress(self, fut: Future[Any]) -> None:
        # Report a failure nobody will look at now (a fire-and-forget task)
        # at once, in the context (the cell) of the task, as Pyodide
        # does. (Named as Pyodide's: it shows in the reprs of futures.)
        # Only a task: a plain future's exception may still be retrieved by
        # whoever awaits it later (set_exception before the await).
        if isinstance(fut, Task) and getattr(fut, "_num_done_callbacks", 0) == 1 and not fut.cancelled():
            exc = fut.exception()
            if exc is not None:
                self.call_exception_handler({"message": "Task exception was never retrieved", "exception": exc, "future": fut})

    def set_task_factory(self, factory: Any) -> None:
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> Any:
        return self._task_factory

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any) -> Future[T]:
        """Runs func(*args) at once, on this thread (there are no others), and
        returns a done future."""
        self._check_closed()
        fut: Future[T] = self.create_future()
        try:
            fut.set_result(func(*args))
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as e:
            fut.set_exception(e)
        return fut

    def set_default_executor(self, executor: Any) -> None:
        pass  # run_in_executor runs inline whatever the executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        pass

    # ---- async generators -------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        if not self._closed:
            self.call_soon(lambda: asyncio.ensure_future(agen.aclose(), loop=self))

    def _install_asyncgen_hooks(self) -> None:
        if self._old_agen_hooks is None:
            self._old_agen_hooks = sys.get_asyncgen_hooks()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook)

    async def shutdown_asyncgens(self) -> None:
        self._asyncgens_shutdown_called = True
        agens = list(self._asyncgens)
        self._asyncgens.clear()
        if not agens:
            return
        results = await asyncio.gather(*[ag.aclose() for ag in agens], return_exceptions=True)
        for result, agen in zip(results, agens):
            if isinstance(result, Exception):
                self.call_exception_handler(
                    {"message": f"an error occurred during closing of asynchronous generator {agen!r}",
                     "exception": result, "asyncgen": agen}
                )

    # ---- errors ---------------------------------------------------------------

    def get_exception_handler(self) -> Any:
        return self._exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Print the error and its context to sys.stderr."""
        lines = [context.get("message") or "Unhandled exception in event loop"]
        for key in sorted(context):
            if key in {"message", "exception"}:
                continue
            value = context[key]
            if key == "source_traceback":
                value = "Object created at (most recent call last):\n" + "".join(traceback.format_list(value)).rstrip()
            elif key == "handle_traceback":
                value = "Handle created at (most recent call last):\n" + "".join(traceback.format_list(value)).rstrip()
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        exc = context.get("exception")
        text = "\n".join(lines) + "\n"
        if exc is not None:
            text += "".join(traceback.format_exception(exc))
        sys.stderr.write(text)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                print("Exception in default exception handler", file=sys.stderr)
                traceback.print_exc()
            return
        try:
            self._exception_handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {"message": "Unhandled error in exception handler", "exception": exc, "context": context}
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                print("Exception in default exception handler while handling an unexpected error "
                      "in custom exception handler", file=sys.stderr)
                traceback.print_exc()

    # ---- what the sandbox has not got ----------------------------------------

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:
        raise _not_available("add_reader()")

    def add_writer(self, fd: Any, callback: Any, *args: Any) -> None:
        raise _not_available("add_writer()")

    def remove_reader(self, fd: Any) -> bool:
        raise _not_available("remove_reader()")

    def remove_writer(self, fd: Any) -> bool:
        raise _not_available("remove_writer()")

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        raise _not_available("add_signal_handler()")

    def remove_signal_handler(self, sig: int) -> bool:
        raise _not_available("remove_signal_handler()")

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("getaddrinfo()")

    async def getnameinfo(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("getnameinfo()")

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("create_connection() (asyncio.open_connection)")

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("create_server() (asyncio.start_server)")

    async def create_unix_connection(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("create_unix_connection()")

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("create_unix_server()")

    async def create_datagram_endpoint(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("create_datagram_endpoint()")

    async def connect_accepted_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("connect_accepted_socket()")

    async def connect_read_pipe(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("connect_read_pipe()")

    async def connect_write_pipe(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("connect_write_pipe()")

    async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("subprocess_shell() (asyncio.create_subprocess_shell)")

    async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("subprocess_exec() (asyncio.create_subprocess_exec)")

    async def sock_recv(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("sock_recv()")

    async def sock_recv_into(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("sock_recv_into()")

    async def sock_sendall(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("sock_sendall()")

    async def sock_connect(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("sock_connect()")

    async def sock_accept(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("sock_accept()")

    async def sendfile(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("sendfile()")

    async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_available("start_tls()")


_NOT_DELIVERED, _DELIVERED, _CANCELLED = range(3)


def _interrupt(fut: Future[Any], exc: BaseException) -> int:
    """Deliver exc (a KeyboardInterrupt) where fut's task chain waits: the
    innermost pending future that is not a task gets it as its exception (a
    task that is not waiting is cancelled instead). Say what was done."""
    f: Any = fut
    for _ in range(1000):
        if f.done():
            return _NOT_DELIVERED
        if not isinstance(f, Task):
            f.set_exception(exc)
            return _DELIVERED
        waiter = getattr(f, "_fut_waiter", None)
        if waiter is None:
            return _CANCELLED if f.cancel(msg="KeyboardInterrupt") else _NOT_DELIVERED
        f = waiter
    return _NOT_DELIVERED


# --------------------------------------------------------------------------
# The default loop, the policy, asyncio.run.


class WebLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[name-defined,misc]
    """A policy whose loops are WebLoops; its event loop is the default loop."""

    def __init__(self) -> None:
        super().__init__()
        self._default: WebLoop | None = None

    def get_event_loop(self) -> WebLoop:
        if self._default is None or self._default.is_closed():
            self._default = self.new_event_loop()
        return self._default

    def set_event_loop(self, loop: Any) -> None:
        if loop is not None:
            self._default = loop

    def new_event_loop(self) -> WebLoop:
        return WebLoop()


_default: WebLoop | None = None
_orig_run = asyncio.run


@wraps(_orig_run)
def _run(main: Coroutine[Any, Any, T], *, debug: bool | None = None, loop_factory: Any = None) -> T:
    if loop_factory is None:
        loop = events._get_running_loop()
        if isinstance(loop, WebLoop):
            if not coroutines.iscoroutine(main):
                raise ValueError(f"a coroutine was expected, got {main!r}")
            if debug is not None:
                loop.set_debug(debug)
            return loop.run_until_complete(main)
    return _orig_run(main, debug=debug, loop_factory=loop_factory)


def install(
    capture_context: Callable[[], contextvars.Context] | None = None,
    run_handle: Callable[[contextvars.Context, Callable[..., Any], tuple[Any, ...]], object] | None = None,
) -> WebLoop:
    """Make WebLoop asyncio's loop (idempotent): the policy, the default loop
    as the running loop, asyncio.run on it, the SIGINT handler. capture_context
    (optional) gives handles and tasks made without a context theirs;
    run_handle (optional) runs ready handles (see WebLoop.run_handle)."""
    global _default
    if capture_context is not None:
        WebLoop.capture_context = staticmethod(capture_context)  # type: ignore[assignment]
    if run_handle is not None:
        WebLoop.run_handle = staticmethod(run_handle)  # type: ignore[assignment]
    if _default is not None and not _default.is_closed():
        return _default
    policy = asyncio.get_event_loop_policy()
    if not isinstance(policy, WebLoopPolicy):
        policy = WebLoopPolicy()
        asyncio.set_event_loop_policy(policy)
    loop = policy.get_event_loop()
    loop._default = True
    loop._install_asyncgen_hooks()
    _default = loop
    events._set_running_loop(loop)
    asyncio.run = _run  # type: ignore[assignment]
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError, AttributeError):
        pass  # not the main thread, or no signals
    return loop


# --------------------------------------------------------------------------
# time.sleep that blocks the calling code while the Go loop goes on serving
# JavaScript timers and I/O (loop.sleep in loop/host.go).

_real_sleep = time.sleep


def sleep(secs: float, /) -> None:
    """Suspend the calling code for secs seconds, as time.sleep does; meanwhile
    the kernel's event loop runs JavaScript timers, promise jobs and I/O
    completions (asyncio's own callbacks wait until the sleep is over). An
    interrupt ends the sleep with KeyboardInterrupt."""
    __tracebackhide__ = True  # noqa: F841  (a cell's traceback ends at its time.sleep)
    if isinstance(secs, float):
        if secs != secs:
            raise ValueError("Invalid value NaN (not a number)")
    else:
        secs = operator.index(secs)
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    ns = round(secs * 1e9) if isinstance(secs, float) else secs * 1_000_000_000
    if ns >= 1 << 63:
        raise OverflowError("sleep length is too large")
    host = _get_host()
    if not isinstance(host, _GoHost):
        _real_sleep(secs)
        return
    host.sleep(ns)
    _checkpoint()  # an interrupt left SIGINT pending: it raises here


def install_sleep() -> None:
    """Make time.sleep the sleep above, when the Go loop is the host."""
    if isinstance(_get_host(), _GoHost):
        time.sleep = sleep  # type: ignore[assignment]


def get_loop() -> WebLoop:
    """The default loop (installing it if need be)."""
    if _default is None or _default.is_closed():
        return install()
    return _default


def can_run_sync() -> bool:
    """Whether run_sync can block here: always, by running the loop nested."""
    return True


def run_sync(x: Awaitable[T]) -> T:
    """Block until the awaitable x is done and return its result, running the
    event loop (nested) meanwhile: tasks, timers and I/O make progress. Works
    from synchronous code and from inside a task or callback."""
    running = events._get_running_loop()
    loop = running if isinstance(running, WebLoop) and not running.is_closed() else get_loop()
    return loop.run_until_complete(x)


# A JavaScript call's settled promise on a WebLoop: the future is made, and
# awaited, in C (jsref.c settled_fast and settled_await, the same as
# WebLoop._settled_future and PyodideFuture.__await__, which that replaces).
_wasmpy.jsref_setup_loop(asyncio.get_event_loop, WebLoop, PyodideFuture, _Settle, _GoHost)


__all__ = [
    "PyodideFuture",
    "PyodideTask",
    "WebLoop",
    "WebLoopPolicy",
    "add_completion",
    "can_run_sync",
    "cancel_completion",
    "get_loop",
    "install",
    "run_sync",
]
