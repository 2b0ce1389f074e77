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
from dataclasses import dataclass, field, replace
from typing import Any

from hookgate.config.references import is_reference
from hookgate.config.rules import (
    check_concurrency,
    check_flag,
    check_rate,
    check_timeout,
    validate_event_filter,
)
from hookgate.config.sections import (
    AUTH_CLASSES,
    PAYLOAD_CLASSES,
    AuthConfig,
    JsonPayload,
    NoAuth,
    OAuth2Auth,
    PayloadConfig,
    TlsConfig,
    parse_auth,
    parse_payload,
    parse_tls,
    public_fields,
    tls_public,
)
from hookgate.config.signing import signing_material
from hookgate.errors import ConfigError
from hookgate.policy.retry import validate_schedule
from hookgate.policy.url import validate_url
from hookgate.schemes.headers import check_header_name, check_header_value
from hookgate.vault import EndpointSecrets, SecretEntry

__all__ = [
    "RESERVED_HEADERS",
    "UPDATABLE",
    "DeliveryPolicy",
    "EndpointConfig",
    "EndpointUpdate",
    "ParsedEndpoint",
    "check_updatable",
    "refuse_references",
    "validate_custom_headers",
]

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
    auth: AuthConfig = field(default_factory=NoAuth)
    payload: PayloadConfig = field(default_factory=JsonPayload)
    tls: TlsConfig = field(default_factory=TlsConfig)

    @classmethod
    def parse(cls, values: Mapping[str, Any], *, now: float, references: bool = True) -> ParsedEndpoint:
        """Validate a new endpoint's fields (``url`` required; see `UPDATABLE` plus scheme, secret, keys and
        scheme_options). Without a secret or keys for a signing scheme, one is generated (returned once).
        ``references=False`` refuses ``env:``/``file:`` secret references (see `refuse_references`)."""
        if not references:
            refuse_references(values)
        unknown = sorted(set(values) - _CREATE_FIELDS)
        if unknown:
            raise ConfigError(f"unknown endpoint field(s) {', '.join(unknown)}")
        if "url" not in values:
            raise ConfigError("an endpoint needs a url")
        allow_insecure = check_flag(values.get("allow_insecure", False), "allow_insecure")
        scheme = values.get("scheme", "standard-webhooks")
        signing, generated = signing_material(
            scheme, values.get("secret"), values.get("keys", ()), values.get("scheme_options")
        )
        options = dict(values.get("scheme_options") or {})
        entries: list[SecretEntry] = []
        auth = parse_auth(values.get("auth"), entries, allow_insecure)
        payload = parse_payload(values.get("payload"))
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

    def update(self, changes: Mapping[str, Any], *, now: float, references: bool = True) -> EndpointUpdate:
        """This configuration with ``changes`` applied (each field by its rule; ``auth``, ``payload`` and
        ``tls`` replaced as whole sections, their secrets returned to be sealed in place of the old ones).
        A None restores a field's default. The signing secret changes by rotation, not here."""
        check_updatable(changes)
        if not references:
            refuse_references(changes)
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
            new["auth"] = parse_auth(changes["auth"], entries, allow_insecure)
            replaced["auth"] = tuple(entries)
        if "payload" in changes:
            new["payload"] = parse_payload(changes["payload"])
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
            "auth": {"type": self.auth.type, **public_fields(self.auth)},
            "payload": {"format": self.payload.format, **public_fields(self.payload)},
            "tls": tls_public(self.tls),
        }

    def sections(self) -> dict[str, Any]:
        """The auth, payload, TLS and scheme options as stored (only what differs from the defaults)."""
        out: dict[str, Any] = {}
        if not isinstance(self.auth, NoAuth):
            out["auth"] = {"type": self.auth.type, **public_fields(self.auth)}
        if not isinstance(self.payload, JsonPayload):
            out["payload"] = {"format": self.payload.format, **public_fields(self.payload)}
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
            "auth": AUTH_CLASSES[auth.pop("type")](**auth),
            "payload": PAYLOAD_CLASSES[payload.pop("format")](**payload),
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


def refuse_references(values: Mapping[str, Any]) -> None:
    """Refuse ``env:``/``file:`` references among the secret values of ``values``, before anything reads them.

    A reference makes the hookgate process read its own environment or files and send the content to the
    endpoint: only the operator may do that. A tenant (an application-scoped token, a portal session) gives
    the secret itself."""
    given: list[tuple[str, object]] = [("secret", values.get("secret"))]
    keys = values.get("keys")
    if isinstance(keys, Sequence) and not isinstance(keys, (str, bytes)):
        given += [("keys", key) for key in keys]
    auth = values.get("auth")
    if isinstance(auth, Mapping):
        given += [(f"auth.{name}", value) for name, value in auth.items() if name != "type"]
    tls = values.get("tls")
    if isinstance(tls, Mapping):
        given.append(("tls.client_key", tls.get("client_key")))
    for name, value in given:
        if isinstance(value, str) and is_reference(value):
            raise ConfigError(
                f"{name}: secret references (env:, file:) can only be set with an admin token; "
                "give the secret itself"
            )


def check_updatable(changes: Mapping[str, Any]) -> None:
    """Refuse a change to a field that cannot be updated (the scheme and its secret are rotated instead)."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ConfigError(f"cannot update {', '.join(unknown)}; updatable: {', '.join(sorted(UPDATABLE))}")


def _schedule(value: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if value is None else validate_schedule(value)
