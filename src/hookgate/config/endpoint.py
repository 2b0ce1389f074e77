"""An endpoint's configuration as one typed, frozen model, parsed from a plain mapping by one rule per field.

What an endpoint's owner asks for arrives as a mapping (the REST body, the library's keyword arguments, the
CLI's flags): url, event filter, signature scheme and its secret or keys, custom headers, the delivery policy,
and three sections: ``auth`` (``{"type": "api_key" | "basic" | "oauth2" | "jwt" | "bearer", ...}``),
``payload`` (``{"format": "json" | "jws" | "jwe", ...}``) and ``tls`` (client certificate, CA bundle, floor).
`EndpointConfig.parse` checks every field with a `ConfigError` naming it, builds each signer once with the
real values so a malformed key fails now rather than at delivery, and splits the result: the public,
typed `EndpointConfig` (what records carry, safe to log and return) and the secret values
(`ParsedEndpoint.secrets`, which the caller seals). Secrets never live inside a config, so a config can be
cached, compared, logged and shown without a redaction step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar

from hookgate.config.references import resolve_secret
from hookgate.config.rules import (
    check_concurrency,
    check_flag,
    check_rate,
    check_timeout,
    validate_event_filter,
)
from hookgate.errors import ConfigError
from hookgate.keys import Secret, generate_key, load_key
from hookgate.policy.retry import validate_schedule
from hookgate.policy.url import validate_url
from hookgate.schemes._base import Signer
from hookgate.schemes.credentials import ApiKeySigner, BasicSigner, BearerSigner
from hookgate.schemes.headers import check_header_name, check_header_value
from hookgate.schemes.jose import JweEncrypter, JwsSigner
from hookgate.schemes.jwt_bearer import JwtBearerSigner
from hookgate.schemes.oauth2 import AUTH_METHODS, ClientCredentials
from hookgate.schemes.registry import build_signer
from hookgate.tls import TLS_VERSIONS, TlsSettings
from hookgate.vault import EndpointSecrets, SecretEntry

__all__ = [
    "AUTH_TYPES",
    "PAYLOAD_FORMATS",
    "RESERVED_HEADERS",
    "SIGNATURE_SCHEMES",
    "UPDATABLE",
    "ApiKeyAuth",
    "AuthConfig",
    "BasicAuth",
    "BearerAuth",
    "DeliveryPolicy",
    "EndpointConfig",
    "EndpointUpdate",
    "JsonPayload",
    "JwePayload",
    "JwsPayload",
    "JwtAuth",
    "NoAuth",
    "OAuth2Auth",
    "ParsedEndpoint",
    "PayloadConfig",
    "TlsConfig",
    "check_signing_secret",
    "check_updatable",
    "generate_signing_secret",
    "parse_tls",
    "validate_custom_headers",
]

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

# Framing headers belong to the HTTP client, signature headers to the scheme: neither is configurable.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
    }
)
_MAX_CUSTOM_HEADERS = 32
_MAX_CUSTOM_HEADER_BYTES = 8192

UPDATABLE = frozenset(
    {
        "url",
        "event_types",
        "headers",
        "timeout_s",
        "rate_limit_per_s",
        "max_concurrency",
        "retry_schedule",
        "allow_insecure",
        "auth",
        "payload",
        "tls",
    }
)
_CREATE_FIELDS = UPDATABLE | {"scheme", "secret", "keys", "scheme_options"}


# -- authentication sections --


@dataclass(frozen=True, slots=True)
class NoAuth:
    """No client authentication beyond the signature."""

    type: ClassVar[str] = "none"
    credential: ClassVar[str | None] = None


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """An API key in a named header (the header is required: receivers name theirs differently)."""

    header: str
    type: ClassVar[str] = "api_key"
    credential: ClassVar[str | None] = "key"

    def signer(self, key: str) -> Signer:
        return ApiKeySigner(key, header=self.header or "X-API-Key")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic authentication; the password is the credential."""

    username: str
    header: str | None = None
    type: ClassVar[str] = "basic"
    credential: ClassVar[str | None] = "password"

    def signer(self, password: str) -> Signer:
        return BasicSigner(self.username, password, header=self.header or "Authorization")


