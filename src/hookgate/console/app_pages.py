"""The pages of one application, shared by the dashboard (``/ui/apps/{app_id}/...``) and the consumer portal
(``/portal/...``, the application of the session, never one from the URL).

Every read and every action is the API's own route function called with the viewer's `Principal`, so a page
shows exactly what the API answers, offers nothing the API lacks, and is tenant-checked by the API's lookups.
The portal's capabilities are checked here, before the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookgate.api.routers import attempts, endpoints, event_types, messages, portal
from hookgate.api.schemas import EventTypeIn, MessageIn
from hookgate.console.app_scope import Forbidden, app_of, base_of, need

# the shared helpers keep their old private names here, so the pages below read as before the split
from hookgate.console.app_scope import instant as _instant
from hookgate.console.app_scope import json_value as _payload
from hookgate.console.app_scope import number as _number
from hookgate.console.app_scope import render as _render
from hookgate.console.endpoint_pages import (
    create_endpoint,
    edit_endpoint,
    endpoint_action,
    endpoint_detail,
    new_endpoint,
)
from hookgate.console.forms import read_form
from hookgate.console.session import Viewer
from hookgate.models import DeliveryStatus

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["PAGES", "Forbidden"]


# -- the application's home: endpoints, event types, publish a test event, portal links ------------------


async def home(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    app = await app_of(request, hg, viewer)
    who = viewer.principal
    found = await endpoints.list_endpoints(app.id, who, hg)
    types = await event_types.list_event_types(app.id, who, hg)
    sessions = await portal.list_portal_sessions(app.id, who, hg) if viewer.is_admin else []
    return await _render(
        request, viewer, app, "app.html", endpoints=found, event_types=types, sessions=sessions
    )


async def publish_test(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    payload = _payload(form.get("payload"))
    body = MessageIn(event_type=form.get("event_type") or "hookgate.test", payload=payload)
    metrics = request.app.state.metrics
    sent = await messages.publish(app.id, body, viewer.principal, hg, metrics, idempotency_key=None)
    return RedirectResponse(f"{base_of(viewer, app)}/messages/{sent.message.id}", status_code=303)


async def put_event_type(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    if not viewer.is_admin:
        raise Forbidden("only the operator declares event types")
    app = await app_of(request, hg, viewer)
    body = EventTypeIn(
        name=form.get("name"), description=form.get("description"), archived=form.flag("archived")
    )
    await event_types.put_event_type(app.id, body, viewer.principal, hg)
    return RedirectResponse(f"{base_of(viewer, app)}/", status_code=303)


async def create_portal_link(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    if not viewer.is_admin:
        raise Forbidden("a portal session cannot make portal links")
    app = await app_of(request, hg, viewer)
    hours = _number(form.get("lifetime_h"), "lifetime", 1.0)
    body = portal.PortalIn(lifetime_s=hours * 3600.0, capabilities=form.all("capability"))  # type: ignore[arg-type]
    link = await portal.create_portal_link(app.id, body, request, viewer.principal, hg)
    return await _render(request, viewer, app, "portal_link.html", link=link)


async def revoke_portal_session(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    await read_form(request, viewer.kind)
    if not viewer.is_admin:
        raise Forbidden("a portal session cannot revoke portal sessions")
    app = await app_of(request, hg, viewer)
    await portal.revoke_portal_session(app.id, request.path_params["session_id"], viewer.principal, hg)
    return RedirectResponse(f"{base_of(viewer, app)}/", status_code=303)


# -- messages --------------------------------------------------------------------------------------------


async def message_list(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    app = await app_of(request, hg, viewer)
    q = request.query_params
    wanted = q.get("message_id", "").strip()
    if wanted:
        return RedirectResponse(f"{base_of(viewer, app)}/messages/{wanted}", status_code=303)
    status_text = q.get("status", "")
    status = DeliveryStatus(status_text) if status_text in set(DeliveryStatus) else None
    found = await messages.list_messages(
        app.id,
        viewer.principal,
        hg,
        event_type=q.get("event_type") or None,
        since=_instant(q.get("since", ""), "since"),
        until=_instant(q.get("until", ""), "until"),
        cursor=q.get("cursor") or None,
        limit=25,
        status=status,
        idempotency_key=q.get("idempotency_key", "").strip() or None,
    )
    filters = {k: q.get(k, "") for k in ("event_type", "status", "since", "until", "idempotency_key")}
    next_query = urlencode({k: v for k, v in filters.items() if v})
    return await _render(
        request,
        viewer,
        app,
        "messages.html",
        messages=found.items,
        next_cursor=found.next_cursor,
        filters=filters,
        next_query=next_query,
        statuses=[s.value for s in DeliveryStatus],
        event_types=await event_types.list_event_types(app.id, viewer.principal, hg),
    )


async def message_detail(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    app = await app_of(request, hg, viewer)
    message_id = request.path_params["message_id"]
    who = viewer.principal
    found = await messages.get_message(app.id, message_id, who, hg)
    deliveries = await attempts.message_deliveries(app.id, message_id, who, hg)
    tried = await attempts.message_attempts(app.id, message_id, who, hg, limit=200)
    by_delivery: dict[str, list[Any]] = {}
    for attempt in tried.items:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return await _render(
        request, viewer, app, "message.html", message=found, deliveries=deliveries, attempts=by_delivery
    )


async def resend_delivery(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    await read_form(request, viewer.kind)
    need(viewer, "resend")
    app = await app_of(request, hg, viewer)
    delivery = await messages.resend(app.id, request.path_params["delivery_id"], viewer.principal, hg)
    return RedirectResponse(f"{base_of(viewer, app)}/messages/{delivery.message_id}", status_code=303)


# (method, path under the application's base, page)
PAGES = (
    ("GET", "/", home),
    ("POST", "/test-event", publish_test),
    ("POST", "/event-types", put_event_type),
    ("POST", "/portal-links", create_portal_link),
    ("POST", "/portal-sessions/{session_id}/revoke", revoke_portal_session),
    ("GET", "/endpoints/new", new_endpoint),
    ("POST", "/endpoints", create_endpoint),
    ("GET", "/endpoints/{endpoint_id}", endpoint_detail),
    ("GET", "/endpoints/{endpoint_id}/edit", edit_endpoint),
    ("POST", "/endpoints/{endpoint_id}/{action}", endpoint_action),
    ("GET", "/messages", message_list),
    ("GET", "/messages/{message_id}", message_detail),
    ("POST", "/deliveries/{delivery_id}/resend", resend_delivery),
)
