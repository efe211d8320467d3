"""Comms over the host, for the ``comm`` package (0.2.x), as ipykernel's.

install() makes comm.create_comm() build a Comm that publishes comm_open /
comm_msg / comm_close (with buffers) through host.emit, and makes
comm.get_comm_manager() return the kernel's CommManager, which handles the
front end's comm_open / comm_msg / comm_close.
"""

from __future__ import annotations

from typing import Any

import comm
from comm.base_comm import BaseComm, CommManager

from . import host


class Comm(BaseComm):
    """A comm whose messages go to the host."""

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
        **keys: Any,
    ) -> None:
        content = {"data": {} if data is None else data, "comm_id": self.comm_id, **keys}
        host.emit(msg_type, content, metadata or {}, buffers)


def create_comm(*args: Any, **kwargs: Any) -> BaseComm:
    return Comm(*args, **kwargs)


def install(manager: CommManager) -> None:
    """Make the comm package create host comms and use manager."""
    comm.create_comm = create_comm
    comm.get_comm_manager = lambda: manager


def comm_info(manager: CommManager, target_name: str | None) -> dict[str, Any]:
    """The comm_info_reply content, as ipykernel's."""
    comms = {
        k: {"target_name": c.target_name}
        for k, c in manager.comms.items()
        if target_name is None or c.target_name == target_name
    }
    return {"status": "ok", "comms": comms}
