"""The ``store`` fixture: every contract test runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore


@pytest.fixture(params=["memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    backend: Store = MemoryStore()
    yield backend
    await backend.close()
