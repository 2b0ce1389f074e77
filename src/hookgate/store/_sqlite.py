"""The sqlite3 boundary of the SQLite store: one connection on one dedicated thread, every unit of work one
``BEGIN IMMEDIATE`` transaction there, and the one place sqlite3 errors become `StoreError`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from hookgate.errors import DuplicateError, StoreError

__all__ = ["SQLiteConnector", "data_version", "prepare_connection"]

T = TypeVar("T")


def data_version(conn: sqlite3.Connection) -> int:
    """Changes exactly when another connection commits (never on this connection's own commits)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


# the constraint failures that mean "a record with this key exists" (a NOT NULL or CHECK failure is a bug)
_UNIQUE_VIOLATIONS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


_BUSY_TIMEOUT_MS = 5000


def prepare_connection(conn: sqlite3.Connection) -> None:
    """Wait up to the busy timeout for locks, and put the file in WAL mode (synchronous=NORMAL).

    Switching a new file to WAL takes a lock for which SQLite does not call the busy handler, so several
    processes or stores opening the same new file at once see "database is locked" there: retried here for
    as long as the busy timeout would have waited.
    """
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last
    # commits, the trade the embedded default makes for 3x the write rate (see DESIGN.md)
    conn.execute("PRAGMA synchronous=NORMAL")


class SQLiteConnector:
    """``await SQLiteConnector.open(path, setup, queries)``: `hookgate.store.sql_store.Connector` for SQLite.

    ``setup`` runs once on the new connection, on its thread (pragmas, migrations); ``queries`` are the named
    queries `fetchrow`, `fetch` and `execute` look up.
    """

    flag: Callable[[bool], Any] = int

    def lists(self, values: Sequence[str]) -> Any:
        return json.dumps(list(values))

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        queries: dict[str, str],
        *,
        error: str = "SQLite error",
    ) -> None:
        self._conn = conn
        self._executor = executor
        self._queries = queries
        self._error = error

    @classmethod
    async def open(
        cls,
        path: str | Path,
        setup: Callable[[sqlite3.Connection], None],
        queries: dict[str, str],
        *,
        what: str = "SQLite database",
        error: str = "SQLite error",
    ) -> SQLiteConnector:
        """``what`` names the file in an error opening it; ``error`` starts the message of later errors."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookgate-sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            try:
                setup(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except sqlite3.Error as exc:
            executor.shutdown(wait=False)
            raise StoreError(f"cannot open {what} {path}: {exc}") from None
        return cls(conn, executor, queries, error=error)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` as one transaction on the connection's thread; driver errors become `StoreError`."""

        def tx() -> T:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return out

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, tx)
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname in _UNIQUE_VIOLATIONS:
                raise DuplicateError(f"{self._error}: {exc}") from None
            raise StoreError(f"{self._error}: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self._error}: {exc}") from None

    async def fetchrow(self, name: str, params: dict[str, Any]) -> Any:
        sql = self._queries[name]
        return await self.run(lambda c: c.execute(sql, params).fetchone())

    async def fetch(self, name: str, params: dict[str, Any]) -> list[Any]:
        sql = self._queries[name]
        rows: list[Any] = await self.run(lambda c: c.execute(sql, params).fetchall())
        return rows

    async def execute(self, name: str, params: dict[str, Any]) -> int:
        sql = self._queries[name]
        count: int = await self.run(lambda c: c.execute(sql, params).rowcount)
        return count

    async def data_version(self) -> int:
        """``PRAGMA data_version``, outside any transaction (see `SQLiteStore.wait_for_work`)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, data_version, self._conn)
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname in _UNIQUE_VIOLATIONS:
                raise DuplicateError(f"{self._error}: {exc}") from None
            raise StoreError(f"{self._error}: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self._error}: {exc}") from None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
