"""``hookgate serve``: the management API, the inbound sources (``/inbound/...``) and the delivery workers.

First start on an empty database creates an admin API token (printed once, stored only as a hash) and an
active JWS signing key. SIGTERM/SIGINT stop the listener, then the workers finish or release in-flight
deliveries, then the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn

from hookgate.api.app import create_app
from hookgate.api.errors import error_body
from hookgate.api.inbound import InboundRouter
from hookgate.api.metrics import Metrics
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.inbound.http_protocol import json_http_protocol
from hookgate.runtime import Runtime, running
from hookgate.store.base import AttemptResult
from hookgate.tokens import ADMIN
from hookgate.tracing import configure_tracing

__all__ = ["Running", "bootstrap", "run_server", "serving"]

log = structlog.get_logger("hookgate.serve")

BAD_HTTP_REQUEST = json.dumps(
    error_body("bad_request", "the HTTP request could not be parsed"), separators=(",", ":")
).encode()


async def bootstrap(hg: Hookgate) -> str | None:
    """Create the first admin token (returned, to be shown once) and an active signing key, if missing."""
    token = None
    if not await hg.list_api_tokens():
        _, token = await hg.create_api_token("initial admin", ADMIN)
    await hg.keyring.ensure_active()
    return token


@dataclass(frozen=True, slots=True)
class Running:
    """A started server: the port it listens on and the delivery worker's task (None without workers)."""

    port: int
    worker_task: asyncio.Task[None] | None


def _origin(host: str, port: int) -> str:
    """The server's URL origin (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serving(
    hg: Hookgate,
    *,
    metrics: Metrics,
    workers: bool = True,
    observers: Sequence[Callable[[AttemptResult], None]] = (),
    runtime: Runtime | None = None,
    **worker_options: Any,
) -> AsyncIterator[Running]:
    """Serve the API and inbound sources (``hg.settings`` host and port) and run the workers, for the block.

    They run in ``runtime`` (the caller's, with its signal handling: ``run_server``, ``hookgate demo``), or
    in one of their own. On leaving: stop the listener, then let the workers finish or release in-flight
    deliveries.
    """
    settings = hg.settings
    runtime = runtime or Runtime()
    worker = hg.worker(observers=[metrics.observe_attempt, *observers], **worker_options) if workers else None
    circuit_states = worker.circuit_states if worker is not None else None
    api = create_app(hg, metrics=metrics, circuit_states=circuit_states)
    app = InboundRouter(api, hg, observer=metrics.observe_inbound)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        lifespan="off",
        # a request uvicorn cannot parse is answered in the API's error shape too, not in plain text;
        # nothing here speaks WebSocket, so an upgrade request is an ordinary one (answered 404/405)
        http=json_http_protocol(BAD_HTTP_REQUEST),
        ws="none",
    )
    worker_task: asyncio.Task[None] | None = None
    hg.opevents.observers.append(metrics.observe_opevent)
    try:
        port = await runtime.serve(config, hint="use --port")
        if worker is not None:
            worker_task = runtime.start_worker(worker)
        yield Running(port, worker_task)
    finally:
        await runtime.stop()
        if worker is not None and worker_task is None:
            await worker.close()  # never started (the listener failed): the runtime does not own it
        await app.close()
        hg.opevents.observers.remove(metrics.observe_opevent)


async def run_server(
    settings: Settings,
    *,
    workers: bool = True,
    announce: Callable[[str], None] = print,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (``hookgate serve``); then stop in order (`hookgate.runtime`)."""
    if settings.otel_enabled:
        configure_tracing(service_name="hookgate-serve")
    hg = await Hookgate.open(settings=settings)
    metrics = Metrics()
    try:
        async with running() as runtime:
            token = await bootstrap(hg)
            if token is not None:
                announce(f"admin API token (shown once, store it now): {token}")
            async with serving(hg, metrics=metrics, workers=workers, runtime=runtime) as started:
                log.info("serve.start", host=settings.host, port=started.port, workers=workers)
                origin = _origin(settings.host, started.port)
                # the API line comes last: scripts and tests wait for it as the "ready" line
                announce(f"Console: {origin}/ui/")
                announce(f"hookgate API on {origin}/api/v1 (OpenAPI: /openapi.json)")
                if ready is not None:
                    ready(started.port)
                await runtime.wait()
                log.info("serve.stopping")
    finally:
        await hg.close()
