"""The sections of an endpoint's configuration: client authentication (one class per type), payload
protection (JSON, JWS, JWE) and TLS, each parsed from a mapping with errors that name the field, each
credential split off to be sealed and each signer built once with the real value, so a bad key fails on
save rather than at delivery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from hookgate.config.references import resolve_secret
from hookgate.errors import ConfigError
from hookgate.keys import Secret, load_key
from hookgate.policy.url import validate_url
from hookgate.schemes._base import Signer
from hookgate.schemes.credentials import ApiKeySigner, BasicSigner, BearerSigner
from hookgate.schemes.headers import check_header_name
from hookgate.schemes.jose import JweEncrypter, JwsSigner
from hookgate.schemes.jwt_bearer import JwtBearerSigner
from hookgate.schemes.oauth2 import AUTH_METHODS, ClientCredentials
from hookgate.tls import TLS_VERSIONS, TlsSettings
from hookgate.vault import SecretEntry

__all__ = [
    "AUTH_CLASSES",
    "AUTH_TYPES",
    "PAYLOAD_CLASSES",
    "PAYLOAD_FORMATS",
    "ApiKeyAuth",
    "AuthConfig",
    "BasicAuth",
    "BearerAuth",
    "JsonPayload",
    "JwePayload",
    "JwsPayload",
    "JwtAuth",
    "NoAuth",
    "OAuth2Auth",
    "PayloadConfig",
    "TlsConfig",
    "parse_auth",
    "parse_payload",
    "parse_tls",
    "public_fields",
    "tls_public",
]


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
AUTH_CLASSES: dict[str, type[AuthConfig]] = {
    c.type: c for c in (NoAuth, ApiKeyAuth, BasicAuth, OAuth2Auth, JwtAuth, BearerAuth)
}
AUTH_TYPES = tuple(AUTH_CLASSES)


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
PAYLOAD_CLASSES: dict[str, type[PayloadConfig]] = {c.format: c for c in (JsonPayload, JwsPayload, JwePayload)}
PAYLOAD_FORMATS = tuple(PAYLOAD_CLASSES)


# -- TLS --


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


def public_fields(section: object) -> dict[str, Any]:
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


def parse_auth(value: object, entries: list[SecretEntry], allow_insecure: bool) -> AuthConfig:
    a = _mapping(value, "auth")
    auth_type = a.pop("type", "none")
    if not isinstance(auth_type, str) or auth_type not in AUTH_CLASSES:
        raise ConfigError(f"auth.type must be one of {', '.join(AUTH_TYPES)}")
    cls = AUTH_CLASSES[auth_type]
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


def parse_payload(value: object) -> PayloadConfig:
    p = _mapping(value, "payload")
    fmt = p.pop("format", "json")
    if not isinstance(fmt, str) or fmt not in PAYLOAD_CLASSES:
        raise ConfigError(f"payload.format must be one of {', '.join(PAYLOAD_FORMATS)}")
    cls = PAYLOAD_CLASSES[fmt]
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
