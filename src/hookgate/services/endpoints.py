"""Endpoints: create, validate, edit (version-checked), rotate secrets, enable and disable.

Everything an endpoint is configured with is validated here, before it reaches the store, with a
`ConfigError` that names the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hookgate.errors import ConfigError, ConflictError
from hookgate.keys import generate_key
from hookgate.models import (
    Endpoint,
    new_id,
    validate_event_filter,
    validate_text,
)
from hookgate.outbound.request import SIGNATURE_SCHEMES, validate_custom_headers
from hookgate.outbound.security import parse_security, resolve_secret
from hookgate.outbound.vault import (
    DEFAULT_GRACE_S,
    EndpointSecrets,
    SecretEntry,
    open_secrets,
    seal_secrets,
)
from hookgate.policy.retry import validate_schedule
from hookgate.policy.url import validate_url
from hookgate.schemes.registry import build_signer
from hookgate.services._base import ServiceBase, check_flag

__all__ = ["EndpointServices", "NewEndpoint"]

_MAX_REASON = 512
_MAX_TIMEOUT_S = 120.0
# version-checked endpoint edits are retried on a fresh read this many times before ConflictError
_EDIT_ATTEMPTS = 5
# Schemes whose signing material is a secret we can generate; key schemes take keys.
_GENERATED_SECRET = {"standard-webhooks": "hmac", "github": "hmac", "shopify": "hmac", "slack": "hmac"}
_GENERATED_KEY = {"standard-webhooks-ed25519": "ed25519"}
_KEY_SCHEMES = frozenset({"standard-webhooks-ed25519"})
_UPDATABLE = frozenset(
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


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    """A created endpoint and, when hookgate generated it, its secret (shown once, stored only sealed)."""

    endpoint: Endpoint
    secret: str | None

    def __repr__(self) -> str:
        return f"NewEndpoint(endpoint={self.endpoint!r}, secret=<redacted>)"


def _check_timeout(value: float) -> float:
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= _MAX_TIMEOUT_S
    ):
        raise ConfigError(f"timeout_s must be between 0 and {_MAX_TIMEOUT_S:.0f} seconds")
    return float(value)


def _check_rate(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    ):
        raise ConfigError("rate_limit_per_s must be a positive number")
    return float(value)


def _check_concurrency(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
        raise ConfigError("max_concurrency must be an integer between 1 and 1024")
    return value


class EndpointServices(ServiceBase):
    """The endpoint operations of `hookgate.client.Hookgate`."""

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        return await self.store.get_endpoint(endpoint_id)

    async def list_endpoints(self, app_id: str) -> list[Endpoint]:
        return await self.store.list_endpoints(app_id)

    async def create_endpoint(
        self,
        app_id: str,
        url: str,
        *,
        event_types: Sequence[str] = (),
        scheme: str = "standard-webhooks",
        secret: str | None = None,
        keys: Sequence[str] = (),
        scheme_options: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 15.0,
        rate_limit_per_s: float | None = None,
        max_concurrency: int | None = None,
        retry_schedule: Sequence[float] | None = None,
        allow_insecure: bool = False,
        auth: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        tls: Mapping[str, Any] | None = None,
    ) -> NewEndpoint:
        """Validate and store an endpoint. Without ``secret``/``keys`` one is generated and returned once.

        ``scheme`` is the signature (Standard Webhooks by default, a provider preset, or ``none``); ``auth``,
        ``payload`` and ``tls`` are the client authentication, payload protection and TLS options described
        in `hookgate.outbound.security` (e.g. ``auth={"type": "oauth2", "token_url": ..., ...}``,
        ``payload={"format": "jwe", "public_key": PEM}``, ``tls={"client_cert": PEM, "client_key": PEM}``).
        Secret values may be ``env:NAME`` or ``file:PATH`` references instead of the secret itself.
        """
        allow_insecure = check_flag(allow_insecure, "allow_insecure")
        if scheme not in SIGNATURE_SCHEMES:
            raise ConfigError(
                f"unknown signature scheme {scheme!r}; expected one of {', '.join(SIGNATURE_SCHEMES)} "
                "(authentication and JWS/JWE payloads are set with auth= and payload=)"
            )
        generated: str | None = None
        secrets: list[str] = [] if secret is None else [secret]
        if isinstance(keys, (str, bytes)):
            raise ConfigError("keys must be a list of key texts, not a single string")
        key_list = list(keys)
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
        if scheme == "none" and options:
            raise ConfigError("scheme none takes no scheme_options")
        if scheme != "none":
            # building the signer checks the secret or key format, so a bad one fails now, not at send time
            build_signer(
                scheme,
                [resolve_secret(v, "secret") for v in secrets],
                [resolve_secret(k, "key").encode() for k in key_list],
                options=options,
            )
        elif secrets or key_list:
            raise ConfigError("scheme none takes no secret or keys")
        now = self._clock()
        settings, security_entries = parse_security(
            auth, payload, tls, now=now, allow_insecure=allow_insecure
        )
        if options:
            settings["scheme_options"] = options
        sealed_entries = EndpointSecrets(
            EndpointSecrets.of(secrets, key_list).entries + tuple(security_entries)
        )
        endpoint_id = new_id("ep")
        endpoint = Endpoint(
            id=endpoint_id,
            app_id=app_id,
            url=validate_url(url, allow_insecure=allow_insecure),
            created_at=now,
            updated_at=now,
            event_types=validate_event_filter(event_types),
            scheme=scheme,
            secrets_sealed=(
                seal_secrets(self._box(), endpoint_id, sealed_entries) if sealed_entries.entries else b""
            ),
            headers=validate_custom_headers(headers or {}),
            timeout_s=_check_timeout(timeout_s),
            rate_limit_per_s=_check_rate(rate_limit_per_s),
            max_concurrency=_check_concurrency(max_concurrency),
            retry_schedule=None if retry_schedule is None else validate_schedule(retry_schedule),
            allow_insecure=allow_insecure,
            settings=settings,
        )
        return NewEndpoint(await self.store.create_endpoint(endpoint), generated)

    async def update_endpoint(self, endpoint_id: str, **changes: Any) -> Endpoint:
        """Change some of an endpoint's settings, validated like `create_endpoint`; returns the endpoint.

        Accepted: url, event_types, headers, timeout_s, rate_limit_per_s, max_concurrency, retry_schedule,
        allow_insecure, and the auth / payload / tls sections (each replaced as a whole, its secrets
        re-sealed; the signing secrets are changed with `rotate_secret`, not here).
        """
        unknown = sorted(set(changes) - _UPDATABLE)
        if unknown:
            raise ConfigError(
                f"cannot update {', '.join(unknown)}; updatable: {', '.join(sorted(_UPDATABLE))}"
            )
        return await self.edit_endpoint(endpoint_id, lambda endpoint: self._apply(endpoint, changes))

    async def edit_endpoint(self, endpoint_id: str, edit: Callable[[Endpoint], None]) -> Endpoint:
        """Read the endpoint, let ``edit`` change its configuration, write it back; returns it as stored.

        The write is version-checked (`Store.update_endpoint`): if anything changed the endpoint in between
        (another edit, a worker disabling it after a 410), ``edit`` runs again on a fresh read, so nothing
        that happened concurrently is undone. `ConflictError` if it keeps losing. Enabling and disabling
        are `enable_endpoint` / `disable_endpoint`.
        """
        lost = 0
        while True:
            endpoint = await self.store.get_endpoint(endpoint_id)
            edit(endpoint)
            try:
                return await self.store.update_endpoint(endpoint)
            except ConflictError:
                lost += 1
                if lost >= _EDIT_ATTEMPTS:
                    raise

    def _apply(self, endpoint: Endpoint, changes: Mapping[str, Any]) -> None:
        now = self._clock()
        flag = changes.get("allow_insecure", endpoint.allow_insecure)
        # an explicit None restores the default, like the other settings' None
        allow_insecure = False if flag is None else check_flag(flag, "allow_insecure")
        if "url" in changes or "allow_insecure" in changes:
            endpoint.url = validate_url(changes.get("url", endpoint.url), allow_insecure=allow_insecure)
            endpoint.allow_insecure = allow_insecure
        if "event_types" in changes:
            endpoint.event_types = validate_event_filter(changes["event_types"] or ())
        if "headers" in changes:
            endpoint.headers = validate_custom_headers(changes["headers"] or {})
        if "timeout_s" in changes:
            endpoint.timeout_s = _check_timeout(changes["timeout_s"])
        if "rate_limit_per_s" in changes:
            endpoint.rate_limit_per_s = _check_rate(changes["rate_limit_per_s"])
        if "max_concurrency" in changes:
            endpoint.max_concurrency = _check_concurrency(changes["max_concurrency"])
        if "retry_schedule" in changes:
            schedule = changes["retry_schedule"]
            endpoint.retry_schedule = None if schedule is None else validate_schedule(schedule)
        sections = [name for name in ("auth", "payload", "tls") if name in changes]
        if sections:
            self._replace_sections(endpoint, {name: changes[name] for name in sections}, now)
        token_url = (endpoint.settings.get("auth") or {}).get("token_url")
        if token_url is not None:
            # allow_insecure may have been switched off under an http token URL saved earlier
            validate_url(token_url, allow_insecure=endpoint.allow_insecure, what="auth.token_url")
        endpoint.updated_at = now

    def _replace_sections(self, endpoint: Endpoint, sections: Mapping[str, Any], now: float) -> None:
        box = self._box()
        entries = list(open_secrets(box, endpoint.id, endpoint.secrets_sealed).entries)
        settings = dict(endpoint.settings)
        for name, value in sections.items():
            part = {name: value}
            new_settings, new_entries = parse_security(
                part.get("auth"),
                part.get("payload"),
                part.get("tls"),
                now=now,
                allow_insecure=endpoint.allow_insecure,
            )
            settings.pop(name, None)
            if name in new_settings:
                settings[name] = new_settings[name]
            kind = {"auth": "auth", "tls": "tls_key"}.get(name)
            if kind is not None:
                entries = [e for e in entries if e.kind != kind] + list(new_entries)
        endpoint.settings = settings
        sealed = EndpointSecrets(tuple(entries))
        endpoint.secrets_sealed = seal_secrets(box, endpoint.id, sealed) if sealed.entries else b""

    async def rotate_secret(
        self, endpoint_id: str, new_secret: str | None = None, *, grace_s: float = DEFAULT_GRACE_S
    ) -> str:
        """Make ``new_secret`` (or a generated one, returned) the primary; the old stays valid ``grace_s``."""
        endpoint = await self.store.get_endpoint(endpoint_id)
        if endpoint.scheme in _KEY_SCHEMES or endpoint.scheme == "none":
            raise ConfigError(f"scheme {endpoint.scheme} has no secret to rotate; rotate its keys instead")
        kind = _GENERATED_SECRET.get(endpoint.scheme)
        if new_secret is None:
            if kind is None:
                raise ConfigError(f"scheme {endpoint.scheme} needs the new secret to be given")
            new_secret = generate_key(kind)
        options = endpoint.settings.get("scheme_options") or {}
        build_signer(endpoint.scheme, [new_secret], [], options=options)
        box = self._box()
        entry = SecretEntry(new_secret, "secret")

        def rotate(endpoint: Endpoint) -> None:
            now = self._clock()
            current = open_secrets(box, endpoint.id, endpoint.secrets_sealed)
            rotated = current.rotate(entry, now=now, grace_s=grace_s)
            endpoint.secrets_sealed = seal_secrets(box, endpoint.id, rotated)
            endpoint.updated_at = now

        await self.edit_endpoint(endpoint_id, rotate)
        return new_secret

    async def disable_endpoint(self, endpoint_id: str, *, reason: str = "disabled by operator") -> None:
        # field-scoped (enablement only) and unconditional: the operator's latest word wins
        validate_text(reason, "disable reason", max_length=_MAX_REASON)
        await self.store.set_endpoint_enabled(endpoint_id, False, reason=reason, now=self._clock())

    async def enable_endpoint(self, endpoint_id: str) -> None:
        await self.store.set_endpoint_enabled(endpoint_id, True, reason=None, now=self._clock())
