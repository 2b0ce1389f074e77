"""History for bench_lifecycle: fill a benchmark database with months of delivered messages, time the API's
list/filter calls on it through the service layer, and measure the database's size on disk.

Single responsibility: the database-side helpers of ``bench_lifecycle.py`` (no processes, no receiver).

* `fill_history`: ``n`` messages (1 KiB payloads, 10 event types, every 10th with an idempotency key),
  each with one delivered delivery to the given endpoint and one ``http_200`` attempt, created evenly
  (with jitter) over the last 60 days, oldest first; bulk SQL straight into the tables (SQLite
  ``executemany``, one transaction per chunk; PostgreSQL ``COPY``), then ``ANALYZE``. It bypasses the
  services on purpose: ``publish`` and a worker would take hours for a million messages, and the rows are
  the ones the engine writes for a first-try delivery.
* `time_lists`: every list/filter call the API offers over messages, deliveries and attempts, plus the
  overview's attempt history, each called ``reps`` times (capped at ``cap_s`` seconds per call, after one
  untimed warm-up call) through ``Hookgate`` in this process; per call p50/p99/max in ms.
* `db_bytes` / `retention_ratio`: size of the database on disk (SQLite: the file plus its WAL after a
  checkpoint; PostgreSQL: ``pg_total_relation_size`` of every table of the run's schema, indexes and TOAST
  included) and the after/before ratio around a retention pass.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

import bench_delivery as bd
from hookgate.client import Hookgate
from hookgate.models import DeliveryStatus

SPAN_S = 60 * 86400.0
EVENT_TYPES = 10
CHUNK = 50_000
HEADERS_JSON = '{"content-type":"application/json","webhook-signature":"[redacted]"}'

MESSAGE_COLS = ("id", "app_id", "event_type", "payload", "created_at", "idempotency_key")
DELIVERY_COLS = (
    "id",
    "message_id",
    "endpoint_id",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
ATTEMPT_COLS = (
    "delivery_id",
    "started_at",
    "duration_ms",
    "status_code",
    "response_excerpt",
    "error_class",
    "outcome",
    "request_headers",
)


@dataclass
class History:
    messages: int
    fill_s: float
    sample_ids: list[str] = field(default_factory=list)  # message ids spread over the history
    idempotency_key: str | None = None  # one key that exists


Rows = tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]


def _chunks(n: int, app_id: str, endpoint_id: str, now: float, history: History) -> Iterator[Rows]:
    rng = random.Random(13)  # noqa: S311 - timestamps and durations, not secrets
    payload = bd.make_body(bd.BODY_SIZE)
    step = SPAN_S / max(n, 1)
    every = max(n // 200, 1)
    for start in range(0, n, CHUNK):
        messages: list[tuple[object, ...]] = []
        deliveries: list[tuple[object, ...]] = []
        attempts: list[tuple[object, ...]] = []
        for i in range(start, min(start + CHUNK, n)):
            created = now - SPAN_S + (i + rng.random()) * step
            msg_id, dlv_id = f"msg_{secrets.token_urlsafe(16)}", f"dlv_{secrets.token_urlsafe(16)}"
            key = f"order-{i}" if i % 10 == 0 else None
            messages.append((msg_id, app_id, f"bench.type{i % EVENT_TYPES}", payload, created, key))
            done = created + 0.05
            deliveries.append((dlv_id, msg_id, endpoint_id, "delivered", 1, done, created, done))
            duration = rng.uniform(5.0, 200.0)
            attempts.append((dlv_id, created + 0.01, duration, 200, "ok", None, "http_200", HEADERS_JSON))
            if i % every == 0:
                history.sample_ids.append(msg_id)
            if key is not None and i >= n // 2 and history.idempotency_key is None:
                history.idempotency_key = key
        yield messages, deliveries, attempts


def _insert_sql(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608 - fixed names


async def fill_history(db: bd.Database, n: int, app_id: str, endpoint_id: str) -> History:
    """Insert ``n`` delivered messages over the last 60 days (see the module docstring), then ANALYZE."""
    history = History(n, 0.0)
    start = time.perf_counter()
    now = time.time() - 60.0  # the newest history is a minute old: clear of the run's own messages
    chunks = _chunks(n, app_id, endpoint_id, now, history)
    if db.kind == "sqlite":

        def run() -> None:
            conn = sqlite3.connect(db.path, isolation_level=None, timeout=30)  # type: ignore[arg-type]
            try:
                for messages, deliveries, attempts in chunks:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany(_insert_sql("messages", MESSAGE_COLS), messages)
                    conn.executemany(_insert_sql("deliveries", DELIVERY_COLS), deliveries)
                    conn.executemany(_insert_sql("attempts", ATTEMPT_COLS), attempts)
                    conn.execute("COMMIT")
                conn.execute("ANALYZE")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

        await asyncio.to_thread(run)
    else:
        conn = await asyncpg.connect(db.url)
        try:
            for messages, deliveries, attempts in chunks:
                async with conn.transaction():
                    for table, cols, rows in (
                        ("messages", MESSAGE_COLS, messages),
                        ("deliveries", DELIVERY_COLS, deliveries),
                        ("attempts", ATTEMPT_COLS, attempts),
                    ):
                        await conn.copy_records_to_table(
                            table, records=rows, columns=list(cols), schema_name=db.schema
                        )
            await conn.execute("ANALYZE messages, deliveries, attempts")
        finally:
            await conn.close()
    history.fill_s = time.perf_counter() - start
    return history


# -- list/filter calls ---------------------------------------------------------------------------------


@dataclass
class ListTiming:
    p50_ms: float
    p99_ms: float
    max_ms: float
    n: int
    rows: int  # rows the call returned (first timed call)


async def time_lists(
    hg: Hookgate, app_id: str, endpoint_id: str, history: History, *, reps: int, cap_s: float
) -> dict[str, ListTiming]:
    """Time every list/filter call (see the module docstring); returns name -> timing."""
    now = time.time()
    ids = history.sample_ids or [""]
    counter = iter(range(10**9))

    def msg() -> str:  # a different message each call, spread over the whole history
        return ids[next(counter) % len(ids)]

    first = await hg.list_messages(app_id)
    ep_first = await hg.list_endpoint_deliveries(endpoint_id)
    att_first = await hg.list_endpoint_attempts(endpoint_id)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "list_messages": lambda: hg.list_messages(app_id),
        "list_messages event_type": lambda: hg.list_messages(app_id, event_type="bench.type3"),
        "list_messages status=delivered": lambda: hg.list_messages(app_id, status=DeliveryStatus.DELIVERED),
        "list_messages status=dead": lambda: hg.list_messages(app_id, status=DeliveryStatus.DEAD),
        "list_messages since/until (1 day, 30 d ago)": lambda: hg.list_messages(
            app_id, since=now - 30 * 86400, until=now - 29 * 86400
        ),
        "list_messages event_type+since/until": lambda: hg.list_messages(
            app_id, event_type="bench.type3", since=now - 30 * 86400, until=now - 29 * 86400
        ),
        "list_messages idempotency_key": lambda: hg.list_messages(
            app_id, idempotency_key=history.idempotency_key
        ),
        "list_messages cursor page 2": lambda: hg.list_messages(app_id, cursor=first.next_cursor),
        "list_deliveries (message)": lambda: hg.list_deliveries(msg()),
        "list_message_attempts": lambda: hg.list_message_attempts(msg()),
        "list_endpoint_deliveries": lambda: hg.list_endpoint_deliveries(endpoint_id),
        "list_endpoint_deliveries status=dead": lambda: hg.list_endpoint_deliveries(
            endpoint_id, status=DeliveryStatus.DEAD
        ),
        "list_endpoint_deliveries cursor page 2": lambda: hg.list_endpoint_deliveries(
            endpoint_id, cursor=ep_first.next_cursor
        ),
        "list_endpoint_attempts": lambda: hg.list_endpoint_attempts(endpoint_id),
        "list_endpoint_attempts cursor page 2": lambda: hg.list_endpoint_attempts(
            endpoint_id, cursor=att_first.next_cursor
        ),
        "attempt_history hour (overview)": lambda: hg.attempt_history(minutes=60),
        "attempt_history day (overview)": lambda: hg.attempt_history(minutes=24 * 60, per=15),
    }
    results: dict[str, ListTiming] = {}
    for name, call in calls.items():
        await call()  # warm-up, untimed
        times: list[float] = []
        rows = -1
        deadline = time.perf_counter() + cap_s
        while len(times) < reps and (len(times) < 5 or time.perf_counter() < deadline):
            t = time.perf_counter()
            result = await call()
            times.append((time.perf_counter() - t) * 1000.0)
            if rows < 0:
                items = getattr(result, "items", result)
                rows = len(items) if isinstance(items, list) else -1
        times.sort()
        results[name] = ListTiming(
            bd.percentile(times, 50), bd.percentile(times, 99), times[-1], len(times), rows
        )
    return results


# -- size on disk --------------------------------------------------------------------------------------


async def db_bytes(db: bd.Database) -> int:
    if db.kind == "sqlite":
        assert db.path is not None
        path = db.path

        def run() -> int:
            conn = sqlite3.connect(path, timeout=30)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            return sum(p.stat().st_size for p in (Path(path), Path(path + "-wal")) if p.exists())

        return await asyncio.to_thread(run)
    conn = await asyncpg.connect(db.url)
    try:
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
                db.schema,
            )
        )
    finally:
        await conn.close()


async def retention_ratio(
    db: bd.Database, retention_pass: Callable[[], Awaitable[object]] | None
) -> tuple[int, int | None]:
    """(bytes before, bytes after) a retention pass; after is None without one (retention is not built)."""
    before = await db_bytes(db)
    if retention_pass is None:
        return before, None
    await retention_pass()
    return before, await db_bytes(db)
