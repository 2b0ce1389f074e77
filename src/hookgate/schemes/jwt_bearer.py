"""A short-lived HS256 JWT minted per request, bound to the body by a SHA-256 claim.

Claims: ``iat``, ``exp`` (default 60 s later), ``jti`` (unique per request, so a receiver can refuse replays),
``body_sha256`` (base64url SHA-256 of the exact body bytes), ``webhook_id`` (the message id), and optionally
``iss``/``aud``. The verifier accepts only ``HS256``: a token whose header names any other algorithm is
refused before any key is used, which rules out ``none`` and algorithm confusion. Its times (``exp``,
``nbf``, ``iat``) and ``iss``/``aud`` are judged by the `ClaimRules` every JWT verifier shares; the message id
is ``webhook_id`` (stable across a sender's retries), else ``jti``, so a replayed token is caught.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

from hookgate.errors import KeyFormatError, MalformedError, SignatureError, TimestampError
from hookgate.keys import Secret, parse_symmetric_secret
from hookgate.schemes._base import Signed, Verified, get_header
from hookgate.schemes._jose import jws_registry, translate
from hookgate.schemes.claims import ClaimRules, token_id
from hookgate.schemes.headers import check_header_name

__all__ = ["BODY_HASH_CLAIM", "JwtBearerSigner", "JwtBearerVerifier", "body_hash"]

ALG = "HS256"
BODY_HASH_CLAIM = "body_sha256"
MAX_TOKEN = 8192
_REGISTRY = jws_registry([ALG])


def body_hash(body: bytes) -> str:
    """base64url (unpadded) SHA-256 of the body, the value of the ``body_sha256`` claim."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode("ascii")


def _oct_key(secret: Secret | str | bytes) -> OctKey:
    parsed = secret if isinstance(secret, Secret) else parse_symmetric_secret(secret)
    if len(parsed) < 32:
        # RFC 7518 3.2: an HS256 key must be at least as long as the hash output
        raise KeyFormatError("HS256 secrets must be at least 32 bytes")
    return OctKey.import_key(parsed.reveal())


class JwtBearerSigner:
    """``Authorization: Bearer <HS256 JWT>``, a fresh token per request."""

    __slots__ = ("_key", "audience", "header", "issuer", "lifetime")

    def __init__(
        self,
        secret: Secret | str | bytes,
        *,
        lifetime: int = 60,
        issuer: str | None = None,
        audience: str | None = None,
        header: str = "Authorization",
    ) -> None:
        if not 1 <= lifetime <= 3600:
            raise KeyFormatError("JWT lifetime must be between 1 and 3600 seconds")
        self._key = _oct_key(secret)
        self.lifetime = lifetime
        self.issuer = issuer
        self.audience = audience
        self.header = check_header_name(header)

    def sign(self, body: bytes, *, msg_id: str, now: float, jti: str | None = None) -> Signed:
        iat = int(now)
        claims: dict[str, Any] = {
            "iat": iat,
            "exp": iat + self.lifetime,
            "jti": jti or _secrets.token_urlsafe(16),
            "webhook_id": msg_id,
            BODY_HASH_CLAIM: body_hash(body),
        }
        if self.issuer is not None:
            claims["iss"] = self.issuer
        if self.audience is not None:
            claims["aud"] = self.audience
        token = jwt.encode({"alg": ALG, "typ": "JWT"}, claims, self._key, registry=_REGISTRY)
        return Signed({self.header: "Bearer " + token}, body)

    def __repr__(self) -> str:
        return f"JwtBearerSigner(header={self.header!r}, secret=<redacted>, lifetime={self.lifetime})"


def _segment_json(segment: str, what: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedError(f"JWT {what} is not base64url JSON", reason="malformed_token") from None


class JwtBearerVerifier:
    """Check signature (HS256 only), ``exp``/``nbf``/``iat`` window, lifetime cap, body hash, ``iss``/``aud``.

    ``iat`` is always required (the lifetime cap is measured from it), ``exp`` unless ``require_exp=False``.
    Refusing a token seen before needs a store and is the receiving pipeline's job: it keys on the message
    id, ``webhook_id`` when the token has one, else ``jti``.
    """

    __slots__ = ("_keys", "_rules", "audience", "header", "issuer", "leeway", "max_lifetime")

    def __init__(
        self,
        secrets: Sequence[Secret | str | bytes],
        *,
        leeway: int = 30,
        max_lifetime: int = 300,
        issuer: str | None = None,
        audience: str | None = None,
        header: str = "Authorization",
        require_exp: bool = True,
    ) -> None:
        if not secrets:
            raise KeyFormatError("JWT verification needs at least one secret")
        self._keys = [_oct_key(s) for s in secrets]
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.issuer = issuer
        self.audience = audience
        self.header = check_header_name(header)
        self._rules = ClaimRules(leeway=leeway, require_exp=require_exp, issuer=issuer, audience=audience)

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        value = get_header(headers, self.header.lower())
        if value is None:
            raise MalformedError(f"missing {self.header} header", reason="missing_credentials")
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
            raise MalformedError("credentials are not a Bearer token", reason="malformed_credentials")
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedError("bearer token is not a compact JWS", reason="malformed_token")
        header = _segment_json(parts[0], "header")
        if not isinstance(header, dict) or header.get("alg") != ALG:
            raise SignatureError("JWT algorithm is not HS256", reason="algorithm_not_allowed")
        claims: Mapping[str, Any] | None = None
        matched = -1
        for index, key in enumerate(self._keys):
            try:
                decoded = translate("JWT", jwt.decode, token, key, registry=_REGISTRY)
            except SignatureError:
                continue
            claims, matched = decoded.claims, index
            break
        if claims is None:
            raise SignatureError("JWT signature did not verify", reason="signature_mismatch")
        self._check_claims(body, claims, now)
        msg_id = claims.get("webhook_id")
        return Verified(
            body,
            # a third party's standard JWT has no webhook_id: its jti still makes a replay a duplicate
            msg_id=msg_id if isinstance(msg_id, str) and msg_id else token_id(claims),
            timestamp=claims["iat"],
            key_id=str(matched),
            claims=dict(claims),
        )

    def _check_claims(self, body: bytes, claims: Mapping[str, Any], now: float) -> None:
        iat, exp = claims.get("iat"), claims.get("exp")
        # integers only, as every JWT library writes them for this kind of token
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise MalformedError("JWT lacks an integer iat claim", reason="malformed_token")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool)):
            raise MalformedError("JWT exp claim is not an integer", reason="malformed_token")
        self._rules.check(claims, now)
        if exp is not None and exp - iat > self.max_lifetime:
            raise TimestampError("JWT lifetime is longer than allowed", reason="token_lifetime")
        expected_hash = claims.get(BODY_HASH_CLAIM)
        if not isinstance(expected_hash, str) or not hmac.compare_digest(
            expected_hash.encode("ascii", "replace"), body_hash(body).encode("ascii")
        ):
            raise SignatureError("JWT body hash does not match the body", reason="body_hash_mismatch")

    def __repr__(self) -> str:
        return f"JwtBearerVerifier(header={self.header!r}, secrets=<{len(self._keys)} redacted>)"
