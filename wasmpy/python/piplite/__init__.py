"""piplite for the wasmpy sandbox: JupyterLite's installer, answered from the
preinstalled packages as micropip is (nothing is downloaded)."""

from __future__ import annotations

from micropip import install, list

__all__ = ["install", "list"]
