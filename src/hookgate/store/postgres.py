"""The PostgreSQL store: scale-out backend over asyncpg; queries from ``sql/{common,postgres}/queries.sql``.

The methods that are one named query live in `hookgate.store.sql_store.SqlStore` (over the connector in
`hookgate.store._pg`); this module adds opening and migrating, the transactions of several statements, the
claim and the wake-ups.

Claims use ``FOR UPDATE SKIP LOCKED`` so any number of worker processes on any hosts share the queue without
blocking one another; publishing sends ``NOTIFY hookgate_work`` in the same transaction and idle workers
``LISTEN`` on a dedicated connection, so new work is picked up at once instead of at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

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
from hookgate.store._pg import DRIVER_ERRORS, PostgresConnector, checkout, pg_queries
from hookgate.store._pg_expunge import PostgresExpunge
from hookgate.store._pg_tasks import PostgresTaskBatches
from hookgate.store._rows import (
    completion_arrays,
    decision_counts,
    decision_params,
    delivery_from_row,
    endpoint_from_row,
    endpoint_params,
    event_type_params,
    first_per_lease,
    message_from_row,
    signing_key_from_row,
)
from hookgate.store.base import IDEMPOTENCY_WINDOW, AttemptResult, Claim, PublishResult, fan_out
from hookgate.store.sql import migrations
from hookgate.store.sql_store import SqlStore

__all__ = ["PostgresStore", "migrate_postgres"]

T = TypeVar("T")
CHANNEL = "hookgate_work"
Q = pg_queries("queries.sql")
# How long the LISTEN connection may take to (re)connect before a wait falls back to polling.
_LISTEN_CONNECT_TIMEOUT_S = 5.0


async def migrate_postgres(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations in order, each in a transaction, under an advisory lock (many processes)."""
    applied = []
    async with conn.transaction():
        # one migrator at a time: every `hookgate serve`/`worker` may run this on start
        await conn.execute("SELECT pg_advisory_xact_lock(7438201)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations("postgres"):
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, extract(epoch from now()))",
                migration.version,
            )
            applied.append(migration.version)
    return applied


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pool connection released without the reset query (one round trip saved on every store call).

    The store keeps no session state on pool connections: no SET, no LISTEN (the listener has its own
    connection), no cursors, only transaction-scoped advisory locks. asyncpg still rolls back a transaction
    left open on release.
    """

    def get_reset_query(self) -> str:
        return ""


class PostgresStore(PostgresTaskBatches, PostgresExpunge, SqlStore):
    """``await PostgresStore.open(dsn)``."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self._db: PostgresConnector = PostgresConnector(pool, Q)
        self._pool = pool
        self._dsn = dsn
        self._work = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        # set once a LISTEN connection existed or failed: a later (re)connect may have missed notifications
        self._listen_lost = False

    @classmethod
    async def open(
        cls, dsn: str, *, migrate: bool = True, min_size: int = 1, max_size: int = 10
    ) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, connection_class=_Connection
            )
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot open PostgreSQL store: {type(exc).__name__}: {exc}") from None
        if migrate:
            try:
                async with checkout(pool, "cannot migrate PostgreSQL store") as conn:
                    await migrate_postgres(conn)
            except BaseException:
                pool.terminate()
                raise
        return cls(pool, dsn)

    # every query goes through the connector's tx or one (the asyncpg boundary, see store._pg)
    async def _tx(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await self._db.tx(fn)

    async def _one(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await self._db.one(fn)

    async def _exec(self, c: asyncpg.Connection, name: str, params: dict[str, Any]) -> int:
        return await self._db.execute_on(c, name, params)

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await listener.close()
            except DRIVER_ERRORS:
                listener.terminate()
        try:
            await self._pool.close()
        except DRIVER_ERRORS:
            self._pool.terminate()  # a connection broken by an outage cannot close gracefully

    # -- applications and endpoints -----------------------------------------------------------------

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        async def tx(c: asyncpg.Connection) -> None:
            q = Q["get_application"]
            if await c.fetchrow(q.sql, *q.args({"id": endpoint.app_id})) is None:
                raise NotFoundError(f"application {endpoint.app_id!r} not found")
            await self._exec(c, "insert_endpoint", endpoint_params(endpoint, flag=bool))

        await self._tx(tx)
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
        async def tx(c: asyncpg.Connection) -> bool:
            params = {
                "id": endpoint_id,
                "enabled": enabled,
                "reason": None if enabled else reason,
                "now": now,
                "version": expected_version,
            }
            if await self._exec(c, "set_endpoint_enabled", params) == 0:
                q = Q["get_endpoint"]
                if await c.fetchrow(q.sql, *q.args({"id": endpoint_id})) is None:
                    raise NotFoundError(f"endpoint {endpoint_id!r} not found")
                return False  # changed since the caller's version
            if not enabled:
                await self._exec(c, "kill_pending_of_endpoint", {"id": endpoint_id, "now": now})
            return True

        return await self._tx(tx)

    async def delete_endpoint(self, endpoint_id: str, *, now: float) -> int:
        async def tx(c: asyncpg.Connection) -> int:
            params = {"id": endpoint_id, "now": now, "enabled": False, "blob": b""}
            if await self._exec(c, "delete_endpoint", params) == 0:
                raise NotFoundError(f"endpoint {endpoint_id!r} not found")
            return await self._exec(c, "kill_pending_of_endpoint", {"id": endpoint_id, "now": now})

        return await self._tx(tx)

    # -- messages -----------------------------------------------------------------------------------

    async def _publish_on(
        self, c: asyncpg.Connection, message: Message, now: float, endpoint_id: str | None = None
    ) -> PublishResult:
        q = Q["get_application"]
        if await c.fetchrow(q.sql, *q.args({"id": message.app_id})) is None:
            raise NotFoundError(f"application {message.app_id!r} not found")
        if message.idempotency_key is not None:
            # serialise publishers of the same key, so two concurrent duplicates cannot both insert
            await c.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                f"{message.app_id}:{message.idempotency_key}",
            )
            q = Q["find_idempotent"]
            params = {
                "app_id": message.app_id,
                "key": message.idempotency_key,
                "since": now - IDEMPOTENCY_WINDOW,
            }
            first = await c.fetchrow(q.sql, *q.args(params))
            if first is not None:
                q = Q["list_deliveries"]
                rows = await c.fetch(q.sql, *q.args({"message_id": first["id"]}))
                return PublishResult(message_from_row(first), tuple(delivery_from_row(r) for r in rows), True)
        await self._exec(
            c,
            "insert_message",
            {
                "id": message.id,
                "app_id": message.app_id,
                "event_type": message.event_type,
                "payload": message.payload,
                "created_at": message.created_at,
                "idempotency_key": message.idempotency_key,
            },
        )
        q = Q["fan_out_candidates"]
        targets = [endpoint_from_row(r) for r in await c.fetch(q.sql, *q.args({"app_id": message.app_id}))]
        deliveries = fan_out(message, targets, now, only=endpoint_id)
        if endpoint_id is not None and not deliveries:
            # raised inside the transaction: the message just inserted is rolled back with it
            raise ConflictError(f"endpoint {endpoint_id!r} is not an enabled endpoint of the application")
        rows = [
            {"id": d.id, "message_id": d.message_id, "endpoint_id": d.endpoint_id, "now": now}
            for d in deliveries
        ]
        if rows:
            q = Q["insert_delivery"]
            await c.executemany(q.sql, [q.args(r) for r in rows])
            await c.execute(Q["notify_work"].sql)
        return PublishResult(message, deliveries, duplicate=False)

    async def publish(self, message: Message, *, now: float, endpoint_id: str | None = None) -> PublishResult:
        return await self._tx(lambda c: self._publish_on(c, message, now, endpoint_id))

    async def publish_many(
        self, messages: Sequence[Message], *, now: float
    ) -> list[PublishResult | HookgateError]:
        """One transaction for the batch (one commit), a savepoint per message so one failure stays alone."""

        async def tx(c: asyncpg.Connection) -> list[PublishResult | HookgateError]:
            results: list[PublishResult | HookgateError] = []
            for message in messages:
                try:
                    async with c.transaction():  # nested: a savepoint
                        results.append(await self._publish_on(c, message, now))
                except HookgateError as exc:
                    results.append(exc)
            return results

        return await self._tx(tx)

    # -- the work queue -----------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, *, now: float, lease_s: float) -> list[Claim]:
        q = Q["claim"]
        args = q.args({"owner": owner, "lease_until": now + lease_s, "now": now, "limit": limit})
        # in a transaction although it is one statement: if decoding the rows fails (a composite type changed
        # under asyncpg's cache), the claim rolls back instead of leaving leases nobody works on
        rows = await self._tx(lambda c: c.fetch(q.sql, *args))
        # each message and endpoint row is sent once, on the first claimed row that refers to it
        messages = {r["message_id"]: message_from_row(r["message"]) for r in rows if r["message"] is not None}
        endpoints = {
            r["endpoint_id"]: endpoint_from_row(r["endpoint"]) for r in rows if r["endpoint"] is not None
        }
        return [
            Claim(delivery_from_row(r), messages[r["message_id"]], endpoints[r["endpoint_id"]]) for r in rows
        ]

    async def complete(self, results: Sequence[AttemptResult]) -> int:
        batch = first_per_lease(results)
        if not batch:
            return 0
        q = Q["complete"]
        args = q.args(completion_arrays(batch))
        applied: int = await self._one(lambda c: c.fetchval(q.sql, *args))
        return applied

    async def record_inbound_decisions(
        self, decisions: Sequence[InboundDecision], *, keep: int, counts_before: float
    ) -> None:
        if not decisions:
            return
        sources = {d.source for d in decisions}

        async def tx(c: asyncpg.Connection) -> None:
            for name, rows in (
                ("insert_inbound_decision", [decision_params(d) for d in decisions]),
                ("prune_inbound_decisions", [{"source": s, "keep": keep} for s in sources]),
                ("count_inbound_decisions", decision_counts(decisions)),
            ):
                q = Q[name]
                await c.executemany(q.sql, [q.args(r) for r in rows])
            await self._exec(c, "prune_inbound_decision_counts", {"before": int(counts_before // 60)})

        await self._tx(tx)

    async def release(self, owner: str, delivery_ids: Sequence[str], *, now: float) -> int:
        async def tx(c: asyncpg.Connection) -> int:
            released = await self._exec(c, "release", {"ids": list(delivery_ids), "owner": owner, "now": now})
            if released:
                await c.execute(Q["notify_work"].sql)
            return released

        return await self._tx(tx)

    async def wait_for_work(self, timeout: float) -> None:
        if self._listener is None or self._listener.is_closed():
            await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()

    def _notified(self, payload: object, schema: object) -> None:
        if payload in ("", schema):
            self._work.set()

    async def _listen(self) -> None:
        """(Re)open the LISTEN connection; on failure the wait falls back to polling (its timeout)."""
        if self._listener is not None:
            self._listener.terminate()  # closed by an outage: free what is left of it
            self._listener = None
            self._listen_lost = True
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=_LISTEN_CONNECT_TIMEOUT_S)
            # NOTIFY channels are per database: a deployment in another schema of the same database sends on
            # this channel too; only our schema's notifications (or a bare one, from older versions) wake us
            schema = await conn.fetchval("SELECT current_schema()")
            await conn.add_listener(CHANNEL, lambda _c, _p, _ch, payload: self._notified(payload, schema))
            # losing the connection ends the current wait, so the next one reconnects without delay
            conn.add_termination_listener(lambda _: self._work.set())
        except DRIVER_ERRORS:
            if conn is not None:
                conn.terminate()
            self._listen_lost = True
            return
        self._listener = conn
        if self._listen_lost:
            # notifications sent while nobody listened are gone: have the caller look for work now
            self._listen_lost = False
            self._work.set()

    async def resend(self, delivery_id: str, *, now: float) -> Delivery:
        async def tx(c: asyncpg.Connection) -> Any:
            q = Q["resend"]
            row = await c.fetchrow(q.sql, *q.args({"id": delivery_id, "now": now}))
            if row is not None:
                await c.execute(Q["notify_work"].sql)
            return row

        row = await self._tx(tx)
        if row is None:
            raise NotFoundError(f"delivery {delivery_id!r} not found")
        return delivery_from_row(row)

    async def recover(self, endpoint_id: str, *, since: float, now: float) -> int:
        async def tx(c: asyncpg.Connection) -> int:
            q = Q["get_endpoint"]
            if await c.fetchrow(q.sql, *q.args({"id": endpoint_id})) is None:
                raise NotFoundError(f"endpoint {endpoint_id!r} not found")
            count = await self._exec(c, "recover", {"endpoint_id": endpoint_id, "since": since, "now": now})
            if count:
                await c.execute(Q["notify_work"].sql)
            return count

        return await self._tx(tx)

    # -- signing key ring and sealed records -----------------------------------------------------------

    async def set_signing_key_status(self, kid: str, status: SigningKeyStatus, *, now: float) -> SigningKey:
        status = SigningKeyStatus(status)

        async def tx(c: asyncpg.Connection) -> Any:
            # serialise with other status changes: two concurrent activations would otherwise each demote
            # from their own snapshot and the second would hit the one-active unique index
            await c.execute(Q["lock_signing_keys"].sql)
            if status is SigningKeyStatus.ACTIVE:
                await self._exec(c, "demote_active_signing_key", {"kid": kid})
            q = Q["set_signing_key_status"]
            row = await c.fetchrow(q.sql, *q.args({"kid": kid, "status": status.value, "now": now}))
            if row is None:
                raise NotFoundError(f"signing key {kid!r} not found")  # rolls the demotion back
            return row

        return signing_key_from_row(await self._tx(tx))

    async def reseal(self, fn: Callable[[str, str, bytes], bytes]) -> int:
        async def tx(c: asyncpg.Connection) -> int:
            await c.execute(Q["lock_signing_keys"].sql)
            endpoints = []
            for row in await c.fetch(Q["sealed_endpoints"].sql):
                old = bytes(row["secrets_sealed"])
                blob = fn("endpoint", row["id"], old)
                if blob != old:
                    endpoints.append(Q["set_endpoint_secrets_sealed"].args({"id": row["id"], "blob": blob}))
            keys = []
            for row in await c.fetch(Q["sealed_signing_keys"].sql):
                old = bytes(row["private_sealed"])
                blob = fn("signing_key", row["kid"], old)
                if blob != old:
                    keys.append(Q["set_signing_key_private_sealed"].args({"kid": row["kid"], "blob": blob}))
            sources = []
            for row in await c.fetch(Q["sealed_sources"].sql):
                old = bytes(row["config_sealed"])
                blob = fn("source", row["id"], old)
                if blob != old:
                    sources.append(Q["set_source_config_sealed"].args({"id": row["id"], "blob": blob}))
            if endpoints:
                await c.executemany(Q["set_endpoint_secrets_sealed"].sql, endpoints)
            if keys:
                await c.executemany(Q["set_signing_key_private_sealed"].sql, keys)
            if sources:
                await c.executemany(Q["set_source_config_sealed"].sql, sources)
            return len(endpoints) + len(keys) + len(sources)

        return await self._tx(tx)

    # -- management API ---------------------------------------------------------------------------------

    async def put_event_type(self, event_type: EventType) -> EventType:
        async def tx(c: asyncpg.Connection) -> None:
            q = Q["get_application"]
            if await c.fetchrow(q.sql, *q.args({"id": event_type.app_id})) is None:
                raise NotFoundError(f"application {event_type.app_id!r} not found")
            await self._exec(c, "put_event_type", event_type_params(event_type, flag=bool))

        await self._tx(tx)
        return event_type
