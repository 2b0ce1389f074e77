"""The store logic the SQL backends share, written once over a small connector per database.

`SqlStore` implements every `Store` method that is one named query and a conversion of its rows: the
records' reads and listings, the single-statement writes. It reaches its database only through a `Connector`
(``fetchrow``/``fetch``/``execute`` of a named query, and how that database spells a boolean), so the SQLite
and PostgreSQL adapters (`hookgate.store.sqlite`, `hookgate.store.postgres`) keep only what really differs:
opening and migrating, the transactions of several statements (SQLite's one writer thread against asyncpg's
pool), the claim (``SKIP LOCKED`` against the write lock) and the wake-ups (``NOTIFY`` against polling
``PRAGMA data_version``). Each connector is its adapter's one boundary where driver errors become
`StoreError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from hookgate.errors import ConflictError, NotFoundError
from hookgate.models import (
    ApiToken,
    Application,
    Attempt,
    ConsoleSession,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    InboundDecision,
    InboundSourceRecord,
    Message,
    SigningKey,
    Task,
)
from hookgate.store._rows import (
    api_token_from_row,
    api_token_params,
    application_from_row,
    attempt_from_row,
    check_limit,
    console_session_from_row,
    console_session_params,
    decision_from_row,
    decode_attempt_id,
    decode_position,
    delivery_from_row,
    endpoint_from_row,
    endpoint_params,
    event_type_from_row,
    message_from_row,
    page_of,
    signing_key_from_row,
    signing_key_params,
    source_from_row,
    source_params,
)
from hookgate.store._tasks import select_params, task_from_row, task_params
from hookgate.store.base import AttemptBucket, Page, Store

__all__ = ["Connector", "SqlStore"]


class Connector(Protocol):
    """One database as `SqlStore` sees it: named queries with ``:named`` parameters, each run on its own
    (atomic as one statement); driver errors come out as `StoreError`."""

    # how the database stores a boolean parameter (0/1 for SQLite, a real boolean for PostgreSQL)
    flag: Callable[[bool], Any]

    def lists(self, values: Sequence[str]) -> Any:
        """How the database takes a list of strings as one parameter (JSON for SQLite, a text[] for
        PostgreSQL)."""

    async def fetchrow(self, name: str, params: dict[str, Any]) -> Any:
        """The first row of the query's result, or None."""

    async def fetch(self, name: str, params: dict[str, Any]) -> list[Any]:
        """Every row of the query's result."""

    async def execute(self, name: str, params: dict[str, Any]) -> int:
        """Run the query; return how many rows it changed."""


