"""Prometheus metrics: counters and histograms the API and workers update, gauges read from the store.

One `Metrics` per process (its own registry, so tests and several apps in one process do not collide).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hookgate.models import DeliveryStatus
from hookgate.store.base import AttemptResult

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "History", "Metrics", "Minute"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(slots=True)
class Minute:
    """What one minute of this process observed: the counters and gauges /metrics exports, per minute."""

    start: float
    delivered: int = 0
    failed: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    queue_depth: int | None = None
    circuits_open: int | None = None

    @property
    def attempts(self) -> int:
        return self.delivered + self.failed

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile of the attempt durations (seconds), as the upper bound of its bucket."""
        total = sum(self.latency)
        if not total:
            return None
        rank, seen = q * total, 0
        for bound, count in zip((*LATENCY_BUCKETS, 60.0), self.latency, strict=True):
            seen += count
            if seen >= rank:
                return float(bound)
        return 60.0


class History:
    """The last day of `Minute`s, for the console's overview charts (in memory: one process's view). The
    time is passed in: an attempt's start, or the services' clock."""

    def __init__(self, keep: int = 24 * 60) -> None:
        self._keep = keep
        self._minutes: dict[int, Minute] = {}

    def _at(self, now: float) -> Minute:
        key = int(now // 60)
        minute = self._minutes.get(key)
        if minute is None:
            minute = self._minutes[key] = Minute(start=key * 60.0)
            for old in [k for k in self._minutes if k <= key - self._keep]:
                del self._minutes[old]
        return minute

    def attempt(self, ok: bool, seconds: float, *, now: float) -> None:
        minute = self._at(now)
        if ok:
            minute.delivered += 1
        else:
            minute.failed += 1
        index = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
        minute.latency[index] += 1

    def gauges(self, queue_depth: int, circuits_open: int, *, now: float) -> None:
        minute = self._at(now)
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

    def observe_attempt(self, result: AttemptResult) -> None:
        """Called by the worker for every result it reports."""
        if not result.attempted:
            return
        code = result.status_code
        self.attempts.labels(status_class=f"{code // 100}xx" if code else "error").inc()
        self.latency.observe(result.duration_ms / 1000.0)
        ok = result.status is DeliveryStatus.DELIVERED
        self.history.attempt(ok, result.duration_ms / 1000.0, now=result.started_at)
        if result.status is DeliveryStatus.DELIVERED:
            self.delivered.inc()
        else:
            self.failed.labels(final=str(result.status is DeliveryStatus.DEAD).lower()).inc()

    def observe_inbound(self, source: str, decision: str) -> None:
        """Called by the inbound pipeline for every request (accepted, duplicate, rejected...)."""
        self.inbound.labels(source=source, decision=decision).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
