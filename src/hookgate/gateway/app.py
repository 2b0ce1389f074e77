"""The standalone receiving gateway: verify webhooks from many providers, store them, forward them re-signed.

``hookgate gateway --config gateway.toml`` serves one route per source. A request that passes the source's
pipeline is published into the delivery engine (`Hookgate.publish`) and answered 200 only after that
transaction committed, so an acknowledged event survives a crash (``kill -9`` included). The engine then
forwards it to the source's ``forward_to`` URL signed with the gateway's own Standard Webhooks secret: the
application behind the gateway verifies one scheme, whatever the provider. The source's ``forward_tls`` (an
endpoint's ``tls`` section: CA bundle, client certificate, floor) becomes the forwarding endpoint's TLS.

The event id (the scheme's message id, or the source's ``event_id`` header/JSON field) becomes the message's
idempotency key, so a provider's retry of an acknowledged event is acknowledged again but not forwarded twice
(within the engine's 24-hour idempotency window). Bodies that are not JSON (Slack's form posts) are forwarded
inside a JSON envelope ``{"content_type": ..., "body_base64": ...}``.

This module is the gateway's ASGI app and its forwarding setup; its configuration is
`hookgate.gateway.config` and its process (listeners, TLS termination, worker, signals)
`hookgate.gateway.server`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence

import structlog

from hookgate.client import Hookgate
from hookgate.errors import ConfigError, HookgateError, NotFoundError, StoreError
from hookgate.gateway.config import GatewayConfig, forward_event_type
from hookgate.inbound.asgi import Message as ASGIMessage
from hookgate.inbound.asgi import Receive, Scope, Send, check, headers_of, respond
from hookgate.inbound.pipeline import Accepted, Pipeline, Rejection, unrouted
from hookgate.inbound.source import Source
from hookgate.inbound.stores import ClaimState, MemoryRateLimiter, RateLimiter
from hookgate.models import InboundDecision, Message
from hookgate.schemes.registry import body_is_token
from hookgate.store.base import PublishResult

__all__ = ["GATEWAY_APP_ID", "Gateway"]

log = structlog.get_logger("hookgate.gateway")

GATEWAY_APP_ID = "app_gateway"
_ACCEPTED = b'{"status":"accepted"}'
_DUPLICATE = b'{"status":"already processed"}'
_NOT_FOUND = Rejection(404, "no_such_source")
_UNAVAILABLE = Rejection(503, "store_unavailable")
_INTERNAL = Rejection(500, "internal_error")


class _NoIdempotency:
    """The gateway's duplicates are caught durably by the message idempotency key, not in memory."""

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        return ClaimState.CLAIMED

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        return None

    async def release(self, key: str) -> None:
        return None


def _idempotency_key(source: Source, event_id: str | None) -> str | None:
    if not event_id:
        return None
    key = f"{source.name}:{event_id}"
    if len(key) <= 256:
        return key
    # ids may be 256 characters themselves: long keys become a digest that still fits the engine's limit
    return f"{source.name}:sha256:{hashlib.sha256(event_id.encode('utf-8')).hexdigest()}"


def _payload(body: bytes, content_type: str | None) -> object:
    try:
        json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"content_type": content_type, "body_base64": base64.b64encode(body).decode("ascii")}
    return body


