"""For the inbound adapter tests: requests signed by the providers' own libraries, sources, the audit log.

Every signature here is produced by the provider's library (stripe, svix, standardwebhooks, slack_sdk) or
taken from the provider's documentation (GitHub), never by hookgate's own signers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks
import stripe
import structlog
from slack_sdk.signature import SignatureVerifier
from structlog.typing import EventDict
from svix.webhooks import Webhook as SvixWebhook

import hookgate.inbound.pipeline as pipeline_module
from hookgate.inbound.source import Source

NOW = 1_700_000_000

STRIPE_SECRET = "whsec_test_5f2b0c8e1d9a4b7c"
STRIPE_BODY = b'{"id":"evt_1NxYz","object":"event","type":"payment_intent.succeeded","data":{"object":{}}}'

SVIX_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
SVIX_BODY = b'{"type":"invoice.paid","data":{"amount":1200}}'

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_BODY = b"token=xyz&team_id=T1DC2JH3J&command=%2Fdeploy&text=prod"

# GitHub's documented vector: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
GH_SECRET = "It's a Secret to Everybody"
GH_BODY = b"Hello, World!"
GH_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

GENERIC_ERRORS = {
    400: b'{"error":"bad_request"}',
    401: b'{"error":"unauthorized"}',
    403: b'{"error":"forbidden"}',
    405: b'{"error":"method_not_allowed"}',
    409: b'{"error":"conflict"}',
    413: b'{"error":"payload_too_large"}',
    429: b'{"error":"rate_limited"}',
}
DUPLICATE = b'{"status":"already processed"}'


class Clock:
    """A settable clock for the sources' timestamp windows and the rate limiter."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- requests signed by the providers' libraries ------------------------------------------------------------


def stripe_headers(
    body: bytes = STRIPE_BODY, *, ts: int = NOW, secret: str = STRIPE_SECRET
) -> dict[str, str]:
    """``Stripe-Signature`` as stripe-python's test helper writes it (``t=...,v1=...``)."""
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=ts)
    # and the library's own verifier agrees it is genuine, so a rejection is hookgate's doing
    stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=None)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def svix_headers(
    body: bytes = SVIX_BODY, *, msg_id: str = "msg_2b7Y5z", ts: int = NOW, secret: str = SVIX_SECRET
) -> dict[str, str]:
    signature = SvixWebhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body.decode())
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": signature}


def standard_headers(
    body: bytes = SVIX_BODY, *, msg_id: str = "msg_2b7Y5z", ts: int = NOW, secret: str = SVIX_SECRET
) -> dict[str, str]:
    webhook = standardwebhooks.Webhook(secret)
    signature = webhook.sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def slack_headers(body: bytes = SLACK_BODY, *, ts: int = NOW, secret: str = SLACK_SECRET) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    assert signature is not None
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts)}


def github_headers(delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958") -> dict[str, str]:
    return {"X-Hub-Signature-256": GH_SIG, "X-GitHub-Delivery": delivery, "X-GitHub-Event": "ping"}


# -- sources ------------------------------------------------------------------------------------------------


def stripe_source(**overrides: Any) -> Source:
    options: dict[str, Any] = {
        "secrets": (STRIPE_SECRET,),
        "event_id": "json:id",
        "path": "/hooks/stripe",
    }
    options.update(overrides)
    return Source("stripe", "stripe", **options)


def svix_source(**overrides: Any) -> Source:
    options: dict[str, Any] = {"secrets": (SVIX_SECRET,), "path": "/hooks/svix"}
    options.update(overrides)
    return Source("svix", "standard-webhooks", **options)


def slack_source(**overrides: Any) -> Source:
    options: dict[str, Any] = {"secrets": (SLACK_SECRET,), "path": "/hooks/slack"}
    options.update(overrides)
    return Source("slack", "slack", **options)


def github_source(**overrides: Any) -> Source:
    options: dict[str, Any] = {
        "secrets": (GH_SECRET,),
        "event_id": "header:X-GitHub-Delivery",
        "path": "/hooks/github",
    }
    options.update(overrides)
    return Source("github", "github", **options)


def all_sources(**overrides: Any) -> list[Source]:
    return [
        stripe_source(**overrides),
        svix_source(**overrides),
        slack_source(**overrides),
        github_source(**overrides),
    ]


# (path, body, headers) of one genuine request per provider, signed at NOW
def genuine_requests() -> list[tuple[str, bytes, dict[str, str]]]:
    return [
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
        ("/hooks/svix", SVIX_BODY, svix_headers()),
        ("/hooks/svix", SVIX_BODY, standard_headers(msg_id="msg_std")),
        ("/hooks/slack", SLACK_BODY, slack_headers()),
        ("/hooks/github", GH_BODY, github_headers()),
    ]


# -- assertions ---------------------------------------------------------------------------------------------


def assert_generic(status: int, body: bytes) -> None:
    """A rejection's body is exactly the generic one for its status and names no check."""
    if status == 200:
        assert body == DUPLICATE
        return
    assert body == GENERIC_ERRORS[status], (status, body)
    document = json.loads(body)
    assert set(document) == {"error"}


@contextmanager
def captured_audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EventDict]]:
    """The audit lines, whatever structlog configuration (cached loggers) earlier tests left behind."""
    monkeypatch.setattr(pipeline_module, "audit", structlog.get_logger("hookgate.inbound"))
    with structlog.testing.capture_logs() as captured:
        yield captured


def decisions(captured: list[EventDict]) -> list[EventDict]:
    return [entry for entry in captured if entry.get("event") == "inbound.decision"]


AUDIT_FIELDS = {"source", "decision", "reason", "client_ip", "event_id", "latency_ms"}
