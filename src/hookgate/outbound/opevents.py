"""Operational events: what hookgate tells its operator (and an application about itself) when an endpoint
is created, changed, disabled or deleted, a delivery goes dead, an endpoint starts failing or recovers, or an
inbound source's refusals spike.

An event is a log line (``hookgate.opevents``), a count (observers, e.g. the Prometheus counter) and, when
someone subscribes, a message published through hookgate's own delivery engine: to the reserved operator
application `OPS_APP_ID` (event type as named, e.g. ``endpoint.disabled``), and for an event about an
application also to that application under the reserved ``hookgate.`` namespace (``hookgate.endpoint.
disabled``), which only endpoints that name it explicitly receive. Their endpoints are ordinary endpoints:
same schemes, retries and attempt log.

Two rules keep this safe:

- No loop: nothing about the delivery of an operational message (one of the operator application, or of a
  ``hookgate.`` type) and nothing about the operator application's own endpoints is ever published; it is
  logged and counted only. An operator endpoint that always fails therefore produces no messages.
- Never in the way: the engine's events are queued (`emit`, no await) and written in batches by one task;
  the services' events are written after their own write succeeded (`publish`). A store error is logged and
  the event dropped; it never fails the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from hookgate.config.rules import RESERVED_NAMESPACE
from hookgate.errors import HookgateError
from hookgate.models import Message, new_id
from hookgate.store.base import Store

__all__ = [
    "EVENT_TYPES",
    "NAMESPACE",
    "OPS_APP_ID",
    "OpEvent",
    "OpEvents",
    "is_operational",
]

log = structlog.get_logger("hookgate.opevents")

OPS_APP_ID = "hookgate-ops"
NAMESPACE = RESERVED_NAMESPACE
EVENT_TYPES = (
    "endpoint.created",
    "endpoint.updated",
    "endpoint.deleted",
    "endpoint.disabled",
    "endpoint.enabled",
    "message.attempt.exhausted",
    "message.attempt.failing",
    "message.attempt.recovered",
    "source.refusals.spiking",
)
# the engine's queue is bounded: during a mass failure the oldest unwritten events are dropped (and counted)
_MAX_QUEUED = 10_000
_RETRY_PAUSE_S = 5.0


def is_operational(message: Message) -> bool:
    """Whether a message is itself an operational event (events about its delivery would loop)."""
    return message.app_id == OPS_APP_ID or message.event_type.startswith(NAMESPACE)


@dataclass(frozen=True, slots=True)
class OpEvent:
    """One operational event: its type (one of `EVENT_TYPES`), when, ids and numbers (never a secret or a
    URL, which may carry credentials), and the application it concerns, if any. ``publish`` False: log and
    count only (the no-loop rule)."""

    type: str
    at: float
    data: Mapping[str, object] = field(default_factory=dict)
    app_id: str | None = None
    publish: bool = True

    def body(self) -> bytes:
        payload = {"type": self.type, "timestamp": int(self.at), "data": dict(self.data)}
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class OpEvents:
    """The emitter one `hookgate.client.Hookgate` holds (and its workers share)."""

    def __init__(self, store: Store, *, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self.observers: list[Callable[[OpEvent], None]] = []
        self._queue: list[OpEvent] = []
        self._ready = asyncio.Event()
        # one flush at a time: a caller's flush (a worker about to look for more work) waits for the one
        # under way, so what was queued before it is written when it returns
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def event(
        self,
        type_: str,
        data: Mapping[str, object],
        *,
        app_id: str | None = None,
        publish: bool = True,
    ) -> OpEvent:
        """An event now (the emitter's clock); ``app_id`` is also put into the data when given."""
        if app_id is not None:
            data = {"app_id": app_id, **data}
        quiet = not publish or app_id == OPS_APP_ID
        return OpEvent(type_, self._clock(), data, app_id, publish=not quiet)

    def _note(self, event: OpEvent) -> None:
        # "type" and "published" are not data keys (`EVENT_TYPES`' data names ids, counts and reasons)
        log.info("opevent", type=event.type, published=event.publish, **event.data)
        for observe in self.observers:
            try:
                observe(event)
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not fail a delivery or a write
                log.error("opevents.observer_failed", type=event.type, error=repr(exc))

    def emit(self, event: OpEvent) -> None:
        """Log and count now; queue the message for the writer task (no await: the delivery path's way)."""
        self._note(event)
        if not event.publish:
            return
        self._queue.append(event)
        if len(self._queue) > _MAX_QUEUED:
            del self._queue[0]
            self.dropped += 1
        self._ready.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hookgate-opevents")

    async def publish(self, event: OpEvent) -> None:
        """Log, count and write now (the services' way, after their own write); never raises a store error."""
        self._note(event)
        if event.publish:
            await self._write([event])

    async def flush(self) -> bool:
        """Write what is queued; False when the store failed (the batch is kept for the next try)."""
        async with self._lock:
            batch, self._queue = self._queue, []
            if not batch:
                return True
            try:
                await self._write(batch, raise_errors=True)
            except HookgateError as exc:
                room = _MAX_QUEUED - len(self._queue)
                self._queue[:0] = batch[-room:] if room > 0 else []
                log.warning("opevents.unwritten", count=len(batch), error=str(exc))
                return False
            return True

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            if not await self.flush():
                await asyncio.sleep(_RETRY_PAUSE_S)  # the store is down: do not hammer it
                self._ready.set()

    async def close(self) -> None:
        """Stop the writer task and write what is left (once; a failure is logged)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _write(self, events: list[OpEvent], *, raise_errors: bool = False) -> None:
        """Publish each event to the operator application and, under the namespace, to the application it
        concerns, each only where an enabled endpoint subscribes (no rows nobody receives)."""
        messages: list[Message] = []
        wanted: dict[tuple[str, str], bool] = {}
        try:
            for event in events:
                targets = [(OPS_APP_ID, event.type)]
                if event.app_id is not None:
                    targets.append((event.app_id, NAMESPACE + event.type))
                for app_id, event_type in targets:
                    key = (app_id, event_type)
                    if key not in wanted:
                        endpoints = await self._store.list_endpoints(app_id)
                        wanted[key] = any(e.enabled and e.subscribes(event_type) for e in endpoints)
                    if wanted[key]:
                        messages.append(
                            Message(new_id("msg"), app_id, event_type, event.body(), created_at=event.at)
                        )
            if messages:
                results = await self._store.publish_many(messages, now=self._clock())
                for result in results:
                    if isinstance(result, HookgateError):
                        log.error("opevents.publish_failed", error=str(result))
        except HookgateError as exc:
            if raise_errors:
                raise
            log.error("opevents.publish_failed", count=len(events), error=str(exc))
