"""Row <-> record mapping shared by the SQL stores (sqlite3.Row and asyncpg.Record both index by name)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from hookgate.models import Attempt, Delivery, DeliveryStatus, Endpoint, Message, SigningKey, SigningKeyStatus
from hookgate.store.base import AttemptResult

Row = Any  # sqlite3.Row | asyncpg.Record: both support row["column"]


def endpoint_params(e: Endpoint, *, flag: Callable[[bool], Any] = int) -> dict[str, Any]:
    """Query parameters of an endpoint row; ``flag`` encodes booleans (int: SQLite, bool: PostgreSQL)."""
    return {
        "id": e.id,
        "app_id": e.app_id,
        "url": e.url,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "event_types": json.dumps(list(e.event_types)),
        "enabled": flag(e.enabled),
        "disabled_reason": e.disabled_reason,
        "scheme": e.scheme,
        "secrets_sealed": e.secrets_sealed,
        "headers": json.dumps(e.headers),
        "timeout_s": e.timeout_s,
        "rate_limit_per_s": e.rate_limit_per_s,
        "max_concurrency": e.max_concurrency,
        "retry_schedule": None if e.retry_schedule is None else json.dumps(list(e.retry_schedule)),
        "allow_insecure": flag(e.allow_insecure),
        "settings": json.dumps(e.settings),
        "failing_since": e.failing_since,
    }


def endpoint_from_row(row: Row) -> Endpoint:
    schedule = row["retry_schedule"]
    return Endpoint(
        id=row["id"],
        app_id=row["app_id"],
        url=row["url"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        event_types=tuple(json.loads(row["event_types"])),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        scheme=row["scheme"],
        secrets_sealed=bytes(row["secrets_sealed"]),
        headers=json.loads(row["headers"]),
        timeout_s=row["timeout_s"],
        rate_limit_per_s=row["rate_limit_per_s"],
        max_concurrency=row["max_concurrency"],
        retry_schedule=None if schedule is None else tuple(json.loads(schedule)),
        allow_insecure=bool(row["allow_insecure"]),
        settings=json.loads(row["settings"]),
        failing_since=row["failing_since"],
    )


def message_from_row(row: Row) -> Message:
    return Message(
        id=row["id"],
        app_id=row["app_id"],
        event_type=row["event_type"],
        payload=bytes(row["payload"]),
        created_at=row["created_at"],
        idempotency_key=row["idempotency_key"],
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
    }


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
