"""Inbound idempotency and rate limits on SQLite: the embedded default when several processes share one host.

Same threading model as `hookgate.store.sqlite.SQLiteStore`: each store owns one connection on one dedicated
thread, and every call is one ``BEGIN IMMEDIATE`` transaction there, so the read-decide-write of a claim or a
token bucket is atomic even against other processes (or other store instances) on the same file: SQLite
takes its write lock at BEGIN IMMEDIATE and ``busy_timeout`` makes the others wait for it.

Tables ``inbound_events`` and ``inbound_buckets`` come from the store's numbered migrations
(``store/sql/sqlite``), which opening a store applies, so a file used only by inbound stores works as well
as the main store's file; queries are named in ``store/sql/sqlite/inbound.sql``.

Expired rows are purged opportunistically (a bounded batch every `PURGE_EVERY` calls), so a flood of distinct
event ids or client addresses does not grow the file without bound. A bucket is forgotten once it has been
idle for ``idle_s`` (a day by default), by which time any bucket refilling at least ``burst`` tokens a day is
full again: forgetting it changes nothing, since a new bucket starts full.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hookgate.inbound.stores import ClaimState, RateDecision, bucket_after, decision
from hookgate.store._sqlite import SQLiteConnector, prepare_connection
from hookgate.store.sql import load_queries
from hookgate.store.sqlite import migrate_sqlite

__all__ = ["PURGE_EVERY", "SQLiteIdempotencyStore", "SQLiteRateLimiter"]

T = TypeVar("T")

# Every this many calls a store deletes up to _PURGE_BATCH expired rows inside the same transaction.
PURGE_EVERY = 256
_PURGE_BATCH = 1000

Q = load_queries("sqlite", "inbound.sql")


class _Connection:
    """One `SQLiteConnector` (its thread, its transactions, its error translation) and the purge counter."""

    def __init__(self, db: SQLiteConnector) -> None:
        self._db = db
        self._calls = 0

    @classmethod
    async def open(cls, path: str | Path) -> _Connection:
        def setup(conn: sqlite3.Connection) -> None:
            prepare_connection(conn)
            migrate_sqlite(conn)

        db = await SQLiteConnector.open(
            path, setup, Q, what="SQLite inbound store", error="SQLite inbound store error"
        )
        return cls(db)

    def purge_due(self) -> bool:
        self._calls += 1
        return self._calls % PURGE_EVERY == 0

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` as one ``BEGIN IMMEDIATE`` transaction on the connection's thread."""
        return await self._db.run(fn)

    async def close(self) -> None:
        await self._db.close()


class SQLiteIdempotencyStore:
    """``await SQLiteIdempotencyStore.open(path)``; see `hookgate.inbound.stores.IdempotencyStore`."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteIdempotencyStore:
        return cls(await _Connection.open(path))

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        purge = self._conn.purge_due()

        def tx(c: sqlite3.Connection) -> ClaimState:
            if purge:
                c.execute(Q["purge_events_batch"], {"now": now, "batch": _PURGE_BATCH})
            params = {"key": key, "lease_until": now + lease_s, "now": now}
            if c.execute(Q["claim_event"], params).fetchone() is not None:
                return ClaimState.CLAIMED
            # the write lock is held since BEGIN IMMEDIATE: the live row cannot change under us
            row = c.execute(Q["event_done"], {"key": key}).fetchone()
            return ClaimState.DONE if row is not None and row[0] else ClaimState.IN_PROGRESS

        return await self._conn.run(tx)

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        params = {"key": key, "expires_at": now + ttl_s}
        await self._conn.run(lambda c: c.execute(Q["complete_event"], params))

    async def release(self, key: str) -> None:
        await self._conn.run(lambda c: c.execute(Q["release_event"], {"key": key}))

    async def purge(self, *, now: float) -> int:
        """Delete every entry that has expired at ``now``; return how many."""
        return await self._conn.run(lambda c: c.execute(Q["purge_events"], {"now": now}).rowcount)

    async def close(self) -> None:
        await self._conn.close()


class SQLiteRateLimiter:
    """``await SQLiteRateLimiter.open(path)``; token buckets exactly as `MemoryRateLimiter` computes them."""

    def __init__(self, conn: _Connection, *, idle_s: float = 86_400.0) -> None:
        if not idle_s > 0:
            raise ValueError("idle_s must be positive")
        self._conn = conn
        self._idle_s = idle_s

    @classmethod
    async def open(cls, path: str | Path, *, idle_s: float = 86_400.0) -> SQLiteRateLimiter:
        if not idle_s > 0:
            raise ValueError("idle_s must be positive")
        return cls(await _Connection.open(path), idle_s=idle_s)

    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        purge = self._conn.purge_due()

        def tx(c: sqlite3.Connection) -> tuple[float, bool]:
            if purge:
                c.execute(Q["purge_buckets_batch"], {"before": now - self._idle_s, "batch": _PURGE_BATCH})
            row = c.execute(Q["get_bucket"], {"key": key}).fetchone()
            tokens, last = (burst, now) if row is None else (row[0], row[1])
            tokens, allowed = bucket_after(tokens, last, rate=rate, burst=burst, now=now)
            c.execute(Q["save_bucket"], {"key": key, "tokens": tokens, "updated_at": max(last, now)})
            return tokens, allowed

        tokens, allowed = await self._conn.run(tx)
        return decision(tokens, allowed, rate=rate, burst=burst)

    async def purge(self, *, before: float) -> int:
        """Delete every bucket last touched at or before ``before``; return how many."""
        return await self._conn.run(lambda c: c.execute(Q["purge_buckets"], {"before": before}).rowcount)

    async def close(self) -> None:
        await self._conn.close()
