"""The delivery worker's loop: claim due deliveries, start one delivery task per claim within the concurrency
limit, and stop in order.

One `Worker` is one asyncio loop of claims feeding delivery tasks, bounded by a global concurrency limit and,
per endpoint, by a concurrency limit, a token bucket and a circuit breaker (``hookgate.outbound.delivery``
and ``hookgate.outbound.endpoint_state``; all local to this process, several worker processes each keep
their own). Results are written back in batches by one flusher task (``hookgate.outbound.results``).

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

import structlog

from hookgate.crypto import SecretBox
from hookgate.errors import StoreError
from hookgate.keyring import KeyRing
from hookgate.outbound.delivery import Deliverer
from hookgate.outbound.delivery_events import DeliveryEvents
from hookgate.outbound.endpoint_state import EndpointStates
from hookgate.outbound.opevents import OpEvents
from hookgate.outbound.results import ResultBuffer, WorkerStats
from hookgate.outbound.sender import Sender
from hookgate.outbound.task_runner import TaskRunner
from hookgate.outbound.transport import Transport
from hookgate.policy.circuit import CircuitBreaker
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import AttemptResult, Claim, Store

__all__ = ["Worker", "WorkerStats"]

log = structlog.get_logger("hookgate.delivery")

# While the store is unreachable (a database restart, a network cut) the claim loop and the result flusher
# retry after a pause that doubles from the first to the second value; the first success resets it.
_STORE_BACKOFF_S = (0.1, 5.0)


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
        opevents: OpEvents | None = None,
        failing_after: int = 5,
        task_batch: int = 500,
        task_lease_s: float = 30.0,
        task_poll_s: float = 2.0,
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
        self._claim_batch = claim_batch
        self._lease_s = lease_s
        self._idle_poll_s = idle_poll_s
        self._grace_s = shutdown_grace_s
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not security
        self._endpoints = EndpointStates(endpoint_concurrency, breaker_factory)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ready: collections.deque[Claim] = collections.deque()
        self._last_want = 0
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self.stats = WorkerStats()
        # operational events (endpoint disabled, delivery dead, failing, recovered); None: none
        self._opevents = opevents
        # bulk recovery tasks run beside the claim loop (see hookgate.outbound.task_runner)
        self.task_runner = TaskRunner(
            store, owner=self.owner, batch=task_batch, lease_s=task_lease_s, poll_s=task_poll_s, clock=clock
        )
        self._results = ResultBuffer(
            store, lease_s=lease_s, clock=clock, backoff=self._backoff, observers=observers
        )
        self._deliverer = Deliverer(
            store,
            self._sender,
            self._endpoints,
            self.stats,
            self._results.report,
            owner=self.owner,
            disable_after_s=disable_after_s,
            clock=clock,
            rng=self._rng,
            events=DeliveryEvents(opevents, failing_after=failing_after) if opevents is not None else None,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run` to stop claiming and shut down gracefully (safe to call from a signal handler)."""
        self._stopping.set()

    def hurry(self) -> None:
        """Stop without the grace period: cancel in-flight deliveries at once and release them."""
        self._hurry.set()
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def shutdown_grace_s(self) -> float:
        """How long a graceful stop lets in-flight deliveries finish before releasing them."""
        return self._grace_s

    def circuit_states(self) -> dict[str, str]:
        """Endpoint id -> breaker state, for the endpoints this worker has seen."""
        return self._endpoints.circuit_states()

    async def run(self) -> None:
        """Claim and deliver until `stop`; then finish or release in-flight work and flush results."""
        log.info("worker.start", owner=self.owner, concurrency=self._concurrency)
        flusher = asyncio.create_task(self._results.run(self._finished), name="hookgate-flush")
        tasks = asyncio.create_task(self.task_runner.run(self._stopping), name="hookgate-tasks")
        try:
            await self._claim_loop()
        finally:
            try:
                await self._shutdown(flusher)
            finally:
                # it stops after its current batch (a short transaction); a lease left behind expires
                self._stopping.set()
                await tasks
            log.info("worker.stop", owner=self.owner, **self._stats_fields())

    async def run_until_idle(self, *, timeout: float = 30.0) -> None:
        """Deliver everything due now (and what becomes due while doing so), then return. For tests/CLI."""
        flusher = asyncio.create_task(self._results.run(self._finished), name="hookgate-flush")
        try:
            async with asyncio.timeout(timeout):
                while True:
                    claimed = await self._claim_more()
                    if not claimed and not self._tasks and not self._ready:
                        # results still in the buffer hold leases: apply them, then look again; the
                        # operational events they caused are published too (their deliveries are due now)
                        await self._results.flush()
                        if self._opevents is not None:
                            await self._opevents.flush()
                        if not await self._claim_more():
                            break
                    elif not claimed:
                        await self._wait_slot(0.05)
        finally:
            await self._shutdown(flusher)

    async def close(self) -> None:
        if self._owns_transport:
            await self._transport.close()

    def _finished(self) -> bool:
        """Stopping with nothing in flight: once its results are written, the flusher may return."""
        return self._stopping.is_set() and not self._tasks

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
            task = asyncio.create_task(self._deliverer.deliver(claim))
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
            pending = await self._drain(list(self._tasks.values()))
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
        self._results.wake()
        self._stopping.set()
        await flusher
        if self._opevents is not None:
            await self._opevents.flush()  # what these deliveries caused, before the store may close

    async def _drain(self, tasks: list[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
        """Wait for the tasks for the grace period or until `hurry`; the ones still running."""
        finished = asyncio.ensure_future(asyncio.wait(tasks, timeout=self._grace_s))
        hurried = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({finished, hurried}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (finished, hurried):
                fut.cancel()  # cancels the waiting only, not the delivery tasks
            await asyncio.gather(finished, hurried, return_exceptions=True)
        return {task for task in tasks if not task.done()}
