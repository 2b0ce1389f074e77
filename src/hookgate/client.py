"""The Python API of the delivery engine: applications, endpoints, publish, resend, recover, workers.

`Hookgate` is the object an application holds (``async with await Hookgate.open() as hg``); the module-level
`publish` / `publish_sync` use one default instance built from the environment (see `hookgate.config`), the
way logging or httpx's top-level functions work. Everything an endpoint is configured with is validated here,
before it reaches the store, with a `ConfigError` that names the field.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from hookgate.config import Settings, load_settings, master_key_box
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, ConflictError, DuplicateError, HookgateError, NotFoundError
from hookgate.inbound.managed import ManagedSource, open_source, seal_source, source_aad, validate_source
from hookgate.keyring import KeyRing
from hookgate.keys import generate_key
from hookgate.models import (
    ApiToken,
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    InboundSourceRecord,
    Message,
    new_id,
    validate_application_id,
    validate_event_filter,
    validate_event_type,
    validate_text,
)
from hookgate.outbound.request import SIGNATURE_SCHEMES, validate_custom_headers
from hookgate.outbound.security import parse_security, resolve_secret
from hookgate.outbound.vault import (
    DEFAULT_GRACE_S,
    EndpointSecrets,
    SecretEntry,
    endpoint_aad,
    open_secrets,
    seal_secrets,
)
from hookgate.policy.retry import validate_schedule
from hookgate.policy.ssrf import AddressPolicy
from hookgate.policy.url import validate_url
from hookgate.schemes.registry import build_signer
from hookgate.store import open_store
from hookgate.store.base import Page, PublishResult, Store
from hookgate.tokens import ADMIN, issue_token, token_hash
from hookgate.tracing import span

if TYPE_CHECKING:
    from hookgate.outbound.worker import Worker

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "BulkResend",
    "Hookgate",
    "ManagedSource",
    "NewEndpoint",
    "SyncHookgate",
    "publish",
    "publish_sync",
    "source_aad",
]

T = TypeVar("T")

MAX_PAYLOAD_BYTES = 1024 * 1024
_MAX_IDEMPOTENCY_KEY = 256
_MAX_REASON = 512
_MAX_TIMEOUT_S = 120.0
_MAX_DESCRIPTION = 4096
# the statuses a bulk resend takes (a pending or delivered delivery needs none), and its listing page size
_RESENDABLE = frozenset({DeliveryStatus.DEAD, DeliveryStatus.FAILED})
_RESEND_PAGE = 1000
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
class BulkResend:
    """What `Hookgate.resend_endpoint` resent (with ``dry_run``: would resend), and whether ``limit`` left
    more deliveries in that status."""

    ids: tuple[str, ...]
    more: bool
    dry_run: bool

    @property
    def resent(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    """A created endpoint and, when hookgate generated it, its secret (shown once, stored only sealed)."""

    endpoint: Endpoint
    secret: str | None

    def __repr__(self) -> str:
        return f"NewEndpoint(endpoint={self.endpoint!r}, secret=<redacted>)"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def encode_payload(payload: object) -> bytes:
    """Bytes must already be JSON; anything else is serialised compactly. Raises `ConfigError`."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
        # strict: json.loads(bytes) would also accept UTF-16/32, a BOM, lone surrogates and NaN, none of
        # which a receiver parsing application/json (RFC 8259: UTF-8, no BOM) has to accept
        try:
            json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError):
            raise ConfigError("payload bytes are not valid UTF-8 JSON") from None
    elif isinstance(payload, str):
        raise ConfigError("payload must be bytes of JSON or a JSON-serialisable object, not str")
    else:
        try:
            data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"payload is not JSON-serialisable: {exc}") from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ConfigError(f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return data


class Hookgate:
    """One application's handle on the delivery engine."""

    def __init__(
        self,
        store: Store,
        box: SecretBox | None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.box = box
        self.settings = settings or Settings()
        self._clock = clock

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        box: SecretBox | None = None,
        migrate: bool = True,
    ) -> Hookgate:
        """Open the store at ``url`` (default: the settings' database, SQLite in the data directory).

        The master key comes from ``box``, else from the settings (``HOOKGATE_MASTER_KEY`` or the key file,
        created on first use for the embedded default so a fresh install stores no plaintext secret).
        """
        settings = settings or load_settings()
        if box is None:
            # only the embedded default (SQLite in the data directory) creates its own key on first use: a
            # worker pointed at a shared database must use the key the secrets were sealed with, not a new one
            embedded = url is None and settings.database_url is None
            box = master_key_box(settings, create=settings.master_key is None and embedded)
        store = await open_store(url or settings.store_url, migrate=migrate)
        return cls(store, box, settings=settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.store.close()

    def _box(self) -> SecretBox:
        if self.box is None:
            raise ConfigError("no master key configured: endpoint secrets cannot be stored or read")
        return self.box

    # -- applications and endpoints -----------------------------------------------------------------

    async def create_application(self, name: str, *, app_id: str | None = None) -> Application:
        name = validate_text(name, "application name", max_length=256)
        app = Application(
            id=new_id("app") if app_id is None else validate_application_id(app_id),
            name=name,
            created_at=self._clock(),
        )
        try:
            return await self.store.create_application(app)
        except DuplicateError:
            raise DuplicateError(f"application {app.id} exists") from None

    async def get_application(self, app_id: str) -> Application:
        return await self.store.get_application(app_id)

    async def list_applications(self, *, cursor: str | None = None, limit: int = 50) -> Page[Application]:
        """Applications, newest first, a page at a time (pass ``next_cursor`` back for the next)."""
        return await self.store.list_applications(cursor=cursor, limit=limit)

    async def rename_application(self, app_id: str, name: str) -> Application:
        name = validate_text(name, "application name", max_length=256)
        return await self.store.rename_application(app_id, name)

    async def put_event_type(
        self, app_id: str, name: str, *, description: str = "", archived: bool = False
    ) -> EventType:
        """Declare an event type of the application, or change its description or archived flag (by name)."""
        if description:
            validate_text(description, "event type description", max_length=_MAX_DESCRIPTION)
        elif not isinstance(description, str):
            raise ConfigError(f"event type description must be a string, not {type(description).__name__}")
        archived = _check_flag(archived, "archived")
        event_type = EventType(app_id, validate_event_type(name), self._clock(), description, archived)
        return await self.store.put_event_type(event_type)

    async def list_event_types(self, app_id: str) -> list[EventType]:
        return await self.store.list_event_types(app_id)

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
        allow_insecure = _check_flag(allow_insecure, "allow_insecure")
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
        allow_insecure = False if flag is None else _check_flag(flag, "allow_insecure")
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

    # -- messages -----------------------------------------------------------------------------------

    async def get_message(self, message_id: str) -> Message:
        return await self.store.get_message(message_id)

    async def list_messages(
        self,
        app_id: str,
        *,
        event_type: str | None = None,
        since: float | None = None,
        until: float | None = None,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Message]:
        """An application's messages, newest first: by exact event type, created in [since, until), and
        with ``status`` only those with a delivery in that status. `InvalidQueryError` for a bad cursor."""
        return await self.store.list_messages(
            app_id, event_type=event_type, since=since, until=until, cursor=cursor, limit=limit, status=status
        )

    async def get_delivery(self, delivery_id: str) -> Delivery:
        return await self.store.get_delivery(delivery_id)

    async def list_deliveries(self, message_id: str) -> list[Delivery]:
        """A message's deliveries, one per endpoint it was fanned out to."""
        return await self.store.list_deliveries(message_id)

    async def list_endpoint_deliveries(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Delivery]:
        return await self.store.list_endpoint_deliveries(
            endpoint_id, status=status, cursor=cursor, limit=limit
        )

    async def list_endpoint_attempts(
        self, endpoint_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        """Every attempt at the endpoint's deliveries, newest first."""
        return await self.store.list_endpoint_attempts(endpoint_id, cursor=cursor, limit=limit)

    async def list_message_attempts(
        self, message_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Attempt]:
        """Every attempt at the message's deliveries (all endpoints), newest first."""
        return await self.store.list_message_attempts(message_id, cursor=cursor, limit=limit)

    async def due_count(self) -> int:
        """How many deliveries are due now (the queue depth; a store failure raises `StoreError`)."""
        return await self.store.count_due(now=self._clock())

    async def publish(
        self,
        app: str | Application,
        event_type: str,
        payload: object,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        """Store the event and one delivery per subscribed endpoint, atomically, and wake the workers.

        The same ``idempotency_key`` for the same application within 24 hours returns the first message
        (``result.duplicate`` is True) instead of publishing twice.
        """
        message = self.new_message(app, event_type, payload, idempotency_key=idempotency_key)
        with span(
            "hookgate.publish", **{"hookgate.app_id": message.app_id, "hookgate.event_type": event_type}
        ):
            return await self.store.publish(message, now=message.created_at)

    def new_message(
        self,
        app: str | Application,
        event_type: str,
        payload: object,
        *,
        idempotency_key: str | None = None,
    ) -> Message:
        """A validated message, not yet stored (for `publish_many`)."""
        app_id = app.id if isinstance(app, Application) else app
        if idempotency_key is not None:
            validate_text(idempotency_key, "idempotency key", max_length=_MAX_IDEMPOTENCY_KEY)
        return Message(
            id=new_id("msg"),
            app_id=app_id,
            event_type=validate_event_type(event_type),
            payload=encode_payload(payload),
            created_at=self._clock(),
            idempotency_key=idempotency_key,
        )

    async def publish_many(self, messages: Sequence[Message]) -> list[PublishResult | HookgateError]:
        """Store several messages in one transaction (group commit); each succeeds or fails on its own."""
        return await self.store.publish_many(messages, now=self._clock())

    async def resend(self, delivery_id: str) -> Delivery:
        """Deliver one delivery again now, with a fresh retry schedule."""
        return await self.store.resend(delivery_id, now=self._clock())

    async def resend_endpoint(
        self,
        endpoint_id: str,
        *,
        status: DeliveryStatus | str = "dead",
        limit: int | None = None,
        dry_run: bool = False,
    ) -> BulkResend:
        """Deliver again now the endpoint's deliveries in ``status`` (dead or failed), newest first, at most
        ``limit`` (None: all); with ``dry_run`` only say which would be resent.

        The ids are collected before any is resent (resending changes a delivery's status, which would shift
        the pages); one removed in between is skipped.
        """
        if not isinstance(status, str) or status not in _RESENDABLE:
            raise ConfigError(f"status must be dead or failed, not {status!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"limit must be a positive integer or null (all), not {limit!r}")
        dry_run = _check_flag(dry_run, "dry_run")
        wanted = DeliveryStatus(status)
        await self.store.get_endpoint(endpoint_id)  # NotFoundError for an unknown endpoint
        ids: list[str] = []
        cursor: str | None = None
        while limit is None or len(ids) < limit:
            # one row past the limit tells whether more remain
            size = _RESEND_PAGE if limit is None else min(_RESEND_PAGE, limit - len(ids) + 1)
            page = await self.store.list_endpoint_deliveries(
                endpoint_id, status=wanted, cursor=cursor, limit=size
            )
            ids.extend(d.id for d in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        more = limit is not None and (len(ids) > limit or cursor is not None)
        ids = ids[:limit]
        if dry_run:
            return BulkResend(tuple(ids), more=more, dry_run=True)
        resent: list[str] = []
        for delivery_id in ids:
            try:
                await self.store.resend(delivery_id, now=self._clock())
            except NotFoundError:
                continue
            resent.append(delivery_id)
        return BulkResend(tuple(resent), more=more, dry_run=False)

    async def recover(self, endpoint_id: str, *, since: float) -> int:
        """Retry every failed or dead delivery of an endpoint created since ``since`` (Unix seconds)."""
        if isinstance(since, bool) or not (
            isinstance(since, (int, float)) and math.isfinite(since) and since >= 0
        ):
            raise ConfigError(f"since must be a finite number of Unix seconds, at least 0, not {since!r}")
        return await self.store.recover(endpoint_id, since=since, now=self._clock())

    # -- management API tokens ----------------------------------------------------------------------

    async def create_api_token(self, name: str, scope: str) -> tuple[ApiToken, str]:
        """A new API token for ``scope`` ("admin" or an application id); its text is returned only now."""
        name = validate_text(name, "token name", max_length=128)
        scope = validate_text(scope, "token scope", max_length=64)
        if scope != ADMIN:
            await self.store.get_application(scope)  # NotFoundError for an unknown application
        return await issue_token(self.store, name, scope, now=self._clock())

    async def find_api_token(self, token: str) -> ApiToken:
        """The record of a presented token (revoked ones too), by its hash; `NotFoundError` if unknown."""
        return await self.store.find_api_token(token_hash(token))

    async def list_api_tokens(self) -> list[ApiToken]:
        return await self.store.list_api_tokens()

    async def revoke_api_token(self, token_id: str) -> ApiToken:
        """Revoke a token now (revoking it again keeps the first time)."""
        return await self.store.revoke_api_token(token_id, now=self._clock())

    # -- inbound sources managed at run time ----------------------------------------------------------

    async def create_source(self, name: str, settings: Mapping[str, Any]) -> ManagedSource:
        """Validate and store an inbound source (a gateway source table), sealed; names are unique.

        ``settings`` has a gateway source's keys (scheme, secrets, path, forward_to, forward_secret ...);
        ``hookgate serve`` routes its ``path`` within seconds. `DuplicateError` if the name is taken.
        """
        return await self._save_source(new_id("src"), name, settings, created_at=None)

    async def replace_source(self, source_id: str, name: str, settings: Mapping[str, Any]) -> ManagedSource:
        """Replace a stored source's name and settings as a whole (validated like `create_source`)."""
        existing = await self.store.get_source(source_id)
        return await self._save_source(source_id, name, settings, created_at=existing.created_at)

    async def _save_source(
        self, source_id: str, name: str, settings: Mapping[str, Any], *, created_at: float | None
    ) -> ManagedSource:
        name = validate_text(name, "source name", max_length=64)
        table = {"name": name, **{k: v for k, v in settings.items() if k != "name"}}
        source = validate_source(name, table)  # secrets included, or ConfigError naming the field
        now = self._clock()
        sealed = seal_source(self.box, source_id, table)
        record = InboundSourceRecord(source_id, name, sealed, now if created_at is None else created_at, now)
        try:
            await self.store.put_source(record)
        except DuplicateError:
            raise DuplicateError(f"a source named {name} exists") from None
        return ManagedSource(record, source)

    async def get_source(self, source_id: str) -> ManagedSource:
        return open_source(self.box, await self.store.get_source(source_id))

    async def list_sources(self) -> list[ManagedSource]:
        """Every stored source, opened and validated, by name."""
        return [open_source(self.box, record) for record in await self.store.list_sources()]

    async def list_source_records(self) -> list[InboundSourceRecord]:
        """The stored sources' records, sealed (cheap: to see whether any changed since a rebuild)."""
        return await self.store.list_sources()

    async def delete_source(self, source_id: str) -> None:
        await self.store.delete_source(source_id)

    # -- keys -------------------------------------------------------------------------------------

    @property
    def keyring(self) -> KeyRing:
        """hookgate's JWS signing keys (generate, activate, retire)."""
        return KeyRing(self.store, self._box(), clock=self._clock)

    async def jwks(self) -> dict[str, Any]:
        """The public signing keys as a JWKS document (served at ``/.well-known/jwks.json``)."""
        return await self.keyring.jwks()

    async def rotate_master_key(self) -> int:
        """Re-seal every stored secret and private key under the master key ring's primary key.

        Rotation: put the new key first in ``HOOKGATE_MASTER_KEY`` (keeping the old one after it), call this,
        then remove the old key. Returns how many sealed records were rewritten.
        """
        box = self._box()

        def reseal(kind: str, record_id: str, blob: bytes) -> bytes:
            if kind == "endpoint":
                aad = endpoint_aad(record_id)
            elif kind == "source":
                aad = source_aad(record_id)
            else:
                aad = KeyRing.reseal_aad(record_id)
            return box.reseal(blob, aad)

        return await self.store.reseal(reseal)

    # -- workers ------------------------------------------------------------------------------------

    def worker(self, **overrides: Any) -> Worker:
        """A `Worker` on this store, configured from the settings; keyword arguments override."""
        from hookgate.outbound.worker import Worker  # aiohttp stays out of publish-only apps

        s = self.settings
        options: dict[str, Any] = {
            "box": self.box,
            "address_policy": AddressPolicy(s.ssrf_allowlist),
            "concurrency": s.worker_concurrency,
            "claim_batch": s.claim_batch,
            "lease_s": s.lease_seconds,
            "disable_after_s": s.disable_after_seconds,
            "clock": self._clock,
        }
        options.update(overrides)
        return Worker(self.store, **options)


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


def _check_flag(value: object, name: str) -> bool:
    # a truthy string ("no") must not switch a safety setting on
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {value!r}")
    return value


def _check_concurrency(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
        raise ConfigError("max_concurrency must be an integer between 1 and 1024")
    return value


# -- the default instance and the sync twin ---------------------------------------------------------


class SyncHookgate:
    """`Hookgate` for synchronous code (Flask, Django, scripts), run on a private event-loop thread."""

    def __init__(self, url: str | None = None, *, settings: Settings | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hookgate-sync", daemon=True)
        self._thread.start()
        try:
            self._hg = self._call(Hookgate.open(url, settings=settings))
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def hookgate(self) -> Hookgate:
        return self._hg

    def create_application(self, name: str, *, app_id: str | None = None) -> Application:
        return self._call(self._hg.create_application(name, app_id=app_id))

    def create_endpoint(self, app_id: str, url: str, **options: Any) -> NewEndpoint:
        return self._call(self._hg.create_endpoint(app_id, url, **options))

    def publish(
        self, app: str | Application, event_type: str, payload: object, *, idempotency_key: str | None = None
    ) -> PublishResult:
        return self._call(self._hg.publish(app, event_type, payload, idempotency_key=idempotency_key))

    def resend(self, delivery_id: str) -> Delivery:
        return self._call(self._hg.resend(delivery_id))

    def recover(self, endpoint_id: str, *, since: float) -> int:
        return self._call(self._hg.recover(endpoint_id, since=since))

    def close(self) -> None:
        if self._loop.is_running():
            self._call(self._hg.close())
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default_async: dict[asyncio.AbstractEventLoop, Hookgate] = {}
_default_sync: list[SyncHookgate] = []
_default_lock = threading.Lock()


async def _default() -> Hookgate:
    # One instance per event loop: a store's connections belong to the loop that opened them.
    loop = asyncio.get_running_loop()
    hg = _default_async.get(loop)
    if hg is None:
        hg = await Hookgate.open()
        _default_async[loop] = hg
    return hg


async def publish(
    app: str | Application, event_type: str, payload: object, *, idempotency_key: str | None = None
) -> PublishResult:
    """Publish through the default `Hookgate` (configured from ``HOOKGATE_*`` settings)."""
    hg = await _default()
    return await hg.publish(app, event_type, payload, idempotency_key=idempotency_key)


def publish_sync(
    app: str | Application, event_type: str, payload: object, *, idempotency_key: str | None = None
) -> PublishResult:
    """The synchronous twin of `publish`, for code without an event loop."""
    with _default_lock:
        if not _default_sync:
            _default_sync.append(SyncHookgate())
        client = _default_sync[0]
    return client.publish(app, event_type, payload, idempotency_key=idempotency_key)


async def close_default() -> None:
    """Close the default instances (tests, or an application shutting down cleanly)."""
    loop = asyncio.get_running_loop()
    hg = _default_async.pop(loop, None)
    if hg is not None:
        await hg.close()


def close_default_sync() -> None:
    with _default_lock:
        while _default_sync:
            _default_sync.pop().close()
