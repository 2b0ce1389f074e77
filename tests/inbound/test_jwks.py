"""JWS sources verified against the sender's JWKS URL: fetch, cache, refetch on an unknown kid, failures."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import jwt as pyjwt
import pytest
import trustme
from aiohttp import web
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from hookgate.errors import ConfigError
from hookgate.inbound.pipeline import Accepted, Admission, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.keys import generate_key, jwks_document, load_key, public_pem
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
    options: dict[str, Any] = {
        "jwks_insecure": True,
        "jwks_allow": ("127.0.0.0/8",),
        "require_https": False,
        # JwsSigner signs these payloads as they are, without exp (the claim checks have their own tests)
        "scheme_options": {"require_exp": False},
    }
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
            "only for scheme jws or jwe",
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


# -- the claims of fetched-key tokens, and JWE sources whose inner JWS keys come from the JWKS --------------


async def test_tokens_verified_with_fetched_keys_have_their_claims_checked(server: JwksServer) -> None:
    key, _ = signer()
    server.keys = [key]
    clock = Clock()
    pipeline = Pipeline(source(server.url, scheme_options={}), clock=clock)
    pem = key.as_pem(private=True).decode()
    kid = key.thumbprint()
    try:
        for claims in ({"exp": clock.now - 3600}, {"exp": clock.now + 60, "nbf": clock.now + 3600}, {}):
            token = pyjwt.encode(claims, pem, algorithm="ES256", headers={"kid": kid}).encode()
            result = await check(pipeline, token)
            assert isinstance(result, Rejection), claims
            assert result.status == 401
        token = pyjwt.encode(
            {"exp": clock.now + 60, "jti": "j-1"}, pem, algorithm="ES256", headers={"kid": kid}
        )
        accepted = await check(pipeline, token.encode())
        assert isinstance(accepted, Accepted), accepted
        assert accepted.event_id == "j-1"
    finally:
        await pipeline.close()


def nested(payload: dict[str, Any], signing_key: Any, receiver_public_pem: str) -> bytes:
    """Sign-then-encrypt the way jwcrypto does it."""
    inner = jc_jws.JWS(json.dumps(payload).encode())
    protected = {"alg": "ES256", "kid": signing_key.thumbprint()}
    inner.add_signature(
        jc_jwk.JWK.from_pem(signing_key.as_pem(private=True)), alg="ES256", protected=json.dumps(protected)
    )
    outer = jc_jwe.JWE(
        inner.serialize(compact=True).encode(),
        protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}),
    )
    outer.add_recipient(jc_jwk.JWK.from_pem(receiver_public_pem.encode()))
    return outer.serialize(compact=True).encode()


async def test_a_jwe_source_verifies_the_inner_jws_with_the_fetched_keys(server: JwksServer) -> None:
    sender, _ = signer()
    rotated, _ = signer()
    stranger, _ = signer()
    server.keys = [sender]
    receiver_pem = generate_key("rsa")
    receiver_public = public_pem(load_key(receiver_pem, private=True))
    clock = Clock()
    jwe = Source(
        "partner",
        "jwe",
        keys=(receiver_pem,),
        jwks_url=server.url,
        jwks_insecure=True,
        jwks_allow=("127.0.0.0/8",),
        require_https=False,
        event_id="json:id",
    )
    assert jwe.verifier is None  # the decryption keys alone never verify anything
    pipeline = Pipeline(jwe, clock=clock)
    try:
        ok = await check(pipeline, nested({"id": "e1", "exp": clock.now + 60}, sender, receiver_public))
        assert isinstance(ok, Accepted), ok
        assert ok.event_id == "e1"
        assert json.loads(ok.verified.payload)["id"] == "e1"
        forged = await check(pipeline, nested({"id": "e2", "exp": clock.now + 60}, stranger, receiver_public))
        assert isinstance(forged, Rejection)
        assert forged.status == 401
        expired = await check(
            pipeline, nested({"id": "e3", "exp": clock.now - 3600}, sender, receiver_public)
        )
        assert isinstance(expired, Rejection)
        assert expired.status == 401
        # the sender rotates: its new kid makes the JWKS be fetched again
        server.keys = [sender, rotated]
        clock.now += 31
        after = await check(pipeline, nested({"id": "e4", "exp": clock.now + 60}, rotated, receiver_public))
        assert isinstance(after, Accepted), after
        assert server.hits == 2  # the first fetch, then the rotated kid (the stranger came too soon)
    finally:
        await pipeline.close()
