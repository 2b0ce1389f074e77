"""The operator dashboard's own pages (``/ui/``, admin sessions): sign in with an admin token, sign out,
the overview, applications, API tokens, signing keys (JWKS) and inbound sources. Reads and actions are the
API's route functions, called with the session's admin `Principal`."""

from __future__ import annotations

import hmac
import math
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hookgate.api.routers import applications, signing_keys, sources, tokens
from hookgate.api.schemas import ApplicationIn, TokenIn
from hookgate.console import overview
from hookgate.console.forms import read_form
from hookgate.console.render import page, theme_css
from hookgate.console.session import (
    DASHBOARD,
    LOGIN_CSRF_COOKIE,
    Viewer,
    clear_session_cookie,
    new_login_csrf,
    set_session_cookie,
)
from hookgate.console.throttle import LoginThrottle
from hookgate.errors import NotFoundError

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["PAGES", "open_routes"]


async def login_form(request: Request, *, status: int = 200, message: str | None = None) -> Response:
    csrf = new_login_csrf()
    response = page(request, DASHBOARD, "login.html", status=status, csrf=csrf, message=message)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, max_age=3600, path="/ui/login", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


async def login(request: Request) -> Response:
    hg: Hookgate = request.app.state.hookgate
    address = request.client.host if request.client is not None else "unknown"
    throttle = _throttle(request)
    # refused before the token is even looked at, so a throttled guess learns nothing
    wait = throttle.retry_after(address, hg.now())
    if wait:
        message = f"Too many failed sign-ins from your address. Try again in {wait} seconds."
        response = await login_form(request, status=429, message=message)
        response.headers["Retry-After"] = str(wait)
        return response
    form = await read_form(request, DASHBOARD, csrf=False)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    # the sign-in form's token is double-submitted (there is no session yet to derive it from)
    if not expected or not hmac.compare_digest(expected, form.get("csrf")):
        return await login_form(request, status=403, message="The form was out of date: please try again.")
    try:
        session, cookie = await hg.start_admin_session(form.get("token"))
    except NotFoundError:
        throttle.failed(address, hg.now())
        return await login_form(request, status=401, message="That is not a valid admin token.")
    response = RedirectResponse("/ui/", status_code=303)
    set_session_cookie(
        response, request, DASHBOARD, cookie, math.ceil(session.expires_at - session.created_at)
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


async def theme(request: Request) -> Response:
    settings = request.app.state.hookgate.settings
    return Response(theme_css(settings), media_type="text/css", headers={"Cache-Control": "no-cache"})


async def logout(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    await read_form(request, viewer.kind)
    await hg.revoke_console_session(viewer.session.id)
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session_cookie(response, request, DASHBOARD)
    return response


async def app_list(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    cursor = request.query_params.get("cursor") or None
    found = await applications.list_applications(viewer.principal, hg, cursor=cursor, limit=50)
    return page(request, DASHBOARD, "apps.html", viewer, apps=found.items, next_cursor=found.next_cursor)


async def create_app(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, DASHBOARD)
    body = ApplicationIn(name=form.get("name"), id=form.get("id") or None)
    created = await applications.create_application(body, viewer.principal, hg)
    return RedirectResponse(f"/ui/apps/{created.id}/", status_code=303)


async def token_list(request: Request, hg: Hookgate, viewer: Viewer, *, shown: object = None) -> Response:
    found = await tokens.list_tokens(viewer.principal, hg)
    apps = await applications.list_applications(viewer.principal, hg, limit=1000)
    return page(request, DASHBOARD, "tokens.html", viewer, tokens=found, apps=apps.items, shown=shown)


async def create_token(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, DASHBOARD)
    created = await tokens.create_token(
        TokenIn(name=form.get("name"), scope=form.get("scope")), viewer.principal, hg
    )
    return await token_list(request, hg, viewer, shown=created)


async def revoke_token(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    await read_form(request, DASHBOARD)
    await tokens.revoke_token(request.path_params["token_id"], viewer.principal, hg)
    return RedirectResponse("/ui/tokens", status_code=303)


async def source_list(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    found = await sources.list_sources(viewer.principal, hg)
    last_hour = {
        s.id: (await sources.source_decisions(s.id, viewer.principal, hg, limit=1)).last_hour for s in found
    }
    return page(request, DASHBOARD, "sources.html", viewer, sources=found, last_hour=last_hour)


async def source_detail(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    """One source's recent decisions (optionally one reason's) and the last hour's counts by reason."""
    source_id = request.path_params["source_id"]
    source = await sources.get_source(source_id, viewer.principal, hg)
    reason = request.query_params.get("reason") or None
    found = await sources.source_decisions(source_id, viewer.principal, hg, limit=100, reason=reason)
    return page(
        request, DASHBOARD, "source.html", viewer, source=source, decisions=found, reason=reason or ""
    )


async def key_list(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    found = await signing_keys.list_signing_keys(viewer.principal, hg)
    return page(request, DASHBOARD, "keys.html", viewer, keys=found)


async def create_key(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, DASHBOARD)
    kind = form.get("kind") or "ed25519"
    body = signing_keys.SigningKeyIn(kind=kind, activate=False)  # type: ignore[arg-type]
    await signing_keys.create_signing_key(body, viewer.principal, hg)
    return RedirectResponse("/ui/keys", status_code=303)


async def key_action(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    await read_form(request, DASHBOARD)
    kid, action = request.path_params["kid"], request.path_params["action"]
    if action == "activate":
        await signing_keys.activate_signing_key(kid, viewer.principal, hg)
    elif action == "retire":
        await signing_keys.retire_signing_key(kid, viewer.principal, hg)
    else:
        raise NotFoundError("no such action")
    return RedirectResponse("/ui/keys", status_code=303)


def open_routes() -> list[BaseRoute]:
    return [
        Route("/ui/login", login_form, methods=["GET"], include_in_schema=False),
        Route("/ui/login", login, methods=["POST"], include_in_schema=False),
        Route("/ui/theme.css", theme, methods=["GET"], include_in_schema=False),
    ]


PAGES = (
    ("GET", "/", overview.overview_page),
    ("POST", "/logout", logout),
    ("GET", "/apps", app_list),
    ("POST", "/apps", create_app),
    ("GET", "/tokens", token_list),
    ("POST", "/tokens", create_token),
    ("POST", "/tokens/{token_id}/revoke", revoke_token),
    ("GET", "/sources", source_list),
    ("GET", "/sources/{source_id}", source_detail),
    ("GET", "/keys", key_list),
    ("POST", "/keys", create_key),
    ("POST", "/keys/{kid}/{action}", key_action),
)
