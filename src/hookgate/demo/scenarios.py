"""The demo's scenarios: one endpoint definition per delivery scheme, with how its receiver checks a request.

A scenario (`Row`) pairs the `Hookgate.create_endpoint` options hookgate delivers with (secrets generated
here) with the check a real receiver of that scheme would make, using hookgate's own verifiers and only the
material that receiver would hold (a shared secret, a public key, its own private key, the JWKS).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hookgate.demo.pki import DemoPki
from hookgate.demo.receivers import TokenIssuer, check_mtls
from hookgate.keys import generate_hmac_secret, generate_key
from hookgate.schemes import Verifier
from hookgate.schemes.claims import ClaimRules
from hookgate.schemes.credentials import ApiKeyVerifier, BasicVerifier
from hookgate.schemes.jose import JweDecrypter, JwsVerifier
from hookgate.schemes.jwt_bearer import JwtBearerVerifier
from hookgate.schemes.registry import public_pem
from hookgate.schemes.standard_webhooks import StandardWebhooksEd25519Verifier, StandardWebhooksVerifier

__all__ = ["EVENTS", "Check", "Row", "Setup", "build_rows"]

EVENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("order.created", {"order": 1001, "total": "42.00", "currency": "EUR"}),
    ("order.paid", {"order": 1001, "method": "card"}),
    ("invoice.sent", {"invoice": "INV-7", "order": 1001}),
)

# A check gets the request headers (lower-cased names), the raw body and the TLS peer certificate (or
# None); it returns a short description of what it verified, or raises when the request must be refused.
Check = Callable[[Mapping[str, str], bytes, Mapping[str, Any] | None], str]


@dataclass(slots=True)
class Row:
    """One scheme: its endpoint, how the receiver checks it, and what happened so far."""

    key: str
    title: str
    check: Check
    endpoint_id: str = ""
    url: str = ""
    delivery_ids: set[str] = field(default_factory=set)
    verified: int = 0
    refused: int = 0
    last_refusal: str = ""
    detail: str = ""

    def delivered(self, delivered_ids: set[str]) -> int:
        return len(self.delivery_ids & delivered_ids)

    @property
    def ok(self) -> bool:
        return self.verified > 0

    @property
    def verdict(self) -> str:
        if self.refused and self.verified:
            return f"verified {self.verified}, refused {self.refused} ({self.last_refusal})"
        if self.refused:
            return f"REFUSED {self.refused} ({self.last_refusal})"
        if self.verified:
            return f"verified {self.verified}: {self.detail}"
        return "waiting"

    def record(self, headers: Mapping[str, str], body: bytes, peercert: Mapping[str, Any] | None) -> bool:
        try:
            detail = self.check(headers, body, peercert)
        except Exception as exc:  # noqa: BLE001 - any failed check is a refusal, shown in the table
            self.refused += 1
            self.last_refusal = f"{type(exc).__name__}: {exc}"[:80]
            return False
        self.verified += 1
        self.detail = detail
        return True


def _event(payload: bytes) -> str:
    """A check that the verified payload is one of the demo events (what the application would parse)."""
    data = json.loads(payload)
    if data not in [e for _, e in EVENTS]:
        raise ValueError("verified payload is not a demo event")
    return "payload is a demo event"


def _signed(detail: str, *verifiers: Verifier) -> Check:
    """The check of a scheme that signs or authenticates the event as it is: each verifier, then the event."""

    def check(headers: Mapping[str, str], body: bytes, _peercert: Mapping[str, Any] | None) -> str:
        for verifier in verifiers:
            verifier.verify(body, headers, now=time.time())
        _event(body)
        return detail

    return check


@dataclass(slots=True)
class Setup:
    """What the demo needs to create the endpoints (everything the receivers hold is captured in rows)."""

    http_base: str
    https_base: str
    token_url: str
    pki: DemoPki
    jwks: dict[str, Any]


def build_rows(setup: Setup, issuer: TokenIssuer) -> list[tuple[Row, dict[str, Any]]]:
    """Each row with the `Hookgate.create_endpoint` options that go with it (secrets generated here)."""
    hmac_secret = generate_hmac_secret()
    apikey_secret = generate_hmac_secret()
    api_key = "hgdemo_" + secrets.token_urlsafe(24)
    basic_password = secrets.token_urlsafe(18)
    jwt_secret = secrets.token_urlsafe(32)
    ed_private_pem, rsa_private_pem = generate_key("ed25519"), generate_key("rsa")
    ed_public_pem, rsa_public_pem = public_pem(ed_private_pem.encode()), public_pem(rsa_private_pem.encode())

    # hookgate signs the event payload as it is, without JWT claims: there is no exp to require
    jws = JwsVerifier(jwks=[setup.jwks], claims=ClaimRules(require_exp=False))
    jwe = JweDecrypter([rsa_private_pem], verify_jwks=[setup.jwks], claims=ClaimRules(require_exp=False))

    def c_oauth(h: Mapping[str, str], b: bytes, p: Mapping[str, Any] | None) -> str:
        _event(b)
        return issuer.check(h, b, p)

    def c_jws(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        verified = jws.verify(b, h, now=time.time())
        _event(verified.payload)
        return f"{verified.claims.get('alg')} signature, JWKS kid {str(verified.key_id)[:8]}"

    def c_jwe(h: Mapping[str, str], b: bytes, _p: Mapping[str, Any] | None) -> str:
        if b.lstrip().startswith(b"{"):
            raise PermissionError("body is plaintext JSON, not a JWE")
        verified = jwe.verify(b, h, now=time.time())
        _event(verified.payload)
        return f"decrypted; inner {verified.claims.get('alg')} signature verified"

    def c_mtls(h: Mapping[str, str], b: bytes, p: Mapping[str, Any] | None) -> str:
        _event(b)
        return check_mtls(h, b, p)

    c_hmac = _signed("v1 signature (HMAC-SHA256)", StandardWebhooksVerifier([hmac_secret]))
    c_ed = _signed("v1a signature (Ed25519 public key)", StandardWebhooksEd25519Verifier([ed_public_pem]))
    c_api = _signed(
        "X-API-Key + v1 signature",
        ApiKeyVerifier([api_key], header="X-API-Key"),
        StandardWebhooksVerifier([apikey_secret]),
    )
    c_basic = _signed("Basic credentials", BasicVerifier([("demo", basic_password)]))
    c_jwt = _signed(
        "HS256 JWT, body_sha256 matches",
        JwtBearerVerifier([jwt_secret], issuer="hookgate-demo", audience="demo-receiver"),
    )

    http = setup.http_base
    insecure = {"allow_insecure": True}
    return [
        (
            Row("hmac", "Standard Webhooks (HMAC-SHA256)", c_hmac),
            {**insecure, "url": f"{http}/hook/hmac", "secret": hmac_secret},
        ),
        (
            Row("ed25519", "Standard Webhooks (Ed25519)", c_ed),
            {
                **insecure,
                "url": f"{http}/hook/ed25519",
                "scheme": "standard-webhooks-ed25519",
                "keys": [ed_private_pem],
            },
        ),
        (
            Row("api-key", "API key + HMAC signature", c_api),
            {
                **insecure,
                "url": f"{http}/hook/api-key",
                "secret": apikey_secret,
                "auth": {"type": "api_key", "header": "X-API-Key", "key": api_key},
            },
        ),
        (
            Row("basic", "HTTP Basic", c_basic),
            {
                **insecure,
                "url": f"{http}/hook/basic",
                "scheme": "none",
                "auth": {"type": "basic", "username": "demo", "password": basic_password},
            },
        ),
        (
            Row("oauth2", "OAuth2 client credentials", c_oauth),
            {
                **insecure,
                "url": f"{http}/hook/oauth2",
                "scheme": "none",
                "auth": {
                    "type": "oauth2",
                    "token_url": setup.token_url,
                    "client_id": issuer.client_id,
                    "client_secret": issuer.client_secret,
                    "scope": "webhooks",
                },
            },
        ),
        (
            Row("jwt", "JWT bearer (HS256, body hash)", c_jwt),
            {
                **insecure,
                "url": f"{http}/hook/jwt",
                "scheme": "none",
                "auth": {
                    "type": "jwt",
                    "secret": jwt_secret,
                    "issuer": "hookgate-demo",
                    "audience": "demo-receiver",
                },
            },
        ),
        (
            Row("jws", "JWS payload (key ring, JWKS)", c_jws),
            {**insecure, "url": f"{http}/hook/jws", "scheme": "none", "payload": {"format": "jws"}},
        ),
        (
            Row("jwe", "JWE payload (RSA, sign-then-encrypt)", c_jwe),
            {
                **insecure,
                "url": f"{http}/hook/jwe",
                "scheme": "none",
                "payload": {"format": "jwe", "public_key": rsa_public_pem, "sign": True},
            },
        ),
        (
            Row("mtls", "mTLS (client certificate)", c_mtls),
            {
                "url": f"{setup.https_base}/hook/mtls",
                "scheme": "none",
                "tls": {
                    "client_cert": setup.pki.client_cert,
                    "client_key": setup.pki.client_key,
                    "ca_bundle": setup.pki.ca_cert,
                },
            },
        ),
    ]
