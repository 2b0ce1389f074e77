"""An endpoint's authentication, payload protection and TLS options: validated on save, split for storage.

What an endpoint owner asks for is given as three plain mappings (the same shape the REST API accepts):

- ``auth``: ``{"type": "none" | "api_key" | "basic" | "oauth2" | "jwt" | "bearer", ...}``
- ``payload``: ``{"format": "json" | "jws" | "jwe", ...}``
- ``tls``: ``{"client_cert": PEM, "client_key": PEM, "ca_bundle": PEM, "min_version": "1.2" | "1.3"}``

`parse_security` checks every field (unknown keys, missing or inconsistent values, unparseable keys and
certificates) and splits the result: the public part goes to ``Endpoint.settings``, the secret values (API
key, password, client secret, JWT secret, bearer token, client private key) become sealed `SecretEntry`s.
A secret value may be a reference, ``env:NAME`` or ``file:PATH``, resolved when used instead of stored, and
read again every `REFERENCE_TTL_S` seconds by whoever caches what was built from it (the request builder, an
inbound source), so rotating the secret behind a reference needs no configuration change.
`load_security` puts the two halves back together for the request builder.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookgate.errors import ConfigError
from hookgate.keys import Secret, load_key
from hookgate.outbound.tls import TLS_VERSIONS, TlsSettings, build_client_context
from hookgate.outbound.vault import EndpointSecrets, SecretEntry
from hookgate.policy.url import validate_url
from hookgate.schemes._base import Signer
from hookgate.schemes.credentials import ApiKeySigner, BasicSigner, BearerSigner
from hookgate.schemes.headers import check_header_name
from hookgate.schemes.jose import JweEncrypter
from hookgate.schemes.jwt_bearer import JwtBearerSigner
from hookgate.schemes.oauth2 import AUTH_METHODS, ClientCredentials

__all__ = [
    "AUTH_TYPES",
    "PAYLOAD_FORMATS",
    "REFERENCE_TTL_S",
    "Security",
    "is_reference",
    "load_security",
    "parse_security",
    "resolve_secret",
    "tls_context",
]

AUTH_TYPES = ("none", "api_key", "basic", "oauth2", "jwt", "bearer")
REFERENCE_TTL_S = 60.0
PAYLOAD_FORMATS = ("json", "jws", "jwe")

# per auth type: (allowed keys, required keys, the key holding the secret, default header)
_AUTH_FIELDS: dict[str, tuple[frozenset[str], frozenset[str], str | None, str]] = {
    "none": (frozenset(), frozenset(), None, ""),
    "api_key": (frozenset({"header", "key"}), frozenset({"header", "key"}), "key", "X-API-Key"),
    "basic": (
        frozenset({"header", "username", "password"}),
        frozenset({"username", "password"}),
        "password",
        "Authorization",
    ),
    "oauth2": (
        frozenset({"header", "token_url", "client_id", "client_secret", "scope", "audience", "auth_method"}),
        frozenset({"token_url", "client_id", "client_secret"}),
        "client_secret",
        "Authorization",
    ),
    "jwt": (
        frozenset({"header", "secret", "issuer", "audience", "lifetime"}),
        frozenset({"secret"}),
        "secret",
        "Authorization",
    ),
    "bearer": (frozenset({"header", "token"}), frozenset({"token"}), "token", "Authorization"),
}
_PAYLOAD_FIELDS = {
    "json": frozenset(),
    # the JWS algorithm follows hookgate's active key (RS256, ES256, EdDSA), so it is not configurable
    "jws": frozenset(),
    "jwe": frozenset({"public_key", "alg", "sign"}),
}
_TLS_FIELDS = frozenset({"client_cert", "client_key", "ca_bundle", "min_version"})


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def resolve_secret(value: str, what: str) -> str:
    """The secret itself: ``env:NAME`` reads the environment, ``file:PATH`` a file; else ``value``."""
    if value.startswith("env:"):
        name = value[4:]
        found = os.environ.get(name)
        if not found:
            raise ConfigError(f"{what} refers to environment variable {name!r}, which is not set")
        return found
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{what} refers to file {str(path)!r}, which cannot be read: {exc}") from None
        if not text:
            raise ConfigError(f"{what} refers to file {str(path)!r}, which is empty")
        return text
    return value


def _mapping(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a mapping")
    return dict(value)


def _string(config: Mapping[str, Any], key: str, what: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what}.{key} must be a non-empty string")
    return value


def _check_keys(
    config: Mapping[str, Any], allowed: frozenset[str], required: frozenset[str], what: str
) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(
            f"{what} has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    missing = sorted(k for k in required if config.get(k) in (None, ""))
    if missing:
        raise ConfigError(f"{what} needs {', '.join(missing)}")


@dataclass(frozen=True, slots=True)
class Security:
    """The resolved security options of one endpoint, ready for the request builder."""

    auth_type: str
    auth: dict[str, Any]  # public fields plus, after load_security, the resolved secret under its key
    payload_format: str
    payload: dict[str, Any]
    tls: TlsSettings

    def __repr__(self) -> str:
        fmt = self.payload_format
        return f"Security(auth_type={self.auth_type!r}, payload_format={fmt!r}, tls={self.tls!r})"

    def auth_signer(self) -> Signer | None:
        """The header-adding signer for static auth types (None for none and oauth2)."""
        a, header = self.auth, self.auth.get("header")
        if self.auth_type == "api_key":
            return ApiKeySigner(a["key"], header=header or "X-API-Key")
        if self.auth_type == "basic":
            return BasicSigner(a["username"], a["password"], header=header or "Authorization")
        if self.auth_type == "bearer":
            return BearerSigner(a["token"], header=header or "Authorization")
        if self.auth_type == "jwt":
            return JwtBearerSigner(
                a["secret"],
                header=header or "Authorization",
                issuer=a.get("issuer"),
                audience=a.get("audience"),
                lifetime=int(a.get("lifetime") or 60),
            )
        return None

    def oauth2(self) -> ClientCredentials | None:
        if self.auth_type != "oauth2":
            return None
        a = self.auth
        return ClientCredentials(
            token_url=a["token_url"],
            client_id=a["client_id"],
            client_secret=Secret(a["client_secret"].encode("utf-8")),
            scope=a.get("scope"),
            audience=a.get("audience"),
            auth_method=a.get("auth_method") or "client_secret_basic",
            header=a.get("header") or "Authorization",
        )

    def needs_signing_key(self) -> bool:
        return self.payload_format == "jws" or (
            self.payload_format == "jwe" and bool(self.payload.get("sign"))
        )


def parse_security(
    auth: Mapping[str, Any] | None,
    payload: Mapping[str, Any] | None,
    tls: Mapping[str, Any] | None,
    *,
    now: float,
    allow_insecure: bool = False,
) -> tuple[dict[str, Any], list[SecretEntry]]:
    """Validate the three option mappings; return (public settings, secret entries to seal).

    ``allow_insecure`` is the endpoint's: it also lets an OAuth ``token_url`` use plain http.
    """
    settings: dict[str, Any] = {}
    entries: list[SecretEntry] = []
    for name, part in (
        ("auth", _parse_auth(_mapping(auth, "auth"), entries, allow_insecure)),
        ("payload", _parse_payload(_mapping(payload, "payload"))),
        ("tls", _parse_tls(_mapping(tls, "tls"), entries, now)),
    ):
        if part:
            settings[name] = part
    return settings, entries


def _parse_auth(a: dict[str, Any], entries: list[SecretEntry], allow_insecure: bool) -> dict[str, Any]:
    auth_type = a.pop("type", "none")
    if not isinstance(auth_type, str) or auth_type not in _AUTH_FIELDS:
        raise ConfigError(f"auth.type must be one of {', '.join(AUTH_TYPES)}")
    allowed, required, secret_key, _ = _AUTH_FIELDS[auth_type]
    _check_keys(a, allowed, required, f"auth ({auth_type})")
    for key, value in a.items():
        if key == "lifetime":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
                raise ConfigError("auth.lifetime must be an integer number of seconds between 1 and 3600")
        elif not isinstance(value, str) or not value:
            raise ConfigError(f"auth.{key} must be a non-empty string")
    if "header" in a:
        check_header_name(a["header"])
    if "token_url" in a:
        validate_url(a["token_url"], allow_insecure=allow_insecure, what="auth.token_url")
    if auth_type == "oauth2" and a.get("auth_method", "client_secret_basic") not in AUTH_METHODS:
        raise ConfigError(f"auth.auth_method must be one of {', '.join(AUTH_METHODS)}")
    if auth_type == "basic" and ":" in a["username"]:
        raise ConfigError("auth.username must not contain ':' (Basic authentication separates with it)")
    if secret_key is None:
        return {}
    secret = a.pop(secret_key)
    resolved = resolve_secret(secret, f"auth.{secret_key}")
    entries.append(SecretEntry(secret, "auth"))
    # build once with the real value: a malformed key, URL or header fails now, not at delivery
    probe = Security(auth_type, {**a, secret_key: resolved}, "json", {}, TlsSettings())
    probe.auth_signer()
    probe.oauth2()
    return {"type": auth_type, **a}


def _parse_payload(p: dict[str, Any]) -> dict[str, Any]:
    fmt = p.pop("format", "json")
    if not isinstance(fmt, str) or fmt not in _PAYLOAD_FIELDS:
        raise ConfigError(f"payload.format must be one of {', '.join(PAYLOAD_FORMATS)}")
    required = frozenset({"public_key"}) if fmt == "jwe" else frozenset()
    _check_keys(p, _PAYLOAD_FIELDS[fmt], required, f"payload ({fmt})")
    alg = _string(p, "alg", "payload")
    if fmt == "jwe":
        if not isinstance(p["public_key"], str):
            raise ConfigError("payload.public_key must be the receiver's public key as PEM or JWK JSON text")
        if "sign" in p and not isinstance(p["sign"], bool):
            raise ConfigError("payload.sign must be true or false")
        try:
            load_key(p["public_key"], private=False)
            JweEncrypter(p["public_key"], alg=alg)  # checks the key type supports the algorithm
        except ConfigError as exc:
            raise ConfigError(f"payload.public_key: {exc}") from None
    return {} if fmt == "json" else {"format": fmt, **p}


def _parse_tls(t: dict[str, Any], entries: list[SecretEntry], now: float) -> dict[str, Any]:
    _check_keys(t, _TLS_FIELDS, frozenset(), "tls")
    for key in ("client_cert", "client_key", "ca_bundle"):
        _string(t, key, "tls")
    min_version = t.get("min_version", "1.2")
    if not isinstance(min_version, str) or min_version not in TLS_VERSIONS:
        raise ConfigError(f"tls.min_version must be one of {', '.join(TLS_VERSIONS)}")
    client_key = t.pop("client_key", None)
    resolved_key = resolve_secret(client_key, "tls.client_key") if client_key else None
    TlsSettings(t.get("client_cert"), resolved_key, t.get("ca_bundle"), min_version).check(now)
    if client_key:
        entries.append(SecretEntry(client_key, "tls_key"))
    return t


def load_security(settings: Mapping[str, Any], secrets: EndpointSecrets) -> Security:
    """Join an endpoint's public settings with its opened secrets (references resolved now)."""
    auth = dict(settings.get("auth") or {"type": "none"})
    auth_type = auth.pop("type")
    secret_key = _AUTH_FIELDS[auth_type][2]
    by_kind = {e.kind: e.value for e in secrets.entries}
    if secret_key is not None:
        if "auth" not in by_kind:
            raise ConfigError(f"endpoint auth {auth_type} has no stored credential")
        auth[secret_key] = resolve_secret(by_kind["auth"], f"auth.{secret_key}")
    payload = dict(settings.get("payload") or {"format": "json"})
    fmt = payload.pop("format")
    t = dict(settings.get("tls") or {})
    client_key = by_kind.get("tls_key")
    tls = TlsSettings(
        client_cert=t.get("client_cert"),
        client_key=resolve_secret(client_key, "tls.client_key") if client_key else None,
        ca_bundle=t.get("ca_bundle"),
        min_version=t.get("min_version", "1.2"),
    )
    return Security(auth_type, auth, fmt, payload, tls)


def tls_context(tls: Mapping[str, Any], *, now: float) -> ssl.SSLContext | None:
    """The client context for a ``tls`` section that belongs to no endpoint (a source's JWKS fetch): checked,
    split and joined by the endpoint code above, the key reference resolved now; None for the defaults."""
    settings, entries = parse_security(None, None, tls, now=now)
    settings_tls = load_security(settings, EndpointSecrets(tuple(entries))).tls
    return None if settings_tls.is_default else build_client_context(settings_tls)


def has_references(secrets: EndpointSecrets) -> bool:
    return any(is_reference(e.value) for e in secrets.entries)
