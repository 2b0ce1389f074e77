"""The management API's request and response bodies (pydantic), and the record-to-response conversions.

Request bodies derive from `Strict` (`hookgate.api.strict.StrictBody`: strict JSON, no unknown fields, no NUL,
finite numbers); responses are plain models. Secrets are write-only: no response model has a field for one
except the ``secret`` shown once at creation or rotation.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from hookgate.api.strict import MAX_BODY_DEPTH, StrictBody, nested_deeper_than
from hookgate.config.rules import APP_ID_PATTERN, EVENT_TYPE_PATTERN, MAX_CONCURRENCY, MAX_TIMEOUT_S
from hookgate.models import (
    ApiToken,
    Application,
    Attempt,
    Delivery,
    Endpoint,
    EventType,
    Message,
)
from hookgate.policy.retry import MAX_SCHEDULE_LENGTH

__all__ = [
    "ApplicationIn",
    "ApplicationOut",
    "ApplicationPage",
    "ApplicationRename",
    "AttemptOut",
    "AttemptPage",
    "DeliveryOut",
    "DeliveryPage",
    "DisableIn",
    "EndpointCreated",
    "EndpointIn",
    "EndpointOut",
    "EndpointPatch",
    "EventTypeIn",
    "EventTypeOut",
    "HealthOut",
    "MessageIn",
    "MessageOut",
    "MessagePage",
    "PublishOut",
    "RecoverIn",
    "RecoverOut",
    "ResendIn",
    "ResendOut",
    "RotateIn",
    "SecretRotated",
    "SourceIn",
    "SourceOut",
    "Strict",
    "TokenCreated",
    "TokenIn",
    "TokenOut",
    "app_out",
    "attempt_out",
    "delivery_out",
    "endpoint_out",
    "event_type_out",
    "message_out",
    "token_out",
]


class Strict(StrictBody):
    """A request body: strict JSON, no unknown fields, no NUL, finite numbers (`hookgate.api.strict`)."""


class ApplicationIn(Strict):
    name: str = Field(min_length=1, max_length=256)
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=APP_ID_PATTERN)


class ApplicationRename(Strict):
    name: str = Field(min_length=1, max_length=256)


class ApplicationOut(BaseModel):
    id: str
    name: str
    created_at: float


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


class EventTypeIn(Strict):
    name: str = Field(min_length=1, max_length=256, pattern=EVENT_TYPE_PATTERN)
    description: str = Field(default="", max_length=4096)
    archived: bool = False


class EventTypeOut(BaseModel):
    name: str
    description: str
    archived: bool
    created_at: float


class EndpointIn(Strict):
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(default_factory=list, max_length=256)
    scheme: str = "standard-webhooks"
    secret: str | None = Field(default=None, max_length=4096)
    keys: list[str] = Field(default_factory=list, max_length=8)
    scheme_options: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    timeout_s: float = Field(default=15.0, gt=0, le=MAX_TIMEOUT_S)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    retry_schedule: list[float] | None = Field(default=None, max_length=MAX_SCHEDULE_LENGTH)
    allow_insecure: bool = False
    auth: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    tls: dict[str, Any] | None = None


class EndpointPatch(Strict):
    """Only the fields given are changed; auth, payload and tls are replaced as whole sections."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(default=None, max_length=256)
    headers: dict[str, str] | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    retry_schedule: list[float] | None = Field(default=None, max_length=MAX_SCHEDULE_LENGTH)
    allow_insecure: bool | None = None
    auth: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    tls: dict[str, Any] | None = None


class EndpointOut(BaseModel):
    id: str
    app_id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    scheme: str
    headers: dict[str, str]
    timeout_s: float
    rate_limit_per_s: float | None
    max_concurrency: int | None
    retry_schedule: list[float] | None
    allow_insecure: bool
    auth_type: str
    payload_format: str
    auth: dict[str, Any] = Field(description="the authentication's type and public settings; no credential")
    payload: dict[str, Any] = Field(description="the payload format and its public settings")
    scheme_options: dict[str, Any]
    tls: dict[str, Any]
    failing_since: float | None
    created_at: float
    updated_at: float


class EndpointCreated(BaseModel):
    endpoint: EndpointOut
    secret: str | None = Field(description="The generated signing secret or key, shown only now")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret, shown only now")
    grace_s: float


