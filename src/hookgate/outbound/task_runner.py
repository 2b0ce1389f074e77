"""The background runner of bulk recovery tasks, one in every worker process beside the delivery loop.

It claims one task at a time with a lease (the store's ``claim_task``: ``SKIP LOCKED`` on PostgreSQL, the
write lock on SQLite, so exactly one process runs a task) and runs it in bounded batches, each one short
transaction that also records the progress and renews the lease. Between batches it yields to the event loop,
so deliveries in the same process go on. If the process dies, the lease expires and any runner resumes the
task from its cursor; if the task is cancelled, or another runner took it over, the next batch sees it and
this runner lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from hookgate.errors import ConflictError, StoreError
from hookgate.models import Task, TaskState
from hookgate.store.base import Store

__all__ = ["TaskRunner"]

log = structlog.get_logger("hookgate.tasks")


class TaskRunner:
    """``await runner.run(stopping)`` polls for tasks every ``poll_s`` until ``stopping`` is set."""

    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        batch: int = 500,
        lease_s: float = 30.0,
        poll_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._store = store
        self.owner = owner
        self._batch = batch
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._clock = clock

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and run tasks until ``stopping``; store outages are logged and retried at the next poll."""
        while not stopping.is_set():
            try:
                ran = await self.run_one(stopping)
            except StoreError as exc:
                log.error("tasks.store_failed", owner=self.owner, error=str(exc))
                ran = False
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self._poll_s)

    async def run_pending(self) -> int:
        """Run tasks until none is claimable; return how many were claimed."""
        count = 0
        while await self.run_one(None):
            count += 1
        return count

    async def run_one(self, stopping: asyncio.Event | None) -> bool:
        """Claim a task and run its batches until it ends, is lost or ``stopping``; False if none was due."""
        task = await self._store.claim_task(self.owner, now=self._clock(), lease_s=self._lease_s)
        if task is None:
            return False
        log.info("tasks.start", task=task.id, kind=task.kind.value, owner=self.owner, done=task.done)
        while self._holds(task) and not (stopping is not None and stopping.is_set()):
            try:
                task = await self._store.run_task_batch(
                    task.id, self.owner, limit=self._batch, now=self._clock(), lease_s=self._lease_s
                )
            except ConflictError as exc:  # the task cannot go on (its endpoint went away)
                await self._store.fail_task(task.id, self.owner, str(exc), now=self._clock())
                log.warning("tasks.failed", task=task.id, error=str(exc))
                return True
            await asyncio.sleep(0)  # let this process's deliveries run between batches
        log.info("tasks.end", task=task.id, state=task.state.value, done=task.done, matched=task.matched)
        return True

    def _holds(self, task: Task) -> bool:
        return task.state is TaskState.RUNNING and task.lease_owner == self.owner
