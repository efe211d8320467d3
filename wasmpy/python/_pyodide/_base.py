"""_pyodide._base: running Python source (as Pyodide's module of that name).

eval_code, eval_code_async and CodeRunner run Python source and return the
value of the last expression; find_imports lists the modules a source
imports; should_quiet tells whether a source ends with a semicolon.
pyodide.code re-exports them.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import tokenize
from io import StringIO
from textwrap import dedent
from types import CodeType
from typing import Any, Literal

ReturnMode = Literal["last_expr", "last_expr_or_assign", "none"]


def should_quiet(source: str, /) -> bool:
    """True if the last token of ``source`` (ignoring comments and blank lines) is ``;``."""
    toks = list(tokenize.generate_tokens(StringIO(source).readline))
    skip = (tokenize.ENDMARKER, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    for tok in reversed(toks):
        if tok.type in skip:
            continue
        return tok.type == tokenize.OP and tok.string == ";"
    return False


class _Result(Exception):
    """Carries the value of the last expression out of the executed code."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


# Reachable from the executed code without adding a global to its namespace.
_RESULT_NAME = "___wasmpy_code_result"
setattr(builtins, _RESULT_NAME, _Result)


def _assign_to_expr(mod: ast.Module) -> None:
    if not mod.body:
        return
    last = mod.body[-1]
    if isinstance(last, ast.Assign):
        target = last.targets[0]
    elif isinstance(last, (ast.AugAssign, ast.AnnAssign)):
        target = last.target
    else:
        return
    if isinstance(target, ast.Name):
        mod.body.append(ast.Expr(ast.Name(target.id, ast.Load())))
        ast.fix_missing_locations(mod)


def _expr_to_raise(mod: ast.Module) -> None:
    if not mod.body or not isinstance(mod.body[-1], ast.Expr):
        return
    last = mod.body[-1]
    call = ast.Call(func=ast.Name(_RESULT_NAME, ast.Load()), args=[last.value], keywords=[])
    node = ast.Raise(exc=call, cause=None)
    ast.copy_location(node, last)
    ast.copy_location(call, last)
    mod.body[-1] = node


class CodeRunner:
    """Fine control over running a code block: parse (``ast``), compile
    (``code``), run (``run``/``run_async``), with AST transforms in between."""

    ast: ast.Module
    code: CodeType | None

    def __init__(
        self,
        source: str,
        *,
        return_mode: ReturnMode = "last_expr",
        mode: str = "exec",
        quiet_trailing_semicolon: bool = True,
        filename: str = "<exec>",
        flags: int = 0x0,
        dont_inherit: bool = False,
        optimize: int = -1,
    ):
        self._compiled = False
        self._source = dedent(source)
        self._return_mode = return_mode
        self._mode = mode
        self._quiet = quiet_trailing_semicolon
        self._filename = filename
        self._flags = flags
        self._dont_inherit = dont_inherit
        self._optimize = optimize
        # self.code exists only once compile() ran, as in _pyodide/_base.py.
        self.ast = compile(self._source, filename, mode, flags | ast.PyCF_ONLY_AST)

    def compile(self) -> CodeRunner:
        """Compile ``self.ast`` into ``self.code``. Can only be used once."""
        if self._compiled:
            raise RuntimeError("Already compiled")
        self._compiled = True
        mode = self._return_mode
        if self._quiet and should_quiet(self._source):
            mode = "none"
        if mode == "last_expr_or_assign":
            _assign_to_expr(self.ast)
        if mode.startswith("last_expr"):
            _expr_to_raise(self.ast)
        ast.fix_missing_locations(self.ast)
        self.code = compile(self.ast, self._filename, self._mode, self._flags, self._dont_inherit, self._optimize)
        return self

    def _set_linecache(self) -> None:
        fn = self._filename
        if fn.startswith("<") and fn.endswith(">"):
            return
        src = self._source
        linecache.cache[fn] = (len(src), None, src.splitlines(True), fn)

    def _namespaces(self, globals: dict[str, Any] | None, locals: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
        if globals is None:
            globals = {}
        if locals is None:
            locals = globals
        if not self._compiled:
            raise RuntimeError("Not yet compiled")
        self._set_linecache()
        return globals, locals

    def run(self, globals: dict[str, Any] | None = None, locals: dict[str, Any] | None = None) -> Any:
        """Run ``self.code`` (no top-level await) and return the last expression's value."""
        globals, locals = self._namespaces(globals, locals)
        if self.code is None:
            return None
        try:
            coro = eval(self.code, globals, locals)
            if coro:
                raise RuntimeError("Used eval_code with TOP_LEVEL_AWAIT. Use run_async for this instead.")
        except _Result as e:
            return e.value
        return None

    async def run_async(self, globals: dict[str, Any] | None = None, locals: dict[str, Any] | None = None) -> Any:
        """Run ``self.code``, awaiting it if it uses top-level await."""
        globals, locals = self._namespaces(globals, locals)
        if self.code is None:
            return None
        try:
            coro = eval(self.code, globals, locals)
            if coro:
                await coro
        except _Result as e:
            return e.value
        return None


def eval_code(
    source: str,
    globals: dict[str, Any] | None = None,
    locals: dict[str, Any] | None = None,
    *,
    return_mode: ReturnMode = "last_expr",
    quiet_trailing_semicolon: bool = True,
    filename: str = "<exec>",
    flags: int = 0x0,
    dont_inherit: bool = False,
    optimize: int = -1,
) -> Any:
    """Run Python source; return the last expression's value (see CodeRunner)."""
    return (
        CodeRunner(
            source,
            return_mode=return_mode,
            quiet_trailing_semicolon=quiet_trailing_semicolon,
            filename=filename,
            flags=flags,
            dont_inherit=dont_inherit,
            optimize=optimize,
        )
        .compile()
        .run(globals, locals)
    )


async def eval_code_async(
    source: str,
    globals: dict[str, Any] | None = None,
    locals: dict[str, Any] | None = None,
    *,
    return_mode: ReturnMode = "last_expr",
    quiet_trailing_semicolon: bool = True,
    filename: str = "<exec>",
    flags: int = 0x0,
    dont_inherit: bool = False,
    optimize: int = -1,
) -> Any:
    """Run Python source that may use top-level await; return the last expression's value."""
    flags = flags or ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    return await (
        CodeRunner(
            source,
            return_mode=return_mode,
            quiet_trailing_semicolon=quiet_trailing_semicolon,
            filename=filename,
            flags=flags,
            dont_inherit=dont_inherit,
            optimize=optimize,
        )
        .compile()
        .run_async(globals, locals)
    )


def find_imports(source: str) -> list[str]:
    """The modules ``source`` imports (with their parent packages), sorted."""
    try:
        mod = ast.parse(dedent(source))
    except SyntaxError:
        return []
    found: set[str] = set()

    def add(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            found.add(".".join(parts[:i]))

    for node in ast.walk(mod):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            # _base.py find_imports: relative imports count by module name.
            if node.module:
                add(node.module)
    return sorted(found)


__all__ = ["CodeRunner", "eval_code", "eval_code_async", "find_imports", "should_quiet"]
