"""Helpers the test modules share (one copy of each instead of one per module)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A loopback port nothing listens on right now, for a server started in another process.

    (Another process could take it before the server binds; servers started in this process bind port 0
    instead.)
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
