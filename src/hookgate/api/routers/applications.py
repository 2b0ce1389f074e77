"""Applications (tenants): create (admin), list, read, rename."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from hookgate.api.auth import Auth, require_admin
from hookgate.api.deps import HG, application, resource_router
from hookgate.api.schemas import ApplicationIn, ApplicationOut, ApplicationPage, ApplicationRename, app_out

__all__ = ["router"]

router = resource_router("/api/v1/applications", "applications")


@router.post("", status_code=201)
async def create_application(body: ApplicationIn, who: Auth, hg: HG) -> ApplicationOut:
    require_admin(who)
    return app_out(await hg.create_application(body.name, app_id=body.id))


@router.get("")
async def list_applications(
    who: Auth, hg: HG, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> ApplicationPage:
    if not who.is_admin:
        own = await hg.get_application(who.scope)
        return ApplicationPage(items=[app_out(own)], next_cursor=None)
    page = await hg.list_applications(cursor=cursor, limit=limit)
    return ApplicationPage(items=[app_out(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/{app_id}")
async def get_application(app_id: str, who: Auth, hg: HG) -> ApplicationOut:
    return app_out(await application(hg, who, app_id))


@router.put("/{app_id}")
async def rename_application(app_id: str, body: ApplicationRename, who: Auth, hg: HG) -> ApplicationOut:
    await application(hg, who, app_id)
    return app_out(await hg.rename_application(app_id, body.name))
