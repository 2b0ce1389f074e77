"""The signature part of an endpoint's configuration: which schemes exist, which take a secret hookgate can
generate and which take keys, and the check that builds the signer with the given material."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hookgate.config.references import resolve_secret
from hookgate.errors import ConfigError
from hookgate.keys import generate_key
from hookgate.schemes.registry import build_signer
from hookgate.vault import EndpointSecrets

__all__ = ["SIGNATURE_SCHEMES", "check_signing_secret", "generate_signing_secret", "signing_material"]

# Signature schemes an endpoint can ask for; "none" sends the payload unsigned (the endpoint relies on its
# client authentication or mTLS instead). Authentication and payload protection are separate sections, so
# any combination works.
SIGNATURE_SCHEMES = (
    "standard-webhooks",
    "standard-webhooks-ed25519",
    "github",
    "shopify",
    "slack",
    "stripe",
    "hmac",
    "none",
)
# Schemes whose signing material is a secret we can generate; key schemes take keys.
_GENERATED_SECRET = {"standard-webhooks": "hmac", "github": "hmac", "shopify": "hmac", "slack": "hmac"}
_GENERATED_KEY = {"standard-webhooks-ed25519": "ed25519"}
_KEY_SCHEMES = frozenset({"standard-webhooks-ed25519"})


def signing_material(
    scheme: object, secret: object, keys: object, scheme_options: object
) -> tuple[EndpointSecrets, str | None]:
    """The signature scheme's secret or keys (given or generated), checked by building the signer."""
    if not isinstance(scheme, str) or scheme not in SIGNATURE_SCHEMES:
        raise ConfigError(
            f"unknown signature scheme {scheme!r}; expected one of {', '.join(SIGNATURE_SCHEMES)} "
            "(authentication and JWS/JWE payloads are set with auth= and payload=)"
        )
    secrets, key_list = _secret_inputs(secret, keys)
    generated: str | None = None
    if scheme in _KEY_SCHEMES and secret is not None:
        raise ConfigError(f"scheme {scheme} takes keys, not a secret")
    if scheme != "none" and not secrets and not key_list:
        if scheme in _GENERATED_SECRET:
            generated = generate_key(_GENERATED_SECRET[scheme])
            secrets = [generated]
        elif scheme in _GENERATED_KEY:
            generated = generate_key(_GENERATED_KEY[scheme])
            key_list = [generated]
        else:
            raise ConfigError(f"scheme {scheme} needs {'keys' if scheme in _KEY_SCHEMES else 'a secret'}")
    if scheme_options is not None and not isinstance(scheme_options, Mapping):
        raise ConfigError("scheme_options must be a mapping of option names to strings")
    options = dict(scheme_options or {})
    if scheme == "none":
        if options:
            raise ConfigError("scheme none takes no scheme_options")
        if secrets or key_list:
            raise ConfigError("scheme none takes no secret or keys")
    else:
        # building the signer checks the secret or key format, so a bad one fails now, not at send time
        build_signer(
            scheme,
            [resolve_secret(v, "secret") for v in secrets],
            [resolve_secret(k, "key").encode() for k in key_list],
            options=options,
        )
    return EndpointSecrets.of(secrets, key_list), generated


def _secret_inputs(secret: object, keys: object) -> tuple[list[str], list[str]]:
    if secret is not None and not isinstance(secret, str):
        raise ConfigError("secret must be a string")
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise ConfigError("keys must be a list of key texts, not a single string")
    if not all(isinstance(k, str) for k in keys):
        raise ConfigError("keys must be a list of key texts")
    return ([] if secret is None else [secret]), list(keys)


def generate_signing_secret(scheme: str) -> str:
    """A fresh secret for a rotation of ``scheme``'s signing secret."""
    if scheme in _KEY_SCHEMES or scheme == "none":
        raise ConfigError(f"scheme {scheme} has no secret to rotate; rotate its keys instead")
    kind = _GENERATED_SECRET.get(scheme)
    if kind is None:
        raise ConfigError(f"scheme {scheme} needs the new secret to be given")
    return generate_key(kind)


def check_signing_secret(scheme: str, options: Mapping[str, Any], secret: str) -> None:
    """Refuse a rotation's new secret the endpoint's scheme could not sign with."""
    if scheme in _KEY_SCHEMES or scheme == "none":
        raise ConfigError(f"scheme {scheme} has no secret to rotate; rotate its keys instead")
    build_signer(scheme, [resolve_secret(secret, "secret")], [], options=options)
