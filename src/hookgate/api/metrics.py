"""Prometheus metrics: counters and histograms the API and workers update, gauges read from the store.

The counters are this process's (Prometheus sums them over processes); the console's charts of the same
attempts come from the store, grouped by the same latency buckets (`hookgate.services.stats`).

One `Metrics` per process (its own registry, so tests and several apps in one process do not collide).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hookgate.models import DeliveryStatus
from hookgate.outbound.opevents import OpEvent
from hookgate.services.stats import LATENCY_BUCKETS
from hookgate.store.base import AttemptResult

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "History", "Metrics", "Minute"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Minute:
    """The live gauges /metrics exported during one minute (queue depth, open circuits), as this process
    read them; the attempt numbers over time come from the store (`hookgate.services.stats`)."""

    start: float
    queue_depth: int | None = None
    circuits_open: int | None = None


class History:
    """The last day of gauge `Minute`s, for the console's overview charts (in memory: one process's view). The
    time is passed in (the services' clock)."""

    def __init__(self, keep: int = 24 * 60) -> None:
        self._keep = keep
        self._minutes: dict[int, Minute] = {}

    def gauges(self, queue_depth: int, circuits_open: int, *, now: float) -> None:
        key = int(now // 60)
        minute = self._minutes.get(key)
        if minute is None:
            minute = self._minutes[key] = Minute(start=key * 60.0)
            for old in [k for k in self._minutes if k <= key - self._keep]:
                del self._minutes[old]
        minute.queue_depth, minute.circuits_open = queue_depth, circuits_open

    def last(self, minutes: int, *, now: float) -> list[Minute]:
        """One `Minute` per minute of the last ``minutes``, oldest first (empty ones for quiet minutes)."""
        key = int(now // 60)
        return [self._minutes.get(k) or Minute(start=k * 60.0) for k in range(key - minutes + 1, key + 1)]


class Metrics:
    def __init__(self) -> None:
        self.history = History()
        self.registry = CollectorRegistry()
        self.published = Counter(
            "hookgate_messages_published", "Messages accepted for delivery", ["app"], registry=self.registry
        )
        self.delivered = Counter(
            "hookgate_deliveries_delivered", "Deliveries that got a 2xx", registry=self.registry
        )
        self.failed = Counter(
            "hookgate_deliveries_failed",
            "Attempts that failed (retry scheduled or dead)",
            ["final"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "hookgate_attempts",
            "Delivery attempts by HTTP status class",
            ["status_class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hookgate_attempt_duration_seconds",
            "Duration of delivery attempts",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "hookgate_queue_depth", "Deliveries due and waiting for a worker", registry=self.registry
        )
        self.circuits_open = Gauge(
            "hookgate_circuits_open",
            "Endpoints whose circuit breaker is open in this process",
            registry=self.registry,
        )
        self.inbound = Counter(
            "hookgate_inbound_decisions",
            "Inbound webhook decisions",
            ["source", "decision"],
            registry=self.registry,
        )

        self.opevents = Counter(
            "hookgate_operational_events",
            "Operational events (endpoint changes, dead deliveries, failing/recovered endpoints, refusal "
            "spikes), published or, under the no-loop rule, only logged",
            ["type", "published"],
            registry=self.registry,
        )

    def observe_opevent(self, event: OpEvent) -> None:
        """Called by the operational events emitter for every event."""
        self.opevents.labels(type=event.type, published=str(event.publish).lower()).inc()

    def observe_attempt(self, result: AttemptResult) -> None:
        """Called by the worker for every result it reports."""
        if not result.attempted:
            return
        code = result.status_code
        self.attempts.labels(status_class=f"{code // 100}xx" if code else "error").inc()
        self.latency.observe(result.duration_ms / 1000.0)
        if result.status is DeliveryStatus.DELIVERED:
            self.delivered.inc()
        else:
            self.failed.labels(final=str(result.status is DeliveryStatus.DEAD).lower()).inc()

    def observe_inbound(self, source: str, decision: str) -> None:
        """Called by the inbound pipeline for every request (accepted, duplicate, rejected...)."""
        self.inbound.labels(source=source, decision=decision).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
