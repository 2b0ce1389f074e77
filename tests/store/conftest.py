"""The ``store`` fixture: every contract test runs once per backend."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore

PG_DSN = os.environ.get("HOOKGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def postgres_dsn() -> AsyncIterator[str]:
    """A DSN whose search_path is a fresh schema, dropped afterwards; in CI an unreachable server fails."""
    asyncpg = pytest.importorskip("asyncpg")
    try:
        admin = await asyncpg.connect(PG_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}: {exc}")
    schema = "hg_test_" + secrets.token_hex(6)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_DSN}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
        yield backend
        await backend.close()
    elif request.param == "sqlite":
        backend = await SQLiteStore.open(tmp_path / "hookgate.db")
        yield backend
        await backend.close()
    else:
        async for dsn in postgres_dsn():
            backend = await PostgresStore.open(dsn)
            yield backend
            await backend.close()
