"""pyodide.code: running code (Pyodide 0.29 API).

run_js runs JavaScript in the kernel's JavaScript world; eval_code,
eval_code_async and CodeRunner (from _pyodide._base) run Python source and
return the value of the last expression; find_imports lists the modules a
source imports; relaxed_call and relaxed_wrap call functions ignoring extra
arguments. The module's names are Pyodide's (dir(pyodide.code) matches).
"""

from collections.abc import Callable
from functools import lru_cache, wraps
from inspect import Parameter, Signature, signature
from typing import Any, ParamSpec, TypeVar

from _pyodide._base import (
    CodeRunner,
    eval_code,
    eval_code_async,
    find_imports,
    should_quiet,
)

from pyodide._core_ffi import run_js

run_js.__module__ = __name__  # defined in pyodide/code.py in Pyodide


def _relaxed_sig(func: Callable[..., Any]) -> "Signature | None":
    try:
        sig = signature(func)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    kinds = [p.kind for p in params]
    if Parameter.VAR_POSITIONAL not in kinds:
        pos = len(params)
        for i, k in enumerate(kinds):
            if k in (Parameter.KEYWORD_ONLY, Parameter.VAR_KEYWORD):
                pos = i
                break
        params.insert(pos, Parameter("__var_positional", Parameter.VAR_POSITIONAL))
    if Parameter.VAR_KEYWORD not in kinds:
        params.append(Parameter("__var_keyword", Parameter.VAR_KEYWORD))
    return sig.replace(parameters=params)


@lru_cache
def _relaxed_sig_cached(func: Callable[..., Any]) -> "Signature | None":
    return _relaxed_sig(func)


Param = ParamSpec("Param")
Param2 = ParamSpec("Param2")
RetType = TypeVar("RetType")


def _call_bound(func: Callable[..., Any], sig: Signature, args: Any, kwargs: dict[str, Any]) -> Any:
    bound = sig.bind(*args, **kwargs)
    bound.arguments.pop("__var_positional", None)
    bound.arguments.pop("__var_keyword", None)
    return func(*bound.args, **bound.kwargs)


def relaxed_wrap(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the function ignores extra positional and keyword arguments."""
    sig = _relaxed_sig(func)
    if sig is None:
        raise TypeError("Cannot wrap function")

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _call_bound(func, sig, args, kwargs)

    return wrapper


def relaxed_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` ignoring extra positional and keyword arguments."""
    # The signature is cached by func: an unhashable callable is a
    # TypeError, as in Pyodide.
    sig = _relaxed_sig_cached(func)
    if sig is None:
        return func(*args, **kwargs)
    return _call_bound(func, sig, args, kwargs)


__all__ = [
    "CodeRunner",
    "eval_code",
    "eval_code_async",
    "find_imports",
    "should_quiet",
    "run_js",
    "relaxed_wrap",
    "relaxed_call",
]
