"""The SQLite store: the embedded default (one file, WAL mode), queries from ``sql/sqlite/queries.sql``.

sqlite3 is blocking, so every call runs on one dedicated thread that owns the connection: calls are
serialised there (SQLite allows one writer anyway) and each method is one transaction. Wake-ups are an
in-process event, which is all the embedded, single-process deployment needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from hookgate.errors import ConflictError, HookgateError, NotFoundError, StoreError
from hookgate.models import (
    ApiToken,
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    InboundSourceRecord,
    Message,
    SigningKey,
    SigningKeyStatus,
)
from hookgate.store._rows import (
    api_token_from_row,
    api_token_params,
    application_from_row,
    attempt_params,
    check_limit,
    completion_params,
    decode_attempt_id,
    decode_position,
    event_type_from_row,
    event_type_params,
    first_per_lease,
    page_of,
    signing_key_params,
    source_from_row,
    source_params,
)
from hookgate.store._rows import attempt_from_row as _attempt
from hookgate.store._rows import delivery_from_row as _delivery
from hookgate.store._rows import endpoint_from_row as _endpoint
from hookgate.store._rows import endpoint_params as _endpoint_params
from hookgate.store._rows import message_from_row as _message
from hookgate.store._rows import signing_key_from_row as _signing_key
from hookgate.store.base import IDEMPOTENCY_WINDOW, AttemptResult, Claim, Page, PublishResult, Store, fan_out
from hookgate.store.sql import load_queries, migrations

__all__ = ["SQLiteStore", "migrate_sqlite"]

T = TypeVar("T")
Q = load_queries("sqlite")


def migrate_sqlite(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; return the versions applied.

    Each migration runs inside ``BEGIN IMMEDIATE`` and checks there whether it is still pending: the write
    lock makes it all-or-nothing and lets several processes (a server and its workers, inbound stores) migrate
    one file at once. Works in autocommit mode (``isolation_level=None``) and in Python's default mode.
    """
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    applied = []
    for migration in migrations("sqlite"):
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                # executescript would commit on its own; run statements one by one inside our transaction
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (migration.version, time.time()),
                )
                applied.append(migration.version)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return applied


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _data_version(conn: sqlite3.Connection) -> int:
    """Changes exactly when another connection commits (never on this connection's own commits)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


# How often a waiting worker checks whether another process committed (see wait_for_work).
_CROSS_PROCESS_POLL_S = 0.005


class SQLiteStore(Store):
    """``await SQLiteStore.open(path)``; ``":memory:"`` works for tests."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor
        self._work = asyncio.Event()
        # PRAGMA data_version as of the last claim (or the last cross-process wake-up): anything another
        # process commits after it is work this store has not looked at yet (see wait_for_work)
        self._seen_version: int | None = None

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> SQLiteStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookgate-sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last
            # commits, the trade the embedded default makes for 3x the write rate (see DESIGN.md)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            if migrate:
                migrate_sqlite(conn)
            return conn

        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, connect)
        except sqlite3.Error as exc:
            executor.shutdown(wait=False)
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from None
        return cls(conn, executor)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` as one transaction on the store's thread; driver errors become `StoreError`."""

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
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error: {exc}") from None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)

    # -- applications and endpoints -----------------------------------------------------------------

    async def create_application(self, app: Application) -> Application:
        await self._run(
            lambda c: c.execute(
                Q["insert_application"], {"id": app.id, "name": app.name, "created_at": app.created_at}
            )
        )
        return app

    async def get_application(self, app_id: str) -> Application:
        row = await self._run(lambda c: c.execute(Q["get_application"], {"id": app_id}).fetchone())
        if row is None:
            raise NotFoundError(f"application {app_id!r} not found")
        return Application(id=row["id"], name=row["name"], created_at=row["created_at"])

    async def rename_application(self, app_id: str, name: str) -> Application:
        row = await self._run(
            lambda c: c.execute(Q["rename_application"], {"id": app_id, "name": name}).fetchone()
        )
        if row is None:
            raise NotFoundError(f"application {app_id!r} not found")
        return Application(id=row["id"], name=row["name"], created_at=row["created_at"])

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        def tx(c: sqlite3.Connection) -> None:
            if c.execute(Q["get_application"], {"id": endpoint.app_id}).fetchone() is None:
                raise NotFoundError(f"application {endpoint.app_id!r} not found")
            c.execute(Q["insert_endpoint"], _endpoint_params(endpoint))

        await self._run(tx)
        return endpoint

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        row = await self._run(lambda c: c.execute(Q["get_endpoint"], {"id": endpoint_id}).fetchone())
        if row is None:
            raise NotFoundError(f"endpoint {endpoint_id!r} not found")
        return _endpoint(row)

    async def list_endpoints(self, app_id: str) -> list[Endpoint]:
        rows = await self._run(lambda c: c.execute(Q["list_endpoints"], {"app_id": app_id}).fetchall())
        return [_endpoint(r) for r in rows]

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        def tx(c: sqlite3.Connection) -> Endpoint:
            row = c.execute(Q["update_endpoint"], _endpoint_params(endpoint)).fetchone()
            if row is not None:
                return _endpoint(row)
            if c.execute(Q["get_endpoint"], {"id": endpoint.id}).fetchone() is None:
                raise NotFoundError(f"endpoint {endpoint.id!r} not found")
            raise ConflictError(f"endpoint {endpoint.id!r} changed since it was read")

        return await self._run(tx)

    async def set_endpoint_enabled(
        self,
        endpoint_id: str,
        enabled: bool,
        *,
        reason: str | None,
        now: float,
        expected_version: int | None = None,
    ) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            params = {
                "id": endpoint_id,
                "enabled": int(enabled),
                "reason": None if enabled else reason,
                "now": now,
                "version": expected_version,
            }
            if c.execute(Q["set_endpoint_enabled"], params).rowcount == 0:
                if c.execute(Q["get_endpoint"], {"id": endpoint_id}).fetchone() is None:
                    raise NotFoundError(f"endpoint {endpoint_id!r} not found")
                return False  # changed since the caller's version
            if not enabled:
                c.execute(Q["kill_pending_of_endpoint"], {"id": endpoint_id, "now": now})
            return True

        return await self._run(tx)

    async def mark_endpoint_health(self, endpoint_id: str, ok: bool, now: float) -> float | None:
        query = Q["endpoint_healthy"] if ok else Q["endpoint_failing"]
        row = await self._run(lambda c: c.execute(query, {"id": endpoint_id, "now": now}).fetchone())
        if row is None:
            raise NotFoundError(f"endpoint {endpoint_id!r} not found")
        value: float | None = row[0]
        return value

    # -- messages -----------------------------------------------------------------------------------

    @staticmethod
    def _publish_tx(c: sqlite3.Connection, message: Message, now: float) -> PublishResult:
        if c.execute(Q["get_application"], {"id": message.app_id}).fetchone() is None:
            raise NotFoundError(f"application {message.app_id!r} not found")
        if message.idempotency_key is not None:
            params = {
                "app_id": message.app_id,
                "key": message.idempotency_key,
                "since": now - IDEMPOTENCY_WINDOW,
            }
            first = c.execute(Q["find_idempotent"], params).fetchone()
            if first is not None:
                rows = c.execute(Q["list_deliveries"], {"message_id": first["id"]}).fetchall()
                return PublishResult(_message(first), tuple(_delivery(r) for r in rows), duplicate=True)
        c.execute(
            Q["insert_message"],
            {
                "id": message.id,
                "app_id": message.app_id,
                "event_type": message.event_type,
                "payload": message.payload,
                "created_at": message.created_at,
                "idempotency_key": message.idempotency_key,
            },
        )
        targets = [
            _endpoint(r) for r in c.execute(Q["fan_out_candidates"], {"app_id": message.app_id}).fetchall()
        ]
        deliveries = fan_out(message, targets, now)
        rows = [
            {"id": d.id, "message_id": d.message_id, "endpoint_id": d.endpoint_id, "now": now}
            for d in deliveries
        ]
        c.executemany(Q["insert_delivery"], rows)
        return PublishResult(message, deliveries, duplicate=False)

    async def publish(self, message: Message, *, now: float) -> PublishResult:
        result = await self._run(lambda c: self._publish_tx(c, message, now))
        if result.deliveries and not result.duplicate:
            self._work.set()
        return result

    async def publish_many(
        self, messages: Sequence[Message], *, now: float
    ) -> list[PublishResult | HookgateError]:
        """One transaction for the batch (one commit, one fsync at most), a savepoint per message so a
        failing message fails alone."""

        def tx(c: sqlite3.Connection) -> list[PublishResult | HookgateError]:
            results: list[PublishResult | HookgateError] = []
            for message in messages:
                c.execute("SAVEPOINT hookgate_publish")
                try:
                    results.append(self._publish_tx(c, message, now))
                except HookgateError as exc:
                    c.execute("ROLLBACK TO hookgate_publish")
                    results.append(exc)
                c.execute("RELEASE hookgate_publish")
            return results

        results = await self._run(tx)
        if any(isinstance(r, PublishResult) and r.deliveries and not r.duplicate for r in results):
            self._work.set()
        return results

    async def get_message(self, message_id: str) -> Message:
        row = await self._run(lambda c: c.execute(Q["get_message"], {"id": message_id}).fetchone())
        if row is None:
            raise NotFoundError(f"message {message_id!r} not found")
        return _message(row)

    async def list_deliveries(self, message_id: str) -> list[Delivery]:
        rows = await self._run(
            lambda c: c.execute(Q["list_deliveries"], {"message_id": message_id}).fetchall()
        )
        return [_delivery(r) for r in rows]

    async def get_delivery(self, delivery_id: str) -> Delivery:
        row = await self._run(lambda c: c.execute(Q["get_delivery"], {"id": delivery_id}).fetchone())
        if row is None:
            raise NotFoundError(f"delivery {delivery_id!r} not found")
        return _delivery(row)

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        rows = await self._run(
            lambda c: c.execute(Q["list_attempts"], {"delivery_id": delivery_id}).fetchall()
        )
        return [_attempt(r) for r in rows]

    # -- the work queue -----------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, *, now: float, lease_s: float) -> list[Claim]:
        def tx(c: sqlite3.Connection) -> tuple[int, list[Claim]]:
            # read inside the claim's transaction: the version of exactly the state this claim saw
            version = _data_version(c)
            params = {"owner": owner, "lease_until": now + lease_s, "now": now, "limit": limit}
            deliveries = [_delivery(r) for r in c.execute(Q["claim"], params).fetchall()]
            if not deliveries:
                return version, []
            deliveries.sort(key=lambda d: d.next_attempt_at)
            message_ids = json.dumps(list({d.message_id for d in deliveries}))
            endpoint_ids = json.dumps(list({d.endpoint_id for d in deliveries}))
            messages = {r["id"]: _message(r) for r in c.execute(Q["claimed_messages"], {"ids": message_ids})}
            endpoints = {
                r["id"]: _endpoint(r) for r in c.execute(Q["claimed_endpoints"], {"ids": endpoint_ids})
            }
            return version, [Claim(d, messages[d.message_id], endpoints[d.endpoint_id]) for d in deliveries]

        self._seen_version, claims = await self._run(tx)
        return claims

    async def complete(self, results: Sequence[AttemptResult]) -> int:
        batch = first_per_lease(results)
        if not batch:
            return 0

        def tx(c: sqlite3.Connection) -> int:
            ids = json.dumps(list({r.delivery_id for r in batch}))
            # the write lock is held (BEGIN IMMEDIATE): these leases cannot change before the updates below
            held = dict(c.execute(Q["leases"], {"ids": ids}).fetchall())
            applied = []
            for r in batch:
                if held.get(r.delivery_id) == r.owner:
                    applied.append(r)
                    del held[r.delivery_id]  # applying a result releases the lease
            if not applied:
                return 0
            count: int = c.executemany(Q["complete"], [completion_params(r) for r in applied]).rowcount
            if count != len(applied):  # cannot happen under the write lock; never record attempts wrongly
                raise StoreError(f"complete applied {count} of {len(applied)} results it found leased")
            c.executemany(Q["insert_attempt"], [attempt_params(r) for r in applied if r.attempted])
            return count

        return await self._run(tx)

    async def release(self, owner: str, delivery_ids: Sequence[str], *, now: float) -> int:
        params = {"ids": json.dumps(list(delivery_ids)), "owner": owner, "now": now}
        released: int = await self._run(lambda c: c.execute(Q["release"], params).rowcount)
        if released:
            self._work.set()
        return released

    async def next_due_at(self) -> float | None:
        row = await self._run(lambda c: c.execute(Q["next_due_at"]).fetchone())
        value: float | None = row[0]
        return value

    async def wait_for_work(self, timeout: float) -> None:
        """Wake on this process's publishes at once, and on other processes' commits within a poll interval.

        SQLite has no LISTEN/NOTIFY; ``PRAGMA data_version`` changes exactly when another connection has
        committed, and reading it costs no disk I/O, so polling it every few milliseconds is how a separate
        ``hookgate worker`` process sees a publish without waiting out its idle timeout. The baseline is the
        version the last claim saw, not the one at the start of the wait: a commit that landed in between
        (while the worker was busy or computing its timeout) wakes the waiter at once instead of being missed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = self._seen_version
        if seen is None:  # nothing claimed yet: start from now
            seen = self._seen_version = await self._data_version()
        while not self._work.is_set():
            current = await self._data_version()
            if current != seen:
                self._seen_version = current  # consumed: the next wait does not wake on this commit again
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), min(remaining, _CROSS_PROCESS_POLL_S))
        self._work.clear()

    async def _data_version(self) -> int:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, _data_version, self._conn)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error: {exc}") from None

    async def resend(self, delivery_id: str, *, now: float) -> Delivery:
        row = await self._run(lambda c: c.execute(Q["resend"], {"id": delivery_id, "now": now}).fetchone())
        if row is None:
            raise NotFoundError(f"delivery {delivery_id!r} not found")
        self._work.set()
        return _delivery(row)

    async def recover(self, endpoint_id: str, *, since: float, now: float) -> int:
        def tx(c: sqlite3.Connection) -> int:
            if c.execute(Q["get_endpoint"], {"id": endpoint_id}).fetchone() is None:
                raise NotFoundError(f"endpoint {endpoint_id!r} not found")
            params = {"endpoint_id": endpoint_id, "since": since, "now": now}
            count: int = c.execute(Q["recover"], params).rowcount
            return count

        count = await self._run(tx)
        if count:
            self._work.set()
        return count

    # -- signing key ring and sealed records -----------------------------------------------------------

    async def add_signing_key(self, key: SigningKey) -> SigningKey:
        await self._run(lambda c: c.execute(Q["insert_signing_key"], signing_key_params(key)))
        return key

    async def list_signing_keys(self) -> list[SigningKey]:
        rows = await self._run(lambda c: c.execute(Q["list_signing_keys"]).fetchall())
        return [_signing_key(r) for r in rows]

    async def set_signing_key_status(self, kid: str, status: SigningKeyStatus, *, now: float) -> SigningKey:
        status = SigningKeyStatus(status)

        def tx(c: sqlite3.Connection) -> SigningKey:
            if status is SigningKeyStatus.ACTIVE:
                # demote first: the unique index allows one active row at any moment, even mid-transaction
                c.execute(Q["demote_active_signing_key"], {"kid": kid})
            row = c.execute(
                Q["set_signing_key_status"], {"kid": kid, "status": status.value, "now": now}
            ).fetchone()
            if row is None:
                raise NotFoundError(f"signing key {kid!r} not found")  # rolls the demotion back
            return _signing_key(row)

        return await self._run(tx)

    async def reseal(self, fn: Callable[[str, str, bytes], bytes]) -> int:
        def tx(c: sqlite3.Connection) -> int:
            changed = 0
            for row in c.execute(Q["sealed_endpoints"]).fetchall():
                old = bytes(row["secrets_sealed"])
                blob = fn("endpoint", row["id"], old)
                if blob != old:
                    c.execute(Q["set_endpoint_secrets_sealed"], {"id": row["id"], "blob": blob})
                    changed += 1
            for row in c.execute(Q["sealed_signing_keys"]).fetchall():
                old = bytes(row["private_sealed"])
                blob = fn("signing_key", row["kid"], old)
                if blob != old:
                    c.execute(Q["set_signing_key_private_sealed"], {"kid": row["kid"], "blob": blob})
                    changed += 1
            for row in c.execute(Q["sealed_sources"]).fetchall():
                old = bytes(row["config_sealed"])
                blob = fn("source", row["id"], old)
                if blob != old:
                    c.execute(Q["set_source_config_sealed"], {"id": row["id"], "blob": blob})
                    changed += 1
            return changed

        return await self._run(tx)

    # -- management API ---------------------------------------------------------------------------------

    async def _rows(self, name: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await self._run(lambda c: c.execute(Q[name], params).fetchall())
        return rows

    async def list_applications(self, *, cursor: str | None = None, limit: int = 50) -> Page[Application]:
        c_at, c_id = decode_position("app", cursor)
        params = {"c_at": c_at, "c_id": c_id, "limit": check_limit(limit) + 1}
        items = [application_from_row(r) for r in await self._rows("list_applications", params)]
        return page_of("app", items, limit, lambda a: (a.created_at, a.id))

    async def add_api_token(self, token: ApiToken) -> ApiToken:
        await self._run(lambda c: c.execute(Q["insert_api_token"], api_token_params(token)))
        return token

    async def find_api_token(self, token_hash: bytes) -> ApiToken:
        rows = await self._rows("find_api_token", {"token_hash": bytes(token_hash)})
        if not rows:
            raise NotFoundError("API token not found")
        return api_token_from_row(rows[0])

    async def list_api_tokens(self) -> list[ApiToken]:
        return [api_token_from_row(r) for r in await self._rows("list_api_tokens", {})]

    async def revoke_api_token(self, token_id: str, *, now: float) -> ApiToken:
        rows = await self._rows("revoke_api_token", {"id": token_id, "now": now})
        if not rows:
            raise NotFoundError(f"API token {token_id!r} not found")
        return api_token_from_row(rows[0])

    async def put_event_type(self, event_type: EventType) -> EventType:
        def tx(c: sqlite3.Connection) -> None:
            if c.execute(Q["get_application"], {"id": event_type.app_id}).fetchone() is None:
                raise NotFoundError(f"application {event_type.app_id!r} not found")
            c.execute(Q["put_event_type"], event_type_params(event_type))

        await self._run(tx)
        return event_type

    async def list_event_types(self, app_id: str) -> list[EventType]:
        return [event_type_from_row(r) for r in await self._rows("list_event_types", {"app_id": app_id})]

    async def list_messages(
        self,
        app_id: str,
        *,
        event_type: str | None = None,
        since: float | None = None,
        until: float | None = None,
        cursor: str | None = None,
        limit: int = 50,
        status: DeliveryStatus | None = None,
    ) -> Page[Message]:
        c_at, c_id = decode_position("msg", cursor)
        params: dict[str, Any] = {
            "app_id": app_id,
            "status": None if status is None else DeliveryStatus(status).value,
            "since": -math.inf if since is None else float(since),
            "until": math.inf if until is None else float(until),
            "c_at": c_at,
            "c_id": c_id,
            "limit": check_limit(limit) + 1,
        }
        if event_type is None:
            rows = await self._rows("list_messages", params)
        else:
            rows = await self._rows("list_messages_of_type", {**params, "event_type": event_type})
        return page_of("msg", [_message(r) for r in rows], limit, lambda m: (m.created_at, m.id))

    async def list_endpoint_attempts(
        self, endpoint_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        params = {
            "endpoint_id": endpoint_id,
            "before": decode_attempt_id(cursor),
            "limit": check_limit(limit) + 1,
        }
        items = [_attempt(r) for r in await self._rows("list_endpoint_attempts", params)]
        return page_of("att", items, limit, lambda a: (a.id or 0,))

    async def list_message_attempts(
        self, message_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        params = {
            "message_id": message_id,
            "before": decode_attempt_id(cursor),
            "limit": check_limit(limit) + 1,
        }
        items = [_attempt(r) for r in await self._rows("list_message_attempts", params)]
        return page_of("att", items, limit, lambda a: (a.id or 0,))

    async def list_endpoint_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Delivery]:
        c_at, c_id = decode_position("dlv", cursor)
        params = {
            "endpoint_id": endpoint_id,
            "status": None if status is None else DeliveryStatus(status).value,
            "c_at": c_at,
            "c_id": c_id,
            "limit": check_limit(limit) + 1,
        }
        items = [_delivery(r) for r in await self._rows("list_endpoint_deliveries", params)]
        return page_of("dlv", items, limit, lambda d: (d.created_at, d.id))

    async def put_source(self, source: InboundSourceRecord) -> InboundSourceRecord:
        row = await self._run(lambda c: c.execute(Q["put_source"], source_params(source)).fetchone())
        return source_from_row(row)

    async def get_source(self, source_id: str) -> InboundSourceRecord:
        rows = await self._rows("get_source", {"id": source_id})
        if not rows:
            raise NotFoundError(f"inbound source {source_id!r} not found")
        return source_from_row(rows[0])

    async def list_sources(self) -> list[InboundSourceRecord]:
        return [source_from_row(r) for r in await self._rows("list_sources", {})]

    async def delete_source(self, source_id: str) -> None:
        count = await self._run(lambda c: c.execute(Q["delete_source"], {"id": source_id}).rowcount)
        if count == 0:
            raise NotFoundError(f"inbound source {source_id!r} not found")

    async def count_due(self, *, now: float) -> int:
        rows = await self._rows("count_due", {"now": now})
        return int(rows[0][0])
