"""An application's event types: declare or update one (upsert by name), list them."""

from __future__ import annotations

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, application, resource_router
from hookgate.api.schemas import EventTypeIn, EventTypeOut, event_type_out

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}/event-types", "event types")


@router.put("")
async def put_event_type(app_id: str, body: EventTypeIn, who: Auth, hg: HG) -> EventTypeOut:
    await application(hg, who, app_id)
    saved = await hg.put_event_type(app_id, body.name, description=body.description, archived=body.archived)
    return event_type_out(saved)


@router.get("")
async def list_event_types(app_id: str, who: Auth, hg: HG) -> list[EventTypeOut]:
    await application(hg, who, app_id)
    return [event_type_out(e) for e in await hg.list_event_types(app_id)]
