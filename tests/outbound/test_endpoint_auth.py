"""Endpoint authentication and payload protection end to end: real engine, real worker, real receivers.

Every receiver here checks what it is sent the way a production receiver would (PyJWT, jwcrypto,
standardwebhooks, its own Basic/OAuth2 parsing) and answers 401 when a credential is wrong; the tests then
check both what the receiver accepted and what the store recorded (status, attempts, error class).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
import structlog
import trustme
from jwcrypto import jwe, jwk, jws
from standardwebhooks import Webhook

from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.keys import generate_key, load_key, public_pem
from hookgate.models import Application, Attempt, Delivery, DeliveryStatus
from hookgate.outbound.worker import Worker
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes.oauth2 import parse_form
from hookgate.store.memory import MemoryStore
from hookgate.testing import RecordedRequest, RecordingReceiver, Reply
from hookgate.vault import open_secrets
from tests.support import MakeReceiver

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])
MASTER = {"k1": b"\x01" * 32}
SHORT = [0, 0.1]  # two attempts, then dead
DEADLINE_S = 10.0
JWT_SECRET = "a-jwt-shared-secret-of-more-than-32-chars"
CLIENT_ID = "client-1"
CLIENT_SECRET = "cl:ient sec/ret+1"  # ':' '/' '+' and a space: needs form-encoding in client_secret_basic
FINAL = (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)


# -- receivers -------------------------------------------------------------------------------------------


Check = Callable[[str, dict[str, str], bytes], bool]


def checked(rcv: RecordingReceiver, check: Check) -> Callable[[RecordedRequest], Reply]:
    """Answer 200 when ``check(path, headers with lower-cased names, body)`` holds, else 401; a check that
    raises is a refusal too, its error kept in ``rcv.errors`` for the assertion messages."""

    def respond(request: RecordedRequest) -> Reply:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            ok = check(request.path, headers, request.body)
        except Exception as exc:  # noqa: BLE001 - a failed check is a refusal, kept for the assertion message
            rcv.errors.append(repr(exc))
            ok = False
        return Reply(200, "ok") if ok else Reply(401, "unauthorized")

    return respond


def statuses(rcv: RecordingReceiver, path: str = "/hook") -> list[int]:
    """What the receiver answered at ``path``, in arrival order."""
    return [r.reply.status for r in rcv.requests_to(path) if r.reply is not None]


class TokenServer:
    """An OAuth2 client-credentials token endpoint issuing random tokens; the receiver trusts only these."""

    def __init__(
        self,
        *,
        auth_method: str = "client_secret_basic",
        expires_in: int = 3600,
        scope: str | None = "webhooks:write",
        audience: str | None = "https://receiver.example",
    ) -> None:
        self.auth_method = auth_method
        self.expires_in = expires_in
        self.scope = scope
        self.audience = audience
        self.requests = 0
        self.issued: dict[str, float] = {}  # token -> expiry (monotonic)
        self.revoked: set[str] = set()
        self.refusal: tuple[int, dict[str, str]] | None = None
        self.problems: list[str] = []
        self.base = ""

    @property
    def url(self) -> str:
        return self.base + "/token"

    def _client(self, headers: Mapping[str, str], form: Mapping[str, str]) -> tuple[str, str] | None:
        if self.auth_method == "client_secret_basic":
            if "client_secret" in form:
                self.problems.append("client_secret in the form with client_secret_basic")
            scheme, _, value = headers.get("authorization", "").partition(" ")
            if scheme != "Basic":
                return None
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
            # RFC 6749 2.3.1: both halves are form-urlencoded before base64
            return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
        if "authorization" in headers:
            self.problems.append("Authorization header with client_secret_post")
        return form.get("client_id", ""), form.get("client_secret", "")

    def respond(self, request: RecordedRequest) -> Reply:
        self.requests += 1
        headers = {k.lower(): v for k, v in request.headers.items()}
        form = parse_form(request.body)
        if self.refusal is not None:
            status, error = self.refusal
            return Reply.json(error, status=status)
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            self.problems.append(f"content-type {headers.get('content-type')}")
        if form.get("grant_type") != "client_credentials":
            return Reply.json({"error": "unsupported_grant_type"}, status=400)
        if self._client(headers, form) != (CLIENT_ID, CLIENT_SECRET):
            return Reply.json({"error": "invalid_client"}, status=401)
        if form.get("scope") != self.scope or form.get("audience") != self.audience:
            return Reply.json({"error": "invalid_scope"}, status=400)
        token = secrets.token_urlsafe(24)
        self.issued[token] = time.monotonic() + self.expires_in
        return Reply.json({"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})

    def accepts(self, headers: Mapping[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        expiry = self.issued.get(token)
        return (
            scheme == "Bearer"
            and expiry is not None
            and expiry > time.monotonic()
            and token not in self.revoked
        )

    def tokens_seen(self, receiver: RecordingReceiver) -> list[str]:
        return [s.headers["authorization"].partition(" ")[2] for s in receiver.requests]


Serve = MakeReceiver


@pytest.fixture
def serve(receivers: MakeReceiver) -> Serve:
    """Start a `RecordingReceiver` on 127.0.0.1 (port 0): ``serve(respond, ssl_context=...)``."""
    return receivers


async def receiver(
    serve: Serve, check: Check, ssl_context: ssl.SSLContext | None = None
) -> RecordingReceiver:
    rcv = serve(ssl_context=ssl_context)
    rcv.respond = checked(rcv, check)
    return rcv


async def token_server(
    serve: Serve, ssl_context: ssl.SSLContext | None = None, **options: Any
) -> TokenServer:
    ts = TokenServer(**options)
    ts.base = serve(ts.respond, ssl_context=ssl_context).base_url
    return ts


# -- the engine and worker -------------------------------------------------------------------------------


@pytest.fixture
async def hg() -> AsyncIterator[Hookgate]:
    engine = Hookgate(MemoryStore(), SecretBox(MASTER))
    yield engine
    await engine.close()


@pytest.fixture
async def app(hg: Hookgate) -> Application:
    return await hg.create_application("shop")


@contextlib.asynccontextmanager
async def running(hg: Hookgate) -> AsyncIterator[Worker]:
    worker = hg.worker(address_policy=LOOPBACK, idle_poll_s=0.05, shutdown_grace_s=1.0)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        try:
            await asyncio.wait_for(task, 20)
        finally:
            await worker.close()


async def settle(hg: Hookgate, delivery_ids: list[str], timeout: float = DEADLINE_S) -> dict[str, Delivery]:
    """Poll until every delivery is delivered or dead."""
    deadline = time.monotonic() + timeout
    while True:
        found = {d: await hg.store.get_delivery(d) for d in delivery_ids}
        if all(d.status in FINAL for d in found.values()):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not settled within {timeout} s: {[(d.id, d.status) for d in found.values()]}"
            )
        await asyncio.sleep(0.02)


async def publish(hg: Hookgate, app: Application, payload: object) -> tuple[str, dict[str, Delivery]]:
    """Publish one event; return its message id and its deliveries by endpoint id."""
    result = await hg.publish(app, "order.created", payload)
    return result.message.id, {d.endpoint_id: d for d in result.deliveries}


async def deliver_all(hg: Hookgate, app: Application, payload: object) -> tuple[str, dict[str, Delivery]]:
    """Publish one event and run a worker until all its deliveries are final."""
    msg_id, deliveries = await publish(hg, app, payload)
    async with running(hg):
        final = await settle(hg, [d.id for d in deliveries.values()])
    return msg_id, {d.endpoint_id: d for d in final.values()}


async def attempts(hg: Hookgate, delivery: Delivery) -> list[Attempt]:
    return await hg.store.list_attempts(delivery.id)


def b64url_sha256(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def protected_header(token: str) -> dict[str, Any]:
    head = token.split(".", maxsplit=1)[0]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return result


def verify_jws(token: str, jwks: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """What a receiver does with our JWKS: pick the key by kid, verify, return (header, payload)."""
    keyset = jwk.JWKSet.from_json(json.dumps(jwks))
    signed = jws.JWS()
    signed.deserialize(token)
    header = protected_header(token)
    key = keyset.get_key(header["kid"])
    assert key is not None, f"kid {header['kid']} not in the JWKS"
    signed.verify(key)
    return header, signed.payload


# -- 1-4. static credentials: accepted when right, 401 and retried when wrong -----------------------------


async def check_good_and_bad(
    hg: Hookgate, app: Application, rcv: RecordingReceiver, good: dict[str, Any], bad: dict[str, Any]
) -> tuple[str, Delivery, Delivery]:
    ok_ep = await hg.create_endpoint(
        app.id, rcv.url_for("/good"), auth=good, allow_insecure=True, retry_schedule=SHORT
    )
    bad_ep = await hg.create_endpoint(
        app.id, rcv.url_for("/bad"), auth=bad, allow_insecure=True, retry_schedule=SHORT
    )
    msg_id, final = await deliver_all(hg, app, {"order": 42})
    ok, wrong = final[ok_ep.endpoint.id], final[bad_ep.endpoint.id]

    assert statuses(rcv, "/good") == [200], rcv.errors
    assert ok.status is DeliveryStatus.DELIVERED
    assert ok.attempts == 1
    assert [a.status_code for a in await attempts(hg, ok)] == [200]

    assert statuses(rcv, "/bad") == [401, 401]
    assert wrong.status is DeliveryStatus.DEAD
    assert wrong.attempts == 2
    recorded = await attempts(hg, wrong)
    assert [(a.status_code, a.outcome) for a in recorded] == [
        (401, "http_401"),
        (401, "http_401; retries exhausted"),
    ]
    return msg_id, ok, wrong


async def test_api_key(hg: Hookgate, app: Application, serve: Serve) -> None:
    rcv = await receiver(serve, lambda _p, h, _b: h.get("x-api-key") == "k-123")
    await check_good_and_bad(
        hg,
        app,
        rcv,
        {"type": "api_key", "header": "x-api-key", "key": "k-123"},
        {"type": "api_key", "header": "x-api-key", "key": "k-999"},
    )


def basic_ok(_path: str, headers: dict[str, str], _body: bytes) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return False
    user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    return (user, password) == ("u", "p w:x")


async def test_basic(hg: Hookgate, app: Application, serve: Serve) -> None:
    rcv = await receiver(serve, basic_ok)
    await check_good_and_bad(
        hg,
        app,
        rcv,
        {"type": "basic", "username": "u", "password": "p w:x"},
        {"type": "basic", "username": "u", "password": "p w:y"},
    )


async def test_static_bearer(hg: Hookgate, app: Application, serve: Serve) -> None:
    rcv = await receiver(serve, lambda _p, h, _b: h.get("authorization") == "Bearer tok")
    await check_good_and_bad(
        hg, app, rcv, {"type": "bearer", "token": "tok"}, {"type": "bearer", "token": "tok2"}
    )


async def test_jwt_bearer(hg: Hookgate, app: Application, serve: Serve) -> None:
    accepted: list[dict[str, Any]] = []

    def check(_path: str, headers: dict[str, str], body: bytes) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        assert scheme == "Bearer"
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience="rcv", issuer="hookgate")
        assert claims["body_sha256"] == b64url_sha256(body)
        assert claims["webhook_id"] == headers["webhook-id"]
        assert claims["exp"] - claims["iat"] == 60
        accepted.append(claims)
        return True

    rcv = await receiver(serve, check)
    good = {"type": "jwt", "secret": JWT_SECRET, "issuer": "hookgate", "audience": "rcv"}
    bad = {**good, "secret": "another-secret-that-is-also-32-chars-long"}
    msg_id, _, _ = await check_good_and_bad(hg, app, rcv, good, bad)

    assert len(accepted) == 1
    assert accepted[0]["webhook_id"] == msg_id
    assert any("Signature verification failed" in e for e in rcv.errors)
    # each attempt mints a fresh token: same webhook_id, new jti
    refused = rcv.requests_to("/bad")
    unverified = [
        jwt.decode(s.headers["authorization"].split(" ", 1)[1], options={"verify_signature": False})
        for s in refused
    ]
    assert {c["webhook_id"] for c in unverified} == {msg_id}
    assert len({c["jti"] for c in unverified} | {accepted[0]["jti"]}) == 3


# -- 5. OAuth2 client credentials --------------------------------------------------------------------------


async def oauth_endpoint(
    hg: Hookgate, app: Application, rcv: RecordingReceiver, ts: TokenServer, **extra: Any
) -> str:
    auth: dict[str, Any] = {
        "type": "oauth2",
        "token_url": ts.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "auth_method": ts.auth_method,
    }
    if ts.scope:
        auth["scope"] = ts.scope
    if ts.audience:
        auth["audience"] = ts.audience
    options: dict[str, Any] = {"allow_insecure": True, "retry_schedule": SHORT, "auth": auth}
    options.update(extra)
    new = await hg.create_endpoint(app.id, rcv.url, **options)
    return new.endpoint.id


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_oauth2_twenty_events_share_one_token(
    hg: Hookgate, app: Application, serve: Serve, auth_method: str
) -> None:
    ts = await token_server(serve, auth_method=auth_method)
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h))
    await oauth_endpoint(hg, app, rcv, ts)
    ids = []
    for n in range(20):
        _, deliveries = await publish(hg, app, {"n": n})
        ids += [d.id for d in deliveries.values()]

    async with running(hg) as worker:
        final = await settle(hg, ids)
    assert {d.status for d in final.values()} == {DeliveryStatus.DELIVERED}
    assert {d.attempts for d in final.values()} == {1}
    assert ts.problems == []
    assert ts.requests == 1
    assert worker._sender._tokens.fetches == 1
    assert statuses(rcv) == [200] * 20
    assert set(ts.tokens_seen(rcv)) == set(ts.issued)


async def test_oauth2_token_refreshed_before_expiry(hg: Hookgate, app: Application, serve: Serve) -> None:
    # expires_in=2: TokenPolicy refreshes in the last 20% of a short token's life, i.e. 1.6 s after issue
    ts = await token_server(serve, expires_in=2)
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h))
    await oauth_endpoint(hg, app, rcv, ts)

    async with running(hg) as worker:
        _, first = await publish(hg, app, {"n": 1})
        await settle(hg, [d.id for d in first.values()])
        issued_at = time.monotonic()
        _, second = await publish(hg, app, {"n": 2})
        await settle(hg, [d.id for d in second.values()])
        assert ts.requests == 1  # still fresh: reused
        await asyncio.sleep(max(0.0, issued_at + 1.75 - time.monotonic()))
        _, third = await publish(hg, app, {"n": 3})
        final = await settle(hg, [d.id for d in third.values()])

    assert [d.status for d in final.values()] == [DeliveryStatus.DELIVERED]
    assert ts.requests == 2
    assert worker._sender._tokens.fetches == 2
    assert statuses(rcv) == [200, 200, 200]
    tokens = ts.tokens_seen(rcv)
    assert tokens[0] == tokens[1] != tokens[2]


async def test_oauth2_revoked_token_is_replaced_within_the_attempt(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    ts = await token_server(serve)
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h))
    await oauth_endpoint(hg, app, rcv, ts)

    async with running(hg) as worker:
        _, first = await publish(hg, app, {"n": 1})
        await settle(hg, [d.id for d in first.values()])
        ts.revoked.update(ts.issued)  # the receiver stops accepting the current token
        _, second = await publish(hg, app, {"n": 2})
        final = await settle(hg, [d.id for d in second.values()])

    (delivery,) = final.values()
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1  # the 401 was absorbed by one refresh inside the first attempt
    assert [a.status_code for a in await attempts(hg, delivery)] == [200]
    assert ts.requests == 2
    assert worker._sender._tokens.fetches == 2
    assert statuses(rcv) == [200, 401, 200]
    tokens = ts.tokens_seen(rcv)
    assert tokens[0] == tokens[1] != tokens[2]


async def test_oauth2_token_endpoint_refusal_is_recorded_and_retried(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    ts = await token_server(serve)
    ts.refusal = (400, {"error": "invalid_client", "error_description": "unknown client"})
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h))
    await oauth_endpoint(hg, app, rcv, ts)

    _, final = await deliver_all(hg, app, {"n": 1})
    (delivery,) = final.values()
    assert delivery.status is DeliveryStatus.DEAD
    assert delivery.attempts == 2
    recorded = await attempts(hg, delivery)
    assert [a.error_class for a in recorded] == ["oauth2", "oauth2"]
    assert [a.status_code for a in recorded] == [None, None]
    assert all("invalid_client" in a.response_excerpt for a in recorded)
    # the retry came 0.1 s later, inside the token cache's failure hold: the refusal is reused, not re-asked
    assert ts.requests == 1
    assert rcv.requests == []  # no request left without a token


async def test_oauth2_secrets_never_reach_the_logs(hg: Hookgate, app: Application, serve: Serve) -> None:
    ts = await token_server(serve, auth_method="client_secret_post")
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h))
    await oauth_endpoint(hg, app, rcv, ts)

    with structlog.testing.capture_logs() as captured:
        async with running(hg):
            _, first = await publish(hg, app, {"n": 1})
            await settle(hg, [d.id for d in first.values()])
            ts.revoked.update(ts.issued)
            _, second = await publish(hg, app, {"n": 2})
            await settle(hg, [d.id for d in second.values()])
            ts.refusal = (400, {"error": "invalid_client"})
            ts.revoked.update(ts.issued)
            _, third = await publish(hg, app, {"n": 3})
            final = await settle(hg, [d.id for d in third.values()])

    assert [d.status for d in final.values()] == [DeliveryStatus.DEAD]
    assert len(ts.issued) == 2
    assert [e["status_code"] for e in captured if e.get("event") == "delivery.attempt"] == [
        200,
        200,
        None,
        None,
    ]
    recorded: list[Attempt] = []
    for d in [*first.values(), *second.values(), *third.values()]:
        recorded += await attempts(hg, d)
    text = repr(captured) + repr(recorded)
    forbidden = [CLIENT_SECRET, urllib.parse.quote_plus(CLIENT_SECRET), *ts.issued]
    for value in forbidden:
        assert value not in text


# -- 5b. the token request uses the endpoint's TLS settings ------------------------------------------------


def tls_server(ca: trustme.CA, *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca.cert_pem.bytes().decode())
    return ctx


async def https_oauth_endpoint(
    hg: Hookgate, app: Application, rcv: RecordingReceiver, ts: TokenServer, tls: dict[str, Any]
) -> str:
    auth = {
        "type": "oauth2",
        "token_url": ts.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": ts.scope,
        "audience": ts.audience,
    }
    new = await hg.create_endpoint(app.id, rcv.url, auth=auth, tls=tls, retry_schedule=SHORT)
    return new.endpoint.id


async def test_oauth2_token_endpoint_behind_the_endpoints_private_ca(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    # the README's own example: token_url and receiver both https, both under the CA in tls.ca_bundle
    ca = trustme.CA()
    ts = await token_server(serve, tls_server(ca))
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h), tls_server(ca))
    await https_oauth_endpoint(hg, app, rcv, ts, {"ca_bundle": ca.cert_pem.bytes().decode()})

    _, final = await deliver_all(hg, app, {"n": 1})

    (delivery,) = final.values()
    recorded = await attempts(hg, delivery)
    assert [(a.status_code, a.error_class) for a in recorded] == [(200, None)], recorded
    assert delivery.status is DeliveryStatus.DELIVERED
    assert ts.requests == 1
    assert statuses(rcv) == [200]


async def test_oauth2_token_endpoint_requiring_the_endpoints_client_certificate(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    leaf = client_ca.issue_cert("hookgate@example")
    ts = TokenServer()
    token_endpoint = serve(ts.respond, ssl_context=tls_server(server_ca, client_ca=client_ca))
    ts.base = token_endpoint.base_url
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h), tls_server(server_ca, client_ca=client_ca))
    tls = {
        "ca_bundle": server_ca.cert_pem.bytes().decode(),
        "client_cert": "".join(b.bytes().decode() for b in leaf.cert_chain_pems),
        "client_key": leaf.private_key_pem.bytes().decode(),
    }
    await https_oauth_endpoint(hg, app, rcv, ts, tls)

    _, final = await deliver_all(hg, app, {"n": 1})

    (delivery,) = final.values()
    assert delivery.status is DeliveryStatus.DELIVERED, await attempts(hg, delivery)
    assert ts.requests == 1
    (peer,) = [r.peercert for r in token_endpoint.requests]
    assert ("email", "hookgate@example") in peer["subjectAltName"]


async def test_oauth2_token_endpoint_below_the_endpoints_tls_floor_is_refused(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    ca = trustme.CA()
    capped = tls_server(ca)
    capped.maximum_version = ssl.TLSVersion.TLSv1_2
    ts = await token_server(serve, capped)
    rcv = await receiver(serve, lambda _p, h, _b: ts.accepts(h), tls_server(ca))
    await https_oauth_endpoint(
        hg, app, rcv, ts, {"ca_bundle": ca.cert_pem.bytes().decode(), "min_version": "1.3"}
    )

    _, final = await deliver_all(hg, app, {"n": 1})

    (delivery,) = final.values()
    assert delivery.status is DeliveryStatus.DEAD
    recorded = await attempts(hg, delivery)
    assert recorded[0].error_class == "oauth2"
    assert "token endpoint unreachable: TLS handshake with" in recorded[0].response_excerpt
    assert ts.requests == 0
    assert rcv.requests == []


# -- 6. JWS payloads signed with the key ring ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "ed25519", "rsa"])
async def test_jws_payload_verifies_against_the_jwks(
    hg: Hookgate, app: Application, serve: Serve, kind: str
) -> None:
    key = await hg.keyring.generate(kind, activate=True)
    jwks = await hg.jwks()
    event = {"order": 7, "items": ["a", "é"]}
    got: list[tuple[dict[str, Any], Any]] = []

    def check(_path: str, headers: dict[str, str], body: bytes) -> bool:
        assert headers["content-type"] == "application/jwt"
        header, payload = verify_jws(body.decode("ascii"), jwks)
        got.append((header, json.loads(payload)))
        return True

    rcv = await receiver(serve, check)
    await hg.create_endpoint(app.id, rcv.url, payload={"format": "jws"}, allow_insecure=True)
    _, final = await deliver_all(hg, app, event)

    assert [d.status for d in final.values()] == [DeliveryStatus.DELIVERED], rcv.errors
    ((header, payload),) = got
    assert payload == event
    assert header["kid"] == key.kid
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert header["alg"] == {"ec": "ES256", "ed25519": "EdDSA", "rsa": "RS256"}[kind]
    assert header["typ"] == "JWT"


async def test_jws_payload_without_an_active_key_is_a_config_failure(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    await hg.keyring.generate("ec")  # pending only: published, but nothing signs
    rcv = await receiver(serve, lambda _p, _h, _b: True)
    await hg.create_endpoint(
        app.id, rcv.url, payload={"format": "jws"}, allow_insecure=True, retry_schedule=SHORT
    )
    _, final = await deliver_all(hg, app, {"n": 1})
    (delivery,) = final.values()
    assert delivery.status is DeliveryStatus.DEAD
    recorded = await attempts(hg, delivery)
    assert [a.error_class for a in recorded] == ["config", "config"]
    assert all("active signing key" in a.response_excerpt for a in recorded)
    assert rcv.requests == []


async def test_jws_payload_alg_is_not_configurable(hg: Hookgate, app: Application) -> None:
    # the algorithm follows hookgate's active key; a configured alg could silently disagree with it
    with pytest.raises(ConfigError, match=r"payload \(jws\) has unknown field\(s\) alg"):
        await hg.create_endpoint(
            app.id, "https://receiver.example/hook", payload={"format": "jws", "alg": "Ed25519"}
        )


# -- 7. JWE payloads encrypted to the receiver --------------------------------------------------------


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RSA-OAEP-256"), ("ec", "ECDH-ES+A256KW")])
async def test_jwe_payload_decrypts_at_the_receiver(
    hg: Hookgate, app: Application, serve: Serve, kind: str, alg: str
) -> None:
    private = generate_key(kind)
    receiver_key = jwk.JWK.from_pem(private.encode())
    event = {"card": "4111-1111", "n": 3}
    got: list[tuple[dict[str, Any], Any]] = []

    def check(_path: str, headers: dict[str, str], body: bytes) -> bool:
        assert headers["content-type"] == "application/jose"
        token = jwe.JWE()
        token.deserialize(body.decode("ascii"), key=receiver_key)
        got.append((protected_header(body.decode("ascii")), json.loads(token.payload)))
        return True

    rcv = await receiver(serve, check)
    pub = public_pem(load_key(private, private=True))
    await hg.create_endpoint(
        app.id, rcv.url, payload={"format": "jwe", "public_key": pub}, allow_insecure=True
    )
    _, final = await deliver_all(hg, app, event)

    assert [d.status for d in final.values()] == [DeliveryStatus.DELIVERED], rcv.errors
    ((header, payload),) = got
    assert payload == event
    assert header["alg"] == alg
    assert header["enc"] == "A256GCM"
    assert b"4111" not in rcv.requests[0].body


async def test_jwe_sign_then_encrypt(hg: Hookgate, app: Application, serve: Serve) -> None:
    await hg.keyring.generate("ec", activate=True)
    jwks = await hg.jwks()
    private = generate_key("ec")
    receiver_key = jwk.JWK.from_pem(private.encode())
    event = {"n": 9}
    got: list[Any] = []

    def check(_path: str, _headers: dict[str, str], body: bytes) -> bool:
        outer = jwe.JWE()
        outer.deserialize(body.decode("ascii"), key=receiver_key)
        assert protected_header(body.decode("ascii"))["cty"] == "JWT"
        header, payload = verify_jws(outer.payload.decode("ascii"), jwks)
        assert header["alg"] == "ES256"
        got.append(json.loads(payload))
        return True

    rcv = await receiver(serve, check)
    pub = public_pem(load_key(private, private=True))
    await hg.create_endpoint(
        app.id, rcv.url, payload={"format": "jwe", "public_key": pub, "sign": True}, allow_insecure=True
    )
    _, final = await deliver_all(hg, app, event)
    assert [d.status for d in final.values()] == [DeliveryStatus.DELIVERED], rcv.errors
    assert got == [event]


# -- 8. everything at once ----------------------------------------------------------------------------------


async def test_signature_oauth2_jwe_and_custom_header_together(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    ts = await token_server(serve)
    private = generate_key("rsa")
    receiver_key = jwk.JWK.from_pem(private.encode())
    event = {"everything": True}
    secret_box: list[str] = []
    got: list[Any] = []

    def check(_path: str, headers: dict[str, str], body: bytes) -> bool:
        Webhook(secret_box[0]).verify(
            body, headers, json_parse=False
        )  # signature over the JWE bytes actually sent
        assert ts.accepts(headers)
        assert headers["x-tenant"] == "acme"
        assert headers["content-type"] == "application/jose"
        token = jwe.JWE()
        token.deserialize(body.decode("ascii"), key=receiver_key)
        got.append(json.loads(token.payload))
        return True

    rcv = await receiver(serve, check)
    pub = public_pem(load_key(private, private=True))
    new = await hg.create_endpoint(
        app.id,
        rcv.url,
        allow_insecure=True,
        retry_schedule=SHORT,
        headers={"X-Tenant": "acme"},
        auth={
            "type": "oauth2",
            "token_url": ts.url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": ts.scope,
            "audience": ts.audience,
        },
        payload={"format": "jwe", "public_key": pub},
    )
    assert new.secret is not None
    secret_box.append(new.secret)

    _, final = await deliver_all(hg, app, event)
    assert [(d.status, d.attempts) for d in final.values()] == [(DeliveryStatus.DELIVERED, 1)], rcv.errors
    assert got == [event]
    assert ts.requests == 1
    assert ts.problems == []


# -- 9. validation on save ---------------------------------------------------------------------------------


def _ed25519_public() -> str:
    return public_pem(load_key(generate_key("ed25519"), private=True))


OAUTH = {"type": "oauth2", "token_url": "https://auth.example/token", "client_id": "c", "client_secret": "s"}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown auth type", {"auth": {"type": "digest"}}, r"auth\.type"),
    ("api key without header", {"auth": {"type": "api_key", "key": "k"}}, r"auth \(api_key\) needs header"),
    ("unknown field", {"auth": {"type": "bearer", "token": "t", "tokn": "x"}}, r"unknown field.*tokn"),
    (
        "basic username with ':'",
        {"auth": {"type": "basic", "username": "a:b", "password": "p"}},
        r"auth\.username",
    ),
    ("oauth2 auth_method", {"auth": {**OAUTH, "auth_method": "private_key_jwt"}}, r"auth\.auth_method"),
    (
        "oauth2 http token_url",
        {"auth": {**OAUTH, "token_url": "http://auth.example/token"}},
        r"auth\.token_url",
    ),
    (
        "oauth2 numeric token_url host",
        {"auth": {**OAUTH, "token_url": "https://2130706433/token"}},
        r"auth\.token_url host '2130706433' is not an IPv4 address",
    ),
    (
        "oauth2 token_url with CR LF",
        {"auth": {**OAUTH, "token_url": "https://auth.example/token\r\n"}},
        r"auth\.token_url contains '\\r'",
    ),
    ("jwt lifetime 0", {"auth": {"type": "jwt", "secret": JWT_SECRET, "lifetime": 0}}, r"auth\.lifetime"),
    ("jwe without public_key", {"payload": {"format": "jwe"}}, r"payload \(jwe\) needs public_key"),
    ("jwe with an Ed25519 key", {"payload": {"format": "jwe", "public_key": "ED25519"}}, r"JWE.*public key"),
    (
        "jws alg",
        {"payload": {"format": "jws", "alg": "HS256"}},
        r"payload \(jws\) has unknown field\(s\) alg",
    ),
    ("tls 1.1", {"tls": {"min_version": "1.1"}}, r"tls\.min_version"),
    (
        "unset env",
        {"auth": {"type": "api_key", "header": "x-api-key", "key": "env:HG_TEST_UNSET"}},
        r"auth\.key.*HG_TEST_UNSET",
    ),
]


@pytest.mark.parametrize(("options", "match"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
async def test_invalid_security_settings_are_refused_on_save(
    hg: Hookgate, app: Application, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], match: str
) -> None:
    monkeypatch.delenv("HG_TEST_UNSET", raising=False)
    if options.get("payload", {}).get("public_key") == "ED25519":
        options = {"payload": {"format": "jwe", "public_key": _ed25519_public()}}
    with pytest.raises(ConfigError, match=match):
        await hg.create_endpoint(app.id, "https://receiver.example/hook", **options)
    assert await hg.store.list_endpoints(app.id) == []


async def test_uppercase_http_token_url_is_refused_on_save(hg: Hookgate, app: Application) -> None:
    with pytest.raises(ConfigError, match=r"auth\.token_url"):
        await hg.create_endpoint(
            app.id, "https://receiver.example/hook", auth={**OAUTH, "token_url": "HTTP://auth.example/token"}
        )


async def test_token_url_is_checked_by_the_url_rule_on_update(hg: Hookgate, app: Application) -> None:
    created = await hg.create_endpoint(app.id, "https://receiver.example/hook")
    with pytest.raises(ConfigError, match=r"auth\.token_url port '0' must be a number"):
        await hg.update_endpoint(created.endpoint.id, auth={**OAUTH, "token_url": "https://auth.example:0/t"})
    # http is allowed with allow_insecure, and refused again when allow_insecure is switched off
    insecure = {**OAUTH, "token_url": "http://auth.example/token"}
    await hg.update_endpoint(created.endpoint.id, allow_insecure=True, auth=insecure)
    with pytest.raises(ConfigError, match=r"auth\.token_url must use https"):
        await hg.update_endpoint(created.endpoint.id, allow_insecure=False)


# -- 10. env: and file: references --------------------------------------------------------------------------


@pytest.fixture(params=["env", "file"])
def secret_ref(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[str, str]:
    """(reference, the value it resolves to), from the environment or from a file."""
    value = f"the-{request.param}-value"
    if request.param == "env":
        monkeypatch.setenv("HG_TEST_KEY", value)
        return "env:HG_TEST_KEY", value
    path = tmp_path / "api-key.txt"
    path.write_text(value + "\n", encoding="utf-8")
    return f"file:{path}", value


async def test_secret_references_are_resolved_at_send_and_never_stored(
    hg: Hookgate, app: Application, serve: Serve, secret_ref: tuple[str, str]
) -> None:
    reference, value = secret_ref
    rcv = await receiver(serve, lambda _p, h, _b: h.get("x-api-key") == value)
    new = await hg.create_endpoint(
        app.id,
        rcv.url,
        allow_insecure=True,
        auth={"type": "api_key", "header": "x-api-key", "key": reference},
    )

    stored = await hg.store.get_endpoint(new.endpoint.id)
    for endpoint in (new.endpoint, stored):
        assert endpoint.config.sections()["auth"] == {"type": "api_key", "header": "x-api-key"}
        assert value not in json.dumps(endpoint.config.sections())
        assert value.encode() not in endpoint.secrets_sealed
    assert hg.box is not None
    entries = open_secrets(hg.box, stored.id, stored.secrets_sealed).entries
    assert [e.value for e in entries if e.kind == "auth"] == [reference]
    assert all(value not in e.value for e in entries)

    _, final = await deliver_all(hg, app, {"n": 1})
    assert [d.status for d in final.values()] == [DeliveryStatus.DELIVERED]
    assert statuses(rcv) == [200]
