"""The standalone receiving gateway: configuration, the ASGI app in process, and real ``hookgate gateway``
processes (SQLite, a receiver on aiohttp, SIGKILL, TLS and mutual TLS listeners from trustme certificates).

- `GatewayConfig` refuses every malformed configuration with a `ConfigError` naming the problem.
- In process (`Gateway` over a `MemoryStore`): accepted events are stored once with one forwarding delivery,
  duplicates and rejections store nothing, non-JSON bodies travel in a JSON envelope, `setup` is idempotent.
- Out of process: every acknowledged event is forwarded exactly once, re-signed with the forward secret, also
  across a ``kill -9`` right after the acknowledgements; TLS 1.3 floor, client certificates checked in the
  handshake, the plain-HTTP listener rejecting or redirecting; no secret or signature in the log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import trustme
from click.testing import CliRunner
from slack_sdk.signature import SignatureVerifier
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from hookgate.cli import main
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError, HookgateError, StoreError
from hookgate.gateway.app import GATEWAY_APP_ID, Gateway
from hookgate.gateway.config import GatewayConfig
from hookgate.gateway.server import _config, _HttpListener, run_gateway
from hookgate.inbound import pipeline as pipeline_module
from hookgate.keys import generate_hmac_secret
from hookgate.models import DeliveryStatus, Message
from hookgate.policy.ssrf import AddressPolicy
from hookgate.runtime import Runtime
from hookgate.store.base import PublishResult
from hookgate.store.memory import MemoryStore
from hookgate.testing import RecordedRequest, RecordingReceiver, Reply
from hookgate.vault import open_secrets
from tests.support import MakeReceiver, free_port, server_tls

INBOUND = generate_hmac_secret()  # what the provider signs with
FORWARD = generate_hmac_secret()  # what the gateway re-signs with
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


# -- signing like a provider ---------------------------------------------------------------------------


def sign_standard(secret: str, msg_id: str, body: bytes, *, when: datetime | None = None) -> dict[str, str]:
    when = when or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def sign_slack(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    signature = f"v0={mac.hexdigest()}"
    if body.isascii():  # the same as Slack's own SDK computes
        assert signature == SignatureVerifier(secret).generate_signature(
            timestamp=timestamp, body=body.decode()
        )
    return {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
        "content-type": "application/x-www-form-urlencoded",
    }


def event_body(n: int) -> bytes:
    return json.dumps({"type": "order.created", "n": n, "pad": "x" * 32}).encode()


# -- configuration ---------------------------------------------------------------------------------------


def base_document(**gateway: Any) -> dict[str, Any]:
    return {
        "gateway": {
            "forward_secret": FORWARD,
            "allow_insecure_forward": True,
            "ssrf_allowlist": ["127.0.0.0/8"],
            **gateway,
        },
        "sources": {
            "acme": {
                "scheme": "standard-webhooks",
                "secrets": [INBOUND],
                "path": "/in/acme",
                "forward_to": "http://127.0.0.1:9/hooks",
                "require_https": False,
            }
        },
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[part]
        target[last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[part]
        del target[last]

    return change


def _second_source(**overrides: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["sources"]["other"] = {**doc["sources"]["acme"], **overrides}

    return change


CONFIG_ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no sources", _drop("sources"), r"at least one \[sources\.<name>\]"),
    ("empty sources", _set("sources", {}), r"at least one \[sources\.<name>\]"),
    ("no forward_secret", _drop("gateway.forward_secret"), r"forward_secret is required"),
    ("empty forward_secret", _set("gateway.forward_secret", ""), r"forward_secret: secret is empty"),
    (
        "unset env forward_secret",
        _set("gateway.forward_secret", "env:HOOKGATE_TEST_NO_SUCH_VAR"),
        r"HOOKGATE_TEST_NO_SUCH_VAR",
    ),
    (
        "bad forward_secret",
        _set("gateway.forward_secret", "whsec_!!!"),
        r"forward_secret: whsec_ secret is not valid base64",
    ),
    ("unknown gateway key", _set("gateway.colour", "blue"), r"unknown setting\(s\) colour in \[gateway\]"),
    ("unknown table", _set("extra", {}), r"unknown table\(s\) extra"),
    (
        "unknown source key",
        _set("sources.acme.colour", "blue"),
        r"source 'acme': unknown setting\(s\) colour",
    ),
    ("duplicate paths", _second_source(), r"every source needs its own path"),
    ("source without path", _drop("sources.acme.path"), r"every source needs its own path"),
    ("forward_to missing", _drop("sources.acme.forward_to"), r"source 'acme' needs forward_to"),
    (
        "http forward_to",
        _set("gateway.allow_insecure_forward", False),
        r"source 'acme': forward_to must use https \(allow_insecure_forward",
    ),
    ("forward_to not a URL", _set("sources.acme.forward_to", "ftp://x/y"), r"absolute https:// URL"),
    # issue 10 item 16: TOML values of the wrong type are refused, not coerced by truthiness
    ("insecure forward 'no'", _set("gateway.allow_insecure_forward", "no"), r"allow_insecure_forward must"),
    ("workers 'no'", _set("gateway.workers", "no"), r"gateway: workers must be true or false"),
    ("host not a string", _set("gateway.host", 5), r"gateway: host must be a string"),
    ("tls version a list", _set("gateway.min_tls_version", ["1.2"]), r"min_tls_version must be a string"),
    ("database_url a number", _set("gateway.database_url", 5), r"database_url must be a string"),
    ("tolerance a float", _set("sources.acme.tolerance_s", 300.0), r"tolerance_s must be a whole number"),
    ("tolerance too wide", _set("sources.acme.tolerance_s", 10**30), r"tolerance_s must be .* 1 to 86400"),
    ("ttl infinite", _set("sources.acme.idempotency_ttl_s", float("inf")), r"idempotency_ttl_s must be"),
    ("rate NaN", _set("sources.acme.rate_limit_per_s", float("nan")), r"rate_limit_per_s must be"),
    ("jwks_insecure 'no'", _set("sources.acme.jwks_insecure", "no"), r"jwks_insecure must be true or false"),
    (
        "forward_to numeric host",
        _set("sources.acme.forward_to", "http://127.1:9/hooks"),
        r"forward_to host '127.1' is not an IPv4 address in dotted-decimal form",
    ),
    (
        "forward_to with a space",
        _set("sources.acme.forward_to", "http://127.0.0.1:9/a b"),
        r"forward_to contains ' ' at position 20",
    ),
    ("tls_cert without tls_key", _set("gateway.tls_cert", "cert.pem"), r"tls_cert and tls_key"),
    ("tls_key without tls_cert", _set("gateway.tls_key", "key.pem"), r"tls_cert and tls_key"),
    (
        "client_ca without tls",
        _set("gateway.client_ca", "ca.pem"),
        r"client_ca \(mutual TLS\) needs tls_cert",
    ),
    (
        "bad min_tls_version",
        _set("gateway.min_tls_version", "1.1"),
        r"min_tls_version must be one of 1\.2, 1\.3",
    ),
    ("bad http_mode", _set("gateway.http_mode", "allow"), r"http_mode must be 'reject' or 'redirect'"),
    (
        "redirect without TLS",
        _set("gateway.http_mode", "redirect"),
        r"http_mode = 'redirect' needs an HTTPS listener",
    ),
    ("bad port", _set("gateway.port", 70000), r"port must be 0-65535"),
    ("bool port", _set("gateway.http_port", True), r"http_port must be 0-65535"),
    (
        "bad source scheme",
        _set("sources.acme.scheme", "carrier-pigeon"),
        r"source 'acme': scheme must be one of",
    ),
    ("source without scheme", _drop("sources.acme.scheme"), r"source 'acme': scheme is required"),
    ("source without secrets", _drop("sources.acme.secrets"), r"source 'acme'"),
    ("path without slash", _set("sources.acme.path", "in/acme"), r"path must start with '/'"),
    ("sources not tables", _set("sources", {"acme": "x"}), r"\[sources\.acme\] must be a table"),
    ("bad allowlist", _set("gateway.ssrf_allowlist", "127.0.0.0/8"), r"ssrf_allowlist must be a list"),
    # forward_tls is checked by the endpoint tls validator, its messages naming forward_tls
    (
        "forward_tls not a table",
        _set("sources.acme.forward_tls", "ca.pem"),
        r"^source 'acme': forward_tls must be a table",
    ),
    (
        "forward_tls unknown key",
        _set("sources.acme.forward_tls", {"ciphers": "ALL"}),
        r"^source 'acme': forward_tls has unknown field\(s\) ciphers; allowed: ca_bundle, client_cert",
    ),
    (
        "forward_tls bad min_version",
        _set("sources.acme.forward_tls", {"min_version": "1.1"}),
        r"^source 'acme': forward_tls\.min_version must be one of 1\.2, 1\.3$",
    ),
    (
        "forward_tls garbage ca_bundle",
        _set("sources.acme.forward_tls", {"ca_bundle": "not a certificate"}),
        r"^source 'acme': forward_tls ca_bundle is not a PEM certificate$",
    ),
    (
        "forward_tls cert without key",
        _set("sources.acme.forward_tls", {"client_cert": "x"}),
        r"^source 'acme': forward_tls client_cert and client_key must be given together$",
    ),
    (
        "forward_tls key reference unset",
        _set("sources.acme.forward_tls", {"client_cert": "x", "client_key": "env:HOOKGATE_TEST_NO_SUCH_VAR"}),
        r"^source 'acme': forward_tls\.client_key refers to environment variable 'HOOKGATE_TEST_NO_SUCH_VAR'",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS]
)
def test_config_errors_name_the_problem(change: Callable[[dict[str, Any]], None], message: str) -> None:
    document = base_document()
    change(document)
    with pytest.raises(ConfigError, match=message):
        GatewayConfig.from_mapping(document)


def test_valid_config_and_defaults(tmp_path: Path) -> None:
    config = GatewayConfig.from_mapping(base_document(tls_cert="c.pem", tls_key="k.pem"), base=tmp_path)
    assert config.host == "127.0.0.1"
    assert config.port == 8443
    assert config.min_tls_version == "1.2"
    assert config.http_mode == "reject"
    assert config.ssrf_allowlist == ("127.0.0.0/8",)
    # certificate paths are relative to the configuration file
    assert config.tls_cert == tmp_path / "c.pem"
    assert config.tls_key == tmp_path / "k.pem"
    (source,) = config.sources
    assert source.name == "acme"
    assert source.path == "/in/acme"
    # the secrets stay out of the repr
    assert FORWARD not in repr(config)
    assert INBOUND not in repr(config)


def test_load_reads_toml_and_reports_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(to_toml(base_document()), encoding="utf-8")
    assert GatewayConfig.load(path).sources[0].name == "acme"
    path.write_text("[gateway\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not valid TOML"):
        GatewayConfig.load(path)
    with pytest.raises(ConfigError, match=r"cannot read gateway config"):
        GatewayConfig.load(tmp_path / "missing.toml")


def test_cli_gateway_with_a_missing_or_invalid_config_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("HOOKGATE_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()
    missing = tmp_path / "missing.toml"
    result = runner.invoke(main, ["gateway", "--config", str(missing), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "cannot read gateway config" in result.output
    assert str(missing) in result.output
    broken = tmp_path / "broken.toml"
    document = base_document()
    del document["gateway"]["forward_secret"]
    broken.write_text(to_toml(document), encoding="utf-8")
    result = runner.invoke(main, ["gateway", "--config", str(broken), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "forward_secret is required" in result.output


def test_source_name_that_cannot_be_an_event_type_is_refused() -> None:
    document = base_document()
    document["sources"] = {"acme.": document["sources"]["acme"]}
    with pytest.raises(ConfigError):
        GatewayConfig.from_mapping(document)


# -- in process: the ASGI app over a memory store ---------------------------------------------------------


class RecordingStore(MemoryStore):
    """A memory store that remembers every publish and its outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[PublishResult] = []

    async def publish(self, message: Message, *, now: float) -> PublishResult:
        result = await super().publish(message, now=now)
        self.published.append(result)
        return result

    @property
    def messages(self) -> list[Message]:
        return [r.message for r in self.published if not r.duplicate]


