"""Messages: publish (with the payload rules, or a test event to one endpoint), read messages, deliveries
and attempts, resend, recover."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from hookgate.config.rules import RESERVED_NAMESPACE, check_flag, validate_event_type, validate_text
from hookgate.errors import ConfigError, ConflictError, HookgateError, NotFoundError
from hookgate.models import (
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Message,
    new_id,
)
from hookgate.outbound.opevents import OPS_APP_ID
from hookgate.services._base import ServiceBase
from hookgate.store.base import Page, PublishResult
from hookgate.tracing import span

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "TEST_EVENT_TYPE",
    "BulkResend",
    "MessageServices",
    "encode_payload",
    "test_event_payload",
]

MAX_PAYLOAD_BYTES = 1024 * 1024
_MAX_IDEMPOTENCY_KEY = 256
# the statuses a bulk resend takes (a pending or delivered delivery needs none), and its listing page size
_RESENDABLE = frozenset({DeliveryStatus.DEAD, DeliveryStatus.FAILED})
_RESEND_PAGE = 1000
# what `send_test_event` sends unless told otherwise (documented in the README)
TEST_EVENT_TYPE = "webhook.test"


def test_event_payload(endpoint_id: str, now: float) -> dict[str, object]:
    """The default body of a test event: recognisable, harmless, and naming the endpoint it was sent to."""
    return {
        "type": TEST_EVENT_TYPE,
        "timestamp": int(now),
        "data": {"endpoint_id": endpoint_id, "message": "A test event sent from hookgate. No action needed."},
    }


@dataclass(frozen=True, slots=True)
class BulkResend:
    """What `Hookgate.resend_endpoint` resent (with ``dry_run``: would resend), and whether ``limit`` left
    more deliveries in that status."""

    ids: tuple[str, ...]
    more: bool
    dry_run: bool

    @property
    def resent(self) -> int:
        return len(self.ids)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def encode_payload(payload: object) -> bytes:
    """Bytes must already be JSON; anything else is serialised compactly. Raises `ConfigError`."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
        # strict: json.loads(bytes) would also accept UTF-16/32, a BOM, lone surrogates and NaN, none of
        # which a receiver parsing application/json (RFC 8259: UTF-8, no BOM) has to accept
        try:
            json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError):
            raise ConfigError("payload bytes are not valid UTF-8 JSON") from None
    elif isinstance(payload, str):
        raise ConfigError("payload must be bytes of JSON or a JSON-serialisable object, not str")
    else:
        try:
            data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"payload is not JSON-serialisable: {exc}") from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ConfigError(f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return data


class MessageServices(ServiceBase):
    """The message and delivery operations of `hookgate.client.Hookgate`."""

    async def get_message(self, message_id: str) -> Message:
        return await self.store.get_message(message_id)

    async def list_messages(
        self,
        app_id: str,
        *,
        event_type: str | None = None,
        since: float | None = None,
        until: float | None = None,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
        idempotency_key: str | None = None,
    ) -> Page[Message]:
        """An application's messages, newest first: by exact event type, created in [since, until), with
        ``status`` only those with a delivery in that status, with ``idempotency_key`` only those published
        with that key. `InvalidQueryError` for a bad cursor."""
        return await self.store.list_messages(
            app_id,
            event_type=event_type,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
            status=status,
            idempotency_key=idempotency_key,
        )

    async def get_delivery(self, delivery_id: str) -> Delivery:
        return await self.store.get_delivery(delivery_id)

    async def list_deliveries(self, message_id: str) -> list[Delivery]:
        """A message's deliveries, one per endpoint it was fanned out to."""
        return await self.store.list_deliveries(message_id)

    async def list_endpoint_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Delivery]:
        return await self.store.list_endpoint_deliveries(
            endpoint_id, status=status, cursor=cursor, limit=limit
        )

    async def list_endpoint_attempts(
        self, endpoint_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        """Every attempt at the endpoint's deliveries, newest first."""
        return await self.store.list_endpoint_attempts(endpoint_id, cursor=cursor, limit=limit)

    async def list_message_attempts(
        self, message_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        """Every attempt at the message's deliveries (all endpoints), newest first."""
        return await self.store.list_message_attempts(message_id, cursor=cursor, limit=limit)

    async def due_count(self) -> int:
        """How many deliveries are due now (the queue depth; a store failure raises `StoreError`)."""
        return await self.store.count_due(now=self._clock())

    async def publish(
        self,
        app: str | Application,
        event_type: str,
        payload: object,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        """Store the event and one delivery per subscribed endpoint, atomically, and wake the workers.

        The same ``idempotency_key`` for the same application within 24 hours returns the first message
        (``result.duplicate`` is True) instead of publishing twice. The operator application's messages
        are hookgate's own operational events: `ConfigError` for a publish to it.
        """
        message = self.new_message(app, event_type, payload, idempotency_key=idempotency_key)
        if message.app_id == OPS_APP_ID:
            raise ConfigError(f"application {OPS_APP_ID!r} receives only hookgate's operational events")
        with span(
            "hookgate.publish", **{"hookgate.app_id": message.app_id, "hookgate.event_type": event_type}
        ):
            return await self.store.publish(message, now=message.created_at)

    async def send_test_event(
        self, endpoint_id: str, event_type: str = TEST_EVENT_TYPE, payload: object = None
    ) -> PublishResult:
        """Publish a message delivered to this one endpoint only, whatever event types it subscribes to
        (the other endpoints of the application get nothing); ``payload`` None sends `test_event_payload`.

        `NotFoundError` for an unknown or deleted endpoint, `ConflictError` for a disabled one (enable it
        first: the worker would end the delivery unsent).
        """
        endpoint = await self._live_endpoint(endpoint_id)
        if not endpoint.enabled:
            raise ConflictError(f"endpoint {endpoint_id!r} is disabled; enable it to send a test event")
        body = test_event_payload(endpoint_id, self._clock()) if payload is None else payload
        message = self.new_message(endpoint.app_id, event_type, body)
        attributes = {"hookgate.app_id": message.app_id, "hookgate.event_type": event_type}
        with span("hookgate.publish", **attributes):
            return await self.store.publish(message, now=message.created_at, endpoint_id=endpoint_id)

    def new_message(
        self,
        app: str | Application,
        event_type: str,
        payload: object,
        *,
        idempotency_key: str | None = None,
    ) -> Message:
        """A validated message, not yet stored (for `publish_many`). The ``hookgate.`` event types are
        hookgate's own (operational events): `ConfigError`."""
        app_id = app.id if isinstance(app, Application) else app
        if isinstance(event_type, str) and event_type.startswith(RESERVED_NAMESPACE):
            raise ConfigError(f"event types starting {RESERVED_NAMESPACE!r} are reserved for hookgate's own")
        if idempotency_key is not None:
            validate_text(idempotency_key, "idempotency key", max_length=_MAX_IDEMPOTENCY_KEY)
        return Message(
            id=new_id("msg"),
            app_id=app_id,
            event_type=validate_event_type(event_type),
            payload=encode_payload(payload),
            created_at=self._clock(),
            idempotency_key=idempotency_key,
        )

    async def publish_many(self, messages: Sequence[Message]) -> list[PublishResult | HookgateError]:
        """Store several messages in one transaction (group commit); each succeeds or fails on its own."""
        return await self.store.publish_many(messages, now=self._clock())

    async def resend(self, delivery_id: str) -> Delivery:
        """Deliver one delivery again now, with a fresh retry schedule. `ConflictError` when its endpoint
        was deleted or its message expunged."""
        delivery = await self.store.get_delivery(delivery_id)
        if (await self.store.get_endpoint(delivery.endpoint_id)).deleted_at is not None:
            raise ConflictError(f"delivery {delivery_id!r} cannot be resent: its endpoint was deleted")
        if (await self.store.get_message(delivery.message_id)).expunged_at is not None:
            raise ConflictError(f"delivery {delivery_id!r} cannot be resent: its message was expunged")
        return await self.store.resend(delivery_id, now=self._clock())

    async def resend_endpoint(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | str = "dead",
        limit: int | None = None,
        dry_run: bool = False,
    ) -> BulkResend:
        """Deliver again now the endpoint's deliveries in ``status`` (dead or failed), newest first, at most
        ``limit`` (None: all); with ``dry_run`` only say which would be resent.

        The ids are collected before any is resent (resending changes a delivery's status, which would shift
        the pages); one removed in between is skipped.
        """
        if not isinstance(status, str) or status not in _RESENDABLE:
            raise ConfigError(f"status must be dead or failed, not {status!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"limit must be a positive integer or null (all), not {limit!r}")
        dry_run = check_flag(dry_run, "dry_run")
        wanted = DeliveryStatus(status)
        await self._live_endpoint(endpoint_id)  # NotFoundError for an unknown or deleted endpoint
        ids: list[str] = []
        cursor: str | None = None
        while limit is None or len(ids) < limit:
            # one row past the limit tells whether more remain
            size = _RESEND_PAGE if limit is None else min(_RESEND_PAGE, limit - len(ids) + 1)
            page = await self.store.list_endpoint_deliveries(
                endpoint_id, status=wanted, cursor=cursor, limit=size
            )
            ids.extend(d.id for d in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        more = limit is not None and (len(ids) > limit or cursor is not None)
        ids = ids[:limit]
        if dry_run:
            return BulkResend(tuple(ids), more=more, dry_run=True)
        resent: list[str] = []
        for delivery_id in ids:
            try:
                await self.store.resend(delivery_id, now=self._clock())
            except NotFoundError:
                continue
            resent.append(delivery_id)
        return BulkResend(tuple(resent), more=more, dry_run=False)

    async def recover(self, endpoint_id: str, *, since: float) -> int:
        """Retry every failed or dead delivery of an endpoint created since ``since`` (Unix seconds)."""
        if isinstance(since, bool) or not (
            isinstance(since, (int, float)) and math.isfinite(since) and since >= 0
        ):
            raise ConfigError(f"since must be a finite number of Unix seconds, at least 0, not {since!r}")
        await self._live_endpoint(endpoint_id)
        return await self.store.recover(endpoint_id, since=since, now=self._clock())
