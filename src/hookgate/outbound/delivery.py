"""One claimed delivery's way through a worker: the endpoint's gates (circuit breaker, rate limit, concurrency
slot), the attempt, and the outcome policy's verdict (delivered, retry at a time, dead, endpoint disabled),
reported as one `AttemptResult`.

A delivery waits inline for its endpoint's rate limit or slot only briefly; beyond that it is put back with a
later due time (deferred, no attempt counted), so a slow or throttled endpoint cannot hold the worker's slots.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import structlog

from hookgate.errors import StoreError
from hookgate.models import DeliveryStatus
from hookgate.outbound.delivery_events import DeliveryEvents
from hookgate.outbound.endpoint_state import (
    EndpointState,
    EndpointStates,
    breaker_counts,
    disable_endpoint,
    mark_health,
)
from hookgate.outbound.results import WorkerStats
from hookgate.outbound.sender import Sender, Sent, origin
from hookgate.policy.circuit import CircuitState
from hookgate.policy.outcome import Action, classify
from hookgate.policy.retry import DEFAULT_SCHEDULE, next_attempt_at
from hookgate.store.base import AttemptResult, Claim, Store
from hookgate.tracing import span

__all__ = ["Deliverer"]

log = structlog.get_logger("hookgate.delivery")

# A delivery waits inline for its endpoint's rate limit or concurrency slot at most this long; beyond it the
# delivery is put back with a later due time, so a slow or throttled endpoint cannot hold the worker's slots.
_MAX_INLINE_WAIT_S = 1.0
_EXCERPT_CHARS = 1024


class Deliverer:
    """Deliver one claim at a time (``deliver`` runs as one task per claim) and report its result."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        endpoints: EndpointStates,
        stats: WorkerStats,
        report: Callable[[AttemptResult], None],
        *,
        owner: str,
        disable_after_s: float,
        clock: Callable[[], float],
        rng: random.Random,
        events: DeliveryEvents | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self._sender = sender
        self._endpoints = endpoints
        self._report = report
        self.stats = stats
        self.owner = owner
        self._disable_after_s = disable_after_s
        self._clock = clock
        self._rng = rng

    def _defer(self, claim: Claim, until: float, reason: str) -> None:
        self.stats.deferred += 1
        status = DeliveryStatus.FAILED if claim.delivery.attempts else DeliveryStatus.PENDING
        self._report_unattempted(claim, status, until, reason)

    def _report_unattempted(self, claim: Claim, status: DeliveryStatus, due: float, reason: str) -> None:
        """Write back a claim given up or put off before any request was made (no attempt is logged)."""
        now = self._clock()
        self._report(
            AttemptResult(
                delivery_id=claim.delivery.id,
                owner=self.owner,
                status=status,
                next_attempt_at=max(due, now),
                attempted=False,
                started_at=now,
                duration_ms=0.0,
                status_code=None,
                response_excerpt="",
                error_class=None,
                outcome=reason,
            )
        )

    async def deliver(self, claim: Claim) -> None:
        endpoint = claim.endpoint
        if not endpoint.enabled:
            self._finish_dead(claim, "endpoint_disabled")
            return
        if claim.message.expunged_at is not None:
            # its payload was erased (a resend or recover revived the delivery): never send the empty body
            self._finish_dead(claim, "message_expunged")
            return
        state = self._endpoints.get(endpoint)
        now = self._clock()
        if not state.breaker.allow(now):
            self._defer(claim, state.breaker.retry_at(now) + self._rng.uniform(0, 0.5), "circuit_open")
            return
        if state.bucket is not None:
            wait = state.bucket.peek_wait(now)
            if wait > _MAX_INLINE_WAIT_S:
                self._defer(claim, now + wait + self._rng.uniform(0, 1.0 / state.bucket.rate), "rate_limited")
                return
            wait = state.bucket.take(now)
            if wait > 0:
                await asyncio.sleep(wait)
                if state.breaker.state is CircuitState.OPEN:
                    self._defer(claim, state.breaker.retry_at(self._clock()), "circuit_open")
                    return
        if state.semaphore.locked():
            try:
                await asyncio.wait_for(state.semaphore.acquire(), _MAX_INLINE_WAIT_S)
            except TimeoutError:
                self._defer(claim, self._clock() + self._rng.uniform(0.1, 1.0), "endpoint_busy")
                return
            if state.breaker.state is CircuitState.OPEN:
                # the circuit opened while this delivery waited for its slot: do not send it (a pure read:
                # allow() would count this delivery as a second half-open probe)
                state.semaphore.release()
                self._defer(claim, state.breaker.retry_at(self._clock()), "circuit_open")
                return
        else:
            await state.semaphore.acquire()  # free slot: returns at once, without a task or a timer
        try:
            await self._attempt(claim, state)
        finally:
            state.semaphore.release()

    async def _attempt(self, claim: Claim, state: EndpointState) -> None:
        delivery, message, endpoint = claim.delivery, claim.message, claim.endpoint
        started = self._clock()
        attributes: dict[str, str | int] = {
            "hookgate.delivery_id": delivery.id,
            "hookgate.message_id": message.id,
            "hookgate.endpoint_id": endpoint.id,
            "hookgate.attempt": delivery.attempts + 1,
        }
        with span("hookgate.delivery.attempt", **attributes) as traced:
            try:
                sent = await self._sender.send(claim, started)
            except StoreError as exc:
                # nothing was sent: put it back without counting an attempt or blaming the endpoint
                log.warning(
                    "delivery.deferred", delivery_id=delivery.id, reason="store_unavailable", error=str(exc)
                )
                self._defer(claim, self._clock() + self._rng.uniform(0.5, 1.0), "store_unavailable")
                return
            if traced is not None:
                traced.set_attribute("http.response.status_code", sent.status_code or 0)
                if sent.error_class is not None:
                    traced.set_attribute("hookgate.error_class", sent.error_class)
        self.stats.attempts += 1
        if sent.error_class is not None:
            counts = self.stats.by_error_class
            counts[sent.error_class] = counts.get(sent.error_class, 0) + 1
        status, next_at, outcome = await self._decide(claim, state, sent)
        if self._events is not None and status is DeliveryStatus.DEAD:
            self._events.exhausted(claim, sent.status_code, outcome)
        self._report(
            AttemptResult(
                delivery_id=delivery.id,
                owner=self.owner,
                status=status,
                next_attempt_at=next_at,
                attempted=True,
                started_at=started,
                duration_ms=sent.duration_ms,
                status_code=sent.status_code,
                response_excerpt=sent.excerpt[:_EXCERPT_CHARS],
                error_class=sent.error_class,
                outcome=outcome,
                request_headers=sent.request_headers,
            )
        )
        log.info(
            "delivery.attempt",
            delivery_id=delivery.id,
            message_id=message.id,
            endpoint_id=endpoint.id,
            app_id=message.app_id,
            event_type=message.event_type,
            target=origin(endpoint.config.url),
            attempt=delivery.attempts + 1,
            status_code=sent.status_code,
            error_class=sent.error_class,
            outcome=outcome,
            result=str(status),
            next_attempt_at=next_at if status is DeliveryStatus.FAILED else None,
            duration_ms=round(sent.duration_ms, 2),
        )

    async def _decide(
        self, claim: Claim, state: EndpointState, sent: Sent
    ) -> tuple[DeliveryStatus, float, str]:
        """Apply the outcome policy: the delivery's new status, when it is next due, and why."""
        endpoint = claim.endpoint
        now = self._clock()
        response = sent.response
        decision = classify(
            status=sent.status_code,
            headers=response.headers if response is not None else None,
            error_class=sent.error_class,
            now=now,
        )
        if decision.action is Action.DELIVERED:
            state.breaker.record_success(now)
            self.stats.delivered += 1
            if state.failing_since is not None:
                state.failing_since = None
                await mark_health(self._store, endpoint.id, ok=True, now=now)
            if self._events is not None:
                self._events.succeeded(claim, state)
            return DeliveryStatus.DELIVERED, now, decision.reason
        if breaker_counts(sent.status_code):
            state.breaker.record_failure(now)
        else:
            # a 4xx is an answer: the endpoint is up (it may be rejecting this message), so a half-open
            # probe answered this way closes the circuit instead of leaving it half-open forever
            state.breaker.record_success(now)
        if state.failing_since is None:
            state.failing_since = await mark_health(self._store, endpoint.id, ok=False, now=now) or now
        if self._events is not None:
            self._events.failed(claim, state, sent.status_code, sent.error_class)
        if decision.action is Action.DISABLE_ENDPOINT:
            await self._disable(claim, "the endpoint answered 410 Gone", now)
            return self._dead(now, "endpoint_gone")
        if now - state.failing_since >= self._disable_after_s:
            await self._disable(claim, f"failing continuously since {state.failing_since:.0f}", now)
            return self._dead(now, "endpoint_disabled_after_failures")
        schedule = endpoint.config.policy.retry_schedule or DEFAULT_SCHEDULE
        due = next_attempt_at(claim.delivery.attempts + 1, schedule, now, self._rng, decision.retry_after)
        if decision.action is Action.GIVE_UP or due is None:
            return self._dead(now, f"{decision.reason}; retries exhausted")
        self.stats.failed += 1
        return DeliveryStatus.FAILED, due, decision.reason

    async def _disable(self, claim: Claim, reason: str, now: float) -> None:
        if await disable_endpoint(self._store, claim.endpoint, reason, now) and self._events is not None:
            self._events.disabled(claim, reason)

    def _dead(self, now: float, outcome: str) -> tuple[DeliveryStatus, float, str]:
        self.stats.dead += 1
        return DeliveryStatus.DEAD, now, outcome

    def _finish_dead(self, claim: Claim, reason: str) -> None:
        self.stats.dead += 1
        # due "now": max(now, now) in the shared writer
        self._report_unattempted(claim, DeliveryStatus.DEAD, 0.0, reason)
