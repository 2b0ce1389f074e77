"""Consumer portal links of an application: create a single-use link, list the portal sessions, revoke one.

The link opens `hookgate.console`'s portal for that one application; the token in it is shown only in this
answer (stored as a hash). Admin tokens and the application's own token may use these routes.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, application, resource_router
from hookgate.api.schemas import Strict
from hookgate.errors import NotFoundError
from hookgate.models import ConsoleSession
from hookgate.services.console import DEFAULT_PORTAL_LIFETIME_S, MAX_PORTAL_LIFETIME_S

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}/portal", "portal")

Capability = Literal["view", "manage_endpoints", "secrets", "resend"]


class PortalIn(Strict):
    lifetime_s: float = Field(
        default=DEFAULT_PORTAL_LIFETIME_S,
        gt=0,
        le=MAX_PORTAL_LIFETIME_S,
        description="how long the link can be opened, and the session it opens lasts (at most 7 days)",
    )
    capabilities: list[Capability] = Field(
        default_factory=lambda: ["view"],  # type: ignore[arg-type]
        max_length=4,
        description="view (always included), manage_endpoints, secrets (rotate and reveal), resend",
    )


class PortalLink(BaseModel):
    url: str = Field(description="The single-use link, shown only now")
    expires_at: float
    session_id: str
    capabilities: list[str]


class PortalSessionOut(BaseModel):
    id: str
    app_id: str
    capabilities: list[str]
    created_at: float
    expires_at: float
    opened_at: float | None
    revoked_at: float | None
    created_by: str | None


def session_out(s: ConsoleSession) -> PortalSessionOut:
    return PortalSessionOut(
        id=s.id,
        app_id=s.scope,
        capabilities=list(s.capabilities),
        created_at=s.created_at,
        expires_at=s.expires_at,
        opened_at=s.opened_at,
        revoked_at=s.revoked_at,
        created_by=s.created_by,
    )


@router.post("", status_code=201)
async def create_portal_link(app_id: str, body: PortalIn, request: Request, who: Auth, hg: HG) -> PortalLink:
    await application(hg, who, app_id)
    record, link = await hg.create_portal_link(
        app_id, lifetime_s=body.lifetime_s, capabilities=body.capabilities, created_by=who.token_id
    )
    url = str(request.url_for("portal_open").include_query_params(token=link))
    return PortalLink(
        url=url, expires_at=record.expires_at, session_id=record.id, capabilities=list(record.capabilities)
    )


@router.get("/sessions")
async def list_portal_sessions(app_id: str, who: Auth, hg: HG) -> list[PortalSessionOut]:
    await application(hg, who, app_id)
    return [session_out(s) for s in await hg.list_console_sessions(app_id)]


@router.post("/sessions/{session_id}/revoke")
async def revoke_portal_session(app_id: str, session_id: str, who: Auth, hg: HG) -> PortalSessionOut:
    await application(hg, who, app_id)
    if not any(s.id == session_id for s in await hg.list_console_sessions(app_id)):
        raise NotFoundError("no such resource")  # another application's session does not exist here
    return session_out(await hg.revoke_console_session(session_id))