def two_sources(forward_secret: str = FORWARD, acme_to: str = "https://app.example/hooks") -> dict[str, Any]:
    document = base_document(forward_secret=forward_secret)
    document["sources"]["acme"]["forward_to"] = acme_to
    document["sources"]["slack"] = {
        "scheme": "slack",
        "secrets": [SLACK_SECRET],
        "path": "/in/slack",
        "forward_to": "https://app.example/slack",
        "require_https": False,
    }
    return document


@dataclass
class InProcess:
    store: RecordingStore
    box: SecretBox
    hg: Hookgate
    gateway: Gateway
    client: httpx.AsyncClient


@pytest.fixture
async def gw() -> AsyncIterator[InProcess]:
    store = RecordingStore()
    box = SecretBox(parse_master_keys(generate_master_key()))
    hg = Hookgate(store, box)
    gateway = Gateway(GatewayConfig.from_mapping(two_sources()), hg)
    await gateway.setup()
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield InProcess(store, box, hg, gateway, client)


async def test_accepted_event_is_stored_once_with_one_forwarding_delivery(gw: InProcess) -> None:
    body = event_body(1)
    response = await gw.client.post("/in/acme", content=body, headers=sign_standard(INBOUND, "msg_1", body))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    (message,) = gw.store.messages
    assert message.app_id == GATEWAY_APP_ID
    assert message.event_type == "gateway.acme"
    assert message.payload == body  # JSON bodies are forwarded byte for byte
    assert message.idempotency_key == "acme:msg_1"
    (delivery,) = await gw.store.list_deliveries(message.id)
    endpoint = await gw.store.get_endpoint(delivery.endpoint_id)
    assert endpoint.config.url == "https://app.example/hooks"
    assert endpoint.config.event_types == ("gateway.acme",)
    assert endpoint.app_id == GATEWAY_APP_ID
    assert open_secrets(gw.box, endpoint.id, endpoint.secrets_sealed).active_secrets(time.time()) == [FORWARD]
    assert gw.gateway.accepted == 1


