"""The in-memory store's bulk recovery tasks: the reference the SQL stores' task queries are tested against.

A mixin of `hookgate.store.memory.MemoryStore` over its dictionaries; every method runs without awaiting, so
each is atomic like the SQL stores' transactions.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import replace

from hookgate.errors import ConflictError
from hookgate.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Message,
    Task,
    TaskKind,
    TaskState,
    new_id,
)
from hookgate.store._memory_pages import copied, existing
from hookgate.store._rows import check_limit
from hookgate.store._tasks import BatchOutcome, cancel_reason, status_class_code

__all__ = ["MemoryTasks"]

_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class MemoryTasks:
    _endpoints: dict[str, Endpoint]
    _messages: dict[str, Message]
    _deliveries: dict[str, Delivery]
    _attempts: dict[str, list[Attempt]]
    _work: asyncio.Event

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    async def create_task(self, task: Task) -> Task:
        self._tasks[task.id] = copied(task)
        return copied(task)

    async def get_task(self, task_id: str) -> Task:
        return copied(existing(self._tasks, task_id, "task"))

    async def list_tasks(self, app_id: str, *, limit: int = 50) -> list[Task]:
        found = sorted(
            (t for t in self._tasks.values() if t.app_id == app_id),
            key=lambda t: (t.created_at, t.id),
            reverse=True,
        )
        return [copied(t) for t in found[: check_limit(limit)]]

    async def cancel_task(self, task_id: str, *, now: float) -> Task:
        task = existing(self._tasks, task_id, "task")
        if task.state in (TaskState.PENDING, TaskState.RUNNING):
            task.state, task.updated_at, task.lease_expires_at = TaskState.CANCELLED, now, None
        return copied(task)

    async def claim_task(self, owner: str, *, now: float, lease_s: float) -> Task | None:
        open_tasks = sorted(
            (
                t
                for t in self._tasks.values()
                if t.state is TaskState.PENDING
                or (
                    t.state is TaskState.RUNNING and (t.lease_expires_at is None or t.lease_expires_at <= now)
                )
            ),
            key=lambda t: (t.created_at, t.id),
        )
        if not open_tasks:
            return None
        task = open_tasks[0]
        task.state, task.lease_owner, task.lease_expires_at, task.updated_at = (
            TaskState.RUNNING,
            owner,
            now + lease_s,
            now,
        )
        return copied(task)

    async def fail_task(self, task_id: str, owner: str, error: str, *, now: float) -> bool:
        task = self._tasks.get(task_id)
        if task is None or task.state is not TaskState.RUNNING or task.lease_owner != owner:
            return False
        task.state, task.error, task.updated_at, task.lease_expires_at = TaskState.FAILED, error, now, None
        return True

    # -- the selections (the SQL stores' task_*_select queries) ----------------------------------------

    def _in_range(self, task: Task, created_at: float, message: Message) -> bool:
        f = task.filters
        return (
            message.app_id == task.app_id
            and (not f.event_types or message.event_type in f.event_types)
            and (-math.inf if f.since is None else f.since) <= created_at
            and created_at < (math.inf if f.until is None else f.until)
            and created_at <= task.created_at
        )

    def _last_class(self, delivery_id: str) -> int:
        attempts = self._attempts.get(delivery_id)
        code = attempts[-1].status_code if attempts else None
        return 0 if code is None else code // 100

    def _selected(self, task: Task) -> Iterator[tuple[float, str]]:
        """The task's selection from its cursor on, in creation order: (created_at, id) of each item."""
        after = (-math.inf if task.cursor_at is None else task.cursor_at, task.cursor_id or "")
        f = task.filters
        if task.kind is TaskKind.REPLAY_MISSING:
            had = {d.message_id for d in self._deliveries.values() if d.endpoint_id == task.endpoint_id}
            items = [
                (m.created_at, m.id)
                for m in self._messages.values()
                if m.id not in had and self._in_range(task, m.created_at, m)
            ]
        else:
            wanted_class = status_class_code(f.status_class)
            items = []
            for d in self._deliveries.values():
                message = self._messages[d.message_id]
                if not self._in_range(task, d.created_at, message):
                    continue
                if task.endpoint_id is not None and d.endpoint_id != task.endpoint_id:
                    continue
                if task.kind is TaskKind.CANCEL_PENDING:
                    due_before = math.inf if f.due_before is None else f.due_before
                    keep = d.status in _WAITING and d.next_attempt_at < due_before
                else:
                    e = self._endpoints[d.endpoint_id]
                    keep = (
                        e.enabled
                        and e.deleted_at is None
                        and d.status in f.statuses
                        and (wanted_class is None or self._last_class(d.id) == wanted_class)
                    )
                if keep:
                    items.append((d.created_at, d.id))
        yield from sorted(i for i in items if i > after)

    async def count_task_matches(self, task: Task) -> int:
        if task.kind is TaskKind.REPLAY_MISSING:
            endpoint = existing(self._endpoints, task.endpoint_id or "", "endpoint")
            return sum(
                1 for _, m in self._selected(task) if endpoint.subscribes(self._messages[m].event_type)
            )
        return sum(1 for _ in self._selected(task))

    async def run_task_batch(
        self, task_id: str, owner: str, *, limit: int, now: float, lease_s: float
    ) -> Task:
        task = existing(self._tasks, task_id, "task")
        if task.state is not TaskState.RUNNING or task.lease_owner != owner:
            return copied(task)
        scanned: list[tuple[float, str]] = []
        for item in self._selected(task):
            if len(scanned) == limit:
                break
            scanned.append(item)
        changed = 0
        if task.kind is TaskKind.REPLAY_MISSING:
            endpoint = self._endpoints.get(task.endpoint_id or "")
            if endpoint is None or not endpoint.enabled or endpoint.deleted_at is not None:
                raise ConflictError(f"endpoint {task.endpoint_id!r} is disabled or deleted")
            for _, message_id in scanned:
                if endpoint.subscribes(self._messages[message_id].event_type):
                    d = Delivery(
                        new_id("dlv"), message_id, endpoint.id, DeliveryStatus.PENDING, 0, now, now, now
                    )
                    self._deliveries[d.id] = d
                    changed += 1
        else:
            for _, delivery_id in scanned:
                d = self._deliveries[delivery_id]
                if task.kind is TaskKind.RESEND:
                    d.status, d.attempts, d.next_attempt_at, d.updated_at = (
                        DeliveryStatus.PENDING,
                        0,
                        now,
                        now,
                    )
                    d.lease_owner = d.lease_expires_at = d.dead_reason = None
                else:
                    d.status, d.updated_at, d.dead_reason = DeliveryStatus.DEAD, now, cancel_reason(task.id)
                changed += 1
        p = BatchOutcome(scanned, changed).progress(task, limit=limit, now=now, lease_s=lease_s)
        task.done += changed
        task.cursor_at, task.cursor_id = p["cursor_at"], p["cursor_id"]
        task.state, task.lease_expires_at, task.updated_at = TaskState(p["state"]), p["lease_until"], now
        if changed and task.kind is not TaskKind.CANCEL_PENDING:
            self._work.set()
        return replace(task)
