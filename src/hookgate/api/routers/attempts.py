"""Delivery records: an endpoint's or a message's attempts and deliveries (read-only, paged)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, endpoint_of, message_of, resource_router
from hookgate.api.schemas import AttemptPage, DeliveryOut, DeliveryPage, attempt_out, delivery_out
from hookgate.models import DeliveryStatus

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}", "attempts")

Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/endpoints/{endpoint_id}/attempts")
async def endpoint_attempts(
    app_id: str, endpoint_id: str, who: Auth, hg: HG, cursor: str | None = None, limit: Limit = 50
) -> AttemptPage:
    await endpoint_of(hg, who, app_id, endpoint_id)
    page = await hg.list_endpoint_attempts(endpoint_id, cursor=cursor, limit=limit)
    return AttemptPage(items=[attempt_out(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/endpoints/{endpoint_id}/deliveries")
async def endpoint_deliveries(
    app_id: str,
    endpoint_id: str,
    who: Auth,
    hg: HG,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> DeliveryPage:
    await endpoint_of(hg, who, app_id, endpoint_id)
    page = await hg.list_endpoint_deliveries(endpoint_id, status=status, cursor=cursor, limit=limit)
    return DeliveryPage(items=[delivery_out(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/messages/{message_id}/attempts")
async def message_attempts(
    app_id: str, message_id: str, who: Auth, hg: HG, cursor: str | None = None, limit: Limit = 50
) -> AttemptPage:
    await message_of(hg, who, app_id, message_id)
    page = await hg.list_message_attempts(message_id, cursor=cursor, limit=limit)
    return AttemptPage(items=[attempt_out(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/messages/{message_id}/deliveries")
async def message_deliveries(app_id: str, message_id: str, who: Auth, hg: HG) -> list[DeliveryOut]:
    await message_of(hg, who, app_id, message_id)
    return [delivery_out(d) for d in await hg.list_deliveries(message_id)]