class RotateIn(Strict):
    secret: str | None = Field(default=None, max_length=4096)
    grace_s: float = Field(default=24 * 3600.0, ge=0, le=30 * 24 * 3600.0)


class DisableIn(Strict):
    reason: str = Field(default="disabled by operator", max_length=512)


class MessageIn(Strict):
    raw_fields = frozenset({"payload"})  # stored as sent (a NUL in a JSON string is stored escaped)

    event_type: str = Field(min_length=1, max_length=256)
    payload: dict[str, Any] | list[Any]


class TestEventIn(Strict):
    """A test event for one endpoint: ``webhook.test`` with a small example payload unless given."""

    raw_fields = frozenset({"payload"})

    event_type: str = Field(default="webhook.test", min_length=1, max_length=256)
    payload: dict[str, Any] | list[Any] | None = None


class MessageOut(BaseModel):
    id: str
    app_id: str
    event_type: str
    payload: Any
    created_at: float
    idempotency_key: str | None
    # when the payload was expunged (payload is then null), null while it is kept
    expunged_at: float | None = None


class DeliveryOut(BaseModel):
    id: str
    message_id: str
    endpoint_id: str
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float


class PublishOut(BaseModel):
    message: MessageOut
    deliveries: list[DeliveryOut]
    duplicate: bool


class TestEventOut(BaseModel):
    message: MessageOut
    delivery: DeliveryOut


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class AttemptOut(BaseModel):
    id: int | None
    delivery_id: str
    started_at: float
    duration_ms: float
    status_code: int | None
    response_excerpt: str
    error_class: str | None
    outcome: str
    request_headers: dict[str, str] = Field(
        description="The request headers sent, signatures and credentials replaced by [redacted] "
        "(empty for attempts recorded before hookgate kept them, and when no request was sent)"
    )


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class RecoverIn(Strict):
    since: float = Field(ge=0)


class RecoverOut(BaseModel):
    recovered: int


class ExpungeIn(Strict):
    before: float = Field(ge=0, allow_inf_nan=False)


class ExpungeOut(BaseModel):
    expunged: int


class ResendIn(Strict):
    status: Literal["dead", "failed"] = Field(default="dead", description="which deliveries to resend")
    limit: int | None = Field(default=None, description="at most this many, newest first (null: all)")
    dry_run: bool = Field(default=False, description="only count and list them; change nothing")


class ResendOut(BaseModel):
    resent: int = Field(description="how many deliveries were queued again (dry run: would be)")
    ids: list[str] = Field(description="the deliveries queued again (dry run: that would be)")
    more: bool = Field(description="whether limit left more deliveries in that status")
    dry_run: bool = Field(description="true when nothing was changed")


class HealthOut(BaseModel):
    endpoint_id: str
    enabled: bool
    disabled_reason: str | None
    failing_since: float | None
    circuit: str | None
    recent_attempts: int
    recent_success_rate: float | None
    last_error: AttemptOut | None


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=128)
    scope: str = Field(min_length=1, max_length=64, description="'admin' or an application id")


class TokenOut(BaseModel):
    id: str
    name: str
    scope: str
    created_at: float
    revoked_at: float | None


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token, shown only now")


def app_out(app: Application) -> ApplicationOut:
    return ApplicationOut(id=app.id, name=app.name, created_at=app.created_at)


