"""Inbound idempotency and rate limits on PostgreSQL: shared by every process and host of a deployment.

A claim is one ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE <expired>`` statement: the unique index
serialises concurrent claimers of one key (the second waits for the first to commit, then finds a live row),
so exactly one of them gets `ClaimState.CLAIMED`. A rate-limit hit is one upsert computing the token-bucket
step in SQL (the same float arithmetic as `hookgate.inbound.stores.bucket_after`).

The module-level `claim_in_transaction`, `complete_in_transaction` and `release_in_transaction` take the
application's own asyncpg connection, so a handler can claim an event id inside the transaction that writes
its effects: if that transaction rolls back, the claim disappears with it; if it claims, writes and completes
before committing, concurrent deliveries of the same event wait for the commit and then see it done. Those
functions need the tables, which `create_tables` (or opening either store once) creates.

The tables come from the store's numbered migrations (``store/sql/postgres``, run by `create_tables` and by
opening a store, whether or not the database also holds the main store); queries are named in
``store/sql/postgres/inbound.sql``.

Expired entries are purged opportunistically (a bounded batch every `PURGE_EVERY` calls per store).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from hookgate.errors import StoreError
from hookgate.inbound.stores import ClaimState, RateDecision, decision
from hookgate.store._pg import DRIVER_ERRORS as _DRIVER_ERRORS
from hookgate.store._pg import checkout, pg_queries
from hookgate.store.postgres import migrate_postgres

__all__ = [
    "PURGE_EVERY",
    "PostgresIdempotencyStore",
    "PostgresRateLimiter",
    "claim_in_transaction",
    "complete_in_transaction",
    "create_tables",
    "release_in_transaction",
]

T = TypeVar("T")
PURGE_EVERY = 256
_PURGE_BATCH = 1000
Q = pg_queries("inbound.sql")
# A live row can disappear between our statement and the next (released, or purged by a faster clock);
# asking again settles it. Past this many rounds something is churning the key: report it as busy.
_CLAIM_ROUNDS = 8


async def create_tables(conn: asyncpg.Connection) -> None:
    """Create ``inbound_events`` and ``inbound_buckets`` if missing (safe to run from many processes).

    This applies hookgate's pending migrations, so the database also gets the main store's tables.
    """
    try:
        await migrate_postgres(conn)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"cannot create PostgreSQL inbound tables: {type(exc).__name__}: {exc}") from exc


async def _claim(conn: asyncpg.Connection, key: str, lease_s: float, now: float) -> ClaimState:
    for _ in range(_CLAIM_ROUNDS):
        q = Q["claim_event"]
        row = await conn.fetchrow(q.sql, *q.args({"key": key, "lease_until": now + lease_s, "now": now}))
        if row is not None:
            if row["claimed"]:
                return ClaimState.CLAIMED
            return ClaimState.DONE if row["done"] else ClaimState.IN_PROGRESS
    return ClaimState.IN_PROGRESS


async def _complete(conn: asyncpg.Connection, key: str, expires_at: float) -> None:
    q = Q["complete_event"]
    await conn.execute(q.sql, *q.args({"key": key, "expires_at": expires_at}))


async def _release(conn: asyncpg.Connection, key: str) -> None:
    q = Q["release_event"]
    await conn.execute(q.sql, *q.args({"key": key}))


async def claim_in_transaction(
    conn: asyncpg.Connection, key: str, *, lease_s: float, now: float
) -> ClaimState:
    """`IdempotencyStore.claim` on the caller's connection, inside the caller's transaction if one is open.

    Under the default READ COMMITTED isolation. Driver errors become `StoreError` with the asyncpg exception
    as ``__cause__`` (the application owns the transaction and may want to tell a serialization failure).
    """
    try:
        return await _claim(conn, key, lease_s, now)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"PostgreSQL inbound claim failed: {type(exc).__name__}: {exc}") from exc


async def complete_in_transaction(conn: asyncpg.Connection, key: str, *, ttl_s: float, now: float) -> None:
    """`IdempotencyStore.complete` on the caller's connection (see `claim_in_transaction`)."""
    try:
        await _complete(conn, key, now + ttl_s)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"PostgreSQL inbound complete failed: {type(exc).__name__}: {exc}") from exc


