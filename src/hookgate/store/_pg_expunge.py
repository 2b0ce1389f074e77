"""The PostgreSQL store's expunge: each message's payload, its attempts' excerpts and its sendable
deliveries changed in one transaction (see `hookgate.store.expunge_base`). The old row versions stay in the
table's pages until VACUUM reclaims them, as for any update."""

from __future__ import annotations

from typing import Any

import asyncpg

from hookgate.errors import NotFoundError
from hookgate.models import Message
from hookgate.store._pg import PostgresConnector, pg_queries
from hookgate.store._rows import message_from_row
from hookgate.store.expunge_base import EXPUNGED_REASON, Position

__all__ = ["PostgresExpunge"]

Q = pg_queries("queries.sql")


async def _fetch(c: asyncpg.Connection, name: str, params: dict[str, Any]) -> list[Any]:
    q = Q[name]
    rows: list[Any] = await c.fetch(q.sql, *q.args(params))
    return rows


async def _expunge(c: asyncpg.Connection, ids: list[str], now: float) -> None:
    params = {"ids": ids, "now": now, "empty": b"", "reason": EXPUNGED_REASON}
    for name in ("expunge_kill", "expunge_excerpts", "expunge_apply"):
        await c.execute(Q[name].sql, *Q[name].args(params))


class PostgresExpunge:
    """`hookgate.store.expunge_base.ExpungeStore` for `hookgate.store.postgres.PostgresStore`."""

    _db: PostgresConnector

    async def expunge_message(self, message_id: str, *, now: float) -> Message:
        async def tx(c: asyncpg.Connection) -> Message:
            if not await _fetch(c, "get_message", {"id": message_id}):
                raise NotFoundError(f"message {message_id!r} not found")
            await _expunge(c, [message_id], now)
            return message_from_row((await _fetch(c, "get_message", {"id": message_id}))[0])

        return await self._db.tx(tx)

    async def expunge_batch(
        self, app_id: str, *, before: float, after: Position, now: float, limit: int
    ) -> tuple[int, Position | None]:
        async def tx(c: asyncpg.Connection) -> tuple[int, Position | None]:
            params = {"app_id": app_id, "before": before, "c_at": after[0], "c_id": after[1], "limit": limit}
            rows = await _fetch(c, "expunge_select", params)
            if rows:
                await _expunge(c, [r["id"] for r in rows], now)
            last = (rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
            return len(rows), last

        return await self._db.tx(tx)
