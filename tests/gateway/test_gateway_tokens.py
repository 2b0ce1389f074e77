"""The gateway configured from TOML, for what issue 10 found: source secrets and keys given as references,
token claims (exp/nbf), replayed standard JWTs, sign-then-encrypt JWE sources, and route paths with dots.

Every request goes through the in-process `Gateway` over a recording memory store: "forwarded" means a message
was stored for the delivery engine, which is what a 200 from the gateway promises.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from hookgate.client import Hookgate
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError
from hookgate.gateway.app import Gateway
from hookgate.gateway.config import GatewayConfig
from hookgate.keys import generate_hmac_secret, generate_key, load_key, public_pem
from hookgate.schemes.jwt_bearer import body_hash
from tests.gateway.test_gateway import RecordingStore, event_body
from tests.inbound._peers import GH_SECRET

FORWARD = generate_hmac_secret()
INBOUND = generate_hmac_secret()
JWT_SECRET = "a-raw-webhook-secret-of-at-least-32-bytes!"
SENDER_PRIV = generate_key("ec")
SENDER_PUB = public_pem(load_key(SENDER_PRIV, private=True))
RECEIVER_PRIV = generate_key("rsa")
RECEIVER_PUB = public_pem(load_key(RECEIVER_PRIV, private=True))
Start = Callable[[str], Awaitable[tuple[httpx.AsyncClient, RecordingStore]]]


def toml(sources: str) -> str:
    return f"""
[gateway]
forward_secret = "{FORWARD}"
allow_insecure_forward = true

{sources}
"""


@pytest.fixture
async def gateway_from(tmp_path: Path) -> AsyncIterator[Start]:
    """Load a TOML text as ``hookgate gateway`` does and serve it in process; yields (client, store)."""
    opened: list[tuple[Gateway, httpx.AsyncClient]] = []

    async def start(text: str) -> tuple[httpx.AsyncClient, RecordingStore]:
        path = tmp_path / "gateway.toml"
        path.write_text(text, encoding="utf-8")
        store = RecordingStore()
        hg = Hookgate(store, SecretBox(parse_master_keys(generate_master_key())))
        gateway = Gateway(GatewayConfig.load(path), hg)
        await gateway.setup()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test")
        opened.append((gateway, client))
        return client, store

    yield start
    for gateway, client in opened:
        await client.aclose()
        await gateway.close()


# -- item 1: references in a gateway TOML -----------------------------------------------------------------


def github_signed(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    """The headers GitHub sends: HMAC-SHA256 of the body with the raw secret, and the delivery id."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


