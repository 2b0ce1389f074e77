"""The ``store`` fixture: every contract test runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore
from hookgate.store.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    else:
        backend = await SQLiteStore.open(tmp_path / "hookgate.db")
    yield backend
    await backend.close()
