"""The delivery worker: claim due deliveries, send them, apply the outcome policy, report results in batches.

One `Worker` is one asyncio loop of claims feeding delivery tasks, bounded by a global concurrency limit and,
per endpoint, by a concurrency limit, a token bucket and a circuit breaker (all local to this process; several
worker processes each keep their own). Results are written back by a single flusher task, so every commit
carries all the results that finished while the previous commit ran (group commit: one transaction per batch,
not per delivery).

Guarantees come from the store's leases, not from this loop: a worker that dies mid-request leaves its
deliveries in flight until their lease expires, then any worker claims them again (at-least-once). On a
graceful stop the worker stops claiming, lets in-flight requests finish for a grace period, and releases the
rest so they are due again at once. A store outage (a database restart) does not end the loop: claims back
off and retry, and results that could not be written are kept and written once the store answers again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import secrets as _secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from hookgate.crypto import SecretBox
from hookgate.errors import StoreError
from hookgate.keyring import KeyRing
from hookgate.models import DeliveryStatus, Endpoint
from hookgate.outbound.sender import Sender, Sent, origin
from hookgate.outbound.transport import Transport
from hookgate.policy.circuit import CircuitBreaker, CircuitState
from hookgate.policy.outcome import Action, classify
from hookgate.policy.ratelimit import TokenBucket
from hookgate.policy.retry import DEFAULT_SCHEDULE, next_attempt_at
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import AttemptResult, Claim, Store
from hookgate.tracing import span

__all__ = ["Worker", "WorkerStats"]

log = structlog.get_logger("hookgate.delivery")

# A delivery waits inline for its endpoint's rate limit or concurrency slot at most this long; beyond it the
# delivery is put back with a later due time, so a slow or throttled endpoint cannot hold the worker's slots.
_MAX_INLINE_WAIT_S = 1.0
_EXCERPT_CHARS = 1024
# While the store is unreachable (a database restart, a network cut) the claim loop and the result flusher
# retry after a pause that doubles from the first to the second value; the first success resets it.
_STORE_BACKOFF_S = (0.1, 5.0)


@dataclass(slots=True)
class WorkerStats:
    claimed: int = 0
    attempts: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed and were scheduled again
    dead: int = 0
    deferred: int = 0  # put back without an attempt (circuit open, rate limit, endpoint busy)
    released: int = 0
    by_error_class: dict[str, int] = field(default_factory=dict)


class _EndpointState:
    """What this worker remembers about one endpoint between deliveries."""

    __slots__ = ("breaker", "bucket", "bucket_rate", "failing_since", "limit", "semaphore")

    def __init__(self, endpoint: Endpoint, default_limit: int, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.failing_since = endpoint.failing_since
        self.limit = endpoint.config.policy.max_concurrency or default_limit
        self.semaphore = asyncio.Semaphore(self.limit)
        rate = self.bucket_rate = endpoint.config.policy.rate_limit_per_s
        self.bucket = TokenBucket(rate) if rate else None

    def refresh(self, endpoint: Endpoint) -> None:
        """Follow configuration changes (rate limit, concurrency) without losing the breaker's history."""
        policy = endpoint.config.policy
        if policy.rate_limit_per_s != self.bucket_rate:
            rate = self.bucket_rate = policy.rate_limit_per_s
            self.bucket = TokenBucket(rate) if rate else None
        limit = policy.max_concurrency or self.limit
        if policy.max_concurrency and limit != self.limit:
            self.limit = limit
            self.semaphore = asyncio.Semaphore(limit)


def _breaker_counts(status: int | None) -> bool:
    """Only signs that the endpoint is down feed the breaker; a 4xx means it is up and answering."""
    return status is None or status >= 500 or status == 429


