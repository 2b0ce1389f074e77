"""Inbound sources over the API (admin only): the `Hookgate` source services, validated and stored sealed.

Reads return the public settings only, never a secret or a key (a TLS client key neither).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import BaseModel, Field

from hookgate.api.auth import Auth, require_admin
from hookgate.api.deps import HG, resource_router
from hookgate.api.schemas import SourceIn, SourceOut
from hookgate.client import ManagedSource
from hookgate.services.sources import DECISIONS_KEPT

__all__ = ["router"]

router = resource_router("/api/v1/sources", "sources")


# the decisions' schemas live here, beside their one route
class DecisionOut(BaseModel):
    at: float
    outcome: str = Field(description="accepted, duplicate, rejected or handler_failed")
    reason: str = Field(description="why: ok, duplicate, or the refusal's cause (the audit log's reason)")
    status: int | None
    peer: str | None = Field(description="the client address the source trusted")


class DecisionCount(BaseModel):
    outcome: str
    reason: str
    count: int


class DecisionsOut(BaseModel):
    items: list[DecisionOut] = Field(description="the most recent decisions, newest first")
    last_hour: list[DecisionCount] = Field(
        description="every decision of the last hour by outcome and reason"
    )


def _public_tls(tls: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (tls or {}).items() if k != "client_key"}


def _out(managed: ManagedSource) -> SourceOut:
    record, source = managed.record, managed.source
    return SourceOut(
        id=record.id,
        name=record.name,
        scheme=source.scheme,
        path=source.path,
        forward_to=source.forward_to,
        forward_tls=_public_tls(source.forward_tls),
        event_id=source.event_id,
        tolerance_s=source.tolerance_s,
        allow_ips=list(source.allow_ips),
        trusted_proxies=list(source.trusted_proxies),
        rate_limit_per_s=source.rate_limit_per_s,
        max_body_bytes=source.max_body_bytes,
        require_https=source.require_https,
        jwks_url=source.jwks_url,
        jwks_tls=_public_tls(source.jwks_tls),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _settings(body: SourceIn) -> dict[str, Any]:
    return body.model_dump(exclude_none=True, exclude={"name"})


@router.post("", status_code=201)
async def create_source(body: SourceIn, who: Auth, hg: HG) -> SourceOut:
    require_admin(who)
    return _out(await hg.create_source(body.name, _settings(body)))


@router.get("")
async def list_sources(who: Auth, hg: HG) -> list[SourceOut]:
    require_admin(who)
    return [_out(managed) for managed in await hg.list_sources()]


@router.get("/{source_id}")
async def get_source(source_id: str, who: Auth, hg: HG) -> SourceOut:
    require_admin(who)
    return _out(await hg.get_source(source_id))


@router.get("/{source_id}/decisions")
async def source_decisions(
    source_id: str,
    who: Auth,
    hg: HG,
    limit: Annotated[int, Query(ge=1, le=DECISIONS_KEPT)] = 50,
    reason: Annotated[str | None, Query(max_length=128)] = None,
) -> DecisionsOut:
    """The source's recent accept/refuse decisions (newest first, optionally one reason's) and every
    decision of the last hour counted by outcome and reason."""
    require_admin(who)
    recent = await hg.source_decisions(source_id, reason=reason, limit=limit)
    counts = await hg.source_decision_counts(source_id, since_s=3600.0)
    return DecisionsOut(
        items=[
            DecisionOut(at=d.at, outcome=d.outcome, reason=d.reason, status=d.status, peer=d.peer)
            for d in recent
        ],
        last_hour=[DecisionCount(outcome=o, reason=r, count=n) for o, r, n in counts],
    )


@router.put("/{source_id}")
async def replace_source(source_id: str, body: SourceIn, who: Auth, hg: HG) -> SourceOut:
    require_admin(who)
    return _out(await hg.replace_source(source_id, body.name, _settings(body)))


@router.delete("/{source_id}", status_code=204)
async def delete_source(source_id: str, who: Auth, hg: HG) -> Response:
    require_admin(who)
    await hg.delete_source(source_id)
    return Response(status_code=204)
