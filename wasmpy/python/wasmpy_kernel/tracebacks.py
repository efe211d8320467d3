"""Faster tracebacks of failing cells.

IPython's traceback formatter hands the whole traceback to stack_data and
then drops its first tb_offset frames (the shell's own run_code). stack_data
parses the source file of every frame it is given, so the first error of a
session parsed IPython's interactiveshell.py (some 4,000 lines): 0.4 s in
wasm. :func:`install` makes the formatter skip those frames before
stack_data sees them; the records it returns are the same.

It also drops the frames at the end of a traceback that ask to be hidden
(``__tracebackhide__``, when the shell hides such frames): IPython hides
them except the last, but here the last is often the kernel's own plumbing
(the SIGINT handler, the host call a time.sleep waits in), so that an
interrupted cell ended in frames the user never wrote, where ipykernel shows
the cell's line.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any


def _hidden(record: Any) -> bool:
    frame = getattr(record, "frame", None)
    try:
        return bool(frame is not None and frame.f_locals.get("__tracebackhide__"))
    except Exception:  # noqa: BLE001  (a frame whose locals cannot be read)
        return False


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
        records = get_records(tb, context, 0)
        if getattr(tb_formatter, "skip_hidden", False):
            while len(records) > 1 and _hidden(records[-1]):
                records.pop()
        return records

    skipping_get_records.__wrapped__ = get_records  # type: ignore[attr-defined]
    tb_formatter.get_records = skipping_get_records
