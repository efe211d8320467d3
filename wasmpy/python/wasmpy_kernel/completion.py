"""Completion for complete_request: the live namespace first, jedi when needed.

jedi costs 30-300 ms a request in wasm (it parses and infers the source of
the modules a cell names), IPython's own matchers about a millisecond: they
evaluate what stands before a dot with guarded_eval's "limited" policy and
list the attributes of the live object. WasmCompleter runs those matchers,
gives their completions jedi's type names (JupyterLab's icons) and
signatures, adds the names the cell binds before the cursor (what jedi would
have found there; for imports of modules already loaded, their live
attributes), and asks jedi only when the expression before a dot cannot be
evaluated: an import of a module not loaded yet, a call the policy refuses.
"""

from __future__ import annotations

import builtins
import inspect
import io
import keyword
import os
import re
import sys
import time
import tokenize
from types import (
    ClassMethodDescriptorType,
    FunctionType,
    MethodDescriptorType,
    ModuleType,
    WrapperDescriptorType,
)
from typing import Any

from IPython.core import completerlib
from IPython.core.completer import (
    Completion,
    CompletionContext,
    IPCompleter,
    SimpleCompletion,
    SimpleMatcherResult,
    completions_sorting_key,
    context_matcher,
    cursor_to_position,
    get__all__entries,
    not_found,
    provisionalcompleter,
    rectify_completions,
)
from IPython.core.error import TryNext
from IPython.core.guarded_eval import EvaluationContext, guarded_eval
from IPython.utils import generics
from IPython.utils.dir2 import dir2

# Time for the signatures of function completions (inspect.signature takes
# 0.2-1 ms a function in wasm); later ones go without, as IPython gives jedi's
# completions no type past its budget.
SIGNATURE_BUDGET = 0.005

_MISSING = object()
# Descriptors whose __get__ is the interpreter's own: binding them runs no user code.
_BINDABLE = (
    FunctionType,
    staticmethod,
    classmethod,
    MethodDescriptorType,
    ClassMethodDescriptorType,
    WrapperDescriptorType,
)
_IMPORTS = ("import", "from", "%aimport")


