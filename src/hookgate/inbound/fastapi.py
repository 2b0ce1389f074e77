"""FastAPI and Starlette integration per route: a dependency, a route class and a decorator.

The ASGI middleware (`hookgate.inbound.asgi.HookgateMiddleware`) guards paths for a whole application; this
module guards individual routes.

**FastAPI dependency** (the verified event as a parameter)::

    stripe_event = webhook_dependency(Source("stripe", "stripe", secrets=("whsec_...",)))

    app = FastAPI()
    install_exception_handler(app)            # exact generic JSON bodies for rejections

    @app.post("/hooks/stripe")
    async def stripe_hook(event: Annotated[Verified, Depends(stripe_event)]) -> dict[str, str]: ...

The dependency verifies the request before the handler runs and raises `WebhookRejected` (an
``HTTPException`` carrying the generic status and headers) when it must not run. `install_exception_handler`
turns it into exactly the generic body (``{"error":"unauthorized"}``...); without it FastAPI's own
``HTTPException`` handler answers ``{"detail":"unauthorized"}`` with the same status and headers.

It is a dependency with ``yield``: after the response has been sent it marks the event processed, or
releases the id for the sender's retry when the handler raised (``HTTPException`` included) or set a non-2xx
``response.status_code``. A handler that *returns* a ``Response`` with a non-2xx status is only seen by the
dependency when the route uses ``route_class=WebhookRoute``, which records the status of the response it
returns (and renders `WebhookRejected` itself, so `install_exception_handler` is then not needed)::

    router = APIRouter(route_class=WebhookRoute)

Under `WebhookRoute` a request with a method the route does not take is answered with the generic 405
(``Allow`` listing the route's methods) and audited like every other refusal; on a plain ``APIRoute`` it
never reaches the dependency, so FastAPI's router answers it (``{"detail": "Method Not Allowed"}``) and no
audit line is written.

**Decorator** for a Starlette endpoint (``async def endpoint(request) -> Response``), or a FastAPI endpoint
that takes a ``request: Request`` parameter; the verified event is in ``request.state.webhook``::

    @verified_webhook(source)
    async def stripe_hook(request: Request) -> Response: ...

The decorator records the outcome when the endpoint returns, before the response is sent.

In every form the body is read with the source's cap (a ``Content-Length`` over it is refused before reading,
a chunked body is abandoned one byte past it) and stays readable by the handler (``await request.body()``).
A FastAPI route that also declares a body parameter has its body read by FastAPI before any dependency runs,
without that cap: declare no body parameter and parse ``event.payload`` instead.
"""

from __future__ import annotations

import functools
import json
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hookgate.inbound import driver
from hookgate.inbound.pipeline import Accepted, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.inbound.stores import IdempotencyStore, RateLimiter
from hookgate.schemes._base import Verified

__all__ = [
    "WebhookRejected",
    "WebhookRoute",
    "install_exception_handler",
    "rejection_response",
    "verified_webhook",
    "webhook_dependency",
]

_STATUS_KEY = "hookgate.response_status"
# webhook_dependency's functions -> their pipelines, for `WebhookRoute` to audit what never reaches them
_PIPELINES: weakref.WeakKeyDictionary[Callable[..., Any], Pipeline] = weakref.WeakKeyDictionary()
_E = TypeVar("_E", bound=Callable[..., Awaitable[Any]])


class WebhookRejected(HTTPException):
    """A request that must not reach the handler; ``rejection`` holds the generic answer."""

    def __init__(self, rejection: Rejection) -> None:
        try:
            document = json.loads(rejection.body)
            detail = str(document.get("error") or document.get("status") or "rejected")
        except (ValueError, AttributeError):
            detail = "rejected"
        super().__init__(rejection.status, detail, dict(rejection.headers) or None)
        self.rejection = rejection


def rejection_response(rejection: Rejection) -> Response:
    """The generic answer: status, the JSON body, its headers (Retry-After, RateLimit-*, Allow)."""
    return Response(
        rejection.body,
        status_code=rejection.status,
        headers=dict(rejection.headers),
        media_type="application/json",
    )


async def _handle_rejected(request: Request, exc: Exception) -> Response:
    del request
    if not isinstance(exc, WebhookRejected):  # pragma: no cover - registered for WebhookRejected only
        raise exc
    return rejection_response(exc.rejection)


def install_exception_handler(app: Starlette) -> None:
    """Answer `WebhookRejected` with exactly the generic body (instead of ``{"detail": ...}``)."""
    app.add_exception_handler(WebhookRejected, _handle_rejected)


