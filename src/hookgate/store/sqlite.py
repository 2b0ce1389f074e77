"""The SQLite store, the embedded default (one WAL-mode file); queries in ``sql/{common,sqlite}/queries.sql``.

The methods that are one named query live in `hookgate.store.sql_store.SqlStore`; this module adds opening
and migrating the file, the transactions of several statements, the claim and the wake-ups. sqlite3 is
blocking, so every call runs on one dedicated thread that owns the connection (`hookgate.store._sqlite`):
calls are serialised there (SQLite allows one writer anyway) and each is one transaction. Wake-ups are an
in-process event, plus polling ``PRAGMA data_version`` for other processes' commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hookgate.errors import ConflictError, HookgateError, NotFoundError, StoreError
from hookgate.models import (
    Delivery,
    Endpoint,
    EventType,
    InboundDecision,
    Message,
    SigningKey,
    SigningKeyStatus,
)
from hookgate.store._rows import (
    attempt_params,
    completion_params,
    decision_counts,
    decision_params,
    event_type_params,
    first_per_lease,
)
from hookgate.store._rows import delivery_from_row as _delivery
from hookgate.store._rows import endpoint_from_row as _endpoint
from hookgate.store._rows import endpoint_params as _endpoint_params
from hookgate.store._rows import message_from_row as _message
from hookgate.store._rows import signing_key_from_row as _signing_key
from hookgate.store._sqlite import SQLiteConnector, data_version, prepare_connection
from hookgate.store._sqlite_expunge import SQLiteExpunge
from hookgate.store._sqlite_tasks import SQLiteTaskBatches
from hookgate.store.base import IDEMPOTENCY_WINDOW, AttemptResult, Claim, PublishResult, fan_out
from hookgate.store.sql import load_queries, migrations
from hookgate.store.sql_store import SqlStore

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


# How often a waiting worker checks whether another process committed (see wait_for_work): every 5 ms
# after activity, doubling while nothing happens, up to once a second when idle.
_POLL_MIN_S = 0.005
_POLL_MAX_S = 1.0


class SQLiteStore(SQLiteTaskBatches, SQLiteExpunge, SqlStore):
    """``await SQLiteStore.open(path)``; ``":memory:"`` works for tests."""

    def __init__(self, db: SQLiteConnector) -> None:
        self._db: SQLiteConnector = db
        self._work = asyncio.Event()
        # PRAGMA data_version as of the last claim (or the last cross-process wake-up): anything another
        # process commits after it is work this store has not looked at yet (see wait_for_work)
        self._seen_version: int | None = None
        # the current cross-process poll interval: short after activity, backing off while idle
        self._poll_s = _POLL_MIN_S

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> SQLiteStore:
        def setup(conn: sqlite3.Connection) -> None:
            conn.row_factory = sqlite3.Row
            prepare_connection(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            if migrate:
                migrate_sqlite(conn)

        return cls(await SQLiteConnector.open(path, setup, Q))

    async def close(self) -> None:
        await self._db.close()

    # -- applications and endpoints -----------------------------------------------------------------

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        def tx(c: sqlite3.Connection) -> None:
            if c.execute(Q["get_application"], {"id": endpoint.app_id}).fetchone() is None:
                raise NotFoundError(f"application {endpoint.app_id!r} not found")
            c.execute(Q["insert_endpoint"], _endpoint_params(endpoint))

        await self._db.run(tx)
        return endpoint

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

        return await self._db.run(tx)

    async def delete_endpoint(self, endpoint_id: str, *, now: float) -> int:
        def tx(c: sqlite3.Connection) -> int:
            params = {"id": endpoint_id, "now": now, "enabled": 0, "blob": b""}
            if c.execute(Q["delete_endpoint"], params).rowcount == 0:
                raise NotFoundError(f"endpoint {endpoint_id!r} not found")
            return c.execute(Q["kill_pending_of_endpoint"], {"id": endpoint_id, "now": now}).rowcount

        return await self._db.run(tx)

    # -- messages -----------------------------------------------------------------------------------

    @staticmethod
    def _publish_tx(
        c: sqlite3.Connection, message: Message, now: float, endpoint_id: str | None = None
    ) -> PublishResult:
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
        deliveries = fan_out(message, targets, now, only=endpoint_id)
        if endpoint_id is not None and not deliveries:
            # raised inside the transaction: the message just inserted is rolled back with it
            raise ConflictError(f"endpoint {endpoint_id!r} is not an enabled endpoint of the application")
        rows = [
            {"id": d.id, "message_id": d.message_id, "endpoint_id": d.endpoint_id, "now": now}
            for d in deliveries
        ]
        c.executemany(Q["insert_delivery"], rows)
        return PublishResult(message, deliveries, duplicate=False)

    async def publish(self, message: Message, *, now: float, endpoint_id: str | None = None) -> PublishResult:
        result = await self._db.run(lambda c: self._publish_tx(c, message, now, endpoint_id))
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

        results = await self._db.run(tx)
        if any(isinstance(r, PublishResult) and r.deliveries and not r.duplicate for r in results):
            self._work.set()
        return results

    # -- the work queue -----------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, *, now: float, lease_s: float) -> list[Claim]:
        def tx(c: sqlite3.Connection) -> tuple[int, list[Claim]]:
            # read inside the claim's transaction: the version of exactly the state this claim saw
            version = data_version(c)
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

        self._seen_version, claims = await self._db.run(tx)
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

        return await self._db.run(tx)

    async def record_inbound_decisions(
        self, decisions: Sequence[InboundDecision], *, keep: int, counts_before: float
    ) -> None:
        sources = {d.source for d in decisions}

        def tx(c: sqlite3.Connection) -> None:
            c.executemany(Q["insert_inbound_decision"], [decision_params(d) for d in decisions])
            c.executemany(Q["prune_inbound_decisions"], [{"source": s, "keep": keep} for s in sources])
            c.executemany(Q["count_inbound_decisions"], decision_counts(decisions))
            c.execute(Q["prune_inbound_decision_counts"], {"before": int(counts_before // 60)})

        if decisions:
            await self._db.run(tx)

    async def release(self, owner: str, delivery_ids: Sequence[str], *, now: float) -> int:
        params = {"ids": json.dumps(list(delivery_ids)), "owner": owner, "now": now}
        released: int = await self._db.run(lambda c: c.execute(Q["release"], params).rowcount)
        if released:
            self._work.set()
        return released

    async def wait_for_work(self, timeout: float) -> None:
        """Wake on this process's publishes at once, and on other processes' commits within a poll interval.

        SQLite has no LISTEN/NOTIFY; ``PRAGMA data_version`` changes exactly when another connection has
        committed, and reading it costs no disk I/O, so polling it is how a separate ``hookgate worker``
        process sees a publish without waiting out its idle timeout. The interval starts at 5 ms after any
        activity and doubles while nothing happens, up to 1 s: an idle process wakes about once a second
        instead of 200 times, and a publish from another process after a long quiet spell is seen within a
        second (publishes in this process wake the waiter at once, whatever the interval). The baseline is
        the version the last claim saw, not the one at the start of the wait: a commit that landed in between
        (while the worker was busy or computing its timeout) wakes the waiter at once instead of being missed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = self._seen_version
        if seen is None:  # nothing claimed yet: start from now
            seen = self._seen_version = await self._db.data_version()
        while not self._work.is_set():
            current = await self._db.data_version()
            if current != seen:
                self._seen_version = current  # consumed: the next wait does not wake on this commit again
                self._poll_s = _POLL_MIN_S
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), min(remaining, self._poll_s))
            self._poll_s = min(self._poll_s * 2, _POLL_MAX_S)
        if self._work.is_set():
            self._poll_s = _POLL_MIN_S
        self._work.clear()

    async def resend(self, delivery_id: str, *, now: float) -> Delivery:
        row = await self._db.run(lambda c: c.execute(Q["resend"], {"id": delivery_id, "now": now}).fetchone())
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

        count = await self._db.run(tx)
        if count:
            self._work.set()
        return count

    # -- signing key ring and sealed records -----------------------------------------------------------

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

        return await self._db.run(tx)

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

        return await self._db.run(tx)

    # -- management API ---------------------------------------------------------------------------------

    async def put_event_type(self, event_type: EventType) -> EventType:
        def tx(c: sqlite3.Connection) -> None:
            if c.execute(Q["get_application"], {"id": event_type.app_id}).fetchone() is None:
                raise NotFoundError(f"application {event_type.app_id!r} not found")
            c.execute(Q["put_event_type"], event_type_params(event_type))

        await self._db.run(tx)
        return event_type
