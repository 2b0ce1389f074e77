"""The request headers an attempt records: a real delivery to a loopback receiver, for every signature scheme
and every authentication type, then the stored row, the API's attempt view and the console's message page
are searched for every signature and credential value the receiver got: none may be there, while the
framing and custom headers are shown as sent."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookgate.api.app import create_app
from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.outbound.redact import REDACTED, HeaderRecorder, is_secret_header
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordedRequest, Reply
from tests.api.conftest import BASE
from tests.console.helpers import V1, sign_in
from tests.support import MakeReceiver

HMAC_SECRET = "hmac-secret-" + "x" * 32
JWT_SECRET = "jwt-secret-of-more-than-32-characters!"
CLIENT_SECRET = "oauth-client-secret-123"
ACCESS_TOKEN = "access-token-" + "t" * 24

# (id, endpoint settings, the names of the headers that carry a signature or credential)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("standard+api_key", {"auth": {"type": "api_key", "header": "X-Api-Key", "key": "k-123456789"}},
     {"webhook-signature", "x-api-key"}),
    ("ed25519+basic", {"scheme": "standard-webhooks-ed25519",
                       "auth": {"type": "basic", "username": "hook", "password": "p-123456789"}},
     {"webhook-signature", "authorization"}),
    ("github+bearer", {"scheme": "github", "auth": {"type": "bearer", "token": "b-123456789"}},
     {"x-hub-signature-256", "authorization"}),
    ("shopify+jwt", {"scheme": "shopify", "auth": {"type": "jwt", "secret": JWT_SECRET}},
     {"x-shopify-hmac-sha256", "authorization"}),
    ("slack+bearer-in-own-header", {"scheme": "slack",
                                    "auth": {"type": "bearer", "token": "b-987654321", "header": "X-Token"}},
     {"x-slack-signature", "x-token"}),
    ("stripe+basic-in-own-header", {"scheme": "stripe", "secret": HMAC_SECRET,
                                    "auth": {"type": "basic", "username": "u", "password": "p-55555555",
                                             "header": "X-Basic"}},
     {"stripe-signature", "x-basic"}),
    ("hmac+none", {"scheme": "hmac", "secret": HMAC_SECRET, "scheme_options": {"header_name": "X-Sig"}},
     {"x-sig"}),
    ("none+oauth2", {"scheme": "none"}, {"authorization"}),
]  # fmt: skip


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Hookgate, Any, str, Path]]:
    """An engine over SQLite (so the stored JSON is what is checked), its API app and an admin token."""
    path = tmp_path / "hookgate.db"
    hg = Hookgate(await SQLiteStore.open(path), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    assert token is not None
    yield hg, create_app(hg, metrics=Metrics()), token, path
    await hg.close()


def token_endpoint(request: RecordedRequest) -> Reply:
    return Reply.json({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})


@pytest.mark.parametrize(("settings", "secret_names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_no_signature_or_credential_is_stored_served_or_shown(
    engine: tuple[Hookgate, Any, str, Path],
    receivers: MakeReceiver,
    settings: dict[str, Any],
    secret_names: set[str],
) -> None:
    hg, app, token, path = engine
    receiver = receivers(Reply(200, "ok"))
    settings = dict(settings)
    if settings.get("scheme") == "none":
        tokens = receivers(token_endpoint)
        settings["auth"] = {
            "type": "oauth2",
            "token_url": tokens.base_url + "/token",
            "client_id": "c1",
            "client_secret": CLIENT_SECRET,
        }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        made = await client.post(f"{V1}/applications", json={"name": "shop", "id": "shop"}, headers=headers)
        assert made.status_code == 201, made.text
        created = await client.post(
            f"{V1}/applications/shop/endpoints",
            json={"url": receiver.url, "allow_insecure": True, "headers": {"X-Team": "billing"}, **settings},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        sent = await client.post(
            f"{V1}/applications/shop/messages",
            json={"event_type": "order.paid", "payload": {"id": 1}},
            headers=headers,
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["message"]["id"]
        worker = hg.worker(address_policy=AddressPolicy(allow=["127.0.0.0/8"]))
        try:
            await worker.run_until_idle(timeout=20)
        finally:
            await worker.close()
        [request] = receiver.requests
        got = {k.lower(): v for k, v in request.headers.items()}
        assert secret_names <= got.keys(), got
        # every value that authenticates the request, and the parts of it a search could find
        forbidden = {got[name] for name in secret_names}
        forbidden |= {part for v in forbidden for part in v.replace(",", " ").replace("=", " ").split()}
        forbidden = {v for v in forbidden if len(v) >= 8 and not v.isdigit()}  # a timestamp is no secret
        for value in ("k-123456789", "p-123456789", "b-123456789", "b-987654321", "p-55555555"):
            forbidden.add(value)
        forbidden |= {HMAC_SECRET, JWT_SECRET, CLIENT_SECRET, ACCESS_TOKEN}
        if created.json().get("secret"):
            forbidden.add(created.json()["secret"])
        if "authorization" in got and got["authorization"].startswith("Basic "):
            forbidden.add(got["authorization"].split()[1])

        with sqlite3.connect(path) as db:
            [(stored,)] = db.execute("SELECT request_headers FROM attempts").fetchall()
        answer = await client.get(f"{V1}/applications/shop/messages/{message_id}/attempts", headers=headers)
        assert answer.status_code == 200, answer.text
        [attempt] = answer.json()["items"]
        await sign_in(client, token)
        page = await client.get(f"/ui/apps/shop/messages/{message_id}")
        assert page.status_code == 200, page.text

    for where, text in (("store", stored), ("API", answer.text), ("console", page.text)):
        leaked = [v for v in forbidden if v in text]
        assert not leaked, f"{where} shows {leaked}"
    recorded = {k.lower(): v for k, v in attempt["request_headers"].items()}
    assert json.loads(stored) == attempt["request_headers"]
    assert {name for name, v in recorded.items() if v == REDACTED} == secret_names
    assert recorded["x-team"] == "billing"
    assert recorded["content-type"] == "application/json"
    if "webhook-id" in got:
        assert recorded["webhook-id"] == message_id
        assert recorded["webhook-timestamp"] == got["webhook-timestamp"]
    # every header hookgate set is listed (aiohttp adds Host, User-Agent and the like itself)
    assert recorded.keys() <= got.keys()
    for shown in ("X-Team", "billing", REDACTED):
        assert shown in page.text


@pytest.mark.parametrize(
    ("name", "from_signer", "secret"),
    [
        ("webhook-signature", False, True),
        ("svix-signature", True, True),
        ("X-Hub-Signature", False, True),
        ("X-Hub-Signature-256", False, True),
        ("X-Shopify-Hmac-Sha256", False, True),
        ("X-Slack-Signature", True, True),
        ("Stripe-Signature", True, True),
        ("Authorization", False, True),
        ("proxy-authorization", False, True),
        ("X-Whatever-A-New-Scheme-Adds", True, True),
        ("webhook-id", True, False),
        ("svix-timestamp", True, False),
        ("X-Slack-Request-Timestamp", True, False),
        ("X-GitHub-Event", True, False),
        ("Content-Type", False, False),
        ("X-Team", False, False),
    ],
)
def test_which_headers_are_secret(name: str, from_signer: bool, secret: bool) -> None:
    assert is_secret_header(name, from_signer=from_signer) is secret


def test_the_recorder_redacts_late_headers_and_remembers_by_name() -> None:
    recorder = HeaderRecorder(("Authorization",))
    sent = {"Content-Type": "application/json", "X-Key": "k1", "X-Team": "a"}
    assert recorder.record(sent, {"x-key"}) == {
        "Content-Type": "application/json",
        "X-Key": REDACTED,
        "X-Team": "a",
        "Authorization": REDACTED,
    }
    again = recorder.record({**sent, "X-Key": base64.b64encode(secrets.token_bytes(8)).decode()}, {"x-key"})
    assert again["X-Key"] == REDACTED
