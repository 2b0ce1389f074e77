"""Secrets at rest: a database dump holds no secret, a wrong or missing master key fails loudly, and the
master key can be rotated.

Every kind of secret an endpoint can hold is stored through the public API on SQLite (the database files
read as raw bytes after closing) and PostgreSQL (every row of every table in the test schema), then each
secret, in every encoding it could plausibly be stored in, is searched for in the dump.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwk, jws
from standardwebhooks import Webhook

from hookgate.client import Hookgate, NewEndpoint
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, KeyFormatError
from hookgate.keyring import KeyRing
from hookgate.models import Application, Attempt, DeliveryStatus, Message
from hookgate.outbound.request import RequestBuilder
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import Store
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordingReceiver
from hookgate.vault import endpoint_aad, open_secrets
from tests.support import postgres_dsn

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])
SCHEDULE = [0, 0.1]


# -- the receiver (the root conftest's) -------------------------------------------------------------


def at(receiver: RecordingReceiver, path: str) -> list[tuple[bytes, Mapping[str, str]]]:
    """What reached ``path``: (body, headers) per request."""
    return [(r.body, r.headers) for r in receiver.requests_to(path)]


async def run_worker(hg: Hookgate) -> None:
    worker = hg.worker(address_policy=LOOPBACK, idle_poll_s=0.1, shutdown_grace_s=1.0)
    try:
        await worker.run_until_idle(timeout=10)
    finally:
        await worker.close()


# -- every kind of secret ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_leaf() -> trustme.LeafCert:
    return trustme.CA().issue_cert("client@example")


@dataclass(slots=True)
class Populated:
    app: Application
    endpoints: list[NewEndpoint]
    needles: dict[str, bytes]  # label -> bytes that must not appear at rest
    key_blobs: list[bytes]


def _pem_needles(label: str, pem: str) -> dict[str, bytes]:
    """A PEM private key as text, its base64 body lines, and its DER bytes."""
    needles = {f"{label} (PEM)": pem.encode()}
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    needles[f"{label} (base64 body)"] = "".join(lines).encode()
    for i, line in enumerate(lines):
        if len(line) >= 16:
            needles[f"{label} (PEM line {i})"] = line.encode()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    for name, fmt in (
        ("PKCS8", serialization.PrivateFormat.PKCS8),
        ("traditional", serialization.PrivateFormat.TraditionalOpenSSL),
    ):
        try:
            der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        except ValueError:
            continue
        needles[f"{label} (DER {name})"] = der
    return needles


def _whsec_needles(label: str, secret: str) -> dict[str, bytes]:
    assert secret.startswith("whsec_")
    b64 = secret.removeprefix("whsec_")
    return {
        f"{label} (whsec string)": secret.encode(),
        f"{label} (base64 part)": b64.encode(),
        f"{label} (raw key bytes)": base64.b64decode(b64),
        f"{label} (raw key hex)": base64.b64decode(b64).hex().encode(),
    }


async def populate(hg: Hookgate, receiver: RecordingReceiver, leaf: trustme.LeafCert) -> Populated:
    """One endpoint per kind of secret, a key ring key, and one delivery attempt each."""
    app = await hg.create_application("at-rest")
    needles: dict[str, bytes] = {}
    endpoints: list[NewEndpoint] = []

    async def add(path: str, **options: Any) -> NewEndpoint:
        options.setdefault("retry_schedule", SCHEDULE)
        new = await hg.create_endpoint(app.id, receiver.url_for(path), allow_insecure=True, **options)
        endpoints.append(new)
        if new.secret is not None:
            needles.update(_whsec_needles(f"generated secret of {path}", new.secret))
        return new

    given = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    needles.update(_whsec_needles("given Standard Webhooks secret", given))
    await add("/standard", secret=given)
    await add("/generated")

    github = "gh-" + secrets.token_urlsafe(24)
    needles["github secret"] = github.encode()
    await add("/github", scheme="github", secret=github)

    api_key = "ak-" + secrets.token_urlsafe(24)
    needles["api key"] = api_key.encode()
    await add("/api-key", scheme="none", auth={"type": "api_key", "header": "X-API-Key", "key": api_key})

    password = "pw-" + secrets.token_urlsafe(24)
    needles["basic password"] = password.encode()
    needles["basic user:password (base64)"] = base64.b64encode(f"user:{password}".encode())
    await add("/basic", scheme="none", auth={"type": "basic", "username": "user", "password": password})

    client_secret = "cs-" + secrets.token_urlsafe(24)
    needles["oauth2 client_secret"] = client_secret.encode()
    needles["oauth2 id:secret (base64)"] = base64.b64encode(f"client-id:{client_secret}".encode())
    await add(
        "/oauth2",
        scheme="none",
        auth={
            "type": "oauth2",
            "token_url": "http://127.0.0.1:1/token",
            "client_id": "client-id",
            "client_secret": client_secret,
        },
    )

    jwt_secret = "jwt-" + secrets.token_urlsafe(32)
    needles["jwt secret"] = jwt_secret.encode()
    await add("/jwt", scheme="none", auth={"type": "jwt", "secret": jwt_secret, "issuer": "hookgate"})

    bearer = "bt-" + secrets.token_urlsafe(24)
    needles["bearer token"] = bearer.encode()
    await add(
        "/bearer",
        scheme="none",
        auth={"type": "bearer", "token": bearer},
        payload={"format": "jws"},  # signed with the key ring key below
    )

    client_key = leaf.private_key_pem.bytes().decode()
    client_cert = "".join(blob.bytes().decode() for blob in leaf.cert_chain_pems)
    needles.update(_pem_needles("tls client_key", client_key))
    await add("/mtls", scheme="none", tls={"client_cert": client_cert, "client_key": client_key})

    ring_key = await hg.keyring.generate("ec", activate=True)
    pending = await hg.keyring.generate("rsa")
    assert hg.box is not None
    blobs = []
    for key in (ring_key, pending):
        assert not key.private_sealed.startswith(b"-----BEGIN")
        assert b"PRIVATE KEY" not in key.private_sealed
        pem = hg.box.open(key.private_sealed, KeyRing.reseal_aad(key.kid)).decode()
        assert "PRIVATE KEY" in pem  # what the blob holds is the private key, sealed
        needles.update(_pem_needles(f"key ring key {key.kid} ({key.kind})", pem))
        blobs.append(key.private_sealed)

    # attempts (and their error excerpts) are stored too: make one for every endpoint
    await hg.publish(app, "order.created", {"n": 1})
    await run_worker(hg)
    return Populated(app, endpoints, needles, blobs)


def assert_absent(dump: bytes, needles: dict[str, bytes], leaf: trustme.LeafCert) -> None:
    # canaries: public values stored in clear are found, so the search does see the stored content
    cert_line = leaf.cert_chain_pems[0].bytes().decode().splitlines()[1]
    assert cert_line.encode() in dump
    assert b"X-API-Key" in dump
    found = [label for label, needle in needles.items() if needle in dump]
    assert found == [], f"found in the database: {found}"
    assert b"PRIVATE KEY" not in dump
    assert b"PRIVATE KEY".hex().encode() not in dump.lower()


async def check_deliveries(hg: Hookgate, populated: Populated, receiver: RecordingReceiver) -> None:
    """Sanity: the secrets were really usable (so the dump check is not vacuous)."""
    paths = {r.path for r in receiver.requests}
    assert paths >= {"/standard", "/generated", "/github", "/api-key", "/basic", "/jwt", "/bearer", "/mtls"}
    assert "/oauth2" not in paths  # its token endpoint is unreachable
    ((_, headers),) = at(receiver, "/api-key")
    assert headers["X-API-Key"] == populated.needles["api key"].decode()


# -- 1. database dumps ---------------------------------------------------------------------------------


async def test_sqlite_files_hold_no_secret(
    tmp_path: Path, receiver: RecordingReceiver, client_leaf: trustme.LeafCert
) -> None:
    path = tmp_path / "hg.db"
    hg = Hookgate(await SQLiteStore.open(path), SecretBox({"k1": os.urandom(32)}))
    try:
        populated = await populate(hg, receiver, client_leaf)
        await check_deliveries(hg, populated, receiver)
    finally:
        await hg.close()

    files = sorted(tmp_path.glob("hg.db*"))
    assert path in files
    dump = b"".join(f.read_bytes() for f in files)
    assert populated.key_blobs[0] in dump  # the sealed blobs are there, so we are reading the right thing
    assert_absent(dump, populated.needles, client_leaf)


async def test_sqlite_wal_holds_no_secret_while_open(
    tmp_path: Path, receiver: RecordingReceiver, client_leaf: trustme.LeafCert
) -> None:
    """The write-ahead log, read while the store is still open (before any checkpoint on close)."""
    path = tmp_path / "hg.db"
    hg = Hookgate(await SQLiteStore.open(path), SecretBox({"k1": os.urandom(32)}))
    try:
        populated = await populate(hg, receiver, client_leaf)
        dump = b"".join(f.read_bytes() for f in sorted(tmp_path.glob("hg.db*")))
    finally:
        await hg.close()
    assert_absent(dump, populated.needles, client_leaf)


async def dump_postgres(dsn: str) -> bytes:
    asyncpg = pytest.importorskip("asyncpg")
    conn = await asyncpg.connect(dsn)
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        assert str(schema).startswith("hg_test_")
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        ]
        assert {"endpoints", "signing_keys", "attempts", "messages"} <= set(tables)
        parts: list[bytes] = []
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{schema}"."{table}"'):  # noqa: S608 - catalog names
                for value in row.values():
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        parts.append(bytes(value))
                    else:
                        parts.append(str(value).encode())
        return b"\n".join(parts)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_rows_hold_no_secret(
    receiver: RecordingReceiver, client_leaf: trustme.LeafCert
) -> None:
    async with contextlib.aclosing(postgres_dsn()) as dsns:
        dsn = await anext(dsns)
        hg = Hookgate(await PostgresStore.open(dsn), SecretBox({"k1": os.urandom(32)}))
        try:
            populated = await populate(hg, receiver, client_leaf)
            await check_deliveries(hg, populated, receiver)
        finally:
            await hg.close()
        dump = await dump_postgres(dsn)
    assert populated.key_blobs[0] in dump
    assert_absent(dump, populated.needles, client_leaf)


# -- 2. a wrong or missing master key ------------------------------------------------------------------


@dataclass(slots=True)
class Stored:
    path: Path
    key: bytes
    app: Application
    signed: NewEndpoint  # Standard Webhooks, generated secret
    jws: NewEndpoint  # no sealed secrets, JWS payload from the key ring


@pytest.fixture
async def stored(tmp_path: Path, receiver: RecordingReceiver) -> Stored:
    """A SQLite database written with master key k1, then closed."""
    key = os.urandom(32)
    path = tmp_path / "hg.db"
    hg = Hookgate(await SQLiteStore.open(path), SecretBox({"k1": key}))
    try:
        app = await hg.create_application("keys")
        signed = await hg.create_endpoint(
            app.id, receiver.url_for("/signed"), allow_insecure=True, retry_schedule=SCHEDULE
        )
        jws_ep = await hg.create_endpoint(
            app.id,
            receiver.url_for("/jws"),
            allow_insecure=True,
            retry_schedule=SCHEDULE,
            scheme="none",
            payload={"format": "jws"},
        )
        await hg.keyring.generate("ed25519", activate=True)
    finally:
        await hg.close()
    return Stored(path, key, app, signed, jws_ep)


async def attempts_with(box: SecretBox | None, stored: Stored) -> dict[str, Attempt]:
    hg = Hookgate(await SQLiteStore.open(stored.path), box)
    try:
        result = await hg.publish(stored.app, "order.created", {"n": 1})
        await run_worker(hg)
        found = {}
        for d in result.deliveries:
            delivery = await hg.store.get_delivery(d.id)
            assert delivery.status is not DeliveryStatus.DELIVERED
            found[d.endpoint_id] = (await hg.store.list_attempts(d.id))[0]
        return found
    finally:
        await hg.close()


def assert_config_failure(attempt: Attempt, pattern: str) -> None:
    assert attempt.error_class == "config"
    assert attempt.status_code is None
    assert pattern in attempt.response_excerpt, attempt.response_excerpt


async def test_wrong_master_key_with_the_same_id_fails_clearly(
    stored: Stored, receiver: RecordingReceiver
) -> None:
    attempts = await attempts_with(SecretBox({"k1": os.urandom(32)}), stored)
    for attempt in attempts.values():
        assert_config_failure(
            attempt, "does not open with master key 'k1': wrong key, or the record was altered"
        )
    assert receiver.requests == []


async def test_master_key_missing_from_the_ring_fails_clearly(
    stored: Stored, receiver: RecordingReceiver
) -> None:
    attempts = await attempts_with(SecretBox({"k2": os.urandom(32)}), stored)
    for attempt in attempts.values():
        assert_config_failure(attempt, "sealed with master key 'k1', which is not configured")
    assert receiver.requests == []


async def test_no_master_key_fails_clearly(stored: Stored, receiver: RecordingReceiver) -> None:
    attempts = await attempts_with(None, stored)
    assert_config_failure(attempts[stored.signed.endpoint.id], "no master key configured")
    # the JWS endpoint has nothing sealed, but without a key ring its payload cannot be signed either
    assert_config_failure(attempts[stored.jws.endpoint.id], "JWS payloads need an active signing key")
    assert receiver.requests == []


async def test_the_right_key_still_delivers(stored: Stored, receiver: RecordingReceiver) -> None:
    hg = Hookgate(await SQLiteStore.open(stored.path), SecretBox({"k1": stored.key}))
    try:
        await hg.publish(stored.app, "order.created", {"n": 1})
        await run_worker(hg)
    finally:
        await hg.close()
    ((body, headers),) = at(receiver, "/signed")
    assert stored.signed.secret is not None
    assert Webhook(stored.signed.secret).verify(body, headers) == {"n": 1}
    assert len(at(receiver, "/jws")) == 1


async def test_api_calls_with_a_wrong_or_missing_key_raise(stored: Stored) -> None:
    message = Message(id="msg_x", app_id=stored.app.id, event_type="e", payload=b"{}", created_at=time.time())
    for box, error, pattern in (
        (SecretBox({"k1": os.urandom(32)}), KeyFormatError, "wrong key"),
        (SecretBox({"k9": os.urandom(32)}), ConfigError, "not configured"),
        (None, ConfigError, "no master key configured"),
    ):
        hg = Hookgate(await SQLiteStore.open(stored.path), box)
        try:
            endpoint = await hg.store.get_endpoint(stored.signed.endpoint.id)
            with pytest.raises(error, match=pattern):
                RequestBuilder(box).build(message, endpoint, now=time.time())
            with pytest.raises(error, match=pattern):
                await hg.rotate_secret(endpoint.id)
            with pytest.raises(error, match=pattern):
                await hg.keyring.active_signer()
            assert (await hg.store.get_endpoint(endpoint.id)).secrets_sealed == endpoint.secrets_sealed
        finally:
            await hg.close()


async def test_blobs_do_not_open_elsewhere_or_when_altered(stored: Stored) -> None:
    box = SecretBox({"k1": stored.key})
    blob = stored.signed.endpoint.secrets_sealed
    ep_id = stored.signed.endpoint.id
    assert open_secrets(box, ep_id, blob).active_secrets(time.time()) == [stored.signed.secret]
    # bound to its endpoint: copied onto another row it does not open
    with pytest.raises(KeyFormatError, match="wrong key, or the record was altered"):
        open_secrets(box, stored.jws.endpoint.id, blob)
    # one flipped bit
    altered = bytearray(blob)
    altered[-1] ^= 1
    with pytest.raises(KeyFormatError, match="wrong key, or the record was altered"):
        open_secrets(box, ep_id, bytes(altered))
    # plaintext where a sealed blob belongs is refused, never taken as the secret
    plaintext = json.dumps({"v": 1, "entries": [{"value": "whsec_x", "kind": "secret", "expires_at": None}]})
    with pytest.raises(KeyFormatError, match="unknown format"):
        open_secrets(box, ep_id, plaintext.encode())
    with pytest.raises(KeyFormatError, match="truncated"):
        open_secrets(box, ep_id, blob[:20])


async def test_a_blob_moved_to_another_endpoint_fails_delivery(
    stored: Stored, receiver: RecordingReceiver
) -> None:
    hg = Hookgate(await SQLiteStore.open(stored.path), SecretBox({"k1": stored.key}))
    try:
        victim = await hg.create_endpoint(
            stored.app.id, receiver.url_for("/victim"), allow_insecure=True, retry_schedule=SCHEDULE
        )
        endpoint = await hg.store.get_endpoint(victim.endpoint.id)
        endpoint.secrets_sealed = stored.signed.endpoint.secrets_sealed
        await hg.store.update_endpoint(endpoint)
        result = await hg.publish(stored.app, "order.created", {"n": 1})
        await run_worker(hg)
        (delivery,) = [d for d in result.deliveries if d.endpoint_id == victim.endpoint.id]
        (attempt, *_) = await hg.store.list_attempts(delivery.id)
    finally:
        await hg.close()
    assert_config_failure(attempt, "wrong key, or the record was altered")
    assert at(receiver, "/victim") == []


# -- 3. master key rotation ----------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
        yield backend
        await backend.close()
    elif request.param == "sqlite":
        backend = await SQLiteStore.open(tmp_path / "hg.db")
        yield backend
        await backend.close()
    else:
        async for dsn in postgres_dsn():
            backend = await PostgresStore.open(dsn)
            yield backend
            await backend.close()


def jws_verify(token: bytes, jwks_doc: dict[str, Any]) -> tuple[str, bytes]:
    header = token.split(b".")[0]
    kid = json.loads(base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4)))["kid"]
    key = jwk.JWKSet.from_json(json.dumps(jwks_doc)).get_key(kid)
    assert key is not None
    obj = jws.JWS()
    obj.deserialize(token.decode())
    obj.verify(key)
    return kid, obj.payload


Opener = Callable[[SecretBox], Awaitable[Hookgate]]


async def test_master_key_rotation(
    store: Store, receiver: RecordingReceiver, client_leaf: trustme.LeafCert
) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    box1 = SecretBox({"old": k1})
    hg1 = Hookgate(store, box1)
    app = await hg1.create_application("rotate-master")

    async def add(path: str, **options: Any) -> NewEndpoint:
        return await hg1.create_endpoint(
            app.id, receiver.url_for(path), allow_insecure=True, retry_schedule=SCHEDULE, **options
        )

    signed = await add("/signed")
    api_key = "ak-" + secrets.token_urlsafe(16)
    keyed = await add(
        "/keyed",
        auth={"type": "api_key", "header": "X-API-Key", "key": api_key},
        tls={
            "client_cert": "".join(b.bytes().decode() for b in client_leaf.cert_chain_pems),
            "client_key": client_leaf.private_key_pem.bytes().decode(),
        },
    )
    rotated = await add("/rotated")
    assert rotated.secret is not None
    newer = await hg1.rotate_secret(rotated.endpoint.id, grace_s=3600)
    await add("/jws", scheme="none", payload={"format": "jws"})  # nothing sealed
    active = await hg1.keyring.generate("ec", activate=True)
    await hg1.keyring.generate("ed25519")  # pending

    # a ring without the old key cannot re-seal: it fails and changes nothing
    with pytest.raises(ConfigError, match="'old', which is not configured"):
        await Hookgate(store, SecretBox({"new": k2})).rotate_master_key()

    box2 = SecretBox({"new": k2, "old": k1})
    assert box2.primary == "new"
    assert await Hookgate(store, box2).rotate_master_key() == 3 + 2  # three sealed endpoints, two keys
    assert await Hookgate(store, box2).rotate_master_key() == 0  # idempotent

    sealed = [e for e in await store.list_endpoints(app.id) if e.secrets_sealed]
    assert len(sealed) == 3
    for endpoint in sealed:
        assert box2.key_id_of(endpoint.secrets_sealed) == "new"
    keys = await store.list_signing_keys()
    assert len(keys) == 2
    for key in keys:
        assert box2.key_id_of(key.private_sealed) == "new"

    # the old key alone no longer opens anything
    with pytest.raises(ConfigError, match="'new', which is not configured"):
        open_secrets(box1, sealed[0].id, sealed[0].secrets_sealed)

    # the new key alone opens everything, and what it opens is what was stored
    only_new = SecretBox({"new": k2})
    by_id = {e.id: e for e in sealed}
    rotated_entries = open_secrets(
        only_new, rotated.endpoint.id, by_id[rotated.endpoint.id].secrets_sealed
    ).entries
    assert [e.value for e in rotated_entries] == [newer, rotated.secret]
    assert rotated_entries[1].expires_at is not None  # the grace period survived the re-seal
    hg2 = Hookgate(store, only_new)
    signer = await hg2.keyring.active_signer()
    assert signer is not None
    assert signer.kid == active.kid
    for key in keys:
        assert only_new.open(key.private_sealed, KeyRing.reseal_aad(key.kid)).startswith(b"-----BEGIN")
        assert only_new.open(key.private_sealed, KeyRing.reseal_aad(key.kid)) != key.private_sealed
    assert only_new.open(sealed[0].secrets_sealed, endpoint_aad(sealed[0].id))

    await hg2.publish(app, "order.created", {"n": 7})
    await run_worker(hg2)

    ((body, headers),) = at(receiver, "/signed")
    assert signed.secret is not None
    assert Webhook(signed.secret).verify(body, headers) == {"n": 7}
    ((body, headers),) = at(receiver, "/keyed")
    assert headers["X-API-Key"] == api_key
    assert keyed.secret is not None
    assert Webhook(keyed.secret).verify(body, headers) == {"n": 7}
    ((body, headers),) = at(receiver, "/rotated")
    assert Webhook(rotated.secret).verify(body, headers) == {"n": 7}
    assert Webhook(newer).verify(body, headers) == {"n": 7}
    ((body, _),) = at(receiver, "/jws")
    kid, payload = jws_verify(body, await hg2.jwks())
    assert kid == active.kid
    assert payload == b'{"n":7}'
