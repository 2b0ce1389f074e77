"""The gateway process: its uvicorn listeners (TLS, mutual TLS, the plain-HTTP reject/redirect side), the
delivery worker that forwards, and an orderly stop on SIGTERM/SIGINT (``hookgate.runtime``).

TLS is terminated here when ``tls_cert``/``tls_key`` are set (TLS 1.2 minimum, 1.3 selectable); with
``client_ca`` every client must present a certificate from those CAs (mutual TLS), checked in the handshake.
An optional plain-HTTP listener either rejects (403) or redirects (308) to the HTTPS one.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import uvicorn

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.errors import ConfigError
from hookgate.gateway.app import Gateway, _lifespan
from hookgate.gateway.config import GatewayConfig
from hookgate.inbound.asgi import Receive, Scope, Send, headers_of, respond
from hookgate.inbound.http_protocol import json_http_protocol
from hookgate.inbound.pipeline import Pipeline, Rejection, unrouted
from hookgate.policy.ssrf import AddressPolicy
from hookgate.runtime import running
from hookgate.tls import TLS_VERSIONS
from hookgate.tracing import configure_tracing

__all__ = ["run_gateway"]

log = structlog.get_logger("hookgate.gateway")

_HTTPS_ONLY = Rejection(403, "https_required")
_BAD_REQUEST = Rejection(400, "bad_request")


class _HttpListener:
    """The plain-HTTP side: refuse (audited like the HTTPS side's refusals), or redirect to HTTPS."""

    def __init__(self, mode: str, https_port: int, routes: Mapping[str, Pipeline] | None = None) -> None:
        self._mode = mode
        self._https_port = https_port
        self._routes = routes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self._mode == "reject":
            # audited like the HTTPS listener's refusals: a sender configured with http:// shows in the log
            client = scope.get("client")
            peer = client[0] if client else None
            pipeline = self._routes.get(scope.get("path", ""))
            if pipeline is None:
                await respond(send, unrouted(_HTTPS_ONLY, peer=peer))
            else:
                await respond(send, pipeline.refuse(_HTTPS_ONLY, peer=peer, headers=headers_of(scope)))
            return
        host = "localhost"
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = _host_without_port(value.decode("latin-1")) or host
        target = f"https://{host}:{self._https_port}{scope.get('path', '/')}"
        query = scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", target.encode("latin-1")), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _host_without_port(value: str) -> str:
    value = value.strip()
    if value.startswith("["):  # [v6] or [v6]:port
        end = value.find("]")
        return value[: end + 1] if end > 0 else ""
    host, sep, port = value.rpartition(":")
    return host if sep and port.isdigit() else value


def _config(app: Any, host: str, port: int, config: GatewayConfig | None) -> uvicorn.Config:
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        # X-Forwarded-* are judged by each source's trusted_proxies in the pipeline, never by uvicorn
        "proxy_headers": False,
        # even a request uvicorn cannot parse gets the generic JSON body; an upgrade is a plain request
        "http": json_http_protocol(_BAD_REQUEST.body),
        "ws": "none",
    }
    if config is not None and config.tls_cert is not None:
        kwargs["ssl_certfile"] = str(config.tls_cert)
        kwargs["ssl_keyfile"] = str(config.tls_key)
        if config.client_ca is not None:
            kwargs["ssl_ca_certs"] = str(config.client_ca)
            kwargs["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    server_config = uvicorn.Config(app, **kwargs)
    try:
        server_config.load()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"gateway: cannot load TLS certificate or key: {exc}") from None
    if server_config.ssl is not None and config is not None:
        server_config.ssl.minimum_version = TLS_VERSIONS[config.min_tls_version]
    return server_config


_FAILED = "gateway: a listener failed to start: "


async def run_gateway(
    config: GatewayConfig, settings: Settings, *, ready: Callable[[], None] | None = None
) -> None:
    """Serve until SIGTERM/SIGINT; then stop the listeners, finish or release deliveries, close the store."""
    if settings.otel_enabled:
        configure_tracing(service_name="hookgate-gateway")
    hg = await Hookgate.open(config.database_url, settings=settings)
    limiter: Any = None
    if settings.redis_url:
        # several gateway processes share rate limits through Redis (atomic on the server)
        from hookgate.inbound.redis_stores import RedisRateLimiter

        limiter = RedisRateLimiter.from_url(settings.redis_url)
    gateway = Gateway(config, hg, limiter=limiter)
    worker = hg.worker(address_policy=AddressPolicy((*settings.ssrf_allowlist, *config.ssrf_allowlist)))
    configs = [(_config(gateway, config.host, config.port, config), "port")]
    if config.http_port is not None:
        listener = _HttpListener(config.http_mode, config.port, gateway.routes)
        configs.append((_config(listener, config.host, config.http_port, None), "http_port"))
    worker_task = None
    try:
        async with running() as runtime:
            await gateway.setup()
            for server_config, key in configs:
                hint = f"change {key} in the [gateway] table"
                await runtime.serve(server_config, prefix=_FAILED, hint=hint)
            if config.workers:
                worker_task = runtime.start_worker(worker)
            sources = [s.name for s in config.sources]
            log.info("gateway.start", host=config.host, port=config.port, sources=sources)
            if ready is not None:
                ready()
            await runtime.wait()
            log.info("gateway.stopping")
    finally:
        if worker_task is None:
            await worker.close()  # never started: the runtime did not take it over
        await gateway.close()
        if limiter is not None:
            await limiter.close()
        await hg.close()
