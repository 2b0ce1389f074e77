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
from hookgate.store._pg import checkout

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
_SCHEMA_LOCK = 7438202  # advisory lock: concurrent CREATE TABLE IF NOT EXISTS can still collide

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbound_events"
    " (key TEXT PRIMARY KEY, done BOOLEAN NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS inbound_events_expires_at ON inbound_events (expires_at)",
    # allowed: the outcome of the last hit, so one upsert can both apply the step and report it
    "CREATE TABLE IF NOT EXISTS inbound_buckets"
    " (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,"
    " allowed BOOLEAN NOT NULL DEFAULT TRUE)",
    "CREATE INDEX IF NOT EXISTS inbound_buckets_updated_at ON inbound_buckets (updated_at)",
)

# One row: (true, false) when this call claimed the key (new, or its lease/TTL had run out), (false, done)
# for a live row. No row when the live row was committed after this statement's snapshot (we waited for it
# on the unique index) or vanished meanwhile: the caller simply asks again.
_CLAIM = """
WITH claimed AS (
    INSERT INTO inbound_events AS e (key, done, expires_at) VALUES ($1, false, $2::float8)
    ON CONFLICT (key) DO UPDATE SET done = false, expires_at = EXCLUDED.expires_at
    WHERE e.expires_at <= $3::float8
    RETURNING true AS claimed, false AS done
)
SELECT claimed, done FROM claimed
UNION ALL
SELECT false, done FROM inbound_events
WHERE key = $1 AND expires_at > $3::float8 AND NOT EXISTS (SELECT 1 FROM claimed)
"""
_COMPLETE = """
INSERT INTO inbound_events (key, done, expires_at) VALUES ($1, true, $2::float8)
ON CONFLICT (key) DO UPDATE SET done = true, expires_at = EXCLUDED.expires_at
"""
_RELEASE = "DELETE FROM inbound_events WHERE key = $1"
# the outer condition is re-checked on the latest row version: a row claimed again meanwhile survives
_PURGE_EVENTS = """
DELETE FROM inbound_events WHERE key IN
    (SELECT key FROM inbound_events WHERE expires_at <= $1::float8 LIMIT $2)
AND expires_at <= $1::float8
"""
# $1 key, $2 rate, $3 burst, $4 now. A new bucket starts full; an existing one refills by
# R = LEAST(burst, tokens + GREATEST(0, now - updated_at) * rate), as in bucket_after, then gives a token if
# R >= 1. (R is spelled out three times: SET expressions cannot name each other.)
_HIT = """
INSERT INTO inbound_buckets AS b (key, tokens, updated_at, allowed)
VALUES ($1, CASE WHEN $3::float8 >= 1 THEN $3::float8 - 1 ELSE $3::float8 END, $4::float8, $3::float8 >= 1)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE
        WHEN LEAST($3::float8, b.tokens + GREATEST(0::float8, $4::float8 - b.updated_at) * $2::float8) >= 1
        THEN LEAST($3::float8, b.tokens + GREATEST(0::float8, $4::float8 - b.updated_at) * $2::float8) - 1
        ELSE LEAST($3::float8, b.tokens + GREATEST(0::float8, $4::float8 - b.updated_at) * $2::float8)
    END,
    allowed = LEAST($3::float8, b.tokens + GREATEST(0::float8, $4::float8 - b.updated_at) * $2::float8) >= 1,
    updated_at = GREATEST(b.updated_at, $4::float8)
RETURNING tokens, allowed
"""
_PURGE_BUCKETS = """
DELETE FROM inbound_buckets WHERE key IN
    (SELECT key FROM inbound_buckets WHERE updated_at <= $1::float8 LIMIT $2)
AND updated_at <= $1::float8
"""
# A live row can disappear between our statement and the next (released, or purged by a faster clock);
# asking again settles it. Past this many rounds something is churning the key: report it as busy.
_CLAIM_ROUNDS = 8


async def create_tables(conn: asyncpg.Connection) -> None:
    """Create ``inbound_events`` and ``inbound_buckets`` if missing (safe to run from many processes)."""
    try:
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            for statement in _SCHEMA:
                await conn.execute(statement)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"cannot create PostgreSQL inbound tables: {type(exc).__name__}: {exc}") from exc


async def _claim(conn: asyncpg.Connection, key: str, lease_s: float, now: float) -> ClaimState:
    for _ in range(_CLAIM_ROUNDS):
        row = await conn.fetchrow(_CLAIM, key, now + lease_s, now)
        if row is not None:
            if row["claimed"]:
                return ClaimState.CLAIMED
            return ClaimState.DONE if row["done"] else ClaimState.IN_PROGRESS
    return ClaimState.IN_PROGRESS


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
        await conn.execute(_COMPLETE, key, now + ttl_s)
    except _DRIVER_ERRORS as exc:
        raise StoreError(f"PostgreSQL inbound complete failed: {type(exc).__name__}: {exc}") from exc


async def release_in_transaction(conn: asyncpg.Connection, key: str) -> None:
    """`IdempotencyStore.release` on the caller's connection (see `claim_in_transaction`)."""
    try:
        await conn.execute(_RELEASE, key)
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
        await self._one(lambda c: c.execute(_COMPLETE, key, now + ttl_s))

    async def release(self, key: str) -> None:
        await self._one(lambda c: c.execute(_RELEASE, key))

    async def purge(self, *, now: float, limit: int | None = None) -> int:
        """Delete entries expired at ``now`` (at most ``limit`` of them); return how many."""
        if limit is None:
            sql, args = "DELETE FROM inbound_events WHERE expires_at <= $1::float8", [now]
        else:
            sql, args = _PURGE_EVENTS, [now, limit]
        status: str = await self._one(lambda c: c.execute(sql, *args))
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
        row: Any = await self._one(lambda c: c.fetchrow(_HIT, key, rate, burst, now))
        if self._purge_due():
            await self.purge(before=now - self._idle_s, limit=_PURGE_BATCH)
        return decision(row["tokens"], row["allowed"], rate=rate, burst=burst)

    async def purge(self, *, before: float, limit: int | None = None) -> int:
        """Delete buckets last touched at or before ``before`` (at most ``limit``); return how many."""
        if limit is None:
            sql, args = "DELETE FROM inbound_buckets WHERE updated_at <= $1::float8", [before]
        else:
            sql, args = _PURGE_BUCKETS, [before, limit]
        status: str = await self._one(lambda c: c.execute(sql, *args))
        return _count(status)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0
