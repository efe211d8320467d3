"""Importing JavaScript objects as Python modules (register_js_module)."""

from __future__ import annotations

import sys
from importlib.abc import Loader, MetaPathFinder
from importlib.util import spec_from_loader
from typing import Any

from ._core_ffi import JsProxy


class JsFinder(MetaPathFinder):
    """Finds modules registered with register_js_module and their attributes."""

    def __init__(self) -> None:
        self.jsproxies: dict[str, Any] = {}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        parent, _, child = fullname.rpartition(".")
        if parent:
            parent_module = sys.modules.get(parent)
            if parent_module is None or not isinstance(parent_module, JsProxy):
                return None
            try:
                jsproxy = getattr(parent_module, child)
            except AttributeError:
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname) from None
            if not isinstance(jsproxy, JsProxy):
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        else:
            jsproxy = self.jsproxies.get(fullname)
            if jsproxy is None:
                return None
        return spec_from_loader(fullname, JsLoader(jsproxy), origin="javascript")

    def register_js_module(self, name: str, jsproxy: Any) -> None:
        """Registers ``jsproxy`` as a JavaScript module named ``name``."""
        if not isinstance(name, str):
            raise TypeError(f"Argument 'name' must be a str, not {type(name).__name__!r}")
        if not isinstance(jsproxy, JsProxy):
            raise TypeError(f"Argument 'jsproxy' must be a JsProxy, not {type(jsproxy).__name__!r}")
        self.jsproxies[name] = jsproxy

    def unregister_js_module(self, name: str) -> None:
        """Unregisters a JavaScript module with given name."""
        try:
            del self.jsproxies[name]
        except KeyError:
            raise ValueError(
                f"Cannot unregister {name!r}: no Javascript module with that name is registered"
            ) from None


class JsLoader(Loader):
    def __init__(self, jsproxy: Any) -> None:
        self.jsproxy = jsproxy

    def create_module(self, spec: Any) -> Any:
        return self.jsproxy

    def exec_module(self, module: Any) -> None:
        pass

    def is_package(self, fullname: str) -> bool:
        return True


def _install() -> JsFinder:
    for f in sys.meta_path:
        if isinstance(f, JsFinder):
            return f
    f = JsFinder()
    sys.meta_path.append(f)
    return f


jsfinder = _install()
register_js_module = jsfinder.register_js_module
unregister_js_module = jsfinder.unregister_js_module
