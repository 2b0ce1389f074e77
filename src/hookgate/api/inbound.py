"""The inbound side of ``hookgate serve``: sources managed through the API, served under ``/inbound/``.

`InboundRouter` wraps the API application: requests under ``/inbound/`` go to a `Gateway` built from the
stored sources (rebuilt when a source is created, changed or deleted; checked at most every ``refresh_s``),
everything else to the API. A webhook is acknowledged only after it is committed to the store, then the
delivery workers forward it to the source's ``forward_to``, re-signed with the source's forward secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from hookgate.client import Hookgate
from hookgate.errors import HookgateError
from hookgate.gateway.app import Gateway
from hookgate.gateway.config import GatewayConfig
from hookgate.inbound.asgi import ASGIApp, Receive, Scope, Send, respond
from hookgate.inbound.decision_log import DecisionLog
from hookgate.inbound.pipeline import Rejection, unrouted
from hookgate.inbound.stores import MemoryRateLimiter, RateLimiter

__all__ = ["PREFIX", "InboundRouter"]

log = structlog.get_logger("hookgate.inbound")

PREFIX = "/inbound/"
_NOT_FOUND = Rejection(404, "no_such_source")
_UNAVAILABLE = Rejection(503, "sources_unavailable")


class InboundRouter:
    def __init__(
        self,
        api: ASGIApp,
        hg: Hookgate,
        *,
        limiter: RateLimiter | None = None,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        observer: Callable[[str, str], None] | None = None,
    ) -> None:
        self._observer = observer
        # every source's decisions are kept in the store (the console's sources page), written in batches
        self._decisions = DecisionLog(hg.record_source_decisions)
        self._api = api
        self._hg = hg
        self._limiter = limiter if limiter is not None else MemoryRateLimiter()
        self._refresh_s = refresh_s
        self._clock = clock
        self._gateway: Gateway | None = None
        self._version: tuple[tuple[str, float], ...] | None = None
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self._api(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else None
        try:
            gateway = await self._current()
        except HookgateError as exc:
            log.error("inbound.sources_unavailable", error=str(exc))
            await respond(send, unrouted(_UNAVAILABLE, peer=peer))
            return
        if gateway is None:
            await respond(send, unrouted(_NOT_FOUND, peer=peer))
            return
        await gateway(scope, receive, send)

    async def _current(self) -> Gateway | None:
        if self._clock() - self._checked < self._refresh_s:
            return self._gateway
        async with self._lock:
            if self._clock() - self._checked < self._refresh_s:
                return self._gateway
            records = await self._hg.list_source_records()
            version = tuple((r.id, r.updated_at) for r in records)
            if version != self._version:
                await self._rebuild()
                self._version = version
            self._checked = self._clock()
            return self._gateway

    async def _rebuild(self) -> None:
        sources = [managed.source for managed in await self._hg.list_sources()]
        old, self._gateway = self._gateway, None
        if sources:
            # every API-managed source carries its own forward secret; the config's default is never used
            config = GatewayConfig(sources=tuple(sources), forward_secret=sources[0].forward_secret or "")
            gateway = Gateway(
                config,
                self._hg,
                limiter=self._limiter,
                observer=self._observer,
                decisions=self._decisions.record,
            )
            await gateway.setup()
            self._gateway = gateway
            log.info("inbound.sources_loaded", sources=[s.name for s in sources])
        if old is not None:
            await old.close()

    async def close(self) -> None:
        if self._gateway is not None:
            await self._gateway.close()
        await self._decisions.close()