async def test_an_env_reference_in_the_toml_is_the_secret(
    gateway_from: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_GITHUB_SECRET", GH_SECRET)
    client, store = await gateway_from(
        toml("""
[sources.github]
scheme = "github"
secrets = ["env:HOOKGATE_TEST_GITHUB_SECRET"]
event_id = "header:X-GitHub-Delivery"
path = "/in/github"
forward_to = "http://127.0.0.1:9/hooks"
require_https = false
""")
    )
    body = event_body(1)
    ok = await client.post("/in/github", content=body, headers=github_signed(GH_SECRET, body, "d-1"))
    assert (ok.status_code, ok.json()) == (200, {"status": "accepted"})
    # signed with the reference's text, as anyone who reads the TOML could: refused, nothing forwarded
    forged_body = event_body(2)
    forged_headers = github_signed("env:HOOKGATE_TEST_GITHUB_SECRET", forged_body, "d-2")
    forged = await client.post("/in/github", content=forged_body, headers=forged_headers)
    assert forged.status_code == 401
    assert [m.payload for m in store.messages] == [body]


def test_an_unresolvable_reference_in_the_toml_fails_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOKGATE_TEST_UNSET", raising=False)
    path = tmp_path / "gateway.toml"
    for field in ('secrets = ["env:HOOKGATE_TEST_UNSET"]', 'secrets = ["file:/nonexistent/hookgate"]'):
        path.write_text(
            toml(f"""
[sources.acme]
scheme = "standard-webhooks"
{field}
path = "/in/acme"
forward_to = "http://127.0.0.1:9/hooks"
"""),
            encoding="utf-8",
        )
        with pytest.raises(ConfigError, match=r"source 'acme': secrets\[0\] refers to"):
            GatewayConfig.load(path)


# -- item 2: token claims ---------------------------------------------------------------------------------


async def test_an_expired_or_not_yet_valid_jws_is_not_forwarded(gateway_from: Start) -> None:
    client, store = await gateway_from(
        toml(f"""
[sources.partner]
scheme = "jws"
keys = [{json.dumps(SENDER_PUB)}]
path = "/in/partner"
forward_to = "http://127.0.0.1:9/hooks"
require_https = false
""")
    )
    now = int(time.time())
    for claims in (
        {"id": "e1", "exp": now - 3600},
        {"id": "e2", "exp": now + 3600, "nbf": now + 1800},
        {"id": "e3", "exp": now + 3600, "iat": now + 1800},
        {"id": "e4"},
    ):
        token = pyjwt.encode(claims, SENDER_PRIV, algorithm="ES256")
        response = await client.post(
            "/in/partner", content=token, headers={"content-type": "application/jwt"}
        )
        assert response.status_code == 401, claims
    assert store.published == []
    good = pyjwt.encode({"id": "e5", "exp": now + 60}, SENDER_PRIV, algorithm="ES256")
    assert (await client.post("/in/partner", content=good)).status_code == 200
    (message,) = store.messages
    assert json.loads(message.payload) == {"id": "e5", "exp": now + 60}


# -- item 3: a replayed standard JWT is forwarded once -----------------------------------------------------


async def test_a_replayed_hs256_jwt_with_jti_is_forwarded_once(gateway_from: Start) -> None:
    client, store = await gateway_from(
        toml(f"""
[sources.partner]
scheme = "jwt-hs256"
secrets = ["{JWT_SECRET}"]
path = "/in/partner"
forward_to = "http://127.0.0.1:9/hooks"
require_https = false
""")
    )
    body = b'{"event":"paid"}'
    now = int(time.time())
    claims = {"iat": now, "exp": now + 60, "jti": "tok-1", "body_sha256": body_hash(body)}
    headers = {"Authorization": "Bearer " + pyjwt.encode(claims, JWT_SECRET.encode(), algorithm="HS256")}
    first = await client.post("/in/partner", content=body, headers=headers)
    replay = await client.post("/in/partner", content=body, headers=headers)
    assert first.json() == {"status": "accepted"}
    assert replay.json() == {"status": "already processed"}
    (message,) = store.messages
    assert message.idempotency_key == "partner:tok-1"


# -- item 4: sign-then-encrypt JWE sources ------------------------------------------------------------------


def sign_then_encrypt(payload: dict[str, object], signer: str | None = SENDER_PRIV) -> bytes:
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


async def test_a_sign_then_encrypt_jwe_is_forwarded_and_an_unsigned_one_refused(gateway_from: Start) -> None:
    client, store = await gateway_from(
        toml(f"""
[sources.partner]
scheme = "jwe"
keys = [{json.dumps(RECEIVER_PRIV)}]
sender_keys = [{json.dumps(SENDER_PUB)}]
event_id = "json:id"
path = "/in/partner"
forward_to = "http://127.0.0.1:9/hooks"
require_https = false
""")
    )
    now = int(time.time())
    event = {"id": "evt_1", "exp": now + 60}
    ok = await client.post("/in/partner", content=sign_then_encrypt(event))
    assert (ok.status_code, ok.json()) == (200, {"status": "accepted"})
    unsigned = await client.post(
        "/in/partner", content=sign_then_encrypt({"id": "evt_2", "exp": now + 60}, None)
    )
    assert unsigned.status_code == 401
    (message,) = store.messages
    assert json.loads(message.payload) == event  # what the sender signed, not the JWS around it
    assert message.idempotency_key == "partner:evt_1"


def test_a_jwe_source_without_sender_keys_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        toml(f"""
[sources.partner]
scheme = "jwe"
keys = [{json.dumps(RECEIVER_PRIV)}]
path = "/in/partner"
forward_to = "http://127.0.0.1:9/hooks"
"""),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"source 'partner'.*sender's public keys.*require_signature"):
        GatewayConfig.load(path)
    text = path.read_text(encoding="utf-8") + "scheme_options = { require_signature = false }\n"
    path.write_text(text, encoding="utf-8")
    assert GatewayConfig.load(path).sources[0].scheme == "jwe"


# -- item 17: dot-segments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/in/../api/v1/tokens", "/in/%2e%2e/api", "/in//acme", "/in/./acme"])
def test_a_source_path_with_dot_segments_fails_at_load(tmp_path: Path, path: str) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        toml(f"""
[sources.acme]
scheme = "standard-webhooks"
secrets = ["{INBOUND}"]
path = "{path}"
forward_to = "http://127.0.0.1:9/hooks"
"""),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"source 'acme': path"):
        GatewayConfig.load(config)
