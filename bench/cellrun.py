"""run_cell: execute code in a started kernel client and collect what it
printed (the bench scripts' shared helper; Debian's python3)."""

from __future__ import annotations

from typing import Any


def run_cell(kc: Any, code: str, timeout: float = 60) -> tuple[str, str | None]:
    """Run code; return its stream text and the error's traceback (or None)
    once the kernel is idle again."""
    msg_id = kc.execute(code)
    text, error = "", None
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            text += m["content"]["text"]
        elif m["msg_type"] == "error":
            error = "\n".join(m["content"]["traceback"])
        elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return text, error
