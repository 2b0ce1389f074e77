"""The one module that speaks HTTP for outbound delivery.

Everything that can go wrong between "we want to POST this" and "we have a status code" is decided here:

* only ``https://`` targets (``http://`` only when the endpoint explicitly opted in), TLS 1.2 or newer;
* SSRF defence at the socket layer: a ``socket_factory`` on the shared connector checks every address the
  connector is about to dial (after DNS, for IP literals too) against the :class:`AddressPolicy`, so DNS
  rebinding and encodings such as ``[::ffff:127.0.0.1]`` cannot slip past a check made on the URL text;
* no redirects, no cookies, no proxies from the environment, bounded response reads;
* every aiohttp / asyncio / ssl / OS exception is translated into :class:`DeliveryError` (or
  :class:`SSRFError`) carrying ``error_class``, so callers handle hookgate types only.

Error messages name the exception type and the target origin, never header values or the URL's path and
query (both can carry secrets).
"""

from __future__ import annotations

import contextvars
import errno
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import aiohttp
from aiohappyeyeballs import AddrInfoType
from yarl import URL

from hookgate import __version__
from hookgate.errors import DeliveryError, SSRFError
from hookgate.policy.ssrf import AddressPolicy

__all__ = ["Response", "Transport", "delivery_error", "error_class_of"]

ERROR_CLASSES = frozenset(
    {
        "timeout",
        "connect",
        "tls",
        "ssrf",
        "insecure_url",
        "bad_url",
        "tls_config",
        "protocol",
        "response_too_large",
    }
)

# Refusals made by the socket factory during the current `send`. aiohttp runs the factory inside tasks
# spawned by aiohappyeyeballs; those tasks copy the context, so they see the *same* list object that
# `send` installed and appending to it is visible back in `send` after aiohttp has wrapped the error.
_refusals: contextvars.ContextVar[list[SSRFError] | None] = contextvars.ContextVar(
    "hookgate_transport_refusals", default=None
)


def delivery_error(message: str, error_class: str) -> DeliveryError:
    """A `DeliveryError` of ``error_class`` (an `SSRFError` for ``"ssrf"``)."""
    if error_class == "ssrf":
        return SSRFError(message)
    return DeliveryError(message, error_class=error_class)


def error_class_of(exc: BaseException) -> str:
    """The ``error_class`` of a delivery error, else ``"unknown"``."""
    return exc.error_class if isinstance(exc, DeliveryError) else "unknown"


@dataclass(frozen=True, slots=True)
class Response:
    """What came back: status, lower-cased headers, a bounded text excerpt of the body, and timing.

    ``body`` is the raw body up to the transport's ``max_response_bytes`` (OAuth2 token responses need it).
    """

    status: int
    headers: dict[str, str]
    excerpt: str
    duration_ms: float
    body: bytes = field(default=b"", repr=False)


class _AddressRefused(OSError):
    """Raised from the socket factory.

    It must be an OSError: aiohappyeyeballs only records OSError/RuntimeError per address. Any other
    exception escapes unwrapped on the single-address path, and on the happy-eyeballs path it is
    swallowed by the race, leaving aiohappyeyeballs with an empty error list (an IndexError).
    """


def _default_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _check_tls_floor(ctx: ssl.SSLContext) -> None:
    # MINIMUM_SUPPORTED / MAXIMUM_SUPPORTED are negative sentinels, so compare only real versions and
    # treat "whatever the library allows" as below the floor for the minimum.
    floor = ssl.TLSVersion.TLSv1_2
    minimum = ctx.minimum_version
    if minimum == ssl.TLSVersion.MINIMUM_SUPPORTED or (minimum > 0 and minimum < floor):
        raise delivery_error("TLS context allows versions older than TLS 1.2", "tls_config")
    maximum = ctx.maximum_version
    if maximum != ssl.TLSVersion.MAXIMUM_SUPPORTED and 0 < maximum < floor:
        raise delivery_error("TLS context caps the version below TLS 1.2", "tls_config")


def _origin(url: URL) -> str:
    # Path and query may carry tokens; messages name only where we tried to go.
    host = url.raw_host or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{host}:{url.port}"


