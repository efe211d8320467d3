"""The kernel: answers the requests the Go kernel forwards, as ipykernel 6.

Kernel.handle is the dispatcher target "kernel". Its data is JSON
``{"op", "content", "header"[, "metadata", "buffers"]}``; it returns the JSON
content of the reply. While an op runs, messages go out through host.emit.
"""

from __future__ import annotations

import base64
import builtins
import getpass
import json
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from comm.base_comm import CommManager
from IPython.core import release
from IPython.core.error import StdinNotImplementedError
from IPython.utils.tokenutil import token_at_cursor

from . import aio, comms, host
from .shell import WasmShell

JSONDict = dict[str, Any]

PROTOCOL_VERSION = "5.3"
EXPERIMENTAL_KEY = "_jupyter_types_experimental"

HELP_LINKS = [
    {"text": "Python Reference", "url": "https://docs.python.org/%i.%i" % sys.version_info[:2]},
    {"text": "IPython Reference", "url": "https://ipython.org/documentation.html"},
]


def language_info() -> JSONDict:
    return {
        "name": "python",
        "version": sys.version.split()[0],
        "mimetype": "text/x-python",
        "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
        "file_extension": ".py",
    }


class Kernel:
    """One kernel per interpreter: the shell, the comm manager, the ops."""

    def __init__(self) -> None:
        aio.install_policy()
        self.shell: WasmShell = WasmShell.instance(kernel=self)
        # ipykernel's default extension: %store (kept in the profile's db,
        # which lives as long as the interpreter's scratch directory).
        self.shell.extension_manager.load_extension("storemagic")
        self.comm_manager = CommManager()
        comms.install(self.comm_manager)
        self._parent: JSONDict = {}
        self._allow_stdin = False
        builtins.input = self.raw_input
        getpass.getpass = self.getpass
        self._ops: dict[str, Callable[[JSONDict], JSONDict]] = {
            "execute": self.do_execute,
            "complete": self.do_complete,
            "inspect": self.do_inspect,
            "is_complete": self.do_is_complete,
            "history": self.do_history,
            "kernel_info": self.kernel_info,
            "comm_info": self.do_comm_info,
            "comm_open": self._comm_handler(self.comm_manager.comm_open),
            "comm_msg": self._comm_handler(self.comm_manager.comm_msg),
            "comm_close": self._comm_handler(self.comm_manager.comm_close),
        }

    # ---- dispatch -----------------------------------------------------------

    def handle(self, data: bytes) -> bytes:
        """The "kernel" dispatcher target: one request in, its reply content out.

        The host may call it again while a request waits in a host call; the
        outer request's parent comes back when the inner one is done.
        """
        op, outer = "", self._parent
        try:
            req = json.loads(data)
            op = str(req.get("op", ""))
            self.set_parent(op, req)
            fn = self._ops.get(op)
            if fn is None:
                raise LookupError(f"unknown op {op!r}")
            if req.get("interrupted"):
                # Interrupted while it waited to reach the interpreter.
                raise KeyboardInterrupt
            reply = fn(req.get("content") or {})
        except (Exception, KeyboardInterrupt, SystemExit) as e:
            # A bad request, a kernel bug, or an interrupt outside user code.
            reply = self._failed(op, e)
        finally:
            # (The dispatcher flushes stdout and stderr as it returns.)
            self._parent = outer
            self.shell.set_parent(outer)
        return host.dumps(reply)

    def _failed(self, op: str, e: BaseException) -> JSONDict:
        reply = _error_reply(e)
        if op == "execute":
            try:
                host.emit("error", {k: reply[k] for k in ("ename", "evalue", "traceback")})
            except (Exception, KeyboardInterrupt):
                pass  # the reply still says what happened
            reply.update(execution_count=self.shell.execution_count - 1, user_expressions={}, payload=[])
            self.shell.payload_manager.clear_payload()
        return reply

    def set_parent(self, op: str, req: JSONDict) -> None:
        header = req.get("header") or {}
        self._parent = {
            "header": header,
            "msg_id": header.get("msg_id"),
            "msg_type": header.get("msg_type", f"{op}_request"),
            "content": req.get("content") or {},
            "metadata": req.get("metadata") or {},
            "buffers": [base64.b64decode(b) for b in req.get("buffers") or []],
        }
        self.shell.set_parent(self._parent)

    def get_parent(self, channel: str = "shell") -> JSONDict:
        """The request being handled, as ipykernel's Kernel.get_parent."""
        return self._parent

    # ---- ops ----------------------------------------------------------------

    def kernel_info(self, content: JSONDict) -> JSONDict:
        return {
            "status": "ok",
            "protocol_version": PROTOCOL_VERSION,
            "implementation": "ipython",
            "implementation_version": release.version,
            "language_info": language_info(),
            "banner": self.shell.banner,
            "help_links": HELP_LINKS,
        }

    def do_execute(self, content: JSONDict) -> JSONDict:
        shell = self.shell
        code = str(content.get("code", ""))
        silent = bool(content.get("silent", False))
        store_history = bool(content.get("store_history", not silent))
        user_expressions = content.get("user_expressions") or {}
        if not silent:
            host.emit("execute_input", {"code": code, "execution_count": shell.execution_count})
        cell_id = self._parent["metadata"].get("cellId")
        outer_allow_stdin, self._allow_stdin = self._allow_stdin, bool(content.get("allow_stdin", False))
        count = shell.execution_count
        try:
            res = shell.run_cell(code, store_history=store_history, silent=silent, cell_id=cell_id)
        finally:
            self._allow_stdin = outer_allow_stdin
            if store_history and shell.execution_count == count:
                # An interrupt landed in IPython's bookkeeping after the
                # cell's input was stored, before the count moved on: never
                # reuse the line number (the next history insert would clash).
                shell.execution_count += 1
        reply: JSONDict = {}
        if res.success:
            reply["status"] = "ok"
        else:
            err = res.error_before_exec if res.error_before_exec is not None else res.error_in_exec
            reply.update(
                status="error",
                traceback=shell._last_traceback or [],
                ename=str(type(err).__name__),
                evalue=str(err),
            )
        reply["execution_count"] = shell.execution_count - 1
        if reply["status"] == "ok":
            reply["user_expressions"] = shell.user_expressions(user_expressions)
        else:
            reply["user_expressions"] = {}
        reply["payload"] = shell.payload_manager.read_payload()
        shell.payload_manager.clear_payload()
        return reply

    def do_complete(self, content: JSONDict) -> JSONDict:
        code = str(content.get("code", ""))
        cursor_pos = content.get("cursor_pos")
        if cursor_pos is None:
            cursor_pos = len(code)
        completions = self.shell.Completer.complete_cell(code, cursor_pos)
        types = [
            {"start": c.start, "end": c.end, "text": c.text, "type": c.type, "signature": c.signature}
            for c in completions
        ]
        if completions:
            start, end = completions[0].start, completions[0].end
        else:
            start = end = cursor_pos
        return {
            "matches": [c.text for c in completions],
            "cursor_start": start,
            "cursor_end": end,
            "metadata": {EXPERIMENTAL_KEY: types},
            "status": "ok",
        }

    def do_inspect(self, content: JSONDict) -> JSONDict:
        code = str(content.get("code", ""))
        cursor_pos = content.get("cursor_pos")
        if cursor_pos is None:
            cursor_pos = len(code)
        name = token_at_cursor(code, cursor_pos)
        reply: JSONDict = {"status": "ok", "data": {}, "metadata": {}}
        try:
            bundle = self.shell.object_inspect_mime(
                name,
                detail_level=int(content.get("detail_level", 0)),
                omit_sections=set(content.get("omit_sections") or ()),
            )
            reply["data"].update(bundle)
            if not self.shell.enable_html_pager:
                reply["data"].pop("text/html", None)
            reply["found"] = True
        except KeyError:
            reply["found"] = False
        return reply

    def do_is_complete(self, content: JSONDict) -> JSONDict:
        status, indent = self.shell.input_transformer_manager.check_complete(str(content.get("code", "")))
        reply: JSONDict = {"status": status}
        if status == "incomplete":
            reply["indent"] = " " * (indent or 0)
        return reply

    def do_history(self, content: JSONDict) -> JSONDict:
        hm = self.shell.history_manager
        kind = content.get("hist_access_type")
        raw = bool(content.get("raw", True))
        output = bool(content.get("output", False))
        n = content.get("n")
        if kind == "tail":
            hist = hm.get_tail(10 if n is None else int(n), raw=raw, output=output, include_latest=True)
        elif kind == "range":
            start, stop = int(content.get("start") or 0), content.get("stop")
            session = int(content.get("session") or 0)
            hist = hm.get_range_stored(session, start, None if stop is None else int(stop), raw=raw, output=output)
        elif kind == "search":
            hist = hm.search(
                content.get("pattern") or "*",
                raw=raw,
                output=output,
                n=None if n is None else int(n),
                unique=bool(content.get("unique", False)),
            )
        else:
            hist = []
        if output:
            hist = hm.with_outputs(hist)
        return {"status": "ok", "history": [list(h) for h in hist]}

    def do_comm_info(self, content: JSONDict) -> JSONDict:
        return comms.comm_info(self.comm_manager, content.get("target_name"))

    def _comm_handler(self, fn: Callable[[Any, Any, JSONDict], None]) -> Callable[[JSONDict], JSONDict]:
        def handle(content: JSONDict) -> JSONDict:
            fn(None, None, self._parent)
            return {}

        return handle

    # ---- stdin --------------------------------------------------------------

    def raw_input(self, prompt: object = "") -> str:
        """input() of user code: forwarded to the front end (input_request)."""
        if not self._allow_stdin:
            raise StdinNotImplementedError(
                "raw_input was called, but this frontend does not support input requests."
            )
        return host.request_input(str(prompt), password=False)

    def getpass(self, prompt: str = "Password: ", stream: Any = None) -> str:
        """getpass.getpass of user code: forwarded with password true."""
        if not self._allow_stdin:
            raise StdinNotImplementedError(
                "getpass was called, but this frontend does not support input requests."
            )
        if stream is not None:
            warnings.warn(
                "The `stream` parameter of `getpass.getpass` will have no effect in this kernel",
                UserWarning,
                stacklevel=2,
            )
        return host.request_input(prompt, password=True)


def _error_reply(e: BaseException) -> JSONDict:
    return {
        "status": "error",
        "ename": type(e).__name__,
        "evalue": str(e),
        "traceback": traceback.format_exception(e),
    }
