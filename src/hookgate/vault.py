"""An endpoint's signing material at rest: which secrets and keys it has, until when each is valid, sealed.

What the store holds in ``Endpoint.secrets_sealed`` is the JSON form of `EndpointSecrets` encrypted with the
master `SecretBox`, bound to the endpoint id, so a dump of the database shows no secret and a blob copied to
another endpoint does not open. Rotation keeps the previous secret valid for a grace period: requests carry a
signature for every secret still valid, so receivers holding the old or the new secret both verify.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, KeyFormatError

__all__ = [
    "DEFAULT_GRACE_S",
    "EndpointSecrets",
    "SecretEntry",
    "endpoint_aad",
    "open_secrets",
    "seal_secrets",
]

DEFAULT_GRACE_S = 24 * 3600.0
_FORMAT = 1


@dataclass(frozen=True, slots=True)
class SecretEntry:
    """One secret (``whsec_...``, ``user:password``, a token) or PEM/JWK key; no ``expires_at``: no end."""

    value: str
    kind: str = "secret"  # "secret" or "key"
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"SecretEntry(kind={self.kind!r}, expires_at={self.expires_at!r}, value=<redacted>)"

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class EndpointSecrets:
    """All the signing material of one endpoint, newest first."""

    entries: tuple[SecretEntry, ...] = ()

    def active_secrets(self, now: float) -> list[str]:
        return [e.value for e in self.entries if e.kind == "secret" and e.active(now)]

    def active_keys(self, now: float) -> list[bytes]:
        return [e.value.encode("utf-8") for e in self.entries if e.kind == "key" and e.active(now)]

    def valid_until(self, now: float) -> float | None:
        """When the set of active entries next changes (a rotated secret expires), or None."""
        ends = [e.expires_at for e in self.entries if e.expires_at is not None and e.expires_at > now]
        return min(ends) if ends else None

    def rotate(self, new: SecretEntry, *, now: float, grace_s: float = DEFAULT_GRACE_S) -> EndpointSecrets:
        """Put ``new`` first; entries of the same kind stay valid for ``grace_s`` more, expired ones go."""
        if (
            isinstance(grace_s, bool)
            or not isinstance(grace_s, (int, float))
            or not math.isfinite(grace_s)
            or grace_s < 0
        ):
            raise ConfigError(f"rotation grace period must not be negative or infinite, got {grace_s!r}")
        kept = []
        for entry in self.entries:
            if not entry.active(now):
                continue
            if entry.kind == new.kind:
                end = now + grace_s if entry.expires_at is None else min(now + grace_s, entry.expires_at)
                if end <= now:
                    continue
                kept.append(replace(entry, expires_at=end))
            else:
                kept.append(entry)
        return EndpointSecrets((new, *kept))

    @classmethod
    def of(cls, secrets: Sequence[str] = (), keys: Sequence[str] = ()) -> EndpointSecrets:
        return cls(
            tuple(SecretEntry(s, "secret") for s in secrets) + tuple(SecretEntry(k, "key") for k in keys)
        )


def endpoint_aad(endpoint_id: str) -> bytes:
    """The associated data an endpoint's secrets are sealed with: a blob opens only for its endpoint."""
    return f"hookgate:endpoint-secrets:{endpoint_id}".encode()


_aad = endpoint_aad


def seal_secrets(box: SecretBox, endpoint_id: str, secrets: EndpointSecrets) -> bytes:
    document = {
        "v": _FORMAT,
        "entries": [{"value": e.value, "kind": e.kind, "expires_at": e.expires_at} for e in secrets.entries],
    }
    return box.seal(json.dumps(document, separators=(",", ":")).encode("utf-8"), _aad(endpoint_id))


def open_secrets(box: SecretBox, endpoint_id: str, blob: bytes) -> EndpointSecrets:
    """The endpoint's secrets; an empty blob means none. Raises `KeyFormatError`/`ConfigError` clearly."""
    if not blob:
        return EndpointSecrets()
    plaintext = box.open(blob, _aad(endpoint_id))
    unknown = KeyFormatError(f"sealed secrets of endpoint {endpoint_id} are not in a known format")
    try:
        document = json.loads(plaintext)
        version = document.get("v")
        entries = tuple(
            SecretEntry(
                value=str(item["value"]),
                kind=str(item["kind"]),
                expires_at=None if item["expires_at"] is None else float(item["expires_at"]),
            )
            for item in document["entries"]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise unknown from None
    if version != _FORMAT:
        raise unknown
    return EndpointSecrets(entries)