class Transport:
    """A pooled, SSRF-guarded HTTPS client for delivering webhooks.

    One instance per process (or per worker) is intended: the connector and its pool are shared by all
    endpoints; per-endpoint TLS settings are passed to `send` as an `ssl.SSLContext`.
    """

    def __init__(
        self,
        *,
        address_policy: AddressPolicy,
        connect_timeout: float = 5.0,
        max_response_bytes: int = 64 * 1024,
        max_excerpt: int = 1024,
        user_agent: str = f"hookgate/{__version__}",
        limit: int = 256,
        limit_per_host: int = 32,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_response_bytes < 0 or max_excerpt < 0:
            raise ValueError("max_response_bytes and max_excerpt must not be negative")
        self._policy = address_policy
        self._connect_timeout = connect_timeout
        self._max_response_bytes = max_response_bytes
        self._max_excerpt = max_excerpt
        self._user_agent = user_agent
        self._limit = limit
        self._limit_per_host = limit_per_host
        # Building a context loads the trust store from disk: do it once, not per request. A caller's
        # context (a private CA, tests' trustme CA) replaces the system store but not the TLS 1.2 floor.
        if ssl_context is not None:
            _check_tls_floor(ssl_context)
        self._default_ssl = ssl_context or _default_context()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool. Idempotent; `send` after `close` raises `RuntimeError`."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("Transport is closed")
        if self._session is None:
            # Created lazily: aiohttp binds the connector to the running loop, which __init__ may not have.
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                ssl=self._default_ssl,
                socket_factory=self._socket_factory,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # A webhook target must not be able to plant state that later deliveries replay.
                cookie_jar=aiohttp.DummyCookieJar(),
                # HTTP(S)_PROXY / NO_PROXY / .netrc must not redirect or decorate deliveries.
                trust_env=False,
                # Decompression would let a small compressed body expand past our read bound; we ask
                # for identity and keep whatever arrives raw.
                auto_decompress=False,
                raise_for_status=False,
            )
        return self._session

    def _socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        # Called by aiohappyeyeballs for every address it is about to dial, after DNS resolution and for
        # IP-literal URLs alike: the only place where the checked address is the connected address.
        family, type_, proto, _canonname, sockaddr = addr_info
        try:
            self._policy.check(str(sockaddr[0]))
        except SSRFError as exc:
            refusals = _refusals.get()
            if refusals is not None:
                refusals.append(exc)
            raise _AddressRefused(errno.EACCES, "address refused by outbound address policy") from exc
        return socket.socket(family=family, type=type_, proto=proto)

    # -- the request -------------------------------------------------------------------------------

    def _parse_url(self, url: str, *, insecure_ok: bool) -> URL:
        try:
            parsed = URL(url)
        except (ValueError, TypeError) as exc:
            raise delivery_error("target URL cannot be parsed", "bad_url") from exc
        if parsed.scheme not in {"http", "https"} or not parsed.raw_host:
            raise delivery_error("target URL must be an http(s) URL with a host", "bad_url")
        if parsed.scheme == "http" and not insecure_ok:
            raise delivery_error(f"refusing plain-text delivery to {_origin(parsed)}", "insecure_url")
        return parsed

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        timeout_s: float = 15.0,
        insecure_ok: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Response:
        """Send one request and return the (possibly 3xx/4xx/5xx) response.

        Raises `DeliveryError` (with ``error_class``) when no response could be obtained at all.
        """
        target = self._parse_url(url, insecure_ok=insecure_ok)
        if ssl_context is not None:
            _check_tls_floor(ssl_context)
        session = self._get_session()

        request_headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity"}
        request_headers.update(headers)
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=self._connect_timeout)
        ssl_arg: ssl.SSLContext | bool = (
            (ssl_context or self._default_ssl) if target.scheme == "https" else True
        )

        refusals: list[SSRFError] = []
        token = _refusals.set(refusals)
        started = time.perf_counter()
        try:
            async with session.request(
                method,
                target,
                headers=request_headers,
                data=body,
                allow_redirects=False,
                timeout=timeout,
                ssl=ssl_arg,
            ) as resp:
                raw = await self._read_capped(resp)
                status = resp.status
                resp_headers: dict[str, str] = {}
                for name, value in resp.headers.items():
                    key = name.lower()
                    # Repeated fields are combined as RFC 9110 section 5.3 allows.
                    resp_headers[key] = f"{resp_headers[key]}, {value}" if key in resp_headers else value
        except Exception as exc:  # the translation boundary; CancelledError (a BaseException) passes through
            raise self._translate(exc, target, refusals) from exc
        finally:
            _refusals.reset(token)
        duration_ms = (time.perf_counter() - started) * 1000.0
        # a NUL cannot be stored in a PostgreSQL text column: it would fail the attempt's record, not just
        # garble its excerpt
        excerpt = raw[: self._max_excerpt].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        return Response(
            status=status, headers=resp_headers, excerpt=excerpt, duration_ms=duration_ms, body=raw
        )

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        # Read at most max_response_bytes and stop: a hostile or broken target must not make us buffer
        # an unbounded body. A truncated response's connection is closed rather than pooled, since the
        # unread rest would otherwise be parsed as the next response.
        limit = self._max_response_bytes
        buf = bytearray()
        while len(buf) < limit:
            chunk = await resp.content.read(limit - len(buf))
            if not chunk:
                return bytes(buf)
            buf += chunk
        if not resp.content.at_eof():
            resp.close()
        return bytes(buf)

    @staticmethod
    def _translate(exc: Exception, target: URL, refusals: list[SSRFError]) -> DeliveryError:
        where = _origin(target)
        kind = type(exc).__name__
        if refusals or _ssrf_in_chain(exc):
            first = refusals[0] if refusals else None
            detail = f": {first}" if first is not None else ""
            return delivery_error(f"refused to connect to {where}{detail}", "ssrf")
        # TimeoutError first: aiohttp's timeout errors are also ServerConnectionError / OSError.
        if isinstance(exc, TimeoutError):
            return delivery_error(f"timed out talking to {where} ({kind})", "timeout")
        tls_failure = _tls_failure(exc, where, https=target.scheme == "https")
        if tls_failure is not None:
            return delivery_error(tls_failure, "tls")
        if isinstance(exc, aiohttp.ClientConnectorError):
            strerror = exc.os_error.strerror or kind
            return delivery_error(f"cannot connect to {where}: {strerror}", "connect")
        if isinstance(exc, aiohttp.InvalidURL):
            return delivery_error(f"target URL for {where} is invalid", "bad_url")
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            return delivery_error(f"{where} broke the HTTP exchange ({kind})", "protocol")
        if isinstance(exc, aiohttp.ClientResponseError):
            # str() of this error includes the full URL; keep only the status and the type.
            return delivery_error(f"{where} sent an invalid HTTP response ({kind})", "protocol")
        if isinstance(exc, OSError):
            return delivery_error(f"I/O error talking to {where}: {exc.strerror or kind}", "connect")
        if isinstance(exc, aiohttp.ClientError):
            return delivery_error(f"HTTP client error talking to {where} ({kind})", "protocol")
        # aiohttp raises ValueError for e.g. CR/LF in a header; its message may quote the header value.
        return delivery_error(f"request to {where} could not be sent ({kind})", "protocol")


