"""A source's configuration: secret and key references resolved (and read again) as outbound endpoints' are,
token claim options, JWE sources that require the sender's inner JWS, route paths in normal form, and every
setting refused when built with the source and the field named (types, ranges, rules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hookgate.config.references import REFERENCE_TTL_S
from hookgate.errors import ConfigError
from hookgate.inbound.asgi import HookgateMiddleware
from hookgate.inbound.pipeline import Accepted, Admission, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.keys import generate_key, load_key, public_pem
from hookgate.schemes.jwt_bearer import body_hash
from tests.inbound._peers import (
    GH_BODY,
    GH_SECRET,
    NOW,
    STRIPE_BODY,
    STRIPE_SECRET,
    Clock,
    captured_audit,
    decisions,
    github_headers,
    stripe_headers,
)

JWT_SECRET = "a-raw-webhook-secret-of-at-least-32-bytes!"
SENDER_PRIV = generate_key("ec")
SENDER_PUB = public_pem(load_key(SENDER_PRIV, private=True))
STRANGER_PRIV = generate_key("ec")
RECEIVER_PRIV = generate_key("rsa")
RECEIVER_PUB = public_pem(load_key(RECEIVER_PRIV, private=True))


async def check(pipeline: Pipeline, body: bytes, headers: dict[str, str]) -> Accepted | Rejection:
    admission = Admission("127.0.0.1", pipeline._clock())
    return await pipeline.verify(admission, body, {k.lower(): v for k, v in headers.items()})


def stripe_with(secret: str) -> Source:
    return Source("stripe", "stripe", secrets=(secret,), event_id="json:id", require_https=False)


# -- item 1: references resolve to the secret, never become the key ---------------------------------------


async def test_an_env_reference_is_the_secret_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_STRIPE_SECRET", STRIPE_SECRET)
    pipeline = Pipeline(stripe_with("env:HOOKGATE_TEST_STRIPE_SECRET"), clock=Clock())
    genuine = await check(pipeline, STRIPE_BODY, stripe_headers())
    assert isinstance(genuine, Accepted), genuine
    # whoever reads the configuration knows the text "env:...": it must not sign anything
    forged = await check(
        pipeline,
        STRIPE_BODY.replace(b"evt_1NxYz", b"evt_2"),
        stripe_headers(secret="env:HOOKGATE_TEST_STRIPE_SECRET"),
    )
    assert isinstance(forged, Rejection)
    assert forged.status == 401


async def test_a_file_reference_is_the_secret_in_the_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "github.secret"
    secret_file.write_text(GH_SECRET + "\n", encoding="utf-8")
    source = Source(
        "github",
        "github",
        secrets=(f"file:{secret_file}",),
        event_id="header:X-GitHub-Delivery",
        require_https=False,
    )
    result = await check(Pipeline(source, clock=Clock()), GH_BODY, github_headers())
    assert isinstance(result, Accepted), result


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"scheme": "stripe", "secrets": ("env:HOOKGATE_TEST_UNSET",)}, r"secrets\[0\].*HOOKGATE_TEST_UNSET"),
        (
            {"scheme": "stripe", "secrets": (STRIPE_SECRET, "file:/nonexistent/hookgate/secret")},
            r"secrets\[1\].*cannot be read",
        ),
        ({"scheme": "jws", "keys": ("env:HOOKGATE_TEST_UNSET",)}, r"keys\[0\].*HOOKGATE_TEST_UNSET"),
        (
            {
                "scheme": "jwe",
                "keys": (RECEIVER_PRIV,),
                "sender_keys": ("env:HOOKGATE_TEST_UNSET",),
            },
            r"sender_keys\[0\].*HOOKGATE_TEST_UNSET",
        ),
        (
            {"scheme": "stripe", "secrets": (STRIPE_SECRET,), "forward_secret": "env:HOOKGATE_TEST_UNSET"},
            r"forward_secret.*HOOKGATE_TEST_UNSET",
        ),
    ],
)
def test_an_unresolvable_reference_is_a_configuration_error_at_load(
    fields: dict[str, Any], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOKGATE_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match=match):
        Source("partner", **fields)
    with pytest.raises(ConfigError, match=match):
        Source.from_mapping("partner", {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})


def test_an_empty_secret_file_is_a_configuration_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        stripe_with(f"file:{empty}")


async def test_a_key_reference_is_resolved_too(tmp_path: Path) -> None:
    key_file = tmp_path / "sender.pem"
    key_file.write_text(SENDER_PUB, encoding="utf-8")
    source = Source("partner", "jws", keys=(f"file:{key_file}",), require_https=False)
    token = pyjwt.encode({"exp": NOW + 60, "jti": "j1"}, SENDER_PRIV, algorithm="ES256").encode()
    result = await check(Pipeline(source, clock=Clock()), token, {})
    assert isinstance(result, Accepted), result
    assert result.event_id == "j1"


async def test_references_are_read_again_on_the_outbound_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = STRIPE_SECRET, "whsec_rotated_5f2b0c8e1d9a4b7c"
    monkeypatch.setenv("HOOKGATE_TEST_ROTATING", old)
    clock = Clock()
    pipeline = Pipeline(stripe_with("env:HOOKGATE_TEST_ROTATING"), clock=clock)

    async def status(secret: str, event: str) -> int:
        body = STRIPE_BODY.replace(b"evt_1NxYz", event.encode())
        result = await check(pipeline, body, stripe_headers(body, ts=int(clock.now), secret=secret))
        return 200 if isinstance(result, Accepted) else result.status

    assert await status(old, "evt_a") == 200
    monkeypatch.setenv("HOOKGATE_TEST_ROTATING", new)
    clock.now += REFERENCE_TTL_S - 1  # not due yet: the secret read last is still the one in use
    assert await status(old, "evt_b") == 200
    assert await status(new, "evt_c") == 401
    clock.now += 1
    assert await status(new, "evt_d") == 200
    assert await status(old, "evt_e") == 401


async def test_a_reference_that_stops_resolving_refuses_as_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_WITHDRAWN", STRIPE_SECRET)
    clock = Clock()
    pipeline = Pipeline(stripe_with("env:HOOKGATE_TEST_WITHDRAWN"), clock=clock)
    assert isinstance(await check(pipeline, STRIPE_BODY, stripe_headers()), Accepted)
    monkeypatch.delenv("HOOKGATE_TEST_WITHDRAWN")
    clock.now += REFERENCE_TTL_S
    body = STRIPE_BODY.replace(b"evt_1NxYz", b"evt_2")
    with captured_audit(monkeypatch) as captured:
        result = await check(pipeline, body, stripe_headers(body, ts=int(clock.now)))
    assert isinstance(result, Rejection)
    assert (result.status, result.reason, result.body) == (
        503,
        "secret_unavailable",
        b'{"error":"unavailable"}',
    )
    assert [d["reason"] for d in decisions(captured)] == ["secret_unavailable"]
    assert all(STRIPE_SECRET not in json.dumps(entry, default=str) for entry in captured)
    # back again: the next request reads it at once
    monkeypatch.setenv("HOOKGATE_TEST_WITHDRAWN", STRIPE_SECRET)
    assert isinstance(await check(pipeline, body, stripe_headers(body, ts=int(clock.now))), Accepted)


def test_references_stay_out_of_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_STRIPE_SECRET", STRIPE_SECRET)
    source = stripe_with("env:HOOKGATE_TEST_STRIPE_SECRET")
    assert STRIPE_SECRET not in repr(source)
    assert "HOOKGATE_TEST_STRIPE_SECRET" not in repr(source)


async def test_middleware_sources_built_in_code_resolve_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_STRIPE_SECRET", STRIPE_SECRET)
    seen: list[bytes] = []

    async def handler(request: Request) -> Response:
        seen.append(await request.body())
        return JSONResponse({"ok": True})

    source = Source(
        "stripe",
        "stripe",
        secrets=("env:HOOKGATE_TEST_STRIPE_SECRET",),
        path="/hooks/stripe",
        event_id="json:id",
    )
    app = HookgateMiddleware(
        Starlette(routes=[Route("/hooks/stripe", handler, methods=["POST"])]), sources=[source], clock=Clock()
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        ok = await client.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        literal = stripe_headers(secret="env:HOOKGATE_TEST_STRIPE_SECRET")
        forged = await client.post("/hooks/stripe", content=STRIPE_BODY, headers=literal)
    assert (ok.status_code, forged.status_code) == (200, 401)
    assert seen == [STRIPE_BODY]


# -- item 2: token claim options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "options", "match"),
    [
        ("jws", {"requre_exp": False}, r"scheme jws has no option 'requre_exp'; its options are audience"),
        ("jws", {"alg": "ES256"}, r"scheme jws has no option 'alg'"),
        ("stripe", {"issuer": "x"}, r"scheme stripe has no option 'issuer'; it takes none"),
        ("jws", {"require_exp": "no"}, r"scheme_options\.require_exp must be true or false"),
        ("jws", {"issuer": ""}, r"scheme_options\.issuer must be a non-empty string"),
    ],
)
def test_scheme_options_are_checked(scheme: str, options: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"scheme": scheme, "scheme_options": options}
    fields.update({"keys": [SENDER_PUB]} if scheme == "jws" else {"secrets": [STRIPE_SECRET]})
    with pytest.raises(ConfigError, match=match):
        Source.from_mapping("partner", fields)


async def test_an_expired_jws_is_refused_by_the_pipeline() -> None:
    source = Source("partner", "jws", keys=(SENDER_PUB,), require_https=False, tolerance_s=60)
    pipeline = Pipeline(source, clock=Clock())
    for claims in ({"exp": NOW - 3600}, {"exp": NOW + 3600, "nbf": NOW + 600}, {"id": "no exp"}):
        token = pyjwt.encode(claims, SENDER_PRIV, algorithm="ES256").encode()
        result = await check(pipeline, token, {})
        assert isinstance(result, Rejection), claims
        assert result.status == 401
    lax = Source(
        "partner", "jws", keys=(SENDER_PUB,), require_https=False, scheme_options={"require_exp": False}
    )
    token = pyjwt.encode({"id": "no exp"}, SENDER_PRIV, algorithm="ES256").encode()
    assert isinstance(await check(Pipeline(lax, clock=Clock()), token, {}), Accepted)


# -- item 3: jti as the replay key ------------------------------------------------------------------------


def jwt_bearer(body: bytes, **claims: Any) -> dict[str, str]:
    payload = {"iat": NOW, "exp": NOW + 60, "body_sha256": body_hash(body), **claims}
    return {"Authorization": "Bearer " + pyjwt.encode(payload, JWT_SECRET.encode(), algorithm="HS256")}


async def test_a_replayed_standard_jwt_reaches_the_handler_once() -> None:
    calls: list[bytes] = []

    async def handler(request: Request) -> Response:
        calls.append(await request.body())
        return JSONResponse({"ok": True})

    source = Source("partner", "jwt-hs256", secrets=(JWT_SECRET,), path="/hooks/partner")
    app = HookgateMiddleware(
        Starlette(routes=[Route("/hooks/partner", handler, methods=["POST"])]),
        sources=[source],
        clock=Clock(),
    )
    body = b'{"event":"paid"}'
    headers = jwt_bearer(body, jti="tok-1")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        first = await client.post("/hooks/partner", content=body, headers=headers)
        replay = await client.post("/hooks/partner", content=body, headers=headers)
        fresh = await client.post("/hooks/partner", content=body, headers=jwt_bearer(body, jti="tok-2"))
    assert first.status_code == 200
    assert (replay.status_code, replay.json()) == (200, {"status": "already processed"})
    assert fresh.status_code == 200
    assert calls == [body, body]  # the first and the fresh token; never the replay


# -- item 4: JWE sources verify the sender's inner JWS ----------------------------------------------------


def sign_then_encrypt(payload: dict[str, Any], signer: str | None = SENDER_PRIV) -> bytes:
    plaintext = json.dumps(payload).encode()
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
    if signer is not None:
        inner = jc_jws.JWS(plaintext)
        inner.add_signature(
            jc_jwk.JWK.from_pem(signer.encode()), alg="ES256", protected=json.dumps({"alg": "ES256"})
        )
        plaintext = inner.serialize(compact=True).encode()
        protected["cty"] = "JWT"
    token = jc_jwe.JWE(plaintext, protected=json.dumps(protected))
    token.add_recipient(jc_jwk.JWK.from_pem(RECEIVER_PUB.encode()))
    return token.serialize(compact=True).encode()


def jwe_source(**extra: Any) -> Source:
    fields: dict[str, Any] = {
        "keys": (RECEIVER_PRIV,),
        "sender_keys": (SENDER_PUB,),
        "event_id": "json:id",
        "require_https": False,
    }
    fields.update(extra)
    return Source("partner", "jwe", **fields)


async def test_a_sign_then_encrypt_jwe_is_accepted_with_its_event_id() -> None:
    pipeline = Pipeline(jwe_source(), clock=Clock())
    result = await check(pipeline, sign_then_encrypt({"id": "evt_9", "exp": NOW + 60}), {})
    assert isinstance(result, Accepted), result
    assert result.event_id == "evt_9"
    assert json.loads(result.verified.payload) == {"id": "evt_9", "exp": NOW + 60}


async def test_a_jwe_not_signed_by_the_sender_is_refused() -> None:
    pipeline = Pipeline(jwe_source(), clock=Clock())
    for token in (
        sign_then_encrypt({"id": "evt_x", "exp": NOW + 60}, signer=None),
        sign_then_encrypt({"id": "evt_x", "exp": NOW + 60}, signer=STRANGER_PRIV),
    ):
        result = await check(pipeline, token, {})
        assert isinstance(result, Rejection)
        assert result.status == 401


def test_a_jwe_source_without_sender_keys_must_opt_out() -> None:
    with pytest.raises(ConfigError, match=r"source 'partner'.*sender's public keys"):
        jwe_source(sender_keys=())
    with pytest.raises(ConfigError, match="only for scheme jwe"):
        Source("partner", "jws", keys=(SENDER_PUB,), sender_keys=(SENDER_PUB,))
    with pytest.raises(ConfigError, match="jwks_url verifies the inner JWS"):
        jwe_source(
            sender_keys=(),
            jwks_url="https://partner.example/jwks.json",
            scheme_options={"require_signature": False},
        )


async def test_an_unsigned_jwe_source_is_an_explicit_choice() -> None:
    source = jwe_source(sender_keys=(), scheme_options={"require_signature": False})
    result = await check(
        Pipeline(source, clock=Clock()), sign_then_encrypt({"id": "e", "exp": NOW + 9}, None), {}
    )
    assert isinstance(result, Accepted), result
    assert result.event_id == "e"


# -- item 17: route paths in normal form ------------------------------------------------------------------

BAD_PATHS = [
    "/inbound/../api/v1/tokens",
    "/inbound/./github",
    "/inbound/github/..",
    "/inbound/%2e%2e/api/v1/tokens",
    "/inbound/%2E%2E/api",
    "/inbound/a%2fb",
    "/inbound//github",
    "//inbound/github",
    "/inbound/github//",
    "/inbound\\..\\api",
    "/inbound/git hub",
    "/inbound/github?x=1",
    "/inbound/github#x",
    "/in/\u00e9",
    "inbound/github",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_paths_that_are_not_normalised_are_refused(path: str) -> None:
    with pytest.raises(ConfigError, match="source 'stripe': path"):
        Source("stripe", "stripe", secrets=(STRIPE_SECRET,), path=path)
    with pytest.raises(ConfigError, match="path"):
        Source.from_mapping("stripe", {"scheme": "stripe", "secrets": [STRIPE_SECRET], "path": path})


@pytest.mark.parametrize(
    "path", ["/", "/in/stripe", "/in/stripe/", "/hooks/v1.2/stripe", "/a/.well-known/x", "/a/..b"]
)
def test_normal_paths_are_kept(path: str) -> None:
    assert Source("stripe", "stripe", secrets=(STRIPE_SECRET,), path=path).path == path


BASE: dict[str, Any] = {"scheme": "github", "secrets": ["s3cret"]}
JWS: dict[str, Any] = {"scheme": "jws", "jwks_url": "https://partner.example/jwks.json"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # the header rule, not a copy of it
        (
            {**BASE, "event_id": "header:X Delivery"},
            r"event_id: 'X Delivery' is not a valid HTTP header name",
        ),
        ({**BASE, "event_id": "header:" + "X" * 257}, r"event_id: header name .* at most 256"),
        ({**BASE, "event_id": "header:X-Id\n"}, r"event_id: .* is not a valid HTTP header name"),
        ({**BASE, "event_id": "json:id\n"}, r"event_id must be 'header:<Name>' or 'json:<field>'"),
        ({**BASE, "event_id": 5}, r"event_id must be 'header:<Name>' or 'json:<field>'"),
        # the URL rule
        ({**JWS, "jwks_url": "https://127.1/jwks"}, r"jwks_url host '127\.1' is not an IPv4 address"),
        ({**JWS, "jwks_url": "https://partner.example/jwks\r\n"}, r"jwks_url contains '\\r'"),
        ({**JWS, "jwks_url": "http://partner.example/jwks"}, r"jwks_url must use https \(jwks_insecure"),
        ({**JWS, "jwks_url": 5}, r"jwks_url must be a string"),
        # switches are booleans, not truthy strings
        (
            {**JWS, "jwks_url": "http://partner.example/jwks", "jwks_insecure": "no"},
            r"jwks_insecure must be true",
        ),
        ({**BASE, "jwks_insecure": "yes"}, r"jwks_insecure must be true or false"),
        ({**BASE, "require_https": "false"}, r"require_https must be true or false"),
        # numbers: type, finiteness, range
        ({**BASE, "tolerance_s": 300.0}, r"tolerance_s must be a whole number of seconds from 1 to 86400"),
        ({**BASE, "tolerance_s": "300"}, r"tolerance_s must be a whole number"),
        ({**BASE, "tolerance_s": 86401}, r"tolerance_s must be a whole number of seconds from 1 to 86400"),
        ({**BASE, "tolerance_s": 0}, r"tolerance_s must be"),
        ({**BASE, "idempotency_ttl_s": float("inf")}, r"idempotency_ttl_s must be a positive number"),
        ({**BASE, "idempotency_ttl_s": "60"}, r"idempotency_ttl_s must be a positive number"),
        ({**BASE, "rate_limit_per_s": float("nan")}, r"rate_limit_per_s must be a positive number"),
        ({**BASE, "rate_limit_burst": float("inf")}, r"rate_limit_burst must be a number >= 1"),
        ({**BASE, "max_body_bytes": 1024.0}, r"max_body_bytes must be an integer"),
        # scheme options are the registry's: known names, string values
        ({**BASE, "scheme_options": {"prefix": "x"}}, r"scheme github has no option 'prefix'; it takes none"),
        (
            {"scheme": "hmac", "secrets": ["s3cret"], "scheme_options": {"algorithm": ["sha256"]}},
            r"scheme option algorithm must be a string, not list",
        ),
    ],
)
def test_bad_settings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"source 'acme': " + message):
        Source.from_mapping("acme", fields)


@pytest.mark.parametrize("name", ["acme\n", "acme\x00", "", "a" * 65, "a b", 5])
def test_bad_names_are_refused(name: Any) -> None:
    with pytest.raises(ConfigError, match=r"source name .* must be 1-64 characters of \[A-Za-z0-9_.-\]"):
        Source(name, "github", secrets=("s3cret",))


def test_good_settings_are_kept() -> None:
    source = Source.from_mapping(
        "acme", {**BASE, "event_id": "header:X-GitHub-Delivery", "tolerance_s": 86400, "require_https": False}
    )
    assert (source.event_id, source.tolerance_s, source.require_https) == (
        "header:X-GitHub-Delivery",
        86400,
        False,
    )