async def release_in_transaction(conn: asyncpg.Connection, key: str) -> None:
    """`IdempotencyStore.release` on the caller's connection (see `claim_in_transaction`)."""
    try:
        await _release(conn, key)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"PostgreSQL inbound release failed: {type(exc).__name__}: {exc}") from exc


async def _open_pool(dsn: str, min_size: int, max_size: int) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"cannot open PostgreSQL inbound store: {type(exc).__name__}: {exc}") from None
    try:
        async with pool.acquire() as conn:
            await create_tables(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


class _PoolStore:
    def __init__(self, pool: asyncpg.Pool, *, owns_pool: bool = False) -> None:
        self._pool = pool
        self._owns_pool = owns_pool
        self._calls = itertools.count(1)

    async def _one(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pool connection; the one place this store translates driver errors (and
        discards a connection they may have broken, so the store recovers after an outage)."""
        async with checkout(self._pool, "PostgreSQL inbound store error") as conn:
            return await fn(conn)

    def _purge_due(self) -> bool:
        return next(self._calls) % PURGE_EVERY == 0

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()


class PostgresIdempotencyStore(_PoolStore):
    """``await PostgresIdempotencyStore.open(dsn)``, or ``PostgresIdempotencyStore(pool)`` to share a pool
    (then run `create_tables` once)."""

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresIdempotencyStore:
        return cls(await _open_pool(dsn, min_size, max_size), owns_pool=True)

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        state = await self._one(lambda c: _claim(c, key, lease_s, now))
        if self._purge_due():
            await self.purge(now=now, limit=_PURGE_BATCH)
        return state

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        await self._one(lambda c: _complete(c, key, now + ttl_s))

    async def release(self, key: str) -> None:
        await self._one(lambda c: _release(c, key))

    async def purge(self, *, now: float, limit: int | None = None) -> int:
        """Delete entries expired at ``now`` (at most ``limit`` of them); return how many."""
        q = Q["purge_events" if limit is None else "purge_events_batch"]
        args = q.args({"now": now, "batch": limit})
        status: str = await self._one(lambda c: c.execute(q.sql, *args))
        return _count(status)


class PostgresRateLimiter(_PoolStore):
    """``await PostgresRateLimiter.open(dsn)``; buckets idle for ``idle_s`` are purged (they are full anyway
    unless the rate refills less than ``burst`` tokens in ``idle_s``)."""

    def __init__(self, pool: asyncpg.Pool, *, owns_pool: bool = False, idle_s: float = 86_400.0) -> None:
        if not idle_s > 0:
            raise ValueError("idle_s must be positive")
        super().__init__(pool, owns_pool=owns_pool)
        self._idle_s = idle_s

    @classmethod
    async def open(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, idle_s: float = 86_400.0
    ) -> PostgresRateLimiter:
        if not idle_s > 0:
            raise ValueError("idle_s must be positive")
        return cls(await _open_pool(dsn, min_size, max_size), owns_pool=True, idle_s=idle_s)

    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        q = Q["hit_bucket"]
        args = q.args({"key": key, "rate": rate, "burst": burst, "now": now})
        row: Any = await self._one(lambda c: c.fetchrow(q.sql, *args))
        if self._purge_due():
            await self.purge(before=now - self._idle_s, limit=_PURGE_BATCH)
        return decision(row["tokens"], row["allowed"], rate=rate, burst=burst)

    async def purge(self, *, before: float, limit: int | None = None) -> int:
        """Delete buckets last touched at or before ``before`` (at most ``limit``); return how many."""
        q = Q["purge_buckets" if limit is None else "purge_buckets_batch"]
        args = q.args({"before": before, "batch": limit})
        status: str = await self._one(lambda c: c.execute(q.sql, *args))
        return _count(status)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0