def _tls_failure(exc: Exception, where: str, *, https: bool) -> str | None:
    """The message when ``exc`` is a TLS failure (verification, handshake, alert), else None."""
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", None) or "certificate rejected"
        return f"TLS certificate of {where} rejected: {reason}"
    alert = _tls_alert_in(exc)
    if alert is not None:
        return f"TLS handshake with {where} failed: {alert}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake with {where} failed ({kind})"
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return f"TLS fingerprint of {where} does not match"
    if (
        https
        and isinstance(exc, aiohttp.ClientConnectorError)
        and isinstance(exc.os_error, (ConnectionResetError, ConnectionAbortedError))
    ):
        # A refused TCP connect is ECONNREFUSED; a reset while connecting an https target means the TCP
        # connection stood and the server dropped it during the TLS handshake without an alert, which
        # asyncio-based servers do when they refuse a client certificate or a TLS version.
        return f"TLS handshake with {where} failed: connection reset by the server"
    return None


# OpenSSL's text for an error: "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required
# (_ssl.c:2580)". aiohttp sometimes keeps only this text (ClientOSError(*ssl_error.args), no cause).
_OPENSSL_REASON = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
_ALERT_TEXT = re.compile(r"\b(?:sslv3|tlsv1|tlsv13) alert [a-z ]+[a-z]")


def _tls_alert_in(exc: BaseException) -> str | None:
    """The reason of an `ssl.SSLError` anywhere behind ``exc``, else None.

    Under TLS 1.3 the server judges the client certificate after the client's handshake is done, so its
    alert (certificate required, unknown CA) surfaces wherever the client happens to be: on connect, while
    writing the request or on the first read. aiohttp then wraps it in a ClientOSError, ServerDisconnected
    or write error, as a ``__cause__``, a ``__context__``, a connector's ``os_error`` or (when no reader was
    waiting yet) only as the wrapper's message: all of those are searched, the ssl error itself first.
    """
    found: str | None = None
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack and len(seen) < 16:  # aiohttp wraps a few levels deep; the bound guards against cycles
        cur = stack.pop(0)
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, aiohttp.ClientConnectorError):
            # checked before ssl.SSLError: aiohttp's ClientConnectorSSLError is itself an (empty) SSLError
            stack.append(cur.os_error)
        elif isinstance(cur, ssl.SSLError):
            return _ssl_reason(cur)
        if found is None:
            found = _alert_text(str(cur))
        stack.extend((cur.__cause__, cur.__context__))
    return found


def _alert_text(text: str) -> str | None:
    reason = _OPENSSL_REASON.search(text)
    if reason is not None:
        return reason.group(1).lower().replace("_", " ")
    alert = _ALERT_TEXT.search(text)
    return alert.group(0) if alert is not None else None


def _ssl_reason(exc: ssl.SSLError) -> str:
    # OpenSSL's reason code ("TLSV13_ALERT_CERTIFICATE_REQUIRED") names the alert without the C file and line
    verify = getattr(exc, "verify_message", None)
    if verify:
        return str(verify)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return _alert_text(str(exc)) or type(exc).__name__


def _ssrf_in_chain(exc: BaseException) -> bool:
    # Fallback for when the contextvar did not see the refusal (e.g. a connection attempt made outside
    # this task's context): follow aiohttp's wrapping (ClientConnectorError -> os_error -> __cause__).
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, (SSRFError, _AddressRefused)):
            return True
        stack.extend((cur.__cause__, cur.__context__))
        if isinstance(cur, aiohttp.ClientConnectorError):
            stack.append(cur.os_error)
    return False
