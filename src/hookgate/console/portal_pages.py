"""The consumer portal's own routes: opening a single-use link (which sets the portal session cookie) and
signing out. Its application pages are `hookgate.console.app_pages`, scoped to the session's application."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hookgate.console.forms import read_form
from hookgate.console.render import error_page
from hookgate.console.session import PORTAL, Viewer, clear_session_cookie, set_session_cookie
from hookgate.errors import NotFoundError

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["PAGES", "open_routes"]


async def open_link(request: Request) -> Response:
    """``GET /portal/open?token=...``: spend the link, set the session cookie, go to the portal."""
    hg: Hookgate = request.app.state.hookgate
    try:
        session, cookie = await hg.open_portal_link(request.query_params.get("token", ""))
    except NotFoundError:
        message = "This link has expired or was already used. Ask for a new link."
        return error_page(request, PORTAL, None, 410, message)
    response = RedirectResponse("/portal/", status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    lifetime = max(1, math.ceil(session.expires_at - (session.opened_at or session.created_at)))
    set_session_cookie(response, request, PORTAL, cookie, lifetime)
    return response


async def logout(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    await read_form(request, viewer.kind)
    await hg.revoke_console_session(viewer.session.id)
    response = error_page(request, PORTAL, None, 200, "You have left the portal.")
    clear_session_cookie(response, request, PORTAL)
    return response


def open_routes() -> list[BaseRoute]:
    return [Route("/portal/open", open_link, methods=["GET"], name="portal_open", include_in_schema=False)]


PAGES = (("POST", "/logout", logout),)
