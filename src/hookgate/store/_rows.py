"""Row <-> record mapping shared by the SQL stores (sqlite3.Row and asyncpg.Record both index by name)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hookgate.config.endpoint import DeliveryPolicy, EndpointConfig
from hookgate.errors import InvalidQueryError
from hookgate.models import (
    ApiToken,
    Application,
    Attempt,
    ConsoleSession,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    InboundDecision,
    InboundSourceRecord,
    Message,
    SigningKey,
    SigningKeyStatus,
)
from hookgate.store.base import AttemptResult, Page

T = TypeVar("T")
Row = Any  # sqlite3.Row | asyncpg.Record: both support row["column"]


def endpoint_params(e: Endpoint, *, flag: Callable[[bool], Any] = int) -> dict[str, Any]:
    """Query parameters of an endpoint row; ``flag`` encodes booleans (int: SQLite, bool: PostgreSQL)."""
    c, p = e.config, e.config.policy
    return {
        "id": e.id,
        "app_id": e.app_id,
        "url": c.url,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "event_types": json.dumps(list(c.event_types)),
        "enabled": flag(e.enabled),
        "disabled_reason": e.disabled_reason,
        "scheme": c.scheme,
        "secrets_sealed": e.secrets_sealed,
        "headers": json.dumps(dict(c.headers)),
        "timeout_s": p.timeout_s,
        "rate_limit_per_s": p.rate_limit_per_s,
        "max_concurrency": p.max_concurrency,
        "retry_schedule": None if p.retry_schedule is None else json.dumps(list(p.retry_schedule)),
        "allow_insecure": flag(c.allow_insecure),
        "settings": json.dumps(c.sections()),
        "failing_since": e.failing_since,
        "version": e.version,
    }


def endpoint_from_row(row: Row) -> Endpoint:
    schedule = row["retry_schedule"]
    config = EndpointConfig(
        url=row["url"],
        event_types=tuple(json.loads(row["event_types"])),
        scheme=row["scheme"],
        headers=json.loads(row["headers"]),
        policy=DeliveryPolicy(
            timeout_s=row["timeout_s"],
            rate_limit_per_s=row["rate_limit_per_s"],
            max_concurrency=row["max_concurrency"],
            retry_schedule=None if schedule is None else tuple(json.loads(schedule)),
        ),
        allow_insecure=bool(row["allow_insecure"]),
        **EndpointConfig.restore_sections(json.loads(row["settings"])),
    )
    return Endpoint(
        id=row["id"],
        app_id=row["app_id"],
        config=config,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        secrets_sealed=bytes(row["secrets_sealed"]),
        failing_since=row["failing_since"],
        version=row["version"],
        deleted_at=row["deleted_at"],
    )


def message_from_row(row: Row) -> Message:
    return Message(
        id=row["id"],
        app_id=row["app_id"],
        event_type=row["event_type"],
        payload=bytes(row["payload"]),
        created_at=row["created_at"],
        idempotency_key=row["idempotency_key"],
        expunged_at=row["expunged_at"] if "expunged_at" in row.keys() else None,  # noqa: SIM118 - Row
    )


def delivery_from_row(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        message_id=row["message_id"],
        endpoint_id=row["endpoint_id"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        # absent from rows a query spelled column by column before migration 0009
        dead_reason=row["dead_reason"] if "dead_reason" in row.keys() else None,  # noqa: SIM118 - Row, not dict
    )


def attempt_from_row(row: Row) -> Attempt:
    return Attempt(
        delivery_id=row["delivery_id"],
        started_at=row["started_at"],
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        response_excerpt=row["response_excerpt"],
        error_class=row["error_class"],
        outcome=row["outcome"],
        id=row["id"],
        request_headers=json.loads(row["request_headers"]) if row["request_headers"] else {},
    )


def completion_params(r: AttemptResult) -> dict[str, Any]:
    """Parameters of the ``complete`` query for one worker result."""
    return {
        "status": r.status.value,
        "next_attempt_at": r.next_attempt_at,
        "attempted": int(r.attempted),
        "started_at": r.started_at,
        "delivery_id": r.delivery_id,
        "owner": r.owner,
    }


def first_per_lease(results: Sequence[AttemptResult]) -> list[AttemptResult]:
    """``results`` in order without later repeats of a (delivery, owner) pair.

    A repeat can never apply: if the first result for the pair applied it released the lease, and if it did
    not, the owner did not hold the lease. Dropping repeats leaves at most one result per delivery whose owner
    holds the lease, so a set-based ``complete`` applies exactly what the one-by-one loop would.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for r in results:
        key = (r.delivery_id, r.owner)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def completion_arrays(results: Sequence[AttemptResult]) -> dict[str, list[Any]]:
    """Parameters of PostgreSQL's batched ``complete`` query: one array per field, one element per result."""
    return {
        "delivery_ids": [r.delivery_id for r in results],
        "owners": [r.owner for r in results],
        "statuses": [r.status.value for r in results],
        "next_attempt_ats": [r.next_attempt_at for r in results],
        "attempted": [int(r.attempted) for r in results],
        "started_ats": [r.started_at for r in results],
        "durations_ms": [r.duration_ms for r in results],
        "status_codes": [r.status_code for r in results],
        "response_excerpts": [r.response_excerpt for r in results],
        "error_classes": [r.error_class for r in results],
        "outcomes": [r.outcome for r in results],
        "request_headers": [headers_json(r) for r in results],
    }


