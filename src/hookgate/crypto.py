"""Encryption of secrets at rest: AES-256-GCM under a master key ring, bound to the row it belongs to.

Every secret, private key and client key hookgate stores goes through `SecretBox` before it reaches a store,
so a database dump holds only ciphertext. A sealed blob names the master key that sealed it, so the master key
can be rotated: add a new primary key, re-seal (`SecretBox.reseal`), then drop the old one. The associated
data (``aad``) ties a blob to its owner (e.g. ``b"endpoint:ep_123"``), so blobs cannot be moved between
rows.

Blob layout (version 1): ``b"\\x01" | len(kid) | kid | nonce(12) | ciphertext+tag``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hookgate.errors import ConfigError, KeyFormatError

__all__ = ["SecretBox", "generate_master_key", "parse_master_keys"]

_VERSION = 1
_NONCE_LEN = 12
_KID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SecretBox:
    """Seals and opens secrets with a ring of AES-256-GCM master keys; the first key is the primary."""

    __slots__ = ("_keys", "_primary")

    def __init__(self, keys: Mapping[str, bytes], *, primary: str | None = None) -> None:
        if not keys:
            raise ConfigError("no master key configured: set HOOKGATE_MASTER_KEY or a master key file")
        for kid, key in keys.items():
            if not _KID_RE.fullmatch(kid):
                raise ConfigError(f"master key id {kid!r} must be 1-64 characters of [A-Za-z0-9_.-]")
            if len(key) != 32:
                raise ConfigError(f"master key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._primary = primary if primary is not None else next(iter(keys))
        if self._primary not in self._keys:
            raise ConfigError(f"primary master key {self._primary!r} is not in the key ring")

    def __repr__(self) -> str:
        return f"SecretBox(primary={self._primary!r}, keys={sorted(self._keys)!r})"

    @property
    def primary(self) -> str:
        return self._primary

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        kid = self._primary.encode("ascii")
        nonce = os.urandom(_NONCE_LEN)
        ciphertext = self._keys[self._primary].encrypt(nonce, plaintext, aad)
        return bytes((_VERSION, len(kid))) + kid + nonce + ciphertext

    def open(self, blob: bytes, aad: bytes) -> bytes:
        kid, nonce, ciphertext = _split(blob)
        aead = self._keys.get(kid)
        if aead is None:
            raise ConfigError(
                f"secret was sealed with master key {kid!r}, which is not configured; "
                "add it to the master key ring to read this record"
            )
        try:
            return aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise KeyFormatError(
                f"sealed secret does not open with master key {kid!r}: wrong key, or the record was altered"
            ) from None

    def key_id_of(self, blob: bytes) -> str:
        return _split(blob)[0]

    def reseal(self, blob: bytes, aad: bytes) -> bytes:
        """Re-encrypt under the primary key (master key rotation); returns ``blob`` if already primary."""
        if self.key_id_of(blob) == self._primary:
            return blob
        return self.seal(self.open(blob, aad), aad)


def _split(blob: bytes) -> tuple[str, bytes, bytes]:
    if len(blob) < 2 or blob[0] != _VERSION:
        raise KeyFormatError("sealed secret has an unknown format (is it plaintext or from another system?)")
    kid_len = blob[1]
    body = blob[2 + kid_len :]
    if kid_len == 0 or len(body) < _NONCE_LEN + 16:
        raise KeyFormatError("sealed secret is truncated")
    kid = blob[2 : 2 + kid_len].decode("ascii", errors="replace")
    return kid, body[:_NONCE_LEN], body[_NONCE_LEN:]


def generate_master_key() -> str:
    """A new master key in the text form `parse_master_keys` reads (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def parse_master_keys(text: str) -> dict[str, bytes]:
    """Parse ``[kid:]base64key[,[kid:]base64key...]``; the first entry is the primary.

    Unnamed keys get ids ``k1``, ``k2``... by position. Whitespace and newlines around entries are ignored, so
    the same text works in an environment variable and in a key file.
    """
    keys: dict[str, bytes] = {}
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip()]
    if not entries:
        raise ConfigError("master key text is empty")
    for position, entry in enumerate(entries, start=1):
        kid, sep, encoded = entry.rpartition(":")
        if not sep:
            kid = f"k{position}"
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"master key #{position} is not valid base64") from None
        if len(key) != 32:
            raise ConfigError(f"master key #{position} must decode to 32 bytes, got {len(key)}")
        if kid in keys:
            raise ConfigError(f"master key id {kid!r} appears twice")
        keys[kid] = key
    return keys
