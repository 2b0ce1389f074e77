"""Key material: secrets with a redacted repr, parsing (``whsec_``, PEM, JWK), generation and JWKS documents.

Everything that turns operator-supplied text into key objects lives here, so schemes receive parsed keys and
every parse failure is one `KeyFormatError` with a precise message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets as _secrets
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from hookgate.errors import KeyFormatError

__all__ = [
    "KEY_TYPES",
    "AsymmetricKey",
    "Secret",
    "default_jws_alg",
    "generate_hmac_secret",
    "generate_key",
    "jwks_document",
    "key_kind",
    "load_jwks",
    "load_key",
    "parse_symmetric_secret",
    "private_pem",
    "public_half",
    "public_jwk",
    "public_pem",
    "thumbprint_kid",
    "with_kid",
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


# --- asymmetric keys ---

AsymmetricKey = RSAKey | ECKey | OKPKey
KEY_TYPES = ("hmac", "ed25519", "rsa", "ec")
WHSK_PREFIX = "whsk_"  # Standard Webhooks asymmetric secret (signing) key
WHPK_PREFIX = "whpk_"  # Standard Webhooks asymmetric public (verifying) key


def _as_text(data: str | bytes, what: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFormatError(f"{what} is not valid UTF-8 text (PEM or JWK JSON expected)") from None


def load_key(data: str | bytes | Mapping[str, Any], *, private: bool | None = None) -> AsymmetricKey:
    """Parse a PEM (PKCS#8, SPKI, PKCS#1, SEC1) or JWK (JSON text or mapping) RSA, EC P-256 or Ed25519 key.

    ``private=True`` insists on a private key (signing, decrypting); ``private=False`` returns the public half
    of whatever was given (verifying, encrypting to someone). ``None`` returns the key as given.
    """
    key: AsymmetricKey
    if isinstance(data, Mapping):
        key = _import_jwk(data)
    else:
        text = _as_text(data, "key").strip()
        if text.startswith(WHSK_PREFIX) or text.startswith(WHPK_PREFIX):
            key = _import_standard_webhooks_key(text)
        elif text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise KeyFormatError(f"key looks like JWK JSON but does not parse: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise KeyFormatError("a JWK must be a JSON object")
            key = _import_jwk(obj)
        elif "-----BEGIN" in text:
            key = _import_pem(text.encode("ascii", "replace"))
        else:
            raise KeyFormatError("key is neither PEM, JWK JSON, nor a whsk_/whpk_ key")
    if private is True and not key.is_private:
        raise KeyFormatError("a private key is required here, but a public key was given")
    if private is False and key.is_private:
        return public_half(key)
    return key


def _import_jwk(obj: Mapping[str, Any]) -> AsymmetricKey:
    kty = obj.get("kty")
    try:
        if kty == "RSA":
            _check_jwk_rsa_size(obj)
            return RSAKey.import_key(dict(obj))
        if kty == "EC":
            key: AsymmetricKey = ECKey.import_key(dict(obj))
        elif kty == "OKP":
            key = OKPKey.import_key(dict(obj))
        else:
            raise KeyFormatError(f"unsupported JWK key type {kty!r} (RSA, EC or OKP expected)")
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"JWK of type {kty!r} is invalid: {type(exc).__name__}") from None
    _check_curve(key)
    return key


def _check_jwk_rsa_size(obj: Mapping[str, Any]) -> None:
    # checked before joserfc sees the key: it only warns about short RSA keys, and the PEM path refuses them
    n = obj.get("n")
    if not isinstance(n, str):
        raise KeyFormatError("RSA JWK has no modulus 'n'")
    try:
        modulus = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        raise KeyFormatError("RSA JWK modulus 'n' is not base64url") from None
    bits = int.from_bytes(modulus, "big").bit_length()
    if bits < 2048:
        raise KeyFormatError(f"RSA keys must be at least 2048 bits, this one has {bits}")


def _import_pem(pem: bytes) -> AsymmetricKey:
    raw: Any
    try:
        if b"PRIVATE KEY" in pem:
            raw = serialization.load_pem_private_key(pem, password=None)
        else:
            raw = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # the message of cryptography's errors may quote key bytes; keep only the kind of failure
        raise KeyFormatError(
            f"PEM key cannot be loaded ({type(exc).__name__}); encrypted PEM is not supported"
        ) from None
    key: AsymmetricKey
    if isinstance(raw, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if raw.key_size < 2048:
            raise KeyFormatError(f"RSA keys must be at least 2048 bits, this one has {raw.key_size}")
        key = RSAKey(raw, raw)
    elif isinstance(raw, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        key = ECKey(raw, raw)
    elif isinstance(raw, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        key = OKPKey(raw, raw)
    else:
        raise KeyFormatError(
            f"unsupported key algorithm {type(raw).__name__} (RSA, EC P-256 or Ed25519 expected)"
        )
    _check_curve(key)
    return key


def _import_standard_webhooks_key(text: str) -> OKPKey:
    prefix, encoded = text[:5], text[5:]
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f"{prefix} key is not valid base64 after the prefix") from None
    if prefix == WHSK_PREFIX:
        # 32-byte seed, or the 64-byte seed||public form libsodium-based signers emit
        if len(raw) not in (32, 64):
            raise KeyFormatError("whsk_ key must hold a 32-byte Ed25519 seed (or 64-byte seed||public key)")
        native = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
        return OKPKey(native, native)
    if len(raw) != 32:
        raise KeyFormatError("whpk_ key must hold a 32-byte Ed25519 public key")
    native_pub = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    return OKPKey(native_pub, native_pub)


def _check_curve(key: AsymmetricKey) -> None:
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        raise KeyFormatError(f"EC keys must use curve P-256, this one uses {key.curve_name}")
    if isinstance(key, OKPKey) and key.curve_name != "Ed25519":
        raise KeyFormatError(f"OKP keys must be Ed25519, this one is {key.curve_name}")


def public_half(key: AsymmetricKey) -> AsymmetricKey:
    """The public key of ``key`` (itself when it is already public)."""
    if not key.is_private:
        return key
    return type(key).import_key(key.as_dict(private=False))


def key_kind(key: AsymmetricKey) -> str:
    """``rsa``, ``ec`` or ``ed25519``."""
    if isinstance(key, RSAKey):
        return "rsa"
    if isinstance(key, ECKey):
        return "ec"
    return "ed25519"


def thumbprint_kid(key: AsymmetricKey) -> str:
    """The RFC 7638 SHA-256 thumbprint of the public key, used as ``kid`` so a key names itself."""
    return key.thumbprint()


def private_pem(key: AsymmetricKey) -> str:
    """PKCS#8 PEM of a private key (no encryption: it is sealed by the store's master key at rest)."""
    if not key.is_private:
        raise KeyFormatError("a private key is required to export a private PEM")
    return key.as_pem(private=True).decode("ascii")


def public_pem(key: AsymmetricKey) -> str:
    """SubjectPublicKeyInfo PEM of the public half."""
    return key.as_pem(private=False).decode("ascii")


def generate_key(kind: str) -> str:
    """A new key as text: a ``whsec_`` secret for ``hmac``, a PKCS#8 private PEM otherwise."""
    if kind == "hmac":
        return generate_hmac_secret()
    if kind == "ed25519":
        key: AsymmetricKey = OKPKey.generate_key("Ed25519")
    elif kind == "rsa":
        key = RSAKey.generate_key(3072)
    elif kind == "ec":
        key = ECKey.generate_key("P-256")
    else:
        raise KeyFormatError(f"unknown key type {kind!r}; expected one of {', '.join(KEY_TYPES)}")
    return private_pem(key)


_JWS_ALG_FOR_KIND = {"rsa": "RS256", "ec": "ES256", "ed25519": "EdDSA"}


def default_jws_alg(key: AsymmetricKey) -> str:
    """The JWS algorithm hookgate signs with for this key type."""
    return _JWS_ALG_FOR_KIND[key_kind(key)]


def public_jwk(key: AsymmetricKey, *, use: str = "sig", alg: str | None = None) -> dict[str, Any]:
    """The public JWK of ``key`` with ``kid`` (thumbprint), ``use`` and ``alg`` set."""
    pub = public_half(key)
    jwk: dict[str, Any] = dict(pub.as_dict(private=False))
    jwk["kid"] = thumbprint_kid(pub)
    jwk["use"] = use
    if alg is None and use == "sig":
        alg = default_jws_alg(pub)
    if alg is not None:
        jwk["alg"] = alg
    return jwk


def jwks_document(keys: Iterable[AsymmetricKey]) -> dict[str, Any]:
    """A JWKS (RFC 7517) holding the public half of each key, each with its thumbprint ``kid``.

    Private members never appear: every key is reduced to its public half first.
    """
    return {"keys": [public_jwk(k) for k in keys]}


def load_jwks(data: str | bytes | Mapping[str, Any]) -> list[AsymmetricKey]:
    """Parse a JWKS document into public keys, each carrying its ``kid`` (the thumbprint when absent)."""
    if not isinstance(data, Mapping):
        try:
            data = json.loads(_as_text(data, "JWKS"))
        except json.JSONDecodeError as exc:
            raise KeyFormatError(f"JWKS is not valid JSON: {exc.msg}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise KeyFormatError('a JWKS must be a JSON object with a "keys" array')
    out: list[AsymmetricKey] = []
    for i, entry in enumerate(data["keys"]):
        if not isinstance(entry, Mapping):
            raise KeyFormatError(f"JWKS entry {i} is not an object")
        key = load_key(entry, private=False)
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise KeyFormatError(f"JWKS entry {i} has a non-string kid")
        out.append(with_kid(key, kid))
    return out


def with_kid(key: AsymmetricKey, kid: str | None = None) -> AsymmetricKey:
    """A copy of ``key`` whose JWK carries ``kid`` (its thumbprint when ``kid`` is None)."""
    params = dict(key.as_dict(private=key.is_private))
    params["kid"] = kid or thumbprint_kid(key)
    return type(key).import_key(params)
