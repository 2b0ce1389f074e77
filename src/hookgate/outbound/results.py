"""What a delivery worker reports: its counters, and the attempt results on their way to the store.

Results are written back by a single flusher task, so every commit carries all the results that finished
while the previous commit ran (group commit: one transaction per batch, not per delivery). While the store is
unreachable the results are kept (as long as their lease may still be held) and written once it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from hookgate.errors import StoreError
from hookgate.store.base import AttemptResult, Store

__all__ = ["ResultBuffer", "WorkerStats"]

log = structlog.get_logger("hookgate.delivery")


@dataclass(slots=True)
class WorkerStats:
    claimed: int = 0
    attempts: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed and were scheduled again
    dead: int = 0
    deferred: int = 0  # put back without an attempt (circuit open, rate limit, endpoint busy)
    released: int = 0
    by_error_class: dict[str, int] = field(default_factory=dict)


class ResultBuffer:
    """Buffer attempt results as deliveries finish; `run` writes them in batches until the worker is done."""

    __slots__ = ("_backoff", "_clock", "_lease_s", "_lock", "_observers", "_ready", "_results", "_store")

    def __init__(
        self,
        store: Store,
        *,
        lease_s: float,
        clock: Callable[[], float],
        backoff: Callable[[int], float],
        observers: Sequence[Callable[[AttemptResult], None]] = (),
    ) -> None:
        self._store = store
        self._lease_s = lease_s
        self._clock = clock
        self._backoff = backoff
        self._observers = tuple(observers)
        self._results: list[AttemptResult] = []
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()

    def report(self, result: AttemptResult) -> None:
        """Queue one result for the next batch (on the hot path: no await, no allocation of its own)."""
        self._results.append(result)
        self._ready.set()
        for observe in self._observers:
            observe(result)

    def wake(self) -> None:
        """Make the flusher look again (the worker is stopping: it may be time to return)."""
        self._ready.set()

    async def flush(self) -> bool:
        """Apply the buffered results; False when the store failed (they are kept for the next flush)."""
        async with self._lock:
            batch, self._results = self._results, []
            if not batch:
                return True
            try:
                await self._store.complete(batch)
            except StoreError as exc:
                # Applying a result again is safe (it applies only while the lease is held, and releases it),
                # so keep those whose lease may still be held and try again; a result whose lease has expired
                # can no longer apply: its delivery is claimed again (at-least-once).
                now = self._clock()
                kept = [r for r in batch if r.started_at + self._lease_s > now]
                self._results[:0] = kept
                log.error("worker.complete_failed", count=len(batch), kept=len(kept), error=str(exc))
                return False
            return True

    async def run(self, finished: Callable[[], bool]) -> None:
        """Flush as results arrive until ``finished()`` (stopping, none in flight) and all are written."""
        failures = 0
        while True:
            await self._ready.wait()
            self._ready.clear()
            if await self.flush():
                failures = 0
            elif finished():
                # shutting down with the store unreachable: the leases expire and others redeliver
                log.error("worker.results_dropped", count=len(self._results))
                self._results.clear()
            else:
                failures += 1
                await asyncio.sleep(self._backoff(failures))  # also while stopping: tasks still report
                self._ready.set()
            if finished() and not self._results:
                return