def _headers(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in request.scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit``; the handler can read it again afterwards."""
    if hasattr(request, "_body"):  # already read (a FastAPI body parameter): nothing left to protect
        body = await request.body()
        return body if len(body) <= limit else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: request.body()/json()/form() return it
    return body


async def _check(pipeline: Pipeline, request: Request) -> Accepted | Rejection:
    """`hookgate.inbound.driver`'s flow on a Starlette request: admit, read the body under the cap, verify.

    The method is the router's business here (the route was matched by method); see `WebhookRoute`.
    """
    headers = _headers(request)
    client = request.client
    admission = await driver.admit(
        pipeline,
        method=None,
        scheme=str(request.scope.get("scheme", "http")),
        peer=client.host if client else None,
        headers=headers,
    )
    if isinstance(admission, Rejection):
        return admission
    body = await _read_capped(request, pipeline.source.max_body_bytes)
    return await driver.verify(pipeline, admission, body, headers)


def _ok(status: int | None) -> bool:
    return status is None or 200 <= status < 300


def webhook_dependency(
    source: Source,
    *,
    idempotency: IdempotencyStore | None = None,
    limiter: RateLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> Callable[[Request, Response], AsyncIterator[Verified]]:
    """A FastAPI dependency (with ``yield``) that verifies the request and provides the `Verified` event.

    Rejections raise `WebhookRejected`. After the response is sent the event is marked processed, or released
    when the handler raised or its status (``response.status_code``, or the returned response's status under
    `WebhookRoute`) was not 2xx.
    """
    pipeline = Pipeline(source, idempotency=idempotency, limiter=limiter, clock=clock)

    async def verified_webhook_event(request: Request, response: Response) -> AsyncIterator[Verified]:
        result = await _check(pipeline, request)
        if isinstance(result, Rejection):
            raise WebhookRejected(result)
        request.state.webhook = result.verified
        try:
            yield result.verified
        except BaseException as exc:
            status = exc.status_code if isinstance(exc, HTTPException) else None
            await pipeline.finish(result, ok=False, status=status)
            raise
        recorded = request.scope.get(_STATUS_KEY)
        status = recorded if isinstance(recorded, int) else response.status_code
        await pipeline.finish(result, ok=_ok(status), status=status)

    verified_webhook_event.__qualname__ = f"webhook_dependency[{source.name}]"
    _PIPELINES[verified_webhook_event] = pipeline
    return verified_webhook_event


class WebhookRoute(APIRoute):
    """An ``APIRoute`` that renders `WebhookRejected` as the generic answer and records the response status.

    With it, a handler that returns e.g. ``JSONResponse(..., status_code=500)`` releases the event id, and a
    wrong method on a route with a `webhook_dependency` is the generic, audited 405.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        pipeline = (
            _pipeline_of(self.dependant) if self.methods and scope["method"] not in self.methods else None
        )
        if pipeline is None:
            await super().handle(scope, receive, send)
            return
        request = Request(scope)
        client = request.client
        rejection = Rejection(405, "method_not_allowed", {"Allow": ", ".join(sorted(self.methods or ()))})
        refused = pipeline.refuse(rejection, peer=client.host if client else None, headers=_headers(request))
        await rejection_response(refused)(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except WebhookRejected as exc:
                return rejection_response(exc.rejection)
            request.scope[_STATUS_KEY] = response.status_code
            return response

        return route_handler


def _pipeline_of(dependant: Dependant) -> Pipeline | None:
    for dependency in dependant.dependencies:
        found = _PIPELINES.get(dependency.call) if dependency.call is not None else None
        if found is None:
            found = _pipeline_of(dependency)
        if found is not None:
            return found
    return None


def _find_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Request):
            return value
    raise TypeError("@verified_webhook needs an endpoint that receives the request (a `request: Request`)")


def verified_webhook(
    source: Source,
    *,
    idempotency: IdempotencyStore | None = None,
    limiter: RateLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> Callable[[_E], _E]:
    """Guard one async endpoint: rejections are answered directly, ``request.state.webhook`` is set.

    The outcome is recorded when the endpoint returns: processed on a 2xx ``Response`` (or any non-Response
    value FastAPI will serialise), released when it raises or returns a non-2xx ``Response``.
    """
    pipeline = Pipeline(source, idempotency=idempotency, limiter=limiter, clock=clock)

    def decorate(endpoint: _E) -> _E:
        @functools.wraps(endpoint)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            request = _find_request(args, kwargs)
            result = await _check(pipeline, request)
            if isinstance(result, Rejection):
                return rejection_response(result)
            request.state.webhook = result.verified
            try:
                response = await endpoint(*args, **kwargs)
            except BaseException as exc:
                status = exc.status_code if isinstance(exc, HTTPException) else None
                await pipeline.finish(result, ok=False, status=status)
                raise
            status = response.status_code if isinstance(response, Response) else None
            await pipeline.finish(result, ok=_ok(status), status=status)
            return response

        return guarded  # type: ignore[return-value]

    return decorate
