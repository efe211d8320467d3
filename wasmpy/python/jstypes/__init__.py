"""jstypes: the PEP 818 (draft) names of the JavaScript FFI.

``jstypes.ffi`` (JSProxy and friends, to_js, create_proxy, ...),
``jstypes.code`` (run_js) and ``jstypes.global_this`` (globalThis as a
module). They are the same objects as pyodide.ffi's under JS-capitalised
names.
"""
