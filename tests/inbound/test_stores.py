"""The inbound idempotency and rate-limit contract: one suite, run against memory, SQLite, PostgreSQL, Redis.

The in-memory implementations in ``hookgate.inbound.stores`` define the contract; every other backend must
give the same answers for the same calls (the rate limiter to the last bit of ``reset_s``). Time is always
the caller's ``now``: the tests drive a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from hookgate.errors import StoreError
from hookgate.inbound import postgres_stores, sqlite_stores
from hookgate.inbound.postgres_stores import (
    PostgresIdempotencyStore,
    PostgresRateLimiter,
    claim_in_transaction,
    complete_in_transaction,
    release_in_transaction,
)
from hookgate.inbound.redis_stores import RedisIdempotencyStore, RedisRateLimiter
from hookgate.inbound.sqlite_stores import SQLiteIdempotencyStore, SQLiteRateLimiter
from hookgate.inbound.stores import (
    ClaimState,
    IdempotencyStore,
    MemoryIdempotencyStore,
    MemoryRateLimiter,
    RateDecision,
    RateLimiter,
)
from hookgate.store.sql import migrations
from tests.support import REDIS_URL, postgres_dsn

T0 = 1_700_000_000.0
T = TypeVar("T")

CLAIMED, IN_PROGRESS, DONE = ClaimState.CLAIMED, ClaimState.IN_PROGRESS, ClaimState.DONE


# -- backends ---------------------------------------------------------------------------------------------


class Backend:
    """Opens stores that share one state (one SQLite file, one PostgreSQL schema, one Redis key prefix).

    ``instances`` is how many separate store objects (connections, threads, clients) the concurrency tests
    spread their calls over, so atomicity is tested between connections, not just within one.
    """

    name = "memory"
    instances = 1

    def __init__(self) -> None:
        self._idempotency = MemoryIdempotencyStore()
        self._limiter = MemoryRateLimiter()

    async def idempotency(self) -> IdempotencyStore:
        return self._idempotency

    async def limiter(self) -> RateLimiter:
        return self._limiter


class SQLiteBackend(Backend):
    name = "sqlite"
    instances = 5

    def __init__(self, path: Path, stack: contextlib.AsyncExitStack) -> None:
        self.path = path
        self._stack = stack

    async def idempotency(self) -> SQLiteIdempotencyStore:
        store = await SQLiteIdempotencyStore.open(self.path)
        self._stack.push_async_callback(store.close)
        return store

    async def limiter(self) -> SQLiteRateLimiter:
        limiter = await SQLiteRateLimiter.open(self.path)
        self._stack.push_async_callback(limiter.close)
        return limiter


class PostgresBackend(Backend):
    name = "postgres"
    instances = 2  # each with a pool of up to 10 connections

    def __init__(self, dsn: str, stack: contextlib.AsyncExitStack) -> None:
        self.dsn = dsn
        self._stack = stack

    async def idempotency(self) -> PostgresIdempotencyStore:
        store = await PostgresIdempotencyStore.open(self.dsn, max_size=10)
        self._stack.push_async_callback(store.close)
        return store

    async def limiter(self) -> PostgresRateLimiter:
        limiter = await PostgresRateLimiter.open(self.dsn, max_size=10)
        self._stack.push_async_callback(limiter.close)
        return limiter


class RedisBackend(Backend):
    name = "redis"
    instances = 2  # each its own client and connection pool

    def __init__(self, prefix: str, stack: contextlib.AsyncExitStack) -> None:
        self.prefix = prefix
        self._stack = stack

    async def idempotency(self) -> RedisIdempotencyStore:
        store = RedisIdempotencyStore.from_url(REDIS_URL, prefix=self.prefix + "idem:")
        self._stack.push_async_callback(store.close)
        return store

    async def limiter(self) -> RedisRateLimiter:
        limiter = RedisRateLimiter.from_url(REDIS_URL, prefix=self.prefix + "rl:")
        self._stack.push_async_callback(limiter.close)
        return limiter


async def redis_prefix() -> AsyncIterator[str]:
    """A random key prefix, its keys deleted afterwards; in CI an unreachable server fails, else skips."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    prefix = f"hookgate-test:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend()
    elif request.param == "sqlite":
        async with contextlib.AsyncExitStack() as stack:
            yield SQLiteBackend(tmp_path / "inbound.db", stack)
    elif request.param == "postgres":
        async for dsn in postgres_dsn():
            async with contextlib.AsyncExitStack() as stack:
                yield PostgresBackend(dsn, stack)
    else:
        async for prefix in redis_prefix():
            async with contextlib.AsyncExitStack() as stack:
                yield RedisBackend(prefix, stack)