@dataclass(frozen=True, slots=True)
class BearerAuth:
    """A static bearer token; the token is the credential."""

    header: str | None = None
    type: ClassVar[str] = "bearer"
    credential: ClassVar[str | None] = "token"

    def signer(self, token: str) -> Signer:
        return BearerSigner(token, header=self.header or "Authorization")


@dataclass(frozen=True, slots=True)
class JwtAuth:
    """A short-lived HS256 JWT per request; ``lifetime`` None means 60 seconds."""

    issuer: str | None = None
    audience: str | None = None
    lifetime: int | None = None
    header: str | None = None
    type: ClassVar[str] = "jwt"
    credential: ClassVar[str | None] = "secret"

    def signer(self, secret: str) -> Signer:
        return JwtBearerSigner(
            secret,
            header=self.header or "Authorization",
            issuer=self.issuer,
            audience=self.audience,
            lifetime=self.lifetime or 60,
        )


@dataclass(frozen=True, slots=True)
class OAuth2Auth:
    """An OAuth 2.0 client-credentials bearer token, fetched and cached by the worker."""

    token_url: str
    client_id: str
    scope: str | None = None
    audience: str | None = None
    auth_method: str | None = None
    header: str | None = None
    type: ClassVar[str] = "oauth2"
    credential: ClassVar[str | None] = "client_secret"

    def client(self, client_secret: str) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=Secret(client_secret.encode("utf-8")),
            scope=self.scope,
            audience=self.audience,
            auth_method=self.auth_method or "client_secret_basic",
            header=self.header or "Authorization",
        )


AuthConfig = NoAuth | ApiKeyAuth | BasicAuth | BearerAuth | JwtAuth | OAuth2Auth
_AUTH: dict[str, type[AuthConfig]] = {
    c.type: c for c in (NoAuth, ApiKeyAuth, BasicAuth, OAuth2Auth, JwtAuth, BearerAuth)
}
AUTH_TYPES = tuple(_AUTH)


# -- payload sections --


@dataclass(frozen=True, slots=True)
class JsonPayload:
    """The payload as published (JSON)."""

    format: ClassVar[str] = "json"
    needs_signing_key: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class JwsPayload:
    """The payload as a compact JWS signed with hookgate's active key (its algorithm follows that key)."""

    format: ClassVar[str] = "jws"
    needs_signing_key: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class JwePayload:
    """The payload encrypted to the receiver's public key; ``sign`` nests a JWS of hookgate's key inside."""

    public_key: str
    alg: str | None = None
    sign: bool = False
    format: ClassVar[str] = "jwe"

    @property
    def needs_signing_key(self) -> bool:
        return self.sign

    def encrypter(self, sign_key: JwsSigner | None) -> JweEncrypter:
        return JweEncrypter(self.public_key, alg=self.alg, sign_key=sign_key if self.sign else None)


PayloadConfig = JsonPayload | JwsPayload | JwePayload
_PAYLOAD: dict[str, type[PayloadConfig]] = {c.format: c for c in (JsonPayload, JwsPayload, JwePayload)}
PAYLOAD_FORMATS = tuple(_PAYLOAD)


# -- TLS and delivery policy --


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Client certificate (its key is a secret, sealed apart), CA bundle for their server, TLS floor."""

    client_cert: str | None = None
    ca_bundle: str | None = None
    min_version: str = "1.2"

    def __repr__(self) -> str:
        return (
            f"TlsConfig(client_cert={'set' if self.client_cert else None}, "
            f"ca_bundle={'set' if self.ca_bundle else None}, min_version={self.min_version!r})"
        )

    def settings(self, client_key: str | None) -> TlsSettings:
        """The settings the TLS layer builds a context from, with the (resolved) client key."""
        return TlsSettings(self.client_cert, client_key, self.ca_bundle, self.min_version)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard and how often hookgate may call the endpoint."""

    timeout_s: float = 15.0
    rate_limit_per_s: float | None = None
    max_concurrency: int | None = None
    retry_schedule: tuple[float, ...] | None = None  # None: the default schedule


