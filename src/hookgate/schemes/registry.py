"""Schemes by name: build a signer or verifier from a scheme name, secrets, key texts and options.

This is the one table that maps the public scheme names (the CLI's ``--scheme``, configuration files) to the
classes of each family, so every front end accepts exactly the same names and options.

The token schemes (``jwt-hs256``, ``jws``, ``jwe``) read their claim rules from the options: ``require_exp``
(default true: a token without ``exp`` is refused), ``issuer``, ``audience``; ``jwe`` also
``require_signature`` (default true: the JWE must hold a JWS verified with the sender's keys).
"""

from __future__ import annotations

import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from typing import Any

from hookgate.errors import ConfigError, KeyFormatError
from hookgate.keys import (
    AsymmetricKey,
    load_key,
    parse_symmetric_secret,
)
from hookgate.keys import (
    generate_key as _generate_key,
)
from hookgate.keys import (
    jwks_document as _jwks_document,
)
from hookgate.keys import (
    public_pem as _public_pem,
)
from hookgate.schemes._base import Signer, Verifier
from hookgate.schemes.claims import ClaimRules
from hookgate.schemes.credentials import ApiKeySigner, ApiKeyVerifier, BasicSigner, BasicVerifier
from hookgate.schemes.hmac_header import HmacConfig, HmacSigner, HmacVerifier
from hookgate.schemes.jose import JweDecrypter, JweEncrypter, JwsSigner, JwsVerifier
from hookgate.schemes.jwt_bearer import JwtBearerSigner, JwtBearerVerifier
from hookgate.schemes.providers import StripeSigner, StripeVerifier, preset_verifier, provider_signer
from hookgate.schemes.standard_webhooks import (
    DEFAULT_TOLERANCE,
    StandardWebhooksEd25519Signer,
    StandardWebhooksEd25519Verifier,
    StandardWebhooksSigner,
    StandardWebhooksVerifier,
)

__all__ = [
    "SCHEME_NAMES",
    "VERIFY_OPTIONS",
    "body_is_token",
    "build_signer",
    "build_verifier",
    "check_verify_options",
    "claim_rules",
    "generate_key",
    "jwks_document",
    "new_message_id",
    "public_pem",
]

SCHEME_NAMES = (
    "standard-webhooks",
    "standard-webhooks-ed25519",
    "github",
    "stripe",
    "shopify",
    "slack",
    "hmac",
    "api-key",
    "basic",
    "jwt-hs256",
    "jws",
    "jwe",
)
_TOKEN_SCHEMES = frozenset({"jws", "jwe"})
_SECRET_SCHEMES = frozenset(
    {"standard-webhooks", "github", "stripe", "shopify", "slack", "hmac", "api-key", "basic", "jwt-hs256"}
)
_CLAIM_OPTIONS = frozenset({"require_exp", "issuer", "audience"})
_TOKEN_OPTIONS = _CLAIM_OPTIONS | {"require_signature"}
# the options each scheme's verifier reads (``alg`` is the signing side's: a verifier takes it from the key)
VERIFY_OPTIONS: dict[str, frozenset[str]] = {
    "standard-webhooks": frozenset(),
    "standard-webhooks-ed25519": frozenset(),
    "github": frozenset(),
    "stripe": frozenset(),
    "shopify": frozenset(),
    "slack": frozenset(),
    "hmac": frozenset({"header_name", "algorithm", "encoding", "prefix"}),
    "api-key": frozenset({"header_name"}),
    "basic": frozenset({"header_name"}),
    "jwt-hs256": frozenset({"header_name"}) | _CLAIM_OPTIONS,
    "jws": _CLAIM_OPTIONS,
    "jwe": frozenset({"require_signature"}) | _CLAIM_OPTIONS,
}


# the options each scheme's signer reads; any other option would be silently ignored, so it is refused
SIGN_OPTIONS: dict[str, frozenset[str]] = {
    "shopify": frozenset({"shop_domain", "api_version", "topic_separator"}),
    "hmac": frozenset({"header_name", "algorithm", "encoding", "prefix"}),
    "api-key": frozenset({"header_name"}),
    "basic": frozenset({"header_name"}),
    "jwt-hs256": frozenset({"header_name"}),
    "jws": frozenset({"alg"}),
    "jwe": frozenset({"alg"}),
}