@pytest.fixture
async def idem(backend: Backend) -> IdempotencyStore:
    store = await backend.idempotency()
    assert isinstance(store, IdempotencyStore)
    return store


@pytest.fixture
async def limiter(backend: Backend) -> RateLimiter:
    store = await backend.limiter()
    assert isinstance(store, RateLimiter)
    return store


# -- idempotency --------------------------------------------------------------------------------------------


async def test_claim_new_then_in_progress(idem: IdempotencyStore) -> None:
    assert await idem.claim("src:evt_1", lease_s=60, now=T0) is CLAIMED
    assert await idem.claim("src:evt_1", lease_s=60, now=T0 + 1) is IN_PROGRESS
    assert await idem.claim("src:evt_2", lease_s=60, now=T0 + 1) is CLAIMED  # keys are independent


async def test_done_until_ttl_passes(idem: IdempotencyStore) -> None:
    assert await idem.claim("k", lease_s=60, now=T0) is CLAIMED
    await idem.complete("k", ttl_s=100, now=T0 + 5)
    assert await idem.claim("k", lease_s=60, now=T0 + 6) is DONE
    assert await idem.claim("k", lease_s=60, now=T0 + 104.999) is DONE
    # expires_at = T0 + 105: at that instant the entry is gone
    assert await idem.claim("k", lease_s=60, now=T0 + 105) is CLAIMED
    assert await idem.claim("k", lease_s=60, now=T0 + 106) is IN_PROGRESS


async def test_release_makes_the_key_claimable_again(idem: IdempotencyStore) -> None:
    assert await idem.claim("k", lease_s=60, now=T0) is CLAIMED
    await idem.release("k")
    assert await idem.claim("k", lease_s=60, now=T0 + 1) is CLAIMED
    await idem.release("never-claimed")  # a no-op, not an error


async def test_release_forgets_a_completed_key_too(idem: IdempotencyStore) -> None:
    await idem.complete("k", ttl_s=100, now=T0)
    await idem.release("k")
    assert await idem.claim("k", lease_s=60, now=T0 + 1) is CLAIMED


async def test_expired_lease_can_be_claimed(idem: IdempotencyStore) -> None:
    assert await idem.claim("k", lease_s=30, now=T0) is CLAIMED
    assert await idem.claim("k", lease_s=30, now=T0 + 29.5) is IN_PROGRESS
    assert await idem.claim("k", lease_s=30, now=T0 + 30) is CLAIMED  # the first claimer crashed
    assert await idem.claim("k", lease_s=30, now=T0 + 59) is IN_PROGRESS  # a fresh lease from T0 + 30
    await idem.complete("k", ttl_s=100, now=T0 + 60)
    assert await idem.claim("k", lease_s=30, now=T0 + 61) is DONE


async def test_complete_without_claim_is_remembered(idem: IdempotencyStore) -> None:
    await idem.complete("k", ttl_s=10, now=T0)
    assert await idem.claim("k", lease_s=60, now=T0 + 9) is DONE
    assert await idem.claim("k", lease_s=60, now=T0 + 10) is CLAIMED


async def claim_concurrently(backend: Backend, key: str, now: float, n: int = 50) -> list[ClaimState]:
    stores = [await backend.idempotency() for _ in range(backend.instances)]
    return list(
        await asyncio.gather(*(stores[i % len(stores)].claim(key, lease_s=60, now=now) for i in range(n)))
    )


async def test_concurrent_claims_yield_exactly_one_owner(backend: Backend) -> None:
    states = await claim_concurrently(backend, "k", T0)
    assert states.count(CLAIMED) == 1
    assert states.count(IN_PROGRESS) == 49


async def test_concurrent_claims_of_an_expired_lease_yield_exactly_one_owner(backend: Backend) -> None:
    store = await backend.idempotency()
    assert await store.claim("k", lease_s=10, now=T0) is CLAIMED
    states = await claim_concurrently(backend, "k", T0 + 20)
    assert states.count(CLAIMED) == 1
    assert states.count(IN_PROGRESS) == 49


