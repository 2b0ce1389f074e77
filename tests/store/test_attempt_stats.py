"""Attempt numbers over time from the store (the overview's charts): grouped per period and latency bucket on
every backend the same way /metrics' histogram buckets them, and answered from the attempts_started index."""

from __future__ import annotations

import bisect
import contextlib
import sqlite3

import asyncpg
import pytest

from hookgate.api.metrics import Metrics
from hookgate.client import Hookgate
from hookgate.models import DeliveryStatus
from hookgate.services.stats import LATENCY_BUCKETS
from hookgate.store._pg import Query
from hookgate.store.base import LATENCY_BOUNDS_MS, AttemptResult, Store
from hookgate.store.postgres import PostgresStore
from hookgate.store.sql import load_queries
from hookgate.store.sqlite import migrate_sqlite
from hookgate.testing import FixedClock
from tests.store.test_contract import make_app, make_endpoint, message
from tests.support import postgres_dsn

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 900  # a quarter-hour boundary

# (seconds after T0, duration ms, status code): every bucket bound exactly, and just above
ATTEMPTS = [
    *[(5.0, float(ms), 200) for ms in LATENCY_BOUNDS_MS],
    *[(65.0, ms + 0.001, 503) for ms in LATENCY_BOUNDS_MS],
    (70.0, 1.0, None),  # no answer at all
    (930.0, 12.0, 204),  # the next quarter hour
]


async def record(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    for _ in ATTEMPTS:
        await store.publish(message(app), now=T0)
    claims = await store.claim("w", len(ATTEMPTS), now=T0, lease_s=3600)
    results = [
        AttemptResult(
            delivery_id=claim.delivery.id,
            owner="w",
            status=DeliveryStatus.DELIVERED if code and code < 300 else DeliveryStatus.FAILED,
            next_attempt_at=T0 + 5000,
            attempted=True,
            started_at=T0 + at,
            duration_ms=ms,
            status_code=code,
            response_excerpt="",
            error_class=None if code else "connect",
            outcome="x",
        )
        for claim, (at, ms, code) in zip(claims, ATTEMPTS, strict=True)
    ]
    assert await store.complete(results) == len(ATTEMPTS)


async def test_buckets_match_the_metrics_histogram_on_every_backend(store: Store) -> None:
    await record(store)
    found = await store.attempt_buckets(since=T0, until=T0 + 1800, step=60)
    got = {(b.period, b.bucket): (b.attempts, b.delivered) for b in found}
    expected: dict[tuple[int, int], tuple[int, int]] = {}
    for at, ms, code in ATTEMPTS:
        # the histogram's rule: the first bucket whose bound (seconds) is >= the duration
        key = (int((T0 + at) // 60), bisect.bisect_left(LATENCY_BUCKETS, ms / 1000))
        n, ok = expected.get(key, (0, 0))
        expected[key] = (n + 1, ok + (code is not None and 200 <= code < 300))
    assert got == expected
    assert await store.attempt_buckets(since=T0 + 66, until=T0 + 900, step=60) != []
    assert await store.attempt_buckets(since=T0 + 71, until=T0 + 900, step=60) == []


async def test_the_history_is_per_period_from_the_store(store: Store) -> None:
    await record(store)
    hg = Hookgate(store, None, clock=FixedClock(T0 + 935))
    hour = await hg.attempt_history(minutes=60)
    assert len(hour) == 60
    assert hour[-1].start == T0 + 900  # the running minute is the last
    by_start = {p.start: p for p in hour}
    first, second = by_start[T0], by_start[T0 + 60]
    assert (first.delivered, first.failed) == (12, 0)
    assert (second.delivered, second.failed) == (0, 13)
    assert first.percentile(0.5) == 0.25  # the 6th of 12 durations: 250 ms, exactly on its bound
    assert second.percentile(0.95) == 60.0  # beyond the last bound
    day = await hg.attempt_history(minutes=24 * 60, per=15)
    assert len(day) == 96
    assert [(p.start, p.attempts) for p in day if p.attempts] == [(T0, 25), (T0 + 900, 1)]
    # the same store, another process's services and metrics: the same numbers
    again = Hookgate(store, None, clock=FixedClock(T0 + 935))
    assert [p.latency for p in await again.attempt_history(minutes=60)] == [p.latency for p in hour]
    assert Metrics().history.last(1, now=T0)[0].queue_depth is None  # gauges stay live, per process


def test_sqlite_answers_from_the_covering_index() -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        migrate_sqlite(conn)
        query = load_queries("sqlite")["attempt_buckets"]
        plan = conn.execute("EXPLAIN QUERY PLAN " + query, {"since": 0, "until": 1, "step": 60}).fetchall()
        details = " ".join(row[-1] for row in plan)
        assert "USING COVERING INDEX attempts_started (started_at>? AND started_at<?)" in details, details


@pytest.mark.postgres
async def test_postgres_answers_from_the_index() -> None:
    async for dsn in postgres_dsn():
        store = await PostgresStore.open(dsn)
        await store.close()
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                # an empty table is cheaper to scan: take that choice away to see the index serve the range
                await conn.execute("SET LOCAL enable_seqscan = off")
                await conn.execute("SET LOCAL enable_bitmapscan = off")
                query = Query(load_queries("postgres")["attempt_buckets"])
                plan = await conn.fetch(
                    "EXPLAIN " + query.sql, *query.args({"since": 0.0, "until": 1.0, "step": 60})
                )
        finally:
            await conn.close()
        text = "\n".join(row[0] for row in plan)
        assert "Index Only Scan using attempts_started" in text, text
