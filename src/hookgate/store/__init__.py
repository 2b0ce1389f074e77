"""Durable storage of the delivery engine: one interface (`hookgate.store.base.Store`), three backends.

`open_store` picks the backend from a URL, importing only the driver that URL needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hookgate.errors import ConfigError

if TYPE_CHECKING:
    from hookgate.store.base import Store

__all__ = ["apply_migrations", "open_store"]


def _sqlite_path(url: str) -> str:
    path = url[len("sqlite://") :]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///rel.db is relative, sqlite:////abs.db absolute (SQLAlchemy style)
    if not path:
        raise ConfigError("sqlite:// URL needs a file path, e.g. sqlite:///hookgate.db")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


async def apply_migrations(url: str) -> list[int]:
    """Apply pending migrations at ``url``; return the versions applied (``hookgate migrate``)."""
    if url.startswith("sqlite://"):
        import asyncio
        import sqlite3

        from hookgate.errors import StoreError
        from hookgate.store._sqlite import prepare_connection
        from hookgate.store.sqlite import migrate_sqlite

        path = _sqlite_path(url)

        def run() -> list[int]:
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                prepare_connection(conn)
                return migrate_sqlite(conn)
            finally:
                conn.close()

        try:
            return await asyncio.to_thread(run)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot migrate SQLite database {path}: {exc}") from None
    if url.startswith(("postgresql://", "postgres://")):
        import asyncpg

        from hookgate.errors import StoreError
        from hookgate.store._pg import DRIVER_ERRORS
        from hookgate.store.postgres import migrate_postgres

        try:
            conn = await asyncpg.connect(url)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from None
        try:
            return await migrate_postgres(conn)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"PostgreSQL migration failed: {type(exc).__name__}: {exc}") from None
        finally:
            try:
                await conn.close()
            except DRIVER_ERRORS:
                conn.terminate()
    if url.startswith("memory://"):
        return []
    raise ConfigError("database URL must start with sqlite://, postgresql:// or memory://")


async def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open ``memory://``, ``sqlite:///relative/or/absolute/path.db`` or ``postgresql://...``.

    With ``migrate`` (the default) pending migrations are applied first, so a fresh database is usable.
    """
    if url.startswith("memory://"):
        from hookgate.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite://"):
        from hookgate.store.sqlite import SQLiteStore

        return await SQLiteStore.open(_sqlite_path(url), migrate=migrate)
    if url.startswith(("postgresql://", "postgres://")):
        from hookgate.store.postgres import PostgresStore

        return await PostgresStore.open(url, migrate=migrate)
    raise ConfigError("database URL must start with sqlite://, postgresql:// or memory://")