class SqlStore(Store):
    """The single-query `Store` methods over ``self._db``; subclasses add the rest."""

    _db: Connector

    # -- applications and endpoints -----------------------------------------------------------------

    async def create_application(self, app: Application) -> Application:
        await self._db.execute(
            "insert_application", {"id": app.id, "name": app.name, "created_at": app.created_at}
        )
        return app

    async def get_application(self, app_id: str) -> Application:
        row = await self._db.fetchrow("get_application", {"id": app_id})
        if row is None:
            raise NotFoundError(f"application {app_id!r} not found")
        return application_from_row(row)

    async def rename_application(self, app_id: str, name: str) -> Application:
        row = await self._db.fetchrow("rename_application", {"id": app_id, "name": name})
        if row is None:
            raise NotFoundError(f"application {app_id!r} not found")
        return application_from_row(row)

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        row = await self._db.fetchrow("get_endpoint", {"id": endpoint_id})
        if row is None:
            raise NotFoundError(f"endpoint {endpoint_id!r} not found")
        return endpoint_from_row(row)

    async def list_endpoints(self, app_id: str) -> list[Endpoint]:
        return [endpoint_from_row(r) for r in await self._db.fetch("list_endpoints", {"app_id": app_id})]

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        row = await self._db.fetchrow("update_endpoint", endpoint_params(endpoint, flag=self._db.flag))
        if row is not None:
            return endpoint_from_row(row)
        # a second read, outside the update: it only chooses the error to raise
        if await self._db.fetchrow("get_endpoint", {"id": endpoint.id}) is None:
            raise NotFoundError(f"endpoint {endpoint.id!r} not found")
        raise ConflictError(f"endpoint {endpoint.id!r} changed since it was read")

    async def mark_endpoint_health(self, endpoint_id: str, ok: bool, now: float) -> float | None:
        query = "endpoint_healthy" if ok else "endpoint_failing"
        row = await self._db.fetchrow(query, {"id": endpoint_id, "now": now})
        if row is None:
            raise NotFoundError(f"endpoint {endpoint_id!r} not found")
        value: float | None = row[0]
        return value

    # -- messages, deliveries, attempts -----------------------------------------------------------------

    async def get_message(self, message_id: str) -> Message:
        row = await self._db.fetchrow("get_message", {"id": message_id})
        if row is None:
            raise NotFoundError(f"message {message_id!r} not found")
        return message_from_row(row)

    async def list_deliveries(self, message_id: str) -> list[Delivery]:
        rows = await self._db.fetch("list_deliveries", {"message_id": message_id})
        return [delivery_from_row(r) for r in rows]

    async def get_delivery(self, delivery_id: str) -> Delivery:
        row = await self._db.fetchrow("get_delivery", {"id": delivery_id})
        if row is None:
            raise NotFoundError(f"delivery {delivery_id!r} not found")
        return delivery_from_row(row)

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        rows = await self._db.fetch("list_attempts", {"delivery_id": delivery_id})
        return [attempt_from_row(r) for r in rows]

    async def next_due_at(self) -> float | None:
        row = await self._db.fetchrow("next_due_at", {})
        value: float | None = row[0]
        return value

    async def count_due(self, *, now: float) -> int:
        row = await self._db.fetchrow("count_due", {"now": now})
        return int(row[0])

    async def list_inbound_decisions(
        self, source: str, *, reason: str | None, limit: int
    ) -> list[InboundDecision]:
        params = {"source": source, "reason": reason, "limit": limit}
        return [decision_from_row(r) for r in await self._db.fetch("list_inbound_decisions", params)]

    async def inbound_decision_counts(self, source: str, *, since: float) -> list[tuple[str, str, int]]:
        rows = await self._db.fetch("inbound_decision_counts", {"source": source, "since": int(since // 60)})
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def attempt_buckets(self, *, since: float, until: float, step: int) -> list[AttemptBucket]:
        rows = await self._db.fetch("attempt_buckets", {"since": since, "until": until, "step": step})
        return [AttemptBucket(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    # -- signing key ring -------------------------------------------------------------------------------

    async def add_signing_key(self, key: SigningKey) -> SigningKey:
        await self._db.execute("insert_signing_key", signing_key_params(key))
        return key

    async def list_signing_keys(self) -> list[SigningKey]:
        return [signing_key_from_row(r) for r in await self._db.fetch("list_signing_keys", {})]

    # -- management API ---------------------------------------------------------------------------------

    async def list_applications(self, *, cursor: str | None = None, limit: int = 50) -> Page[Application]:
        c_at, c_id = decode_position("app", cursor)
        params = {"c_at": c_at, "c_id": c_id, "limit": check_limit(limit) + 1}
        items = [application_from_row(r) for r in await self._db.fetch("list_applications", params)]
        return page_of("app", items, limit, lambda a: (a.created_at, a.id))

    async def add_api_token(self, token: ApiToken) -> ApiToken:
        await self._db.execute("insert_api_token", api_token_params(token))
        return token

    async def find_api_token(self, token_hash: bytes) -> ApiToken:
        row = await self._db.fetchrow("find_api_token", {"token_hash": bytes(token_hash)})
        if row is None:
            raise NotFoundError("API token not found")
        return api_token_from_row(row)

    async def list_api_tokens(self) -> list[ApiToken]:
        return [api_token_from_row(r) for r in await self._db.fetch("list_api_tokens", {})]

    async def revoke_api_token(self, token_id: str, *, now: float) -> ApiToken:
        row = await self._db.fetchrow("revoke_api_token", {"id": token_id, "now": now})
        if row is None:
            raise NotFoundError(f"API token {token_id!r} not found")
        return api_token_from_row(row)

    async def list_event_types(self, app_id: str) -> list[EventType]:
        return [event_type_from_row(r) for r in await self._db.fetch("list_event_types", {"app_id": app_id})]

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
        idempotency_key: str | None = None,
    ) -> Page[Message]:
        c_at, c_id = decode_position("msg", cursor)
        params: dict[str, Any] = {
            "app_id": app_id,
            "status": None if status is None else DeliveryStatus(status).value,
            "event_type": event_type,
            "since": -math.inf if since is None else float(since),
            "until": math.inf if until is None else float(until),
            "c_at": c_at,
            "c_id": c_id,
            "limit": check_limit(limit) + 1,
        }
        if idempotency_key is not None:
            query = "list_messages_by_key"
            params["idempotency_key"] = idempotency_key
        else:
            query = "list_messages" if event_type is None else "list_messages_of_type"
        rows = await self._db.fetch(query, params)
        return page_of("msg", [message_from_row(r) for r in rows], limit, lambda m: (m.created_at, m.id))

    async def list_endpoint_attempts(
        self, endpoint_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        return await self._attempt_page("list_endpoint_attempts", {"endpoint_id": endpoint_id}, cursor, limit)

    async def list_message_attempts(
        self, message_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        return await self._attempt_page("list_message_attempts", {"message_id": message_id}, cursor, limit)

    async def _attempt_page(
        self, query: str, params: dict[str, Any], cursor: str | None, limit: int
    ) -> Page[Attempt]:
        params = {**params, "before": decode_attempt_id(cursor), "limit": check_limit(limit) + 1}
        items = [attempt_from_row(r) for r in await self._db.fetch(query, params)]
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
        params: dict[str, Any] = {
            "endpoint_id": endpoint_id,
            "c_at": c_at,
            "c_id": c_id,
            "limit": check_limit(limit) + 1,
        }
        params["status"] = None if status is None else DeliveryStatus(status).value
        # failed and dead ones have an index of their own (a partial one the happy path never writes)
        failed = params["status"] in (DeliveryStatus.FAILED.value, DeliveryStatus.DEAD.value)
        query = "list_endpoint_failed_deliveries" if failed else "list_endpoint_deliveries"
        items = [delivery_from_row(r) for r in await self._db.fetch(query, params)]
        return page_of("dlv", items, limit, lambda d: (d.created_at, d.id))

    async def put_source(self, source: InboundSourceRecord) -> InboundSourceRecord:
        return source_from_row(await self._db.fetchrow("put_source", source_params(source)))

    async def get_source(self, source_id: str) -> InboundSourceRecord:
        row = await self._db.fetchrow("get_source", {"id": source_id})
        if row is None:
            raise NotFoundError(f"inbound source {source_id!r} not found")
        return source_from_row(row)

    async def list_sources(self) -> list[InboundSourceRecord]:
        return [source_from_row(r) for r in await self._db.fetch("list_sources", {})]

    async def delete_source(self, source_id: str) -> None:
        if await self._db.execute("delete_source", {"id": source_id}) == 0:
            raise NotFoundError(f"inbound source {source_id!r} not found")

    # -- web console sessions ------------------------------------------------------------------------------

    async def add_console_session(self, session: ConsoleSession) -> ConsoleSession:
        await self._db.execute("insert_console_session", console_session_params(session))
        return session

    async def open_console_session(
        self, link_hash: bytes, session_hash: bytes, *, now: float
    ) -> ConsoleSession:
        params = {"link_hash": bytes(link_hash), "session_hash": bytes(session_hash), "now": now}
        row = await self._db.fetchrow("open_console_session", params)
        if row is None:
            raise NotFoundError("no such console link")
        return console_session_from_row(row)

    async def find_console_session(self, session_hash: bytes) -> ConsoleSession:
        row = await self._db.fetchrow("find_console_session", {"session_hash": bytes(session_hash)})
        if row is None:
            raise NotFoundError("no such console session")
        return console_session_from_row(row)

    async def list_console_sessions(self, scope: str) -> list[ConsoleSession]:
        rows = await self._db.fetch("list_console_sessions", {"scope": scope})
        return [console_session_from_row(r) for r in rows]

    async def revoke_console_session(self, session_id: str, *, now: float) -> ConsoleSession:
        row = await self._db.fetchrow("revoke_console_session", {"id": session_id, "now": now})
        if row is None:
            raise NotFoundError(f"console session {session_id!r} not found")
        return console_session_from_row(row)

    # -- bulk recovery tasks (the batches, several statements, are the adapters') ------------------------

    async def create_task(self, task: Task) -> Task:
        await self._db.execute("insert_task", task_params(task))
        return task

    async def get_task(self, task_id: str) -> Task:
        row = await self._db.fetchrow("get_task", {"id": task_id})
        if row is None:
            raise NotFoundError(f"task {task_id!r} not found")
        return task_from_row(row)

    async def list_tasks(self, app_id: str, *, limit: int = 50) -> list[Task]:
        rows = await self._db.fetch("list_tasks", {"app_id": app_id, "limit": check_limit(limit)})
        return [task_from_row(r) for r in rows]

    async def cancel_task(self, task_id: str, *, now: float) -> Task:
        row = await self._db.fetchrow("cancel_task", {"id": task_id, "now": now})
        return task_from_row(row) if row is not None else await self.get_task(task_id)

    async def claim_task(self, owner: str, *, now: float, lease_s: float) -> Task | None:
        params = {"owner": owner, "now": now, "lease_until": now + lease_s}
        row = await self._db.fetchrow("claim_task", params)
        return None if row is None else task_from_row(row)

    async def fail_task(self, task_id: str, owner: str, error: str, *, now: float) -> bool:
        params = {"id": task_id, "owner": owner, "error": error, "now": now}
        return await self._db.execute("fail_task", params) > 0

    async def count_task_matches(self, task: Task) -> int:
        params = select_params(task, limit=0, lists=self._db.lists)
        if task.kind == "resend":
            return int((await self._db.fetchrow("task_resend_count", params))[0])
        if task.kind == "cancel_pending":
            return int((await self._db.fetchrow("task_cancel_count", params))[0])
        endpoint = await self.get_endpoint(task.endpoint_id or "")
        rows = await self._db.fetch("task_missing_count", params)
        return sum(int(r[1]) for r in rows if endpoint.subscribes(r[0]))
