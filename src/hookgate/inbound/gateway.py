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

TLS is terminated here when ``tls_cert``/``tls_key`` are set (TLS 1.2 minimum, 1.3 selectable); with
``client_ca`` every client must present a certificate from those CAs (mutual TLS), checked in the handshake.
An optional plain-HTTP listener either rejects (403) or redirects (308) to the HTTPS one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import signal
import socket
import ssl
import time
import tomllib
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, HookgateError, StoreError
from hookgate.inbound.asgi import Message as ASGIMessage
from hookgate.inbound.asgi import Receive, Scope, Send, check, headers_of, respond
from hookgate.inbound.http_protocol import json_http_protocol
from hookgate.inbound.pipeline import Accepted, Pipeline, Rejection, unrouted
from hookgate.inbound.source import Source
from hookgate.inbound.stores import ClaimState, MemoryRateLimiter, RateLimiter
from hookgate.models import Application, Endpoint, Message, new_id, validate_event_type
from hookgate.outbound.security import parse_security, resolve_secret
from hookgate.outbound.tls import TLS_VERSIONS
from hookgate.outbound.vault import EndpointSecrets, SecretEntry, seal_secrets
from hookgate.policy.ssrf import AddressPolicy
from hookgate.policy.url import validate_url
from hookgate.schemes.registry import body_is_token, build_signer
from hookgate.store.base import PublishResult
from hookgate.tracing import configure_tracing

__all__ = ["GATEWAY_APP_ID", "Gateway", "GatewayConfig", "SignalFreeServer", "run_gateway"]

log = structlog.get_logger("hookgate.gateway")

GATEWAY_APP_ID = "app_gateway"
_GATEWAY_FIELDS = frozenset(
    {
        "host",
        "port",
        "tls_cert",
        "tls_key",
        "client_ca",
        "min_tls_version",
        "http_port",
        "http_mode",
        "forward_secret",
        "database_url",
        "ssrf_allowlist",
        "allow_insecure_forward",
        "workers",
    }
)
_ACCEPTED = b'{"status":"accepted"}'
_DUPLICATE = b'{"status":"already processed"}'
_NOT_FOUND = Rejection(404, "no_such_source")
_HTTPS_ONLY = Rejection(403, "https_required")
_UNAVAILABLE = Rejection(503, "store_unavailable")
_INTERNAL = Rejection(500, "internal_error")
_BAD_REQUEST = Rejection(400, "bad_request")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The ``[gateway]`` table and the ``[sources.*]`` tables of the gateway's TOML file."""

    sources: tuple[Source, ...]
    forward_secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    min_tls_version: str = "1.2"
    http_port: int | None = None
    http_mode: str = "reject"
    database_url: str | None = None
    ssrf_allowlist: tuple[str, ...] = ()
    allow_insecure_forward: bool = False
    workers: bool = True

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.sources:
            raise ConfigError("gateway: at least one [sources.<name>] table is required")
        paths = [s.path for s in self.sources]
        if any(p is None for p in paths) or len(set(paths)) != len(paths):
            raise ConfigError('gateway: every source needs its own path (e.g. path = "/in/stripe")')
        for source in self.sources:
            _check_source(source, self.allow_insecure_forward)
        for name, port in (("port", self.port), ("http_port", self.http_port)):
            if port is not None and (
                isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536
            ):
                raise ConfigError(f"gateway: {name} must be 0-65535")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("gateway: tls_cert and tls_key must be given together")
        if self.client_ca is not None and self.tls_cert is None:
            raise ConfigError("gateway: client_ca (mutual TLS) needs tls_cert and tls_key")
        if self.min_tls_version not in TLS_VERSIONS:
            raise ConfigError(f"gateway: min_tls_version must be one of {', '.join(TLS_VERSIONS)}")
        if self.http_mode not in ("reject", "redirect"):
            raise ConfigError("gateway: http_mode must be 'reject' or 'redirect'")
        if self.http_mode == "redirect" and self.tls_cert is None:
            raise ConfigError("gateway: http_mode = 'redirect' needs an HTTPS listener (tls_cert, tls_key)")
        secret = resolve_secret(self.forward_secret, "gateway.forward_secret")
        try:
            build_signer("standard-webhooks", [secret], [])
        except ConfigError as exc:
            raise ConfigError(f"gateway: forward_secret: {exc}") from None

    @classmethod
    def load(cls, path: Path) -> GatewayConfig:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read gateway config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"gateway config {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(document, base=path.parent)

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any], *, base: Path = Path()) -> GatewayConfig:
        unknown_top = sorted(set(document) - {"gateway", "sources"})
        if unknown_top:
            raise ConfigError(f"gateway config: unknown table(s) {', '.join(unknown_top)}")
        table = dict(document.get("gateway") or {})
        unknown = sorted(set(table) - _GATEWAY_FIELDS)
        if unknown:
            raise ConfigError(f"gateway config: unknown setting(s) {', '.join(unknown)} in [gateway]")
        if "forward_secret" not in table:
            raise ConfigError("gateway config: [gateway] forward_secret is required (whsec_..., env:NAME)")
        for key in ("tls_cert", "tls_key", "client_ca"):
            if key in table:
                table[key] = base / str(table[key])
        if "ssrf_allowlist" in table:
            allow = table["ssrf_allowlist"]
            if not isinstance(allow, list) or not all(isinstance(x, str) for x in allow):
                raise ConfigError("gateway config: ssrf_allowlist must be a list of CIDR strings")
            table["ssrf_allowlist"] = tuple(allow)
        sources = document.get("sources") or {}
        if not isinstance(sources, Mapping):
            raise ConfigError("gateway config: [sources] must be tables ([sources.<name>])")
        built = []
        for name, source_table in sources.items():
            if not isinstance(source_table, Mapping):
                raise ConfigError(f"gateway config: [sources.{name}] must be a table")
            built.append(Source.from_mapping(name, source_table))
        try:
            return cls(sources=tuple(built), **table)
        except TypeError as exc:
            raise ConfigError(f"gateway config: {exc}") from None


