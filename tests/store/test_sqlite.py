"""SQLite specifics: migrations give the declared schema, are idempotent; data survives reopening."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from hookgate.models import Application
from hookgate.store.sql import declared_schema, load_queries, migrations
from hookgate.store.sqlite import SQLiteStore, _statements, migrate_sqlite


def schema_of(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master"
        " WHERE name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'"
    ).fetchall()
    return {(t, n): " ".join(sql.split()) for t, n, sql in rows if sql}


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
    for sql in queries.values():
        # EXPLAIN compiles the statement without running it: a typo in a column name fails here
        params = dict.fromkeys(re.findall(r":([a-z_]+)", sql))
        conn.execute("EXPLAIN " + sql, params)


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
