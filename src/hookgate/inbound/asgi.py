"""ASGI middleware that lets only genuine webhooks reach an application's webhook routes.

Shaped like Starlette's middleware: configuration is validated in ``__init__``; non-HTTP scopes and paths that
are not webhook routes pass through untouched; on a webhook route the body is read (never past the source's
cap), verified, and replayed to the application, with the verified event in ``scope["state"]["webhook"]``
(``request.state.webhook`` in Starlette/FastAPI). A handler that raises or answers non-2xx releases the event
id, so the sender's retry is processed; a 2xx marks it processed.

    stripe = Source("stripe", "stripe", secrets=("whsec_...",), path="/hooks/stripe")
    app.add_middleware(HookgateMiddleware, sources=[stripe])
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from hookgate.errors import ConfigError
from hookgate.inbound import driver
from hookgate.inbound.pipeline import Accepted, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.inbound.stores import IdempotencyStore, MemoryIdempotencyStore, MemoryRateLimiter, RateLimiter

__all__ = ["HookgateMiddleware", "check", "headers_of", "read_body", "respond"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def pipelines_for(
    sources: Iterable[Source] | Mapping[str, Source],
    *,
    idempotency: IdempotencyStore | None,
    limiter: RateLimiter | None,
    clock: Callable[[], float],
) -> dict[str, Pipeline]:
    """Route path -> pipeline; every source needs a unique path. Shared by the ASGI and WSGI adapters."""
    pairs = list(sources.items()) if isinstance(sources, Mapping) else [(s.path, s) for s in sources]
    if not pairs:
        raise ConfigError("at least one webhook source is required")
    idempotency = idempotency if idempotency is not None else MemoryIdempotencyStore()
    limiter = limiter if limiter is not None else MemoryRateLimiter()
    routes: dict[str, Pipeline] = {}
    for path, source in pairs:
        if not isinstance(source, Source):
            raise ConfigError(f"{source!r} is not a hookgate.inbound.source.Source")
        if path is None or not path.startswith("/"):
            raise ConfigError(f"source {source.name!r} needs a path starting with '/'")
        if path in routes:
            raise ConfigError(f"two sources share the path {path!r}")
        routes[path] = Pipeline(source, idempotency=idempotency, limiter=limiter, clock=clock)
    return routes


def headers_of(scope: Scope) -> dict[str, str]:
    """The request headers of an ASGI scope, lower-cased; repeated fields joined (RFC 9110 5.3)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def check(
    pipeline: Pipeline, scope: Scope, receive: Receive, headers: Mapping[str, str]
) -> Accepted | Rejection:
    """`hookgate.inbound.driver`'s flow on an ASGI request, for the middleware and the gateway alike.

    ``headers`` is `headers_of` the scope. A `Rejection` has been audited; an `Accepted` carries the body.
    """
    client = scope.get("client")
    peer = client[0] if client else None
    admission = await driver.admit(
        pipeline, method=scope.get("method"), scheme=scope.get("scheme", "http"), peer=peer, headers=headers
    )
    if isinstance(admission, Rejection):
        return admission
    body = await read_body(receive, pipeline.source.max_body_bytes)
    return await driver.verify(pipeline, admission, body, headers)


async def respond(send: Send, rejection: Rejection) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(rejection.body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers.items()]
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": rejection.body})


class HookgateMiddleware:
    """Verify webhooks on the configured paths; everything else passes through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sources: Iterable[Source] | Mapping[str, Source],
        idempotency: IdempotencyStore | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self._routes = pipelines_for(sources, idempotency=idempotency, limiter=limiter, clock=clock)
        self._needs_close = any(p.source.jwks_url is not None for p in self._routes.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._needs_close:
            await self.app(scope, self._closing_on_shutdown(receive), send)
            return
        pipeline = self._routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if pipeline is None:
            await self.app(scope, receive, send)
            return
        result = await check(pipeline, scope, receive, headers_of(scope))
        if isinstance(result, Rejection):
            await respond(send, result)
            return
        await self._handle(pipeline, result, (scope, receive, send))

    def _closing_on_shutdown(self, receive: Receive) -> Receive:
        # JWKS-URL sources hold an HTTP client: release it when the server shuts the application down
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.close()
            return message

        return wrapped

    async def close(self) -> None:
        for pipeline in self._routes.values():
            await pipeline.close()

    async def _handle(
        self, pipeline: Pipeline, accepted: Accepted, asgi: tuple[Scope, Receive, Send]
    ) -> None:
        scope, receive, send = asgi
        body = accepted.body
        scope.setdefault("state", {})["webhook"] = accepted.verified
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status: int | None = None

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, replay, capture)
        except BaseException:
            await pipeline.finish(accepted, ok=False, status=status)
            raise
        await pipeline.finish(accepted, ok=status is not None and 200 <= status < 300, status=status)
