"""The asyncpg boundary shared by hookgate's PostgreSQL adapters: which driver errors become `StoreError`,
a pool checkout that throws away a connection an error may have left broken, named queries compiled to
asyncpg's placeholders, and the PostgreSQL connector of `hookgate.store.sql_store.SqlStore` over them.

asyncpg raises more than `asyncpg.PostgresError`: a connection lost mid-statement surfaces as
``ConnectionDoesNotExistError``, ``InterfaceError`` or ``InternalClientError`` ("cannot switch to state 15;
another operation is in progress"), a refused reconnect as ``OSError``. Such a connection can still look open
while its protocol state is wrong, and the pool would hand it out again; so a connection that saw anything
but a statement's own SQL error (or one of our errors) is terminated rather than returned to the pool.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from hookgate.errors import DuplicateError, HookgateError, StoreError
from hookgate.store.sql import load_queries

__all__ = ["DRIVER_ERRORS", "PostgresConnector", "Query", "checkout", "may_break_connection", "pg_queries"]

T = TypeVar("T")

# OSError covers ConnectionError and TimeoutError (a connect timeout); InternalClientError covers asyncpg's
# OutdatedSchemaCacheError and protocol-state errors.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)

# server errors that end the session: 08xxx connection exceptions, 57xxx operator intervention (the
# administrator shut the server down, it is starting up, the backend was terminated)
_SESSION_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)


def may_break_connection(exc: BaseException) -> bool:
    """Whether the connection that raised ``exc`` may be unusable: anything but one of our own errors or a
    server error about the statement (a unique violation, a syntax error) after which the session goes on."""
    if isinstance(exc, HookgateError):
        return False
    if isinstance(exc, asyncpg.PostgresError):
        return isinstance(exc, _SESSION_ERRORS)
    return True  # client-side errors, OSError, cancellation: the protocol state is unknown


@contextlib.asynccontextmanager
async def checkout(pool: asyncpg.Pool, what: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection from ``pool`` for one unit of work.

    Driver errors, from acquiring the connection or from the work, become `StoreError` (``what`` starts the
    message); our own errors pass through. When the work failed in a way that may have broken the connection,
    it is terminated, so the pool opens a fresh one next time instead of reusing it.
    """
    try:
        async with pool.acquire() as conn:
            try:
                yield conn
            except BaseException as exc:
                if may_break_connection(exc):
                    # already released if asyncpg saw the connection close: then it is gone anyway
                    with contextlib.suppress(asyncpg.InterfaceError):
                        conn.terminate()
                raise
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"{what}: {type(exc).__name__}: {exc}") from None
    except DRIVER_ERRORS as exc:
        raise StoreError(f"{what}: {type(exc).__name__}: {exc}") from None


_PARAM = re.compile(r"(?<!:):([a-z_]+)")


class Query:
    """A named query with ``:name`` parameters compiled to asyncpg's ``$n``."""

    __slots__ = ("names", "sql")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        self.sql = _PARAM.sub(number, sql)
        self.names = tuple(names)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] for n in self.names]


def pg_queries(filename: str) -> dict[str, Query]:
    """The named queries of ``sql/postgres/<filename>``, compiled."""
    return {name: Query(sql) for name, sql in load_queries("postgres", filename).items()}


def rowcount(status: str) -> int:
    """The row count at the end of an asyncpg command status (``"UPDATE 3"``), 0 when there is none."""
    return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0


class PostgresConnector:
    """The `hookgate.store.sql_store.Connector` of PostgreSQL: named queries on a pool's connections.

    Every query goes through `tx` or `one`, the one place the store meets asyncpg: driver errors become
    `StoreError` there, and a connection they may have broken is terminated, not reused (see `checkout`).
    """

    flag: Callable[[bool], Any] = bool

    def lists(self, values: Sequence[str]) -> Any:
        return list(values)

    def __init__(self, pool: asyncpg.Pool, queries: dict[str, Query]) -> None:
        self.pool = pool
        self._queries = queries

    async def tx(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction on a pool connection."""
        async with checkout(self.pool, "PostgreSQL error") as conn, conn.transaction():
            return await fn(conn)

    async def one(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn``, which sends exactly one statement, outside an explicit transaction: a statement is
        atomic on its own, and BEGIN/COMMIT would cost two more round trips."""
        async with checkout(self.pool, "PostgreSQL error") as conn:
            return await fn(conn)

    async def fetchrow(self, name: str, params: dict[str, Any]) -> Any:
        q = self._queries[name]
        return await self.one(lambda c: c.fetchrow(q.sql, *q.args(params)))

    async def fetch(self, name: str, params: dict[str, Any]) -> list[Any]:
        q = self._queries[name]
        rows: list[Any] = await self.one(lambda c: c.fetch(q.sql, *q.args(params)))
        return rows

    async def execute(self, name: str, params: dict[str, Any]) -> int:
        return await self.one(lambda c: self.execute_on(c, name, params))

    async def execute_on(self, conn: asyncpg.Connection, name: str, params: dict[str, Any]) -> int:
        """Run a named query on ``conn`` (inside a `tx`); return how many rows it changed."""
        q = self._queries[name]
        return rowcount(await conn.execute(q.sql, *q.args(params)))
