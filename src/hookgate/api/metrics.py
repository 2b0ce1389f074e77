"""Prometheus metrics: counters and histograms the API and workers update, gauges read from the store.

One `Metrics` per process (its own registry, so tests and several apps in one process do not collide).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hookgate.models import DeliveryStatus
from hookgate.store.base import AttemptResult

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
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
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
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
        if result.status is DeliveryStatus.DELIVERED:
            self.delivered.inc()
        else:
            self.failed.labels(final=str(result.status is DeliveryStatus.DEAD).lower()).inc()

    def observe_inbound(self, source: str, decision: str) -> None:
        """Called by the inbound pipeline for every request (accepted, duplicate, rejected...)."""
        self.inbound.labels(source=source, decision=decision).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