class Worker:
    """Deliver what the store says is due. ``await worker.run()`` until `stop` is called."""

    def __init__(
        self,
        store: Store,
        *,
        box: SecretBox | None,
        keyring: KeyRing | None = None,
        transport: Transport | None = None,
        address_policy: AddressPolicy | None = None,
        owner: str | None = None,
        concurrency: int = 128,
        endpoint_concurrency: int = 32,
        claim_batch: int = 100,
        lease_s: float = 60.0,
        disable_after_s: float = 5 * 24 * 3600.0,
        idle_poll_s: float = 1.0,
        shutdown_grace_s: float = 10.0,
        breaker_factory: Callable[[], CircuitBreaker] = CircuitBreaker,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        observers: Sequence[Callable[[AttemptResult], None]] = (),
    ) -> None:
        if concurrency < 1 or endpoint_concurrency < 1 or claim_batch < 1:
            raise ValueError("concurrency, endpoint_concurrency and claim_batch must be at least 1")
        self._store = store
        self._owns_transport = transport is None
        # The connector's own per-host cap stays off: per-endpoint semaphores (endpoint_concurrency or the
        # endpoint's max_concurrency) are the limit, and a per-host cap would silently override them.
        self._transport = transport or Transport(
            address_policy=address_policy or AddressPolicy(), limit=concurrency, limit_per_host=0
        )
        self._sender = Sender(
            self._transport,
            box,
            keyring if keyring is not None else (KeyRing(store, box, clock=clock) if box else None),
            clock=clock,
        )
        self.owner = owner or f"{socket.gethostname()}:{_secrets.token_hex(4)}"
        self._concurrency = concurrency
        self._endpoint_concurrency = endpoint_concurrency
        self._claim_batch = claim_batch
        self._lease_s = lease_s
        self._disable_after_s = disable_after_s
        self._idle_poll_s = idle_poll_s
        self._grace_s = shutdown_grace_s
        self._breaker_factory = breaker_factory
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not security
        self._endpoints: dict[str, _EndpointState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ready: collections.deque[Claim] = collections.deque()
        self._last_want = 0
        self._results: list[AttemptResult] = []
        self._results_ready = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.stats = WorkerStats()
        self._observers = tuple(observers)

    # -- lifecycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to stop claiming and shut down gracefully (safe to call from a signal handler)."""
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def circuit_states(self) -> dict[str, str]:
        """Endpoint id -> breaker state, for the endpoints this worker has seen."""
        return {endpoint_id: state.breaker.state.value for endpoint_id, state in self._endpoints.items()}

    async def run(self) -> None:
        """Claim and deliver until `stop`; then finish or release in-flight work and flush results."""
        log.info("worker.start", owner=self.owner, concurrency=self._concurrency)
        flusher = asyncio.create_task(self._flush_loop(), name="hookgate-flush")
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(flusher)
            log.info("worker.stop", owner=self.owner, **self._stats_fields())

    async def run_until_idle(self, *, timeout: float = 30.0) -> None:
        """Deliver everything due now (and what becomes due while doing so), then return. For tests/CLI."""
        flusher = asyncio.create_task(self._flush_loop(), name="hookgate-flush")
        try:
            async with asyncio.timeout(timeout):
                while True:
                    claimed = await self._claim_more()
                    if not claimed and not self._tasks and not self._ready:
                        await self._flush()  # results still in the buffer hold leases: apply, then look again
                        if not await self._claim_more():
                            break
                    elif not claimed:
                        await self._wait_slot(0.05)
        finally:
            await self._shutdown(flusher)

    async def close(self) -> None:
        if self._owns_transport:
            await self._transport.close()

    def _stats_fields(self) -> dict[str, int]:
        s = self.stats
        return {"delivered": s.delivered, "failed": s.failed, "dead": s.dead, "attempts": s.attempts}

    def _backoff(self, failures: int) -> float:
        """The pause before the next try after ``failures`` store errors in a row (jittered, so workers that
        lost the same database do not all come back in the same instant)."""
        first, cap = _STORE_BACKOFF_S
        return min(cap, first * 2.0 ** min(failures - 1, 16)) * self._rng.uniform(0.5, 1.0)

    async def _claim_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                claimed = await self._claim_more()
            except StoreError as exc:
                # the store is down or unreachable: keep the in-flight work going, back off, try again
                failures += 1
                pause = self._backoff(failures)
                log.error("worker.claim_failed", owner=self.owner, error=str(exc), retry_in_s=round(pause, 2))
                await self._sleep_or_stop(pause)
                continue
            if failures:
                log.info("worker.store_recovered", owner=self.owner, failed_claims=failures)
                failures = 0
            if claimed and claimed == self._last_want:
                continue  # a full batch: more is probably due
            if self._ready:
                # every slot is busy and work is queued: wait until the queue runs low
                await self._wait_slot(self._idle_poll_s)
                continue
            await self._idle_wait()

    async def _claim_more(self) -> int:
        """Top the local queue up to one batch when it is at most half full; start what fits.

        Claiming ahead of free slots keeps claims large (one query per half batch, not one per freed slot)
        and lets a finishing delivery start the next one at once (`_task_done`). Queued claims hold leases,
        so the queue is kept small: at most one batch.
        """
        want = self._claim_batch - len(self._ready) if len(self._ready) <= self._claim_batch // 2 else 0
        self._last_want = want
        if want <= 0:
            self._start_ready()
            return 0
        claims = await self._store.claim(self.owner, want, now=self._clock(), lease_s=self._lease_s)
        self.stats.claimed += len(claims)
        self._ready.extend(claims)
        self._start_ready()
        return len(claims)

    def _start_ready(self) -> None:
        while self._ready and len(self._tasks) < self._concurrency and not self._stopping.is_set():
            claim = self._ready.popleft()
            task = asyncio.create_task(self._deliver(claim))
            self._tasks[claim.delivery.id] = task
            task.add_done_callback(self._task_done(claim.delivery.id))

    def _task_done(self, delivery_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._tasks.pop(delivery_id, None)
            self._start_ready()
            if len(self._ready) <= self._claim_batch // 2:
                self._slot_free.set()
            if not task.cancelled() and task.exception() is not None:
                log.error("worker.task_crashed", delivery_id=delivery_id, error=repr(task.exception()))

        return done

    async def _idle_wait(self) -> None:
        try:
            due = await self._store.next_due_at()
        except StoreError:
            due = None
        timeout = self._idle_poll_s
        if due is not None:
            # never spin: something reported due but not claimable is re-checked after a short pause
            timeout = min(timeout, max(due - self._clock(), 0.01))
        waiter = asyncio.ensure_future(self._store.wait_for_work(timeout))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (waiter, stopper):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StoreError):
                        await fut
        if waiter.done() and not waiter.cancelled() and isinstance(waiter.exception(), StoreError):
            # the wake-up source failed at once (the store is down): wait out the timeout instead, or the
            # loop would spin between a failing wait and a failing claim
            log.warning("worker.wait_failed", owner=self.owner, error=str(waiter.exception()))
            await self._sleep_or_stop(timeout)

    async def _wait_slot(self, timeout: float) -> None:
        self._slot_free.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_free.wait(), timeout)

    async def _sleep_or_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _shutdown(self, flusher: asyncio.Task[None]) -> None:
        self._stopping.set()  # no new task starts from the queue
        queued = [claim.delivery.id for claim in self._ready]
        self._ready.clear()
        if queued:
            try:
                self.stats.released += await self._store.release(self.owner, queued, now=self._clock())
            except StoreError as exc:
                log.error("worker.release_failed", count=len(queued), error=str(exc))
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks.values()), timeout=self._grace_s)
            unfinished = [d for d, t in self._tasks.items() if t in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if unfinished:
                try:
                    released = await self._store.release(self.owner, unfinished, now=self._clock())
                except StoreError as exc:
                    log.error("worker.release_failed", count=len(unfinished), error=str(exc))
                else:
                    self.stats.released += released
                    log.info("worker.released", count=released)
        self._results_ready.set()
        self._stopping.set()
        await flusher

    # -- results -----------------------------------------------------------------------------------

    def _report(self, result: AttemptResult) -> None:
        self._results.append(result)
        self._results_ready.set()
        for observe in self._observers:
            observe(result)

    async def _flush(self) -> bool:
        """Apply the buffered results; False when the store failed (they are kept for the next flush)."""
        async with self._flush_lock:
            batch, self._results = self._results, []
            if not batch:
                return True
            try:
                await self._store.complete(batch)
            except StoreError as exc:
                # Applying a result again is safe (it applies only while the lease is held, and releases it),
                # so keep those whose lease may still be held and try again; a result whose lease has expired
                # can no longer apply: its delivery is claimed again (at-least-once).
                now = self._clock()
                kept = [r for r in batch if r.started_at + self._lease_s > now]
                self._results[:0] = kept
                log.error("worker.complete_failed", count=len(batch), kept=len(kept), error=str(exc))
                return False
            return True

    async def _flush_loop(self) -> None:
        failures = 0
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            if await self._flush():
                failures = 0
            elif self._stopping.is_set() and not self._tasks:
                # shutting down with the store unreachable: the leases expire and others redeliver
                log.error("worker.results_dropped", count=len(self._results))
                self._results.clear()
            else:
                failures += 1
                await asyncio.sleep(self._backoff(failures))  # also while stopping: tasks still report
                self._results_ready.set()
            if self._stopping.is_set() and not self._tasks and not self._results:
                return

    # -- one delivery ------------------------------------------------------------------------------

    def _state(self, endpoint: Endpoint) -> _EndpointState:
        state = self._endpoints.get(endpoint.id)
        if state is None:
            state = _EndpointState(endpoint, self._endpoint_concurrency, self._breaker_factory())
            self._endpoints[endpoint.id] = state
        else:
            state.refresh(endpoint)
        return state

    def _defer(self, claim: Claim, until: float, reason: str) -> None:
        now = self._clock()
        self.stats.deferred += 1
        status = DeliveryStatus.FAILED if claim.delivery.attempts else DeliveryStatus.PENDING
        self._report(
            AttemptResult(
                delivery_id=claim.delivery.id,
                owner=self.owner,
                status=status,
                next_attempt_at=max(until, now),
                attempted=False,
                started_at=now,
                duration_ms=0.0,
                status_code=None,
                response_excerpt="",
                error_class=None,
                outcome=reason,
            )
        )

    async def _deliver(self, claim: Claim) -> None:
        endpoint = claim.endpoint
        if not endpoint.enabled:
            self._finish_dead(claim, "endpoint_disabled")
            return
        state = self._state(endpoint)
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

    async def _attempt(self, claim: Claim, state: _EndpointState) -> None:
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
        self, claim: Claim, state: _EndpointState, sent: Sent
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
                await self._health(endpoint.id, ok=True, now=now)
            return DeliveryStatus.DELIVERED, now, decision.reason
        if _breaker_counts(sent.status_code):
            state.breaker.record_failure(now)
        else:
            # a 4xx is an answer: the endpoint is up (it may be rejecting this message), so a half-open
            # probe answered this way closes the circuit instead of leaving it half-open forever
            state.breaker.record_success(now)
        if state.failing_since is None:
            state.failing_since = await self._health(endpoint.id, ok=False, now=now) or now
        if decision.action is Action.DISABLE_ENDPOINT:
            await self._disable(endpoint, "the endpoint answered 410 Gone", now)
            return self._dead(now, "endpoint_gone")
        if now - state.failing_since >= self._disable_after_s:
            await self._disable(endpoint, f"failing continuously since {state.failing_since:.0f}", now)
            return self._dead(now, "endpoint_disabled_after_failures")
        schedule = endpoint.config.policy.retry_schedule or DEFAULT_SCHEDULE
        due = next_attempt_at(claim.delivery.attempts + 1, schedule, now, self._rng, decision.retry_after)
        if decision.action is Action.GIVE_UP or due is None:
            return self._dead(now, f"{decision.reason}; retries exhausted")
        self.stats.failed += 1
        return DeliveryStatus.FAILED, due, decision.reason

    def _dead(self, now: float, outcome: str) -> tuple[DeliveryStatus, float, str]:
        self.stats.dead += 1
        return DeliveryStatus.DEAD, now, outcome

    def _finish_dead(self, claim: Claim, reason: str) -> None:
        self.stats.dead += 1
        now = self._clock()
        self._report(
            AttemptResult(
                delivery_id=claim.delivery.id,
                owner=self.owner,
                status=DeliveryStatus.DEAD,
                next_attempt_at=now,
                attempted=False,
                started_at=now,
                duration_ms=0.0,
                status_code=None,
                response_excerpt="",
                error_class=None,
                outcome=reason,
            )
        )

    async def _health(self, endpoint_id: str, *, ok: bool, now: float) -> float | None:
        try:
            return await self._store.mark_endpoint_health(endpoint_id, ok, now)
        except StoreError as exc:
            log.error("endpoint.health_failed", endpoint_id=endpoint_id, error=str(exc))
            return None

    async def _disable(self, endpoint: Endpoint, reason: str, now: float) -> None:
        try:
            # the verdict is about the endpoint as claimed: if an operator changed or re-enabled it since
            # (a new URL, say), the store keeps the newer version enabled
            disabled = await self._store.set_endpoint_enabled(
                endpoint.id, False, reason=reason, now=now, expected_version=endpoint.version
            )
        except StoreError as exc:
            log.error("endpoint.disable_failed", endpoint_id=endpoint.id, error=str(exc))
            return
        if not disabled:
            log.info("endpoint.disable_skipped", endpoint_id=endpoint.id, reason="changed since claimed")
            return
        log.warning("endpoint.disabled", endpoint_id=endpoint.id, app_id=endpoint.app_id, reason=reason)