def attempt_params(r: AttemptResult) -> dict[str, Any]:
    """Parameters of the ``insert_attempt`` query for one worker result."""
    return {
        "delivery_id": r.delivery_id,
        "started_at": r.started_at,
        "duration_ms": r.duration_ms,
        "status_code": r.status_code,
        "response_excerpt": r.response_excerpt,
        "error_class": r.error_class,
        "outcome": r.outcome,
        "request_headers": headers_json(r),
    }


def headers_json(r: AttemptResult) -> str | None:
    """An attempt's recorded headers as stored: compact JSON, NULL when no request was sent."""
    return _compact_json(r.request_headers) if r.request_headers else None


_compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def decision_params(d: InboundDecision) -> dict[str, Any]:
    """Parameters of the ``insert_inbound_decision`` query."""
    return {
        "source": d.source,
        "at": d.at,
        "outcome": d.outcome,
        "reason": d.reason,
        "status": d.status,
        "peer": d.peer,
    }


def decision_from_row(row: Row) -> InboundDecision:
    return InboundDecision(
        source=row["source"],
        at=row["at"],
        outcome=row["outcome"],
        reason=row["reason"],
        status=row["status"],
        peer=row["peer"],
        id=row["id"],
    )


def decision_counts(decisions: Sequence[InboundDecision]) -> list[dict[str, Any]]:
    """Parameters of the ``count_inbound_decisions`` query: a batch summed per source, minute, outcome and
    reason (one upsert per group, not per decision)."""
    counts: dict[tuple[str, int, str, str], int] = {}
    for d in decisions:
        key = (d.source, int(d.at // 60), d.outcome, d.reason)
        counts[key] = counts.get(key, 0) + 1
    return [
        {"source": s, "minute": m, "outcome": o, "reason": r, "count": n}
        for (s, m, o, r), n in counts.items()
    ]


def signing_key_params(k: SigningKey) -> dict[str, Any]:
    """Parameters of the ``insert_signing_key`` query."""
    return {
        "kid": k.kid,
        "kind": k.kind,
        "alg": k.alg,
        "private_sealed": k.private_sealed,
        "public_jwk": k.public_jwk,
        "status": SigningKeyStatus(k.status).value,
        "created_at": k.created_at,
        "activated_at": k.activated_at,
        "retired_at": k.retired_at,
    }


def signing_key_from_row(row: Row) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        kind=row["kind"],
        alg=row["alg"],
        private_sealed=bytes(row["private_sealed"]),
        public_jwk=row["public_jwk"],
        status=SigningKeyStatus(row["status"]),
        created_at=row["created_at"],
        activated_at=row["activated_at"],
        retired_at=row["retired_at"],
    )


# -- management API: cursors, limits and the new records ---------------------------------------------------

MAX_LIMIT = 1000
# the start of a listing: before every real item (ids are non-empty, created_at finite, attempt ids < 2**63)
FIRST_POSITION: tuple[float, str] = (math.inf, "")
FIRST_ATTEMPT = 2**63 - 1


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidQueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def encode_cursor(kind: str, *position: float | str | int) -> str:
    """An opaque cursor: base64url (unpadded) of JSON ``[kind, *position]``."""
    raw = json.dumps([kind, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(kind: str, cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidQueryError("invalid cursor") from None
    if not isinstance(value, list) or not value or value[0] != kind:
        raise InvalidQueryError("invalid cursor")
    return value[1:]


def decode_position(kind: str, cursor: str | None) -> tuple[float, str]:
    """The (created_at, id) a ``kind`` cursor names; `FIRST_POSITION` for None.

    `InvalidQueryError` if malformed."""
    if cursor is None:
        return FIRST_POSITION
    value = _decode(kind, cursor)
    if (
        len(value) != 2
        or isinstance(value[0], bool)
        or not isinstance(value[0], int | float)
        or not math.isfinite(value[0])
        or not isinstance(value[1], str)
        or not value[1]
        or "\x00" in value[1]  # no id holds one, and PostgreSQL text cannot: same answer on every store
    ):
        raise InvalidQueryError("invalid cursor")
    return float(value[0]), value[1]


def decode_attempt_id(cursor: str | None) -> int:
    """The attempt id an attempts cursor names; `FIRST_ATTEMPT` for None. `InvalidQueryError` if malformed."""
    if cursor is None:
        return FIRST_ATTEMPT
    value = _decode("att", cursor)
    if len(value) != 1 or isinstance(value[0], bool) or not isinstance(value[0], int):
        raise InvalidQueryError("invalid cursor")
    if not 0 <= value[0] < FIRST_ATTEMPT:
        raise InvalidQueryError("invalid cursor")
    return value[0]


def page_of(
    kind: str, items: list[T], limit: int, position: Callable[[T], tuple[float | str | int, ...]]
) -> Page[T]:
    """A page of up to ``limit + 1`` items fetched in listing order; the extra one says there is more."""
    if len(items) <= limit:
        return Page(items, None)
    items = items[:limit]
    return Page(items, encode_cursor(kind, *position(items[-1])))


def application_from_row(row: Row) -> Application:
    return Application(id=row["id"], name=row["name"], created_at=row["created_at"])


def api_token_params(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "token_hash": bytes(t.token_hash),
        "scope": t.scope,
        "created_at": t.created_at,
        "revoked_at": t.revoked_at,
    }


def api_token_from_row(row: Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        token_hash=bytes(row["token_hash"]),
        scope=row["scope"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def event_type_params(e: EventType, *, flag: Callable[[bool], Any] = int) -> dict[str, Any]:
    return {
        "app_id": e.app_id,
        "name": e.name,
        "description": e.description,
        "archived": flag(e.archived),
        "created_at": e.created_at,
    }


def event_type_from_row(row: Row) -> EventType:
    return EventType(
        app_id=row["app_id"],
        name=row["name"],
        created_at=row["created_at"],
        description=row["description"],
        archived=bool(row["archived"]),
    )


def source_params(s: InboundSourceRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "config_sealed": bytes(s.config_sealed),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def source_from_row(row: Row) -> InboundSourceRecord:
    return InboundSourceRecord(
        id=row["id"],
        name=row["name"],
        config_sealed=bytes(row["config_sealed"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def console_session_params(s: ConsoleSession) -> dict[str, Any]:
    return {
        "id": s.id,
        "scope": s.scope,
        "capabilities": ",".join(s.capabilities),
        "created_at": s.created_at,
        "expires_at": s.expires_at,
        "link_hash": None if s.link_hash is None else bytes(s.link_hash),
        "session_hash": None if s.session_hash is None else bytes(s.session_hash),
        "created_by": s.created_by,
        "opened_at": s.opened_at,
        "revoked_at": s.revoked_at,
    }


def console_session_from_row(row: Row) -> ConsoleSession:
    link, session = row["link_hash"], row["session_hash"]
    return ConsoleSession(
        id=row["id"],
        scope=row["scope"],
        capabilities=tuple(c for c in row["capabilities"].split(",") if c),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        link_hash=None if link is None else bytes(link),
        session_hash=None if session is None else bytes(session),
        created_by=row["created_by"],
        opened_at=row["opened_at"],
        revoked_at=row["revoked_at"],
    )
