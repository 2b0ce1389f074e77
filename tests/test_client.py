"""The Python delivery API: endpoint validation, sealed generated secrets, publish, idempotency, rotation,
the sync twin and the module-level default instance."""

from __future__ import annotations

import asyncio
import contextlib
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

import hookgate
from hookgate.client import (
    MAX_PAYLOAD_BYTES,
    Hookgate,
    NewEndpoint,
    close_default,
    close_default_sync,
    encode_payload,
    validate_url,
)
from hookgate.config import EndpointConfig
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError, ConflictError, KeyFormatError
from hookgate.keys import generate_key
from hookgate.models import Endpoint, Message
from hookgate.outbound.request import RequestBuilder
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import FixedClock
from hookgate.vault import open_secrets
from tests.support import postgres_dsn

URL = "https://receiver.example.com/webhooks"
HOOKGATE_ENV = (
    "HOOKGATE_MASTER_KEY",
    "HOOKGATE_MASTER_KEY_FILE",
    "HOOKGATE_DATABASE_URL",
    "HOOKGATE_DATA_DIR",
    "HOOKGATE_CONFIG",
    "HOOKGATE_SSRF_ALLOWLIST",
)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(parse_master_keys(generate_master_key()))


@pytest.fixture
def clock() -> FixedClock:
    """Fixed at the real time now (what it stamps is checked against real-time rules)."""
    return FixedClock(time.time())


@pytest.fixture(params=["memory", "sqlite"])
async def hg(
    request: pytest.FixtureRequest, tmp_path: Path, box: SecretBox, clock: FixedClock
) -> AsyncIterator[Hookgate]:
    if request.param == "memory":
        store: Any = MemoryStore()
    else:
        store = await SQLiteStore.open(tmp_path / "hookgate.db")
    client = Hookgate(store, box, clock=clock)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in HOOKGATE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOOKGATE_DATA_DIR", str(tmp_path))
    return tmp_path


# -- endpoint validation ------------------------------------------------------------------------------