async def test_concurrent_claims_of_a_done_key_all_see_done(backend: Backend) -> None:
    store = await backend.idempotency()
    await store.complete("k", ttl_s=100, now=T0)
    assert set(await claim_concurrently(backend, "k", T0 + 1)) == {DONE}


async def test_stores_of_one_backend_share_state(backend: Backend) -> None:
    first, second = await backend.idempotency(), await backend.idempotency()
    assert await first.claim("k", lease_s=60, now=T0) is CLAIMED
    assert await second.claim("k", lease_s=60, now=T0) is IN_PROGRESS
    await first.complete("k", ttl_s=60, now=T0)
    assert await second.claim("k", lease_s=60, now=T0) is DONE


# -- rate limiting ------------------------------------------------------------------------------------------


async def test_burst_then_refusal(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("ip", rate=0.5, burst=3, now=T0) for _ in range(4)]
    assert decisions == [
        RateDecision(True, 3, 2, 2.0),
        RateDecision(True, 3, 1, 4.0),
        RateDecision(True, 3, 0, 6.0),
        RateDecision(False, 3, 0, 2.0),  # a whole token is 2 s away
    ]


async def test_refill_over_time_and_refusals_reserve_nothing(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert (await limiter.hit("ip", rate=0.5, burst=2, now=T0)).allowed
    refused = await limiter.hit("ip", rate=0.5, burst=2, now=T0 + 1)
    assert refused == RateDecision(False, 2, 0, 1.0)  # half a token back, half to go
    assert not (await limiter.hit("ip", rate=0.5, burst=2, now=T0 + 1)).allowed
    # the refusals took nothing: the token is whole at T0 + 2
    assert await limiter.hit("ip", rate=0.5, burst=2, now=T0 + 2) == RateDecision(True, 2, 0, 4.0)
    # a long pause refills to the burst, not beyond
    assert await limiter.hit("ip", rate=0.5, burst=2, now=T0 + 1000) == RateDecision(True, 2, 1, 2.0)


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", rate=1, burst=1, now=T0)).allowed
    assert not (await limiter.hit("a", rate=1, burst=1, now=T0)).allowed
    assert (await limiter.hit("b", rate=1, burst=1, now=T0)).allowed


def scripted_hits() -> list[tuple[str, float, float, float]]:
    """(key, rate, burst, now): bursts, pauses, fractional rates and bursts, a clock stepping backwards."""
    rng = random.Random(20240611)  # noqa: S311 (a reproducible test script, not a secret)
    settings = {"a": (0.7, 2.5), "b": (3.0, 5.0), "c": (0.1, 1.0)}
    now = T0
    hits = []
    for i in range(120):
        now += rng.choice([0.0, 0.0, 0.01, 0.1, 0.37, 1.3, 4.0])
        if i in (40, 90):
            now -= 2.5  # NTP stepped the clock back
        key = rng.choice("abc")
        rate, burst = settings[key]
        hits.append((key, rate, burst, now))
    return hits


async def test_decisions_match_the_memory_limiter_exactly(limiter: RateLimiter) -> None:
    reference = MemoryRateLimiter()
    for key, rate, burst, now in scripted_hits():
        expected = await reference.hit(key, rate=rate, burst=burst, now=now)
        got = await limiter.hit(key, rate=rate, burst=burst, now=now)
        assert got == expected, (key, rate, burst, now)


async def test_concurrent_hits_allow_exactly_the_burst(backend: Backend) -> None:
    limiters = [await backend.limiter() for _ in range(backend.instances)]
    decisions = await asyncio.gather(
        *(limiters[i % len(limiters)].hit("ip", rate=1, burst=10, now=T0) for i in range(50))
    )
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 10
    assert sorted(d.remaining for d in allowed) == list(range(10))


# -- SQLite specifics ---------------------------------------------------------------------------------------


def count_rows(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 (a fixed table name)
    return int(row[0])


async def test_sqlite_tables_and_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inbound.db"
    idem = await SQLiteIdempotencyStore.open(path)
    limiter = await SQLiteRateLimiter.open(path, idle_s=60)
    try:
        await idem.claim("expired", lease_s=10, now=T0)
        await idem.complete("done", ttl_s=100, now=T0)
        assert await idem.purge(now=T0 + 50) == 1
        assert await idem.claim("done", lease_s=10, now=T0 + 50) is DONE
        assert count_rows(path, "inbound_events") == 1

        # opportunistic: every PURGE_EVERY-th call deletes a batch of what has expired
        monkeypatch.setattr(sqlite_stores, "PURGE_EVERY", 1)
        await idem.claim("fresh", lease_s=10, now=T0 + 200)
        assert count_rows(path, "inbound_events") == 1  # "done" expired at T0 + 100

        await limiter.hit("old", rate=1, burst=5, now=T0)
        await limiter.hit("new", rate=1, burst=5, now=T0 + 100)  # purges buckets idle since T0 + 40
        assert count_rows(path, "inbound_buckets") == 1
        assert await limiter.purge(before=T0 + 100) == 1
    finally:
        await idem.close()
        await limiter.close()


async def test_sqlite_driver_errors_become_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open SQLite inbound store"):
        await SQLiteIdempotencyStore.open(tmp_path)  # a directory
    path = tmp_path / "inbound.db"
    idem = await SQLiteIdempotencyStore.open(path)
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("DROP TABLE inbound_events")
            conn.commit()
        with pytest.raises(StoreError, match="no such table"):
            await idem.claim("k", lease_s=10, now=T0)
    finally:
        await idem.close()


# The tables inbound stores created for themselves before they moved into the numbered migrations.
OLD_SQLITE_TABLES = (
    "CREATE TABLE inbound_events (key TEXT PRIMARY KEY, done INTEGER NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE inbound_buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at REAL NOT NULL)",
    "INSERT INTO inbound_events VALUES ('src:kept', 1, 1e12)",
    "INSERT INTO inbound_buckets VALUES ('client', 0.0, 1e12)",
)


async def test_sqlite_stores_on_their_own_file_run_the_store_migrations(tmp_path: Path) -> None:
    path = tmp_path / "inbound.db"
    stores = await asyncio.gather(*(SQLiteIdempotencyStore.open(path) for _ in range(4)))  # racing migrators
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in migrations("sqlite")]
        assert await stores[0].claim("k", lease_s=10, now=T0) is CLAIMED
        assert await stores[1].claim("k", lease_s=10, now=T0) is IN_PROGRESS
    finally:
        for store in stores:
            await store.close()


async def test_sqlite_stores_keep_rows_of_tables_they_created_before_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "inbound.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for statement in OLD_SQLITE_TABLES:
            conn.execute(statement)
        conn.commit()
    idem = await SQLiteIdempotencyStore.open(path)
    limiter = await SQLiteRateLimiter.open(path)
    try:
        assert await idem.claim("src:kept", lease_s=10, now=T0) is DONE
        assert not (await limiter.hit("client", rate=0.001, burst=5, now=T0)).allowed
    finally:
        await idem.close()
        await limiter.close()


# -- PostgreSQL specifics -----------------------------------------------------------------------------------


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


@pytest.mark.postgres
async def test_postgres_claim_in_a_rolled_back_transaction_disappears(pg_dsn: str) -> None:
    import asyncpg

    store = await PostgresIdempotencyStore.open(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        assert await claim_in_transaction(conn, "k", lease_s=60, now=T0) is CLAIMED
        assert await claim_in_transaction(conn, "k", lease_s=60, now=T0) is IN_PROGRESS  # seen inside
        # another connection's claim waits on the uncommitted row...
        waiting = asyncio.create_task(store.claim("k", lease_s=60, now=T0))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await tx.rollback()
        # ...and, the claim rolled back, takes the key itself
        assert await asyncio.wait_for(waiting, 10) is CLAIMED
        await store.release("k")
        assert await store.claim("k", lease_s=60, now=T0) is CLAIMED
    finally:
        await conn.close()
        await store.close()


@pytest.mark.postgres
async def test_postgres_claim_and_complete_in_a_committed_transaction(pg_dsn: str) -> None:
    import asyncpg

    store = await PostgresIdempotencyStore.open(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("CREATE TABLE effects (event TEXT PRIMARY KEY)")
        async with conn.transaction():
            assert await claim_in_transaction(conn, "k", lease_s=60, now=T0) is CLAIMED
            await conn.execute("INSERT INTO effects VALUES ('k')")
            await complete_in_transaction(conn, "k", ttl_s=3600, now=T0 + 1)
            waiting = asyncio.create_task(store.claim("k", lease_s=60, now=T0 + 2))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the duplicate waits for the outcome instead of racing it
        assert await asyncio.wait_for(waiting, 10) is DONE
        assert await store.claim("k", lease_s=60, now=T0 + 3) is DONE
        assert await conn.fetchval("SELECT count(*) FROM effects") == 1

        async with conn.transaction():
            await release_in_transaction(conn, "k")
        assert await store.claim("k", lease_s=60, now=T0 + 4) is CLAIMED
    finally:
        await conn.close()
        await store.close()


@pytest.mark.postgres
async def test_postgres_stores_run_the_migrations_and_keep_rows_of_their_old_tables(
    pg_dsn: str,
) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn)
    try:
        # the tables as inbound stores created them before they moved into the numbered migrations
        await conn.execute(
            "CREATE TABLE inbound_events (key TEXT PRIMARY KEY, done BOOLEAN NOT NULL,"
            " expires_at DOUBLE PRECISION NOT NULL);"
            "CREATE TABLE inbound_buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,"
            " updated_at DOUBLE PRECISION NOT NULL, allowed BOOLEAN NOT NULL DEFAULT TRUE);"
            "INSERT INTO inbound_events VALUES ('src:kept', true, 1e12);"
            "INSERT INTO inbound_buckets VALUES ('client', 0, 1e12, false)"
        )
        stores = await asyncio.gather(*(PostgresIdempotencyStore.open(pg_dsn) for _ in range(3)))
        limiter = await PostgresRateLimiter.open(pg_dsn)
        try:
            versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
            assert [r["version"] for r in versions] == [m.version for m in migrations("postgres")]
            assert await stores[0].claim("src:kept", lease_s=10, now=T0) is DONE
            assert not (await limiter.hit("client", rate=0.001, burst=5, now=T0)).allowed
            # every named inbound query prepares against the migrated schema
            for query in postgres_stores.Q.values():
                await conn.prepare(query.sql)
        finally:
            for store in stores:
                await store.close()
            await limiter.close()
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_purge(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg

    idem = await PostgresIdempotencyStore.open(pg_dsn)
    limiter = await PostgresRateLimiter.open(pg_dsn, idle_s=60)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await idem.claim("expired", lease_s=10, now=T0)
        await idem.complete("done", ttl_s=100, now=T0)
        assert await idem.purge(now=T0 + 50) == 1
        assert await idem.claim("done", lease_s=10, now=T0 + 50) is DONE

        monkeypatch.setattr(postgres_stores, "PURGE_EVERY", 1)
        await idem.claim("fresh", lease_s=10, now=T0 + 200)
        assert await conn.fetchval("SELECT array_agg(key) FROM inbound_events") == ["fresh"]

        await limiter.hit("old", rate=1, burst=5, now=T0)
        await limiter.hit("new", rate=1, burst=5, now=T0 + 100)
        assert await conn.fetchval("SELECT array_agg(key) FROM inbound_buckets") == ["new"]
    finally:
        await conn.close()
        await idem.close()
        await limiter.close()


@pytest.mark.postgres
async def test_postgres_driver_errors_become_store_errors(pg_dsn: str) -> None:
    import asyncpg

    with pytest.raises(StoreError, match="cannot open PostgreSQL inbound store"):
        await PostgresIdempotencyStore.open("postgresql://postgres@127.0.0.1:1/test")
    store = await PostgresIdempotencyStore.open(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("DROP TABLE inbound_events")
        with pytest.raises(StoreError, match="UndefinedTableError"):
            await store.claim("k", lease_s=10, now=T0)
        with pytest.raises(StoreError, match="UndefinedTableError") as info:
            await claim_in_transaction(conn, "k", lease_s=10, now=T0)
        assert isinstance(info.value.__cause__, asyncpg.PostgresError)  # the app may inspect it
    finally:
        await conn.close()
        await store.close()


# -- Redis specifics ----------------------------------------------------------------------------------------


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async for value in redis_prefix():
        yield value


@pytest.mark.redis
async def test_redis_keys_expire_on_the_server_too(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    idem = RedisIdempotencyStore(client, prefix=prefix + "idem:")
    limiter = RedisRateLimiter(client, prefix=prefix + "rl:")
    try:
        assert await idem.claim("k", lease_s=60, now=T0) is CLAIMED
        assert 59_000 < await client.pttl(prefix + "idem:k") <= 60_000
        assert await client.get(prefix + "idem:k") == b"p:1700000060.0"
        await idem.complete("k", ttl_s=3600, now=T0)
        assert 3_599_000 < await client.pttl(prefix + "idem:k") <= 3_600_000
        await idem.release("k")
        assert await client.exists(prefix + "idem:k") == 0

        await limiter.hit("ip", rate=2, burst=10, now=T0)  # 1 token short: full again in 0.5 s
        assert 1_000 < await client.pttl(prefix + "rl:ip") <= 1_500
    finally:
        await idem.close()  # a client passed in stays open
        await client.ping()
        await client.aclose()


@pytest.mark.redis
async def test_redis_errors_become_store_errors(prefix: str) -> None:
    import redis.asyncio as aioredis

    unreachable = RedisIdempotencyStore.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(StoreError, match="Redis inbound store error: ConnectionError"):
        await unreachable.claim("k", lease_s=10, now=T0)
    await unreachable.close()

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.hset(prefix + "idem:k", "not", "a string")
        idem = RedisIdempotencyStore(client, prefix=prefix + "idem:")
        with pytest.raises(StoreError, match="WRONGTYPE"):
            await idem.claim("k", lease_s=10, now=T0)
    finally:
        await client.aclose()


# -- outages: the shared stores come back on their own -------------------------------------------------------


async def _until_ok(call: Callable[[], Awaitable[T]], rounds: int = 50) -> tuple[T, list[str]]:
    """Call until it succeeds; every failure on the way must be a `StoreError` (collected)."""
    failures: list[str] = []
    for _ in range(rounds):
        try:
            return await call(), failures
        except StoreError as exc:
            failures.append(str(exc))
            await asyncio.sleep(0.1)
    raise AssertionError(f"still failing after {rounds} tries: {failures[-3:]}")


@pytest.mark.postgres
async def test_postgres_stores_recover_when_the_server_ends_their_connections(pg_dsn: str) -> None:
    """What a PostgreSQL restart does to the pool: every connection is terminated by the server. Calls fail
    with `StoreError` at worst, and the stores reconnect by themselves."""
    import asyncpg

    name = "hg_inbound_" + secrets.token_hex(4)
    idem = await PostgresIdempotencyStore.open(f"{pg_dsn}&application_name={name}", min_size=2, max_size=2)
    limiter = await PostgresRateLimiter.open(f"{pg_dsn}&application_name={name}", min_size=2, max_size=2)
    admin = await asyncpg.connect(pg_dsn)
    try:
        assert await idem.claim("before", lease_s=10, now=T0) is CLAIMED
        for round_ in range(3):
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                name,
            )
            assert killed >= 2
            state, _ = await _until_ok(lambda r=round_: idem.claim(f"after-{r}", lease_s=10, now=T0))
            assert state is CLAIMED
            decision, _ = await _until_ok(lambda r=round_: limiter.hit(f"ip-{r}", rate=1, burst=5, now=T0))
            assert decision.allowed
    finally:
        await admin.close()
        await idem.close()
        await limiter.close()


@pytest.mark.redis
async def test_redis_stores_recover_after_redis_restarts(tmp_path: Path) -> None:
    """A private redis-server (never the shared one) is stopped and started again: while it is down calls
    fail with `StoreError`, afterwards the same store objects work again."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    server = start()
    idem = RedisIdempotencyStore.from_url(f"redis://127.0.0.1:{port}/0")
    limiter = RedisRateLimiter.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        state, _ = await _until_ok(lambda: idem.claim("before", lease_s=10, now=T0))
        assert state is CLAIMED
        server.terminate()
        await asyncio.to_thread(server.wait, 10)
        with pytest.raises(StoreError, match="Redis inbound store error"):
            await idem.claim("down", lease_s=10, now=T0)
        with pytest.raises(StoreError, match="Redis inbound store error"):
            await limiter.hit("ip", rate=1, burst=5, now=T0)
        server = start()
        state, _ = await _until_ok(lambda: idem.claim("after", lease_s=10, now=T0))
        assert state is CLAIMED
        decision, _ = await _until_ok(lambda: limiter.hit("ip", rate=1, burst=5, now=T0))
        assert decision.allowed
    finally:
        await idem.close()
        await limiter.close()
        server.terminate()
        await asyncio.to_thread(server.wait, 10)
