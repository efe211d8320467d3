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

:func:`reuse_highlighting` stops each traceback from rebuilding its syntax
highlighting: stack_data makes a new pygments lexer class for every frame
(which compiles the Python lexer's rules again) and IPython a new style
class and terminal formatter for every traceback. In wasm that was 40 ms an
error; the text is the same.

:func:`trim_caches` keeps the memory that tracebacks leave behind bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
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
        trim_caches()
        return records

    skipping_get_records.__wrapped__ = get_records  # type: ignore[attr-defined]
    tb_formatter.get_records = skipping_get_records


# How many failing cells' entries the caches of `executing` keep (trim_caches).
KEEP_CELLS = 64
_CELL_PREFIX = "<ipython-input-"


def trim_caches() -> None:
    """Bound what `executing` (under stack_data) keeps of failing cells.

    It caches for good a parsed Source per (file name, lines), an entry per
    (code object, offset) and, in two memos, the statements of each Source,
    so every failing cell left its source, AST and tokens behind (some 6 KB)
    and a long session's memory grew with its errors (ipykernel's does too).
    The entries of all but the last KEEP_CELLS cells are dropped (those of
    real files stay), and the memos start afresh when they grow long.
    """
    try:
        import executing
    except ImportError:
        return
    todo: list[type] = [executing.Source]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for name, filename in (
            ("__source_cache_with_lines", lambda key: key[0]),
            ("__executing_cache", lambda key: getattr(key[0], "co_filename", "")),
        ):
            cache = cls.__dict__.get(name)
            if not isinstance(cache, dict) or len(cache) <= KEEP_CELLS:
                continue
            cells = [k for k in cache if str(filename(k)).startswith(_CELL_PREFIX)]
            for k in cells[: max(0, len(cells) - KEEP_CELLS)]:
                del cache[k]
    # Its unbounded memos hold Sources and AST nodes too: start them afresh
    # when they get long (they only save time).
    for fn in (executing.Source.statements_at_line, getattr(executing.executing, "statement_containing_node", None)):
        info = getattr(fn, "cache_info", None)
        if info is not None and info().currsize > 4 * KEEP_CELLS:
            fn.cache_clear()


# What reuse_highlighting replaced, by (module, name): for tests.
ORIGINALS: dict[tuple[Any, str], Any] = {}


def reuse_highlighting() -> None:
    """Patch stack_data and IPython's ultratb (once) to reuse the lexer
    class, the executing-node style and the terminal formatter."""
    import stack_data
    import stack_data.core
    from IPython.core import ultratb

    for module, name, new in (
        (stack_data.core, "_pygmented_with_ranges", _pygmented_with_ranges),
        (stack_data, "style_with_executing_node", _style_with_executing_node),
        (ultratb, "Terminal256Formatter", _terminal256_formatter),
    ):
        if (module, name) not in ORIGINALS:
            ORIGINALS[module, name] = getattr(module, name)
            setattr(module, name, new)


@functools.cache
def _ranges_lexer() -> type:
    """The Python lexer that marks the tokens of given ranges (the node
    being executed), made once: pygments compiles a lexer class's rules on
    its first use."""
    from pygments.lexers import get_lexer_by_name

    class RangesLexer(type(get_lexer_by_name("python3"))):  # type: ignore[misc]
        def __init__(self, ranges: list[tuple[int, int]], **options: Any) -> None:
            super().__init__(**options)
            self.ranges = ranges

        def get_tokens(self, text: str, unfiltered: bool = False) -> Iterator[tuple[Any, str]]:
            length = 0
            for ttype, value in super().get_tokens(text, unfiltered):
                if any(start <= length < end for start, end in self.ranges):
                    ttype = ttype.ExecutingNode
                length += len(value)
                yield ttype, value

    return RangesLexer


def _pygmented_with_ranges(formatter: Any, code: str, ranges: list[tuple[int, int]]) -> list[str]:
    """stack_data.utils._pygmented_with_ranges, with one lexer class."""
    import pygments

    try:
        highlighted = pygments.highlight(code, _ranges_lexer()(ranges, stripnl=False), formatter)
    except Exception:  # noqa: BLE001  (as stack_data: plain code rather than a crash)
        highlighted = code
    return highlighted.splitlines()


@functools.lru_cache(maxsize=16)
def _style_with_executing_node(style: Any, modifier: str) -> Any:
    import stack_data

    return ORIGINALS[stack_data, "style_with_executing_node"](style, modifier)


@functools.lru_cache(maxsize=16)
def _terminal256_formatter(*, style: Any) -> Any:
    """One Terminal256Formatter per style: making one maps every style
    colour to the terminal's (milliseconds in wasm); it keeps no state
    between tracebacks."""
    from IPython.core import ultratb

    return ORIGINALS[ultratb, "Terminal256Formatter"](style=style)
