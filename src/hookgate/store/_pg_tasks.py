"""The PostgreSQL store's task batches: one batch of a bulk task and its progress in one transaction, under
the task's row lock (a concurrent cancel or claim waits for, or skips, the batch)."""

from __future__ import annotations

from typing import Any

import asyncpg

from hookgate.errors import ConflictError, NotFoundError
from hookgate.models import Task, TaskKind, TaskState, new_id
from hookgate.store._pg import PostgresConnector, pg_queries, rowcount
from hookgate.store._rows import endpoint_from_row
from hookgate.store._tasks import BatchOutcome, cancel_reason, select_params, task_from_row

__all__ = ["PostgresTaskBatches"]

Q = pg_queries("queries.sql")


async def _fetch(c: asyncpg.Connection, name: str, params: dict[str, Any]) -> list[Any]:
    q = Q[name]
    rows: list[Any] = await c.fetch(q.sql, *q.args(params))
    return rows


class PostgresTaskBatches:
    """`hookgate.store.task_base.TaskStore.run_task_batch` for `hookgate.store.postgres.PostgresStore`."""

    _db: PostgresConnector

    async def run_task_batch(
        self, task_id: str, owner: str, *, limit: int, now: float, lease_s: float
    ) -> Task:
        async def tx(c: asyncpg.Connection) -> Task:
            found = await _fetch(c, "lock_task", {"id": task_id})
            if not found:
                raise NotFoundError(f"task {task_id!r} not found")
            task = task_from_row(found[0])
            if task.state is not TaskState.RUNNING or task.lease_owner != owner:
                return task
            params = select_params(task, limit=limit, lists=list)
            if task.kind is TaskKind.REPLAY_MISSING:
                rows = await _fetch(c, "get_endpoint", {"id": task.endpoint_id})
                endpoint = endpoint_from_row(rows[0]) if rows else None
                if endpoint is None or not endpoint.enabled or endpoint.deleted_at is not None:
                    raise ConflictError(f"endpoint {task.endpoint_id!r} is disabled or deleted")
                rows = await _fetch(c, "task_missing_select", params)
                q = Q["insert_delivery"]
                new = [
                    q.args(
                        {"id": new_id("dlv"), "message_id": r["id"], "endpoint_id": endpoint.id, "now": now}
                    )
                    for r in rows
                    if endpoint.subscribes(r["event_type"])
                ]
                if new:
                    await c.executemany(q.sql, new)
                changed = len(new)
            else:
                name = "task_resend" if task.kind is TaskKind.RESEND else "task_cancel"
                rows = await _fetch(c, f"{name}_select", params)
                apply = {
                    "ids": [r["id"] for r in rows],
                    "statuses": params["statuses"],
                    "now": now,
                    "reason": cancel_reason(task.id),
                }
                q = Q[f"{name}_apply"]
                changed = rowcount(await c.execute(q.sql, *q.args(apply))) if rows else 0
            if changed and task.kind is not TaskKind.CANCEL_PENDING:
                await c.execute(Q["notify_work"].sql)  # wake idle workers in every process
            outcome = BatchOutcome([(r["created_at"], r["id"]) for r in rows], changed)
            progress = outcome.progress(task, limit=limit, now=now, lease_s=lease_s)
            return task_from_row((await _fetch(c, "task_progress", progress))[0])

        return await self._db.tx(tx)
