"""Bulk recovery tasks: create one (or count what it would change: a dry run), read, list and cancel them.

The work itself is done in the background by every worker process (`hookgate.outbound.task_runner`), in
bounded batches under a lease; this service only validates and records the request, and `run_tasks` lets a
process without a worker (a test, the CLI's in-process ``--wait``) drive them itself.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable

from hookgate.config.rules import check_flag, validate_event_type
from hookgate.errors import ConfigError, NotFoundError
from hookgate.models import (
    STATUS_CLASSES,
    DeliveryStatus,
    Task,
    TaskFilters,
    TaskKind,
    TaskState,
    new_id,
)
from hookgate.outbound.task_runner import TaskRunner
from hookgate.services._base import ServiceBase

__all__ = ["TaskServices"]

# what a resend may select: a pending or in-flight delivery is on its way already
_RESEND_STATUSES = frozenset({DeliveryStatus.DEAD, DeliveryStatus.FAILED, DeliveryStatus.DELIVERED})
_DEFAULT_RESEND = (DeliveryStatus.DEAD, DeliveryStatus.FAILED)
_MAX_EVENT_TYPES = 100


def _time(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a time in seconds since the epoch, not {value!r}")
    return float(value)


def _statuses(kind: TaskKind, statuses: Iterable[str]) -> tuple[DeliveryStatus, ...]:
    given = list(statuses)
    if kind is not TaskKind.RESEND:
        if given:
            raise ConfigError(f"statuses only apply to resend tasks, not {kind.value}")
        return ()
    if not given:
        return _DEFAULT_RESEND
    if any(not isinstance(s, str) or s not in _RESEND_STATUSES for s in given):
        raise ConfigError(f"statuses must be among dead, failed and delivered, not {given!r}")
    return tuple(sorted({DeliveryStatus(s) for s in given}))


class TaskServices(ServiceBase):
    """The bulk task operations of `hookgate.client.Hookgate`."""

    async def create_task(
        self,
        app_id: str,
        kind: TaskKind | str,
        *,
        endpoint_id: str | None = None,
        statuses: Iterable[str] = (),
        status_class: str | None = None,
        event_types: Iterable[str] = (),
        since: float | None = None,
        until: float | None = None,
        due_before: float | None = None,
        dry_run: bool = False,
    ) -> Task:
        """Record a bulk task for the workers, with ``matched`` counted now; with ``dry_run`` only count
        (the task returned is not stored and nothing changes).

        resend: deliveries in ``statuses`` (default dead and failed; delivered allowed) whose last attempt
        got an answer of ``status_class`` (2xx-5xx, "none": no answer), to enabled endpoints.
        replay_missing (``endpoint_id`` required): the application's messages the endpoint never had a
        delivery for and whose event type it subscribes to. cancel_pending (``due_before`` required): pending
        and failed deliveries due before that time become dead, "cancelled by task <id>". Every kind takes
        the application's or one endpoint's items, ``event_types`` and a creation time range [since, until),
        and only what exists when the task is created.
        """
        if not isinstance(kind, str) or kind not in {k.value for k in TaskKind}:
            raise ConfigError(f"kind must be resend, replay_missing or cancel_pending, not {kind!r}")
        kind = TaskKind(kind)
        dry_run = check_flag(dry_run, "dry_run")
        await self.store.get_application(app_id)  # NotFoundError
        if endpoint_id is not None:
            endpoint = await self._live_endpoint(endpoint_id)
            if endpoint.app_id != app_id:  # another tenant's endpoint does not exist for this one
                raise NotFoundError(f"endpoint {endpoint_id!r} not found")
            if kind is TaskKind.REPLAY_MISSING and not endpoint.enabled:
                raise ConfigError(f"endpoint {endpoint_id!r} is disabled: enable it before replaying")
        elif kind is TaskKind.REPLAY_MISSING:
            raise ConfigError("replay_missing needs an endpoint_id")
        if status_class is not None and (kind is not TaskKind.RESEND or status_class not in STATUS_CLASSES):
            raise ConfigError(f"status_class must be one of {', '.join(STATUS_CLASSES)} (resend only)")
        types = list(event_types)
        if len(types) > _MAX_EVENT_TYPES:
            raise ConfigError(f"at most {_MAX_EVENT_TYPES} event types")
        for t in types:
            validate_event_type(t)
        start, end = _time(since, "since"), _time(until, "until")
        if start is not None and end is not None and start >= end:
            raise ConfigError("since must be before until")
        before = _time(due_before, "due_before")
        if (kind is TaskKind.CANCEL_PENDING) != (before is not None):
            raise ConfigError("due_before is required for cancel_pending and applies to nothing else")
        now = self.now()
        task = Task(
            id=new_id("task"),
            app_id=app_id,
            kind=kind,
            endpoint_id=endpoint_id,
            filters=TaskFilters(
                statuses=_statuses(kind, statuses),
                status_class=status_class,
                event_types=tuple(dict.fromkeys(types)),
                since=start,
                until=end,
                due_before=before,
            ),
            state=TaskState.PENDING,
            created_at=now,
            updated_at=now,
        )
        task.matched = await self.store.count_task_matches(task)
        if dry_run:
            return task
        return await self.store.create_task(task)

    async def get_task(self, app_id: str, task_id: str) -> Task:
        """Raises `NotFoundError` (also for another application's task)."""
        task = await self.store.get_task(task_id)
        if task.app_id != app_id:
            raise NotFoundError(f"task {task_id!r} not found")
        return task

    async def list_tasks(self, app_id: str, *, limit: int = 50) -> list[Task]:
        """The application's tasks, newest first."""
        await self.store.get_application(app_id)
        return await self.store.list_tasks(app_id, limit=limit)

    async def cancel_task(self, app_id: str, task_id: str) -> Task:
        """Stop a pending or running task after its current batch (what it changed stays changed)."""
        await self.get_task(app_id, task_id)
        return await self.store.cancel_task(task_id, now=self.now())

    async def run_tasks(self, *, batch: int = 500) -> int:
        """Run every claimable task to its end in this process (no worker needed); return how many ran."""
        runner = TaskRunner(
            self.store, owner=f"run-tasks:{secrets.token_hex(4)}", batch=batch, clock=self._clock
        )
        return await runner.run_pending()
