"""What the demo tests share: the scenario titles in table order and a body that is a demo event."""

from __future__ import annotations

ROW_TITLES = (
    "Standard Webhooks (HMAC-SHA256)",
    "Standard Webhooks (Ed25519)",
    "API key + HMAC signature",
    "HTTP Basic",
    "OAuth2 client credentials",
    "JWT bearer (HS256, body hash)",
    "JWS payload (key ring, JWKS)",
    "JWE payload (RSA, sign-then-encrypt)",
    "mTLS (client certificate)",
)

BODY = b'{"order":1001,"total":"42.00","currency":"EUR"}'
