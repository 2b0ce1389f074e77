"""The SQLite store's expunge: each message's payload, its attempts' excerpts and its sendable deliveries
changed in one write transaction (see `hookgate.store.expunge_base`).

The transaction runs with ``secure_delete`` on, so SQLite zeroes the payload's old bytes in the pages it
rewrites (and the overflow pages it frees) instead of leaving them in free space; the old page images in the
write-ahead log are gone at the next checkpoint.
"""

from __future__ import annotations

import json
import sqlite3

from hookgate.errors import NotFoundError
from hookgate.models import Message
from hookgate.store._rows import message_from_row
from hookgate.store._sqlite import SQLiteConnector
from hookgate.store.expunge_base import EXPUNGED_REASON, Position
from hookgate.store.sql import load_queries

__all__ = ["SQLiteExpunge"]

Q = load_queries("sqlite")


def _expunge(c: sqlite3.Connection, ids: list[str], now: float) -> None:
    params = {"ids": json.dumps(ids), "now": now, "empty": b"", "reason": EXPUNGED_REASON}
    c.execute("PRAGMA secure_delete = ON")
    try:
        c.execute(Q["expunge_kill"], params)
        c.execute(Q["expunge_excerpts"], params)
        c.execute(Q["expunge_apply"], params)
    finally:
        c.execute("PRAGMA secure_delete = OFF")


class SQLiteExpunge:
    """`hookgate.store.expunge_base.ExpungeStore` for `hookgate.store.sqlite.SQLiteStore`."""

    _db: SQLiteConnector

    async def expunge_message(self, message_id: str, *, now: float) -> Message:
        def tx(c: sqlite3.Connection) -> Message:
            if c.execute(Q["get_message"], {"id": message_id}).fetchone() is None:
                raise NotFoundError(f"message {message_id!r} not found")
            _expunge(c, [message_id], now)
            return message_from_row(c.execute(Q["get_message"], {"id": message_id}).fetchone())

        return await self._db.run(tx)

    async def expunge_batch(
        self, app_id: str, *, before: float, after: Position, now: float, limit: int
    ) -> tuple[int, Position | None]:
        def tx(c: sqlite3.Connection) -> tuple[int, Position | None]:
            params = {"app_id": app_id, "before": before, "c_at": after[0], "c_id": after[1], "limit": limit}
            rows = c.execute(Q["expunge_select"], params).fetchall()
            if rows:
                _expunge(c, [r["id"] for r in rows], now)
            last = (rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
            return len(rows), last

        return await self._db.run(tx)
