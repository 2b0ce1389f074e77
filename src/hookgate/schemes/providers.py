"""Provider presets: GitHub, Shopify and Slack as `HmacConfig` instances, and Stripe's ``t=,v1=`` scheme.

Each preset reproduces what the provider documents, including how the secret is used: these providers sign
with the literal UTF-8 bytes of the secret string (Stripe too: the whole ``whsec_...`` string is the key).
Signing also sends the other headers the provider's own receiving libraries refuse a request without:
GitHub's ``X-GitHub-Event`` and ``X-GitHub-Delivery`` (octokit), Shopify's topic, shop domain, API version and
webhook id (``@shopify/shopify-api``), built per event by `GitHubSigner` and `ShopifySigner`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hookgate.errors import ConfigError, KeyFormatError, MalformedError, SignatureError
from hookgate.keys import Secret
from hookgate.schemes._base import Signed, Verified, get_header
from hookgate.schemes.hmac_header import HmacConfig, HmacSigner, HmacVerifier, check_window

__all__ = [
    "GITHUB",
    "PRESETS",
    "SHOPIFY",
    "SHOPIFY_API_VERSION",
    "SHOPIFY_SHOP_DOMAIN",
    "SLACK",
    "GitHubSigner",
    "ShopifySigner",
    "StripeSigner",
    "StripeVerifier",
    "preset_signer",
    "preset_verifier",
    "provider_signer",
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


class GitHubSigner:
    """GitHub's ``X-Hub-Signature-256`` plus ``X-GitHub-Delivery`` (the message id, stable across retries)
    and, per event, ``X-GitHub-Event`` (the event type): octokit's receivers answer 400 without either."""

    __slots__ = ("_hmac",)

    def __init__(self, secrets: Sequence[Secret | str | bytes]) -> None:
        self._hmac = preset_signer("github", secrets)

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        signed = self._hmac.sign(body, msg_id=msg_id, now=now)
        signed.headers["X-GitHub-Delivery"] = msg_id
        return signed

    def sign_event(
        self, body: bytes, *, msg_id: str, event_type: str, created_at: float, now: float
    ) -> Signed:
        signed = self.sign(body, msg_id=msg_id, now=now)
        signed.headers["X-GitHub-Event"] = event_type
        return signed

    def __repr__(self) -> str:
        return "GitHubSigner(secrets=<redacted>)"


# Shopify sends the shop's domain and the Admin API version the payload follows; a sender that is not a
# Shopify shop still has to send both (the receiving library refuses the request without them), so they are
# endpoint options with these defaults.
SHOPIFY_SHOP_DOMAIN = "hookgate.myshopify.com"
SHOPIFY_API_VERSION = "2025-10"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SHOP_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_API_VERSION = re.compile(r"^(?:\d{4}-\d{2}|unstable)$")
_TOPIC_SEPARATORS = ("/", ".")


class ShopifySigner:
    """Shopify's ``X-Shopify-Hmac-Sha256`` with the headers Shopify sends beside it.

    ``X-Shopify-Webhook-Id`` and ``X-Shopify-Event-Id`` carry the message id (stable across retries, so a
    receiver can deduplicate), ``X-Shopify-Topic`` the event type in Shopify's ``resource/action`` spelling
    (``orders.create`` becomes ``orders/create``; ``topic_separator="."`` sends the type unchanged),
    ``X-Shopify-Triggered-At`` when the event was created, and ``X-Shopify-Shop-Domain`` /
    ``X-Shopify-API-Version`` the configured values.
    """

    __slots__ = ("_hmac", "api_version", "shop_domain", "topic_separator")

    def __init__(
        self,
        secrets: Sequence[Secret | str | bytes],
        *,
        shop_domain: str | None = None,
        api_version: str | None = None,
        topic_separator: str | None = None,
    ) -> None:
        self.shop_domain = shop_domain or SHOPIFY_SHOP_DOMAIN
        self.api_version = api_version or SHOPIFY_API_VERSION
        self.topic_separator = topic_separator or "/"
        if not isinstance(self.shop_domain, str) or not _SHOP_DOMAIN.match(self.shop_domain):
            raise ConfigError("scheme option shop_domain must be a host name such as shop.myshopify.com")
        if not isinstance(self.api_version, str) or not _API_VERSION.match(self.api_version):
            raise ConfigError("scheme option api_version must be a Shopify API version: YYYY-MM or unstable")
        if self.topic_separator not in _TOPIC_SEPARATORS:
            raise ConfigError("scheme option topic_separator must be '/' or '.'")
        self._hmac = preset_signer("shopify", secrets)

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        signed = self._hmac.sign(body, msg_id=msg_id, now=now)
        signed.headers.update(
            {
                "X-Shopify-Shop-Domain": self.shop_domain,
                "X-Shopify-API-Version": self.api_version,
                "X-Shopify-Webhook-Id": msg_id,
                "X-Shopify-Event-Id": msg_id,
            }
        )
        return signed

    def sign_event(
        self, body: bytes, *, msg_id: str, event_type: str, created_at: float, now: float
    ) -> Signed:
        signed = self.sign(body, msg_id=msg_id, now=now)
        signed.headers["X-Shopify-Topic"] = event_type.replace(".", self.topic_separator)
        moment = datetime.fromtimestamp(created_at, UTC)
        signed.headers["X-Shopify-Triggered-At"] = moment.isoformat(timespec="microseconds").replace(
            "+00:00", "Z"
        )
        return signed

    def __repr__(self) -> str:
        return f"ShopifySigner(shop_domain={self.shop_domain!r}, secrets=<redacted>)"


def provider_signer(
    name: str, secrets: Sequence[Secret | str | bytes], options: Mapping[str, Any]
) -> GitHubSigner | ShopifySigner | HmacSigner:
    """The signer of the ``github``, ``shopify`` or ``slack`` preset; ``options`` are the scheme options."""
    if name == "github":
        return GitHubSigner(secrets)
    if name == "shopify":
        return ShopifySigner(
            secrets,
            shop_domain=options.get("shop_domain"),
            api_version=options.get("api_version"),
            topic_separator=options.get("topic_separator"),
        )
    return preset_signer(name, secrets)


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