# -- the whole configuration --


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Everything an endpoint's owner configures, validated; no secret values (those are sealed apart)."""

    url: str
    event_types: tuple[str, ...] = ()
    scheme: str = "standard-webhooks"
    scheme_options: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    policy: DeliveryPolicy = DeliveryPolicy()
    allow_insecure: bool = False
    auth: AuthConfig = NoAuth()
    payload: PayloadConfig = JsonPayload()
    tls: TlsConfig = TlsConfig()

    @classmethod
    def parse(cls, values: Mapping[str, Any], *, now: float) -> ParsedEndpoint:
        """Validate a new endpoint's fields (``url`` required; see `UPDATABLE` plus scheme, secret, keys and
        scheme_options). Without a secret or keys for a signing scheme, one is generated (returned once)."""
        unknown = sorted(set(values) - _CREATE_FIELDS)
        if unknown:
            raise ConfigError(f"unknown endpoint field(s) {', '.join(unknown)}")
        if "url" not in values:
            raise ConfigError("an endpoint needs a url")
        allow_insecure = check_flag(values.get("allow_insecure", False), "allow_insecure")
        scheme = values.get("scheme", "standard-webhooks")
        signing, generated = _signing_material(
            scheme, values.get("secret"), values.get("keys", ()), values.get("scheme_options")
        )
        options = dict(values.get("scheme_options") or {})
        entries: list[SecretEntry] = []
        auth = _parse_auth(values.get("auth"), entries, allow_insecure)
        payload = _parse_payload(values.get("payload"))
        tls, tls_key = parse_tls(values.get("tls"), now=now)
        if tls_key is not None:
            entries.append(tls_key)
        config = cls(
            url=validate_url(values["url"], allow_insecure=allow_insecure),
            event_types=validate_event_filter(values.get("event_types", ())),
            scheme=scheme,
            scheme_options=options,
            headers=validate_custom_headers(values.get("headers") or {}),
            policy=DeliveryPolicy(
                timeout_s=check_timeout(values.get("timeout_s", 15.0)),
                rate_limit_per_s=check_rate(values.get("rate_limit_per_s")),
                max_concurrency=check_concurrency(values.get("max_concurrency")),
                retry_schedule=_schedule(values.get("retry_schedule")),
            ),
            allow_insecure=allow_insecure,
            auth=auth,
            payload=payload,
            tls=tls,
        )
        return ParsedEndpoint(config, EndpointSecrets(signing.entries + tuple(entries)), generated)

    def update(self, changes: Mapping[str, Any], *, now: float) -> EndpointUpdate:
        """This configuration with ``changes`` applied (each field by its rule; ``auth``, ``payload`` and
        ``tls`` replaced as whole sections, their secrets returned to be sealed in place of the old ones).
        A None restores a field's default. The signing secret changes by rotation, not here."""
        check_updatable(changes)
        flag = changes.get("allow_insecure", self.allow_insecure)
        allow_insecure = False if flag is None else check_flag(flag, "allow_insecure")
        new: dict[str, Any] = {}
        policy: dict[str, Any] = {}
        if "url" in changes or "allow_insecure" in changes:
            new["url"] = validate_url(changes.get("url", self.url), allow_insecure=allow_insecure)
            new["allow_insecure"] = allow_insecure
        if "event_types" in changes:
            new["event_types"] = validate_event_filter(changes["event_types"] or ())
        if "headers" in changes:
            new["headers"] = validate_custom_headers(changes["headers"] or {})
        if "timeout_s" in changes:
            policy["timeout_s"] = check_timeout(changes["timeout_s"])
        if "rate_limit_per_s" in changes:
            policy["rate_limit_per_s"] = check_rate(changes["rate_limit_per_s"])
        if "max_concurrency" in changes:
            policy["max_concurrency"] = check_concurrency(changes["max_concurrency"])
        if "retry_schedule" in changes:
            policy["retry_schedule"] = _schedule(changes["retry_schedule"])
        replaced: dict[str, tuple[SecretEntry, ...]] = {}
        if "auth" in changes:
            entries: list[SecretEntry] = []
            new["auth"] = _parse_auth(changes["auth"], entries, allow_insecure)
            replaced["auth"] = tuple(entries)
        if "payload" in changes:
            new["payload"] = _parse_payload(changes["payload"])
        if "tls" in changes:
            new["tls"], tls_key = parse_tls(changes["tls"], now=now)
            replaced["tls_key"] = () if tls_key is None else (tls_key,)
        config = replace(self, policy=replace(self.policy, **policy), **new)
        if isinstance(config.auth, OAuth2Auth):
            # allow_insecure may have been switched off under an http token URL saved earlier
            validate_url(config.auth.token_url, allow_insecure=config.allow_insecure, what="auth.token_url")
        return EndpointUpdate(config, replaced)

    def public(self) -> dict[str, Any]:
        """The configuration as JSON-ready data, for the API, the console and logs (no secret in it)."""
        p = self.policy
        return {
            "url": self.url,
            "event_types": list(self.event_types),
            "scheme": self.scheme,
            "scheme_options": dict(self.scheme_options),
            "headers": dict(self.headers),
            "timeout_s": p.timeout_s,
            "rate_limit_per_s": p.rate_limit_per_s,
            "max_concurrency": p.max_concurrency,
            "retry_schedule": None if p.retry_schedule is None else list(p.retry_schedule),
            "allow_insecure": self.allow_insecure,
            "auth": {"type": self.auth.type, **_public_fields(self.auth)},
            "payload": {"format": self.payload.format, **_public_fields(self.payload)},
            "tls": tls_public(self.tls),
        }

    def sections(self) -> dict[str, Any]:
        """The auth, payload, TLS and scheme options as stored (only what differs from the defaults)."""
        out: dict[str, Any] = {}
        if not isinstance(self.auth, NoAuth):
            out["auth"] = {"type": self.auth.type, **_public_fields(self.auth)}
        if not isinstance(self.payload, JsonPayload):
            out["payload"] = {"format": self.payload.format, **_public_fields(self.payload)}
        tls = tls_public(self.tls)
        if tls:
            out["tls"] = tls
        if self.scheme_options:
            out["scheme_options"] = dict(self.scheme_options)
        return out

    @staticmethod
    def restore_sections(stored: Mapping[str, Any]) -> dict[str, Any]:
        """`sections` read back, as keyword arguments of `EndpointConfig` (stored values were validated)."""
        auth = dict(stored.get("auth") or {"type": "none"})
        payload = dict(stored.get("payload") or {"format": "json"})
        tls = dict(stored.get("tls") or {})
        return {
            "auth": _AUTH[auth.pop("type")](**auth),
            "payload": _PAYLOAD[payload.pop("format")](**payload),
            "tls": TlsConfig(**tls),
            "scheme_options": dict(stored.get("scheme_options") or {}),
        }


