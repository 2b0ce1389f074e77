"""The shapes every scheme shares: what a signer returns, what a verifier returns, and their protocols.

Schemes are sans-I/O: they take raw body bytes, a header mapping, keys and ``now`` (Unix seconds, passed in so
tests use a fixed clock) and never read the network, the clock, the environment or a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = ["EventSigner", "Signed", "Signer", "Verified", "Verifier", "get_header"]

_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})


# Not frozen: a frozen dataclass assigns each field through object.__setattr__, which costs more than the
# whole header parse of a Standard Webhooks verification. Treat instances as read-only all the same.
@dataclass(slots=True)
class Signed:
    """What a sender must put on the wire.

    ``headers`` are added to the request; ``body`` is what to send (the original bytes for header-signature
    schemes, the compact token for JWS/JWE); ``content_type`` is set when the scheme changes the body's type.
    """

    headers: dict[str, str]
    body: bytes
    content_type: str | None = None


class Verified:
    """A request that passed verification (read-only by convention).

    ``payload`` is the verified application payload: the raw body for header-signature schemes, the JWS
    payload, or the decrypted JWE plaintext. ``key_id`` names the key that matched (a ``kid`` or the index
    of the secret), so an operator can see when an old rotated key is still being used. ``claims`` holds
    token claims or JOSE headers when the scheme has them.

    A hand-written slots class rather than a dataclass: this object is built once per verified request, and
    the dataclass ``default_factory`` for ``claims`` alone cost a measurable share of a 1 KiB verification.
    """

    __slots__ = ("claims", "key_id", "msg_id", "payload", "timestamp")

    def __init__(
        self,
        payload: bytes,
        msg_id: str | None = None,
        timestamp: int | None = None,
        key_id: str | None = None,
        claims: Mapping[str, Any] = _NO_CLAIMS,
    ) -> None:
        self.payload = payload
        self.msg_id = msg_id
        self.timestamp = timestamp
        self.key_id = key_id
        self.claims = claims

    def __repr__(self) -> str:
        return (
            f"Verified(payload=<{len(self.payload)} bytes>, msg_id={self.msg_id!r}, "
            f"timestamp={self.timestamp!r}, key_id={self.key_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verified):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable-by-construction value object


@runtime_checkable
class Signer(Protocol):
    """The sending side of a scheme."""

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        """Return the headers (and possibly a replacement body) for one request."""
        ...


@runtime_checkable
class EventSigner(Protocol):
    """A signer whose provider also names the event in headers (GitHub's event, Shopify's topic).

    A sender that knows the event calls `sign_event` instead of `Signer.sign`: the event's type and creation
    time go into the headers that the provider's own receiving libraries require.
    """

    def sign_event(
        self, body: bytes, *, msg_id: str, event_type: str, created_at: float, now: float
    ) -> Signed:
        """Return the headers (and body) for one request carrying the event ``event_type``."""
        ...


@runtime_checkable
class Verifier(Protocol):
    """The receiving side of a scheme. Raises `hookgate.errors.VerificationError` on any failure."""

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        """Check ``body`` and ``headers``; return what was verified."""
        ...


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup; ``name`` must be given in lower case.

    The exact and lower-case spellings are tried first because that is what ASGI servers, aiohttp and most
    test clients hand us; only then is the mapping scanned.
    """
    value = headers.get(name)
    if value is not None:
        return value
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
