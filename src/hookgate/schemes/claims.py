"""The registered JWT claims (RFC 7519 section 4.1) every token verifier checks the same way.

`ClaimRules.check` judges ``exp``, ``nbf`` and ``iat`` against ``now`` with a leeway for clock skew, and
``iss``/``aud`` when an expected value is configured; `token_id` turns ``jti`` into a replay/idempotency key.
A token without ``exp`` is refused unless the rules opt out (``require_exp=False``); without ``exp``, an
``iat`` older than the leeway is refused, so a token that names its issue time still goes stale.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookgate.errors import KeyFormatError, MalformedError, SignatureError, TimestampError

__all__ = ["MAX_TOKEN_ID", "ClaimRules", "token_id"]

MAX_TOKEN_ID = 256  # the longest id used as is (Standard Webhooks' own limit); longer ones are digested


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int to Python, never a NumericDate to a JWT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedError(f"JWT {name} is not a NumericDate", reason="malformed_token")
    return float(value)


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """How a verifier judges a token's claims.

    ``leeway`` (seconds) absorbs clock skew on ``exp``/``nbf``/``iat`` and bounds the age of a token
    without ``exp``; ``issuer``/``audience``, when set, must match ``iss``/``aud`` (``aud`` may be a list).
    """

    leeway: float = 30
    require_exp: bool = True
    issuer: str | None = None
    audience: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.leeway, bool) or not isinstance(self.leeway, (int, float)) or self.leeway < 0:
            raise KeyFormatError("the claim leeway must be a non-negative number of seconds")
        if not isinstance(self.require_exp, bool):
            raise KeyFormatError("require_exp must be true or false")
        for name in ("issuer", "audience"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise KeyFormatError(f"{name} must be a non-empty string")

    def check(self, claims: Mapping[str, Any], now: float) -> None:
        """Raise `TimestampError`, `SignatureError` or `MalformedError` unless the claims are acceptable."""
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        iat = _numeric_date(claims, "iat")
        if exp is None:
            if self.require_exp:
                raise MalformedError("JWT has no exp claim", reason="exp_missing")
            if iat is not None and iat < now - self.leeway:
                raise TimestampError("JWT without exp was issued too long ago", reason="timestamp_too_old")
        elif exp <= now - self.leeway:
            raise TimestampError("JWT has expired", reason="token_expired")
        if nbf is not None and nbf > now + self.leeway:
            raise TimestampError("JWT is not valid yet (nbf)", reason="token_not_yet_valid")
        if iat is not None and iat > now + self.leeway:
            raise TimestampError("JWT was issued in the future", reason="timestamp_in_future")
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise SignatureError("JWT issuer is not the expected one", reason="bad_issuer")
        if self.audience is not None:
            aud = claims.get("aud")
            if aud != self.audience and not (isinstance(aud, list) and self.audience in aud):
                raise SignatureError("JWT audience is not the expected one", reason="bad_audience")


def token_id(claims: Mapping[str, Any]) -> str | None:
    """The ``jti`` as a replay/idempotency key: as is up to `MAX_TOKEN_ID` characters, else its digest."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return None
    if len(jti) <= MAX_TOKEN_ID:
        return jti
    # a cut-off prefix could make two tokens one event; a digest cannot
    return "jti-sha256:" + hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()