@dataclass(frozen=True, slots=True)
class ParsedEndpoint:
    """A new endpoint's configuration, the secrets to seal beside it, and the secret hookgate generated."""

    config: EndpointConfig
    secrets: EndpointSecrets
    generated: str | None = None

    def __repr__(self) -> str:
        return f"ParsedEndpoint(config={self.config!r}, secrets=<{len(self.secrets.entries)}>)"


@dataclass(frozen=True, slots=True)
class EndpointUpdate:
    """An updated configuration and, per secret kind it replaces (``auth``, ``tls_key``), the new entries."""

    config: EndpointConfig
    replaced: Mapping[str, tuple[SecretEntry, ...]]

    def apply_to(self, secrets: EndpointSecrets) -> EndpointSecrets:
        kept = tuple(e for e in secrets.entries if e.kind not in self.replaced)
        return EndpointSecrets(kept + tuple(e for entries in self.replaced.values() for e in entries))


# -- the rules --


def validate_custom_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Check an endpoint's custom headers; return them as a plain dict. Raises `ConfigError`."""
    if not isinstance(headers, Mapping):
        raise ConfigError("custom headers must be a mapping of names to values")
    if len(headers) > _MAX_CUSTOM_HEADERS:
        raise ConfigError(f"at most {_MAX_CUSTOM_HEADERS} custom headers are allowed")
    seen: set[str] = set()
    for name, value in headers.items():
        check_header_name(name)
        check_header_value(value, name)
        lower = name.lower()
        if lower in RESERVED_HEADERS:
            raise ConfigError(f"custom header {name!r} is set by hookgate and cannot be overridden")
        if lower in seen:
            raise ConfigError(f"custom header {name!r} appears twice (header names are case-insensitive)")
        seen.add(lower)
    size = sum(len(name) + len(value) for name, value in headers.items())
    if size > _MAX_CUSTOM_HEADER_BYTES:
        # receivers commonly refuse a request whose header block exceeds 8-16 KiB, and the signature,
        # authentication and framing headers need room too
        raise ConfigError(
            f"custom headers total {size} characters; at most {_MAX_CUSTOM_HEADER_BYTES} are allowed"
        )
    return dict(headers)