BAD_ENDPOINTS: list[tuple[str, dict[str, Any], str]] = [
    ("not a url", {}, "absolute https:// URL"),
    ("ftp://files.example.com/x", {}, "absolute https:// URL"),
    ("https:///no-host", {}, "absolute https:// URL"),
    ("http://receiver.example.com/x", {}, "must use https"),
    ("https://user:pass@receiver.example.com/x", {}, "must not carry credentials"),
    ("https://token@receiver.example.com/x", {}, "must not carry credentials"),
    ("https://receiver.example.com/x#frag", {}, "fragment"),
    # issue 10 item 14: URLs that can never be delivered are refused at save, not at delivery time
    ("https://exa mple.com/x", {}, "endpoint URL contains ' ' at position 11"),
    ("https://receiver.example.com/x\r\n", {}, "endpoint URL contains '\\r' at position 30"),
    ("https://127.1/x", {}, "host '127.1' is not an IPv4 address in dotted-decimal form"),
    ("https://0/x", {}, "host '0' is not an IPv4 address"),
    ("https://2130706433/x", {}, "host '2130706433' is not an IPv4 address"),
    ("https://0177.0.0.1/x", {}, "host '0177.0.0.1' is not an IPv4 address"),
    ("https://receiver.example.com:65536/x", {}, "port '65536' must be a number from 1 to 65535"),
    ("https://receiver.example.com:0/x", {}, "port '0' must be a number from 1 to 65535"),
    ("https://[::1%25lo]/x", {}, "has an IPv6 zone"),
    (
        URL,
        {
            "scheme": "hmac",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "scheme_options": {"algorithm": ["x"]},
        },
        "scheme option algorithm must be a string, not list",
    ),
    (
        URL,
        {
            "scheme": "hmac",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "scheme_options": {"prefix": "a\x0b"},
        },
        "prefix: header 'X-Signature': the value contains a control character",
    ),
    (
        URL,
        {"scheme_options": {"prefix": "x"}},
        "scheme standard-webhooks has no option 'prefix'; it takes none",
    ),
    (URL, {"scheme": "none", "scheme_options": {"header_name": "X"}}, "scheme none takes no scheme_options"),
    (URL, {"scheme_options": ["prefix"]}, "scheme_options must be a mapping"),
    (URL, {"event_types": "abc"}, "event types must be a list of names or patterns, not str"),
    (URL, {"scheme": "standard-webhooks-ed25519", "keys": "PEM"}, "keys must be a list of key texts"),
    (URL, {"allow_insecure": "yes"}, "allow_insecure must be true or false, not 'yes'"),
    (URL, {"allow_insecure": 1}, "allow_insecure must be true or false, not 1"),
    (URL, {"scheme": "carrier-pigeon"}, "scheme 'carrier-pigeon'; expected one of standard-webhooks"),
    (URL, {"event_types": ["user created"]}, "event filter 'user created'"),
    (URL, {"event_types": ["user.*.created"]}, "event filter 'user.*.created'"),
    (URL, {"event_types": ["user."]}, "event filter 'user.'"),
    (URL, {"timeout_s": 0}, "timeout_s must be between 0 and 120"),
    (URL, {"timeout_s": -1}, "timeout_s must be between 0 and 120"),
    (URL, {"timeout_s": 121}, "timeout_s must be between 0 and 120"),
    (URL, {"timeout_s": float("inf")}, "timeout_s must be between 0 and 120"),
    (URL, {"timeout_s": float("nan")}, "timeout_s must be between 0 and 120"),
    (URL, {"retry_schedule": []}, "retry schedule must contain at least one delay"),
    (URL, {"retry_schedule": [1, -5]}, "retry schedule entry 1"),
    (URL, {"retry_schedule": [True]}, "retry schedule entry 0"),
    (URL, {"retry_schedule": "1,2,3"}, "not a string"),
    (URL, {"rate_limit_per_s": 0}, "rate_limit_per_s must be a positive number"),
    (URL, {"rate_limit_per_s": -3}, "rate_limit_per_s must be a positive number"),
    (URL, {"rate_limit_per_s": float("nan")}, "rate_limit_per_s must be a positive number"),
    (URL, {"max_concurrency": 0}, "max_concurrency must be an integer"),
    (URL, {"max_concurrency": True}, "max_concurrency must be an integer"),
    (URL, {"headers": {"Content-Type": "text/plain"}}, "'Content-Type' is set by hookgate"),
    (URL, {"headers": {"webhook-signature": "v1,x"}}, "'webhook-signature' is set by hookgate"),
    (URL, {"headers": {"X Bad": "1"}}, "'X Bad' is not a valid HTTP header name"),
    (URL, {"headers": {"X-Ok": "a\r\nX-Evil: 1"}}, "header 'X-Ok': the value contains a control character"),
    (URL, {"headers": {"X-Ok": "a\x0bb"}}, "header 'X-Ok': the value contains a control character ('\\x0b')"),
    (URL, {"headers": {"X" * 10_000: "1"}}, "is 10000 characters long; at most 256 are allowed"),
    (URL, {"headers": {"X-A": "1", "x-a": "2"}}, "appears twice"),
    (URL, {"secret": "whsec_!!!not-base64"}, "whsec_ secret is not valid base64"),
    (URL, {"secret": "whsec_"}, "whsec_"),
    (
        URL,
        {"scheme": "standard-webhooks-ed25519", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        "takes keys, not a secret",
    ),
    (URL, {"scheme": "standard-webhooks-ed25519", "secret": "abc"}, "takes keys, not a secret"),
    (URL, {"scheme": "none", "secret": "abc"}, "scheme none takes no secret or keys"),
    (URL, {"scheme": "stripe"}, "scheme stripe needs a secret"),
    (URL, {"scheme": "hmac"}, "scheme hmac needs a secret"),
]


@pytest.mark.parametrize(("url", "options", "message"), BAD_ENDPOINTS)
async def test_create_endpoint_rejects_bad_configuration(
    hg: Hookgate, url: str, options: dict[str, Any], message: str
) -> None:
    app = await hg.create_application("Acme")
    with pytest.raises(ConfigError, match=re.escape(message)):
        await hg.create_endpoint(app.id, url, **options)
    assert await hg.store.list_endpoints(app.id) == []


async def test_wrong_secret_format_is_a_key_format_error(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    with pytest.raises(KeyFormatError):
        await hg.create_endpoint(app.id, URL, secret="whsec_***")
    with pytest.raises(KeyFormatError):
        await hg.create_endpoint(app.id, URL, scheme="standard-webhooks-ed25519", keys=["not a pem"])


@pytest.mark.parametrize("option", ["timeout_s", "rate_limit_per_s"])
async def test_bool_timeout_and_rate_are_rejected(hg: Hookgate, option: str) -> None:
    app = await hg.create_application("Acme")
    with pytest.raises(ConfigError):
        await hg.create_endpoint(app.id, URL, **{option: True})


async def test_create_application_validation(hg: Hookgate) -> None:
    with pytest.raises(ConfigError, match="application name must be 1-256 characters"):
        await hg.create_application("")
    with pytest.raises(ConfigError, match="application name must be 1-256 characters"):
        await hg.create_application("x" * 257)
    for bad_id in ("x" * 65, "appé", "", "app\x00", "app\n", "a/b", "a b"):
        with pytest.raises(
            ConfigError, match=r"application id .* must be 1-64 characters of \[A-Za-z0-9_.-\]"
        ):
            await hg.create_application("Acme", app_id=bad_id)
    with pytest.raises(ConfigError, match="application name must not contain a NUL character"):
        await hg.create_application("Ac\x00me")
    with pytest.raises(ConfigError, match="application name must be a string, not int"):
        await hg.create_application(5)  # type: ignore[arg-type]
    app = await hg.create_application("Acme", app_id="app_acme")
    assert app.id == "app_acme"
    assert (await hg.store.get_application("app_acme")).name == "Acme"
    generated = await hg.create_application("Other")
    assert generated.id.startswith("app_")


async def test_endpoint_url_is_stored_exactly_as_accepted(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    url = "https://Receiver.Example.com./a%2Fb?c=%7e"
    created = await hg.create_endpoint(app.id, url)
    assert created.endpoint.config.url == url
    assert (await hg.store.get_endpoint(created.endpoint.id)).config.url == url
    assert validate_url("http://127.0.0.1:8080/hook", allow_insecure=True) == "http://127.0.0.1:8080/hook"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "https://receiver.example.com/x\r\nX: y"}, "endpoint URL contains '\\r'"),
        ({"url": "https://127.1/x"}, "host '127.1' is not an IPv4 address"),
        ({"url": "https://receiver.example.com:99999/x"}, "port '99999'"),
        ({"allow_insecure": "no"}, "allow_insecure must be true or false, not 'no'"),
    ],
)
async def test_update_endpoint_refuses_undeliverable_urls(
    hg: Hookgate, changes: dict[str, Any], message: str
) -> None:
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(app.id, URL)
    with pytest.raises(ConfigError, match=re.escape(message)):
        await hg.update_endpoint(created.endpoint.id, **changes)
    assert (await hg.store.get_endpoint(created.endpoint.id)).config.url == URL


