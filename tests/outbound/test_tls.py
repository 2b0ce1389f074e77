"""Per-endpoint TLS and mTLS, for real on loopback: certificates from trustme, receivers on aiohttp.

Covers the checks made when an endpoint is saved (unparseable PEM, mismatched key, expired certificates,
unsupported versions), delivery through a worker with the endpoint's own CA bundle, client certificates
presented to a server that requires them, the TLS version floor, and where the client private key lives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yarl import URL

from hookgate.client import Hookgate, NewEndpoint
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, DeliveryError
from hookgate.models import Application, Attempt, Delivery, DeliveryStatus
from hookgate.outbound.transport import Transport, error_class_of
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.memory import MemoryStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordingReceiver
from hookgate.tls import TlsSettings, build_client_context, check_ca_bundle, check_client_cert
from hookgate.vault import open_secrets
from tests.support import MakeReceiver

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])
MASTER = {"k1": os.urandom(32)}
SCHEDULE = [0, 0.1]


# -- certificates --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientPair:
    cert: str  # PEM chain, leaf first
    key: str  # PEM private key


def client_pair(leaf: trustme.LeafCert) -> ClientPair:
    return ClientPair(
        cert="".join(blob.bytes().decode() for blob in leaf.cert_chain_pems),
        key=leaf.private_key_pem.bytes().decode(),
    )


def ca_pem(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode()


def self_signed(not_before: dt.datetime, not_after: dt.datetime, *, is_ca: bool = True) -> tuple[str, str]:
    """A self-signed certificate with the given validity window, and its key (PEM, unencrypted)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hookgate test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def server_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client(client_ca: trustme.CA) -> ClientPair:
    return client_pair(client_ca.issue_cert("client@example"))


@dataclass(frozen=True, slots=True)
class Pki:
    server_ca: trustme.CA
    client_ca: trustme.CA
    other_ca: trustme.CA
    client: ClientPair


@pytest.fixture(scope="module")
def pki(server_ca: trustme.CA, client_ca: trustme.CA, other_ca: trustme.CA, client: ClientPair) -> Pki:
    return Pki(server_ca, client_ca, other_ca, client)


def server_context(ca: trustme.CA, *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca_pem(client_ca))
    return ctx


# -- receivers -----------------------------------------------------------------------------------------


def peercerts(receiver: RecordingReceiver) -> list[Any]:
    """The client certificate the server saw, per request."""
    return [r.peercert for r in receiver.requests]


def versions(receiver: RecordingReceiver) -> list[str | None]:
    """The TLS version of each request."""
    return [r.tls_version for r in receiver.requests]


Serve = Callable[..., Awaitable[RecordingReceiver]]


@pytest.fixture
def serve(receivers: MakeReceiver) -> Serve:
    """Start a `RecordingReceiver` with this server context on 127.0.0.1 (port 0), in its own thread;
    ``tls_alerts=True`` makes it refuse a handshake with an alert, as most TLS servers do."""

    async def start(ctx: ssl.SSLContext, *, tls_alerts: bool = False) -> RecordingReceiver:
        return receivers(ssl_context=ctx, tls_alerts=tls_alerts)

    return start


@pytest.fixture(params=["memory", "sqlite"])
async def hg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hookgate]:
    store = MemoryStore() if request.param == "memory" else await SQLiteStore.open(tmp_path / "hg.db")
    engine = Hookgate(store, SecretBox(MASTER))
    yield engine
    await engine.close()


@pytest.fixture
async def app(hg: Hookgate) -> Application:
    return await hg.create_application("tls")


async def add(hg: Hookgate, app: Application, url: str, **options: Any) -> NewEndpoint:
    options.setdefault("retry_schedule", SCHEDULE)
    return await hg.create_endpoint(app.id, url, **options)


async def run_worker(hg: Hookgate) -> None:
    worker = hg.worker(address_policy=LOOPBACK, idle_poll_s=0.1, shutdown_grace_s=1.0)
    try:
        await worker.run_until_idle(timeout=10)
    finally:
        await worker.close()


