"""Endpoints: create, edit (version-checked), rotate secrets, enable, disable and delete.

Every field is validated by the one typed model, `hookgate.config.EndpointConfig`, before it reaches the
store; this module seals the secrets beside it and keeps concurrent writers from undoing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hookgate.config.endpoint import EndpointConfig, check_updatable, refuse_references
from hookgate.config.rules import validate_text
from hookgate.config.signing import check_signing_secret, generate_signing_secret
from hookgate.errors import ConflictError
from hookgate.models import Endpoint, new_id
from hookgate.outbound.opevents import OPS_APP_ID
from hookgate.services._base import ServiceBase
from hookgate.vault import (
    DEFAULT_GRACE_S,
    EndpointSecrets,
    SecretEntry,
    open_secrets,
    seal_secrets,
)

__all__ = ["EndpointServices", "NewEndpoint"]

_MAX_REASON = 512
# version-checked endpoint edits are retried on a fresh read this many times before ConflictError
_EDIT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    """A created endpoint and, when hookgate generated it, its secret (shown once, stored only sealed)."""

    endpoint: Endpoint
    secret: str | None

    def __repr__(self) -> str:
        return f"NewEndpoint(endpoint={self.endpoint!r}, secret=<redacted>)"


class EndpointServices(ServiceBase):
    """The endpoint operations of `hookgate.client.Hookgate`."""

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint; `NotFoundError` for an unknown or deleted one."""
        return await self._live_endpoint(endpoint_id)

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
        references: bool = True,
    ) -> NewEndpoint:
        """Validate and store an endpoint. Without ``secret``/``keys`` one is generated and returned once.

        ``scheme`` is the signature (Standard Webhooks by default, a provider preset, or ``none``); ``auth``,
        ``payload`` and ``tls`` are the client authentication, payload protection and TLS options described
        in `hookgate.outbound.security` (e.g. ``auth={"type": "oauth2", "token_url": ..., ...}``,
        ``payload={"format": "jwe", "public_key": PEM}``, ``tls={"client_cert": PEM, "client_key": PEM}``).
        Secret values may be ``env:NAME`` or ``file:PATH`` references instead of the secret itself, read by
        this process when used; ``references=False`` refuses them (for callers acting for a tenant).
        """
        now = self._clock()
        parsed = EndpointConfig.parse(
            {
                "url": url,
                "event_types": event_types,
                "scheme": scheme,
                "secret": secret,
                "keys": keys,
                "scheme_options": scheme_options,
                "headers": headers,
                "timeout_s": timeout_s,
                "rate_limit_per_s": rate_limit_per_s,
                "max_concurrency": max_concurrency,
                "retry_schedule": retry_schedule,
                "allow_insecure": allow_insecure,
                "auth": auth,
                "payload": payload,
                "tls": tls,
            },
            now=now,
            references=references,
        )
        if app_id == OPS_APP_ID:
            await self._ops_application()  # created on first use
        endpoint_id = new_id("ep")
        endpoint = Endpoint(
            id=endpoint_id,
            app_id=app_id,
            config=parsed.config,
            created_at=now,
            updated_at=now,
            secrets_sealed=self._seal(endpoint_id, parsed.secrets),
        )
        created = await self.store.create_endpoint(endpoint)
        await self._endpoint_event("endpoint.created", created, event_types=list(created.config.event_types))
        return NewEndpoint(created, parsed.generated)

    async def _endpoint_event(self, type_: str, endpoint: Endpoint, **data: object) -> None:
        # after the write succeeded; a failure to tell is logged by the emitter, never the caller's error
        event = self.opevents.event(type_, {"endpoint_id": endpoint.id, **data}, app_id=endpoint.app_id)
        await self.opevents.publish(event)

    async def update_endpoint(self, endpoint_id: str, *, references: bool = True, **changes: Any) -> Endpoint:
        """Change some of an endpoint's settings, validated like `create_endpoint`; returns the endpoint.

        Accepted: url, event_types, headers, timeout_s, rate_limit_per_s, max_concurrency, retry_schedule,
        allow_insecure, and the auth / payload / tls sections (each replaced as a whole, its secrets
        re-sealed; the signing secrets are changed with `rotate_secret`, not here).
        """
        check_updatable(changes)
        if not references:
            refuse_references(changes)
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
            endpoint = await self._live_endpoint(endpoint_id)
            edit(endpoint)
            try:
                updated = await self.store.update_endpoint(endpoint)
            except ConflictError:
                lost += 1
                if lost >= _EDIT_ATTEMPTS:
                    raise
                continue
            await self._endpoint_event("endpoint.updated", updated, version=updated.version)
            return updated

    async def reconfigure_endpoint(self, endpoint_id: str, *, secret: str, **changes: Any) -> Endpoint:
        """Apply ``changes`` like `update_endpoint` and make ``secret`` the only signing secret (no grace),
        in one version-checked write: how the gateway re-points a forwarding endpoint at each start."""
        check_updatable(changes)

        def edit(endpoint: Endpoint) -> None:
            self._apply(endpoint, changes)
            check_signing_secret(endpoint.config.scheme, endpoint.config.scheme_options, secret)
            current = open_secrets(self._box(), endpoint.id, endpoint.secrets_sealed)
            replaced = current.rotate(SecretEntry(secret, "secret"), now=endpoint.updated_at, grace_s=0)
            endpoint.secrets_sealed = self._seal(endpoint.id, replaced)

        return await self.edit_endpoint(endpoint_id, edit)

    def _apply(self, endpoint: Endpoint, changes: Mapping[str, Any]) -> None:
        now = self._clock()
        update = endpoint.config.update(changes, now=now)
        if update.replaced:
            current = open_secrets(self._box(), endpoint.id, endpoint.secrets_sealed)
            endpoint.secrets_sealed = self._seal(endpoint.id, update.apply_to(current))
        endpoint.config = update.config
        endpoint.updated_at = now

    def _seal(self, endpoint_id: str, secrets: EndpointSecrets) -> bytes:
        return seal_secrets(self._box(), endpoint_id, secrets) if secrets.entries else b""

    async def rotate_secret(
        self,
        endpoint_id: str,
        new_secret: str | None = None,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        references: bool = True,
    ) -> str:
        """Make ``new_secret`` (or a generated one, returned) the primary; the old stays valid ``grace_s``.
        ``references=False`` refuses an ``env:``/``file:`` reference as the new secret."""
        if not references:
            refuse_references({"secret": new_secret})
        endpoint = await self._live_endpoint(endpoint_id)
        if new_secret is None:
            new_secret = generate_signing_secret(endpoint.config.scheme)
        check_signing_secret(endpoint.config.scheme, endpoint.config.scheme_options, new_secret)
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
        endpoint = await self._live_endpoint(endpoint_id)
        await self.store.set_endpoint_enabled(endpoint_id, False, reason=reason, now=self._clock())
        if endpoint.enabled:  # an event for the change, not for every repeated request
            await self._endpoint_event("endpoint.disabled", endpoint, reason=reason, by="operator")

    async def enable_endpoint(self, endpoint_id: str) -> None:
        endpoint = await self._live_endpoint(endpoint_id)
        # a deletion in between is not undone: the store never enables a deleted endpoint
        await self.store.set_endpoint_enabled(endpoint_id, True, reason=None, now=self._clock())
        if not endpoint.enabled:
            await self._endpoint_event("endpoint.enabled", endpoint)

    async def delete_endpoint(self, endpoint_id: str) -> int:
        """Delete an endpoint; return how many of its deliveries this ended.

        Nothing is delivered to it afterwards: its pending and failed deliveries become dead, new messages
        do not fan out to it, and it cannot be enabled, edited, resent to or tested again. Its messages,
        deliveries and attempts stay readable as history (the store keeps a tombstone, without its
        secrets). A request already on the wire when it is deleted completes; its result is recorded.
        `NotFoundError` for an unknown or already deleted endpoint.
        """
        endpoint = await self._live_endpoint(endpoint_id)
        ended = await self.store.delete_endpoint(endpoint_id, now=self._clock())
        await self._endpoint_event("endpoint.deleted", endpoint, deliveries_ended=ended)
        return ended
