"""Key material: secrets with a redacted repr, parsing (``whsec_``, PEM, JWK), generation and JWKS documents.

Everything that turns operator-supplied text into key objects lives here, so schemes receive parsed keys and
every parse failure is one `KeyFormatError` with a precise message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _secrets

from hookgate.errors import KeyFormatError

__all__ = [
    "Secret",
    "generate_hmac_secret",
    "parse_symmetric_secret",
]

WHSEC_PREFIX = "whsec_"


class Secret:
    """Bytes that must never be printed: ``repr``/``str`` are redacted, equality is constant-time.

    ``reveal()`` is the one, greppable, way to get the bytes out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise KeyFormatError("a secret must be bytes")
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        # hashing would leak equality classes through timing of dict lookups; secrets are not dict keys
        raise TypeError("Secret is not hashable")

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret must not be pickled")


def parse_symmetric_secret(text: str | bytes, *, allow_raw: bool = True) -> Secret:
    """Parse a shared secret.

    ``whsec_<base64>`` (the Standard Webhooks form) decodes to its key bytes. Anything else is taken as the
    literal UTF-8 bytes of the string (GitHub, Shopify, Slack secrets are used that way) unless
    ``allow_raw`` is false.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyFormatError("secret is not valid UTF-8") from None
    if text.startswith(WHSEC_PREFIX):
        encoded = text[len(WHSEC_PREFIX) :]
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFormatError("whsec_ secret is not valid base64 after the prefix") from None
        if not raw:
            raise KeyFormatError("whsec_ secret is empty")
        return Secret(raw)
    if not allow_raw:
        raise KeyFormatError("secret must start with 'whsec_'")
    if not text:
        raise KeyFormatError("secret is empty")
    return Secret(text.encode("utf-8"))


def generate_hmac_secret(nbytes: int = 32) -> str:
    """A new ``whsec_`` secret with ``nbytes`` of randomness (24 to 64 bytes, per Standard Webhooks)."""
    if not 24 <= nbytes <= 64:
        raise KeyFormatError("HMAC secrets must be 24 to 64 bytes long")
    return WHSEC_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")
