"""Standard Webhooks: ``v1`` HMAC-SHA256 and ``v1a`` Ed25519 signatures over ``{id}.{timestamp}.{body}``.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md. The same
headers are sent under the ``webhook-`` prefix (the standard) or ``svix-`` (Svix); verifiers accept both.

This is the hot path of every receiver, so the verifier does the minimum before the MAC: direct header
lookups, a strict integer parse of the timestamp, a fast path for the common one-signature header, and the MAC
through ``hmac.digest`` (OpenSSL's one-shot HMAC, with no Python-level object per call). Above
`ONE_SHOT_LIMIT` the body is fed to a streaming MAC instead, because copying it to prepend the prefix would
then cost more than the call overhead saved. Comparison is constant-time on bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from base64 import b64encode
from collections.abc import Mapping, Sequence
from hashlib import sha256
from hmac import compare_digest
from hmac import new as hmac_new

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hookgate.errors import KeyFormatError, MalformedError, SignatureError, TimestampError
from hookgate.keys import AsymmetricKey, Secret, load_key, parse_symmetric_secret
from hookgate.schemes._base import Signed, Verified, get_header

__all__ = [
    "DEFAULT_TOLERANCE",
    "StandardWebhooksEd25519Signer",
    "StandardWebhooksEd25519Verifier",
    "StandardWebhooksSigner",
    "StandardWebhooksVerifier",
]

DEFAULT_TOLERANCE = 300
HEADER_PREFIXES = ("webhook", "svix")
# Bounds that keep a hostile header from costing more than a legitimate one: a rotation never needs more
# than a handful of signatures, and ids/timestamps are short.
MAX_SIGNATURE_HEADER = 4096
MAX_SIGNATURES = 16
MAX_ID_LENGTH = 256
MAX_TIMESTAMP_DIGITS = 12
ONE_SHOT_LIMIT = 16 * 1024


def _secret(value: Secret | str | bytes) -> Secret:
    return value if isinstance(value, Secret) else parse_symmetric_secret(value)


def _check_msg_id(msg_id: str) -> None:
    if not msg_id or len(msg_id) > MAX_ID_LENGTH or "." in msg_id or not msg_id.isprintable():
        # a '.' would make "{id}.{ts}.{body}" ambiguous
        raise MalformedError("message id is empty, too long, or contains '.' or control characters")


def _signed_prefix(msg_id: str, timestamp: int) -> bytes:
    return f"{msg_id}.{timestamp}.".encode()


def _mac_b64(key: bytes, prefix: bytes, body: bytes) -> bytes:
    """base64 of HMAC-SHA256(key, prefix + body)."""
    if len(body) <= ONE_SHOT_LIMIT:
        return b64encode(hmac_new(key, prefix + body, sha256).digest())
    mac = hmac.new(key, prefix, hashlib.sha256)
    mac.update(body)
    return b64encode(mac.digest())


def _read_headers(headers: Mapping[str, str], now: float, tolerance: int) -> tuple[str, int, str, bytes]:
    """Return (msg_id, timestamp, signature header, signed prefix) or raise."""
    msg_id = headers.get("webhook-id")
    if msg_id is not None:  # the common case: lower-case standard names, as ASGI and aiohttp hand them over
        ts_text = get_header(headers, "webhook-timestamp")
        sig_header = get_header(headers, "webhook-signature")
    else:
        for prefix in HEADER_PREFIXES:
            msg_id = get_header(headers, f"{prefix}-id")
            if msg_id is not None:
                ts_text = get_header(headers, f"{prefix}-timestamp")
                sig_header = get_header(headers, f"{prefix}-signature")
                break
        else:
            raise MalformedError("missing webhook-id header", reason="missing_header")
    if ts_text is None or sig_header is None:
        raise MalformedError("missing webhook-timestamp or webhook-signature header", reason="missing_header")
    _check_msg_id(msg_id)
    if not (0 < len(ts_text) <= MAX_TIMESTAMP_DIGITS and ts_text.isascii() and ts_text.isdigit()):
        raise MalformedError("webhook-timestamp is not an integer number of seconds", reason="bad_timestamp")
    timestamp = int(ts_text)
    if timestamp < now - tolerance:
        raise TimestampError("webhook timestamp is too old", reason="timestamp_too_old")
    if timestamp > now + tolerance:
        raise TimestampError("webhook timestamp is too far in the future", reason="timestamp_in_future")
    if len(sig_header) > MAX_SIGNATURE_HEADER:
        raise MalformedError("webhook-signature header is too long", reason="bad_signature_header")
    return msg_id, timestamp, sig_header, _signed_prefix(msg_id, timestamp)


def _candidates(sig_header: str, version: str) -> list[bytes]:
    """The base64 signatures of ``version`` in a space-separated ``v1,<b64> v1a,<b64>`` header."""
    if " " not in sig_header and sig_header.startswith(version + ",") and sig_header.isascii():
        if len(sig_header) == len(version) + 1:
            raise MalformedError("webhook-signature entry is empty", reason="bad_signature_header")
        return [sig_header[len(version) + 1 :].encode("ascii")]
    out: list[bytes] = []
    parts = sig_header.split()
    if len(parts) > MAX_SIGNATURES:
        raise MalformedError("too many signatures in webhook-signature", reason="bad_signature_header")
    for part in parts:
        ver, sep, value = part.partition(",")
        if not sep or not value:
            raise MalformedError(
                "webhook-signature entry is not 'version,signature'", reason="bad_signature_header"
            )
        if ver == version:
            try:
                out.append(value.encode("ascii"))
            except UnicodeEncodeError:
                raise MalformedError(
                    "webhook-signature is not ASCII", reason="bad_signature_header"
                ) from None
    return out


class StandardWebhooksSigner:
    """Sign with every active secret (``v1,<sig>`` each), so receivers holding any one of them verify.

    ``header_prefix`` is ``webhook`` (the standard) or ``svix``.
    """

    __slots__ = ("_keys", "_names", "_only")

    def __init__(self, secrets: Sequence[Secret | str | bytes], *, header_prefix: str = "webhook") -> None:
        if not secrets:
            raise KeyFormatError("Standard Webhooks signing needs at least one secret")
        if header_prefix not in HEADER_PREFIXES:
            raise KeyFormatError(f"header_prefix must be one of {HEADER_PREFIXES}")
        self._keys = [_secret(s) for s in secrets]
        self._only = self._keys[0].reveal() if len(self._keys) == 1 else None
        self._names = (f"{header_prefix}-id", f"{header_prefix}-timestamp", f"{header_prefix}-signature")

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        if not (0 < len(msg_id) <= MAX_ID_LENGTH and "." not in msg_id and msg_id.isprintable()):
            _check_msg_id(msg_id)  # raises with the precise message
        timestamp = int(now)
        prefix = f"{msg_id}.{timestamp}.".encode()
        if self._only is not None and len(body) <= ONE_SHOT_LIMIT:
            signature = "v1," + b64encode(hmac_new(self._only, prefix + body, sha256).digest()).decode()
        else:
            signature = " ".join(
                ["v1," + _mac_b64(k.reveal(), prefix, body).decode("ascii") for k in self._keys]
            )
        id_name, ts_name, sig_name = self._names
        return Signed({id_name: msg_id, ts_name: str(timestamp), sig_name: signature}, body)

    def __repr__(self) -> str:
        return f"StandardWebhooksSigner(secrets=<{len(self._keys)} redacted>)"


class StandardWebhooksVerifier:
    """Accept a request when any ``v1`` signature matches any configured secret (rotation)."""

    __slots__ = ("_keys", "_only", "tolerance")

    def __init__(
        self, secrets: Sequence[Secret | str | bytes], *, tolerance: int = DEFAULT_TOLERANCE
    ) -> None:
        if not secrets:
            raise KeyFormatError("Standard Webhooks verification needs at least one secret")
        if tolerance < 0:
            raise KeyFormatError("tolerance must not be negative")
        self._keys = [_secret(s) for s in secrets]
        # the one secret's bytes, held for the fast path (a slot, so it never shows in repr or __dict__)
        self._only = self._keys[0].reveal() if len(self._keys) == 1 else None
        self.tolerance = tolerance

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        # Fast path, inlined on purpose (see the module docstring): lower-case standard header names, a plain
        # integer timestamp inside the window, one v1 signature, one secret. Anything else takes the general
        # path below, which re-checks everything and names the precise failure.
        get = headers.get
        msg_id = get("webhook-id")
        ts_text = get("webhook-timestamp")
        sig = get("webhook-signature")
        key = self._only
        if (
            key is not None
            and msg_id is not None
            and ts_text is not None
            and sig is not None
            and 0 < len(msg_id) <= MAX_ID_LENGTH
            and "." not in msg_id
            and msg_id.isprintable()
            and 0 < len(ts_text) <= MAX_TIMESTAMP_DIGITS
            and ts_text.isdigit()
            and ts_text.isascii()
            and sig.startswith("v1,")
            and " " not in sig
            and sig.isascii()
            and len(sig) <= MAX_SIGNATURE_HEADER
            and len(body) <= ONE_SHOT_LIMIT
        ):
            timestamp = int(ts_text)
            if now - self.tolerance <= timestamp <= now + self.tolerance:
                content = f"{msg_id}.{timestamp}.".encode() + body
                expected = b64encode(hmac_new(key, content, sha256).digest())
                if compare_digest(expected, sig[3:].encode()):
                    return Verified(body, msg_id, timestamp, "0")
        return self._verify_general(body, headers, now)

    def _verify_general(self, body: bytes, headers: Mapping[str, str], now: float) -> Verified:
        msg_id, timestamp, sig_header, prefix = _read_headers(headers, now, self.tolerance)
        candidates = _candidates(sig_header, "v1")
        if not candidates:
            raise SignatureError("no v1 signature in webhook-signature", reason="no_matching_version")
        for index, key in enumerate(self._keys):
            expected = _mac_b64(key.reveal(), prefix, body)
            matched = False
            # compare against every candidate so the time taken does not depend on which one matched
            for candidate in candidates:
                matched |= compare_digest(expected, candidate)
            if matched:
                return Verified(body, msg_id=msg_id, timestamp=timestamp, key_id=str(index))
        raise SignatureError("no webhook signature matched", reason="signature_mismatch")

    def __repr__(self) -> str:
        return f"StandardWebhooksVerifier(secrets=<{len(self._keys)} redacted>, tolerance={self.tolerance})"


def _ed25519(key: AsymmetricKey | str | bytes, *, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    parsed = load_key(key, private=private) if isinstance(key, str | bytes) else key
    native = parsed.get_op_key("sign" if private else "verify")
    if private and isinstance(native, Ed25519PrivateKey):
        return native
    if not private and isinstance(native, Ed25519PublicKey):
        return native
    raise KeyFormatError("Standard Webhooks v1a needs Ed25519 keys")


class StandardWebhooksEd25519Signer:
    """``v1a`` signatures: Ed25519 over the same content, one per active private key."""

    __slots__ = ("_keys", "_names")

    def __init__(
        self, private_keys: Sequence[AsymmetricKey | str | bytes], *, header_prefix: str = "webhook"
    ) -> None:
        if not private_keys:
            raise KeyFormatError("Standard Webhooks v1a signing needs at least one private key")
        if header_prefix not in HEADER_PREFIXES:
            raise KeyFormatError(f"header_prefix must be one of {HEADER_PREFIXES}")
        self._keys = [_ed25519(k, private=True) for k in private_keys]
        self._names = (f"{header_prefix}-id", f"{header_prefix}-timestamp", f"{header_prefix}-signature")

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        _check_msg_id(msg_id)
        timestamp = int(now)
        content = _signed_prefix(msg_id, timestamp) + body
        sigs = []
        for key in self._keys:
            assert isinstance(key, Ed25519PrivateKey)  # noqa: S101 - guaranteed by __init__
            sigs.append("v1a," + base64.b64encode(key.sign(content)).decode("ascii"))
        id_name, ts_name, sig_name = self._names
        return Signed({id_name: msg_id, ts_name: str(timestamp), sig_name: " ".join(sigs)}, body)

    def __repr__(self) -> str:
        return f"StandardWebhooksEd25519Signer(keys=<{len(self._keys)} redacted>)"


class StandardWebhooksEd25519Verifier:
    """Accept a request when any ``v1a`` signature verifies under any configured public key."""

    __slots__ = ("_keys", "_only", "tolerance")

    def __init__(
        self, public_keys: Sequence[AsymmetricKey | str | bytes], *, tolerance: int = DEFAULT_TOLERANCE
    ) -> None:
        if not public_keys:
            raise KeyFormatError("Standard Webhooks v1a verification needs at least one public key")
        if tolerance < 0:
            raise KeyFormatError("tolerance must not be negative")
        self._keys = [_ed25519(k, private=False) for k in public_keys]
        self.tolerance = tolerance

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> Verified:
        msg_id, timestamp, sig_header, prefix = _read_headers(headers, now, self.tolerance)
        signatures = []
        for candidate in _candidates(sig_header, "v1a"):
            try:
                raw = base64.b64decode(candidate, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedError("v1a signature is not base64", reason="bad_signature_header") from None
            if len(raw) != 64:
                raise MalformedError("v1a signature is not 64 bytes", reason="bad_signature_header")
            signatures.append(raw)
        if not signatures:
            raise SignatureError("no v1a signature in webhook-signature", reason="no_matching_version")
        content = prefix + body
        for index, key in enumerate(self._keys):
            assert isinstance(key, Ed25519PublicKey)  # noqa: S101 - guaranteed by __init__
            for signature in signatures:
                try:
                    key.verify(signature, content)
                except InvalidSignature:
                    continue
                return Verified(body, msg_id=msg_id, timestamp=timestamp, key_id=str(index))
        raise SignatureError("no webhook signature matched", reason="signature_mismatch")

    def __repr__(self) -> str:
        return f"StandardWebhooksEd25519Verifier(keys={len(self._keys)}, tolerance={self.tolerance})"
