"""The records the delivery engine keeps: applications, endpoints, messages, deliveries and attempts.

Plain data, no behaviour beyond small derived answers (does an endpoint subscribe to an event type). Secrets
never appear here in clear: an endpoint carries its signing secrets sealed (`hookgate.crypto.SecretBox`).
"""

from __future__ import annotations

import enum
import secrets as _secrets
from dataclasses import dataclass, field

from hookgate.config.endpoint import EndpointConfig
from hookgate.config.rules import event_matches

__all__ = [
    "STATUS_CLASSES",
    "ApiToken",
    "Application",
    "Attempt",
    "ConsoleSession",
    "Delivery",
    "DeliveryStatus",
    "Endpoint",
    "EventType",
    "InboundDecision",
    "InboundSourceRecord",
    "Message",
    "SigningKey",
    "SigningKeyStatus",
    "Task",
    "TaskFilters",
    "TaskKind",
    "TaskState",
    "new_id",
]


def new_id(prefix: str) -> str:
    """A random, URL-safe, sortable-enough id with a type prefix (``msg_``, ``ep_`` ...)."""
    return f"{prefix}_{_secrets.token_urlsafe(16)}"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"  # the last attempt failed, another is scheduled
    DEAD = "dead"  # retries exhausted or the endpoint was disabled


@dataclass(slots=True)
class Application:
    id: str
    name: str
    created_at: float


@dataclass(slots=True)
class Endpoint:
    """Where and how one subscriber receives an application's events.

    ``config`` is the owner's validated configuration (`hookgate.config.EndpointConfig`, no secret in it);
    ``secrets_sealed`` is the sealed `hookgate.vault.EndpointSecrets` blob beside it. ``version`` counts the
    changes of its configuration and enablement: a write of a copy read earlier is refused once another
    writer has moved it on (no lost updates), see `hookgate.store.base.Store.update_endpoint`.
    """

    id: str
    app_id: str
    config: EndpointConfig
    created_at: float
    updated_at: float
    enabled: bool = True
    disabled_reason: str | None = None
    secrets_sealed: bytes = field(default=b"", repr=False)
    failing_since: float | None = None
    version: int = 0
    # set when the endpoint was deleted: a tombstone kept for the history that names it, never delivered to
    deleted_at: float | None = None

    def subscribes(self, event_type: str) -> bool:
        return event_matches(self.config.event_types, event_type)


@dataclass(slots=True)
class Message:
    id: str
    app_id: str
    event_type: str
    payload: bytes
    created_at: float
    idempotency_key: str | None = None
    # when the payload was expunged (erased on demand: it is then empty), None while it is kept
    expunged_at: float | None = None


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
    # why a delivery went dead without exhausting its retries ("cancelled by task <id>"), None otherwise
    dead_reason: str | None = None


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
    # the headers sent, signatures and credentials redacted (empty for attempts from before migration 0007)
    request_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundDecision:
    """One inbound request's decision at a source: ``outcome`` is accepted, duplicate, rejected or
    handler_failed, ``reason`` the audit reason (a refusal's cause, ``ok``, ``duplicate``...), ``peer``
    the client address the source trusted, ``status`` the HTTP answer. Kept durably, a bounded number per
    source."""

    source: str
    at: float
    outcome: str
    reason: str
    status: int | None = None
    peer: str | None = None
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


class TaskKind(enum.StrEnum):
    RESEND = "resend"  # re-queue existing deliveries
    REPLAY_MISSING = "replay_missing"  # create deliveries an endpoint never had
    CANCEL_PENDING = "cancel_pending"  # turn waiting deliveries dead


class TaskState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


# the HTTP status classes a resend can select by (the last attempt's answer); "none": no answer at all
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")


@dataclass(frozen=True, slots=True)
class TaskFilters:
    """What a bulk task selects, all conditions together. ``since``/``until`` bound the creation time
    ([since, until)); ``statuses`` and ``status_class`` apply to resends, ``due_before`` to cancellations."""

    statuses: tuple[DeliveryStatus, ...] = ()
    status_class: str | None = None
    event_types: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    due_before: float | None = None


@dataclass(slots=True)
class Task:
    """A bulk recovery task over one application (optionally one endpoint), run in batches by any worker.

    ``matched`` is the count when it was created, ``done`` how many items it has changed so far; the cursor
    (``cursor_at``, ``cursor_id``: the last item handled, in creation order) makes it resumable, and the lease
    (``lease_owner`` until ``lease_expires_at``) lets exactly one worker run it at a time. Only what existed
    when the task was created is selected (creation times up to ``created_at``)."""

    id: str
    app_id: str
    kind: TaskKind
    filters: TaskFilters
    state: TaskState
    created_at: float
    updated_at: float
    endpoint_id: str | None = None
    matched: int = 0
    done: int = 0
    error: str | None = None
    cursor_at: float | None = None
    cursor_id: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