class Gateway:
    """The gateway's ASGI application over a `Hookgate` (its store, master key and workers)."""

    def __init__(
        self,
        config: GatewayConfig,
        hg: Hookgate,
        *,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
        observer: Callable[[str, str], None] | None = None,
        decisions: Callable[[InboundDecision], None] | None = None,
    ) -> None:
        self.config = config
        self.hg = hg
        self._clock = clock
        limiter = limiter if limiter is not None else MemoryRateLimiter()
        self._routes = {
            s.path or "": Pipeline(
                s,
                idempotency=_NoIdempotency(),
                limiter=limiter,
                clock=clock,
                observer=observer,
                decisions=decisions,
            )
            for s in config.sources
        }
        self.accepted = 0
        self._publisher = _GroupPublisher(hg)

    async def close(self) -> None:
        await self._publisher.close()
        for pipeline in self._routes.values():
            await pipeline.close()

    async def setup(self) -> None:
        """Make sure the gateway application and one forwarding endpoint per source exist and are current."""
        hg = self.hg
        try:
            await hg.get_application(GATEWAY_APP_ID)
        except NotFoundError:
            await hg.create_application("hookgate gateway", app_id=GATEWAY_APP_ID)
        existing = {e.config.event_types: e for e in await hg.list_endpoints(GATEWAY_APP_ID)}
        if hg.box is None:
            raise ConfigError("gateway: no master key configured to seal the forwarding secret")
        for source in self.config.sources:
            event_type = forward_event_type(source)
            secret = source.forward_secret or self.config.forward_secret
            url = source.forward_to or ""  # checked by GatewayConfig (_check_source)
            endpoint = existing.get((event_type,))
            if endpoint is None:
                # the service validates and seals it like any endpoint (secret, forward_tls as its tls)
                await hg.create_endpoint(
                    GATEWAY_APP_ID,
                    url,
                    event_types=[event_type],
                    secret=secret,
                    tls=source.forward_tls,
                    allow_insecure=self.config.allow_insecure_forward,
                )
                continue
            # one version-checked write: a worker's concurrent change (a disable after a 410) is kept
            endpoint = await hg.reconfigure_endpoint(
                endpoint.id,
                secret=secret,
                url=url,
                tls=source.forward_tls,
                allow_insecure=self.config.allow_insecure_forward,
            )
            if not endpoint.enabled:
                await hg.enable_endpoint(endpoint.id)

    @property
    def routes(self) -> Mapping[str, Pipeline]:
        """Path -> the source's pipeline."""
        return self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        pipeline = self._routes.get(scope.get("path", ""))
        if pipeline is None:
            client = scope.get("client")
            await respond(send, unrouted(_NOT_FOUND, peer=client[0] if client else None))
            return
        headers = headers_of(scope)
        try:
            result = await check(pipeline, scope, receive, headers)
        except Exception:
            # a bug, not the sender's fault: the traceback to the log, the generic 500 (audited) to the sender
            log.exception("gateway.internal_error", source=pipeline.source.name)
            client = scope.get("client")
            result = pipeline.refuse(_INTERNAL, peer=client[0] if client else None, headers=headers)
        if isinstance(result, Rejection):
            await respond(send, result)
            return
        status, body_out = await self._store(pipeline, result, headers)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body_out)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body_out})

    async def _store(
        self, pipeline: Pipeline, result: Accepted, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """Publish a verified event; the answer is 200 only once the transaction holding it committed."""
        source = pipeline.source
        key = _idempotency_key(source, result.event_id)
        try:
            published = await self._publisher.publish(
                GATEWAY_APP_ID,
                forward_event_type(source),
                # token schemes forward what the token carried (the JWE plaintext, the JWS payload)
                _payload(
                    result.verified.payload if body_is_token(source.scheme) else result.body,
                    headers.get("content-type"),
                ),
                idempotency_key=key,
            )
        except HookgateError as exc:
            # not stored, so not acknowledged: the provider retries
            log.error("gateway.store_failed", source=source.name, event_id=result.event_id, error=str(exc))
            await pipeline.finish(result, ok=False, status=503, reason="store_unavailable")
            return 503, _UNAVAILABLE.body
        except Exception:
            log.exception("gateway.internal_error", source=source.name, event_id=result.event_id)
            await pipeline.finish(result, ok=False, status=500, reason="internal_error")
            return 500, _INTERNAL.body
        await pipeline.finish(result, ok=True, status=200, duplicate=published.duplicate)
        self.accepted += 1
        return 200, _DUPLICATE if published.duplicate else _ACCEPTED


class _GroupPublisher:
    """Group commit: events that arrive while a commit runs are stored together in the next one.

    One drain task commits whatever is pending, again and again until nothing is; each request waits only
    for the future of its own event, so it is acknowledged right after the commit that holds it. Under load
    a transaction carries many events instead of one per request.
    """

    def __init__(self, hg: Hookgate) -> None:
        self._hg = hg
        self._pending: list[tuple[Message, asyncio.Future[PublishResult]]] = []
        self._drain: asyncio.Task[None] | None = None
        self.commits = 0

    async def publish(
        self, app_id: str, event_type: str, payload: object, *, idempotency_key: str | None
    ) -> PublishResult:
        message = self._hg.new_message(app_id, event_type, payload, idempotency_key=idempotency_key)
        future: asyncio.Future[PublishResult] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._run())
        # shielded: a client that disconnects must not cancel the commit other requests are waiting for
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results: Sequence[PublishResult | Exception] = await self._hg.publish_many(
                    [m for m, _ in batch]
                )
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request, none may wait forever
                results = [exc] * len(batch)
            except BaseException:
                # a cancellation (shutdown): still answer every waiting request rather than leave them
                # waiting forever on futures nobody will complete
                for _, waiting in batch + self._pending:
                    if not waiting.done():
                        waiting.set_exception(StoreError("cancelled"))
                self._pending = []
                raise
            self.commits += 1
            for (_, waiting), outcome in zip(batch, results, strict=True):
                if waiting.done():
                    continue
                if isinstance(outcome, Exception):
                    waiting.set_exception(outcome)
                else:
                    waiting.set_result(outcome)

    async def close(self) -> None:
        if self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message: ASGIMessage = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
