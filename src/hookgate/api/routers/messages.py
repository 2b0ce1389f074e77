"""An application's messages: publish (idempotent by key), list and filter, read, resend a delivery, expunge
payloads (one message, or the application's messages older than a time)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, MetricsDep, application, delivery_of, message_of, resource_router
from hookgate.api.schemas import (
    DeliveryOut,
    ExpungeIn,
    ExpungeOut,
    MessageIn,
    MessageOut,
    MessagePage,
    PublishOut,
    delivery_out,
    message_out,
)
from hookgate.models import DeliveryStatus

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}", "messages")


@router.post("/messages", status_code=202)
async def publish(
    app_id: str,
    body: MessageIn,
    who: Auth,
    hg: HG,
    metrics: MetricsDep,
    idempotency_key: Annotated[str | None, Header(max_length=256)] = None,
) -> PublishOut:
    await application(hg, who, app_id)
    result = await hg.publish(app_id, body.event_type, body.payload, idempotency_key=idempotency_key)
    if not result.duplicate:
        metrics.published.labels(app=app_id).inc()
    return PublishOut(
        message=message_out(result.message),
        deliveries=[delivery_out(d) for d in result.deliveries],
        duplicate=result.duplicate,
    )


@router.get("/messages")
async def list_messages(
    app_id: str,
    who: Auth,
    hg: HG,
    event_type: str | None = None,
    since: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    until: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: DeliveryStatus | None = None,
    idempotency_key: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
) -> MessagePage:
    await application(hg, who, app_id)
    page = await hg.list_messages(
        app_id,
        event_type=event_type,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
        status=status,
        idempotency_key=idempotency_key,
    )
    return MessagePage(items=[message_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.post("/messages/expunge")
async def expunge_messages(app_id: str, body: ExpungeIn, who: Auth, hg: HG) -> ExpungeOut:
    await application(hg, who, app_id)
    return ExpungeOut(expunged=await hg.expunge_messages(app_id, before=body.before))


@router.post("/messages/{message_id}/expunge")
async def expunge_message(app_id: str, message_id: str, who: Auth, hg: HG) -> MessageOut:
    await message_of(hg, who, app_id, message_id)
    return message_out(await hg.expunge_message(message_id))


@router.get("/messages/{message_id}")
async def get_message(app_id: str, message_id: str, who: Auth, hg: HG) -> MessageOut:
    return message_out(await message_of(hg, who, app_id, message_id))


@router.post("/deliveries/{delivery_id}/resend")
async def resend(app_id: str, delivery_id: str, who: Auth, hg: HG) -> DeliveryOut:
    await delivery_of(hg, who, app_id, delivery_id)
    return delivery_out(await hg.resend(delivery_id))
