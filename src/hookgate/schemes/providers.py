"""Provider presets: GitHub, Shopify and Slack as `HmacConfig` instances, and Stripe's ``t=,v1=`` scheme.

Each preset reproduces what the provider documents, including how the secret is used: these providers sign
with the literal UTF-8 bytes of the secret string (Stripe too: the whole ``whsec_...`` string is the key).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from hookgate.errors import KeyFormatError, MalformedError, SignatureError
from hookgate.keys import Secret
from hookgate.schemes._base import Signed, Verified, get_header
from hookgate.schemes.hmac_header import HmacConfig, HmacSigner, HmacVerifier, check_window

__all__ = [
    "GITHUB",
    "PRESETS",
    "SHOPIFY",
    "SLACK",
    "StripeSigner",
    "StripeVerifier",
    "preset_signer",
    "preset_verifier",
    "raw_secret",
]

GITHUB = HmacConfig(header="X-Hub-Signature-256", algorithm="sha256", encoding="hex", prefix="sha256=")
SHOPIFY = HmacConfig(header="X-Shopify-Hmac-Sha256", algorithm="sha256", encoding="base64")
SLACK = HmacConfig(
    header="X-Slack-Signature",
    algorithm="sha256",
    encoding="hex",
    prefix="v0=",
    template="v0:{timestamp}:{body}",
    timestamp_header="X-Slack-Request-Timestamp",
)
PRESETS: dict[str, HmacConfig] = {"github": GITHUB, "shopify": SHOPIFY, "slack": SLACK}


def raw_secret(value: Secret | str | bytes) -> Secret:
    """The provider convention: the secret's literal bytes are the HMAC key (no ``whsec_`` decoding)."""
    if isinstance(value, Secret):
        return value
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not raw:
        raise KeyFormatError("secret is empty")
    return Secret(raw)


def preset_signer(name: str, secrets: Sequence[Secret | str | bytes]) -> HmacSigner:
    return HmacSigner(PRESETS[name], [raw_secret(s) for s in secrets])


def preset_verifier(
    name: str, secrets: Sequence[Secret | str | bytes], *, tolerance: int = 300
) -> HmacVerifier:
    config = PRESETS[name]
    if tolerance != config.tolerance:
        config = HmacConfig(
            header=config.header,
            algorithm=config.algorithm,
            encoding=config.encoding,
            prefix=config.prefix,
            template=config.template,
            timestamp_header=config.timestamp_header,
            id_header=config.id_header,
            tolerance=tolerance,
        )
    return HmacVerifier(config, [raw_secret(s) for s in secrets])


STRIPE_HEADER = "Stripe-Signature"
MAX_STRIPE_HEADER = 2048


def _stripe_mac(secret: Secret, timestamp: str, body: bytes) -> bytes:
    mac = hmac.new(secret.reveal(), timestamp.encode("ascii") + b".", hashlib.sha256)
    mac.update(body)
    return mac.hexdigest().encode("ascii")


class StripeSigner:
    """``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]`` with HMAC-SHA256 over ``{t}.{body}``."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Sequence[Secret | str | bytes]) -> None:
        if not secrets:
            raise KeyFormatError("Stripe signing needs at least one secret")
        self._secrets = [raw_secret(s) for s in secrets]

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        ts = str(int(now))
        parts = [f"t={ts}"] + [f"v1={_stripe_mac(s, ts, body).decode('ascii')}" for s in self._secrets]
        return Signed({STRIPE_HEADER: ",".join(parts)}, body)

    def __repr__(self) -> str:
        return f"StripeSigner(secrets=<{len(self._secrets)} redacted>)"


class StripeVerifier:
    """Accept when any ``v1`` value matches under any secret and ``t`` is inside the window."""

    __slots__ = ("_secrets", "tolerance")

    def __init__(self, secrets: Sequence[Secret | str | bytes], *, tolerance: int = 300) -> None:
        if not secrets:
            raise KeyFormatError("Stripe verification needs at least one secret")
        if tolerance < 0:
            raise KeyFormatError("tolerance must not be negative")
        self._secrets = [raw_secret(s) for s in secrets]
        self.tolerance = tolerance

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        value = get_header(headers, "stripe-signature")
        if value is None:
            raise MalformedError("missing Stripe-Signature header", reason="missing_header")
        if len(value) > MAX_STRIPE_HEADER:
            raise MalformedError("Stripe-Signature header is too long", reason="bad_signature_header")
        timestamp, candidates = _parse_stripe_header(value)
        if timestamp is None or not (
            0 < len(timestamp) <= 12 and timestamp.isascii() and timestamp.isdigit()
        ):
            raise MalformedError("Stripe-Signature has no valid t=", reason="bad_timestamp")
        if not candidates:
            raise SignatureError("Stripe-Signature has no v1 signature", reason="no_matching_version")
        check_window(int(timestamp), now, self.tolerance)
        for index, secret in enumerate(self._secrets):
            expected = _stripe_mac(secret, timestamp, body)
            matched = False
            for candidate in candidates:
                matched |= hmac.compare_digest(expected, candidate)
            if matched:
                return Verified(body, timestamp=int(timestamp), key_id=str(index))
        raise SignatureError("Stripe-Signature did not match", reason="signature_mismatch")

    def __repr__(self) -> str:
        return f"StripeVerifier(secrets=<{len(self._secrets)} redacted>, tolerance={self.tolerance})"


def _parse_stripe_header(value: str) -> tuple[str | None, list[bytes]]:
    """(the first t=, every v1=) of a ``Stripe-Signature`` value."""
    timestamp: str | None = None
    candidates: list[bytes] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise MalformedError("Stripe-Signature item is not key=value", reason="bad_signature_header")
        if key == "t":
            if timestamp is None:  # the first t= wins, as in Stripe's own library
                timestamp = val
        elif key == "v1":
            try:
                candidates.append(val.encode("ascii"))
            except UnicodeEncodeError:
                raise MalformedError("Stripe-Signature is not ASCII", reason="bad_signature_header") from None
    return timestamp, candidates