def _check_types(config: GatewayConfig) -> None:
    # TOML has real types: a string where a switch belongs ("no") is truthy and must not turn it on
    for name in ("allow_insecure_forward", "workers"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"gateway: {name} must be true or false")
    for name in ("host", "min_tls_version", "http_mode"):
        if not isinstance(getattr(config, name), str):
            raise ConfigError(f"gateway: {name} must be a string")
    if config.database_url is not None and not isinstance(config.database_url, str):
        raise ConfigError("gateway: database_url must be a string")


def _check_source(source: Source, allow_insecure_forward: bool) -> None:
    try:
        validate_event_type(_event_type(source))
    except ConfigError:
        raise ConfigError(
            f"gateway: source name {source.name!r} must be dot-separated words (it names an event type)"
        ) from None
    if source.forward_to is None:
        raise ConfigError(f"gateway: source {source.name!r} needs forward_to (the destination URL)")
    validate_url(
        source.forward_to,
        allow_insecure=allow_insecure_forward,
        what=f"gateway: source {source.name!r}: forward_to",
        insecure_option="allow_insecure_forward",
    )


def _forward_security(source: Source, secret: str, now: float) -> tuple[dict[str, Any], EndpointSecrets]:
    """The forwarding endpoint's settings (``tls`` from the source's forward_tls) and secrets to seal.

    forward_tls goes through the endpoint validator that split it: public certificates into the settings,
    the client key (or its env:/file: reference) into the sealed secrets, as for any endpoint.
    """
    settings, entries = parse_security(None, None, source.forward_tls, now=now)
    return settings, EndpointSecrets((SecretEntry(secret, "secret"), *entries))


class _NoIdempotency:
    """The gateway's duplicates are caught durably by the message idempotency key, not in memory."""

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        return ClaimState.CLAIMED

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        return None

    async def release(self, key: str) -> None:
        return None


