"""Secret rotation: Standard Webhooks signing secrets with a grace period, and hookgate's JWS key ring.

Receivers are checked with the reference `standardwebhooks` library and, for JWS, with jwcrypto against the
published JWKS, so the tests hold hookgate to what an independent receiver would accept.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jwcrypto import jwk, jws
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from hookgate.client import Hookgate, NewEndpoint
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, SignatureError
from hookgate.keyring import KeyRing
from hookgate.models import Application, DeliveryStatus, Endpoint, Message, SigningKeyStatus
from hookgate.outbound.request import RequestBuilder
from hookgate.policy.ssrf import AddressPolicy
from hookgate.schemes.jose import JwsVerifier
from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordingReceiver
from hookgate.vault import open_secrets
from tests.support import postgres_dsn

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])
MASTER = {"k1": os.urandom(32)}
SCHEDULE = [0, 0.1]
PAYLOAD = b'{"order":42}'


class Clock:
    """Real time plus an offset the test can move forward (stays within Standard Webhooks' 5 min window)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
async def hg(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> AsyncIterator[Hookgate]:
    store = MemoryStore() if request.param == "memory" else await SQLiteStore.open(tmp_path / "hg.db")
    engine = Hookgate(store, SecretBox(MASTER), clock=clock)
    yield engine
    await engine.close()


@pytest.fixture
async def app(hg: Hookgate) -> Application:
    return await hg.create_application("rotation")


def message(app: Application, *, msg_id: str = "msg_rotation") -> Message:
    return Message(
        id=msg_id, app_id=app.id, event_type="order.created", payload=PAYLOAD, created_at=time.time()
    )


def signature_header(headers: dict[str, str]) -> str:
    found = [v for k, v in headers.items() if k.lower() == "webhook-signature"]
    assert len(found) == 1
    return found[0]


def verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


async def fresh(hg: Hookgate, new: NewEndpoint) -> Endpoint:
    return await hg.store.get_endpoint(new.endpoint.id)


async def create(
    hg: Hookgate, app: Application, url: str = "https://127.0.0.1:1/hook", **options: Any
) -> NewEndpoint:
    options.setdefault("retry_schedule", SCHEDULE)
    return await hg.create_endpoint(app.id, url, **options)


# -- 1. signing secret rotation, request by request ---------------------------------------------------


async def test_during_grace_old_and_new_secret_both_verify(hg: Hookgate, app: Application) -> None:
    ep = await create(hg, app)
    old = ep.secret
    assert old is not None
    assert old.startswith("whsec_")

    new = await hg.rotate_secret(ep.endpoint.id, grace_s=3600)
    assert new.startswith("whsec_")
    assert new != old

    request = RequestBuilder(hg.box).build(message(app), await fresh(hg, ep), now=time.time())
    assert len(signature_header(request.headers).split(" ")) == 2
    assert verifies(old, request.body, request.headers)
    assert verifies(new, request.body, request.headers)
    assert not verifies("whsec_" + base64.b64encode(os.urandom(24)).decode(), request.body, request.headers)


async def test_after_grace_only_the_new_secret_verifies(hg: Hookgate, app: Application) -> None:
    ep = await create(hg, app)
    old = ep.secret
    assert old is not None
    new = await hg.rotate_secret(ep.endpoint.id, grace_s=1)
    endpoint = await fresh(hg, ep)
    builder = RequestBuilder(hg.box)

    during = builder.build(message(app), endpoint, now=time.time())
    assert len(signature_header(during.headers).split(" ")) == 2
    assert verifies(old, during.body, during.headers)

    # the same builder (its per-endpoint cache) must drop the old secret once its grace period has ended
    after = builder.build(message(app), endpoint, now=time.time() + 2)
    assert len(signature_header(after.headers).split(" ")) == 1
    assert verifies(new, after.body, after.headers)
    assert not verifies(old, after.body, after.headers)

    # and a fresh builder agrees
    again = RequestBuilder(hg.box).build(message(app), endpoint, now=time.time() + 2)
    assert len(signature_header(again.headers).split(" ")) == 1
    assert not verifies(old, again.body, again.headers)


async def test_rotation_with_a_given_secret_and_zero_grace_drops_the_old_at_once(
    hg: Hookgate, app: Application
) -> None:
    ep = await create(hg, app, secret="whsec_" + base64.b64encode(b"a" * 32).decode())
    given = "whsec_" + base64.b64encode(b"b" * 32).decode()
    assert await hg.rotate_secret(ep.endpoint.id, given, grace_s=0) == given

    endpoint = await fresh(hg, ep)
    opened = open_secrets(SecretBox(MASTER), endpoint.id, endpoint.secrets_sealed)
    assert [(e.value, e.kind, e.expires_at) for e in opened.entries] == [(given, "secret", None)]
    request = RequestBuilder(hg.box).build(message(app), endpoint, now=time.time())
    assert len(signature_header(request.headers).split(" ")) == 1
    assert verifies(given, request.body, request.headers)
    assert not verifies("whsec_" + base64.b64encode(b"a" * 32).decode(), request.body, request.headers)


async def test_rotation_refuses_bad_input(hg: Hookgate, app: Application) -> None:
    ep = await create(hg, app)
    with pytest.raises(ConfigError, match="grace period must not be negative"):
        await hg.rotate_secret(ep.endpoint.id, grace_s=-1)
    with pytest.raises(ConfigError, match="not valid base64"):
        await hg.rotate_secret(ep.endpoint.id, "whsec_not base64!")
    with pytest.raises(ConfigError, match="secret is empty"):
        await hg.rotate_secret(ep.endpoint.id, "")
    unsigned = await create(hg, app, scheme="none")
    with pytest.raises(ConfigError, match="scheme none has no secret to rotate"):
        await hg.rotate_secret(unsigned.endpoint.id)
    keyed = await create(hg, app, scheme="standard-webhooks-ed25519")
    with pytest.raises(ConfigError, match="rotate its keys instead"):
        await hg.rotate_secret(keyed.endpoint.id)
    # failed rotations changed nothing
    endpoint = await fresh(hg, ep)
    assert endpoint.secrets_sealed == ep.endpoint.secrets_sealed
    assert ep.secret is not None
    request = RequestBuilder(hg.box).build(message(app), endpoint, now=time.time())
    assert len(signature_header(request.headers).split(" ")) == 1
    assert verifies(ep.secret, request.body, request.headers)


@pytest.mark.parametrize("grace", [float("nan"), float("inf")])
async def test_rotation_refuses_a_non_finite_grace_period(
    hg: Hookgate, app: Application, grace: float
) -> None:
    ep = await create(hg, app)
    with pytest.raises(ConfigError, match="grace"):
        await hg.rotate_secret(ep.endpoint.id, grace_s=grace)


async def test_rotating_twice_within_grace_keeps_at_most_three(
    hg: Hookgate, app: Application, clock: Clock
) -> None:
    ep = await create(hg, app)
    a = ep.secret
    assert a is not None
    t1 = clock()
    b = await hg.rotate_secret(ep.endpoint.id, grace_s=3600)
    clock.offset = 10.0
    t2 = clock()
    c = await hg.rotate_secret(ep.endpoint.id, grace_s=3600)

    endpoint = await fresh(hg, ep)
    entries = open_secrets(SecretBox(MASTER), endpoint.id, endpoint.secrets_sealed).entries
    assert [e.value for e in entries] == [c, b, a]
    assert entries[0].expires_at is None
    b_end, a_end = entries[1].expires_at, entries[2].expires_at
    assert b_end is not None
    assert a_end is not None
    assert t2 + 3600 - 1 <= b_end <= t2 + 3600 + 1
    # A's end is never pushed back by a later rotation: it keeps the first grace period's end
    assert t1 + 3600 - 1 <= a_end <= t1 + 3600 + 1
    assert a_end < b_end

    request = RequestBuilder(hg.box).build(message(app), endpoint, now=time.time() + 10)
    assert len(signature_header(request.headers).split(" ")) == 3
    for secret in (a, b, c):
        assert verifies(secret, request.body, request.headers)

    # a third rotation: every secret still inside its grace period stays, none gets a longer one
    d = await hg.rotate_secret(ep.endpoint.id, grace_s=3600)
    entries = open_secrets(SecretBox(MASTER), endpoint.id, (await fresh(hg, ep)).secrets_sealed).entries
    assert [e.value for e in entries] == [d, c, b, a]
    assert [e.expires_at is None for e in entries] == [True, False, False, False]


async def test_expired_secrets_are_dropped_on_the_next_rotation(
    hg: Hookgate, app: Application, clock: Clock
) -> None:
    ep = await create(hg, app)
    b = await hg.rotate_secret(ep.endpoint.id, grace_s=1)
    clock.offset = 5.0
    c = await hg.rotate_secret(ep.endpoint.id, grace_s=1)
    entries = open_secrets(SecretBox(MASTER), ep.endpoint.id, (await fresh(hg, ep)).secrets_sealed).entries
    assert [e.value for e in entries] == [c, b]  # A had expired, so it is gone for good


async def test_rotation_keeps_other_credentials(hg: Hookgate, app: Application) -> None:
    ep = await create(hg, app, auth={"type": "api_key", "header": "X-API-Key", "key": "api-key-value-123"})
    new = await hg.rotate_secret(ep.endpoint.id, grace_s=0)
    newer = await hg.rotate_secret(ep.endpoint.id, grace_s=0)
    endpoint = await fresh(hg, ep)
    entries = open_secrets(SecretBox(MASTER), endpoint.id, endpoint.secrets_sealed).entries
    assert [(e.value, e.kind, e.expires_at) for e in entries] == [
        (newer, "secret", None),
        ("api-key-value-123", "auth", None),
    ]
    request = RequestBuilder(hg.box).build(message(app), endpoint, now=time.time())
    assert request.headers["X-API-Key"] == "api-key-value-123"
    assert verifies(newer, request.body, request.headers)
    assert not verifies(new, request.body, request.headers)


# -- 2. signing secret rotation through a worker and a real receiver ------------------------------------


async def run_worker(hg: Hookgate) -> None:
    worker = hg.worker(address_policy=LOOPBACK, idle_poll_s=0.1, shutdown_grace_s=1.0)
    try:
        await worker.run_until_idle(timeout=10)
    finally:
        await worker.close()


async def test_rotation_end_to_end_through_a_worker(
    hg: Hookgate, app: Application, receiver: RecordingReceiver, clock: Clock
) -> None:
    ep = await create(hg, app, receiver.url, allow_insecure=True)
    old = ep.secret
    assert old is not None

    # a first delivery warms the worker's view of the endpoint before the rotation
    first = await hg.publish(app, "order.created", {"n": 1})
    await run_worker(hg)
    new = await hg.rotate_secret(ep.endpoint.id, grace_s=5)

    during = await hg.publish(app, "order.created", {"n": 2})
    await run_worker(hg)
    clock.offset = 6.0
    after = await hg.publish(app, "order.created", {"n": 3})
    await run_worker(hg)

    for result in (first, during, after):
        for d in result.deliveries:
            assert (await hg.store.get_delivery(d.id)).status is DeliveryStatus.DELIVERED
    assert receiver.count == 3
    (b1, h1), (b2, h2), (b3, h3) = [(r.body, r.headers) for r in receiver.requests]
    assert verifies(old, b1, h1)
    assert not verifies(new, b1, h1)
    # during the grace period: a receiver holding only the old and one holding only the new both accept
    assert verifies(old, b2, h2)
    assert verifies(new, b2, h2)
    assert len(signature_header(h2).split(" ")) == 2
    # after it: only the new one
    assert verifies(new, b3, h3)
    assert not verifies(old, b3, h3)
    assert len(signature_header(h3).split(" ")) == 1


# -- 3. JWS signing key ring ---------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
        yield backend
        await backend.close()
    elif request.param == "sqlite":
        backend = await SQLiteStore.open(tmp_path / "ring.db")
        yield backend
        await backend.close()
    else:
        async for dsn in postgres_dsn():
            backend = await PostgresStore.open(dsn)
            yield backend
            await backend.close()


def token_kid(token: bytes) -> str:
    header = token.split(b".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4)))["kid"]
    return kid


def jwcrypto_verify(token: bytes, jwks_doc: dict[str, Any]) -> bytes:
    """An independent receiver: pick the key by kid from the JWKS and verify with jwcrypto."""
    keyset = jwk.JWKSet.from_json(json.dumps(jwks_doc))
    key = keyset.get_key(token_kid(token))
    if key is None:
        raise LookupError("kid not in JWKS")
    obj = jws.JWS()
    obj.deserialize(token.decode())
    obj.verify(key)
    payload: bytes = obj.payload
    return payload


def kids(jwks_doc: dict[str, Any]) -> set[str]:
    return {k["kid"] for k in jwks_doc["keys"]}


async def sign_with(ring: KeyRing, body: bytes) -> bytes:
    signer = await ring.active_signer()
    assert signer is not None
    return signer.sign(body, msg_id="msg_jws", now=time.time()).body


async def test_jws_key_rotation_life_cycle(store: Store) -> None:
    hg = Hookgate(store, SecretBox(MASTER))
    ring = hg.keyring
    assert await ring.active_signer() is None
    assert (await hg.jwks()) == {"keys": []}

    key1 = await ring.generate("ed25519", activate=True)
    assert key1.status is SigningKeyStatus.ACTIVE
    token1 = await sign_with(ring, b'{"n":1}')
    assert token_kid(token1) == key1.kid

    # pending: published, not signing
    key2 = await ring.generate("ec")
    assert key2.status is SigningKeyStatus.PENDING
    assert kids(await hg.jwks()) == {key1.kid, key2.kid}
    assert token_kid(await sign_with(hg.keyring, b'{"n":2}')) == key1.kid
    assert token_kid(await sign_with(ring, b'{"n":2}')) == key1.kid

    # activate key2: it signs, key1 is previous and still published, earlier tokens still verify
    await ring.activate(key2.kid)
    statuses = {k.kid: k.status for k in await ring.keys()}
    assert statuses == {key1.kid: SigningKeyStatus.PREVIOUS, key2.kid: SigningKeyStatus.ACTIVE}
    token2 = await sign_with(ring, b'{"n":3}')
    assert token_kid(token2) == key2.kid
    assert token_kid(await sign_with(hg.keyring, b'{"n":3}')) == key2.kid
    published = await hg.jwks()
    assert kids(published) == {key1.kid, key2.kid}
    for doc in published["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(doc)
    # signature only: hookgate's JWS payloads are the events as they are, without JWT claims
    verifier = JwsVerifier(jwks=[published], claims=None)
    now = time.time()
    assert verifier.verify(token1, now=now).key_id == key1.kid
    assert verifier.verify(token1, now=now).payload == b'{"n":1}'
    assert verifier.verify(token2, now=now).key_id == key2.kid
    assert jwcrypto_verify(token1, published) == b'{"n":1}'
    assert jwcrypto_verify(token2, published) == b'{"n":3}'

    # the active key cannot be retired, a retired key cannot come back
    with pytest.raises(ConfigError, match="is active"):
        await ring.retire(key2.kid)
    await ring.retire(key1.kid)
    published = await hg.jwks()
    assert kids(published) == {key2.kid}
    with pytest.raises(SignatureError):
        JwsVerifier(jwks=[published], claims=None).verify(token1, now=now)
    with pytest.raises(LookupError):
        jwcrypto_verify(token1, published)
    assert JwsVerifier(jwks=[published], claims=None).verify(token2, now=now).key_id == key2.kid
    with pytest.raises(ConfigError, match="retired"):
        await ring.activate(key1.kid)
    statuses = {k.kid: k.status for k in await ring.keys()}
    assert statuses == {key1.kid: SigningKeyStatus.RETIRED, key2.kid: SigningKeyStatus.ACTIVE}
    assert token_kid(await sign_with(hg.keyring, b"{}")) == key2.kid


async def test_jws_payloads_through_a_worker_follow_the_active_key(receiver: RecordingReceiver) -> None:
    hg = Hookgate(MemoryStore(), SecretBox(MASTER))
    app = await hg.create_application("jws")
    await create(
        hg,
        app,
        receiver.url,
        allow_insecure=True,
        scheme="none",
        payload={"format": "jws"},
    )
    key1 = await hg.keyring.generate("ec", activate=True)
    await hg.publish(app, "order.created", {"n": 1})
    await run_worker(hg)
    key2 = await hg.keyring.generate("ed25519")
    await hg.keyring.activate(key2.kid)
    await hg.publish(app, "order.created", {"n": 2})
    await run_worker(hg)

    published = await hg.jwks()
    assert [token_kid(body) for body in receiver.bodies] == [key1.kid, key2.kid]
    assert [jwcrypto_verify(body, published) for body in receiver.bodies] == [b'{"n":1}', b'{"n":2}']
    await hg.close()
