"""Static credentials in a header: an API key under a header name the receiver chooses, Basic, Bearer.

These authenticate the sender, not the body; pair them with a signature scheme when integrity matters. Every
comparison is constant-time over the whole presented value against every configured credential, so neither
which credential matched nor how much of it matched shows in the timing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence

from hookgate.errors import KeyFormatError, MalformedError, SignatureError
from hookgate.keys import Secret
from hookgate.schemes._base import Signed, Verified, get_header
from hookgate.schemes.headers import check_header_name

__all__ = [
    "ApiKeySigner",
    "ApiKeyVerifier",
    "BasicSigner",
    "BasicVerifier",
    "BearerSigner",
    "BearerVerifier",
]

MAX_CREDENTIAL_HEADER = 4096


def _secret(value: Secret | str | bytes, what: str) -> Secret:
    if isinstance(value, Secret):
        raw = value.reveal()
    else:
        raw = value.encode("utf-8") if isinstance(value, str) else value
    if not raw:
        raise KeyFormatError(f"{what} is empty")
    if any(b < 0x21 or b == 0x7F for b in raw):
        # header values cannot carry control characters, and leading/trailing spaces would be stripped
        raise KeyFormatError(f"{what} contains whitespace or control characters")
    return Secret(raw)


def _match(presented: bytes, expected: Sequence[Secret]) -> int | None:
    found: int | None = None
    for index, secret in enumerate(expected):
        if hmac.compare_digest(presented, secret.reveal()) and found is None:
            found = index
    return found


def _presented(headers: Mapping[str, str], name: str) -> bytes:
    value = get_header(headers, name.lower())
    if value is None:
        raise MalformedError(f"missing {name} header", reason="missing_credentials")
    if len(value) > MAX_CREDENTIAL_HEADER:
        raise MalformedError(f"{name} header is too long", reason="malformed_credentials")
    try:
        return value.strip().encode("ascii")
    except UnicodeEncodeError:
        raise MalformedError(f"{name} header is not ASCII", reason="malformed_credentials") from None


class ApiKeySigner:
    """``<header>: <key>``; header name chosen by the receiver (``X-API-Key`` ...)."""

    __slots__ = ("_key", "header")

    def __init__(self, key: Secret | str | bytes, *, header: str = "X-API-Key") -> None:
        self.header = check_header_name(header)
        self._key = _secret(key, "API key")

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        return Signed({self.header: self._key.reveal().decode("ascii")}, body)

    def __repr__(self) -> str:
        return f"ApiKeySigner(header={self.header!r}, key=<redacted>)"


class ApiKeyVerifier:
    """Accept when the header equals any configured key."""

    __slots__ = ("_keys", "header")

    def __init__(self, keys: Sequence[Secret | str | bytes], *, header: str = "X-API-Key") -> None:
        if not keys:
            raise KeyFormatError("API key verification needs at least one key")
        self.header = check_header_name(header)
        self._keys = [_secret(k, "API key") for k in keys]

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        index = _match(_presented(headers, self.header), self._keys)
        if index is None:
            raise SignatureError("API key did not match", reason="bad_credentials")
        return Verified(body, key_id=str(index))

    def __repr__(self) -> str:
        return f"ApiKeyVerifier(header={self.header!r}, keys=<{len(self._keys)} redacted>)"


def _basic_value(username: str, password: Secret | str | bytes) -> bytes:
    if ":" in username or not username:
        raise KeyFormatError("Basic auth user id must be non-empty and must not contain ':'")
    pw = password.reveal() if isinstance(password, Secret) else password
    pw_bytes = pw.encode("utf-8") if isinstance(pw, str) else pw
    return b"Basic " + base64.b64encode(username.encode("utf-8") + b":" + pw_bytes)


class BasicSigner:
    """``Authorization: Basic base64(id:secret)`` (RFC 7617); the header name is configurable."""

    __slots__ = ("_value", "header")

    def __init__(
        self, username: str, password: Secret | str | bytes, *, header: str = "Authorization"
    ) -> None:
        self.header = check_header_name(header)
        self._value = Secret(_basic_value(username, password))

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        return Signed({self.header: self._value.reveal().decode("ascii")}, body)

    def __repr__(self) -> str:
        return f"BasicSigner(header={self.header!r}, credentials=<redacted>)"


class BasicVerifier:
    """Accept when the header carries any configured ``(id, secret)`` pair.

    The expected ``Basic <b64>`` strings are built once; a presented value is compared whole, so there is no
    early exit between the user id and the secret.
    """

    __slots__ = ("_values", "header")

    def __init__(
        self, credentials: Sequence[tuple[str, Secret | str | bytes]], *, header: str = "Authorization"
    ) -> None:
        if not credentials:
            raise KeyFormatError("Basic verification needs at least one credential")
        self.header = check_header_name(header)
        self._values = [Secret(_basic_value(u, p)) for u, p in credentials]

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        presented = _presented(headers, self.header)
        scheme, _, encoded = presented.partition(b" ")
        if scheme.lower() != b"basic" or not encoded:
            raise MalformedError("credentials are not Basic", reason="malformed_credentials")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedError("Basic credentials are not base64", reason="malformed_credentials") from None
        if b":" not in decoded:
            raise MalformedError("Basic credentials have no ':'", reason="malformed_credentials")
        # compare the canonical re-encoding, so padding or case variants of the scheme do not matter
        index = _match(b"Basic " + base64.b64encode(decoded), self._values)
        if index is None:
            raise SignatureError("Basic credentials did not match", reason="bad_credentials")
        return Verified(body, key_id=decoded.partition(b":")[0].decode("utf-8", "replace"))

    def __repr__(self) -> str:
        return f"BasicVerifier(header={self.header!r}, credentials=<{len(self._values)} redacted>)"


class BearerSigner:
    """``Authorization: Bearer <token>`` with a static token."""

    __slots__ = ("_token", "header")

    def __init__(self, token: Secret | str | bytes, *, header: str = "Authorization") -> None:
        self.header = check_header_name(header)
        self._token = _secret(token, "bearer token")

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        return Signed({self.header: "Bearer " + self._token.reveal().decode("ascii")}, body)

    def __repr__(self) -> str:
        return f"BearerSigner(header={self.header!r}, token=<redacted>)"


class BearerVerifier:
    """Accept when the bearer token equals any configured token."""

    __slots__ = ("_tokens", "header")

    def __init__(self, tokens: Sequence[Secret | str | bytes], *, header: str = "Authorization") -> None:
        if not tokens:
            raise KeyFormatError("bearer verification needs at least one token")
        self.header = check_header_name(header)
        self._tokens = [_secret(t, "bearer token") for t in tokens]

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        presented = _presented(headers, self.header)
        scheme, _, token = presented.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            raise MalformedError("credentials are not Bearer", reason="malformed_credentials")
        index = _match(token.strip(), self._tokens)
        if index is None:
            raise SignatureError("bearer token did not match", reason="bad_credentials")
        return Verified(body, key_id=str(index))

    def __repr__(self) -> str:
        return f"BearerVerifier(header={self.header!r}, tokens=<{len(self._tokens)} redacted>)"