async def test_valid_endpoint_is_stored_with_its_settings(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(
        app.id,
        "http://127.0.0.1:9/hook",
        event_types=["user.*", "invoice.paid"],
        headers={"X-Tenant": "acme"},
        timeout_s=5,
        rate_limit_per_s=10,
        max_concurrency=4,
        retry_schedule=[1, 5, 30],
        allow_insecure=True,
    )
    stored = await hg.store.get_endpoint(created.endpoint.id)
    assert stored.id.startswith("ep_")
    assert stored.config.url == "http://127.0.0.1:9/hook"
    assert stored.config.event_types == ("user.*", "invoice.paid")
    assert stored.config.headers == {"X-Tenant": "acme"}
    assert stored.config.policy.timeout_s == 5.0
    assert stored.config.policy.rate_limit_per_s == 10.0
    assert stored.config.policy.max_concurrency == 4
    assert stored.config.policy.retry_schedule == (1.0, 5.0, 30.0)
    assert stored.config.allow_insecure is True
    assert stored.config.scheme == "standard-webhooks"


# -- generated and given secrets ------------------------------------------------------------------------


async def test_generated_secret_is_returned_once_and_stored_sealed(hg: Hookgate, box: SecretBox) -> None:
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(app.id, URL)
    assert isinstance(created, NewEndpoint)
    secret = created.secret
    assert secret is not None
    assert secret.startswith("whsec_")
    assert secret not in repr(created)
    assert "redacted" in repr(created)
    stored = await hg.store.get_endpoint(created.endpoint.id)
    assert secret.encode() not in stored.secrets_sealed
    assert secret[len("whsec_") :].encode() not in stored.secrets_sealed
    assert secret not in repr(stored)
    assert open_secrets(box, stored.id, stored.secrets_sealed).active_secrets(time.time()) == [secret]


async def test_generated_key_for_key_schemes(hg: Hookgate, box: SecretBox) -> None:
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(app.id, URL, scheme="standard-webhooks-ed25519")
    assert created.secret is not None
    assert "PRIVATE KEY" in created.secret
    stored = await hg.store.get_endpoint(created.endpoint.id)
    assert b"PRIVATE KEY" not in stored.secrets_sealed
    secrets = open_secrets(box, stored.id, stored.secrets_sealed)
    assert secrets.active_keys(time.time()) == [created.secret.encode()]
    assert secrets.active_secrets(time.time()) == []


async def test_given_secret_is_not_returned(hg: Hookgate, box: SecretBox) -> None:
    app = await hg.create_application("Acme")
    given = generate_key("hmac")
    created = await hg.create_endpoint(app.id, URL, secret=given)
    assert created.secret is None
    stored = await hg.store.get_endpoint(created.endpoint.id)
    assert open_secrets(box, stored.id, stored.secrets_sealed).active_secrets(time.time()) == [given]


async def test_scheme_none_needs_no_master_key() -> None:
    client = Hookgate(MemoryStore(), None)
    try:
        app = await client.create_application("Acme")
        created = await client.create_endpoint(app.id, URL, scheme="none")
        assert created.secret is None
        assert created.endpoint.secrets_sealed == b""
        with pytest.raises(ConfigError, match="no master key configured"):
            await client.create_endpoint(app.id, URL)
    finally:
        await client.close()


# -- publish ---------------------------------------------------------------------------------------------


async def test_publish_fans_out_to_subscribed_enabled_endpoints(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    other = await hg.create_application("Other")
    every = (await hg.create_endpoint(app.id, URL)).endpoint
    users = (await hg.create_endpoint(app.id, URL, event_types=["user.*"])).endpoint
    invoices = (await hg.create_endpoint(app.id, URL, event_types=["invoice.paid"])).endpoint
    disabled = (await hg.create_endpoint(app.id, URL)).endpoint
    await hg.disable_endpoint(disabled.id)
    await hg.create_endpoint(other.id, URL)

    def targets(result: Any) -> set[str]:
        return {d.endpoint_id for d in result.deliveries}

    created = await hg.publish(app.id, "user.created", {"id": 1})
    assert targets(created) == {every.id, users.id}
    paid = await hg.publish(app, "invoice.paid", {"id": 2})
    assert targets(paid) == {every.id, invoices.id}
    misc = await hg.publish(app.id, "misc", {"id": 3})
    assert targets(misc) == {every.id}
    assert all(d.status == "pending" and d.attempts == 0 for d in created.deliveries)
    assert created.duplicate is False
    stored = await hg.store.list_deliveries(created.message.id)
    assert {d.endpoint_id for d in stored} == {every.id, users.id}

    await hg.enable_endpoint(disabled.id)
    again = await hg.publish(app.id, "misc", {"id": 4})
    assert targets(again) == {every.id, disabled.id}


async def test_publish_with_no_endpoints_stores_the_message(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    result = await hg.publish(app.id, "user.created", {"id": 1})
    assert result.deliveries == ()
    assert (await hg.store.get_message(result.message.id)).payload == b'{"id":1}'


async def test_payload_object_is_serialised_compactly(hg: Hookgate, clock: FixedClock) -> None:
    app = await hg.create_application("Acme")
    result = await hg.publish(app.id, "user.created", {"name": "Zoë", "tags": [1, 2], "ok": True, "n": None})
    expected = '{"name":"Zoë","tags":[1,2],"ok":true,"n":null}'.encode()
    assert result.message.payload == expected
    assert result.message.event_type == "user.created"
    assert result.message.app_id == app.id
    assert result.message.created_at == clock.now
    assert result.message.id.startswith("msg_")
    assert (await hg.store.get_message(result.message.id)).payload == expected


async def test_bytes_payload_is_sent_as_given(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    raw = b'{ "spaced" : [1, 2] }'
    assert (await hg.publish(app.id, "user.created", raw)).message.payload == raw
    assert (await hg.publish(app.id, "user.created", bytearray(b"[1]"))).message.payload == b"[1]"
    assert (await hg.publish(app.id, "user.created", memoryview(b"2"))).message.payload == b"2"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not valid UTF-8 JSON"),
        (b'{"a": 1', "not valid UTF-8 JSON"),
        (b"", "not valid UTF-8 JSON"),
        (b'"\xff"', "not valid UTF-8 JSON"),
        ('{"a": 1}', "not str"),
        ({"a": {1, 2}}, "not JSON-serialisable"),
        ({"a": float("nan")}, "not JSON-serialisable"),
        (object(), "not JSON-serialisable"),
    ],
)
async def test_bad_payloads_are_rejected(hg: Hookgate, payload: object, message: str) -> None:
    app = await hg.create_application("Acme")
    await hg.create_endpoint(app.id, URL)
    with pytest.raises(ConfigError, match=message):
        await hg.publish(app.id, "user.created", payload)


async def test_too_large_payload_is_rejected(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    overhead = len(b'{"x":""}')
    fits = {"x": "a" * (MAX_PAYLOAD_BYTES - overhead)}
    assert len((await hg.publish(app.id, "big", fits)).message.payload) == MAX_PAYLOAD_BYTES
    with pytest.raises(ConfigError, match=f"the limit is {MAX_PAYLOAD_BYTES}"):
        await hg.publish(app.id, "big", {"x": "a" * (MAX_PAYLOAD_BYTES - overhead + 1)})
    with pytest.raises(ConfigError, match="the limit is"):
        await hg.publish(app.id, "big", b'"' + b"a" * MAX_PAYLOAD_BYTES + b'"')


@pytest.mark.parametrize(
    "event_type", ["", "user created", "user..created", ".user", "user.", "a/b", "x" * 257]
)
async def test_invalid_event_type_is_rejected(hg: Hookgate, event_type: str) -> None:
    app = await hg.create_application("Acme")
    with pytest.raises(ConfigError, match="event type"):
        await hg.publish(app.id, event_type, {})


@pytest.mark.parametrize(
    "payload",
    [
        '{"a":1}'.encode("utf-16"),
        '{"a":1}'.encode("utf-32-be"),
        b'"\xed\xa0\x80"',  # a UTF-8-encoded lone surrogate: not valid UTF-8
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":NaN}',
    ],
    ids=["utf-16", "utf-32", "lone-surrogate", "utf-8-bom", "nan"],
)
def test_bytes_payload_must_be_utf8_standard_json(payload: bytes) -> None:
    with pytest.raises(ConfigError):
        encode_payload(payload)


# -- idempotency ---------------------------------------------------------------------------------------


async def test_idempotency_key_returns_the_first_message(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    other = await hg.create_application("Other")
    await hg.create_endpoint(app.id, URL)
    await hg.create_endpoint(app.id, URL)
    await hg.create_endpoint(other.id, URL)

    first = await hg.publish(app.id, "order.created", {"n": 1}, idempotency_key="order-1")
    second = await hg.publish(app.id, "order.created", {"n": 2}, idempotency_key="order-1")
    assert first.duplicate is False
    assert second.duplicate is True
    assert second.message.id == first.message.id
    assert second.message.payload == b'{"n":1}'
    assert {d.id for d in second.deliveries} <= {d.id for d in first.deliveries}
    assert len(await hg.store.list_deliveries(first.message.id)) == 2

    # the same key in another application is a different message
    elsewhere = await hg.publish(other.id, "order.created", {"n": 3}, idempotency_key="order-1")
    assert elsewhere.duplicate is False
    assert elsewhere.message.id != first.message.id
    assert len(elsewhere.deliveries) == 1

    # a different key, or no key, is a new message
    third = await hg.publish(app.id, "order.created", {"n": 1}, idempotency_key="order-2")
    plain = await hg.publish(app.id, "order.created", {"n": 1})
    assert not third.duplicate
    assert not plain.duplicate
    assert len({first.message.id, third.message.id, plain.message.id}) == 3


async def test_idempotency_key_length_is_checked(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    with pytest.raises(ConfigError, match="idempotency key must be 1-256 characters"):
        await hg.publish(app.id, "x", {}, idempotency_key="")
    with pytest.raises(ConfigError, match="idempotency key must be 1-256 characters"):
        await hg.publish(app.id, "x", {}, idempotency_key="k" * 257)
    assert not (await hg.publish(app.id, "x", {}, idempotency_key="k" * 256)).duplicate


# -- rotation ------------------------------------------------------------------------------------------


async def test_rotate_secret_keeps_the_old_one_during_grace(
    hg: Hookgate, box: SecretBox, clock: FixedClock
) -> None:
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(app.id, URL)
    old = created.secret
    assert old is not None
    rotated_at = clock.now
    new = await hg.rotate_secret(created.endpoint.id, grace_s=3600)
    assert new.startswith("whsec_")
    assert new != old

    stored = await hg.store.get_endpoint(created.endpoint.id)
    assert stored.updated_at == rotated_at
    assert new.encode() not in stored.secrets_sealed
    secrets = open_secrets(box, stored.id, stored.secrets_sealed)
    assert secrets.active_secrets(rotated_at) == [new, old]
    assert secrets.active_secrets(rotated_at + 3599) == [new, old]
    assert secrets.active_secrets(rotated_at + 3600) == [new]

    # the request the worker would send now verifies for a receiver holding either secret
    message = Message(id="msg_rot", app_id=app.id, event_type="x", payload=b'{"a":1}', created_at=rotated_at)
    request = RequestBuilder(box).build(message, stored, now=time.time())
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)

    # a given new secret, once the grace has passed, leaves only itself and the previous one
    clock.now = rotated_at + 7200
    given = generate_key("hmac")
    assert await hg.rotate_secret(created.endpoint.id, given, grace_s=60) == given
    latest = await hg.store.get_endpoint(created.endpoint.id)
    assert open_secrets(box, latest.id, latest.secrets_sealed).active_secrets(clock.now) == [given, new]
    late = RequestBuilder(box).build(message, latest, now=time.time())
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(late.body, late.headers)


# -- concurrent changes are not undone ------------------------------------------------------------------


def disable_after_the_next_read(hg: Hookgate, monkeypatch: pytest.MonkeyPatch, reason: str) -> list[str]:
    """Make a worker's 410 disable land right after the client's next read of the endpoint (once)."""
    read = hg.store.get_endpoint
    landed: list[str] = []

    async def get_endpoint(endpoint_id: str) -> Endpoint:
        endpoint = await read(endpoint_id)
        if not landed:
            landed.append(endpoint_id)
            await hg.store.set_endpoint_enabled(
                endpoint_id, False, reason=reason, now=time.time(), expected_version=endpoint.version
            )
        return endpoint

    monkeypatch.setattr(hg.store, "get_endpoint", get_endpoint)
    return landed


async def test_update_and_rotate_do_not_undo_a_concurrent_disable(
    hg: Hookgate, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 9: the update writes what it read; a disable in between must survive it."""
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(app.id, URL)
    endpoint_id = created.endpoint.id

    landed = disable_after_the_next_read(hg, monkeypatch, "the endpoint answered 410 Gone")
    updated = await hg.update_endpoint(endpoint_id, timeout_s=5.0, headers={"X-Tenant": "acme"})
    assert landed == [endpoint_id]
    for found in (updated, await hg.store.get_endpoint(endpoint_id)):
        assert (found.config.policy.timeout_s, found.config.headers) == (5.0, {"X-Tenant": "acme"})
        assert (found.enabled, found.disabled_reason) == (False, "the endpoint answered 410 Gone")

    await hg.enable_endpoint(endpoint_id)
    landed = disable_after_the_next_read(hg, monkeypatch, "failing continuously since 0")
    new = await hg.rotate_secret(endpoint_id, grace_s=60)
    assert landed == [endpoint_id]
    stored = await hg.store.get_endpoint(endpoint_id)
    assert (stored.enabled, stored.disabled_reason) == (False, "failing continuously since 0")
    assert open_secrets(box, endpoint_id, stored.secrets_sealed).active_secrets(time.time()) == [
        new,
        created.secret,
    ]


async def test_an_edit_that_keeps_losing_raises_conflict(
    hg: Hookgate, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await hg.create_application("Acme")
    created = await hg.create_endpoint(app.id, URL)
    read = hg.store.get_endpoint
    reads = 0

    async def get_endpoint(endpoint_id: str) -> Endpoint:
        nonlocal reads
        reads += 1
        endpoint = await read(endpoint_id)
        await hg.store.set_endpoint_enabled(endpoint_id, True, reason=None, now=time.time())  # always first
        return endpoint

    monkeypatch.setattr(hg.store, "get_endpoint", get_endpoint)
    with pytest.raises(ConflictError, match="changed since it was read"):
        await hg.update_endpoint(created.endpoint.id, timeout_s=5.0)
    assert reads == 5
    monkeypatch.undo()
    assert (
        await hg.store.get_endpoint(created.endpoint.id)
    ).config.policy.timeout_s == created.endpoint.config.policy.timeout_s


async def test_rotate_secret_refusals(hg: Hookgate) -> None:
    app = await hg.create_application("Acme")
    none = (await hg.create_endpoint(app.id, URL, scheme="none")).endpoint
    with pytest.raises(ConfigError, match="scheme none has no secret to rotate"):
        await hg.rotate_secret(none.id)
    keyed = (await hg.create_endpoint(app.id, URL, scheme="standard-webhooks-ed25519")).endpoint
    with pytest.raises(ConfigError, match="scheme standard-webhooks-ed25519 has no secret to rotate"):
        await hg.rotate_secret(keyed.id)
    stripe = (await hg.create_endpoint(app.id, URL, scheme="stripe", secret="whsec_abc")).endpoint
    with pytest.raises(ConfigError, match="needs the new secret to be given"):
        await hg.rotate_secret(stripe.id)
    std = (await hg.create_endpoint(app.id, URL)).endpoint
    with pytest.raises(KeyFormatError):
        await hg.rotate_secret(std.id, "whsec_!!!")
    with pytest.raises(ConfigError, match="must not be negative"):
        await hg.rotate_secret(std.id, grace_s=-1)


# -- PostgreSQL ----------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_client_on_postgres(box: SecretBox) -> None:
    async with contextlib.aclosing(postgres_dsn()) as dsns:
        async for dsn in dsns:
            await _exercise_postgres(dsn, box)


async def _exercise_postgres(dsn: str, box: SecretBox) -> None:
    store = await PostgresStore.open(dsn)
    client = Hookgate(store, box)
    try:
        app = await client.create_application("Acme")
        other = await client.create_application("Other")
        created = await client.create_endpoint(app.id, URL, event_types=["order.*"])
        await client.create_endpoint(other.id, URL)
        assert created.secret is not None
        stored = await store.get_endpoint(created.endpoint.id)
        assert created.secret.encode() not in stored.secrets_sealed
        with pytest.raises(ConfigError, match="must use https"):
            await client.create_endpoint(app.id, "http://receiver.example.com/x")

        first = await client.publish(app.id, "order.created", {"n": 1}, idempotency_key="k1")
        assert [d.endpoint_id for d in first.deliveries] == [created.endpoint.id]
        second = await client.publish(app.id, "order.created", {"n": 2}, idempotency_key="k1")
        assert second.duplicate is True
        assert second.message.id == first.message.id
        assert len(await store.list_deliveries(first.message.id)) == 1
        elsewhere = await client.publish(other.id, "order.created", {"n": 1}, idempotency_key="k1")
        assert elsewhere.duplicate is False
        assert (await client.publish(app.id, "user.created", {"n": 1})).deliveries == ()

        new = await client.rotate_secret(created.endpoint.id, grace_s=60)
        rotated = await store.get_endpoint(created.endpoint.id)
        assert open_secrets(box, rotated.id, rotated.secrets_sealed).active_secrets(time.time()) == [
            new,
            created.secret,
        ]
    finally:
        await client.close()


# -- the sync twin -------------------------------------------------------------------------------------


# -- the module-level default instance -----------------------------------------------------------------


async def _prepare_app(data_dir: Path) -> str:
    """An application with one unsigned endpoint, written without a master key."""
    store = await SQLiteStore.open(data_dir / "hookgate.db")
    client = Hookgate(store, None)
    try:
        app = await client.create_application("Acme")
        await client.create_endpoint(app.id, URL, scheme="none")
    finally:
        await client.close()
    return app.id


def _assert_private_key_file(path: Path) -> None:
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parse_master_keys(path.read_text(encoding="ascii"))


async def test_module_level_publish(clean_env: Path) -> None:
    data_dir = clean_env
    app_id = await _prepare_app(data_dir)
    key_file = data_dir / "master.key"
    assert not key_file.exists()
    assert hookgate.publish is hookgate.client.publish
    try:
        first = await hookgate.publish(app_id, "user.created", {"id": 1}, idempotency_key="once")
        assert len(first.deliveries) == 1
        assert first.message.payload == b'{"id":1}'
        _assert_private_key_file(key_file)
        key_text = key_file.read_text(encoding="ascii")
        again = await hookgate.publish(app_id, "user.created", {"id": 1}, idempotency_key="once")
        assert again.duplicate is True
        assert again.message.id == first.message.id
        assert key_file.read_text(encoding="ascii") == key_text
    finally:
        await close_default()
    await close_default()  # nothing left to close

    # the message is durable: a fresh handle on the same database sees it
    store = await SQLiteStore.open(data_dir / "hookgate.db")
    try:
        assert (await store.get_message(first.message.id)).payload == b'{"id":1}'
    finally:
        await store.close()


def test_module_level_publish_sync(clean_env: Path) -> None:
    data_dir = clean_env
    app_id = asyncio.run(_prepare_app(data_dir))
    key_file = data_dir / "master.key"
    assert not key_file.exists()
    assert hookgate.publish_sync is hookgate.client.publish_sync
    try:
        first = hookgate.publish_sync(app_id, "user.created", {"id": 2}, idempotency_key="k")
        assert len(first.deliveries) == 1
        assert first.message.payload == b'{"id":2}'
        _assert_private_key_file(key_file)
        second = hookgate.publish_sync(app_id, "user.created", {"id": 2}, idempotency_key="k")
        assert second.duplicate
        assert second.message.id == first.message.id
        with pytest.raises(ConfigError, match="not str"):
            hookgate.publish_sync(app_id, "user.created", "{}")
    finally:
        close_default_sync()
    assert [t for t in threading.enumerate() if t.name == "hookgate-sync"] == []
    close_default_sync()


def test_module_level_publish_with_configured_master_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOKGATE_MASTER_KEY", generate_master_key())
    app_id = asyncio.run(_prepare_app(clean_env))
    try:
        assert len(hookgate.publish_sync(app_id, "user.created", {}).deliveries) == 1
    finally:
        close_default_sync()
    assert not (clean_env / "master.key").exists()


# -- import weight -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import hookgate",
        "import hookgate; hookgate.Hookgate; hookgate.publish_sync",
        "import hookgate.client",
    ],
)
def test_import_hookgate_loads_no_http_client_or_postgres_driver(code: str) -> None:
    probe = f"{code}; import sys; print('aiohttp' in sys.modules, 'asyncpg' in sys.modules)"
    out = subprocess.run(  # noqa: S603 - fixed interpreter and code
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_top_level_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hookgate.nope  # noqa: B018


def test_new_endpoint_repr_hides_secret() -> None:
    from hookgate.models import Endpoint

    endpoint = Endpoint(
        id="ep_1", app_id="app_1", config=EndpointConfig(url=URL), created_at=0.0, updated_at=0.0
    )
    text = repr(NewEndpoint(endpoint, "whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="))
    assert "c2VjcmV0" not in text
    assert "whsec_" not in text
