"""Bulk recovery tasks as the stores see them: rows <-> `Task`, the parameters of a task's selection, and the
one decision every backend makes after a batch (how far the cursor moved, whether the task is finished)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hookgate.models import DeliveryStatus, Task, TaskFilters, TaskKind, TaskState

__all__ = [
    "BatchOutcome",
    "cancel_reason",
    "select_params",
    "status_class_code",
    "task_from_row",
    "task_params",
]

Row = Any


def status_class_code(status_class: str | None) -> int | None:
    """``"4xx"`` -> 4 (the last attempt's status code // 100), ``"none"`` (no HTTP answer) -> 0."""
    if status_class is None:
        return None
    return 0 if status_class == "none" else int(status_class[0])


def cancel_reason(task_id: str) -> str:
    return f"cancelled by task {task_id}"


def task_params(task: Task) -> dict[str, Any]:
    f = task.filters
    return {
        "id": task.id,
        "app_id": task.app_id,
        "endpoint_id": task.endpoint_id,
        "kind": TaskKind(task.kind).value,
        "statuses": json.dumps([DeliveryStatus(s).value for s in f.statuses]),
        "status_class": f.status_class,
        "event_types": json.dumps(list(f.event_types)),
        "since": f.since,
        "until": f.until,
        "due_before": f.due_before,
        "state": TaskState(task.state).value,
        "matched": task.matched,
        "done": task.done,
        "error": task.error,
        "cursor_at": task.cursor_at,
        "cursor_id": task.cursor_id,
        "lease_owner": task.lease_owner,
        "lease_expires_at": task.lease_expires_at,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    }


def task_from_row(row: Row) -> Task:
    return Task(
        id=row["id"],
        app_id=row["app_id"],
        endpoint_id=row["endpoint_id"],
        kind=TaskKind(row["kind"]),
        filters=TaskFilters(
            statuses=tuple(DeliveryStatus(s) for s in json.loads(row["statuses"])),
            status_class=row["status_class"],
            event_types=tuple(json.loads(row["event_types"])),
            since=row["since"],
            until=row["until"],
            due_before=row["due_before"],
        ),
        state=TaskState(row["state"]),
        matched=int(row["matched"]),
        done=int(row["done"]),
        error=row["error"],
        cursor_at=row["cursor_at"],
        cursor_id=row["cursor_id"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def select_params(task: Task, *, limit: int, lists: Callable[[Sequence[str]], Any]) -> dict[str, Any]:
    """The named parameters of the task's ``task_*_select``/``_count`` queries from its cursor on; ``lists``
    spells a list for the database (a JSON array for SQLite, a text[] for PostgreSQL)."""
    f = task.filters
    return {
        "app_id": task.app_id,
        "endpoint_id": task.endpoint_id,
        "statuses": lists([DeliveryStatus(s).value for s in f.statuses]),
        "event_types": lists(list(f.event_types)) if f.event_types else None,
        "status_class": status_class_code(f.status_class),
        "since": -math.inf if f.since is None else float(f.since),
        "until": math.inf if f.until is None else float(f.until),
        "due_before": math.inf if f.due_before is None else float(f.due_before),
        "snapshot": task.created_at,
        "c_at": -math.inf if task.cursor_at is None else task.cursor_at,
        "c_id": task.cursor_id or "",
        "limit": limit,
    }


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One batch of a task: ``scanned`` the (created_at, id) positions it looked at, in order, ``changed``
    how many items it changed. Fewer positions than the batch limit means the selection is exhausted."""

    scanned: Sequence[tuple[float, str]]
    changed: int

    def progress(self, task: Task, *, limit: int, now: float, lease_s: float) -> dict[str, Any]:
        """The ``task_progress`` parameters: cursor at the last position, done when nothing is left."""
        finished = len(self.scanned) < limit
        last = self.scanned[-1] if self.scanned else (task.cursor_at, task.cursor_id)
        return {
            "id": task.id,
            "n": self.changed,
            "cursor_at": last[0],
            "cursor_id": last[1],
            "state": (TaskState.DONE if finished else TaskState.RUNNING).value,
            "lease_until": None if finished else now + lease_s,
            "now": now,
        }