def _check_options(name: str, options: Mapping[str, Any], allowed: frozenset[str]) -> None:
    if not isinstance(options, Mapping):
        raise ConfigError("scheme options must be a mapping of option names to values")
    for key, value in options.items():
        if value is None:
            continue  # not given (the CLI passes every option, unset ones as None)
        if key not in allowed:
            takes = f"its options are {', '.join(sorted(allowed))}" if allowed else "it takes none"
            raise ConfigError(f"scheme {name} has no option {key!r}; {takes}")
        # the token options have their own types, checked where they are read; every other one is a string
        if key not in _TOKEN_OPTIONS and not isinstance(value, str):
            raise ConfigError(f"scheme option {key} must be a string, not {type(value).__name__}")


def check_verify_options(name: str, options: Mapping[str, Any]) -> None:
    """Refuse an option the verifier of scheme ``name`` does not read (it would be silently ignored)."""
    _check_options(name, options, VERIFY_OPTIONS[name])


def body_is_token(name: str) -> bool:
    """True when the scheme replaces the body with a JOSE token."""
    return name in _TOKEN_SCHEMES


def new_message_id() -> str:
    """A fresh message id in the Standard Webhooks style (``msg_`` + 128 random bits)."""
    return "msg_" + _secrets.token_urlsafe(16)


def _need(name: str, secrets: Sequence[str], keys: Sequence[bytes]) -> None:
    if name in _SECRET_SCHEMES:
        if not secrets:
            raise ConfigError(f"scheme {name} needs a secret")
        if keys:
            raise ConfigError(f"scheme {name} takes a secret, not a key")
    else:
        if not keys:
            raise ConfigError(f"scheme {name} needs a key")
        if secrets:
            raise ConfigError(f"scheme {name} takes a key, not a secret")


def _hmac_config(options: Mapping[str, Any], tolerance: int) -> HmacConfig:
    return HmacConfig(
        header=options.get("header_name") or "X-Signature",
        algorithm=options.get("algorithm") or "sha256",
        encoding=options.get("encoding") or "hex",
        prefix=options.get("prefix") or "",
        tolerance=tolerance,
    )


def _basic_pairs(secrets: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in secrets:
        user, sep, password = item.partition(":")
        if not sep or not user:
            raise ConfigError("basic credentials must be given as 'id:secret'")
        pairs.append((user, password))
    return pairs


def _split_jwks(keys: Sequence[bytes]) -> tuple[list[bytes], list[Mapping[str, Any]]]:
    """Key texts as (PEM/JWK texts, JWKS documents)."""
    pems: list[bytes] = []
    docs: list[Mapping[str, Any]] = []
    for raw in keys:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict) and "keys" in doc:
            docs.append(doc)
        else:
            pems.append(raw)
    return pems, docs


def _flag(options: Mapping[str, Any], name: str) -> bool:
    value = options.get(name, True)
    if value is None:
        return True
    if not isinstance(value, bool):
        raise ConfigError(f"scheme_options.{name} must be true or false")
    return value


def _text(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"scheme_options.{name} must be a non-empty string")
    return value


def claim_rules(options: Mapping[str, Any], *, tolerance: int | None = None) -> ClaimRules:
    """The JWT claim rules of a token scheme's options; the tolerance is the leeway on its times."""
    return ClaimRules(
        leeway=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        require_exp=_flag(options, "require_exp"),
        issuer=_text(options, "issuer"),
        audience=_text(options, "audience"),
    )


