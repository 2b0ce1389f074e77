"""The process runtime the servers share (``hookgate serve``, the gateway, the demo): a uvicorn server that
leaves SIGTERM/SIGINT to its owner and reports a listener that cannot start instead of exiting."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn

__all__ = ["SignalFreeServer"]


class SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM/SIGINT to its owner (the gateway, ``hookgate serve``, the demo).

    uvicorn would re-raise the signal after its own shutdown, ending the process before the delivery
    workers have finished or released their in-flight deliveries.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        except SystemExit:
            # uvicorn answers a listener that cannot start (port in use) with sys.exit(); raised in a task,
            # that would leave the event loop and end the process before our error and orderly shutdown.
            # The owner sees the task end before `started` and reports it.
            return