async def deliver(hg: Hookgate, app: Application, *endpoints: NewEndpoint) -> dict[str, Delivery]:
    """Publish one event to ``endpoints`` (only them), run a worker; the delivery of each, by endpoint id."""
    result = await hg.publish(app, "tls.check", {"hello": "tls"})
    wanted = {e.endpoint.id for e in endpoints}
    assert {d.endpoint_id for d in result.deliveries} >= wanted
    await run_worker(hg)
    return {
        d.endpoint_id: await hg.store.get_delivery(d.id) for d in result.deliveries if d.endpoint_id in wanted
    }


async def first_attempt(hg: Hookgate, delivery: Delivery) -> Attempt:
    attempts = await hg.store.list_attempts(delivery.id)
    assert attempts, "no attempt recorded"
    return attempts[0]


# -- 1. checks on save ---------------------------------------------------------------------------------


async def test_garbage_client_cert_is_refused_on_save(
    hg: Hookgate, app: Application, client: ClientPair
) -> None:
    with pytest.raises(ConfigError, match=r"^tls client_cert is not a PEM certificate$"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"client_cert": "garbage", "client_key": client.key})
    assert await hg.store.list_endpoints(app.id) == []


async def test_garbage_client_key_is_refused_on_save(
    hg: Hookgate, app: Application, client: ClientPair
) -> None:
    with pytest.raises(ConfigError, match=r"^tls client_key is not an unencrypted PEM private key$"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"client_cert": client.cert, "client_key": "garbage"})


async def test_encrypted_client_key_is_refused_on_save(
    hg: Hookgate, app: Application, client_ca: trustme.CA
) -> None:
    leaf = client_ca.issue_cert("client@example")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        await add(
            hg,
            app,
            "https://127.0.0.1:1/",
            tls={"client_cert": client_pair(leaf).cert, "client_key": encrypted},
        )


async def test_garbage_ca_bundle_is_refused_on_save(hg: Hookgate, app: Application) -> None:
    with pytest.raises(ConfigError, match=r"^tls ca_bundle is not a PEM certificate$"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"ca_bundle": "-----BEGIN CERTIFICATE-----\nnope\n"})


async def test_key_not_matching_the_cert_is_refused_on_save(
    hg: Hookgate, app: Application, client_ca: trustme.CA
) -> None:
    one = client_pair(client_ca.issue_cert("one@example"))
    two = client_pair(client_ca.issue_cert("two@example"))
    with pytest.raises(ConfigError, match=r"^tls client_key does not belong to client_cert$"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"client_cert": one.cert, "client_key": two.key})


async def test_expired_client_cert_is_refused_on_save(
    hg: Hookgate, app: Application, client_ca: trustme.CA
) -> None:
    expired = client_ca.issue_cert(
        "client@example",
        not_before=utcnow() - dt.timedelta(days=30),
        not_after=utcnow() - dt.timedelta(days=1),
    )
    pair = client_pair(expired)
    with pytest.raises(ConfigError, match=r"^tls client_cert expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"client_cert": pair.cert, "client_key": pair.key})


async def test_not_yet_valid_client_cert_is_refused_on_save(
    hg: Hookgate, app: Application, client_ca: trustme.CA
) -> None:
    future = client_ca.issue_cert(
        "client@example",
        not_before=utcnow() + dt.timedelta(days=1),
        not_after=utcnow() + dt.timedelta(days=30),
    )
    pair = client_pair(future)
    with pytest.raises(ConfigError, match=r"^tls client_cert is not valid before "):
        await add(hg, app, "https://127.0.0.1:1/", tls={"client_cert": pair.cert, "client_key": pair.key})


async def test_expired_ca_bundle_is_refused_on_save(hg: Hookgate, app: Application) -> None:
    cert, _ = self_signed(utcnow() - dt.timedelta(days=30), utcnow() - dt.timedelta(days=1))
    with pytest.raises(ConfigError, match=r"^tls ca_bundle has no currently valid certificate$"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"ca_bundle": cert})


