"""jstypes.code: run_js (PEP 818)."""

from pyodide._core_ffi import run_js

__all__ = ["run_js"]