def _event_type(source: Source) -> str:
    return f"gateway.{source.name}"


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
    ) -> None:
        self.config = config
        self.hg = hg
        self._clock = clock
        limiter = limiter if limiter is not None else MemoryRateLimiter()
        self._routes = {
            s.path or "": Pipeline(
                s, idempotency=_NoIdempotency(), limiter=limiter, clock=clock, observer=observer
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
        store = self.hg.store
        try:
            await store.get_application(GATEWAY_APP_ID)
        except HookgateError:
            await store.create_application(Application(GATEWAY_APP_ID, "hookgate gateway", self._clock()))
        existing = {e.event_types: e for e in await store.list_endpoints(GATEWAY_APP_ID)}
        box = self.hg.box
        if box is None:
            raise ConfigError("gateway: no master key configured to seal the forwarding secret")
        for source in self.config.sources:
            event_type = _event_type(source)
            secret = source.forward_secret or self.config.forward_secret
            url = source.forward_to or ""  # checked by GatewayConfig (_check_source)
            now = self._clock()
            tls_settings, sealed = _forward_security(source, secret, now)
            endpoint = existing.get((event_type,))
            if endpoint is None:
                endpoint_id = new_id("ep")
                endpoint = Endpoint(
                    id=endpoint_id,
                    app_id=GATEWAY_APP_ID,
                    url=url,
                    created_at=now,
                    updated_at=now,
                    event_types=(event_type,),
                    allow_insecure=self.config.allow_insecure_forward,
                    secrets_sealed=seal_secrets(box, endpoint_id, sealed),
                    settings=tls_settings,
                )
                await store.create_endpoint(endpoint)
            else:
                # version-checked: a worker's concurrent change (a disable after a 410) is not overwritten
                endpoint = await self.hg.edit_endpoint(
                    endpoint.id, self._forwarding(box, url, sealed, tls_settings, now)
                )
                if not endpoint.enabled:
                    await store.set_endpoint_enabled(endpoint.id, True, reason=None, now=now)

    def _forwarding(
        self,
        box: SecretBox,
        url: str,
        sealed: EndpointSecrets,
        tls_settings: dict[str, Any],
        now: float,
    ) -> Callable[[Endpoint], None]:
        """The edit that points a forwarding endpoint at ``url``, signed with the source's forward secret
        alone and using its ``forward_tls`` settings."""

        def edit(endpoint: Endpoint) -> None:
            endpoint.url = url
            endpoint.allow_insecure = self.config.allow_insecure_forward
            endpoint.secrets_sealed = seal_secrets(box, endpoint.id, sealed)
            endpoint.settings = {
                **{k: v for k, v in endpoint.settings.items() if k != "tls"},
                **tls_settings,
            }
            endpoint.updated_at = now

        return edit

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
                _event_type(source),
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


class SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM/SIGINT to its owner (the gateway, ``hookgate serve``).

    uvicorn would re-raise the signal after its own shutdown, ending the process before the delivery
    workers have finished or released their in-flight deliveries.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().serve(sockets)
        except SystemExit:
            # uvicorn answers a listener that cannot start (port in use) with sys.exit(); raised in a task,
            # that would leave the event loop and end the process before our error and orderly shutdown.
            # The owner sees the task end before `started` and reports it.
            return


def _server(app: Any, host: str, port: int, config: GatewayConfig | None) -> SignalFreeServer:
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
    return SignalFreeServer(server_config)


async def _started(servers: list[SignalFreeServer], tasks: list[asyncio.Task[None]]) -> None:
    while not all(s.started for s in servers):
        failed = [t for t in tasks if t.done()]
        if failed:
            errors = [t.exception() for t in failed if not t.cancelled() and t.exception() is not None]
            detail = f": {errors[0]}" if errors else " (is the port in use?)"
            raise ConfigError(f"gateway: a listener failed to start{detail}")
        await asyncio.sleep(0.02)


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
    servers = [_server(gateway, config.host, config.port, config)]
    if config.http_port is not None:
        listener = _HttpListener(config.http_mode, config.port, gateway.routes)
        servers.append(_server(listener, config.host, config.http_port, None))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task[None]] = []
    worker_task: asyncio.Task[None] | None = None
    try:
        await gateway.setup()
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        if config.workers:
            worker_task = asyncio.create_task(worker.run())
        await _started(servers, tasks)
        sources = [s.name for s in config.sources]
        log.info("gateway.start", host=config.host, port=config.port, sources=sources)
        if ready is not None:
            ready()
        await stop.wait()
        log.info("gateway.stopping")
    finally:
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        if worker_task is not None:
            worker.stop()
            await worker_task
        await worker.close()
        await gateway.close()
        if limiter is not None:
            await limiter.close()
        await hg.close()