async def test_self_signed_expired_client_cert_built_with_cryptography_is_refused(
    hg: Hookgate, app: Application
) -> None:
    cert, key = self_signed(utcnow() - dt.timedelta(days=30), utcnow() - dt.timedelta(seconds=1), is_ca=False)
    with pytest.raises(ConfigError, match="tls client_cert expired on"):
        await add(hg, app, "https://127.0.0.1:1/", tls={"client_cert": cert, "client_key": key})


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"client_cert": "CERT"}, r"^tls client_cert and client_key must be given together$"),
        ({"client_key": "KEY"}, r"^tls client_cert and client_key must be given together$"),
        ({"min_version": "1.1"}, r"^tls\.min_version must be one of 1\.2, 1\.3$"),
        ({"min_version": "1.0"}, r"^tls\.min_version must be one of 1\.2, 1\.3$"),
        ({"min_version": 1.3}, r"^tls\.min_version must be one of 1\.2, 1\.3$"),
        ({"ciphers": "ALL"}, r"^tls has unknown field\(s\) ciphers; allowed: "),
        ({"ca_bundle": ""}, r"^tls\.ca_bundle must be a non-empty string$"),
    ],
)
async def test_inconsistent_tls_options_are_refused_on_save(
    hg: Hookgate, app: Application, client: ClientPair, tls: dict[str, Any], message: str
) -> None:
    options = {k: client.cert if v == "CERT" else client.key if v == "KEY" else v for k, v in tls.items()}
    with pytest.raises(ConfigError, match=message):
        await add(hg, app, "https://127.0.0.1:1/", tls=options)
    assert await hg.store.list_endpoints(app.id) == []


def test_check_functions_use_the_given_time(client: ClientPair, server_ca: trustme.CA) -> None:
    now = time.time()
    check_client_cert(client.cert, client.key, now)
    check_ca_bundle(ca_pem(server_ca), now)
    leaf = x509.load_pem_x509_certificate(client.cert.encode())
    far = leaf.not_valid_after_utc.timestamp() + 1
    early = leaf.not_valid_before_utc.timestamp() - 1
    with pytest.raises(ConfigError, match="tls client_cert expired on"):
        check_client_cert(client.cert, client.key, far)
    with pytest.raises(ConfigError, match="tls ca_bundle has no currently valid certificate"):
        check_ca_bundle(ca_pem(server_ca), far)
    with pytest.raises(ConfigError, match="tls client_cert is not valid before"):
        check_client_cert(client.cert, client.key, early)
    with pytest.raises(ConfigError, match=r"contains no certificate|is not a PEM certificate"):
        check_ca_bundle("", now)


def test_tls_settings_repr_never_shows_the_key(client: ClientPair) -> None:
    settings = TlsSettings(client.cert, client.key, None, "1.3")
    text = repr(settings)
    assert "PRIVATE KEY" not in text
    assert client.key.splitlines()[1] not in text
    assert "<redacted>" in text


