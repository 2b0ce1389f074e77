"""An application's event types: declare or update one (upsert by name), list them."""

from __future__ import annotations

import time

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, application, resource_router
from hookgate.api.schemas import EventTypeIn, EventTypeOut, event_type_out
from hookgate.models import EventType

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}/event-types", "event types")


@router.put("")
async def put_event_type(app_id: str, body: EventTypeIn, who: Auth, hg: HG) -> EventTypeOut:
    await application(hg, who, app_id)
    et = EventType(app_id, body.name, time.time(), body.description, body.archived)
    return event_type_out(await hg.store.put_event_type(et))


@router.get("")
async def list_event_types(app_id: str, who: Auth, hg: HG) -> list[EventTypeOut]:
    await application(hg, who, app_id)
    return [event_type_out(e) for e in await hg.store.list_event_types(app_id)]
