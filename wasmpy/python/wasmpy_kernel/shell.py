"""The IPython shell of the kernel, as ipykernel's ZMQInteractiveShell.

WasmShell publishes through host.emit instead of ZeroMQ: display_data and
update_display_data (WasmDisplayPublisher), execute_result (WasmDisplayHook),
error (_showtraceback), clear_output; payloads (page, set_next_input,
ask_exit) go to the execute reply. What the sandbox cannot do (subprocesses,
PyPI, GUI event loops) fails with SandboxUnsupportedError, whose traceback is
one clear line.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

from IPython.core import page, payloadpage
from IPython.core.autocall import ZMQExitAutocall
from IPython.core.completerlib import cd_completer, magic_run_completer, reset_completer
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell, InteractiveShellABC
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.usage import default_banner
from IPython.utils import openpy
from IPython.utils.strdispatch import StrDispatch
from traitlets import Any as AnyTrait
from traitlets import CBool, Instance, Type, default

from . import host, packages
from .aio import _loop_runner
from .completion import WasmCompleter, module_completer
from .formatting import WasmDisplayFormatter
from .transform import WasmTransformerManager, may_await
from .history import WasmHistoryManager

Hook = Callable[[dict[str, Any]], dict[str, Any] | None]

# Line and cell magics that run programs; all of them need a subprocess.
# %pip (and `%uv pip`, `!pip`) are answered from the preinstalled packages.
PACKAGE_MAGICS = ("conda", "mamba", "micromamba")
SCRIPT_MAGICS = ("script", "sh", "bash", "perl", "ruby", "python", "python2", "python3", "pypy")


class SandboxUnsupportedError(RuntimeError):
    """What the WASI sandbox cannot do: subprocesses, PyPI, GUI loops."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a stack: the message is all there is to say.
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


def no_subprocess(what: str) -> SandboxUnsupportedError:
    return SandboxUnsupportedError(
        f"{what} is not available: this kernel runs Python in a WebAssembly (WASI) sandbox "
        "that cannot start subprocesses or run shell commands."
    )


def no_packages(magic: str) -> SandboxUnsupportedError:
    return SandboxUnsupportedError(
        f"%{magic} is not available: this kernel runs Python in a WebAssembly (WASI) sandbox "
        "that cannot start subprocesses or download packages from PyPI; only the preinstalled "
        "packages can be imported."
    )


