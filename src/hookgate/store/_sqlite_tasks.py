"""The SQLite store's task batches: one batch of a bulk task and its progress in one write transaction."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from hookgate.errors import ConflictError, NotFoundError
from hookgate.models import Task, TaskKind, TaskState, new_id
from hookgate.store._rows import endpoint_from_row
from hookgate.store._sqlite import SQLiteConnector
from hookgate.store._tasks import BatchOutcome, cancel_reason, select_params, task_from_row
from hookgate.store.sql import load_queries

__all__ = ["SQLiteTaskBatches"]

Q = load_queries("sqlite")


class SQLiteTaskBatches:
    """`hookgate.store.task_base.TaskStore.run_task_batch` for `hookgate.store.sqlite.SQLiteStore`."""

    _db: SQLiteConnector
    _work: asyncio.Event

    async def run_task_batch(
        self, task_id: str, owner: str, *, limit: int, now: float, lease_s: float
    ) -> Task:
        def tx(c: sqlite3.Connection) -> tuple[Task, int]:
            row = c.execute(Q["lock_task"], {"id": task_id}).fetchone()
            if row is None:
                raise NotFoundError(f"task {task_id!r} not found")
            task = task_from_row(row)
            if task.state is not TaskState.RUNNING or task.lease_owner != owner:
                return task, 0
            params = select_params(task, limit=limit, lists=lambda v: json.dumps(list(v)))
            if task.kind is TaskKind.REPLAY_MISSING:
                found = c.execute(Q["get_endpoint"], {"id": task.endpoint_id}).fetchone()
                endpoint = None if found is None else endpoint_from_row(found)
                if endpoint is None or not endpoint.enabled or endpoint.deleted_at is not None:
                    raise ConflictError(f"endpoint {task.endpoint_id!r} is disabled or deleted")
                rows = c.execute(Q["task_missing_select"], params).fetchall()
                new = [
                    {"id": new_id("dlv"), "message_id": r["id"], "endpoint_id": endpoint.id, "now": now}
                    for r in rows
                    if endpoint.subscribes(r["event_type"])
                ]
                c.executemany(Q["insert_delivery"], new)
                changed = len(new)
            else:
                name = "task_resend" if task.kind is TaskKind.RESEND else "task_cancel"
                rows = c.execute(Q[f"{name}_select"], params).fetchall()
                apply = {
                    "ids": json.dumps([r["id"] for r in rows]),
                    "statuses": params["statuses"],
                    "now": now,
                    "reason": cancel_reason(task.id),
                }
                changed = c.execute(Q[f"{name}_apply"], apply).rowcount if rows else 0
            outcome = BatchOutcome([(r["created_at"], r["id"]) for r in rows], changed)
            progress = outcome.progress(task, limit=limit, now=now, lease_s=lease_s)
            return task_from_row(c.execute(Q["task_progress"], progress).fetchone()), changed

        task, changed = await self._db.run(tx)
        if changed and task.kind is not TaskKind.CANCEL_PENDING:
            self._work.set()  # new work for this process's workers
        return task
