"""Durable storage of the delivery engine: one interface (`hookgate.store.base.Store`), three backends.

`open_store` picks the backend from a URL, importing only the driver that URL needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hookgate.errors import ConfigError

if TYPE_CHECKING:
    from hookgate.store.base import Store

__all__ = ["open_store"]


async def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open ``memory://``, ``sqlite:///relative/or/absolute/path.db`` or ``postgresql://...``.

    With ``migrate`` (the default) pending migrations are applied first, so a fresh database is usable.
    """
    if url.startswith("memory://"):
        from hookgate.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite://"):
        from hookgate.store.sqlite import SQLiteStore

        path = url[len("sqlite://") :]
        if path.startswith("/"):
            path = path[1:]  # sqlite:///rel.db is relative, sqlite:////abs.db absolute (SQLAlchemy style)
        if not path:
            raise ConfigError("sqlite:// URL needs a file path, e.g. sqlite:///hookgate.db")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return await SQLiteStore.open(path, migrate=migrate)
    if url.startswith(("postgresql://", "postgres://")):
        from hookgate.store.postgres import PostgresStore

        return await PostgresStore.open(url, migrate=migrate)
    raise ConfigError("database URL must start with sqlite://, postgresql:// or memory://")
