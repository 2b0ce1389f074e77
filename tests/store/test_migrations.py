"""Migrations upgrade a database that holds data: rows written at an earlier level survive the full migrate,
and columns added since read as their defaults. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hookgate.models import DeliveryStatus, SigningKeyStatus
from hookgate.store import postgres as postgres_module
from hookgate.store import sqlite as sqlite_module
from hookgate.store.base import Store
from hookgate.store.postgres import PostgresStore, migrate_postgres
from hookgate.store.sql import Migration, migrations
from hookgate.store.sqlite import SQLiteStore, migrate_sqlite
from tests.support import postgres_dsn

T0 = 1_700_000_000.0
HASH = bytes(range(32))

# One row of every record, as the migrations up to 0003 lay the tables out (no column added later).
ROWS: list[tuple[str, dict[str, Any]]] = [
    ("applications", {"id": "app_1", "name": "acme", "created_at": T0}),
    (
        "endpoints",
        {
            "id": "ep_1",
            "app_id": "app_1",
            "url": "https://hooks.example.test/in",
            "created_at": T0,
            "updated_at": T0 + 1,
            "event_types": '["order.paid"]',
            "enabled": True,
            "disabled_reason": None,
            "scheme": "standard",
            "secrets_sealed": b"\x01sealed",
            "headers": '{"x-team": "billing"}',
            "timeout_s": 15.0,
            "rate_limit_per_s": 2.5,
            "max_concurrency": 4,
            "retry_schedule": "[1, 60]",
            "allow_insecure": False,
            "settings": "{}",
            "failing_since": T0 + 2,
        },
    ),
    (
        "messages",
        {
            "id": "msg_1",
            "app_id": "app_1",
            "event_type": "order.paid",
            "payload": b'{"id": 1}',
            "created_at": T0,
            "idempotency_key": "idem-1",
        },
    ),
    (
        "deliveries",
        {
            "id": "dlv_1",
            "message_id": "msg_1",
            "endpoint_id": "ep_1",
            "status": "failed",
            "attempts": 1,
            "next_attempt_at": T0 + 60,
            "created_at": T0,
            "updated_at": T0 + 1,
            "lease_owner": None,
            "lease_expires_at": None,
        },
    ),
    (
        "attempts",
        {
            "delivery_id": "dlv_1",
            "started_at": T0,
            "duration_ms": 12.5,
            "status_code": 503,
            "response_excerpt": "busy",
            "error_class": None,
            "outcome": "retry",
        },
    ),
    (
        "signing_keys",
        {
            "kid": "kid_1",
            "kind": "ed25519",
            "alg": "EdDSA",
            "private_sealed": b"\x02sealed",
            "public_jwk": '{"kty": "OKP"}',
            "status": "active",
            "created_at": T0,
            "activated_at": T0,
            "retired_at": None,
        },
    ),
    (
        "api_tokens",
        {
            "id": "tok_1",
            "name": "ci",
            "token_hash": HASH,
            "scope": "admin",
            "created_at": T0,
            "revoked_at": None,
        },
    ),
    (
        "event_types",
        {
            "app_id": "app_1",
            "name": "order.paid",
            "description": "an order was paid",
            "archived": False,
            "created_at": T0,
        },
    ),
    (
        "inbound_sources",
        {"id": "src_1", "name": "github", "config_sealed": b"\x03sealed", "created_at": T0, "updated_at": T0},
    ),
]


def insert(table: str, row: dict[str, Any], placeholder: Callable[[int], str]) -> str:
    marks = ", ".join(placeholder(n) for n in range(1, len(row) + 1))
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})"  # noqa: S608 (fixed test tables)


def levels(dialect: str) -> list[int]:
    """The previous level, and 3 (the first with every table of ROWS) so 0004's new column is covered."""
    latest = len(migrations(dialect))
    return sorted({3, latest - 1})


def up_to(dialect: str, level: int) -> Callable[[str], list[Migration]]:
    chosen = migrations(dialect)[:level]
    return lambda _dialect: chosen


async def check_rows_survived(store: Store) -> None:
    assert (await store.get_application("app_1")).name == "acme"
    endpoint = await store.get_endpoint("ep_1")
    assert endpoint.version == 0  # 0004's default
    assert endpoint.config.event_types == ("order.paid",)
    assert endpoint.config.headers == {"x-team": "billing"}
    assert endpoint.secrets_sealed == b"\x01sealed"
    assert endpoint.config.policy.retry_schedule == (1, 60)
    assert endpoint.enabled
    assert not endpoint.config.allow_insecure
    assert endpoint.failing_since == T0 + 2
    message = await store.get_message("msg_1")
    assert (message.payload, message.idempotency_key) == (b'{"id": 1}', "idem-1")
    [delivery] = await store.list_deliveries("msg_1")
    assert (delivery.id, delivery.status, delivery.attempts) == ("dlv_1", DeliveryStatus.FAILED, 1)
    [attempt] = await store.list_attempts("dlv_1")
    assert (attempt.status_code, attempt.response_excerpt, attempt.outcome) == (503, "busy", "retry")
    assert attempt.request_headers == {}  # recorded before 0007 kept headers
    [key] = await store.list_signing_keys()
    assert (key.kid, key.status, key.private_sealed) == ("kid_1", SigningKeyStatus.ACTIVE, b"\x02sealed")
    assert (await store.find_api_token(HASH)).id == "tok_1"
    [event_type] = await store.list_event_types("app_1")
    assert (event_type.name, event_type.archived) == ("order.paid", False)
    assert (await store.get_source("src_1")).config_sealed == b"\x03sealed"
    # and the database works on: the failed delivery is due again at its time
    [claim] = await store.claim("w", 10, now=T0 + 60, lease_s=30)
    assert claim.delivery.id == "dlv_1"


@pytest.mark.parametrize("level", levels("sqlite"))
async def test_sqlite_upgrade_keeps_rows(level: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hookgate.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        with monkeypatch.context() as patch:
            patch.setattr(sqlite_module, "migrations", up_to("sqlite", level))
            assert migrate_sqlite(conn) == list(range(1, level + 1))
        for table, row in ROWS:
            conn.execute(insert(table, row, lambda _n: "?"), tuple(row.values()))
        conn.commit()
    store = await SQLiteStore.open(path)  # applies the rest
    try:
        await check_rows_survived(store)
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in migrations("sqlite")]
        assert conn.execute("SELECT count(*) FROM inbound_events").fetchone() == (0,)


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


@pytest.mark.postgres
@pytest.mark.parametrize("level", levels("postgres"))
async def test_postgres_upgrade_keeps_rows(level: int, dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    conn = await asyncpg.connect(dsn)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(postgres_module, "migrations", up_to("postgres", level))
            assert await migrate_postgres(conn) == list(range(1, level + 1))
        for table, row in ROWS:
            await conn.execute(insert(table, row, lambda n: f"${n}"), *row.values())
        store = await PostgresStore.open(dsn)  # applies the rest
        try:
            await check_rows_survived(store)
        finally:
            await store.close()
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        assert [r["version"] for r in versions] == [m.version for m in migrations("postgres")]
        assert await conn.fetchval("SELECT count(*) FROM inbound_events") == 0
    finally:
        await conn.close()
