"""_pyodide: Python-side internals of the Pyodide API, at the module paths
Pyodide uses (CodeRunner and eval_code live in _pyodide._base)."""
