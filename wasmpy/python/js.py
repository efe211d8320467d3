"""js: the JavaScript global scope (globalThis) as a module, as in Pyodide.

``import js`` gives a JsProxy of globalThis: ``js.Object``, ``from js import
JSON, setTimeout``, ``js.eval(...)``. Importing this file replaces its own
module entry with that JsProxy.
"""

import sys

from pyodide._core_ffi import _global_this

sys.modules[__name__] = _global_this()