class WasmDisplayPublisher(DisplayPublisher):
    """Publishes display_data / update_display_data / clear_output to the host."""

    def __init__(self, shell: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(shell, *args, **kwargs)
        self._hooks: list[Hook] = []

    def publish(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        source: Any = None,
        *,
        transient: dict[str, Any] | None = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        self._validate_data(data, metadata)
        msg: dict[str, Any] | None = {
            "msg_type": "update_display_data" if update else "display_data",
            "content": {"data": data, "metadata": metadata or {}, "transient": transient or {}},
            "metadata": {},
        }
        for hook in list(self._hooks):
            msg = hook(msg) if msg is not None else None
        if msg is not None:
            host.emit(msg["msg_type"], msg["content"], msg.get("metadata"))

    def clear_output(self, wait: bool = False) -> None:
        host.emit("clear_output", {"wait": bool(wait)})

    def register_hook(self, hook: Hook) -> None:
        """hook(msg) may change msg or return None to swallow it (as ipykernel)."""
        self._hooks.append(hook)

    def unregister_hook(self, hook: Hook) -> bool:
        try:
            self._hooks.remove(hook)
        except ValueError:
            return False
        return True


class WasmDisplayHook(DisplayHook):
    """sys.displayhook for cells: publishes execute_result to the host."""

    def start_displayhook(self) -> None:
        self._content: dict[str, Any] = {"data": {}, "metadata": {}}

    def write_output_prompt(self) -> None:
        self._content["execution_count"] = self.prompt_count

    def write_format_data(self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None) -> None:
        self._content["data"] = format_dict
        self._content["metadata"] = md_dict or {}

    def finish_displayhook(self) -> None:
        content, self._content = self._content, {"data": {}, "metadata": {}}
        if content.get("data"):
            host.emit("execute_result", content)


@magics_class
class WasmMagics(Magics):
    """ipykernel's kernel magics that make sense here, and sandbox refusals."""

    @line_magic
    def less(self, arg_s: str) -> None:
        """Show a file through the pager. Files ending in .py are highlighted."""
        if not arg_s:
            raise UsageError("Missing filename.")
        if arg_s.endswith(".py"):
            cont = self.shell.pycolorize(openpy.read_py_file(arg_s, skip_encoding_cookie=False))
        else:
            with open(arg_s, encoding="utf-8", errors="replace") as f:
                cont = f.read()
        page.page(cont)

    more = line_magic("more")(less)

    @line_magic
    def pip(self, line: str) -> None:
        """Use pip from the notebook: in this sandbox nothing is downloaded,
        but `%pip install` succeeds for packages that are preinstalled, and
        `%pip list`, `%pip freeze` and `%pip show` work."""
        run_pip(shlex.split(line), "%pip")

    @line_magic
    def uv(self, line: str) -> None:
        """`%uv pip ...` is answered as `%pip ...` (nothing is downloaded)."""
        args = pip_args("uv " + line)
        if args is None:
            raise no_packages("uv")
        run_pip(args, "%uv pip")

    @line_magic
    def clear(self, arg_s: str) -> None:
        """Clear the output of the current cell."""
        self.shell.display_pub.clear_output()

    @line_magic
    def permissions(self, arg_s: str) -> None:
        """Show what this kernel's sandbox may reach (set by the flags it was
        installed with: --allow-net, --allow-read, --allow-write, --allow-env,
        --memory, --cell-timeout, --fetch-max-bytes, --fetch-timeout)."""
        from wasmpy_kernel import permissions

        perms = permissions()
        keys = ("network", "read", "write", "env", "memory_mib", "cell_timeout", "fetch_max_bytes", "fetch_timeout")
        for key in keys:
            value = perms.get(key)
            if isinstance(value, list):
                value = ", ".join(value) if value else "none"
            print(f"{key:15} {value}")


def _refuse_packages(name: str) -> Callable[..., None]:
    def magic(line: str = "", cell: str | None = None) -> None:
        raise no_packages(name)

    magic.__doc__ = f"%{name} is not available in the sandbox (no subprocess, no PyPI)."
    return magic


def run_pip(args: list[str], what: str) -> None:
    """Answer a pip command line from the preinstalled packages (see
    packages.py), printing what pip would."""
    try:
        out, err = packages.pip(args)
    except packages.PackageError as e:
        raise SandboxUnsupportedError(f"{what}: {e}") from None
    if out:
        print(out, end="")
    if err:
        print(err, end="", file=sys.stderr)


def pip_args(cmd: str) -> list[str] | None:
    """The arguments of a shell command that runs pip, or None."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    if words[:1] in (["pip"], ["pip3"]):
        return words[1:]
    if len(words) >= 3 and os.path.basename(words[0]).startswith("python") and words[1:3] == ["-m", "pip"]:
        return words[3:]
    if words[:2] == ["uv", "pip"]:
        return words[2:]
    return None


def _refuse_script(name: str) -> Callable[..., None]:
    def magic(line: str = "", cell: str | None = None) -> None:
        raise no_subprocess(f"%%{name}")

    magic.__doc__ = f"%%{name} is not available in the sandbox (no subprocess)."
    return magic


class WasmShell(InteractiveShell):
    """InteractiveShell for wasmpy, after ipykernel's ZMQInteractiveShell."""

    displayhook_class = Type(WasmDisplayHook)
    input_transformer_manager = Instance(WasmTransformerManager, ())
    display_pub_class = Type(WasmDisplayPublisher)
    data_pub_class = AnyTrait()
    kernel = AnyTrait()
    parent_header = AnyTrait()
    readline_use = CBool(False)
    autoindent = CBool(False)
    exiter = Instance(ZMQExitAutocall)
    keepkernel_on_exit: bool | None = None

    @default("banner1")
    def _default_banner1(self) -> str:
        return default_banner

    @default("exiter")
    def _default_exiter(self) -> ZMQExitAutocall:
        return ZMQExitAutocall(self)

    @default("loop_runner")
    def _default_loop_runner(self) -> Any:
        return _loop_runner()

    def init_environment(self) -> None:
        env = os.environ
        env["TERM"] = "xterm-color"
        env["CLICOLOR"] = "1"
        env["PAGER"] = "cat"
        env["GIT_PAGER"] = "cat"

    def init_virtualenv(self) -> None:
        pass

    def init_data_pub(self) -> None:
        pass

    def init_hooks(self) -> None:
        super().init_hooks()
        self.set_hook("show_in_pager", page.as_hook(payloadpage.page), 99)

    def init_display_formatter(self) -> None:
        self.display_formatter = WasmDisplayFormatter(parent=self)
        self.configurables.append(self.display_formatter)

    def init_history(self) -> None:
        self.history_manager = WasmHistoryManager(shell=self, parent=self)
        self.configurables.append(self.history_manager)

    def init_completer(self) -> None:
        """IPython's, with WasmCompleter and a cached list of modules."""
        self.Completer = WasmCompleter(
            shell=self, namespace=self.user_ns, global_namespace=self.user_global_ns, parent=self
        )
        self.configurables.append(self.Completer)
        sdisp = self.strdispatchers.get("complete_command", StrDispatch())
        self.strdispatchers["complete_command"] = sdisp
        self.Completer.custom_completers = sdisp
        for key in ("import", "from", "%aimport"):
            self.set_hook("complete_command", module_completer, str_key=key)
        self.set_hook("complete_command", magic_run_completer, str_key="%run")
        self.set_hook("complete_command", cd_completer, str_key="%cd")
        self.set_hook("complete_command", reset_completer, str_key="%reset")

    def init_magics(self) -> None:
        super().init_magics()
        self.register_magics(WasmMagics)
        mm = self.magics_manager
        for name in PACKAGE_MAGICS:
            mm.register_function(_refuse_packages(name), "line", name)
        for name in SCRIPT_MAGICS:
            mm.register_function(_refuse_script(name), "cell", name)

    def enable_gui(self, gui: str | None = None) -> None:
        if gui not in (None, "inline"):
            raise SandboxUnsupportedError(f"GUI event loop {gui!r} is not available in the sandbox.")
        self.active_eventloop = gui

    # Subprocesses: every route to one ends here.
    def system_piped(self, cmd: str) -> None:
        args = pip_args(cmd)
        if args is None:
            raise no_subprocess("Running shell commands (!cmd, %system)")
        run_pip(args, "!pip")

    system_raw = system_piped

    system = system_piped

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> Any:
        raise no_subprocess("Capturing shell command output (!!cmd, x = !cmd, %sx)")

    def ask_exit(self) -> None:
        self.exit_now = not self.keepkernel_on_exit
        self.payload_manager.write_payload({"source": "ask_exit", "keepkernel": self.keepkernel_on_exit})

    def should_run_async(
        self, raw_cell: str, *, transformed_cell: str | None = None, preprocessing_exc_tuple: Any = None
    ) -> bool:
        # IPython compiles the cell once more to find out; most cells show
        # at a glance that they cannot be a coroutine.
        if transformed_cell is not None and not may_await(transformed_cell):
            return False
        return super().should_run_async(
            raw_cell, transformed_cell=transformed_cell, preprocessing_exc_tuple=preprocessing_exc_tuple
        )

    def run_cell(self, *args: Any, **kwargs: Any) -> Any:
        self._last_traceback: list[str] | None = None
        return super().run_cell(*args, **kwargs)

    def _showtraceback(self, etype: type[BaseException], evalue: BaseException, stb: list[str]) -> None:
        host.emit("error", {"traceback": stb, "ename": str(etype.__name__), "evalue": str(evalue)})
        self._last_traceback = stb

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.payload_manager.write_payload({"source": "set_next_input", "text": text, "replace": replace})

    def set_parent(self, parent: dict[str, Any]) -> None:
        self.parent_header = parent

    def get_parent(self) -> dict[str, Any]:
        return self.parent_header or {}


InteractiveShellABC.register(WasmShell)
