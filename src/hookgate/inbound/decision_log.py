"""Inbound decisions on their way to the store, off the request's path: a request appends its decision (no
await, no I/O) and one task writes what gathered, in one transaction per batch (as the delivery results are).

While the store is unreachable the decisions are kept, up to a bound (the oldest are dropped first: they are
a recent history for people, not data anything depends on), and written once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from hookgate.errors import HookgateError
from hookgate.models import InboundDecision

__all__ = ["DecisionLog"]

log = structlog.get_logger("hookgate.inbound")


class DecisionLog:
    """Buffer decisions (``record``, the pipeline's ``decisions`` hook) and write them in batches."""

    def __init__(
        self,
        write: Callable[[list[InboundDecision]], Awaitable[None]],
        *,
        max_buffered: int = 10_000,
        gather_s: float = 0.5,
    ) -> None:
        self._write = write
        self._max = max_buffered
        self._gather_s = gather_s  # how long a batch gathers after its first decision
        self._pending: list[InboundDecision] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def record(self, decision: InboundDecision) -> None:
        self._pending.append(decision)
        if len(self._pending) > self._max:
            del self._pending[0]
            self.dropped += 1
        self._ready.set()
        if self._task is None:
            # started by the first decision: it is recorded on the server's loop, which the task needs
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> bool:
        """Write what is buffered; False when the store failed (kept for the next flush, within the bound)."""
        batch, self._pending = self._pending, []
        if not batch:
            return True
        try:
            await self._write(batch)
        except asyncio.CancelledError:
            self._pending[:0] = batch  # closing: ``close`` writes them
            raise
        except HookgateError as exc:
            room = self._max - len(self._pending)
            self._pending[:0] = batch[-room:] if room > 0 else []
            log.warning("inbound.decisions_unwritten", count=len(batch), error=str(exc))
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(self._gather_s)
            self._ready.clear()
            if not await self.flush():
                await asyncio.sleep(5.0)  # the store is down: do not hammer it
                self._ready.set()

    async def close(self) -> None:
        """Stop the task and write what is left (once; a failure is logged and the rest dropped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
