"""OpenTelemetry tracing, when enabled: spans for API requests, publishes and delivery attempts.

Off by default and free when off: `span` is a no-op context manager unless `configure_tracing` ran with
``HOOKGATE_OTEL_ENABLED=true`` and the ``opentelemetry`` packages are installed (``pip install
hookgate[otel]``). Exporting follows the standard ``OTEL_*`` environment variables through the OTLP
exporter when it is installed. Span attributes carry ids, status codes and outcomes: never secrets or bodies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import structlog

__all__ = ["configure_tracing", "enabled", "span"]

log = structlog.get_logger("hookgate.tracing")

_enabled = False


def enabled() -> bool:
    return _enabled


def configure_tracing(*, service_name: str = "hookgate", exporter: Any = None) -> bool:
    """Turn tracing on; returns False (and logs why) when OpenTelemetry is not installed.

    ``exporter`` (an SDK span exporter) is for tests and embedding; by default the OTLP exporter is used if
    installed, and otherwise spans are created (for in-process consumers) but not exported.
    """
    global _enabled  # noqa: PLW0603 - one process-wide switch, set once at start-up
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning(
            "tracing.unavailable", reason="install hookgate[otel] (opentelemetry-sdk) to enable tracing"
        )
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("tracing.no_exporter", reason="opentelemetry-exporter-otlp is not installed")
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


@contextlib.contextmanager
def span(name: str, **attributes: str | int | float | bool | None) -> Iterator[Any]:
    """A span named ``name`` with the given attributes (None values are left out), or nothing when off."""
    if not _enabled:
        yield None
        return
    from opentelemetry import trace

    tracer = trace.get_tracer("hookgate")
    with tracer.start_as_current_span(name) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)
        yield current