def endpoint_out(e: Endpoint) -> EndpointOut:
    c = e.config.public()
    return EndpointOut(
        id=e.id,
        app_id=e.app_id,
        url=c["url"],
        event_types=c["event_types"],
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        scheme=c["scheme"],
        headers=c["headers"],
        timeout_s=c["timeout_s"],
        rate_limit_per_s=c["rate_limit_per_s"],
        max_concurrency=c["max_concurrency"],
        retry_schedule=c["retry_schedule"],
        allow_insecure=c["allow_insecure"],
        auth_type=c["auth"]["type"],
        payload_format=c["payload"]["format"],
        # the sections' public fields (the credential is sealed apart, never in the config), so an edit
        # form can show what is set
        auth=c["auth"],
        payload=c["payload"],
        scheme_options=c["scheme_options"],
        # the public TLS settings (certificates, CA bundle, floor); the client key is sealed, never here
        tls=c["tls"],
        failing_since=e.failing_since,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


def message_out(m: Message) -> MessageOut:
    if m.expunged_at is not None:
        return MessageOut(
            id=m.id, app_id=m.app_id, event_type=m.event_type, payload=None, created_at=m.created_at,
            idempotency_key=m.idempotency_key, expunged_at=m.expunged_at,
        )  # fmt: skip
    try:
        payload: Any = json.loads(m.payload)
    except (ValueError, RecursionError):
        payload = m.payload.decode("utf-8", errors="replace")
    # published by another front end (the gateway, the library) deeper than the response serializer goes:
    # shown as its JSON text, like a payload that is not JSON, rather than failing the whole answer
    if m.payload.count(b"[") + m.payload.count(b"{") > MAX_BODY_DEPTH and nested_deeper_than(
        payload, MAX_BODY_DEPTH
    ):
        payload = m.payload.decode("utf-8", errors="replace")
    return MessageOut(
        id=m.id,
        app_id=m.app_id,
        event_type=m.event_type,
        payload=payload,
        created_at=m.created_at,
        idempotency_key=m.idempotency_key,
    )


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        message_id=d.message_id,
        endpoint_id=d.endpoint_id,
        status=str(d.status),
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def attempt_out(a: Attempt) -> AttemptOut:
    return AttemptOut(
        id=a.id,
        delivery_id=a.delivery_id,
        started_at=a.started_at,
        duration_ms=a.duration_ms,
        status_code=a.status_code,
        response_excerpt=a.response_excerpt,
        error_class=a.error_class,
        outcome=a.outcome,
        request_headers=a.request_headers,
    )


def token_out(t: ApiToken) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, scope=t.scope, created_at=t.created_at, revoked_at=t.revoked_at)


def event_type_out(e: EventType) -> EventTypeOut:
    return EventTypeOut(name=e.name, description=e.description, archived=e.archived, created_at=e.created_at)


# -- inbound sources --

# /inbound/ then segments of the allowed characters, none of them empty, "." or ".." (the Source checks it
# again with a precise message; the pattern puts the rule into the OpenAPI schema)
_SEGMENT = r"(?:[A-Za-z0-9_\-][A-Za-z0-9_.\-]*|\.[A-Za-z0-9_\-][A-Za-z0-9_.\-]*|\.\.[A-Za-z0-9_.\-]+)"
_PATH = rf"^/inbound(?:/{_SEGMENT})+/?$"


class SourceIn(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    scheme: str
    secrets: list[str] = Field(default_factory=list, max_length=8)
    keys: list[str] = Field(default_factory=list, max_length=8)
    scheme_options: dict[str, Any] = Field(default_factory=dict)
    tolerance_s: int = Field(default=300, ge=1, le=86400)
    event_id: str | None = None
    allow_ips: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    rate_limit_burst: float | None = Field(default=None, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    require_https: bool = True
    idempotency_ttl_s: float = Field(default=3 * 24 * 3600.0, gt=0)
    path: str = Field(pattern=_PATH, max_length=1024, description="served by hookgate serve")
    forward_to: str = Field(min_length=1, max_length=2048)
    forward_secret: str = Field(min_length=1, max_length=4096)
    # TLS for forward_to, in an endpoint's tls shape: ca_bundle, client_cert, client_key, min_version
    forward_tls: dict[str, Any] | None = None
    jwks_url: str | None = None
    jwks_allow: list[str] = Field(default_factory=list)
    jwks_insecure: bool = False
    # TLS for the jwks_url fetch, in an endpoint's tls shape
    jwks_tls: dict[str, Any] | None = None
    sender_keys: list[str] = Field(default_factory=list, max_length=8)


class SourceOut(BaseModel):
    id: str
    name: str
    scheme: str
    path: str | None
    forward_to: str | None
    forward_tls: dict[str, Any] = Field(description="the public forward_tls settings; the client key never")
    event_id: str | None
    tolerance_s: int
    allow_ips: list[str]
    trusted_proxies: list[str]
    rate_limit_per_s: float | None
    max_body_bytes: int
    require_https: bool
    jwks_url: str | None
    jwks_tls: dict[str, Any] = Field(description="the public jwks_tls settings; the client key never")
    created_at: float
    updated_at: float
