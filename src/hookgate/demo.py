"""``hookgate demo``: every delivery scheme hookgate speaks, working end to end in one process.

One process runs the hookgate server (management API and delivery worker, SQLite in a temporary directory),
a local receiver (plain HTTP, plus an HTTPS listener that requires a client certificate) and a local OAuth2
token endpoint. The demo creates one endpoint per scheme, publishes a few events, and the receiver checks
every request the way a real receiver of that scheme would, with hookgate's own verifiers and only the
material that receiver would hold (a shared secret, a public key, its own private key, the JWKS).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import secrets
import signal
import ssl
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hookgate.api.app import create_app
from hookgate.api.auth import ADMIN, issue_token
from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.errors import ConfigError
from hookgate.models import DeliveryStatus
from hookgate.outbound.worker import Worker
from hookgate.schemes.claims import ClaimRules
from hookgate.schemes.credentials import ApiKeyVerifier, BasicVerifier
from hookgate.schemes.jose import JweDecrypter, JwsVerifier
from hookgate.schemes.jwt_bearer import JwtBearerVerifier
from hookgate.schemes.oauth2 import parse_form
from hookgate.schemes.standard_webhooks import StandardWebhooksEd25519Verifier, StandardWebhooksVerifier
from hookgate.store.base import AttemptResult

__all__ = ["DemoPki", "Row", "TokenIssuer", "make_pki", "run_demo"]

ONCE_TIMEOUT_S = 30.0
REFRESH_S = 0.5
CLIENT_CN = "hookgate-demo-client"
EVENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("order.created", {"order": 1001, "total": "42.00", "currency": "EUR"}),
    ("order.paid", {"order": 1001, "method": "card"}),
    ("invoice.sent", {"invoice": "INV-7", "order": 1001}),
)

# A check gets the request headers (lower-cased names), the raw body and the TLS peer certificate (or
# None); it returns a short description of what it verified, or raises when the request must be refused.
Check = Callable[[Mapping[str, str], bytes, Mapping[str, Any] | None], str]


@dataclass(slots=True)
class Row:
    """One scheme: its endpoint, how the receiver checks it, and what happened so far."""

    key: str
    title: str
    check: Check
    endpoint_id: str = ""
    url: str = ""
    delivery_ids: set[str] = field(default_factory=set)
    verified: int = 0
    refused: int = 0
    last_refusal: str = ""
    detail: str = ""

    def delivered(self, delivered_ids: set[str]) -> int:
        return len(self.delivery_ids & delivered_ids)

    @property
    def ok(self) -> bool:
        return self.verified > 0

    @property
    def verdict(self) -> str:
        if self.refused and self.verified:
            return f"verified {self.verified}, refused {self.refused} ({self.last_refusal})"
        if self.refused:
            return f"REFUSED {self.refused} ({self.last_refusal})"
        if self.verified:
            return f"verified {self.verified}: {self.detail}"
        return "waiting"

    def record(self, headers: Mapping[str, str], body: bytes, peercert: Mapping[str, Any] | None) -> bool:
        try:
            detail = self.check(headers, body, peercert)
        except Exception as exc:  # noqa: BLE001 - any failed check is a refusal, shown in the table
            self.refused += 1
            self.last_refusal = f"{type(exc).__name__}: {exc}"[:80]
            return False
        self.verified += 1
        self.detail = detail
        return True


# -- the receiver side ---------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class DemoPki:
    """A demo CA, the receiver's server certificate (127.0.0.1) and a client certificate, all PEM."""

    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def server_context(self) -> ssl.SSLContext:
        """The mTLS listener's TLS: our server certificate; a client certificate from the CA required."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory(prefix="hookgate-demo-tls-") as tmp:
            path = Path(tmp) / "server.pem"
            path.write_text(self.server_key + self.server_cert, encoding="ascii")
            ctx.load_cert_chain(path)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=self.ca_cert)
        return ctx


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def make_pki(*, days: int = 2) -> DemoPki:
    """Generate the demo CA and its two leaf certificates (EC P-256, valid from an hour ago for ``days``)."""
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hookgate demo CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName]) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
        )
        return _pem_cert(builder.sign(ca_key, hashes.SHA256())), _pem_key(key)

    server_cert, server_key = leaf(
        "127.0.0.1",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_cert, client_key = leaf(CLIENT_CN, ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName(CLIENT_CN)])
    return DemoPki(_pem_cert(ca_cert), server_cert, server_key, client_cert, client_key)


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

    def __init__(self, rows: Mapping[str, Row]) -> None:
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


# -- the rows ------------------------------------------------------------------------------------------


def _now() -> float:
    return time.time()


def _event(payload: bytes) -> str:
    """A check that the verified payload is one of the demo events (what the application would parse)."""
    data = json.loads(payload)
    if data not in [e for _, e in EVENTS]:
        raise ValueError("verified payload is not a demo event")
    return "payload is a demo event"


@dataclass(slots=True)
class Setup:
    """What the demo needs to create the endpoints (everything the receivers hold is captured in rows)."""

    http_base: str
    https_base: str
    token_url: str
    pki: DemoPki
    jwks: dict[str, Any]


def build_rows(setup: Setup, issuer: TokenIssuer) -> list[tuple[Row, dict[str, Any]]]:
    """Each row with the `Hookgate.create_endpoint` options that go with it (secrets generated here)."""
    hmac_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    apikey_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    api_key = "hgdemo_" + secrets.token_urlsafe(24)
    basic_password = secrets.token_urlsafe(18)
    jwt_secret = secrets.token_urlsafe(32)
    ed_private = ed25519.Ed25519PrivateKey.generate()
    ed_private_pem = ed_private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    ed_public_pem = (
        ed_private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_private_pem = rsa_private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    rsa_public_pem = (
        rsa_private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )

    sw = StandardWebhooksVerifier([hmac_secret])
    sw_ed = StandardWebhooksEd25519Verifier([ed_public_pem])
    api = ApiKeyVerifier([api_key], header="X-API-Key")
    api_sw = StandardWebhooksVerifier([apikey_secret])
    basic = BasicVerifier([("demo", basic_password)])
    jwt = JwtBearerVerifier([jwt_secret], issuer="hookgate-demo", audience="demo-receiver")
    # hookgate signs the event payload as it is, without JWT claims: there is no exp to require
    jws = JwsVerifier(jwks=[setup.jwks], claims=ClaimRules(require_exp=False))
    jwe = JweDecrypter([rsa_private_pem], verify_jwks=[setup.jwks], claims=ClaimRules(require_exp=False))

    def c_hmac(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        sw.verify(b, h, now=_now())
        _event(b)
        return "v1 signature (HMAC-SHA256)"

    def c_ed(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        sw_ed.verify(b, h, now=_now())
        _event(b)
        return "v1a signature (Ed25519 public key)"

    def c_api(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        api.verify(b, h, now=_now())
        api_sw.verify(b, h, now=_now())
        _event(b)
        return "X-API-Key + v1 signature"

    def c_basic(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        basic.verify(b, h, now=_now())
        _event(b)
        return "Basic credentials"

    def c_oauth(h: Mapping[str, str], b: bytes, p: Mapping[str, Any] | None) -> str:
        _event(b)
        return issuer.check(h, b, p)

    def c_jwt(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        jwt.verify(b, h, now=_now())
        _event(b)
        return "HS256 JWT, body_sha256 matches"

    def c_jws(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        verified = jws.verify(b, h, now=_now())
        _event(verified.payload)
        return f"{verified.claims.get('alg')} signature, JWKS kid {str(verified.key_id)[:8]}"

    def c_jwe(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        if b.lstrip().startswith(b"{"):
            raise PermissionError("body is plaintext JSON, not a JWE")
        verified = jwe.verify(b, h, now=_now())
        _event(verified.payload)
        return f"decrypted; inner {verified.claims.get('alg')} signature verified"

    def c_mtls(h: Mapping[str, str], b: bytes, p: Mapping[str, Any] | None) -> str:
        _event(b)
        return check_mtls(h, b, p)

    http = setup.http_base
    insecure = {"allow_insecure": True}
    return [
        (
            Row("hmac", "Standard Webhooks (HMAC-SHA256)", c_hmac),
            {**insecure, "url": f"{http}/hook/hmac", "secret": hmac_secret},
        ),
        (
            Row("ed25519", "Standard Webhooks (Ed25519)", c_ed),
            {
                **insecure,
                "url": f"{http}/hook/ed25519",
                "scheme": "standard-webhooks-ed25519",
                "keys": [ed_private_pem],
            },
        ),
        (
            Row("api-key", "API key + HMAC signature", c_api),
            {
                **insecure,
                "url": f"{http}/hook/api-key",
                "secret": apikey_secret,
                "auth": {"type": "api_key", "header": "X-API-Key", "key": api_key},
            },
        ),
        (
            Row("basic", "HTTP Basic", c_basic),
            {
                **insecure,
                "url": f"{http}/hook/basic",
                "scheme": "none",
                "auth": {"type": "basic", "username": "demo", "password": basic_password},
            },
        ),
        (
            Row("oauth2", "OAuth2 client credentials", c_oauth),
            {
                **insecure,
                "url": f"{http}/hook/oauth2",
                "scheme": "none",
                "auth": {
                    "type": "oauth2",
                    "token_url": setup.token_url,
                    "client_id": issuer.client_id,
                    "client_secret": issuer.client_secret,
                    "scope": "webhooks",
                },
            },
        ),
        (
            Row("jwt", "JWT bearer (HS256, body hash)", c_jwt),
            {
                **insecure,
                "url": f"{http}/hook/jwt",
                "scheme": "none",
                "auth": {
                    "type": "jwt",
                    "secret": jwt_secret,
                    "issuer": "hookgate-demo",
                    "audience": "demo-receiver",
                },
            },
        ),
        (
            Row("jws", "JWS payload (key ring, JWKS)", c_jws),
            {**insecure, "url": f"{http}/hook/jws", "scheme": "none", "payload": {"format": "jws"}},
        ),
        (
            Row("jwe", "JWE payload (RSA, sign-then-encrypt)", c_jwe),
            {
                **insecure,
                "url": f"{http}/hook/jwe",
                "scheme": "none",
                "payload": {"format": "jwe", "public_key": rsa_public_pem, "sign": True},
            },
        ),
        (
            Row("mtls", "mTLS (client certificate)", c_mtls),
            {
                "url": f"{setup.https_base}/hook/mtls",
                "scheme": "none",
                "tls": {
                    "client_cert": setup.pki.client_cert,
                    "client_key": setup.pki.client_key,
                    "ca_bundle": setup.pki.ca_cert,
                },
            },
        ),
    ]


# -- display -------------------------------------------------------------------------------------------


def render_plain(rows: list[Row], delivered_ids: set[str]) -> str:
    header = ("scheme", "endpoint", "delivered", "receiver verdict")
    lines = [(r.title, r.endpoint_id, str(r.delivered(delivered_ids)), r.verdict) for r in rows]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(3)]
    out = []
    for cells in (header, *lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3])
        if cells is header:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))
    return "\n".join(out)


def _rich_table(rows: list[Row], delivered_ids: set[str]) -> Any:
    from rich.table import Table

    table = Table(title="hookgate demo: every delivery scheme, verified by its receiver")
    table.add_column("scheme")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("delivered", justify="right")
    table.add_column("receiver verdict")
    for r in rows:
        style = "green" if r.ok and not r.refused else ("red" if r.refused else "yellow")
        table.add_row(r.title, r.endpoint_id, str(r.delivered(delivered_ids)), f"[{style}]{r.verdict}[/]")
    return table


class Display:
    """A live-refreshing rich table on a terminal; otherwise plain text tables.

    Plain mode prints the table whenever it changed (``follow``) or only once at the end.
    """

    def __init__(self, rows: list[Row], delivered_ids: set[str], out: TextIO, *, follow: bool) -> None:
        self.rows = rows
        self.delivered_ids = delivered_ids
        self.out = out
        self.follow = follow
        self._live: Any = None
        self._last = ""
        if out.isatty():
            with contextlib.suppress(ImportError):
                from rich.console import Console
                from rich.live import Live

                self._live = Live(
                    _rich_table(rows, delivered_ids),
                    console=Console(file=out),
                    refresh_per_second=1 / REFRESH_S,
                )

    def __enter__(self) -> Display:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self.refresh()
            self._live.__exit__(None, None, None)
        else:
            self.refresh(final=True)

    def refresh(self, *, final: bool = False) -> None:
        if self._live is not None:
            self._live.update(_rich_table(self.rows, self.delivered_ids))
            return
        text = render_plain(self.rows, self.delivered_ids)
        if (final or self.follow) and text != self._last:
            self._last = text
            print(text + "\n", file=self.out, flush=True)

    def say(self, message: str) -> None:
        if self._live is not None:
            self._live.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.out, flush=True)


# -- the run -------------------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    # signals belong to run_demo, which stops the worker and receivers after the listener
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _site(app: web.Application, ctx: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    return runner, int(runner.addresses[-1][1])


async def run_demo(
    *,
    once: bool,
    port: int,
    data_dir: Path | None,
    out: TextIO = sys.stdout,
    timeout_s: float = ONCE_TIMEOUT_S,
) -> int:
    """Run the demo; the exit code (0: every row verified, 1: some row was not within ``timeout_s``)."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hookgate-demo-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=data_dir, host="127.0.0.1", port=port, ssrf_allowlist=("127.0.0.0/8",))
        demo = _Demo(settings, out)
        try:
            await demo.start()
            return await demo.watch(once=once, timeout_s=timeout_s)
        finally:
            await demo.close()
    raise AssertionError("unreachable")  # pragma: no cover - mypy cannot see that ExitStack re-raises


