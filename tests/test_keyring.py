"""hookgate's JWS signing key ring over the embedded stores (hookgate.keyring)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError, KeyFormatError
from hookgate.keyring import KeyRing
from hookgate.models import SigningKeyStatus
from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import FixedClock

KINDS = ("ed25519", "ec", "rsa")
ALGS = {"ed25519": "EdDSA", "ec": "ES256", "rsa": "RS256"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _box(kid: str = "m1") -> SecretBox:
    return SecretBox({kid: next(iter(parse_master_keys(generate_master_key()).values()))})


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store = (
        MemoryStore() if request.param == "memory" else await SQLiteStore.open(tmp_path / "hg.db")
    )
    yield backend
    await backend.close()


@pytest.fixture
def box() -> SecretBox:
    return _box()


@pytest.fixture
def ring(store: Store, box: SecretBox, clock: FixedClock) -> KeyRing:
    return KeyRing(store, box, clock=clock)


def _verify(token: bytes, jwks: dict[str, object]) -> tuple[dict[str, object], bytes]:
    """Verify a compact JWS with jwcrypto against the published JWKS; return (header, payload)."""
    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(jwks))
    head = token.split(b".")[0]
    header = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    key = keyset.get_key(header["kid"])
    assert key is not None, "token kid is not in the JWKS"
    obj = jwcrypto_jws.JWS()
    obj.deserialize(token.decode("ascii"))
    obj.verify(key)
    return header, obj.payload


async def _status(ring: KeyRing, kid: str) -> SigningKeyStatus:
    return {k.kid: k.status for k in await ring.keys()}[kid]


# --- generate ---


@pytest.mark.parametrize("kind", KINDS)
async def test_generate_is_pending_and_published(ring: KeyRing, kind: str, clock: FixedClock) -> None:
    key = await ring.generate(kind)
    assert key.status is SigningKeyStatus.PENDING
    assert key.kind == kind
    assert key.alg == ALGS[kind]
    assert key.created_at == clock()
    assert b"PRIVATE" not in key.private_sealed

    doc = await ring.jwks()
    assert len(doc["keys"]) == 1
    published = doc["keys"][0]
    assert published["kid"] == key.kid
    assert not PRIVATE_MEMBERS & set(published)
    assert published["use"] == "sig"
    assert published["alg"] == ALGS[kind]
    # the kid is the RFC 7638 thumbprint of the published key
    assert jwcrypto_jwk.JWK(**published).thumbprint() == key.kid
    assert json.loads(key.public_jwk) == published
    # nothing signs yet
    assert await ring.active_signer() is None


async def test_unknown_kind(ring: KeyRing) -> None:
    with pytest.raises(ConfigError, match="signing key type must be one of ed25519, ec, rsa"):
        await ring.generate("dsa")
    with pytest.raises(ConfigError):
        await ring.generate("hmac")
    assert await ring.keys() == []


async def test_each_key_has_its_own_kid(ring: KeyRing) -> None:
    a = await ring.generate()
    b = await ring.generate()
    assert a.kid != b.kid
    assert {k["kid"] for k in (await ring.jwks())["keys"]} == {a.kid, b.kid}


# --- activate and sign ---


@pytest.mark.parametrize("kind", KINDS)
async def test_active_signer_signs_verifiable_tokens(ring: KeyRing, kind: str) -> None:
    key = await ring.generate(kind)
    active = await ring.activate(key.kid)
    assert active.status is SigningKeyStatus.ACTIVE
    signer = await ring.active_signer()
    assert signer is not None
    assert signer.kid == key.kid
    assert signer.alg == ALGS[kind]
    signed = signer.sign(b'{"event":"order.paid"}', msg_id="msg_1", now=0)
    header, payload = _verify(signed.body, await ring.jwks())
    assert header["kid"] == key.kid
    assert header["alg"] == ALGS[kind]
    assert payload == b'{"event":"order.paid"}'


async def test_generate_with_activate(ring: KeyRing, clock: FixedClock) -> None:
    key = await ring.generate("ec", activate=True)
    assert key.status is SigningKeyStatus.ACTIVE
    assert key.activated_at == clock()
    signer = await ring.active_signer()
    assert signer is not None
    assert signer.kid == key.kid


async def test_activating_another_demotes_the_first(ring: KeyRing) -> None:
    first = await ring.generate(activate=True)
    old_signer = await ring.active_signer()
    assert old_signer is not None
    old_token = old_signer.sign(b"old", msg_id="m0", now=0).body

    second = await ring.generate("ec")
    await ring.activate(second.kid)
    assert await _status(ring, first.kid) is SigningKeyStatus.PREVIOUS
    assert await _status(ring, second.kid) is SigningKeyStatus.ACTIVE
    assert [k.status for k in await ring.keys()].count(SigningKeyStatus.ACTIVE) == 1

    doc = await ring.jwks()
    assert {k["kid"] for k in doc["keys"]} == {first.kid, second.kid}
    # tokens in flight signed with the previous key still verify
    assert _verify(old_token, doc)[1] == b"old"
    new_signer = await ring.active_signer()
    assert new_signer is not None
    assert new_signer.kid == second.kid
    assert _verify(new_signer.sign(b"new", msg_id="m1", now=0).body, doc)[0]["kid"] == second.kid


async def test_reactivating_a_previous_key(ring: KeyRing) -> None:
    first = await ring.generate(activate=True)
    second = await ring.generate(activate=True)
    await ring.activate(first.kid)
    assert await _status(ring, first.kid) is SigningKeyStatus.ACTIVE
    assert await _status(ring, second.kid) is SigningKeyStatus.PREVIOUS


# --- retire ---


async def test_retire_previous_removes_it_from_jwks(ring: KeyRing, clock: FixedClock) -> None:
    first = await ring.generate(activate=True)
    second = await ring.generate(activate=True)
    clock.advance(10)
    retired = await ring.retire(first.kid)
    assert retired.status is SigningKeyStatus.RETIRED
    assert retired.retired_at == clock()
    assert {k["kid"] for k in (await ring.jwks())["keys"]} == {second.kid}
    # still listed, just not published
    assert {k.kid for k in await ring.keys()} == {first.kid, second.kid}


async def test_retire_pending(ring: KeyRing) -> None:
    key = await ring.generate()
    await ring.retire(key.kid)
    assert (await ring.jwks())["keys"] == []


async def test_retiring_the_active_key_is_refused(ring: KeyRing) -> None:
    key = await ring.generate(activate=True)
    with pytest.raises(ConfigError, match="is active; activate another key before retiring it"):
        await ring.retire(key.kid)
    assert await _status(ring, key.kid) is SigningKeyStatus.ACTIVE
    assert len((await ring.jwks())["keys"]) == 1


async def test_activating_a_retired_key_is_refused(ring: KeyRing) -> None:
    first = await ring.generate(activate=True)
    await ring.generate(activate=True)
    await ring.retire(first.kid)
    with pytest.raises(ConfigError, match="is retired and cannot be activated again"):
        await ring.activate(first.kid)
    assert await _status(ring, first.kid) is SigningKeyStatus.RETIRED


# --- ensure_active ---


async def test_ensure_active_creates_one_only_when_none_is_active(ring: KeyRing) -> None:
    created = await ring.ensure_active()
    assert created.status is SigningKeyStatus.ACTIVE
    assert created.kind == "ed25519"
    again = await ring.ensure_active()
    assert again.kid == created.kid
    assert len(await ring.keys()) == 1


async def test_ensure_active_keeps_an_existing_active_key(ring: KeyRing) -> None:
    pending = await ring.generate("ec")
    active = await ring.generate("ec", activate=True)
    assert (await ring.ensure_active("rsa")).kid == active.kid
    assert {k.kid for k in await ring.keys()} == {pending.kid, active.kid}


async def test_ensure_active_ignores_pending_keys(ring: KeyRing) -> None:
    pending = await ring.generate("ec")
    created = await ring.ensure_active("ec")
    assert created.kid != pending.kid
    assert created.kind == "ec"
    assert await _status(ring, pending.kid) is SigningKeyStatus.PENDING


# --- the signer cache ---


async def test_signer_cache_picks_up_a_key_activated_elsewhere(
    store: Store, box: SecretBox, clock: FixedClock
) -> None:
    server = KeyRing(store, box, clock=clock, cache_s=5.0)
    admin = KeyRing(store, box, clock=clock)
    first = await admin.generate(activate=True)

    signer = await server.active_signer()
    assert signer is not None
    assert signer.kid == first.kid

    second = await admin.generate(activate=True)
    clock.advance(4.9)
    cached = await server.active_signer()
    assert cached is signer  # still within the cache period
    clock.advance(0.1)
    fresh = await server.active_signer()
    assert fresh is not None
    assert fresh.kid == second.kid


async def test_signer_cache_remembers_none_too(store: Store, box: SecretBox, clock: FixedClock) -> None:
    server = KeyRing(store, box, clock=clock, cache_s=5.0)
    admin = KeyRing(store, box, clock=clock)
    assert await server.active_signer() is None
    key = await admin.generate(activate=True)
    assert await server.active_signer() is None
    clock.advance(5)
    signer = await server.active_signer()
    assert signer is not None
    assert signer.kid == key.kid


async def test_own_activation_invalidates_the_cache_at_once(ring: KeyRing) -> None:
    await ring.generate(activate=True)
    assert await ring.active_signer() is not None
    second = await ring.generate()
    await ring.activate(second.kid)
    signer = await ring.active_signer()
    assert signer is not None
    assert signer.kid == second.kid


# --- sealing ---


async def test_sealed_key_needs_the_right_box_and_kid(ring: KeyRing, box: SecretBox) -> None:
    first = await ring.generate()
    second = await ring.generate()
    pem = box.open(first.private_sealed, KeyRing.reseal_aad(first.kid))
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")

    with pytest.raises(KeyFormatError):
        _box("m1").open(first.private_sealed, KeyRing.reseal_aad(first.kid))  # same id, other key
    with pytest.raises(ConfigError, match="not configured"):
        _box("other").open(first.private_sealed, KeyRing.reseal_aad(first.kid))
    with pytest.raises(KeyFormatError):
        box.open(first.private_sealed, KeyRing.reseal_aad(second.kid))


async def test_active_signer_with_the_wrong_box_fails(
    store: Store, box: SecretBox, clock: FixedClock
) -> None:
    await KeyRing(store, box, clock=clock).generate(activate=True)
    with pytest.raises(ConfigError):
        await KeyRing(store, _box("m1"), clock=clock).active_signer()


def test_reseal_aad_names_the_kid() -> None:
    assert KeyRing.reseal_aad("abc") == b"hookgate:signing-key:abc"
    assert KeyRing.reseal_aad("abc") != KeyRing.reseal_aad("abd")
