"""The records the delivery engine keeps: applications, endpoints, messages, deliveries and attempts.

Plain data, no behaviour beyond small derived answers (does an endpoint subscribe to an event type). Secrets
never appear here in clear: an endpoint carries its signing secrets sealed (`hookgate.crypto.SecretBox`).
"""

from __future__ import annotations

import enum
import re
import secrets as _secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hookgate.errors import ConfigError

__all__ = [
    "ApiToken",
    "Application",
    "Attempt",
    "ConsoleSession",
    "Delivery",
    "DeliveryStatus",
    "Endpoint",
    "EventType",
    "InboundSourceRecord",
    "Message",
    "SigningKey",
    "SigningKeyStatus",
    "new_id",
    "validate_application_id",
    "validate_event_filter",
    "validate_text",
]

APP_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_APP_ID = re.compile(APP_ID_PATTERN)
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_EVENT_FILTER = re.compile(r"^([A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*)(\.\*)?$|^\*$")


def new_id(prefix: str) -> str:
    """A random, URL-safe, sortable-enough id with a type prefix (``msg_``, ``ep_`` ...)."""
    return f"{prefix}_{_secrets.token_urlsafe(16)}"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"  # the last attempt failed, another is scheduled
    DEAD = "dead"  # retries exhausted or the endpoint was disabled


def validate_text(value: object, what: str, *, max_length: int) -> str:
    """A free-text field (a name, a reason, a key): a string of 1 to ``max_length`` characters, no NUL.

    NUL is refused because PostgreSQL text cannot hold it: every store must accept the same values.
    """
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= max_length:
        raise ConfigError(f"{what} must be 1-{max_length} characters")
    if "\x00" in value:
        raise ConfigError(f"{what} must not contain a NUL character")
    return value


def validate_application_id(app_id: object) -> str:
    if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
        raise ConfigError(f"application id {app_id!r} must be 1-64 characters of [A-Za-z0-9_.-]")
    return app_id


def validate_event_type(event_type: str) -> str:
    if (
        not isinstance(event_type, str)
        or not event_type
        or len(event_type) > 256
        or not _EVENT_TYPE.fullmatch(event_type)
    ):
        raise ConfigError(f"event type {event_type!r} must be dot-separated words of [A-Za-z0-9_-]")
    return event_type


def validate_event_filter(filters: Sequence[str]) -> tuple[str, ...]:
    """Exact names, ``prefix.*`` wildcards, or ``*``; an empty list means every event type."""
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
        # a string is a sequence too: "abc" would subscribe to the event types a, b and c
        raise ConfigError(f"event types must be a list of names or patterns, not {type(filters).__name__}")
    for item in filters:
        if not isinstance(item, str) or len(item) > 256 or not _EVENT_FILTER.fullmatch(item):
            raise ConfigError(f"event filter {item!r} must be an event type, 'prefix.*' or '*'")
    return tuple(filters)


def event_matches(filters: tuple[str, ...], event_type: str) -> bool:
    if not filters:
        return True
    for item in filters:
        if item in ("*", event_type):
            return True
        if item.endswith(".*") and event_type.startswith(item[:-1]):
            return True
    return False


@dataclass(slots=True)
class Application:
    id: str
    name: str
    created_at: float


@dataclass(slots=True)
class Endpoint:
    """Where and how one subscriber receives an application's events.

    ``secrets_sealed`` is the sealed `hookgate.outbound.vault.EndpointSecrets` blob; ``settings`` holds the
    authentication, TLS and payload options that the endpoint-security layer interprets. ``version`` counts
    the changes of its configuration and enablement: a write of a copy read earlier is refused once another
    writer has moved it on (no lost updates), see `hookgate.store.base.Store.update_endpoint`.
    """

    id: str
    app_id: str
    url: str
    created_at: float
    updated_at: float
    event_types: tuple[str, ...] = ()
    enabled: bool = True
    disabled_reason: str | None = None
    scheme: str = "standard-webhooks"
    secrets_sealed: bytes = field(default=b"", repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 15.0
    rate_limit_per_s: float | None = None
    max_concurrency: int | None = None
    retry_schedule: tuple[float, ...] | None = None
    allow_insecure: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    failing_since: float | None = None
    version: int = 0

    def subscribes(self, event_type: str) -> bool:
        return event_matches(self.event_types, event_type)


@dataclass(slots=True)
class Message:
    id: str
    app_id: str
    event_type: str
    payload: bytes
    created_at: float
    idempotency_key: str | None = None


@dataclass(slots=True)
class Delivery:
    id: str
    message_id: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    lease_owner: str | None = None
    lease_expires_at: float | None = None


@dataclass(slots=True)
class Attempt:
    delivery_id: str
    started_at: float
    duration_ms: float
    status_code: int | None
    response_excerpt: str
    error_class: str | None
    outcome: str
    id: int | None = None


class SigningKeyStatus(enum.StrEnum):
    """Life of a key in hookgate's JWS signing key ring.

    ``pending`` keys are published in the JWKS before they sign, so receivers that cache the JWKS already
    know them; exactly one key is ``active`` (signs); ``previous`` keys signed before and stay in the JWKS
    until ``retired``, so tokens already sent keep verifying.
    """

    PENDING = "pending"
    ACTIVE = "active"
    PREVIOUS = "previous"
    RETIRED = "retired"


@dataclass(slots=True)
class SigningKey:
    """One of hookgate's own private keys (for JWS payloads), sealed; ``public_jwk`` is its JWK as JSON."""

    kid: str
    kind: str  # "ed25519", "ec", "rsa"
    alg: str
    private_sealed: bytes = field(repr=False)
    public_jwk: str
    status: SigningKeyStatus
    created_at: float
    activated_at: float | None = None
    retired_at: float | None = None


@dataclass(slots=True)
class ApiToken:
    """A management API token. Only its SHA-256 is stored; the token itself is shown once at creation.

    ``scope`` is ``"admin"`` or the id of the one application the token may read and change.
    """

    id: str
    name: str
    token_hash: bytes = field(repr=False)
    scope: str
    created_at: float
    revoked_at: float | None = None


@dataclass(slots=True)
class EventType:
    """An event type an application declares (a catalogue for subscribers; publishing does not require it)."""

    app_id: str
    name: str
    created_at: float
    description: str = ""
    archived: bool = False


@dataclass(slots=True)
class InboundSourceRecord:
    """An inbound source managed through the API: its settings as sealed JSON (they hold secrets)."""

    id: str
    name: str
    config_sealed: bytes = field(repr=False)
    created_at: float
    updated_at: float


@dataclass(slots=True)
class ConsoleSession:
    """A web console session: the dashboard's (``scope`` "admin") or a consumer portal's (one application).

    A portal session starts as a single-use link: only the link's SHA-256 (``link_hash``) is stored; opening
    it records ``opened_at`` and the SHA-256 of the session cookie (``session_hash``) in one write, so a link
    opens once. ``capabilities`` are what the session may do beyond viewing (see `hookgate.services.console`);
    ``created_by`` is the API token that asked for it (its revocation ends the session).
    """

    id: str
    scope: str
    capabilities: tuple[str, ...]
    created_at: float
    expires_at: float
    link_hash: bytes | None = field(default=None, repr=False)
    session_hash: bytes | None = field(default=None, repr=False)
    created_by: str | None = None
    opened_at: float | None = None
    revoked_at: float | None = None
