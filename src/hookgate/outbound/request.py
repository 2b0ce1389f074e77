"""Turn a claimed delivery into the exact HTTP request to send: body, signature headers, custom headers.

The endpoint's sealed secrets are opened with the master `SecretBox` and turned into a signer once per
endpoint version (cached until the endpoint changes or a rotated secret expires), because opening and parsing
keys per request would cost more than the signature itself. Signature and framing headers always win over an
endpoint's custom headers: a custom header can add information, never replace what we sign.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.models import Endpoint, Message
from hookgate.outbound.vault import open_secrets
from hookgate.schemes._base import Signer
from hookgate.schemes.credentials import check_header_name
from hookgate.schemes.registry import SCHEME_NAMES, build_signer

__all__ = [
    "OUTBOUND_SCHEMES",
    "RESERVED_HEADERS",
    "OutgoingRequest",
    "RequestBuilder",
    "validate_custom_headers",
]

# "none" sends the payload unsigned (the endpoint relies on its client authentication or mTLS instead).
OUTBOUND_SCHEMES = (*SCHEME_NAMES, "none")

# Framing headers belong to the HTTP client, signature headers to the scheme: neither is configurable.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
    }
)
_MAX_CUSTOM_HEADERS = 32
_MAX_HEADER_VALUE = 4096
_JSON = "application/json"


def validate_custom_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Check an endpoint's custom headers on save; return them as a plain dict. Raises `ConfigError`."""
    if len(headers) > _MAX_CUSTOM_HEADERS:
        raise ConfigError(f"at most {_MAX_CUSTOM_HEADERS} custom headers are allowed")
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigError("custom header names and values must be strings")
        check_header_name(name)
        lower = name.lower()
        if lower in RESERVED_HEADERS:
            raise ConfigError(f"custom header {name!r} is set by hookgate and cannot be overridden")
        if lower in seen:
            raise ConfigError(f"custom header {name!r} appears twice (header names are case-insensitive)")
        seen.add(lower)
        if len(value) > _MAX_HEADER_VALUE or any(c in value for c in "\r\n\x00"):
            raise ConfigError(f"custom header {name!r}: value too long or contains CR, LF or NUL")
    return dict(headers)


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    timeout_s: float
    insecure_ok: bool

    def __repr__(self) -> str:
        # headers carry signatures and credentials: never print them
        return f"OutgoingRequest(headers=<{len(self.headers)}>, body=<{len(self.body)} bytes>)"


@dataclass(slots=True)
class _CachedSigner:
    sealed: bytes
    updated_at: float
    scheme: str
    signer: Signer | None
    valid_until: float | None


class RequestBuilder:
    """Builds signed requests; one per worker, holding the signer cache."""

    __slots__ = ("_box", "_cache")

    def __init__(self, box: SecretBox | None) -> None:
        self._box = box
        self._cache: dict[str, _CachedSigner] = {}

    def _signer(self, endpoint: Endpoint, now: float) -> Signer | None:
        cached = self._cache.get(endpoint.id)
        if (
            cached is not None
            and cached.sealed == endpoint.secrets_sealed
            and cached.updated_at == endpoint.updated_at
            and cached.scheme == endpoint.scheme
            and (cached.valid_until is None or cached.valid_until > now)
        ):
            return cached.signer
        signer: Signer | None = None
        valid_until: float | None = None
        if endpoint.scheme != "none":
            if endpoint.scheme not in SCHEME_NAMES:
                raise ConfigError(f"endpoint {endpoint.id} has unknown scheme {endpoint.scheme!r}")
            if self._box is None:
                raise ConfigError("no master key configured: cannot open endpoint secrets to sign")
            secrets = open_secrets(self._box, endpoint.id, endpoint.secrets_sealed)
            options = endpoint.settings.get("scheme_options") or {}
            signer = build_signer(
                endpoint.scheme, secrets.active_secrets(now), secrets.active_keys(now), options=options
            )
            valid_until = secrets.valid_until(now)
        self._cache[endpoint.id] = _CachedSigner(
            endpoint.secrets_sealed, endpoint.updated_at, endpoint.scheme, signer, valid_until
        )
        return signer

    def build(self, message: Message, endpoint: Endpoint, *, now: float) -> OutgoingRequest:
        """The request for one attempt. The message id is the webhook id, stable across retries, so the
        receiver can deduplicate; the timestamp is the attempt's."""
        headers = {"Content-Type": _JSON}
        body = message.payload
        signer = self._signer(endpoint, now)
        signed_names: set[str] = set()
        if signer is not None:
            signed = signer.sign(body, msg_id=message.id, now=now)
            body = signed.body
            if signed.content_type is not None:
                headers["Content-Type"] = signed.content_type
            headers.update(signed.headers)
            signed_names = {name.lower() for name in signed.headers}
        for name, value in endpoint.headers.items():
            lower = name.lower()
            if lower not in RESERVED_HEADERS and lower not in signed_names:
                headers[name] = value
        return OutgoingRequest(
            url=endpoint.url,
            headers=headers,
            body=body,
            timeout_s=endpoint.timeout_s,
            insecure_ok=endpoint.allow_insecure,
        )
