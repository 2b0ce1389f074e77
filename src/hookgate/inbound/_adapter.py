"""What the WSGI and FastAPI adapters share: strict Content-Length parsing and audited early refusals.

The checks themselves live in `hookgate.inbound.pipeline`; these are the few answers an adapter gives before
the pipeline has run (a wrong method, an unreadable ``Content-Length``), written to the same audit log so
that every request on a webhook route leaves exactly one ``inbound.decision`` line.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from hookgate.inbound.net import client_address
from hookgate.inbound.pipeline import Pipeline, Rejection
from hookgate.schemes._base import get_header

__all__ = ["METHOD_NOT_ALLOWED", "parse_content_length", "refuse", "response_headers"]

audit = structlog.get_logger("hookgate.inbound")

METHOD_NOT_ALLOWED = Rejection(
    405, "method_not_allowed", {"Allow": "POST"}, b'{"error":"method_not_allowed"}'
)
_MAX_DIGITS = 18  # anything longer is over every cap anyway, and int() of it is not free


def parse_content_length(raw: str | None) -> int | Rejection | None:
    """The declared body size, None when absent, or a 400 for anything but ASCII digits.

    ``str.isdigit`` alone is not enough: it accepts characters such as ``"²"`` that ``int`` refuses.
    """
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > _MAX_DIGITS:
        return Rejection(400, "bad_content_length")
    return int(raw)


def refuse(
    pipeline: Pipeline, rejection: Rejection, *, peer: str | None, headers: Mapping[str, str]
) -> Rejection:
    """Audit a refusal made before the pipeline ran, in the pipeline's format, and return it."""
    client = client_address(peer, get_header(headers, "x-forwarded-for"), pipeline.source.trusted_networks)
    audit.info(
        "inbound.decision",
        source=pipeline.source.name,
        decision="rejected",
        reason=rejection.reason,
        status=rejection.status,
        client_ip=client,
        event_id=None,
        latency_ms=0.0,
    )
    return rejection


def response_headers(rejection: Rejection) -> list[tuple[str, str]]:
    """The headers of a rejection's answer: JSON, its length, and its own (Retry-After, RateLimit-*...)."""
    return [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(rejection.body))),
        *rejection.headers.items(),
    ]
