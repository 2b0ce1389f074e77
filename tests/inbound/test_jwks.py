"""JWS sources verified against the sender's JWKS URL: fetch, cache, refetch on an unknown kid, failures."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from aiohttp import web

from hookgate.errors import ConfigError
from hookgate.inbound.pipeline import Accepted, Admission, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.keys import generate_key, jwks_document, load_key
from hookgate.schemes.jose import JwsSigner


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class JwksServer:
    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.hits = 0
        self.status = 200
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.status != 200:
            return web.Response(status=self.status)
        return web.json_response(jwks_document(self.keys))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"


@pytest.fixture
async def server() -> AsyncIterator[JwksServer]:
    srv = JwksServer()
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield srv
    await runner.cleanup()


def signer() -> tuple[Any, JwsSigner]:
    pem = generate_key("ec")
    return load_key(pem, private=True), JwsSigner(pem)


def source(url: str, **extra: Any) -> Source:
    options: dict[str, Any] = {"jwks_insecure": True, "jwks_allow": ("127.0.0.0/8",), "require_https": False}
    options.update(extra)
    return Source("partner", "jws", jwks_url=url, **options)


async def check(pipeline: Pipeline, body: bytes) -> Accepted | Rejection:
    admission = Admission("127.0.0.1", pipeline._clock())
    return await pipeline.verify(admission, body, {})


async def test_tokens_verify_against_the_fetched_jwks_and_it_is_cached(server: JwksServer) -> None:
    key, jws = signer()
    server.keys = [key]
    clock = Clock()
    pipeline = Pipeline(source(server.url), clock=clock)
    try:
        for n in range(5):
            token = jws.sign(json.dumps({"n": n}).encode(), msg_id=f"m{n}", now=clock()).body
            result = await check(pipeline, token)
            assert isinstance(result, Accepted), result
            assert json.loads(result.verified.payload) == {"n": n}
        assert server.hits == 1
        clock.now += 301  # past the TTL: fetched again
        token = jws.sign(b'{"n":9}', msg_id="m9", now=clock()).body
        assert isinstance(await check(pipeline, token), Accepted)
        assert server.hits == 2
    finally:
        await pipeline.close()


async def test_a_rotated_key_is_picked_up_by_an_early_refetch(server: JwksServer) -> None:
    old_key, old = signer()
    new_key, new = signer()
    server.keys = [old_key]
    clock = Clock()
    pipeline = Pipeline(source(server.url), clock=clock)
    try:
        assert isinstance(await check(pipeline, old.sign(b"{}", msg_id="a", now=clock()).body), Accepted)
        server.keys = [old_key, new_key]  # the sender publishes its new key, then signs with it
        clock.now += 31
        result = await check(pipeline, new.sign(b'{"v":2}', msg_id="b", now=clock()).body)
        assert isinstance(result, Accepted)
        assert result.verified.key_id == new.kid
        assert server.hits == 2
    finally:
        await pipeline.close()


async def test_unknown_kids_do_not_turn_into_a_flood_of_fetches(server: JwksServer) -> None:
    key, _ = signer()
    server.keys = [key]
    clock = Clock()
    pipeline = Pipeline(source(server.url), clock=clock)
    try:
        for n in range(20):
            _, stranger = signer()
            result = await check(pipeline, stranger.sign(b"{}", msg_id=f"x{n}", now=clock()).body)
            assert isinstance(result, Rejection)
            assert result.status == 401
            assert result.body == b'{"error":"unauthorized"}'
        # the first fetch, and no refetch within min_refetch_s however many unknown kids arrive
        assert server.hits == 1
    finally:
        await pipeline.close()


async def test_an_unreachable_jwks_answers_503_so_the_sender_retries(server: JwksServer) -> None:
    key, jws = signer()
    server.keys = [key]
    server.status = 500
    pipeline = Pipeline(source(server.url), clock=Clock())
    try:
        result = await check(pipeline, jws.sign(b"{}", msg_id="a", now=0).body)
        assert isinstance(result, Rejection)
        assert (result.status, result.reason) == (503, "jwks_unavailable")
        assert result.body == b'{"error":"unavailable"}'
    finally:
        await pipeline.close()


async def test_the_jwks_fetch_is_ssrf_guarded(server: JwksServer) -> None:
    key, jws = signer()
    server.keys = [key]
    pipeline = Pipeline(source(server.url, jwks_allow=()), clock=Clock())
    try:
        result = await check(pipeline, jws.sign(b"{}", msg_id="a", now=0).body)
        assert isinstance(result, Rejection)
        assert result.status == 503
        assert server.hits == 0  # refused before connecting
    finally:
        await pipeline.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"scheme": "standard-webhooks", "secrets": ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",)},
            "only for scheme jws",
        ),
        ({"jwks_url": "ftp://x/jwks"}, "https"),
        ({"jwks_url": "http://x/jwks", "jwks_insecure": False}, "must use https"),
        ({"jwks_allow": ("not a cidr",)}, "jwks_allow"),
    ],
)
def test_jwks_settings_are_validated(options: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"scheme": "jws", "jwks_url": "https://partner.example/jwks.json"}
    fields.update(options)
    with pytest.raises(ConfigError, match=match):
        Source("partner", **fields)


def test_a_jwks_source_from_toml() -> None:
    built = Source.from_mapping(
        "partner",
        {"scheme": "jws", "jwks_url": "https://partner.example/jwks.json", "jwks_allow": ["10.0.0.0/8"]},
    )
    assert built.jwks_url == "https://partner.example/jwks.json"
    assert built.jwks_allow == ("10.0.0.0/8",)
    assert built.verifier is None


# -- the JWKS fetch with the source's jwks_tls (a private CA, mutual TLS) --------------------------------


@pytest.fixture(scope="module")
def jwks_pki() -> tuple[trustme.CA, trustme.CA]:
    return trustme.CA(), trustme.CA()


async def https_jwks(
    srv: JwksServer, ca: trustme.CA, client_ca: trustme.CA | None = None
) -> tuple[web.AppRunner, str]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca.cert_pem.bytes().decode())
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", srv.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    return runner, f"https://127.0.0.1:{int(runner.addresses[-1][1])}/.well-known/jwks.json"


@pytest.mark.parametrize("mtls", [False, True], ids=["private-ca", "private-ca-and-mtls"])
async def test_a_jwks_behind_a_private_ca_is_fetched_with_the_sources_jwks_tls(
    jwks_pki: tuple[trustme.CA, trustme.CA], mtls: bool
) -> None:
    ca, client_ca = jwks_pki
    srv = JwksServer()
    key, jws = signer()
    srv.keys = [key]
    runner, url = await https_jwks(srv, ca, client_ca if mtls else None)
    tls: dict[str, Any] = {"ca_bundle": ca.cert_pem.bytes().decode()}
    if mtls:
        leaf = client_ca.issue_cert("hookgate@example")
        tls["client_cert"] = "".join(b.bytes().decode() for b in leaf.cert_chain_pems)
        tls["client_key"] = leaf.private_key_pem.bytes().decode()
    trusted = Pipeline(source(url, jwks_insecure=False, jwks_tls=tls), clock=Clock())
    untrusted = Pipeline(source(url, jwks_insecure=False), clock=Clock())
    try:
        token = jws.sign(b'{"ok":1}', msg_id="a", now=Clock()()).body
        result = await check(trusted, token)
        assert isinstance(result, Accepted), result
        # without jwks_tls the system trust store does not know the private CA: no fetch, 503
        refused = await check(untrusted, token)
        assert isinstance(refused, Rejection)
        assert (refused.status, refused.reason) == (503, "jwks_unavailable")
        assert srv.hits == 1
    finally:
        await trusted.close()
        await untrusted.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"jwks_tls": {"min_version": "1.1"}},
            r"^source 'partner': jwks_tls\.min_version must be one of 1\.2, 1\.3$",
        ),
        (
            {"jwks_tls": {"ca_bundle": "nope"}},
            r"^source 'partner': jwks_tls ca_bundle is not a PEM certificate$",
        ),
        ({"jwks_tls": "ca.pem"}, r"^source 'partner': jwks_tls must be a table"),
        (
            {"jwks_url": None, "keys": ("{}",), "jwks_tls": {"min_version": "1.3"}},
            r"^source 'partner': jwks_tls is only for a source with jwks_url$",
        ),
    ],
)
def test_jwks_tls_is_validated_like_an_endpoints_tls(options: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"scheme": "jws", "jwks_url": "https://partner.example/jwks.json"}
    fields.update(options)
    with pytest.raises(ConfigError, match=match):
        Source("partner", **fields)
