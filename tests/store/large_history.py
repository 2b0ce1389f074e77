"""A large, deterministic store history for the query-plan tests: the rows of every table, generated in Python
and bulk-loaded into a migrated SQLite file or PostgreSQL schema, so a planner with statistics sees the shape
a store has after months of traffic (one busy application and endpoint among thousands of quiet ones)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import asyncpg

__all__ = [
    "HOT_APP",
    "HOT_ENDPOINT",
    "LARGE",
    "MESSAGES",
    "NOW",
    "SMALL",
    "T0",
    "load_postgres",
    "load_sqlite",
]

T0 = 1_800_000_000.0
APPS = 2_000
ENDPOINTS_PER_APP = 3
MESSAGES = 40_000
HOT_SHARE = 0.6  # of the messages, published by the one busy application
NOW = T0 + MESSAGES  # after every row: "everything so far" for the time filters

HOT_APP = "app_0001"
HOT_ENDPOINT = "ep_00003"  # the busy application's first endpoint: the most deliveries and attempts

# Tables kept tiny on purpose, with why a full read of them is fine in any query: the test never flags them.
SMALL = {
    "signing_keys": "the key ring: a handful of keys (one active, a few previous or retired)",
    "api_tokens": "operator and application tokens: tens of rows, created by hand",
    "inbound_sources": "configured inbound sources: tens of rows, created by hand",
    "tasks": "bulk recovery tasks: created by operators, a few per incident",
}
# Tables that grow with traffic or with tenants: a query reading one of them end to end fails the test.
LARGE = (
    "applications",
    "endpoints",
    "messages",
    "deliveries",
    "attempts",
    "event_types",
    "console_sessions",
    "inbound_decisions",
    "inbound_decision_counts",
    "inbound_events",
    "inbound_buckets",
)

_STATUS = ["delivered"] * 85 + ["failed"] * 5 + ["dead"] * 5 + ["pending"] * 4 + ["in_flight"]


def _app_of(i: int) -> int:
    return 1 if i < MESSAGES * HOT_SHARE else 2 + i % (APPS - 2)


def tables() -> Iterator[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    """(table, columns, rows) of the whole history; booleans as Python bools, blobs as bytes."""
    yield (
        "applications",
        ("id", "name", "created_at"),
        [(f"app_{a:04}", f"app {a}", T0 + a) for a in range(APPS)],
    )
    endpoint_cols = (
        *("id", "app_id", "url", "created_at", "updated_at", "event_types", "enabled", "disabled_reason"),
        *("scheme", "secrets_sealed", "headers", "timeout_s", "rate_limit_per_s", "max_concurrency"),
        *("retry_schedule", "allow_insecure", "settings", "failing_since", "version", "deleted_at"),
    )
    yield (
        "endpoints",
        tuple(endpoint_cols),
        [
            (
                f"ep_{e:05}",
                f"app_{e // ENDPOINTS_PER_APP:04}",
                f"https://h{e}.example/hook",
                T0 + e,
                T0 + e,
                "[]",
                e % 50 != 0,
                None if e % 50 else "manual",
                "standard_webhooks",
                b"sealed",
                "{}",
                15.0,
                None,
                None,
                None,
                False,
                "{}",
                None,
                0,
                T0 + e if e % 97 == 0 and e > 5 else None,
            )
            for e in range(APPS * ENDPOINTS_PER_APP)
        ],
    )
    payload = b'{"order": 12345, "items": [1, 2, 3], "note": "' + b"x" * 150 + b'"}'
    yield (
        "messages",
        ("id", "app_id", "event_type", "payload", "created_at", "idempotency_key"),
        [
            (
                f"msg_{i:06}",
                f"app_{_app_of(i):04}",
                f"order.{i % 20}",
                payload,
                T0 + i,
                f"key-{i}" if i % 3 == 0 else None,
            )
            for i in range(MESSAGES)
        ],
    )
    deliveries: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    for i in range(MESSAGES):
        app = _app_of(i)
        targets = [0, 1] if app == 1 and i % 2 == 0 else [i % ENDPOINTS_PER_APP]
        for t in targets:
            d = f"dlv_{i:06}_{t}"
            status = _STATUS[(i * 7 + t) % 100]
            made = T0 + i
            lease = made + 30 if status == "in_flight" else None
            deliveries.append(
                (
                    d,
                    f"msg_{i:06}",
                    f"ep_{app * ENDPOINTS_PER_APP + t:05}",
                    status,
                    0 if status == "pending" else 1,
                    made + 60,
                    made,
                    made,
                    "w" if lease else None,
                    lease,
                )
            )
            tries = {"pending": 0, "in_flight": 0, "delivered": 1}.get(status, 3)
            for k in range(tries):
                code = 200 if status == "delivered" else 503
                attempts.append((d, made + 1 + k, 20.0 + k, code, "ok", None, "x", "{}"))
    yield (
        "deliveries",
        (
            "id",
            "message_id",
            "endpoint_id",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "updated_at",
            "lease_owner",
            "lease_expires_at",
        ),
        deliveries,
    )
    yield (
        "attempts",
        (
            "delivery_id",
            "started_at",
            "duration_ms",
            "status_code",
            "response_excerpt",
            "error_class",
            "outcome",
            "request_headers",
        ),
        attempts,
    )
    yield (
        "event_types",
        ("app_id", "name", "description", "archived", "created_at"),
        [(f"app_{a:04}", f"order.{n}", "", False, T0) for a in range(APPS) for n in range(3)],
    )
    yield (
        "console_sessions",
        (
            "id",
            "scope",
            "capabilities",
            "created_at",
            "expires_at",
            "link_hash",
            "session_hash",
            "created_by",
            "opened_at",
            "revoked_at",
        ),
        [
            (
                f"cs_{i:05}",
                "admin" if i % 10 == 0 else f"app_{i % APPS:04}",
                "[]",
                T0 + i,
                NOW + 3600,
                b"l%05d" % i,
                b"s%05d" % i,
                None,
                None,
                None,
            )
            for i in range(10_000)
        ],
    )
    yield (
        "inbound_decisions",
        ("source", "at", "outcome", "reason", "status", "peer"),
        [(f"src{i % 10}", T0 + i, "accepted", f"r{i % 5}", 202, "10.0.0.1") for i in range(30_000)],
    )
    yield (
        "inbound_decision_counts",
        ("source", "minute", "outcome", "reason", "count"),
        [(f"src{i % 10}", int(T0 // 60) + i // 10, "accepted", "ok", 3) for i in range(30_000)],
    )
    yield "inbound_events", ("key", "done", "expires_at"), [(f"ev{i}", True, T0 + i) for i in range(30_000)]
    yield "inbound_buckets", ("key", "tokens", "updated_at"), [(f"b{i}", 5.0, T0 + i) for i in range(30_000)]
    yield (
        "signing_keys",
        (
            "kid",
            "kind",
            "alg",
            "private_sealed",
            "public_jwk",
            "status",
            "created_at",
            "activated_at",
            "retired_at",
        ),
        [
            (f"k{i}", "jws", "ES256", b"x", "{}", "active" if i == 0 else "previous", T0, T0, None)
            for i in range(3)
        ],
    )
    yield (
        "api_tokens",
        ("id", "name", "token_hash", "scope", "created_at", "revoked_at"),
        [(f"tok_{i}", f"t{i}", b"h%02d" % i, "admin", T0 + i, None) for i in range(10)],
    )
    yield (
        "inbound_sources",
        ("id", "name", "config_sealed", "created_at", "updated_at"),
        [(f"src{i}", f"source {i}", b"x", T0, T0) for i in range(10)],
    )


def load_sqlite(conn: sqlite3.Connection, *, analyze: bool = True) -> None:
    """Fill a migrated database in one transaction, then ANALYZE it (the planner's statistics) if asked."""
    conn.execute("BEGIN")
    for table, columns, rows in tables():
        marks = ", ".join("?" * len(columns))
        # names from tables() above, never input
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
    conn.execute("COMMIT")
    if analyze:
        conn.execute("ANALYZE")


async def load_postgres(conn: asyncpg.Connection) -> None:
    """Fill a migrated schema with COPY, then ANALYZE its tables by name (never other schemas' tables)."""
    for table, columns, rows in tables():
        await conn.copy_records_to_table(table, columns=list(columns), records=rows)
    for table in [*LARGE, *SMALL]:
        await conn.execute(f"ANALYZE {table}")