def build_verifier(
    name: str,
    secrets: Sequence[str],
    keys: Sequence[bytes],
    *,
    tolerance: int | None = None,
    options: Mapping[str, Any] | None = None,
    sender_keys: Sequence[bytes] = (),
) -> Verifier:
    """The verifying side of scheme ``name``; ``keys`` are key file contents (PEM, JWK or JWKS).

    ``sender_keys`` (``jwe`` only) are the sender's public keys, PEM/JWK/JWKS, verifying the inner JWS.
    """
    options = options or {}
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    _need(name, secrets, keys)
    if sender_keys and name != "jwe":
        raise ConfigError("sender keys are only for scheme jwe (the keys verifying the JWS inside the JWE)")
    check_verify_options(name, options)
    header = options.get("header_name")
    if name == "standard-webhooks":
        return StandardWebhooksVerifier(secrets, tolerance=tol)
    if name == "standard-webhooks-ed25519":
        return StandardWebhooksEd25519Verifier(keys, tolerance=tol)
    if name in ("github", "shopify", "slack"):
        return preset_verifier(name, secrets, tolerance=tol)
    if name == "stripe":
        return StripeVerifier(secrets, tolerance=tol)
    if name == "hmac":
        return HmacVerifier(_hmac_config(options, tol), [parse_symmetric_secret(s) for s in secrets])
    if name == "api-key":
        return ApiKeyVerifier(secrets, header=header or "X-API-Key")
    if name == "basic":
        return BasicVerifier(_basic_pairs(secrets), header=header or "Authorization")
    if name == "jwt-hs256":
        rules = claim_rules(options, tolerance=min(tol, 300))
        return JwtBearerVerifier(
            secrets,
            header=header or "Authorization",
            leeway=int(rules.leeway),
            issuer=rules.issuer,
            audience=rules.audience,
            require_exp=rules.require_exp,
        )
    if name == "jws":
        pems, docs = _split_jwks(keys)
        return JwsVerifier(pems, jwks=docs, claims=claim_rules(options, tolerance=tol))
    if name == "jwe":
        pems, docs = _split_jwks(sender_keys)
        return JweDecrypter(
            keys,
            verify_keys=pems,
            verify_jwks=docs,
            require_signature=_flag(options, "require_signature"),
            claims=claim_rules(options, tolerance=tol),
        )
    raise ConfigError(f"unknown scheme {name!r}; expected one of {', '.join(SCHEME_NAMES)}")


def build_signer(
    name: str,
    secrets: Sequence[str],
    keys: Sequence[bytes],
    *,
    options: Mapping[str, Any] | None = None,
) -> Signer:
    """The signing side of scheme ``name``."""
    options = options or {}
    _need(name, secrets, keys)
    _check_options(name, options, SIGN_OPTIONS.get(name, frozenset()))
    header = options.get("header_name")
    alg = options.get("alg")
    if name == "standard-webhooks":
        return StandardWebhooksSigner(secrets)
    if name == "standard-webhooks-ed25519":
        return StandardWebhooksEd25519Signer(keys)
    if name in ("github", "shopify", "slack"):
        return provider_signer(name, secrets, options)
    if name == "stripe":
        return StripeSigner(secrets)
    if name == "hmac":
        return HmacSigner(
            _hmac_config(options, DEFAULT_TOLERANCE), [parse_symmetric_secret(s) for s in secrets]
        )
    if name in ("api-key", "basic", "jwt-hs256") and len(secrets) != 1:
        raise ConfigError(f"scheme {name} signs with exactly one secret")
    if name == "api-key":
        return ApiKeySigner(secrets[0], header=header or "X-API-Key")
    if name == "basic":
        ((user, password),) = _basic_pairs(secrets)
        return BasicSigner(user, password, header=header or "Authorization")
    if name == "jwt-hs256":
        return JwtBearerSigner(secrets[0], header=header or "Authorization")
    if name in ("jws", "jwe") and len(keys) != 1:
        raise ConfigError(f"scheme {name} signs with exactly one key")
    if name == "jws":
        return JwsSigner(keys[0], alg=alg)
    if name == "jwe":
        return JweEncrypter(keys[0], alg=alg)
    raise ConfigError(f"unknown scheme {name!r}; expected one of {', '.join(SCHEME_NAMES)}")


def generate_key(kind: str) -> tuple[str, str | None]:
    """A new key as (secret or private PEM, public PEM or None for HMAC)."""
    private_text = _generate_key(kind)
    if kind == "hmac":
        return private_text, None
    return private_text, _public_pem(load_key(private_text, private=True))


def public_pem(data: bytes) -> str:
    """The public half, as PEM, of a key file's contents."""
    return _public_pem(load_key(data))


def jwks_document(keys: Sequence[bytes]) -> dict[str, Any]:
    """A JWKS of the public halves of the given key files."""
    parsed: list[AsymmetricKey] = []
    for raw in keys:
        try:
            parsed.append(load_key(raw))
        except KeyFormatError as exc:
            raise KeyFormatError(f"key {len(parsed) + 1}: {exc}") from None
    return _jwks_document(parsed)
