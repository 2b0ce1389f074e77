"""The one boundary between hookgate and joserfc: registries with our limits, and error translation.

joserfc's default registries cap JWS payloads at 128 kB and JWE ciphertexts at 64 kB, which real webhook
payloads exceed, and warn on ``EdDSA`` (deprecated by RFC 9864) although the issue asks us to emit it because
every library still reads it. Both registries here take an explicit per-call algorithm allowlist, so the
"recommended algorithms" fallback never applies.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from joserfc._rfc7515.model import JWSAlgModel
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwe import JWERegistry
from joserfc.jws import JWSRegistry

from hookgate.errors import MalformedError, SignatureError

__all__ = ["MAX_TOKEN_BYTES", "jwe_registry", "jws_registry", "translate"]

MAX_TOKEN_BYTES = 8 * 1024 * 1024
# Algorithm families: a key of one kind is only ever used with its own algorithms, which is what stops
# algorithm confusion (an RSA public key used as an HMAC secret, or "none").
JWS_ALGS_BY_KIND = {"rsa": ("RS256",), "ec": ("ES256",), "ed25519": ("EdDSA", "Ed25519")}
JWE_ALGS_BY_KIND = {"rsa": ("RSA-OAEP-256",), "ec": ("ECDH-ES+A256KW",)}
JWE_ENC = "A256GCM"


class _JWSRegistry(JWSRegistry):
    max_payload_length = MAX_TOKEN_BYTES

    def get_alg(self, name: str) -> JWSAlgModel:
        # Same allowlist semantics as joserfc's, minus the deprecation warning for EdDSA (see module doc).
        if self.allowed is None or name not in self.allowed or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


class _JWERegistry(JWERegistry):
    max_ciphertext_length = MAX_TOKEN_BYTES


def jws_registry(algorithms: Collection[str]) -> JWSRegistry:
    return _JWSRegistry(algorithms=list(algorithms))


def jwe_registry(algorithms: Collection[str]) -> JWERegistry:
    return _JWERegistry(algorithms=list(algorithms))


T = TypeVar("T")


def translate(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a joserfc call; its failures become `SignatureError` (bad signature/tag) or `MalformedError`."""
    try:
        return call(*args, **kwargs)
    except JoseError as exc:
        name = type(exc).__name__
        if name in {"BadSignatureError", "InvalidEncryptedKeyError", "DecodeError"} and "ecrypt" in what:
            raise SignatureError(f"{what} failed", reason="decryption_failed") from None
        if name == "BadSignatureError":
            raise SignatureError(f"{what}: signature did not verify", reason="signature_mismatch") from None
        raise MalformedError(f"{what}: {name}", reason="malformed_token") from None
    except (ValueError, TypeError, KeyError, IndexError, UnicodeError) as exc:
        # joserfc lets some parse errors of hostile input through untranslated
        raise MalformedError(f"{what}: {type(exc).__name__}", reason="malformed_token") from None