def kind(value: object) -> str:
    """jedi's type name for a live value, as ipykernel reports it."""
    if isinstance(value, ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if inspect.isroutine(value):
        return "function"
    return "instance"


def member(obj: object, name: str) -> object:
    """obj.name without running obj's code (a property or __getattr__ stays
    unevaluated; _MISSING when only they could answer); methods come bound."""
    try:
        if isinstance(obj, ModuleType):
            return vars(obj).get(name, _MISSING)
        value = inspect.getattr_static(obj, name, _MISSING)
        if isinstance(value, _BINDABLE):
            return value.__get__(None, obj) if isinstance(obj, type) else value.__get__(obj, type(obj))
        return value
    except Exception:  # an object odd enough to break the lookup: no type, no signature
        return _MISSING


def signature(value: object) -> str:
    """value's signature as jedi shows it, "(a, b=2)"; "" when it has none."""
    try:
        return str(inspect.signature(value))  # type: ignore[arg-type]
    except Exception:  # none to be had, or a broken __signature__
        return ""


def _tokens(code: str) -> list[str]:
    """code's names and operators, ";" for each statement's end, "0" for
    other tokens; as far as the tokenizer gets (code before a cursor is
    rarely complete)."""
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.NEWLINE:
                out.append(";")
            elif tok.type in (tokenize.NAME, tokenize.OP):
                out.append(tok.string)
            elif tok.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                out.append("0")
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def bound_names(code: str) -> dict[str, str]:
    """The names code binds, with jedi's type names: def and class names,
    parameters, imports, and the targets of assignments, for, as and :=.
    A scan of tokens, not a parse: the code before a cursor rarely parses."""
    names: dict[str, str] = {}
    toks = _tokens(code)
    depth, head, prev = 0, "", ";"
    params = lam = targets = -1  # depth of an open parameter list, lambda, for target
    pending: list[str] = []  # depth-0 names that an "=" would bind
    for i, s in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if s == ";":
            head, pending, lam, targets = "", [], -1, -1
        elif s in ("(", "[", "{"):
            depth += 1
            if s == "(" and i >= 2 and toks[i - 2] == "def":
                params = depth
        elif s in (")", "]", "}"):
            params = -1 if depth == params else params
            depth = max(depth - 1, 0)
        elif s == "=" and depth == 0:
            names.update(dict.fromkeys(pending, "statement"))
            pending = []
        elif s == ":" and depth == lam:
            lam = -1
        elif s == "in" and depth == targets:
            targets = -1
        elif s == "for":
            targets = depth
        elif s == "lambda":
            lam = depth
        elif s.isidentifier() and not keyword.iskeyword(s) and prev != "." and nxt != "as":
            t = ""
            if prev in ("def", "class"):
                t = "function" if prev == "def" else "class"
            elif head in ("import", "from"):
                if prev in ("import", ",", "(", "as"):
                    t = "module" if head == "import" else "statement"
            elif depth == params and prev in ("(", ",", "*", "**"):
                t = "param"
            elif depth == lam and prev in ("lambda", ",", "*", "**"):
                t = "param"
            elif prev == "as" or targets >= 0 or nxt == ":=" or (nxt == ":" and head == "" and depth == 0):
                t = "statement"
            elif depth == 0 and nxt in (",", "=") and (prev in (";", ",", "=", "*") or keyword.iskeyword(head)):
                pending.append(s)
            if t:
                names.setdefault(s, t)
        if not head and s != ";":
            head = s
        prev = s
    return names


_IMPORT_LINE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+)?import\s+\(?([\w.,\s]+?)\)?\s*(?:#.*)?$")


def imported(code: str) -> dict[str, object]:
    """What code's import lines bind, for the modules already imported (in
    sys.modules): resolving those runs no code, so `import os\nos.pa` needs
    neither the cell run nor jedi."""
    out: dict[str, object] = {}
    for line in code.splitlines():
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        base, names = m.groups()
        for part in names.split(","):
            words = part.split()
            if not words or (len(words) != 1 and (len(words) != 3 or words[1] != "as")):
                continue
            name, alias = words[0], (words[2] if len(words) == 3 else None)
            if base is None:
                bound = alias or name.split(".")[0]
                value = sys.modules.get(name if alias else bound, _MISSING)
            else:
                value = sys.modules.get(f"{base}.{name}", _MISSING)
                if value is _MISSING and base in sys.modules:
                    value = member(sys.modules[base], name)
                bound = alias or name
            if value is not _MISSING and bound.isidentifier():
                out[bound] = value
    return out


_roots: dict[str, tuple[int, list[str]]] = {}


def root_modules() -> list[str]:
    """completerlib.get_root_modules, keeping each sys.path entry's list
    while the entry's mtime stays: listing them all takes ~60 ms in wasm, and
    IPython keeps no cache without its pickleshare database."""
    names = set(sys.builtin_module_names)
    for entry in sys.path:
        path = os.path.abspath(entry or ".")
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            continue
        hit = _roots.get(path)
        if hit is None or hit[0] != mtime:
            hit = _roots[path] = (mtime, completerlib.module_list(path))
        names.update(hit[1])
    names.discard("__init__")
    return list(names)


def module_completer(self: Any, event: Any) -> list[str]:
    """completerlib.module_completer on the cached list of top-level modules;
    sorted, as jedi's (IPython keeps a custom completer's order)."""
    words = event.line.split(" ")
    if len(words) < 3 and words[0] in _IMPORTS and "." not in words[-1]:
        return sorted(root_modules())
    return sorted(completerlib.module_completion(event.line) or [])


class WasmCompleter(IPCompleter):
    """IPCompleter that answers from the live namespace and asks jedi only
    when the expression before a dot cannot be evaluated (see complete_cell)."""

    _with_jedi = False  # the second pass of complete_cell
    _unresolved = False  # python_matcher met an expression it could not evaluate

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._routines: dict[str, object] = {}  # function completions, for their signatures

    @property
    def matchers(self) -> list[Any]:
        if self._with_jedi or self.dict_keys_only:
            return super().matchers
        # IPython's list without jedi (its use_jedi=False list).
        return [
            *self.custom_matchers,
            *self._backslash_combining_matchers,
            *self.magic_arg_matchers,
            self.custom_completer_matcher,
            self.dict_key_matcher,
            self.magic_matcher,
            self.python_matcher,
            self.file_matcher,
            self.python_func_kw_matcher,
        ]

    @staticmethod
    def _sort(matches: Any) -> list[Any]:
        """IPython's order (keyword arguments first, private names last), but
        regardless of case, as jedi's: abc, abort, ..., DirEntry."""

        def key(c: Any) -> tuple[int, str, str, int]:
            first, word, last = completions_sorting_key(c.text)
            return first, word.lower(), word, last

        return sorted(matches, key=key)

    def complete_cell(self, code: str, cursor_pos: int) -> list[Completion]:
        """The completions of code at cursor_pos, rectified to one range;
        with jedi's when the live namespace could not resolve the expression
        before a dot (a second pass: IPython's matchers with jedi's)."""
        self._unresolved, self._routines = False, {}
        with provisionalcompleter():
            found = list(rectify_completions(code, self.completions(code, cursor_pos)))
            if self._unresolved and self.use_jedi:
                self._with_jedi = True
                try:
                    found = list(rectify_completions(code, self.completions(code, cursor_pos)))
                finally:
                    self._with_jedi = False
        deadline = time.monotonic() + SIGNATURE_BUDGET
        for c in found:
            value = self._routines.get(c.text, _MISSING)
            if value is not _MISSING and not c.signature and time.monotonic() < deadline:
                c.signature = signature(value)
        return found

    def _typed(self, name: str, value: object) -> SimpleCompletion:
        try:
            t = "instance" if value is _MISSING else kind(value)
        except Exception:  # a __class__ that raises
            t = "instance"
        if t == "function":
            self._routines[name] = value
        return SimpleCompletion(name, type=t)

    @context_matcher(identifier="IPCompleter.python_matcher")
    def python_matcher(self, context: CompletionContext) -> SimpleMatcherResult:
        """IPython's python_matcher, with jedi's type names and the names the
        cell binds before the cursor."""
        text = context.text_until_cursor
        # IPython's test wants a letter after the dot: "obj._x" would be a global name.
        probe = re.sub(r"\._\w*$", ".a", text)
        if self._determine_completion_context(probe) == self._CompletionContextType.ATTRIBUTE:
            offset = cursor_to_position(context.full_text, context.cursor_line, context.cursor_position)
            return self._attribute_matches(text, imported(context.full_text[:offset]))
        return self._global_matches(context)

    def _attribute_matches(self, text: str, cell_imports: dict[str, object]) -> SimpleMatcherResult:
        m = self._ATTR_MATCH_RE.match(text)
        if not m:
            return {"completions": [], "matched_fragment": ""}
        expr, attr = m.group(1, 2)
        obj = self._evaluate(expr, cell_imports)
        if obj is not_found:
            self._unresolved = True
            return {"completions": [], "matched_fragment": attr}
        words = get__all__entries(obj) if self.limit_to__all__ and hasattr(obj, "__all__") else dir2(obj)
        try:
            words = generics.complete_object(obj, words)
        except TryNext:
            pass
        except AssertionError:
            raise
        except Exception:
            pass  # as IPython: a broken completion hook does not stop completion
        omit = self.omit__names if not attr else 0
        out = []
        for w in words:
            if not w.startswith(attr) or (omit == 2 and w[:1] == "_"):
                continue
            if omit == 1 and w[:2] == "__" and w[-2:] == "__":
                continue
            out.append(self._typed(w, member(obj, w)))
        return {"completions": out, "matched_fragment": attr}

    def _evaluate(self, expr: str, cell_imports: dict[str, object]) -> object:
        """IPython's _evaluate_expr, which drops what does not parse from the
        left ("f(a" -> "a"); but not_found when what is left is only the
        tail of a longer expression: the "()" of "os.getcwd()". Names the
        cell imports (before the cursor) shadow the namespace's, as they
        will when it runs."""
        local = {**self.namespace, **cell_imports} if cell_imports else self.namespace
        context = EvaluationContext(globals=self.global_namespace, locals=local, evaluation=self.evaluation)
        tail = expr
        while tail:
            try:
                obj = guarded_eval(tail, context)
            except Exception:
                tail = self._trim_expr(tail)
                continue
            cut = expr[: len(expr) - len(tail)][-1:]
            return not_found if cut and (cut.isalnum() or cut in "_.)]}'\"") else obj
        return not_found

    def _global_matches(self, context: CompletionContext) -> SimpleMatcherResult:
        token = context.token
        spaces = (self.namespace, self.global_namespace, builtins.__dict__)
        out = []
        seen = set()
        for name in self.global_matches(token):
            if name in seen:
                continue
            seen.add(name)
            if keyword.iskeyword(name):
                out.append(SimpleCompletion(name, type="keyword"))
                continue
            value = next((ns[name] for ns in spaces if name in ns), _MISSING)
            out.append(self._typed(name, value))
        offset = cursor_to_position(context.full_text, context.cursor_line, context.cursor_position)
        for name, t in bound_names(context.full_text[: offset - len(token)]).items():
            if name.startswith(token) and name not in seen:
                out.append(SimpleCompletion(name, type=t))
        return {"completions": out}

    @context_matcher(identifier="IPCompleter.custom_completer_matcher")
    def custom_completer_matcher(self, context: CompletionContext) -> SimpleMatcherResult:
        """IPython's, with the type names of what an import line offers."""
        result = super().custom_completer_matcher(context)
        words = self.line_buffer.split()
        if words and words[0] in _IMPORTS:
            module = sys.modules.get(words[1]) if words[0] == "from" and "import" in words[2:] else None
            for c in result["completions"]:
                value = _MISSING if module is None else member(module, c.text)
                # What a module does not have yet is a submodule not imported.
                c.type = "module" if value is _MISSING else self._typed(c.text, value).type
        return result
