"""The in-memory store: the reference implementation of `hookgate.store.base.Store`, for unit tests.

Every method body runs without awaiting in between, so on one event loop each call is atomic exactly like a
database transaction; records are copied in and out so callers cannot mutate the store's state behind it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from hookgate.errors import ConflictError, DuplicateError, NotFoundError
from hookgate.models import (
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Message,
    SigningKey,
    SigningKeyStatus,
)
from hookgate.store._memory_admin import ManagementRecords
from hookgate.store._memory_decisions import InboundDecisions
from hookgate.store._memory_expunge import MemoryExpunge
from hookgate.store._memory_pages import attempts_page, existing, newest_first
from hookgate.store._memory_pages import copied as _c
from hookgate.store._memory_tasks import MemoryTasks
from hookgate.store._rows import check_limit, decode_attempt_id, decode_position
from hookgate.store.base import (
    IDEMPOTENCY_WINDOW,
    LATENCY_BOUNDS_MS,
    AttemptBucket,
    AttemptResult,
    Claim,
    Page,
    PublishResult,
    Store,
    fan_out,
)

__all__ = ["MemoryStore"]

T = TypeVar("T")
_RETRYABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
# what update_endpoint writes (the SQL stores' update_endpoint query sets the same columns)
# what an endpoint update writes: the configuration except its scheme (like the SQL stores), the sealed
# secrets and the time of the change
_ENDPOINT_CONFIGURATION = ("updated_at", "secrets_sealed")


class MemoryStore(ManagementRecords, InboundDecisions, MemoryTasks, MemoryExpunge, Store):
    def __init__(self) -> None:
        self._apps: dict[str, Application] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._messages: dict[str, Message] = {}
        self._idempotency: dict[tuple[str, str], str] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._attempts: dict[str, list[Attempt]] = {}
        self._attempt_ids = itertools.count(1)
        self._signing_keys: dict[str, SigningKey] = {}
        ManagementRecords.__init__(self)
        InboundDecisions.__init__(self)
        MemoryTasks.__init__(self)
        self._work = asyncio.Event()

    # -- applications and endpoints -----------------------------------------------------------------

    async def create_application(self, app: Application) -> Application:
        if app.id in self._apps:  # the SQL stores refuse it through the primary key
            raise DuplicateError(f"application {app.id!r} already exists")
        self._apps[app.id] = _c(app)
        return _c(app)

    async def get_application(self, app_id: str) -> Application:
        return _c(self._get(self._apps, app_id, "application"))

    async def rename_application(self, app_id: str, name: str) -> Application:
        app = self._get(self._apps, app_id, "application")
        app.name = name
        return _c(app)

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        self._get(self._apps, endpoint.app_id, "application")
        self._endpoints[endpoint.id] = copy.deepcopy(endpoint)
        return copy.deepcopy(endpoint)

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        return copy.deepcopy(self._get(self._endpoints, endpoint_id, "endpoint"))

    async def list_endpoints(self, app_id: str) -> list[Endpoint]:
        found = [e for e in self._endpoints.values() if e.app_id == app_id and e.deleted_at is None]
        return [copy.deepcopy(e) for e in sorted(found, key=lambda e: (e.created_at, e.id))]

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        stored = self._get(self._endpoints, endpoint.id, "endpoint")
        if stored.deleted_at is not None:
            raise NotFoundError(f"endpoint {endpoint.id!r} not found")
        if stored.version != endpoint.version:
            raise ConflictError(f"endpoint {endpoint.id!r} changed since it was read")
        given = copy.deepcopy(endpoint)
        for name in _ENDPOINT_CONFIGURATION:
            setattr(stored, name, getattr(given, name))
        stored.config = replace(given.config, scheme=stored.config.scheme)
        stored.version += 1
        return copy.deepcopy(stored)

    async def set_endpoint_enabled(
        self,
        endpoint_id: str,
        enabled: bool,
        *,
        reason: str | None,
        now: float,
        expected_version: int | None = None,
    ) -> bool:
        endpoint = self._get(self._endpoints, endpoint_id, "endpoint")
        if endpoint.deleted_at is not None or (
            expected_version is not None and endpoint.version != expected_version
        ):
            return False
        endpoint.enabled = enabled
        endpoint.disabled_reason = None if enabled else reason
        endpoint.updated_at = now
        endpoint.version += 1
        if enabled:
            endpoint.failing_since = None
            return True
        self._kill_pending(endpoint_id, now)
        return True

    async def delete_endpoint(self, endpoint_id: str, *, now: float) -> int:
        endpoint = self._get(self._endpoints, endpoint_id, "endpoint")
        if endpoint.deleted_at is not None:
            raise NotFoundError(f"endpoint {endpoint_id!r} not found")
        endpoint.deleted_at = endpoint.updated_at = now
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = False, "deleted", None
        endpoint.secrets_sealed = b""
        endpoint.version += 1
        return self._kill_pending(endpoint_id, now)

    def _kill_pending(self, endpoint_id: str, now: float) -> int:
        killed = 0
        for d in self._deliveries.values():
            if d.endpoint_id == endpoint_id and d.status in _RETRYABLE:
                d.status, d.updated_at = DeliveryStatus.DEAD, now
                killed += 1
        return killed

    async def mark_endpoint_health(self, endpoint_id: str, ok: bool, now: float) -> float | None:
        endpoint = self._get(self._endpoints, endpoint_id, "endpoint")
        if ok:
            endpoint.failing_since = None
        elif endpoint.failing_since is None:
            endpoint.failing_since = now
        return endpoint.failing_since

    # -- messages -----------------------------------------------------------------------------------

    async def publish(self, message: Message, *, now: float, endpoint_id: str | None = None) -> PublishResult:
        self._get(self._apps, message.app_id, "application")
        if message.idempotency_key is not None:
            key = (message.app_id, message.idempotency_key)
            first_id = self._idempotency.get(key)
            if first_id is not None:
                first = self._messages[first_id]
                if first.created_at > now - IDEMPOTENCY_WINDOW:
                    deliveries = tuple(_c(d) for d in self._deliveries.values() if d.message_id == first_id)
                    return PublishResult(_c(first), deliveries, duplicate=True)
            self._idempotency[key] = message.id
        endpoints = sorted(self._endpoints.values(), key=lambda e: (e.created_at, e.id))
        created = fan_out(message, endpoints, now, only=endpoint_id)
        if endpoint_id is not None and not created:
            raise ConflictError(f"endpoint {endpoint_id!r} is not an enabled endpoint of the application")
        self._messages[message.id] = _c(message)
        for delivery in created:
            self._deliveries[delivery.id] = _c(delivery)
        if created:
            self._work.set()
        return PublishResult(_c(message), created, duplicate=False)

    async def get_message(self, message_id: str) -> Message:
        return _c(self._get(self._messages, message_id, "message"))

    async def list_deliveries(self, message_id: str) -> list[Delivery]:
        found = [d for d in self._deliveries.values() if d.message_id == message_id]
        return [_c(d) for d in sorted(found, key=lambda d: (d.created_at, d.id))]

    async def get_delivery(self, delivery_id: str) -> Delivery:
        return _c(self._get(self._deliveries, delivery_id, "delivery"))

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        return [_c(a) for a in self._attempts.get(delivery_id, [])]

    # -- the work queue -----------------------------------------------------------------------------

    def _due(self, d: Delivery, now: float) -> bool:
        if d.status in _RETRYABLE:
            return d.next_attempt_at <= now
        return d.status is DeliveryStatus.IN_FLIGHT and (d.lease_expires_at or 0) <= now

    async def claim(self, owner: str, limit: int, *, now: float, lease_s: float) -> list[Claim]:
        due = sorted(
            (d for d in self._deliveries.values() if self._due(d, now)), key=lambda d: d.next_attempt_at
        )
        claims = []
        for d in due[:limit]:
            d.status, d.lease_owner, d.lease_expires_at, d.updated_at = (
                DeliveryStatus.IN_FLIGHT,
                owner,
                now + lease_s,
                now,
            )
            endpoint = self._endpoints[d.endpoint_id]
            claims.append(Claim(_c(d), _c(self._messages[d.message_id]), copy.deepcopy(endpoint)))
        return claims

    async def complete(self, results: Sequence[AttemptResult]) -> int:
        applied = 0
        for r in results:
            d = self._deliveries.get(r.delivery_id)
            if d is None or d.status is not DeliveryStatus.IN_FLIGHT or d.lease_owner != r.owner:
                continue
            d.status, d.next_attempt_at = r.status, r.next_attempt_at
            d.lease_owner = d.lease_expires_at = None
            d.updated_at = r.started_at
            if r.attempted:
                d.attempts += 1
                self._attempts.setdefault(d.id, []).append(
                    Attempt(
                        delivery_id=d.id,
                        started_at=r.started_at,
                        duration_ms=r.duration_ms,
                        status_code=r.status_code,
                        response_excerpt=r.response_excerpt,
                        error_class=r.error_class,
                        outcome=r.outcome,
                        id=next(self._attempt_ids),
                        request_headers=dict(r.request_headers or {}),
                    )
                )
            applied += 1
        return applied

    async def release(self, owner: str, delivery_ids: Sequence[str], *, now: float) -> int:
        released = 0
        for delivery_id in delivery_ids:
            d = self._deliveries.get(delivery_id)
            if d is None or d.status is not DeliveryStatus.IN_FLIGHT or d.lease_owner != owner:
                continue
            d.status = DeliveryStatus.FAILED if d.attempts else DeliveryStatus.PENDING
            d.next_attempt_at, d.updated_at = now, now
            d.lease_owner = d.lease_expires_at = None
            released += 1
        if released:
            self._work.set()
        return released

    async def next_due_at(self) -> float | None:
        times = [d.next_attempt_at for d in self._deliveries.values() if d.status in _RETRYABLE]
        times += [
            d.lease_expires_at
            for d in self._deliveries.values()
            if d.status is DeliveryStatus.IN_FLIGHT and d.lease_expires_at is not None
        ]
        return min(times, default=None)

    async def wait_for_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)
        self._work.clear()

    async def resend(self, delivery_id: str, *, now: float) -> Delivery:
        d = self._get(self._deliveries, delivery_id, "delivery")
        d.status, d.attempts, d.next_attempt_at, d.updated_at = DeliveryStatus.PENDING, 0, now, now
        d.lease_owner = d.lease_expires_at = d.dead_reason = None
        self._work.set()
        return _c(d)

    async def recover(self, endpoint_id: str, *, since: float, now: float) -> int:
        self._get(self._endpoints, endpoint_id, "endpoint")
        count = 0
        for d in self._deliveries.values():
            if (
                d.endpoint_id == endpoint_id
                and d.status in (DeliveryStatus.FAILED, DeliveryStatus.DEAD)
                and d.created_at >= since
            ):
                d.status, d.attempts, d.next_attempt_at, d.updated_at = DeliveryStatus.PENDING, 0, now, now
                count += 1
        if count:
            self._work.set()
        return count

    # -- signing key ring and sealed records -----------------------------------------------------------

    async def add_signing_key(self, key: SigningKey) -> SigningKey:
        # the SQL stores refuse these through the primary key and the one-active unique index
        if key.kid in self._signing_keys:
            raise DuplicateError(f"signing key {key.kid!r} already exists")
        if key.status is SigningKeyStatus.ACTIVE and any(
            k.status is SigningKeyStatus.ACTIVE for k in self._signing_keys.values()
        ):
            raise DuplicateError("another signing key is already active")
        self._signing_keys[key.kid] = _c(key)
        return _c(key)

    async def list_signing_keys(self) -> list[SigningKey]:
        return [_c(k) for k in sorted(self._signing_keys.values(), key=lambda k: (k.created_at, k.kid))]

    async def set_signing_key_status(self, kid: str, status: SigningKeyStatus, *, now: float) -> SigningKey:
        key = self._get(self._signing_keys, kid, "signing key")
        status = SigningKeyStatus(status)
        if status is SigningKeyStatus.ACTIVE:
            for other in self._signing_keys.values():
                if other.kid != kid and other.status is SigningKeyStatus.ACTIVE:
                    other.status = SigningKeyStatus.PREVIOUS
            if key.status is not SigningKeyStatus.ACTIVE:
                key.activated_at = now
        if status is SigningKeyStatus.RETIRED and key.status is not SigningKeyStatus.RETIRED:
            key.retired_at = now
        key.status = status
        return _c(key)

    async def reseal(self, fn: Callable[[str, str, bytes], bytes]) -> int:
        # compute every new blob before changing anything: if fn raises, nothing has changed
        endpoints = []
        for e in sorted(self._endpoints.values(), key=lambda e: e.id):
            if e.secrets_sealed:
                blob = fn("endpoint", e.id, e.secrets_sealed)
                if blob != e.secrets_sealed:
                    endpoints.append((e, blob))
        keys = []
        for k in sorted(self._signing_keys.values(), key=lambda k: k.kid):
            blob = fn("signing_key", k.kid, k.private_sealed)
            if blob != k.private_sealed:
                keys.append((k, blob))
        sources = []
        for src in sorted(self._sources.values(), key=lambda src: src.id):
            blob = fn("source", src.id, src.config_sealed)
            if blob != src.config_sealed:
                sources.append((src, blob))
        for e, blob in endpoints:
            e.secrets_sealed = blob
            e.version += 1
        for k, blob in keys:
            k.private_sealed = blob
        for src, blob in sources:
            src.config_sealed = blob
        return len(endpoints) + len(keys) + len(sources)

    # -- management API ---------------------------------------------------------------------------------

    async def list_applications(self, *, cursor: str | None = None, limit: int = 50) -> Page[Application]:
        check_limit(limit)
        after = decode_position("app", cursor)
        return newest_first("app", self._apps.values(), after, limit, lambda a: True)

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
        check_limit(limit)
        after = decode_position("msg", cursor)
        wanted = None if status is None else DeliveryStatus(status)
        with_status = (
            set()
            if wanted is None
            else {d.message_id for d in self._deliveries.values() if d.status is wanted}
        )
        return newest_first(
            "msg",
            self._messages.values(),
            after,
            limit,
            lambda m: (
                m.app_id == app_id
                and (event_type is None or m.event_type == event_type)
                and (since is None or m.created_at >= since)
                and (until is None or m.created_at < until)
                and (wanted is None or m.id in with_status)
                and (idempotency_key is None or m.idempotency_key == idempotency_key)
            ),
        )

    async def list_endpoint_attempts(
        self, endpoint_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        check_limit(limit)
        return attempts_page(
            (
                a
                for delivery_id, attempts in self._attempts.items()
                if self._deliveries[delivery_id].endpoint_id == endpoint_id
                for a in attempts
            ),
            decode_attempt_id(cursor),
            limit,
        )

    async def list_message_attempts(
        self, message_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        check_limit(limit)
        return attempts_page(
            (
                a
                for delivery_id, attempts in self._attempts.items()
                if self._deliveries[delivery_id].message_id == message_id
                for a in attempts
            ),
            decode_attempt_id(cursor),
            limit,
        )

    async def list_endpoint_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Delivery]:
        check_limit(limit)
        after = decode_position("dlv", cursor)
        wanted = None if status is None else DeliveryStatus(status)
        return newest_first(
            "dlv",
            self._deliveries.values(),
            after,
            limit,
            lambda d: d.endpoint_id == endpoint_id and (wanted is None or d.status is wanted),
        )

    async def count_due(self, *, now: float) -> int:
        return sum(1 for d in self._deliveries.values() if self._due(d, now))

    async def attempt_buckets(self, *, since: float, until: float, step: int) -> list[AttemptBucket]:
        found: dict[tuple[int, int], list[int]] = {}
        for attempts in self._attempts.values():
            for a in attempts:
                if since <= a.started_at < until:
                    bucket = bisect.bisect_left(LATENCY_BOUNDS_MS, a.duration_ms)  # first bound >= duration
                    counts = found.setdefault((int(a.started_at // step), bucket), [0, 0])
                    counts[0] += 1
                    counts[1] += a.status_code is not None and 200 <= a.status_code <= 299
        return [AttemptBucket(p, b, n, ok) for (p, b), (n, ok) in found.items()]

    _get = staticmethod(existing)
