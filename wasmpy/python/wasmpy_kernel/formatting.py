"""The display formatter: IPython's, with a short way for plain values.

IPython asks each of its 12 formatters about every result (a lookup by type
through the MRO, then a look for a ``_repr_*_`` method): some 0.45 ms in wasm
for ``1+1``, a fifth of the cell. A value of a builtin scalar type has no
``_repr_*_`` method, so unless a printer is registered for something (a
formatter's singleton, type or deferred printers), only text/plain can
answer: WasmDisplayFormatter then asks text/plain alone. The result is the
same.
"""

from __future__ import annotations

from typing import Any

from IPython.core.formatters import DisplayFormatter

# Exact types (not subclasses, which may add _repr_*_ methods).
PLAIN_TYPES = frozenset({int, float, complex, bool, str, bytes, type(None)})


def _has_printers(formatter: Any) -> bool:
    return bool(formatter.singleton_printers or formatter.type_printers or formatter.deferred_printers)


class WasmDisplayFormatter(DisplayFormatter):
    """DisplayFormatter that formats builtin scalars with text/plain alone
    while no other formatter has a printer registered."""

    def format(self, obj: Any, include: Any = None, exclude: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        if type(obj) in PLAIN_TYPES and self._plain_only(include, exclude):
            data = self.formatters["text/plain"](obj)
            md = None
            if isinstance(data, tuple) and len(data) == 2:
                data, md = data
            return ({} if data is None else {"text/plain": data}), ({} if md is None else {"text/plain": md})
        return super().format(obj, include, exclude)

    def _plain_only(self, include: Any, exclude: Any) -> bool:
        if "text/plain" not in self.formatters:
            return False
        if (include and "text/plain" not in include) or (exclude and "text/plain" in exclude):
            return False
        if _has_printers(self.ipython_display_formatter) or _has_printers(self.mimebundle_formatter):
            return False
        return not any(name != "text/plain" and _has_printers(f) for name, f in self.formatters.items())
