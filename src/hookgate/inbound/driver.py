"""The one request flow of every receiving adapter: which check answers first, and one audit line each.

The ASGI middleware, the gateway (``hookgate gateway`` and ``hookgate serve``'s ``/inbound/``), the WSGI
middleware and the FastAPI integration run a webhook request through the same steps and do only the I/O
around them (headers and body from their framework, the answer back to it):

1. `admit`: the method (405 unless POST; skipped where the framework's router already chose the route by
   method), the declared ``Content-Length`` (400 unless plain ASCII digits: a repeated field arrives joined
   as ``"5, 5"`` and is refused too), then `Pipeline.admit` (HTTPS, IP allowlist, rate limit, declared size);
2. the adapter reads at most ``max_body_bytes`` + 1 bytes, or gives up (None) one byte past the cap;
3. `verify`: the size actually read (413), then `Pipeline.verify` (signature, timestamp, idempotency claim);
4. the adapter runs its handler (the gateway: stores the event) and calls `Pipeline.finish`.

Every `Rejection` these steps return has already been written to the audit log (``inbound.decision``), so
each request on a webhook route leaves exactly one line, whichever step ended it.
"""

from __future__ import annotations

from collections.abc import Mapping

from hookgate.inbound.pipeline import Accepted, Admission, Pipeline, Rejection

__all__ = ["METHOD_NOT_ALLOWED", "admit", "parse_content_length", "response_headers", "verify"]

METHOD_NOT_ALLOWED = Rejection(405, "method_not_allowed", {"Allow": "POST"})
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


async def admit(
    pipeline: Pipeline, *, method: str | None, scheme: str, peer: str | None, headers: Mapping[str, str]
) -> Admission | Rejection:
    """Everything decidable before the body: method, Content-Length, then the pipeline's own checks.

    ``headers`` are lower-cased; ``method`` is None where the framework already routed by method.
    """
    if method is not None and method != "POST":
        return pipeline.refuse(METHOD_NOT_ALLOWED, peer=peer, headers=headers)
    length = parse_content_length(headers.get("content-length"))
    if isinstance(length, Rejection):
        return pipeline.refuse(length, peer=peer, headers=headers)
    return await pipeline.admit(scheme=scheme, peer=peer, headers=headers, content_length=length)


async def verify(
    pipeline: Pipeline, admission: Admission, body: bytes | None, headers: Mapping[str, str]
) -> Accepted | Rejection:
    """The body as read (None: it grew past the cap), then the signature, timestamp and idempotency."""
    if body is None:
        return pipeline.oversized(admission)
    return await pipeline.verify(admission, body, headers)


def response_headers(rejection: Rejection) -> list[tuple[str, str]]:
    """The headers of a rejection's answer: JSON, its length, and its own (Retry-After, RateLimit-*...)."""
    return [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(rejection.body))),
        *rejection.headers.items(),
    ]
