"""SQLite specifics: migrations give the declared schema, are idempotent; data survives reopening."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from hookgate.config import EndpointConfig
from hookgate.models import Application, Endpoint, Message, new_id
from hookgate.store import sql as sql_module
from hookgate.store import sqlite as sqlite_module
from hookgate.store.sql import Migration, declared_schema, load_queries, migrations
from hookgate.store.sqlite import SQLiteStore, _statements, migrate_sqlite

T0 = 1_700_000_000.0


def schema_of(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master"
        " WHERE name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'"
    ).fetchall()
    # ALTER TABLE ... ADD COLUMN appends to the stored CREATE TABLE text as "...\n, col ...)": compare
    # without the whitespace before commas and closing parentheses
    return {(t, n): re.sub(r" ([,)])", r"\1", " ".join(sql.split())) for t, n, sql in rows if sql}


def test_migrated_schema_equals_declared_schema() -> None:
    migrated = sqlite3.connect(":memory:")
    assert migrate_sqlite(migrated) == [m.version for m in migrations("sqlite")]
    declared = sqlite3.connect(":memory:")
    for statement in _statements(declared_schema("sqlite")):
        declared.execute(statement)
    assert schema_of(migrated) == schema_of(declared)
    assert ("table", "deliveries") in schema_of(migrated)


def test_migrate_is_idempotent() -> None:
    conn = sqlite3.connect(":memory:")
    assert migrate_sqlite(conn) != []
    assert migrate_sqlite(conn) == []


def test_every_named_query_prepares_against_the_schema() -> None:
    conn = sqlite3.connect(":memory:")
    migrate_sqlite(conn)
    queries = load_queries("sqlite")
    assert len(queries) > 20
    inbound = load_queries("sqlite", "inbound.sql")
    assert "claim_event" in inbound
    assert "save_bucket" in inbound
    for sql in [*queries.values(), *inbound.values()]:
        # EXPLAIN compiles the statement without running it: a typo in a column name fails here
        params = dict.fromkeys(re.findall(r":([a-z_]+)", sql))
        conn.execute("EXPLAIN " + sql, params)


def test_a_dialect_cannot_redefine_a_common_query(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = {"common": "-- name: get_x\nSELECT 1;\n", "sqlite": "-- name: get_x\nSELECT 2;\n"}
    monkeypatch.setattr(sql_module, "_read", lambda folder, filename: texts[folder])
    with pytest.raises(RuntimeError, match="query get_x is defined twice"):
        load_queries("sqlite")


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration is all-or-nothing even on an autocommit connection (the store's): its first statement is
    rolled back when a later one fails, and it stays pending."""
    broken = Migration(
        1, "0001_broken.sql", "CREATE TABLE first (a INTEGER);\nCREATE TABLE first (b INTEGER);"
    )
    monkeypatch.setattr(sqlite_module, "migrations", lambda dialect: [broken])
    conn = sqlite3.connect(tmp_path / "db", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        migrate_sqlite(conn)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'first'").fetchall() == []
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == []


async def test_data_survives_reopening_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "hookgate.db"
    store = await SQLiteStore.open(path)
    await store.create_application(Application(id="app_1", name="acme", created_at=1.0))
    await store.close()
    reopened = await SQLiteStore.open(path)
    assert (await reopened.get_application("app_1")).name == "acme"
    await reopened.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_commit_since_the_last_claim_wakes_the_waiter_at_once(tmp_path: Path) -> None:
    """Another process (here: another connection) publishes after the worker's last claim but before it
    starts waiting: the wait must return at once, not after its timeout."""
    path = tmp_path / "hookgate.db"
    worker = await SQLiteStore.open(path)
    publisher = await SQLiteStore.open(path)
    try:
        app = await publisher.create_application(Application(id=new_id("app"), name="a", created_at=T0))
        await publisher.create_endpoint(
            Endpoint(
                id=new_id("ep"),
                app_id=app.id,
                config=EndpointConfig(url="https://x.example.test/"),
                created_at=T0,
                updated_at=T0,
            )
        )
        assert await worker.claim("w", 10, now=T0, lease_s=30) == []
        msg = Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0)
        await publisher.publish(msg, now=T0)
        await asyncio.wait_for(worker.wait_for_work(30), 2)  # far sooner than the 30 s timeout
        # the change was seen: waiting again without a claim does not wake on it a second time
        loop = asyncio.get_running_loop()
        started = loop.time()
        await worker.wait_for_work(0.2)
        assert loop.time() - started >= 0.15
        assert len(await worker.claim("w", 10, now=T0, lease_s=30)) == 1
        # and after that claim, a new commit elsewhere wakes a wait already in progress
        waiter = asyncio.create_task(worker.wait_for_work(30))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await publisher.publish(
            Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0), now=T0
        )
        await asyncio.wait_for(waiter, 2)
    finally:
        await worker.close()
        await publisher.close()


async def test_an_idle_waiter_backs_off_its_cross_process_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle, the waiter polls PRAGMA data_version less and less often (5 ms doubling to 1 s), not 200 times a
    second; activity brings the short interval back, and a commit elsewhere still wakes it."""
    path = tmp_path / "hookgate.db"
    worker = await SQLiteStore.open(path)
    publisher = await SQLiteStore.open(path)
    polls = 0
    read_version = worker._db.data_version

    async def counted() -> int:
        nonlocal polls
        polls += 1
        return await read_version()

    monkeypatch.setattr(worker._db, "data_version", counted)
    try:
        await worker.wait_for_work(1.0)
        # 5 + 10 + 20 + ... ms fit about 8 polls into a second (load can only make it fewer); a fixed
        # 5 ms interval would have made about 200
        assert 3 <= polls <= 12
        assert worker._poll_s == 1.0
        app = await publisher.create_application(Application(id=new_id("app"), name="a", created_at=T0))
        waiter = asyncio.create_task(worker.wait_for_work(30))
        await asyncio.sleep(0.05)
        await publisher.publish(
            Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=b"{}", created_at=T0), now=T0
        )
        await asyncio.wait_for(waiter, 5)  # seen within the backed-off interval, far before 30 s
        assert worker._poll_s == 0.005  # activity: short polls again
    finally:
        await worker.close()
        await publisher.close()


async def test_stores_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    # switching a new file to WAL takes a lock SQLite's busy handler does not wait for: before the retry in
    # prepare_connection about one round in ten failed with "database is locked"
    for round_ in range(30):
        path = tmp_path / f"race-{round_}.db"
        stores = await asyncio.gather(*(SQLiteStore.open(path) for _ in range(4)))
        for store in stores:
            await store.close()
