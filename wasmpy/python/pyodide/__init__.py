"""pyodide: the Python side of wasmpy's Pyodide-compatible API (Pyodide 0.29.5).

Submodules: ffi (the JavaScript FFI), code (run_js, eval_code, ...), http and
webloop (the kernel's event loop and HTTP). Importing the package sets up the
FFI (the "jsffi" dispatch target and the js module import hook).
"""

__version__ = "0.29.5"

__all__ = ["__version__", "code", "ffi", "http", "webloop"]

from . import _core_ffi as _core_ffi  # noqa: F401  (registers the dispatch target)
from . import _core_importhook as _core_importhook  # noqa: F401
