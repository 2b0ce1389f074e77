"""The store interface every backend implements (memory, SQLite, PostgreSQL), and the records it exchanges.

Semantics every implementation must keep (the contract suite in ``tests/store`` checks them on all three):

- ``publish`` writes the message and one delivery per subscribed, enabled endpoint atomically; the same
  idempotency key for the same application within `IDEMPOTENCY_WINDOW` returns the first message.
- ``claim`` leases due deliveries to one owner: a delivery is due when it is pending/failed and its
  ``next_attempt_at`` has passed, or in flight with an expired lease (its worker died). Two owners never hold
  the same delivery at once; a crash never loses one (at-least-once).
- ``complete`` applies results only for deliveries still leased by the reporting owner, so a worker whose
  lease expired cannot overwrite the newer owner's outcome.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from hookgate.errors import HookgateError
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
    SigningKeyStatus,
    new_id,
)
from hookgate.store.expunge_base import ExpungeStore
from hookgate.store.task_base import TaskStore

__all__ = [
    "IDEMPOTENCY_WINDOW",
    "LATENCY_BOUNDS_MS",
    "AttemptBucket",
    "AttemptResult",
    "Claim",
    "Page",
    "PublishResult",
    "Store",
    "fan_out",
]

IDEMPOTENCY_WINDOW = 24 * 3600.0

T = TypeVar("T")


def fan_out(
    message: Message, endpoints: Iterable[Endpoint], now: float, *, only: str | None = None
) -> tuple[Delivery, ...]:
    """The fan-out rule, shared by every store: one pending delivery per enabled endpoint of the message's
    application that subscribes to its event type, due now. A targeted publish (``only``: an endpoint id, a
    test event) gives at most one delivery, to that endpoint if it is enabled, whatever it subscribes to."""
    return tuple(
        Delivery(
            id=new_id("dlv"),
            message_id=message.id,
            endpoint_id=e.id,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for e in endpoints
        if e.app_id == message.app_id
        and e.enabled
        and (e.id == only if only is not None else e.subscribes(message.event_type))
    )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of a listing, newest first; ``next_cursor`` (opaque) fetches the next page, None at the end."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A leased delivery with what is needed to send it."""

    delivery: Delivery
    message: Message
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class PublishResult:
    message: Message
    deliveries: tuple[Delivery, ...]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What a worker reports for one claimed delivery.

    ``attempted`` is False when no request was made (circuit open, rate limited, endpoint disabled): the
    delivery is rescheduled without an attempt row and without counting against its retries.
    """

    delivery_id: str
    owner: str
    status: DeliveryStatus
    next_attempt_at: float
    attempted: bool
    started_at: float
    duration_ms: float
    status_code: int | None
    response_excerpt: str
    error_class: str | None
    outcome: str
    # the request's headers, signatures and credentials already redacted (None: no request was sent)
    request_headers: Mapping[str, str] | None = None


# The latency buckets of attempt statistics (upper bounds, ms): the store groups attempts by them, /metrics'
# histogram uses them in seconds. The stores' ``attempt_buckets`` SQL spells them out: change both together.
LATENCY_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


@dataclass(frozen=True, slots=True)
class AttemptBucket:
    """How many attempts started in period number ``period`` (start time // step) took a duration within
    latency bucket ``bucket`` (index into `LATENCY_BOUNDS_MS`, its length for longer), and how many of
    them got a 2xx answer."""

    period: int
    bucket: int
    attempts: int
    delivered: int


class Store(TaskStore, ExpungeStore, abc.ABC):
    """Durable state of the delivery engine. All methods are coroutines; ``now`` is passed in, never read."""

    # -- applications and endpoints -----------------------------------------------------------------

    @abc.abstractmethod
    async def create_application(self, app: Application) -> Application: ...

    @abc.abstractmethod
    async def get_application(self, app_id: str) -> Application:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def rename_application(self, app_id: str, name: str) -> Application:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Raises `NotFoundError` when the application does not exist."""

    @abc.abstractmethod
    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_endpoints(self, app_id: str) -> list[Endpoint]: ...

    @abc.abstractmethod
    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Write the endpoint's configuration (url, event types, headers, timeout, limits, retry schedule,
        allow_insecure, settings, sealed secrets, updated_at) if its stored version is still
        ``endpoint.version``, and move the version on; return the endpoint as stored.

        Field-scoped: enablement, ``failing_since``, application, scheme and creation time are never written
        here (the worker changes some of them concurrently). Raises `ConflictError` when another write came
        first (read again and reapply), `NotFoundError` when there is no such endpoint.
        """

    @abc.abstractmethod
    async def set_endpoint_enabled(
        self,
        endpoint_id: str,
        enabled: bool,
        *,
        reason: str | None,
        now: float,
        expected_version: int | None = None,
    ) -> bool:
        """Enable or disable, moving the version on; disabling also turns the endpoint's pending deliveries
        dead. With ``expected_version`` (a worker's verdict on the endpoint version it delivered to) nothing
        happens, and False is returned, once the endpoint has changed since. Raises `NotFoundError`."""

    @abc.abstractmethod
    async def delete_endpoint(self, endpoint_id: str, *, now: float) -> int:
        """Delete an endpoint, keeping a tombstone: in one transaction it is disabled, marked deleted, its
        sealed secrets dropped, and its pending and failed deliveries turned dead; return how many were.

        Its messages, deliveries and attempts stay (history). `get_endpoint` still reads it (``deleted_at``
        set); `list_endpoints`, `update_endpoint` and `set_endpoint_enabled` skip it. Raises `NotFoundError`
        for an unknown or already deleted endpoint."""

    @abc.abstractmethod
    async def mark_endpoint_health(self, endpoint_id: str, ok: bool, now: float) -> float | None:
        """Record a success (clears ``failing_since``) or a failure (sets it if unset); return it."""

    # -- messages -----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def publish(self, message: Message, *, now: float, endpoint_id: str | None = None) -> PublishResult:
        """Store ``message`` and fan it out, atomically; idempotent on (app, idempotency key) for 24 h.

        With ``endpoint_id`` (a test event) the one delivery goes to that endpoint only (`fan_out`'s
        ``only``); `ConflictError`, and nothing stored, when it is not an enabled endpoint of the
        message's application."""

    async def publish_many(
        self, messages: Sequence[Message], *, now: float
    ) -> list[PublishResult | HookgateError]:
        """Publish several messages; each succeeds or fails on its own (an error in its slot).

        Backends override this to commit the whole batch in one transaction (group commit); this default
        publishes one by one.
        """
        results: list[PublishResult | HookgateError] = []
        for message in messages:
            try:
                results.append(await self.publish(message, now=now))
            except HookgateError as exc:
                results.append(exc)
        return results

    @abc.abstractmethod
    async def get_message(self, message_id: str) -> Message:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_deliveries(self, message_id: str) -> list[Delivery]: ...

    @abc.abstractmethod
    async def get_delivery(self, delivery_id: str) -> Delivery:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """Oldest first."""

    # -- the work queue -----------------------------------------------------------------------------

    @abc.abstractmethod
    async def claim(self, owner: str, limit: int, *, now: float, lease_s: float) -> list[Claim]: ...

    @abc.abstractmethod
    async def complete(self, results: Sequence[AttemptResult]) -> int:
        """Apply results in one transaction; return how many were applied (lease still held)."""

    @abc.abstractmethod
    async def release(self, owner: str, delivery_ids: Sequence[str], *, now: float) -> int:
        """Give leased deliveries back, due now, without counting an attempt (graceful shutdown)."""

    @abc.abstractmethod
    async def next_due_at(self) -> float | None:
        """The earliest time something becomes claimable (including lease expiries), or None."""

    @abc.abstractmethod
    async def wait_for_work(self, timeout: float) -> None:
        """Return early when work is published (in-process event or LISTEN/NOTIFY), else after timeout."""

    @abc.abstractmethod
    async def resend(self, delivery_id: str, *, now: float) -> Delivery:
        """Make a delivery due now with a fresh retry schedule (its attempt history is kept)."""

    @abc.abstractmethod
    async def recover(self, endpoint_id: str, *, since: float, now: float) -> int:
        """Make every failed/dead delivery of an endpoint created since ``since`` due now; count them."""

    # bulk recovery tasks: see `hookgate.store.task_base.TaskStore`
    # expunging payloads: see `hookgate.store.expunge_base.ExpungeStore`

    # -- signing key ring and sealed records -----------------------------------------------------------

    @abc.abstractmethod
    async def add_signing_key(self, key: SigningKey) -> SigningKey:
        """Store a new key of hookgate's JWS key ring (normally ``pending``)."""

    @abc.abstractmethod
    async def list_signing_keys(self) -> list[SigningKey]:
        """Every key, oldest first."""

    @abc.abstractmethod
    async def set_signing_key_status(self, kid: str, status: SigningKeyStatus, *, now: float) -> SigningKey:
        """Change a key's status and return it. Raises `NotFoundError`.

        Activating a key demotes the currently active one to ``previous`` in the same transaction (exactly
        one active key at any time); ``activated_at``/``retired_at`` are set to ``now`` on entering those
        states.
        """

    @abc.abstractmethod
    async def reseal(self, fn: Callable[[str, str, bytes], bytes]) -> int:
        """Master key rotation: replace every sealed blob with ``fn(kind, record_id, blob)`` in one
        transaction, where kind is ``"endpoint"`` (``Endpoint.secrets_sealed``, skipped when empty),
        ``"signing_key"`` (``SigningKey.private_sealed``) or ``"source"``
        (``InboundSourceRecord.config_sealed``). Returns how many blobs changed."""

    # -- management API ---------------------------------------------------------------------------------
    # Listings are newest first with opaque cursors (stable under concurrent inserts: the cursor names the
    # last item's (created_at, id), the next page continues strictly after it). ``limit`` is 1-1000.

    @abc.abstractmethod
    async def list_applications(self, *, cursor: str | None = None, limit: int = 50) -> Page[Application]: ...

    @abc.abstractmethod
    async def add_api_token(self, token: ApiToken) -> ApiToken: ...

    @abc.abstractmethod
    async def find_api_token(self, token_hash: bytes) -> ApiToken:
        """The token with this hash, revoked or not. Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_api_tokens(self) -> list[ApiToken]:
        """Oldest first."""

    @abc.abstractmethod
    async def revoke_api_token(self, token_id: str, *, now: float) -> ApiToken:
        """Set ``revoked_at`` (once; revoking again keeps the first time). Raises `NotFoundError`."""

    @abc.abstractmethod
    async def put_event_type(self, event_type: EventType) -> EventType:
        """Create or replace (by app and name). Raises `NotFoundError` when the application does not exist."""

    @abc.abstractmethod
    async def list_event_types(self, app_id: str) -> list[EventType]:
        """By name."""

    @abc.abstractmethod
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
        """An application's messages, newest first, filtered by exact event type and created_at in
        [since, until), with ``status`` only those having at least one delivery in that status, and with
        ``idempotency_key`` only those published with that key.
        Raises `InvalidQueryError` for a cursor this store did not issue."""

    @abc.abstractmethod
    async def list_endpoint_attempts(
        self, endpoint_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        """Every attempt at the endpoint's deliveries, newest first (by attempt id)."""

    @abc.abstractmethod
    async def list_message_attempts(
        self, message_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        """Every attempt at the message's deliveries (all endpoints), newest first (by attempt id), with the
        same cursors as `list_endpoint_attempts`. An unknown message gives an empty page; raises
        `InvalidQueryError` for a cursor this store did not issue."""

    @abc.abstractmethod
    async def list_endpoint_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Delivery]:
        """The endpoint's deliveries, newest first, optionally with one status."""

    @abc.abstractmethod
    async def put_source(self, source: InboundSourceRecord) -> InboundSourceRecord:
        """Create or replace by id; names are unique (`DuplicateError` for another source's name)."""

    @abc.abstractmethod
    async def get_source(self, source_id: str) -> InboundSourceRecord:
        """Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_sources(self) -> list[InboundSourceRecord]:
        """By name."""

    @abc.abstractmethod
    async def delete_source(self, source_id: str) -> None:
        """Raises `NotFoundError`."""

    # -- web console sessions ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_console_session(self, session: ConsoleSession) -> ConsoleSession:
        """Store a new session (`DuplicateError` for a taken id or hash)."""

    @abc.abstractmethod
    async def open_console_session(
        self, link_hash: bytes, session_hash: bytes, *, now: float
    ) -> ConsoleSession:
        """Spend a single-use link: atomically set ``opened_at`` and ``session_hash`` of the session whose
        unopened, unrevoked, unexpired link has this hash. Raises `NotFoundError` when there is none (unknown,
        already opened, revoked or expired: which one is not said)."""

    @abc.abstractmethod
    async def find_console_session(self, session_hash: bytes) -> ConsoleSession:
        """The session with this cookie hash, whatever its state. Raises `NotFoundError`."""

    @abc.abstractmethod
    async def list_console_sessions(self, scope: str) -> list[ConsoleSession]:
        """The sessions of one scope ("admin" or an application id), newest first."""

    @abc.abstractmethod
    async def revoke_console_session(self, session_id: str, *, now: float) -> ConsoleSession:
        """Set ``revoked_at`` (once). Raises `NotFoundError`."""

    @abc.abstractmethod
    async def count_due(self, *, now: float) -> int:
        """Deliveries waiting to be sent (pending/failed and due, or lease expired): the queue depth."""

    # -- inbound decisions (the console's sources page) ---------------------------------------------

    @abc.abstractmethod
    async def record_inbound_decisions(
        self, decisions: Sequence[InboundDecision], *, keep: int, counts_before: float
    ) -> None:
        """Store a batch of decisions, keeping the newest ``keep`` per source, and add them to the
        per-minute counts by outcome and reason (dropping counts of minutes before ``counts_before``), in
        one transaction."""

    @abc.abstractmethod
    async def list_inbound_decisions(
        self, source: str, *, reason: str | None, limit: int
    ) -> list[InboundDecision]:
        """A source's most recent decisions, newest first, optionally only those with ``reason``."""

    @abc.abstractmethod
    async def inbound_decision_counts(self, source: str, *, since: float) -> list[tuple[str, str, int]]:
        """(outcome, reason, count) of a source's decisions in the minutes from ``since`` on, most first."""

    @abc.abstractmethod
    async def attempt_buckets(self, *, since: float, until: float, step: int) -> list[AttemptBucket]:
        """Attempts that started in [since, until), counted per period of ``step`` seconds and latency
        bucket (the overview's charts: served from an index, never a table scan)."""

    async def close(self) -> None:
        """Release connections."""