class _Demo:
    """The server, the worker and the receivers of one demo run, and its rows."""

    def __init__(self, settings: Settings, out: TextIO) -> None:
        self.settings = settings
        self.out = out
        self.started = time.monotonic()
        self.rows: list[Row] = []
        self.rows_by_key: dict[str, Row] = {}
        self.delivered_ids: set[str] = set()
        self.runners: list[web.AppRunner] = []
        self.stop = asyncio.Event()
        self.banner: list[str] = []
        self.hg: Hookgate | None = None
        self.worker: Worker | None = None
        self.server: _Server | None = None
        self.serve_task: asyncio.Task[None] | None = None
        self.worker_task: asyncio.Task[None] | None = None
        self.loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stop.set)

    def _observe(self, result: AttemptResult) -> None:
        if result.status is DeliveryStatus.DELIVERED:
            self.delivered_ids.add(result.delivery_id)

    async def _receivers(self, issuer: TokenIssuer) -> tuple[str, str, str, DemoPki]:
        """Start the token endpoint and the HTTP and mTLS receivers; their base URLs and the demo PKI."""
        token_app = web.Application()
        token_app.router.add_post("/token", issuer.handle)
        _, token_port = await self._site(token_app)
        receiver = Receiver(self.rows_by_key)
        pki = make_pki()
        ports = []
        for ctx in (None, pki.server_context()):
            hooks = web.Application()
            hooks.router.add_post("/hook/{row}", receiver.handle)
            ports.append((await self._site(hooks, ctx))[1])
        return (
            f"http://127.0.0.1:{ports[0]}",
            f"https://127.0.0.1:{ports[1]}",
            f"http://127.0.0.1:{token_port}/token",
            pki,
        )

    async def _site(
        self, app: web.Application, ctx: ssl.SSLContext | None = None
    ) -> tuple[web.AppRunner, int]:
        runner, port = await _site(app, ctx)
        self.runners.append(runner)
        return runner, port

    async def start(self) -> None:
        settings = self.settings
        self.hg = hg = await Hookgate.open(settings=settings)
        metrics = Metrics()
        self.worker = worker = hg.worker(observers=[metrics.observe_attempt, self._observe], idle_poll_s=0.2)
        api = create_app(hg, metrics=metrics, circuit_states=worker.circuit_states)
        self.server = server = _Server(
            uvicorn.Config(
                api,
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                proxy_headers=False,
                lifespan="off",
            )
        )
        token = await bootstrap(hg)
        if token is None:  # a reused data directory: its first token was shown before; issue one for the demo
            _, token = await issue_token(hg.store, "hookgate demo", ADMIN)
        await hg.keyring.generate("ec", activate=True)

        issuer = TokenIssuer("hookgate-demo", secrets.token_urlsafe(24))
        http_base, https_base, token_url, pki = await self._receivers(issuer)
        setup = Setup(http_base, https_base, token_url, pki, await hg.jwks())
        app = await hg.create_application("hookgate demo")
        for row, options in build_rows(setup, issuer):
            url = options.pop("url")
            new = await hg.create_endpoint(app.id, url, retry_schedule=[0, 1, 2, 5], **options)
            row.endpoint_id, row.url = new.endpoint.id, url
            self.rows_by_key[row.key] = row
            self.rows.append(row)

        self.serve_task = serve_task = asyncio.create_task(server.serve())
        self.worker_task = asyncio.create_task(worker.run())
        while not server.started:
            if serve_task.done():
                raise ConfigError(f"cannot listen on {settings.host}:{settings.port} (is the port in use?)")
            await asyncio.sleep(0.02)
        sockets = [s for srv in server.servers for s in (srv.sockets or ())]
        api_port = int(sockets[0].getsockname()[1]) if sockets else settings.port
        base = f"http://{settings.host}:{api_port}"
        self.banner = [
            f"hookgate API:     {base}/api/v1 (OpenAPI: {base}/openapi.json)",
            f"JWKS:             {base}/.well-known/jwks.json",
            f"admin API token:  {token}",
            f"data directory:   {settings.data_dir}",
            f"receiver:         {http_base}/hook/<scheme>",
            f"mTLS receiver:    {https_base}/hook/mtls (client certificate required)",
            f"token endpoint:   {token_url}",
            f"application:      {app.id} ({len(self.rows)} endpoints, one per scheme)",
        ]
        print("\n".join(self.banner), file=self.out, flush=True)

        for event_type, payload in EVENTS:
            result = await hg.publish(app, event_type, payload)
            for delivery in result.deliveries:
                for row in self.rows:
                    if row.endpoint_id == delivery.endpoint_id:
                        row.delivery_ids.add(delivery.id)

    async def watch(self, *, once: bool, timeout_s: float) -> int:
        """Refresh the table until every row is verified (``once``), the timeout, or Ctrl-C."""
        deadline = time.monotonic() + timeout_s
        code = 0
        announced = False
        with Display(self.rows, self.delivered_ids, self.out, follow=not once) as display:
            while not self.stop.is_set():
                display.refresh()
                if all(r.ok for r in self.rows) and not announced:
                    if once:
                        break
                    announced = True
                    lines = [f"all {len(self.rows)} schemes verified; serving until Ctrl-C", *self.banner]
                    display.say("\n".join(["", *lines, ""]))
                if once and time.monotonic() > deadline:
                    code = 1
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), REFRESH_S)
                if self.worker_task is not None and self.worker_task.done():
                    raise RuntimeError("the delivery worker stopped") from self.worker_task.exception()
            if not once:
                display.say("stopping (Ctrl-C received)")
        elapsed = time.monotonic() - self.started
        if not once:
            return 0
        if code == 0 and not self.stop.is_set():
            print(
                f"all {len(self.rows)} schemes verified by their receivers in {elapsed:.1f} s", file=self.out
            )
            return 0
        print(f"hookgate demo: not every scheme was verified after {elapsed:.1f} s:", file=sys.stderr)
        for r in self.rows:
            if not r.ok:
                print(f"  {r.title} ({r.endpoint_id}): {r.verdict}", file=sys.stderr)
        return 1

    async def close(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.serve_task is not None:
            await asyncio.gather(self.serve_task, return_exceptions=True)
        if self.worker is not None:
            if self.worker_task is not None:
                self.worker.stop()
                await asyncio.gather(self.worker_task, return_exceptions=True)
            await self.worker.close()
        for runner in self.runners:
            await runner.cleanup()
        if self.hg is not None:
            await self.hg.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.remove_signal_handler(signum)