class FailingStore(RecordingStore):
    """A store whose publishes fail with ``failure`` while it is set (a database outage, or a bug)."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: BaseException | None = None

    async def publish_many(
        self, messages: Sequence[Message], *, now: float
    ) -> list[PublishResult | HookgateError]:
        if self.failure is not None:
            raise self.failure
        return await super().publish_many(messages, now=now)


async def test_store_outage_answers_503_and_a_bug_does_not_hang_the_request() -> None:
    store = FailingStore()
    hg = Hookgate(store, SecretBox(parse_master_keys(generate_master_key())))
    gateway = Gateway(GatewayConfig.from_mapping(two_sources()), hg)
    await gateway.setup()
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        body = event_body(7)

        async def post() -> httpx.Response:
            headers = sign_standard(INBOUND, "msg_7", body)
            return await asyncio.wait_for(client.post("/in/acme", content=body, headers=headers), 10)

        store.failure = StoreError("PostgreSQL error: ConnectionRefusedError")
        down = await post()
        assert (down.status_code, down.json()) == (503, {"error": "unavailable"})
        # not a store error: the request still gets an answer (a generic 500), it does not hang
        store.failure = RuntimeError("a bug")
        bug = await post()
        assert (bug.status_code, bug.json()) == (500, {"error": "internal_error"})
        store.failure = None
        up = await post()
        assert (up.status_code, up.json()) == (200, {"status": "accepted"})
    await gateway.close()
    assert len(store.messages) == 1


async def test_duplicate_is_acknowledged_but_not_stored_again(gw: InProcess) -> None:
    body = event_body(2)
    headers = sign_standard(INBOUND, "msg_dup", body)
    first = await gw.client.post("/in/acme", content=body, headers=headers)
    again = await gw.client.post("/in/acme", content=body, headers=headers)
    # the provider re-signs its retries: a fresh signature with the same id is the same event
    resigned = await gw.client.post("/in/acme", content=body, headers=sign_standard(INBOUND, "msg_dup", body))
    assert first.json() == {"status": "accepted"}
    assert again.status_code == resigned.status_code == 200
    assert again.json() == resigned.json() == {"status": "already processed"}
    assert len(gw.store.messages) == 1
    assert len(await gw.store.list_deliveries(gw.store.messages[0].id)) == 1
    # the same id from another source is another event
    other = sign_slack(SLACK_SECRET, b"x=1")
    assert (await gw.client.post("/in/slack", content=b"x=1", headers=other)).status_code == 200
    assert len(gw.store.messages) == 2


@pytest.mark.parametrize(
    "tamper",
    ["body", "signature", "wrong secret", "stale", "no signature"],
)
async def test_rejected_event_stores_nothing(gw: InProcess, tamper: str) -> None:
    body = event_body(3)
    headers = sign_standard(INBOUND, "msg_bad", body)
    if tamper == "body":
        body = body.replace(b'"n": 3', b'"n": 4')
    elif tamper == "signature":
        version, sig = headers["webhook-signature"].split(",")
        headers["webhook-signature"] = f"{version},{sig[:-4]}AAAA"
    elif tamper == "wrong secret":
        headers = sign_standard(generate_hmac_secret(), "msg_bad", body)
    elif tamper == "stale":
        headers = sign_standard(
            INBOUND, "msg_bad", body, when=datetime.fromtimestamp(time.time() - 3600, UTC)
        )
    else:
        del headers["webhook-signature"]
    response = await gw.client.post("/in/acme", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert gw.store.published == []
    assert gw.gateway.accepted == 0
    # a rejection does not burn the id: the genuine event is still accepted afterwards
    good = event_body(3)
    ok = await gw.client.post("/in/acme", content=good, headers=sign_standard(INBOUND, "msg_bad", good))
    assert ok.json() == {"status": "accepted"}


async def test_unknown_path_and_wrong_method(gw: InProcess) -> None:
    body = event_body(5)
    headers = sign_standard(INBOUND, "msg_5", body)
    for path in ("/in/nope", "/", "/in/acme/", "/in/ACME"):
        response = await gw.client.post(path, content=body, headers=headers)
        assert response.status_code == 404, path
        assert response.json() == {"error": "not_found"}
    for method in ("GET", "PUT", "DELETE"):
        response = await gw.client.request(method, "/in/acme", content=body, headers=headers)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"
        assert response.json() == {"error": "method_not_allowed"}
    assert gw.store.published == []


async def test_form_post_is_forwarded_in_a_json_envelope(gw: InProcess) -> None:
    body = b"token=abc&team_id=T1&command=%2Fdeploy&text=now"
    response = await gw.client.post("/in/slack", content=body, headers=sign_slack(SLACK_SECRET, body))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    (message,) = gw.store.messages
    assert message.event_type == "gateway.slack"
    envelope = json.loads(message.payload)
    assert envelope == {
        "content_type": "application/x-www-form-urlencoded",
        "body_base64": base64.b64encode(body).decode(),
    }
    (delivery,) = await gw.store.list_deliveries(message.id)
    assert (await gw.store.get_endpoint(delivery.endpoint_id)).config.url == "https://app.example/slack"
    # bodies that are not UTF-8 at all travel the same way, byte for byte
    raw = b"\xff\xfe\x00binary\x80"
    response = await gw.client.post("/in/slack", content=raw, headers=sign_slack(SLACK_SECRET, raw))
    assert response.json() == {"status": "accepted"}
    assert base64.b64decode(json.loads(gw.store.messages[1].payload)["body_base64"]) == raw


async def test_setup_twice_updates_the_same_endpoints(gw: InProcess) -> None:
    before = {e.config.event_types: e for e in await gw.store.list_endpoints(GATEWAY_APP_ID)}
    assert set(before) == {("gateway.acme",), ("gateway.slack",)}
    new_secret = generate_hmac_secret()
    changed = GatewayConfig.from_mapping(
        two_sources(forward_secret=new_secret, acme_to="https://app.example/v2/hooks")
    )
    await Gateway(changed, gw.hg).setup()
    await Gateway(changed, gw.hg).setup()
    after = {e.config.event_types: e for e in await gw.store.list_endpoints(GATEWAY_APP_ID)}
    assert set(after) == set(before)
    acme = after[("gateway.acme",)]
    assert acme.id == before[("gateway.acme",)].id
    assert acme.config.url == "https://app.example/v2/hooks"
    assert after[("gateway.slack",)].id == before[("gateway.slack",)].id
    now = time.time()
    for endpoint in after.values():
        assert open_secrets(gw.box, endpoint.id, endpoint.secrets_sealed).active_secrets(now) == [new_secret]
    # a disabled forwarding endpoint is enabled again by the next start
    await gw.hg.disable_endpoint(acme.id)
    await Gateway(changed, gw.hg).setup()
    assert (await gw.store.get_endpoint(acme.id)).enabled


async def test_longest_valid_event_id_is_accepted(gw: InProcess) -> None:
    body = event_body(6)
    msg_id = "m" * 256  # the longest id the Standard Webhooks verifier accepts
    response = await gw.client.post("/in/acme", content=body, headers=sign_standard(INBOUND, msg_id, body))
    assert response.status_code == 200
    assert len(gw.store.messages) == 1


async def test_duplicate_is_audited_as_duplicate(gw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    body = event_body(7)
    headers = sign_standard(INBOUND, "msg_audit", body)
    await gw.client.post("/in/acme", content=body, headers=headers)
    audited: list[dict[str, Any]] = []

    class Audit:
        def info(self, event: str, **fields: Any) -> None:
            audited.append({"event": event, **fields})

    monkeypatch.setattr(pipeline_module, "audit", Audit())
    again = await gw.client.post("/in/acme", content=body, headers=headers)
    assert again.json() == {"status": "already processed"}
    (decision,) = [line for line in audited if line["event"] == "inbound.decision"]
    assert decision["decision"] == "duplicate"


async def asgi_get(app: Any, path: str, host: str) -> tuple[int, dict[str, str]]:
    """One GET straight into an ASGI app (no client that would parse the answer's Location)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", host.encode())],
        "scheme": "http",
        "client": ("127.0.0.1", 50000),
    }
    await app(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


async def test_redirect_keeps_an_ipv6_host() -> None:
    listener = _HttpListener("redirect", 8443)
    # with a port, the host survives
    assert await asgi_get(listener, "/in/acme", "[::1]:8080") == (
        308,
        {"location": "https://[::1]:8443/in/acme", "content-length": "0"},
    )
    status, headers = await asgi_get(listener, "/in/acme", "[::1]")
    assert (status, headers["location"]) == (308, "https://[::1]:8443/in/acme")


# -- forwarding to a destination behind a private CA, with mutual TLS ----------------------------------------


@dataclass(frozen=True)
class ForwardPki:
    server_ca: trustme.CA
    client_ca: trustme.CA
    cert: str  # the gateway's client certificate chain (PEM)
    key: str  # its private key (PEM)

    @property
    def ca(self) -> str:
        return self.server_ca.cert_pem.bytes().decode()

    def tls(self, **extra: Any) -> dict[str, Any]:
        return {"ca_bundle": self.ca, "client_cert": self.cert, "client_key": self.key, **extra}


@pytest.fixture(scope="module")
def forward_pki() -> ForwardPki:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    leaf = client_ca.issue_cert("gateway@example")
    return ForwardPki(
        server_ca,
        client_ca,
        "".join(b.bytes().decode() for b in leaf.cert_chain_pems),
        leaf.private_key_pem.bytes().decode(),
    )


@pytest.fixture
def mtls_receiver(forward_pki: ForwardPki, receivers: MakeReceiver) -> RecordingReceiver:
    """An HTTPS destination with a certificate from the private CA that requires a client certificate and
    refuses a handshake with an alert, as most TLS servers do (in its own thread)."""
    ctx = server_tls(forward_pki.server_ca, client_ca=forward_pki.client_ca, names=("127.0.0.1",))
    return receivers(ssl_context=ctx, tls_alerts=True, path="/hooks")


def forwarding_document(url: str, forward_tls: dict[str, Any] | None) -> dict[str, Any]:
    document = base_document(allow_insecure_forward=False)
    document["sources"]["acme"]["forward_to"] = url
    if forward_tls is not None:
        document["sources"]["acme"]["forward_tls"] = forward_tls
    return document


async def forward_one(config: GatewayConfig, msg_id: str) -> tuple[Hookgate, str]:
    """Run ``config`` in process: accept one event, let a worker forward it; (engine, delivery id)."""
    store = MemoryStore()
    hg = Hookgate(store, SecretBox(parse_master_keys(generate_master_key())))
    gateway = Gateway(config, hg)
    await gateway.setup()
    body = event_body(1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
        response = await client.post("/in/acme", content=body, headers=sign_standard(INBOUND, msg_id, body))
    assert response.json() == {"status": "accepted"}
    (message,) = (await store.list_messages(GATEWAY_APP_ID)).items
    (delivery,) = await store.list_deliveries(message.id)
    worker = hg.worker(address_policy=AddressPolicy(["127.0.0.0/8"]), idle_poll_s=0.05, shutdown_grace_s=1.0)
    try:
        await worker.run_until_idle(timeout=10)
    finally:
        await worker.close()
    await gateway.close()
    return hg, delivery.id


async def test_gateway_forwards_to_a_private_ca_destination_with_its_client_certificate(
    forward_pki: ForwardPki, mtls_receiver: RecordingReceiver
) -> None:
    config = GatewayConfig.from_mapping(forwarding_document(mtls_receiver.url, forward_pki.tls()))
    hg, delivery_id = await forward_one(config, "msg_mtls")
    try:
        delivery = await hg.store.get_delivery(delivery_id)
        attempts = await hg.store.list_attempts(delivery_id)
        assert [(a.status_code, a.error_class) for a in attempts] == [(200, None)], attempts
        assert delivery.status is DeliveryStatus.DELIVERED
        (request,) = mtls_receiver.requests
        assert ("email", "gateway@example") in request.peercert["subjectAltName"]
        assert Webhook(FORWARD).verify(request.body, dict(request.headers)) == json.loads(event_body(1))
    finally:
        await hg.close()


@pytest.mark.parametrize("forward_tls", ["none", "ca only"])
async def test_gateway_forward_without_the_private_ca_or_client_certificate_fails_as_tls(
    forward_pki: ForwardPki, mtls_receiver: RecordingReceiver, forward_tls: str
) -> None:
    tls = None if forward_tls == "none" else {"ca_bundle": forward_pki.ca}
    config = GatewayConfig.from_mapping(forwarding_document(mtls_receiver.url, tls))
    hg, delivery_id = await forward_one(config, "msg_no_tls")
    try:
        (attempt, *_) = await hg.store.list_attempts(delivery_id)
        assert attempt.status_code is None
        if tls is None:  # the system trust store does not know the private CA
            assert attempt.error_class == "tls"
            assert "unable to get local issuer certificate" in attempt.response_excerpt
        else:  # trusted, but no client certificate: under TLS 1.3 the alert comes after the handshake
            assert attempt.error_class == "tls"
            assert "certificate required" in attempt.response_excerpt
        assert mtls_receiver.count == 0
    finally:
        await hg.close()


async def test_forward_tls_is_stored_like_an_endpoints_tls_and_follows_the_config(
    forward_pki: ForwardPki,
) -> None:
    store = MemoryStore()
    box = SecretBox(parse_master_keys(generate_master_key()))
    hg = Hookgate(store, box)
    url = "https://127.0.0.1:9/hooks"
    await Gateway(
        GatewayConfig.from_mapping(forwarding_document(url, forward_pki.tls(min_version="1.3"))), hg
    ).setup()
    (endpoint,) = await store.list_endpoints(GATEWAY_APP_ID)
    assert endpoint.config.sections() == {
        "tls": {"ca_bundle": forward_pki.ca, "client_cert": forward_pki.cert, "min_version": "1.3"}
    }
    assert forward_pki.key.splitlines()[1].encode() not in endpoint.secrets_sealed
    opened = open_secrets(box, endpoint.id, endpoint.secrets_sealed)
    assert [(e.kind, e.value) for e in opened.entries] == [("secret", FORWARD), ("tls_key", forward_pki.key)]
    # the next start without forward_tls drops it from the same endpoint
    await Gateway(GatewayConfig.from_mapping(forwarding_document(url, None)), hg).setup()
    (again,) = await store.list_endpoints(GATEWAY_APP_ID)
    assert again.id == endpoint.id
    assert again.config.sections() == {}
    assert [e.kind for e in open_secrets(box, again.id, again.secrets_sealed).entries] == ["secret"]
    # and the repr of the source never shows the key
    assert forward_pki.key.splitlines()[1] not in repr(
        GatewayConfig.from_mapping(forwarding_document(url, forward_pki.tls()))
    )
    await hg.close()


def test_forward_tls_from_a_toml_file(
    tmp_path: Path, forward_pki: ForwardPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKGATE_TEST_FORWARD_KEY", forward_pki.key)
    path = tmp_path / "gw.toml"
    text = to_toml(forwarding_document("https://app.internal/hooks", None))
    text += (
        "[sources.acme.forward_tls]\n"
        f'ca_bundle = """\n{forward_pki.ca}"""\n'
        f'client_cert = """\n{forward_pki.cert}"""\n'
        'client_key = "env:HOOKGATE_TEST_FORWARD_KEY"\n'
    )
    path.write_text(text, encoding="utf-8")
    (source,) = GatewayConfig.load(path).sources
    assert source.forward_tls == {
        "ca_bundle": forward_pki.ca,
        "client_cert": forward_pki.cert,
        "client_key": "env:HOOKGATE_TEST_FORWARD_KEY",
    }


async def test_listeners_answer_unparseable_requests_with_the_generic_body(gw: InProcess) -> None:
    """The gateway's uvicorn servers (`_config`, as `run_gateway` runs them) on loopback, raw bytes."""
    upgrade = (
        b"GET /in/nope HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    for app in (gw.gateway, _HttpListener("reject", 8443, gw.gateway.routes)):
        runtime = Runtime()
        try:
            async with asyncio.timeout(30):
                port = await runtime.serve(_config(app, "127.0.0.1", 0, None), hint="")
            for request, status, body in [
                (b"GARBAGE\r\n\r\n", b"400 Bad Request", b'{"error":"bad_request"}'),
                (
                    b"POST /in/acme HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
                    b"400 Bad Request",
                    None,
                ),
                (upgrade, b"404 Not Found" if app is gw.gateway else b"403 Forbidden", None),
            ]:
                async with asyncio.timeout(30):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(request)
                    raw = await reader.read()
                    writer.close()
                head, _, answer = raw.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 " + status), raw
                assert b"content-type: application/json" in head.lower()
                document = json.loads(answer)
                assert set(document) == {"error"}
                if body is not None:
                    assert answer == body
        finally:
            await runtime.stop()


# -- out of process: real gateways, a real receiver ------------------------------------------------------


def to_toml(document: Mapping[str, Any]) -> str:
    """Enough TOML for these tests: tables of strings, integers, booleans and lists of strings."""
    lines: list[str] = []
    for name, table in document.items():
        if name == "sources":
            for source, values in table.items():
                lines.append(f"[sources.{json.dumps(source)}]")
                lines.extend(f"{k} = {json.dumps(v)}" for k, v in values.items())
        else:
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


@dataclass
class Destination:
    """The application behind the gateway (a `RecordingReceiver`'s responder): verifies the forward signature
    and counts bodies.

    While ``hold`` is not set, requests are held open (an unresponsive destination) and then answered 503
    without being counted.
    """

    secret: str
    hold: threading.Event | None = None
    bodies: Counter[bytes] = field(default_factory=Counter)
    signatures: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    held: int = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.hold is not None and not self.hold.is_set():
            self.held += 1
            return Reply(503, hold=self.hold)
        try:
            Webhook(self.secret).verify(request.body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return Reply(401)
        self.signatures.append(request.headers["webhook-signature"])
        self.bodies[request.body] += 1
        return Reply(204, b"")


@contextlib.asynccontextmanager
async def serve_receiver(destination: Destination) -> AsyncIterator[str]:
    """A `RecordingReceiver` answering as ``destination`` says; its URL (closing it ends held requests)."""
    async with RecordingReceiver(destination, path="/hooks") as receiver:
        yield receiver.url


@dataclass
class GatewayProc:
    proc: subprocess.Popen[bytes]
    stderr: Path
    stdout: Path
    _files: list[IO[bytes]]

    def text(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.text().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"event": "unparsed", "line": raw, "level": "unparsed"})
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def complaints(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("level") not in ("info", "debug")]

    async def wait(self, timeout: float) -> int:
        try:
            return await asyncio.to_thread(self.proc.wait, timeout)
        finally:
            for f in self._files:
                f.close()

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert await self.wait(10) == -signal.SIGKILL

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert await self.wait(30) == 0, self.text()

    async def reap(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        await self.wait(10)


def gateway_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_") and k != "FORWARDED_ALLOW_IPS"
    }
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


async def start_gateway(
    tmp_path: Path,
    name: str,
    document: Mapping[str, Any],
    *,
    data_dir: Path | None = None,
    env: dict[str, str] | None = None,
    log_level: str = "info",
    procs: list[GatewayProc] | None = None,
) -> GatewayProc:
    """Write the TOML, start ``hookgate gateway`` and wait until it listens."""
    config = tmp_path / f"{name}.toml"
    config.write_text(to_toml(document), encoding="utf-8")
    stderr, stdout = tmp_path / f"{name}.err", tmp_path / f"{name}.out"
    err_file, out_file = stderr.open("ab"), stdout.open("ab")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "hookgate",
            "gateway",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir or tmp_path / "data"),
            "--log-level",
            log_level,
        ],
        env=env or gateway_env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=out_file,
        stderr=err_file,
    )
    gw = GatewayProc(proc, stderr, stdout, [err_file, out_file])
    if procs is not None:
        procs.append(gw)
    started = len(gw.events("gateway.start"))
    deadline = time.monotonic() + 20
    while len(gw.events("gateway.start")) <= started:
        assert proc.poll() is None, gw.text()
        if time.monotonic() > deadline:
            pytest.fail(f"gateway {name} did not start: {gw.text()}")
        await asyncio.sleep(0.05)
    return gw


async def until(predicate: Callable[[], Awaitable[bool] | bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def gateway_document(
    port: int, forward_to: str, *, source: Mapping[str, Any] | None = None, **gateway: Any
) -> dict[str, Any]:
    document = base_document(host="127.0.0.1", port=port, **gateway)
    document["sources"]["acme"].update(forward_to=forward_to, **dict(source or {}))
    return document


def sqlite_statuses(path: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        return Counter(dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")))
    finally:
        conn.close()


@pytest.mark.slow
async def test_end_to_end_every_event_forwarded_once_and_no_secret_logged(tmp_path: Path) -> None:
    receiver = Destination(FORWARD)
    port = free_port()
    procs: list[GatewayProc] = []
    sent_signatures: list[str] = []
    try:
        async with serve_receiver(receiver) as hook_url:
            gw = await start_gateway(
                tmp_path, "gw", gateway_document(port, hook_url), log_level="debug", procs=procs
            )
            bodies = [event_body(n) for n in range(20)]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

                async def post(n: int) -> httpx.Response:
                    headers = sign_standard(INBOUND, f"msg_e2e_{n}", bodies[n])
                    sent_signatures.append(headers["webhook-signature"])
                    return await client.post("/in/acme", content=bodies[n], headers=headers)

                responses = await asyncio.gather(*(post(n) for n in range(20)))
                assert [r.status_code for r in responses] == [200] * 20
                assert {r.text for r in responses} == {'{"status":"accepted"}'}
                # the provider retries one: acknowledged, not forwarded again
                again = await post(7)
                assert again.json() == {"status": "already processed"}
                # a tampered one is refused
                tampered = sign_standard(INBOUND, "msg_e2e_tampered", bodies[0])
                sent_signatures.append(tampered["webhook-signature"])
                refused = await client.post("/in/acme", content=bodies[0] + b" ", headers=tampered)
                assert refused.status_code == 401
                assert refused.json() == {"error": "unauthorized"}

            await until(lambda: sum(receiver.bodies.values()) >= 20, 20, "20 forwarded events")
            await asyncio.sleep(1.0)  # time for a wrong second forward to show up
            await gw.stop()
    finally:
        for p in procs:
            await p.reap()

    assert receiver.bodies == Counter(dict.fromkeys(bodies, 1))
    assert receiver.bad_signatures == 0
    assert sqlite_statuses(tmp_path / "data" / "hookgate.db") == Counter({"delivered": 20})
    log = gw.text()
    assert gw.complaints() == []
    decisions = Counter((d["decision"], d["reason"]) for d in gw.events("inbound.decision"))
    assert decisions == Counter(
        {("accepted", "ok"): 20, ("duplicate", "duplicate"): 1, ("rejected", "signature_mismatch"): 1}
    ), decisions
    assert gw.events("worker.stop")[0]["delivered"] == 20
    # no secret, no signature in the log
    master_key = (tmp_path / "data" / "master.key").read_text().strip()
    _key_id, key_material = master_key.split(":", 1)  # the key id (k1) is not secret
    assert len(key_material) >= 32
    secrets = [INBOUND, FORWARD, key_material]
    secrets += [s.removeprefix("whsec_") for s in (INBOUND, FORWARD)]
    for value in secrets:
        assert value not in log
    for signature in [*sent_signatures, *receiver.signatures]:
        for part in (signature, *signature.split(",", 1)[1:]):
            assert part not in log
    # bodies are not logged either
    assert '"pad"' not in log


@pytest.mark.slow
async def test_events_acked_before_kill_9_are_all_forwarded_after_restart(tmp_path: Path) -> None:
    events = 200
    hold = threading.Event()
    receiver = Destination(FORWARD, hold=hold)  # unresponsive until the gateway has been killed
    port = free_port()
    env = gateway_env(HOOKGATE_LEASE_SECONDS="5")
    db = tmp_path / "data" / "hookgate.db"
    procs: list[GatewayProc] = []
    t0 = time.monotonic()
    try:
        async with serve_receiver(receiver) as hook_url:
            document = gateway_document(port, hook_url)
            first = await start_gateway(tmp_path, "first", document, env=env, procs=procs)
            bodies = {n: event_body(n) for n in range(events)}
            limits = httpx.Limits(max_connections=events)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

                async def post(n: int) -> int | None:
                    headers = sign_standard(INBOUND, f"msg_kill_{n}", bodies[n])
                    try:
                        response = await client.post("/in/acme", content=bodies[n], headers=headers)
                    except httpx.TransportError:
                        return None
                    if response.status_code == 200 and response.json() == {"status": "accepted"}:
                        return n
                    return None

                results = await asyncio.gather(*(post(n) for n in range(events)))
                # kill -9 right after the last acknowledgement
                first.proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert await first.wait(10) == -signal.SIGKILL
            assert not first.events("gateway.stopping")  # it died, it did not shut down
            acked = {n for n in results if n is not None}
            assert len(acked) == events, f"only {len(acked)} of {events} acknowledged"
            # nothing reached the destination yet; everything acknowledged is in the database, undelivered,
            # some of it leased by the dead process (in flight at the destination when it died)
            assert sum(receiver.bodies.values()) == 0
            at_kill = await asyncio.to_thread(sqlite_statuses, db)
            assert at_kill.total() >= len(acked)
            assert at_kill["delivered"] == 0
            held_at_kill = receiver.held
            assert held_at_kill > 0

            hold.set()  # the destination answers from now on
            second = await start_gateway(tmp_path, "second", document, env=env, procs=procs)
            restarted_at = time.monotonic()
            wanted = {bodies[n] for n in acked}

            await until(
                lambda: wanted <= set(receiver.bodies), 30, "every acknowledged event at the destination"
            )
            done_at = time.monotonic()
            await asyncio.sleep(0.5)
            await second.stop()
    finally:
        for p in procs:
            await p.reap()

    missing = sorted(n for n in acked if bodies[n] not in receiver.bodies)
    assert missing == []
    # the dead process never got a 2xx, so nothing is received twice
    assert receiver.bodies == Counter(dict.fromkeys(wanted, 1))
    assert receiver.bad_signatures == 0
    assert sqlite_statuses(db) == Counter({"delivered": len(acked)})
    assert second.complaints() == []
    print(
        f"\nacked={len(acked)} held_at_kill={held_at_kill} statuses_at_kill={dict(at_kill)}"
        f" restart={restarted_at - killed_at:.1f}s all_forwarded_after={done_at - restarted_at:.1f}s"
        f" total={done_at - t0:.1f}s"
    )


# -- TLS, mutual TLS and the plain-HTTP listener ----------------------------------------------------------


def write_server_cert(ca: trustme.CA, directory: Path) -> tuple[str, str]:
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = directory / "server.pem", directory / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return cert.name, key.name  # relative to the config file, which lives in the same directory


def client_context(ca: trustme.CA, *, client: trustme.LeafCert | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if client is not None:
        client.configure_cert(ctx)
    return ctx


async def raw_post(
    port: int, ctx: ssl.SSLContext, path: str, body: bytes, headers: Mapping[str, str]
) -> bytes | BaseException:
    """One HTTP/1.1 POST over TLS with nothing in between: the response bytes, or what failed."""
    head = [
        f"POST {path} HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    head += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"), 10
        )
    except (ssl.SSLError, OSError) as exc:
        return exc
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    except (ssl.SSLError, OSError) as exc:
        return exc
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, OSError):
            await writer.wait_closed()


@pytest.mark.slow
async def test_tls_listener_with_tls13_floor_and_http_redirect(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_server_cert(ca, tmp_path)
    receiver = Destination(FORWARD)
    port, http_port = free_port(), free_port()
    procs: list[GatewayProc] = []
    try:
        async with serve_receiver(receiver) as hook_url:
            document = gateway_document(
                port,
                hook_url,
                source={"require_https": True},
                tls_cert=cert,
                tls_key=key,
                min_tls_version="1.3",
                http_port=http_port,
                http_mode="redirect",
            )
            gw = await start_gateway(tmp_path, "tls", document, procs=procs)
            body = event_body(1)
            async with httpx.AsyncClient(verify=client_context(ca)) as client:
                response = await client.post(
                    f"https://127.0.0.1:{port}/in/acme",
                    content=body,
                    headers=sign_standard(INBOUND, "msg_tls", body),
                )
                assert response.status_code == 200
                assert response.json() == {"status": "accepted"}
                assert (
                    response.extensions["network_stream"].get_extra_info("ssl_object").version() == "TLSv1.3"
                )

            # a client that cannot speak TLS 1.3 fails in the handshake
            old = client_context(ca)
            old.maximum_version = ssl.TLSVersion.TLSv1_2
            other = event_body(2)
            outcome = await raw_post(port, old, "/in/acme", other, sign_standard(INBOUND, "msg_tls12", other))
            # (the server aborts the handshake: the client sees the protocol_version alert or a reset)
            assert isinstance(outcome, (ssl.SSLError, ConnectionError)), outcome

            # the plain-HTTP listener redirects to the same path (and query) on the HTTPS port
            async with httpx.AsyncClient() as plain:
                redirected = await plain.post(
                    f"http://127.0.0.1:{http_port}/in/acme?x=1",
                    content=body,
                    headers=sign_standard(INBOUND, "msg_http", body),
                )
                assert redirected.status_code == 308
                assert redirected.headers["location"] == f"https://127.0.0.1:{port}/in/acme?x=1"
                localhost = await plain.get(f"http://localhost:{http_port}/anything")
                assert localhost.status_code == 308
                assert localhost.headers["location"] == f"https://localhost:{port}/anything"

            await until(lambda: sum(receiver.bodies.values()) >= 1, 15, "the forwarded event")
            await gw.stop()
    finally:
        for p in procs:
            await p.reap()
    assert receiver.bodies == Counter({body: 1})
    # only the TLS 1.3 request reached the application
    assert [d["event_id"] for d in gw.events("inbound.decision")] == ["msg_tls"]
    assert gw.complaints() == []


@pytest.mark.slow
async def test_mutual_tls_refuses_clients_without_a_certificate_from_the_ca(tmp_path: Path) -> None:
    server_ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    cert, key = write_server_cert(server_ca, tmp_path)
    (tmp_path / "clients.pem").write_bytes(client_ca.cert_pem.bytes())
    receiver = Destination(FORWARD)
    port = free_port()
    procs: list[GatewayProc] = []
    try:
        async with serve_receiver(receiver) as hook_url:
            document = gateway_document(
                port,
                hook_url,
                source={"require_https": True},
                tls_cert=cert,
                tls_key=key,
                client_ca="clients.pem",
            )
            gw = await start_gateway(tmp_path, "mtls", document, procs=procs)

            async def attempt(ctx: ssl.SSLContext, n: int) -> bytes | BaseException:
                body = event_body(n)
                return await raw_post(
                    port, ctx, "/in/acme", body, sign_standard(INBOUND, f"msg_mtls_{n}", body)
                )

            refused = {
                "no certificate": await attempt(client_context(server_ca), 1),
                "certificate from another CA": await attempt(
                    client_context(server_ca, client=other_ca.issue_cert("intruder@example.com")), 2
                ),
                "certificate from the server's CA": await attempt(
                    client_context(server_ca, client=server_ca.issue_cert("server-ca-client@example.com")), 3
                ),
            }
            tls12 = client_context(server_ca)
            tls12.maximum_version = ssl.TLSVersion.TLSv1_2
            refused["no certificate, TLS 1.2"] = await attempt(tls12, 4)
            for what, outcome in refused.items():
                # refused in the handshake: an SSL error or a dropped connection, never an HTTP answer
                if isinstance(outcome, bytes):
                    assert not outcome.startswith(b"HTTP/"), (what, outcome)
                else:
                    assert isinstance(outcome, (ssl.SSLError, ConnectionError)), (what, outcome)

            good = client_context(server_ca, client=client_ca.issue_cert("provider@example.com"))
            accepted = await attempt(good, 5)
            assert isinstance(accepted, bytes), accepted
            assert accepted.startswith(b"HTTP/1.1 200"), accepted
            assert accepted.endswith(b'{"status":"accepted"}')
            good12 = client_context(server_ca, client=client_ca.issue_cert("provider@example.com"))
            good12.maximum_version = ssl.TLSVersion.TLSv1_2
            accepted12 = await attempt(good12, 6)
            assert isinstance(accepted12, bytes), accepted12
            assert accepted12.startswith(b"HTTP/1.1 200"), accepted12

            await until(lambda: sum(receiver.bodies.values()) >= 2, 15, "the forwarded events")
            await asyncio.sleep(0.5)
            await gw.stop()
    finally:
        for p in procs:
            await p.reap()
    # nothing from the refused clients reached the application, let alone the destination
    assert receiver.bodies == Counter({event_body(5): 1, event_body(6): 1})
    assert sorted(d["event_id"] for d in gw.events("inbound.decision")) == ["msg_mtls_5", "msg_mtls_6"]
    assert sqlite_statuses(tmp_path / "data" / "hookgate.db") == Counter({"delivered": 2})


@pytest.mark.slow
async def test_plain_http_listener_rejects(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_server_cert(ca, tmp_path)
    port, http_port = free_port(), free_port()
    procs: list[GatewayProc] = []
    try:
        document = gateway_document(
            port,
            "http://127.0.0.1:9/hooks",
            tls_cert=cert,
            tls_key=key,
            http_port=http_port,
            http_mode="reject",
        )
        gw = await start_gateway(tmp_path, "reject", document, procs=procs)
        body = event_body(1)
        async with httpx.AsyncClient() as client:
            for method, path in (("POST", "/in/acme"), ("GET", "/"), ("POST", "/nope")):
                response = await client.request(
                    method,
                    f"http://127.0.0.1:{http_port}{path}",
                    content=body,
                    headers=sign_standard(INBOUND, "msg_reject", body),
                )
                assert response.status_code == 403, (method, path)
                assert response.json() == {"error": "forbidden"}
                assert "location" not in response.headers
        await gw.stop()
    finally:
        for p in procs:
            await p.reap()
    # refused on the plain listener, and audited like the HTTPS listener's refusals
    assert [
        (d["source"], d["decision"], d["reason"], d["status"]) for d in gw.events("inbound.decision")
    ] == [
        ("acme", "rejected", "https_required", 403),
        (None, "rejected", "https_required", 403),
        (None, "rejected", "https_required", 403),
    ]
    assert sqlite_statuses(tmp_path / "data" / "hookgate.db").total() == 0


@pytest.mark.slow
async def test_forwarded_headers_are_trusted_only_from_the_sources_trusted_proxies(tmp_path: Path) -> None:
    port = free_port()
    procs: list[GatewayProc] = []
    try:
        # plain HTTP listener, a source that requires HTTPS and one client address, no trusted proxies
        document = gateway_document(
            port, "http://127.0.0.1:9/hooks", source={"require_https": True, "allow_ips": ["10.1.2.3/32"]}
        )
        gw = await start_gateway(tmp_path, "proxy", document, procs=procs)
        body = event_body(1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            direct = await client.post(
                "/in/acme", content=body, headers=sign_standard(INBOUND, "msg_p1", body)
            )
            assert direct.status_code == 403
            spoofed = await client.post(
                "/in/acme",
                content=body,
                headers={
                    **sign_standard(INBOUND, "msg_p2", body),
                    "x-forwarded-proto": "https",
                    "x-forwarded-for": "10.1.2.3",
                },
            )
        await gw.stop()
    finally:
        for p in procs:
            await p.reap()
    assert spoofed.status_code == 403, spoofed.text


async def test_run_gateway_on_a_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    # uvicorn's sys.exit() on a failed bind used to leave the event loop from inside the listener's task
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        document = two_sources()
        document["gateway"].update(
            host="127.0.0.1", port=port, database_url=f"sqlite:///{tmp_path / 'gateway.db'}"
        )
        config = GatewayConfig.from_mapping(document)
        with pytest.raises(ConfigError, match="a listener failed to start"):
            await run_gateway(config, Settings(data_dir=tmp_path, master_key=generate_master_key()))
