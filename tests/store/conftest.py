"""The ``store`` fixture: every contract test runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from tests.support import postgres_dsn


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