def check_updatable(changes: Mapping[str, Any]) -> None:
    """Refuse a change to a field that cannot be updated (the scheme and its secret are rotated instead)."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ConfigError(f"cannot update {', '.join(unknown)}; updatable: {', '.join(sorted(UPDATABLE))}")


def _schedule(value: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if value is None else validate_schedule(value)


def _signing_material(
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


def check_signing_secret(config: EndpointConfig, secret: str) -> None:
    """Refuse a rotation's new secret the endpoint's scheme could not sign with."""
    if config.scheme in _KEY_SCHEMES or config.scheme == "none":
        raise ConfigError(f"scheme {config.scheme} has no secret to rotate; rotate its keys instead")
    build_signer(config.scheme, [resolve_secret(secret, "secret")], [], options=config.scheme_options)


def _mapping(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a mapping")
    return dict(value)


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


def _field_names(cls: type[Any]) -> tuple[frozenset[str], frozenset[str]]:
    """A section class's (allowed, required) field names."""
    names = frozenset(f.name for f in fields(cls))
    required = frozenset(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
    return names, required


def _public_fields(section: object) -> dict[str, Any]:
    """A section's fields that are set (None and False are the defaults and are left out)."""
    return {
        f.name: getattr(section, f.name)
        for f in fields(section)  # type: ignore[arg-type]
        if getattr(section, f.name) not in (None, False)
    }


def _check_auth_values(a: Mapping[str, Any]) -> None:
    for key, item in a.items():
        if key == "lifetime":
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 3600:
                raise ConfigError("auth.lifetime must be an integer number of seconds between 1 and 3600")
        elif not isinstance(item, str) or not item:
            raise ConfigError(f"auth.{key} must be a non-empty string")


def _parse_auth(value: object, entries: list[SecretEntry], allow_insecure: bool) -> AuthConfig:
    a = _mapping(value, "auth")
    auth_type = a.pop("type", "none")
    if not isinstance(auth_type, str) or auth_type not in _AUTH:
        raise ConfigError(f"auth.type must be one of {', '.join(AUTH_TYPES)}")
    cls = _AUTH[auth_type]
    allowed, required = _field_names(cls)
    if cls.credential is not None:
        allowed, required = allowed | {cls.credential}, required | {cls.credential}
    _check_keys(a, allowed, required, f"auth ({auth_type})")
    _check_auth_values(a)
    if "header" in a:
        check_header_name(a["header"])
    if "token_url" in a:
        validate_url(a["token_url"], allow_insecure=allow_insecure, what="auth.token_url")
    if auth_type == "oauth2" and a.get("auth_method", "client_secret_basic") not in AUTH_METHODS:
        raise ConfigError(f"auth.auth_method must be one of {', '.join(AUTH_METHODS)}")
    if auth_type == "basic" and ":" in a["username"]:
        raise ConfigError("auth.username must not contain ':' (Basic authentication separates with it)")
    if cls.credential is None:
        return NoAuth()
    secret = a.pop(cls.credential)
    config = cls(**a)
    # build once with the real value: a malformed key, URL or header fails now, not at delivery
    resolved = resolve_secret(secret, f"auth.{cls.credential}")
    if isinstance(config, OAuth2Auth):
        config.client(resolved)
    elif not isinstance(config, NoAuth):
        config.signer(resolved)
    entries.append(SecretEntry(secret, "auth"))
    return config


def _parse_payload(value: object) -> PayloadConfig:
    p = _mapping(value, "payload")
    fmt = p.pop("format", "json")
    if not isinstance(fmt, str) or fmt not in _PAYLOAD:
        raise ConfigError(f"payload.format must be one of {', '.join(PAYLOAD_FORMATS)}")
    cls = _PAYLOAD[fmt]
    allowed, required = _field_names(cls)
    _check_keys(p, allowed, required, f"payload ({fmt})")
    if p.get("alg") is not None and (not isinstance(p["alg"], str) or not p["alg"]):
        raise ConfigError("payload.alg must be a non-empty string")
    if cls is JsonPayload:
        return JsonPayload()
    if cls is JwsPayload:
        return JwsPayload()
    if not isinstance(p["public_key"], str):
        raise ConfigError("payload.public_key must be the receiver's public key as PEM or JWK JSON text")
    if "sign" in p and not isinstance(p["sign"], bool):
        raise ConfigError("payload.sign must be true or false")
    config = JwePayload(**p)
    try:
        load_key(config.public_key, private=False)
        JweEncrypter(config.public_key, alg=config.alg)  # checks the key type supports the algorithm
    except ConfigError as exc:
        raise ConfigError(f"payload.public_key: {exc}") from None
    return config


_TLS_FIELDS = frozenset({"client_cert", "client_key", "ca_bundle", "min_version"})


def parse_tls(value: object, *, now: float) -> tuple[TlsConfig, SecretEntry | None]:
    """A ``tls`` section (an endpoint's, or a source's forward/JWKS TLS): the public part and the client
    key to seal; certificates are checked now (parse, expiry, key matches certificate)."""
    t = _mapping(value, "tls")
    _check_keys(t, _TLS_FIELDS, frozenset(), "tls")
    for key in ("client_cert", "client_key", "ca_bundle"):
        if t.get(key) is not None and (not isinstance(t[key], str) or not t[key]):
            raise ConfigError(f"tls.{key} must be a non-empty string")
    min_version = t.get("min_version", "1.2")
    if not isinstance(min_version, str) or min_version not in TLS_VERSIONS:
        raise ConfigError(f"tls.min_version must be one of {', '.join(TLS_VERSIONS)}")
    client_key = t.get("client_key")
    config = TlsConfig(t.get("client_cert"), t.get("ca_bundle"), min_version)
    resolved = resolve_secret(client_key, "tls.client_key") if client_key else None
    config.settings(resolved).check(now)
    return config, (SecretEntry(client_key, "tls_key") if client_key else None)


def tls_public(tls: TlsConfig) -> dict[str, Any]:
    """The public TLS settings as given (certificates, CA bundle, a floor above the default)."""
    out: dict[str, Any] = {}
    if tls.client_cert is not None:
        out["client_cert"] = tls.client_cert
    if tls.ca_bundle is not None:
        out["ca_bundle"] = tls.ca_bundle
    if tls.min_version != "1.2":
        out["min_version"] = tls.min_version
    return out