def test_client_context_leaves_no_key_file_behind(
    client: ClientPair, server_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ctx = build_client_context(TlsSettings(client.cert, client.key, ca_pem(server_ca), "1.3"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert list(tmp_path.iterdir()) == []


# -- 2. server verification with the endpoint's CA bundle ----------------------------------------------


async def test_delivery_trusts_the_endpoints_ca_bundle_and_not_the_system_store(
    hg: Hookgate, app: Application, serve: Serve, server_ca: trustme.CA
) -> None:
    receiver = await serve(server_context(server_ca))
    trusted = await add(hg, app, receiver.url_for("/trusted"), tls={"ca_bundle": ca_pem(server_ca)})
    system = await add(hg, app, receiver.url_for("/system"))

    deliveries = await deliver(hg, app, trusted, system)

    assert deliveries[trusted.endpoint.id].status is DeliveryStatus.DELIVERED
    assert (await first_attempt(hg, deliveries[trusted.endpoint.id])).status_code == 200
    failed = deliveries[system.endpoint.id]
    assert failed.status is not DeliveryStatus.DELIVERED
    attempt = await first_attempt(hg, failed)
    assert attempt.error_class == "tls"
    assert attempt.status_code is None
    assert "certificate" in attempt.response_excerpt.lower()
    # only the endpoint with the CA bundle got through (a pooled connection did not carry the trust over)
    assert receiver.count == 1


async def test_server_certificate_from_another_ca_is_refused(
    hg: Hookgate, app: Application, serve: Serve, server_ca: trustme.CA, other_ca: trustme.CA
) -> None:
    receiver = await serve(server_context(other_ca))
    ep = await add(hg, app, receiver.url, tls={"ca_bundle": ca_pem(server_ca)})

    delivery = (await deliver(hg, app, ep))[ep.endpoint.id]

    assert delivery.status is not DeliveryStatus.DELIVERED
    assert (await first_attempt(hg, delivery)).error_class == "tls"
    assert receiver.count == 0


async def test_ca_bundle_with_several_cas_trusts_each(
    hg: Hookgate, app: Application, serve: Serve, server_ca: trustme.CA, other_ca: trustme.CA
) -> None:
    receiver = await serve(server_context(other_ca))
    bundle = ca_pem(server_ca) + ca_pem(other_ca)
    ep = await add(hg, app, receiver.url, tls={"ca_bundle": bundle})

    delivery = (await deliver(hg, app, ep))[ep.endpoint.id]

    assert delivery.status is DeliveryStatus.DELIVERED
    assert receiver.count == 1


# -- 3. mTLS ---------------------------------------------------------------------------------------------


async def test_mtls_client_certificate_is_presented_and_seen_by_the_server(
    hg: Hookgate, app: Application, serve: Serve, pki: Pki
) -> None:
    receiver = await serve(server_context(pki.server_ca, client_ca=pki.client_ca))
    ep = await add(
        hg,
        app,
        receiver.url,
        tls={
            "ca_bundle": ca_pem(pki.server_ca),
            "client_cert": pki.client.cert,
            "client_key": pki.client.key,
        },
    )

    delivery = (await deliver(hg, app, ep))[ep.endpoint.id]

    assert delivery.status is DeliveryStatus.DELIVERED
    assert receiver.count == 1
    peer = peercerts(receiver)[0]
    assert peer, "the server saw no client certificate"
    assert ("email", "client@example") in peer["subjectAltName"]


async def test_mtls_client_key_as_environment_reference(
    hg: Hookgate, app: Application, serve: Serve, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_MTLS_KEY", pki.client.key)
    receiver = await serve(server_context(pki.server_ca, client_ca=pki.client_ca))
    ep = await add(
        hg,
        app,
        receiver.url,
        tls={
            "ca_bundle": ca_pem(pki.server_ca),
            "client_cert": pki.client.cert,
            "client_key": "env:HOOKGATE_TEST_MTLS_KEY",
        },
    )
    stored = open_secrets(SecretBox(MASTER), ep.endpoint.id, ep.endpoint.secrets_sealed)
    assert [e.value for e in stored.entries if e.kind == "tls_key"] == ["env:HOOKGATE_TEST_MTLS_KEY"]

    delivery = (await deliver(hg, app, ep))[ep.endpoint.id]

    assert delivery.status is DeliveryStatus.DELIVERED
    assert peercerts(receiver)[0]


async def test_mtls_key_reference_that_goes_bad_fails_as_config_without_leaking(
    hg: Hookgate, app: Application, serve: Serve, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_MTLS_KEY", pki.client.key)
    receiver = await serve(server_context(pki.server_ca, client_ca=pki.client_ca))
    ep = await add(
        hg,
        app,
        receiver.url,
        tls={
            "ca_bundle": ca_pem(pki.server_ca),
            "client_cert": pki.client.cert,
            "client_key": "env:HOOKGATE_TEST_MTLS_KEY",
        },
    )
    # the variable now holds another certificate's key: the pair no longer loads
    wrong = client_pair(pki.client_ca.issue_cert("someone@example")).key
    monkeypatch.setenv("HOOKGATE_TEST_MTLS_KEY", wrong)
    mismatched = (await deliver(hg, app, ep))[ep.endpoint.id]
    attempt = await first_attempt(hg, mismatched)
    assert attempt.error_class == "config"
    assert "tls client certificate cannot be loaded" in attempt.response_excerpt
    assert "PRIVATE KEY" not in attempt.response_excerpt
    assert wrong.splitlines()[1] not in attempt.response_excerpt

    monkeypatch.delenv("HOOKGATE_TEST_MTLS_KEY")
    unset = (await deliver(hg, app, ep))[ep.endpoint.id]
    attempt = await first_attempt(hg, unset)
    assert attempt.error_class == "config"
    assert "environment variable 'HOOKGATE_TEST_MTLS_KEY', which is not set" in attempt.response_excerpt
    assert receiver.count == 0


async def test_mtls_without_a_client_certificate_is_not_delivered(
    hg: Hookgate, app: Application, serve: Serve, pki: Pki
) -> None:
    receiver = await serve(server_context(pki.server_ca, client_ca=pki.client_ca), tls_alerts=True)
    with_cert = await add(
        hg,
        app,
        receiver.url_for("/with"),
        tls={
            "ca_bundle": ca_pem(pki.server_ca),
            "client_cert": pki.client.cert,
            "client_key": pki.client.key,
        },
    )
    without = await add(hg, app, receiver.url_for("/without"), tls={"ca_bundle": ca_pem(pki.server_ca)})

    deliveries = await deliver(hg, app, with_cert, without)

    assert deliveries[with_cert.endpoint.id].status is DeliveryStatus.DELIVERED
    failed = deliveries[without.endpoint.id]
    assert failed.status is not DeliveryStatus.DELIVERED
    attempt = await first_attempt(hg, failed)
    assert attempt.status_code is None
    # under TLS 1.3 the server's alert comes after the client's handshake, on the first read or a write
    assert attempt.error_class == "tls"
    assert "certificate required" in attempt.response_excerpt
    # only the request with a certificate reached the handler: no pooled mTLS connection was borrowed
    assert [r.path for r in receiver.requests] == ["/with"]
    assert all(peercerts(receiver))


async def test_mtls_client_certificate_from_another_ca_is_not_delivered(
    hg: Hookgate, app: Application, serve: Serve, pki: Pki
) -> None:
    receiver = await serve(server_context(pki.server_ca, client_ca=pki.client_ca), tls_alerts=True)
    stranger = client_pair(pki.other_ca.issue_cert("client@example"))
    ep = await add(
        hg,
        app,
        receiver.url,
        tls={"ca_bundle": ca_pem(pki.server_ca), "client_cert": stranger.cert, "client_key": stranger.key},
    )

    delivery = (await deliver(hg, app, ep))[ep.endpoint.id]

    assert delivery.status is not DeliveryStatus.DELIVERED
    attempt = await first_attempt(hg, delivery)
    assert attempt.status_code is None
    assert attempt.error_class == "tls"
    assert "unknown ca" in attempt.response_excerpt
    assert receiver.count == 0


# -- 4. version floor ----------------------------------------------------------------------------------


class BlockingTLSServer:
    """A minimal TLS server on a thread with blocking `ssl` sockets.

    asyncio's TLS server drops a connection whose handshake failed without flushing OpenSSL's alert (the
    client sees a reset); a blocking `ssl.SSLSocket` sends the protocol_version alert as a real server does.
    ``handshakes`` counts completed handshakes: where a handler would run.
    """

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self.handshakes = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> BlockingTLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def url(self, path: str = "/hook") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                with self._ctx.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    tls.recv(65536)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (ssl.SSLError, OSError) as exc:
                self.failures.append(type(exc).__name__)
                conn.close()


async def test_min_version_1_3_refuses_a_server_capped_at_tls_1_2(
    hg: Hookgate, app: Application, server_ca: trustme.CA
) -> None:
    ctx = server_context(server_ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with BlockingTLSServer(ctx) as server:
        strict = await add(
            hg, app, server.url("/strict"), tls={"ca_bundle": ca_pem(server_ca), "min_version": "1.3"}
        )
        refused = (await deliver(hg, app, strict))[strict.endpoint.id]
        # the client may see its failure before the server thread records its own: wait for that record
        for _ in range(200):
            if server.failures:
                break
            await asyncio.sleep(0.01)
        assert server.handshakes == 0
        assert server.failures
        lenient = await add(
            hg, app, server.url("/lenient"), tls={"ca_bundle": ca_pem(server_ca), "min_version": "1.2"}
        )
        accepted = (await deliver(hg, app, lenient))[lenient.endpoint.id]
        assert server.handshakes == 1

    assert refused.status is not DeliveryStatus.DELIVERED
    attempt = await first_attempt(hg, refused)
    assert attempt.error_class == "tls"
    assert attempt.status_code is None
    assert accepted.status is DeliveryStatus.DELIVERED


async def test_min_version_1_3_against_an_aiohttp_server_capped_at_tls_1_2(
    hg: Hookgate, app: Application, serve: Serve, server_ca: trustme.CA
) -> None:
    ctx = server_context(server_ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    receiver = await serve(ctx)
    strict = await add(
        hg, app, receiver.url_for("/strict"), tls={"ca_bundle": ca_pem(server_ca), "min_version": "1.3"}
    )
    lenient = await add(
        hg, app, receiver.url_for("/lenient"), tls={"ca_bundle": ca_pem(server_ca), "min_version": "1.2"}
    )

    deliveries = await deliver(hg, app, strict, lenient)

    assert deliveries[lenient.endpoint.id].status is DeliveryStatus.DELIVERED
    assert versions(receiver) == ["TLSv1.2"]
    refused = deliveries[strict.endpoint.id]
    assert refused.status is not DeliveryStatus.DELIVERED
    attempt = await first_attempt(hg, refused)
    # asyncio's server resets without an alert: a reset mid-handshake is still classified as TLS
    assert attempt.error_class == "tls"
    assert attempt.status_code is None
    assert receiver.count == 1


async def test_min_version_1_3_is_used_against_a_tls_1_3_server(
    hg: Hookgate, app: Application, serve: Serve, server_ca: trustme.CA
) -> None:
    receiver = await serve(server_context(server_ca))
    ep = await add(hg, app, receiver.url, tls={"ca_bundle": ca_pem(server_ca), "min_version": "1.3"})

    delivery = (await deliver(hg, app, ep))[ep.endpoint.id]

    assert delivery.status is DeliveryStatus.DELIVERED
    assert versions(receiver) == ["TLSv1.3"]


# -- 5. where the client key lives ---------------------------------------------------------------------


async def test_client_key_is_sealed_not_in_settings(
    hg: Hookgate, app: Application, client: ClientPair, server_ca: trustme.CA
) -> None:
    ep = await add(
        hg,
        app,
        "https://127.0.0.1:1/",
        tls={"ca_bundle": ca_pem(server_ca), "client_cert": client.cert, "client_key": client.key},
    )
    for endpoint in (ep.endpoint, await hg.store.get_endpoint(ep.endpoint.id)):
        tls = endpoint.config.sections()["tls"]
        assert "client_key" not in tls
        assert tls["client_cert"] == client.cert
        assert tls["ca_bundle"] == ca_pem(server_ca)
        assert "PRIVATE KEY" not in repr(endpoint.config.sections())
        key_body = "".join(client.key.splitlines()[1:-1])
        assert b"PRIVATE KEY" not in endpoint.secrets_sealed
        assert key_body.encode() not in endpoint.secrets_sealed
        for line in client.key.splitlines()[1:-1]:
            assert line.encode() not in endpoint.secrets_sealed
        # and the sealed blob really holds it, as a tls_key entry
        opened = open_secrets(SecretBox(MASTER), endpoint.id, endpoint.secrets_sealed)
        assert [e.value for e in opened.entries if e.kind == "tls_key"] == [client.key]


# -- 6. every TLS failure is classified "tls" ----------------------------------------------------------


def client_context(pki: Pki, who: str, min_version: str = "1.2") -> ssl.SSLContext:
    pair = {"none": None, "stranger": client_pair(pki.other_ca.issue_cert("client@example"))}[who]
    return build_client_context(
        TlsSettings(
            pair.cert if pair else None, pair.key if pair else None, ca_pem(pki.server_ca), min_version
        )
    )


@pytest.mark.parametrize(
    ("version", "who", "reason"),
    [
        # TLS 1.3: the client's handshake is over before the server judges its certificate, so the alert
        # arrives on the first read (aiohttp wraps it in a ClientOSError, not a ClientSSLError)
        (ssl.TLSVersion.TLSv1_3, "none", "tlsv13 alert certificate required"),
        (ssl.TLSVersion.TLSv1_3, "stranger", "tlsv1 alert unknown ca"),
        # TLS 1.2: the alert ends the handshake itself
        (ssl.TLSVersion.TLSv1_2, "none", "sslv3 alert handshake failure"),
        (ssl.TLSVersion.TLSv1_2, "stranger", "tlsv1 alert unknown ca"),
    ],
)
async def test_refused_client_certificate_is_a_tls_error(
    pki: Pki, version: ssl.TLSVersion, who: str, reason: str
) -> None:
    ctx = server_context(pki.server_ca, client_ca=pki.client_ca)
    ctx.minimum_version = ctx.maximum_version = version
    with BlockingTLSServer(ctx) as server:
        async with Transport(address_policy=LOOPBACK) as transport:
            with pytest.raises(DeliveryError) as info:
                await transport.send("POST", server.url(), {}, b"{}", ssl_context=client_context(pki, who))
    assert server.failures  # read after the server thread was joined
    assert server.handshakes == 0
    assert error_class_of(info.value) == "tls"
    assert str(info.value) == f"TLS handshake with https://127.0.0.1:{server.port} failed: {reason}"


async def test_tls_1_2_server_refused_by_a_1_3_floor_is_a_tls_error(pki: Pki) -> None:
    ctx = server_context(pki.server_ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with BlockingTLSServer(ctx) as server:
        async with Transport(address_policy=LOOPBACK) as transport:
            with pytest.raises(DeliveryError) as info:
                await transport.send(
                    "POST", server.url(), {}, b"{}", ssl_context=client_context(pki, "none", "1.3")
                )
    assert error_class_of(info.value) == "tls"
    assert str(info.value).endswith("failed: tlsv1 alert protocol version")


@pytest.mark.parametrize("who", ["none", "stranger"])
async def test_asyncio_server_dropping_the_tls_1_2_handshake_is_a_tls_error(
    serve: Serve, pki: Pki, who: str
) -> None:
    # asyncio servers (aiohttp, uvicorn) abort a refused handshake without sending the alert: the client
    # sees a reset in the middle of the TLS handshake, which is still a TLS failure, not a connect failure
    ctx = server_context(pki.server_ca, client_ca=pki.client_ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    receiver = await serve(ctx)
    async with Transport(address_policy=LOOPBACK) as transport:
        with pytest.raises(DeliveryError) as info:
            await transport.send("POST", receiver.url, {}, b"{}", ssl_context=client_context(pki, who))
    assert error_class_of(info.value) == "tls"
    assert str(info.value).endswith("failed: connection reset by the server")
    assert receiver.count == 0


async def test_missing_client_certificate_under_tls_1_3_is_recorded_as_tls(
    hg: Hookgate, app: Application, pki: Pki
) -> None:
    ctx = server_context(pki.server_ca, client_ca=pki.client_ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with BlockingTLSServer(ctx) as server:
        ep = await add(hg, app, server.url(), tls={"ca_bundle": ca_pem(pki.server_ca)})
        delivery = (await deliver(hg, app, ep))[ep.endpoint.id]
    attempt = await first_attempt(hg, delivery)
    assert delivery.status is not DeliveryStatus.DELIVERED
    assert attempt.status_code is None
    assert attempt.error_class == "tls"
    assert "certificate required" in attempt.response_excerpt


async def test_refused_tcp_connection_stays_a_connect_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    async with Transport(address_policy=LOOPBACK) as transport:
        with pytest.raises(DeliveryError) as info:
            await transport.send("POST", f"https://127.0.0.1:{port}/", {}, b"{}")
    assert error_class_of(info.value) == "connect"


def _alert(reason: str, text: str) -> ssl.SSLError:
    """An `ssl.SSLError` as OpenSSL raises it for a received alert (errno 1, reason code, text)."""
    error = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:2580)")
    error.reason = reason  # set by the _ssl module on real errors
    return error


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def _during(exc: BaseException, context: BaseException) -> BaseException:
    exc.__context__ = context
    return exc


REQUIRED = _alert("TLSV13_ALERT_CERTIFICATE_REQUIRED", "tlsv13 alert certificate required")
UNKNOWN_CA = _alert("TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca")
BAD_CERT = _alert("SSLV3_ALERT_BAD_CERTIFICATE", "sslv3 alert bad certificate")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        # the first read, a reader waiting: ClientOSError(*ssl_error.args) from the ssl error
        (_caused(aiohttp.ClientOSError(*REQUIRED.args), REQUIRED), "tlsv13 alert certificate required"),
        # the first read, no reader waiting yet when the alert came: aiohttp's DataQueue keeps the wrapper
        # without its cause, so only its text names the alert
        (aiohttp.ClientOSError(*UNKNOWN_CA.args), "tlsv1 alert unknown ca"),
        (aiohttp.ClientOSError(*BAD_CERT.args), "sslv3 alert bad certificate"),
        # the write: the request writer's error, the alert an implicit context
        (
            _during(aiohttp.ClientOSError(1, "Can not write request body for https://x/hook"), REQUIRED),
            "tlsv13 alert certificate required",
        ),
        (
            _during(aiohttp.ClientConnectionResetError("Cannot write to closing transport"), UNKNOWN_CA),
            "tlsv1 alert unknown ca",
        ),
        # a disconnect noticed after the alert was handled, and the lost-connection wrapper's message
        (_during(aiohttp.ServerDisconnectedError(), REQUIRED), "tlsv13 alert certificate required"),
        (aiohttp.ClientConnectionError(f"Connection lost: {REQUIRED}"), "tlsv13 alert certificate required"),
        # the connect: the connector's os_error, and an ssl error deeper than one cause
        (
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, True, True, None, None, None),
                UNKNOWN_CA,
            ),
            "tlsv1 alert unknown ca",
        ),
        (
            _caused(aiohttp.ClientPayloadError("x"), _caused(aiohttp.ClientOSError(1, "x"), BAD_CERT)),
            "sslv3 alert bad certificate",
        ),
    ],
)
def test_an_ssl_alert_anywhere_behind_the_failure_is_a_tls_error(failure: Exception, reason: str) -> None:
    # which of these shapes a refused client certificate takes depends on where the client is when the
    # alert arrives (aiohttp 3.14: client_proto.connection_lost, streams.DataQueue, ClientRequest.write_bytes)
    error = Transport._translate(failure, URL("https://127.0.0.1:8443/hook"), [])
    assert error_class_of(error) == "tls"
    assert str(error) == f"TLS handshake with https://127.0.0.1:8443 failed: {reason}"


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        (aiohttp.ServerDisconnectedError(), "protocol"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connect"),
        (aiohttp.ClientOSError(1, "Can not write request body for https://x/alerts/tlsv1"), "connect"),
        (_during(aiohttp.ServerDisconnectedError(), ValueError("unrelated")), "protocol"),
    ],
)
def test_failures_without_an_ssl_alert_keep_their_class(failure: Exception, error_class: str) -> None:
    error = Transport._translate(failure, URL("https://127.0.0.1:8443/hook"), [])
    assert error_class_of(error) == error_class
