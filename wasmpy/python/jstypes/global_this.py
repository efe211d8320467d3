"""jstypes.global_this: the JavaScript globalThis as a module (PEP 818)."""

import sys

from pyodide._core_ffi import _global_this

sys.modules[__name__] = _global_this()
