"""Faster tracebacks of failing cells.

IPython's traceback formatter hands the whole traceback to stack_data and
then drops its first tb_offset frames (the shell's own run_code). stack_data
parses the source file of every frame it is given, so the first error of a
session parsed IPython's interactiveshell.py (some 4,000 lines): 0.4 s in
wasm. :func:`install` makes the formatter skip those frames before
stack_data sees them; the records it returns are the same.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any


def install(tb_formatter: Any) -> None:
    """Wrap tb_formatter.get_records (an IPython VerboseTB, such as the
    shell's InteractiveTB) once."""
    get_records = tb_formatter.get_records
    if getattr(get_records, "__wrapped__", None) is not None:
        return

    def skipping_get_records(etb: TracebackType, context: int, tb_offset: int) -> Any:
        tb: TracebackType | None = etb
        for _ in range(tb_offset):
            tb = tb.tb_next if tb is not None else None
        if tb is None:
            return []  # as the slice [tb_offset:] of too few records
        return get_records(tb, context, 0)

    skipping_get_records.__wrapped__ = get_records  # type: ignore[attr-defined]
    tb_formatter.get_records = skipping_get_records
