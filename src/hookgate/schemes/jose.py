"""JWS and JWE payloads: the body sent as a compact JWS signed with our private key, or as a compact JWE
encrypted to the receiver's public key (optionally a JWS inside: sign-then-encrypt).

Keys are bound to algorithms by their type (RSA -> RS256 / RSA-OAEP-256, EC P-256 -> ES256 /
ECDH-ES+A256KW, Ed25519 -> EdDSA, also read under its RFC 9864 name ``Ed25519``), so a verifier never lets a
token's header pick an algorithm its key was not made for: no ``none``, no HMAC-with-a-public-key.

Verifying also judges the token's JWT claims (`ClaimRules`: ``exp`` required by default, ``nbf``, ``iat``,
``iss``/``aud``) in the signed payload, and reports ``jti`` as the message id for replay protection. A JWE is
only as trustworthy as the JWS inside it: anyone holding our public key can encrypt to us, so a decrypter
requires and verifies an inner JWS unless told explicitly that an unsigned one will do.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from joserfc import jwe, jws

from hookgate.errors import KeyFormatError, MalformedError, SignatureError
from hookgate.keys import AsymmetricKey, key_kind, load_jwks, load_key, thumbprint_kid, with_kid
from hookgate.schemes._base import Signed, Verified
from hookgate.schemes._jose import (
    JWE_ALGS_BY_KIND,
    JWE_ENC,
    JWS_ALGS_BY_KIND,
    MAX_TOKEN_BYTES,
    jwe_registry,
    jws_registry,
    translate,
)
from hookgate.schemes.claims import ClaimRules, token_id

__all__ = ["JweDecrypter", "JweEncrypter", "JwsSigner", "JwsVerifier"]

JOSE_CONTENT_TYPE = "application/jose"
JWT_CONTENT_TYPE = "application/jwt"


def _key(value: AsymmetricKey | str | bytes, *, private: bool) -> AsymmetricKey:
    key = load_key(value, private=private) if isinstance(value, str | bytes) else value
    if private and not key.is_private:
        raise KeyFormatError("a private key is required here")
    return key


def _kid(key: AsymmetricKey) -> str:
    kid = key.kid
    return kid if isinstance(kid, str) and kid else thumbprint_kid(key)


def _token(body: bytes) -> bytes:
    token = body.strip()
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise MalformedError("body is not a compact JOSE token of acceptable size", reason="malformed_token")
    return token


def _protected_header(token: bytes, parts: int) -> dict[str, Any]:
    segments = token.split(b".")
    if len(segments) != parts:
        raise MalformedError(f"token does not have {parts} segments", reason="malformed_token")
    head = segments[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise MalformedError("token header is not base64url JSON", reason="malformed_token") from None
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise MalformedError("token header has no alg", reason="malformed_token")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedError("token kid is not a string", reason="malformed_token")
    return header


def _looks_like_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def _checked(payload: bytes, rules: ClaimRules | None, now: float) -> tuple[str | None, int | None]:
    """Judge the claims of a verified payload; return its (jti, iat) for `Verified`.

    A payload that is not a JSON object has no claims: it passes only rules that do not require ``exp``.
    """
    if rules is None:
        return None, None
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        claims = None
    if not isinstance(claims, dict):
        claims = {}
    rules.check(claims, now)
    iat = claims.get("iat")
    timestamp = int(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None
    return token_id(claims), timestamp


class JwsSigner:
    """Replace the body with a compact JWS of it, signed with our private key, ``kid`` in the header.

    The algorithm follows the key (RS256, ES256, EdDSA); ``alg="Ed25519"`` emits the RFC 9864 name instead.
    When the body is a JSON object the token is a JWT (``typ: JWT``, ``Content-Type: application/jwt``).
    """

    __slots__ = ("_key", "alg", "kid")

    def __init__(
        self, private_key: AsymmetricKey | str | bytes, *, alg: str | None = None, kid: str | None = None
    ) -> None:
        key = _key(private_key, private=True)
        kind = key_kind(key)
        allowed = JWS_ALGS_BY_KIND[kind]
        self.alg = alg or allowed[0]
        if self.alg not in allowed:
            raise KeyFormatError(f"a {kind} key signs with {' or '.join(allowed)}, not {self.alg}")
        self.kid = kid or _kid(key)
        self._key = key

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        is_jwt = _looks_like_json_object(body)
        header: dict[str, Any] = {"alg": self.alg, "kid": self.kid}
        if is_jwt:
            header["typ"] = "JWT"
        token = translate(
            "JWS signing", jws.serialize_compact, header, body, self._key, registry=jws_registry([self.alg])
        )
        return Signed({}, token.encode("ascii"), JWT_CONTENT_TYPE if is_jwt else JOSE_CONTENT_TYPE)

    def __repr__(self) -> str:
        return f"JwsSigner(alg={self.alg!r}, kid={self.kid!r}, key=<redacted>)"


class JwsVerifier:
    """Verify a compact JWS body with any of the given public keys (PEM, JWK) or JWKS documents.

    A token with a ``kid`` is checked only against the key with that ``kid`` (its RFC 7638 thumbprint when
    the key came without one); a token without ``kid`` against every key of the matching type.

    The payload's JWT claims are then judged by ``claims`` (by default: ``exp`` required, 30 s leeway);
    ``claims=None`` checks the signature only, for a JWS that is not a JWT. hookgate's own `JwsSigner`
    signs the payload as it is, without ``exp``: a receiver of those needs ``ClaimRules(require_exp=False)``.
    """

    __slots__ = ("_keys", "algorithms", "claims")

    def __init__(
        self,
        keys: Sequence[AsymmetricKey | str | bytes] = (),
        *,
        jwks: Sequence[str | bytes | Mapping[str, Any]] = (),
        algorithms: Sequence[str] | None = None,
        claims: ClaimRules | None = ClaimRules(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        parsed = [with_kid(_key(k, private=False), None) if isinstance(k, str | bytes) else k for k in keys]
        for doc in jwks:
            parsed.extend(load_jwks(doc))
        if not parsed:
            raise KeyFormatError("JWS verification needs at least one public key or JWKS")
        supported = {a for algs in JWS_ALGS_BY_KIND.values() for a in algs}
        self.algorithms = frozenset(algorithms or supported)
        if not self.algorithms <= supported:
            raise KeyFormatError(f"JWS algorithms must be among {sorted(supported)}")
        self._keys = [(_kid(k), key_kind(k), k) for k in parsed]
        self.claims = claims

    def verify(self, body: bytes, headers: Mapping[str, str] | None = None, *, now: float) -> Verified:
        token = _token(body)
        header = _protected_header(token, 3)
        alg, kid = header["alg"], header.get("kid")
        if alg not in self.algorithms:
            raise SignatureError("JWS algorithm is not allowed", reason="algorithm_not_allowed")
        candidates = [
            (k_id, key)
            for k_id, kind, key in self._keys
            if alg in JWS_ALGS_BY_KIND[kind] and kid in (None, k_id)
        ]
        if not candidates:
            raise SignatureError("no key for this JWS (unknown kid or key type)", reason="unknown_key")
        registry = jws_registry([alg])
        for k_id, key in candidates:
            try:
                obj = translate("JWS", jws.deserialize_compact, token, key, registry=registry)
            except SignatureError:
                continue
            msg_id, timestamp = _checked(obj.payload, self.claims, now)
            return Verified(
                obj.payload, msg_id=msg_id, timestamp=timestamp, key_id=k_id, claims=dict(obj.protected)
            )
        raise SignatureError("JWS signature did not verify", reason="signature_mismatch")

    def __repr__(self) -> str:
        return f"JwsVerifier(keys={[k for k, _, _ in self._keys]})"


class JweEncrypter:
    """Replace the body with a compact JWE encrypted to the receiver's public key (A256GCM content).

    With ``sign_key`` the plaintext is first made a JWS with our key (``cty: JWT``): the receiver learns both
    that only it can read the payload and that we sent it.
    """

    __slots__ = ("_key", "_signer", "alg", "kid")

    def __init__(
        self,
        public_key: AsymmetricKey | str | bytes,
        *,
        alg: str | None = None,
        sign_key: JwsSigner | AsymmetricKey | str | bytes | None = None,
        sign_alg: str | None = None,
    ) -> None:
        key = _key(public_key, private=False)
        kind = key_kind(key)
        allowed = JWE_ALGS_BY_KIND.get(kind)
        if allowed is None:
            raise KeyFormatError("JWE needs an RSA or EC P-256 public key of the receiver")
        self.alg = alg or allowed[0]
        if self.alg not in allowed:
            raise KeyFormatError(f"a {kind} key encrypts with {' or '.join(allowed)}, not {self.alg}")
        self.kid = _kid(key)
        self._key = key
        # a ready JwsSigner (hookgate's key ring, with its kid) is used as is
        if isinstance(sign_key, JwsSigner):
            self._signer: JwsSigner | None = sign_key
        else:
            self._signer = JwsSigner(sign_key, alg=sign_alg) if sign_key is not None else None

    def sign(self, body: bytes, *, msg_id: str, now: float) -> Signed:
        header: dict[str, Any] = {"alg": self.alg, "enc": JWE_ENC, "kid": self.kid}
        plaintext = body
        if self._signer is not None:
            plaintext = self._signer.sign(body, msg_id=msg_id, now=now).body
            header["cty"] = "JWT"
        token = translate(
            "JWE encryption",
            jwe.encrypt_compact,
            header,
            plaintext,
            self._key,
            registry=jwe_registry([self.alg, JWE_ENC]),
        )
        return Signed({}, token.encode("ascii"), JOSE_CONTENT_TYPE)

    def __repr__(self) -> str:
        return f"JweEncrypter(alg={self.alg!r}, kid={self.kid!r}, nested={self._signer is not None})"


class JweDecrypter:
    """Decrypt a compact JWE body with our private key(s), then verify the JWS inside it.

    Anyone who has our public key can make a JWE for us, so the sender is proven only by an inner JWS
    (sign-then-encrypt) verified with ``verify_keys``/``verify_jwks`` (or, through `nested`, with a JWKS
    fetched at run time). Without them the decrypter refuses to be built unless ``require_signature=False``
    says that an unsigned JWE will do; its plaintext's claims are then still judged by ``claims``, though
    nothing proves who made it.
    """

    __slots__ = ("_inner", "_keys", "algorithms", "claims")

    def __init__(
        self,
        private_keys: Sequence[AsymmetricKey | str | bytes],
        *,
        algorithms: Sequence[str] | None = None,
        verify_keys: Sequence[AsymmetricKey | str | bytes] = (),
        verify_jwks: Sequence[str | bytes | Mapping[str, Any]] = (),
        require_signature: bool = True,
        claims: ClaimRules | None = ClaimRules(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        if not private_keys:
            raise KeyFormatError("JWE decryption needs at least one private key")
        keys = [_key(k, private=True) for k in private_keys]
        for key in keys:
            if key_kind(key) not in JWE_ALGS_BY_KIND:
                raise KeyFormatError("JWE decryption keys must be RSA or EC P-256")
        supported = {a for algs in JWE_ALGS_BY_KIND.values() for a in algs}
        self.algorithms = frozenset(algorithms or supported)
        if not self.algorithms <= supported:
            raise KeyFormatError(f"JWE algorithms must be among {sorted(supported)}")
        self._keys = [(_kid(k), key_kind(k), k) for k in keys]
        self.claims = claims
        self._inner: JwsVerifier | None = None
        if verify_keys or verify_jwks:
            if not require_signature:
                raise KeyFormatError(
                    "require_signature=False contradicts the sender keys given for the inner JWS"
                )
            self._inner = JwsVerifier(verify_keys, jwks=verify_jwks, claims=claims)
        elif require_signature:
            raise KeyFormatError(
                "JWE decryption needs the sender's public keys to verify the inner JWS "
                "(an unsigned JWE proves nothing about who made it), or require_signature=False"
            )

    def nested(self, inner: JwsVerifier) -> JweDecrypter:
        """The same decryption keys with ``inner`` verifying the JWS inside (keys fetched from a JWKS)."""
        other = object.__new__(JweDecrypter)
        other._keys, other.algorithms, other.claims = self._keys, self.algorithms, self.claims
        other._inner = inner
        return other

    def verify(self, body: bytes, headers: Mapping[str, str] | None = None, *, now: float) -> Verified:
        token = _token(body)
        header = _protected_header(token, 5)
        alg, kid = header["alg"], header.get("kid")
        if alg not in self.algorithms or header.get("enc") != JWE_ENC:
            raise SignatureError("JWE algorithm is not allowed", reason="algorithm_not_allowed")
        candidates = [
            key for k_id, kind, key in self._keys if alg in JWE_ALGS_BY_KIND[kind] and kid in (None, k_id)
        ]
        if not candidates:
            # not "unknown_key": that one asks a JWKS source to refetch the sender's keys, which cannot help
            raise SignatureError(
                "no key for this JWE (unknown kid or key type)", reason="unknown_decryption_key"
            )
        registry = jwe_registry([alg, JWE_ENC])
        for key in candidates:
            try:
                obj = translate("JWE decryption", jwe.decrypt_compact, token, key, registry=registry)
            except SignatureError:
                continue
            plaintext = obj.plaintext or b""
            if self._inner is None:
                msg_id, timestamp = _checked(plaintext, self.claims, now)
                return Verified(
                    plaintext, msg_id=msg_id, timestamp=timestamp, key_id=kid, claims=dict(obj.protected)
                )
            return self._inner.verify(plaintext, now=now)
        raise SignatureError("JWE could not be decrypted with any key", reason="decryption_failed")

    def __repr__(self) -> str:
        return f"JweDecrypter(keys={[k for k, _, _ in self._keys]}, nested={self._inner is not None})"
