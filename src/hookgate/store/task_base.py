"""The part of the store interface that keeps bulk recovery tasks (`hookgate.store.base.Store` extends it).

A task selects deliveries (resend, cancel_pending) or messages (replay_missing) of one application, walks
them in creation order from its cursor in bounded batches, and records its progress in the same transaction
as each batch, so a runner that dies loses nothing: the next one resumes at the cursor. Only the runner that
holds the task's lease may run a batch; a task whose lease expired is claimable again.
"""

from __future__ import annotations

import abc

from hookgate.models import Task

__all__ = ["TaskStore"]


class TaskStore(abc.ABC):
    @abc.abstractmethod
    async def create_task(self, task: Task) -> Task:
        """Store a new task (normally pending, ``matched`` counted by `count_task_matches`)."""

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> Task:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_tasks(self, app_id: str, *, limit: int = 50) -> list[Task]:
        """An application's tasks, newest first."""

    @abc.abstractmethod
    async def cancel_task(self, task_id: str, *, now: float) -> Task:
        """Cancel a pending or running task (a finished one is returned unchanged). Raises `NotFoundError`."""

    @abc.abstractmethod
    async def count_task_matches(self, task: Task) -> int:
        """How many items the task would change if it ran now from its cursor (the dry run's answer).

        For replay_missing: messages without a delivery to the endpoint whose event type it subscribes to."""

    @abc.abstractmethod
    async def claim_task(self, owner: str, *, now: float, lease_s: float) -> Task | None:
        """Lease the oldest pending task, or a running one whose lease expired, to ``owner``; None if none."""

    @abc.abstractmethod
    async def run_task_batch(
        self, task_id: str, owner: str, *, limit: int, now: float, lease_s: float
    ) -> Task:
        """Run the task's next batch of at most ``limit`` items and record the progress, in one transaction,
        renewing the lease; the task becomes done when its selection is exhausted. Does nothing (returns the
        task as it is) unless the task is running and leased to ``owner``. Raises `ConflictError` when the
        task cannot go on (replay_missing to an endpoint that is disabled or deleted)."""

    @abc.abstractmethod
    async def fail_task(self, task_id: str, owner: str, error: str, *, now: float) -> bool:
        """Mark a running task leased to ``owner`` failed with ``error``; False when it is not."""
