"""IPython history without the saving thread (WASI cannot start threads).

WasmHistoryManager writes its input/output cache to SQLite when IPython
would wake the saving thread: through `defer` if set (the kernel sets it to
a call_later of the event loop, so the write happens after the request is
answered, as the thread's would, and once for cells run back to back), else
inline. The database is a file (default
/tmp/ipython-history.sqlite, or $WASMPY_HISTORY_FILE; ":memory:" keeps it in
memory) so session numbers go on across interpreter restarts when /tmp
survives them; if the file cannot be used it falls back to memory.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from IPython.core.history import HistoryAccessor, HistoryManager

Entry = tuple[int, int, Any]

DEFAULT_HISTORY_FILE = "/tmp/ipython-history.sqlite"


def history_file() -> str:
    """The history database path, or ":memory:"."""
    return os.environ.get("WASMPY_HISTORY_FILE") or DEFAULT_HISTORY_FILE


class WasmHistoryManager(HistoryManager):
    """A HistoryManager that never starts HistorySavingThread."""

    defer: Callable[[Callable[[], None]], object] | None = None
    """Runs a write of the cache later (None: write at once)."""

    def __init__(self, shell: Any = None, config: Any = None, **traits: Any) -> None:
        self._write_pending = False
        # With ":memory:" the base class starts no thread; switch to the file after.
        wanted = str(traits.pop("hist_file", "") or history_file())
        super().__init__(shell=shell, config=config, hist_file=":memory:", **traits)
        if wanted != ":memory:":
            self._use_file(wanted)

    def _use_file(self, path: str) -> None:
        memory_db: Any = self.db  # type: ignore[has-type]  # a traitlets Any
        try:
            sqlite3.connect(path).close()  # first, quietly: init_db logs and retries failures
            self.hist_file = Path(path)
            self.init_db()
            self.new_session()
        except (sqlite3.Error, OSError) as e:
            self.log.warning("history file %s unusable (%s); keeping history in memory", path, e)
            self.hist_file = ":memory:"  # type: ignore[assignment]  # IPython's marker is a str
            self.db = memory_db
            return
        memory_db.close()

    def init_db(self) -> None:
        """Open the database; without fsync on every commit (each cell commits:
        an fsync cost ~10 ms a cell on a busy disk, and the history of a
        sandbox is not worth it). A crash of the host may lose recent history,
        never the kernel."""
        super().init_db()
        if str(self.hist_file) != ":memory:":
            self.db.execute("PRAGMA synchronous = OFF")

    def _save_now(self) -> None:
        if self.save_flag is None or not self.save_flag.is_set():
            return
        self.save_flag.clear()
        if self.defer is None:
            self.writeout_cache()
        elif not self._write_pending:
            self._write_pending = True
            self.defer(self._deferred_write)

    def _deferred_write(self) -> None:
        self._write_pending = False
        self.writeout_cache()

    def store_inputs(self, line_num: int, source: str, source_raw: str | None = None) -> None:
        super().store_inputs(line_num, source, source_raw)
        self._save_now()

    def store_output(self, line_num: int) -> None:
        super().store_output(line_num)
        self._save_now()

    def get_range_stored(
        self, session: int = 0, start: int = 1, stop: int | None = None, raw: bool = True, output: bool = False
    ) -> Iterable[Entry]:
        """get_range read from the database for the current session too."""
        if session <= 0:
            session += self.session_number
        self.writeout_cache()
        return HistoryAccessor.get_range(self, session, start, stop, raw=raw, output=output)

    def with_outputs(self, entries: Iterable[Entry]) -> list[Entry]:
        """Fill in the current session's outputs (text/plain reprs) the database lacks."""
        out: list[Entry] = []
        for sess, line, item in entries:
            if isinstance(item, tuple) and item[1] is None and sess in (0, self.session_number):
                item = (item[0], self.output_hist_reprs.get(line))
            out.append((sess, line, item))
        return out
