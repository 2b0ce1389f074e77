"""The demo's receiving side: the local verifying receivers (HTTP and mTLS) and the OAuth2 token endpoint.

What a receiver checks is each scenario's business (``hookgate.demo.scenarios``): the receiver finds the
scenario by the URL path, hands it the request and the TLS peer certificate, and answers with its verdict.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from hookgate.demo.pki import CLIENT_CN, DemoPki, make_pki
from hookgate.schemes.oauth2 import parse_form

__all__ = ["Receiver", "Receivers", "Recorder", "TokenIssuer", "check_mtls", "peer_common_name", "receiving"]


class Recorder(Protocol):
    """A scenario as a receiver sees it: checks a request and remembers the verdict."""

    def record(self, headers: Mapping[str, str], body: bytes, peercert: Mapping[str, Any] | None) -> bool: ...


class TokenIssuer:
    """A minimal OAuth2 client-credentials token endpoint (client_secret_basic); remembers what it issued."""

    def __init__(self, client_id: str, client_secret: str, *, lifetime_s: int = 3600) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_s = lifetime_s
        self.issued: dict[str, float] = {}  # token -> expiry (Unix seconds)

    def _client(self, authorization: str) -> tuple[str, str] | None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except ValueError:
            return None
        # RFC 6749 2.3.1: both halves are form-urlencoded before base64
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)

    def issue(self, authorization: str, form: Mapping[str, str], *, now: float) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of the token endpoint's answer."""
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client = self._client(authorization)
        if client is None or not (
            secrets.compare_digest(client[0], self.client_id)
            and secrets.compare_digest(client[1], self.client_secret)
        ):
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(24)
        self.issued[token] = now + self.lifetime_s
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_s}

    async def handle(self, request: web.Request) -> web.Response:
        form = parse_form(await request.read())
        status, answer = self.issue(request.headers.get("Authorization", ""), form, now=time.time())
        return web.json_response(answer, status=status)

    def check(self, headers: Mapping[str, str], body: bytes, peercert: Mapping[str, Any] | None) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            raise PermissionError("no Bearer token")
        expiry = self.issued.get(token)
        if expiry is None:
            raise PermissionError("token was not issued by the token endpoint")
        if expiry <= time.time():
            raise PermissionError("token has expired")
        return "token from the local token endpoint"


def peer_common_name(peercert: Mapping[str, Any] | None) -> str | None:
    """The subject CN of a certificate as `ssl.SSLSocket.getpeercert` returns it."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


def check_mtls(headers: Mapping[str, str], body: bytes, peercert: Mapping[str, Any] | None) -> str:
    cn = peer_common_name(peercert)
    if cn is None:
        raise PermissionError("no verified client certificate")
    if cn != CLIENT_CN:
        raise PermissionError(f"client certificate {cn!r} is not the demo client")
    return f"client certificate CN={cn}"


class Receiver:
    """The demo receiver: ``/hook/<row>`` answers 200 when that row's check passes, else 401."""

    def __init__(self, rows: Mapping[str, Recorder]) -> None:
        self.rows = rows

    async def handle(self, request: web.Request) -> web.Response:
        row = self.rows.get(request.match_info.get("row", ""))
        if row is None:
            return web.Response(status=404, text="unknown row")
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        ok = row.record(headers, body, peercert)
        return web.Response(status=200 if ok else 401, text="verified" if ok else "refused")


@dataclass(frozen=True, slots=True)
class Receivers:
    """Where the running receivers listen, and the PKI the mTLS one trusts."""

    http_base: str
    https_base: str
    token_url: str
    pki: DemoPki


@contextlib.asynccontextmanager
async def receiving(rows: Mapping[str, Recorder], issuer: TokenIssuer) -> AsyncIterator[Receivers]:
    """Run the token endpoint and the HTTP and mTLS receivers on loopback ports for the block."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, ctx: ssl.SSLContext | None = None) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx).start()
        return int(runner.addresses[-1][1])

    try:
        token_app = web.Application()
        token_app.router.add_post("/token", issuer.handle)
        token_port = await start(token_app)
        receiver = Receiver(rows)
        pki = make_pki()
        ports = []
        for ctx in (None, pki.server_context()):
            hooks = web.Application()
            hooks.router.add_post("/hook/{row}", receiver.handle)
            ports.append(await start(hooks, ctx))
        yield Receivers(
            f"http://127.0.0.1:{ports[0]}",
            f"https://127.0.0.1:{ports[1]}",
            f"http://127.0.0.1:{token_port}/token",
            pki,
        )
    finally:
        for runner in runners:
            await runner.cleanup()
