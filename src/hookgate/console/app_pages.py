"""The pages of one application, shared by the dashboard (``/ui/apps/{app_id}/...``) and the consumer portal
(``/portal/...``, the application of the session, never one from the URL).

Every read and every action is the API's own route function called with the viewer's `Principal`, so a page
shows exactly what the API answers, offers nothing the API lacks, and is tenant-checked by the API's lookups.
The portal's capabilities are checked here, before the call.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookgate.api.deps import application
from hookgate.api.routers import attempts, endpoints, event_types, messages, portal
from hookgate.api.schemas import (
    DisableIn,
    EndpointIn,
    EndpointPatch,
    EventTypeIn,
    MessageIn,
    RecoverIn,
    ResendIn,
    RotateIn,
    TestEventIn,
)
from hookgate.config.signing import SIGNATURE_SCHEMES
from hookgate.console.forms import read_form
from hookgate.console.render import page
from hookgate.console.session import Viewer
from hookgate.errors import ConfigError
from hookgate.models import Application, DeliveryStatus

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["PAGES"]

SCHEME_HELP = {
    "standard-webhooks": "Signed with a shared secret (HMAC-SHA256), Standard Webhooks headers. Recommended.",
    "standard-webhooks-ed25519": "Standard Webhooks headers, signed with a private key; you verify with "
    "the public key.",
    "github": "Signed like GitHub: X-Hub-Signature-256 with a shared secret.",
    "shopify": "Signed like Shopify: X-Shopify-Hmac-Sha256 with a shared secret.",
    "slack": "Signed like Slack: X-Slack-Signature v0= with a shared secret.",
    "none": "Not signed: use only when the receiver authenticates hookgate another way.",
}
AUTH_HELP = {
    "none": "No credential besides the signature.",
    "api_key": "A fixed key sent in a header you name (for example X-API-Key).",
    "basic": "HTTP Basic authentication: a user name and password.",
    "bearer": "A fixed bearer token in the Authorization header.",
}


class Forbidden(ConfigError):
    """The portal session was not given the capability this needs."""


def need(viewer: Viewer, capability: str) -> None:
    if not viewer.can(capability):
        raise Forbidden(f"this portal link does not allow that ({capability})")


async def app_of(request: Request, hg: Hookgate, viewer: Viewer) -> Application:
    app_id = request.path_params["app_id"] if viewer.is_admin else viewer.session.scope
    return await application(hg, viewer.principal, app_id)


def base_of(viewer: Viewer, app: Application) -> str:
    return f"/ui/apps/{app.id}" if viewer.is_admin else "/portal"


def _instant(text: str, what: str) -> float | None:
    """A ``datetime-local`` form value (UTC) as a timestamp."""
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what} must be a date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def _number(text: str, what: str, default: float) -> float:
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number") from None


async def _render(request: Request, viewer: Viewer, app: Application, template: str, **ctx: Any) -> Response:
    return page(request, viewer.kind, template, viewer, app=app, base=base_of(viewer, app), **ctx)


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


def _payload(text: str, default: str | None = "{}") -> Any:
    """A JSON form field (``default`` when left empty)."""
    if not text and default is None:
        return None
    try:
        return json.loads(text or default or "{}")
    except ValueError:
        raise ConfigError("the payload must be JSON") from None


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


# -- endpoints -------------------------------------------------------------------------------------------


async def new_endpoint(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    types = await event_types.list_event_types(app.id, viewer.principal, hg)
    schemes = [(s, SCHEME_HELP[s]) for s in SIGNATURE_SCHEMES if s in SCHEME_HELP]
    return await _render(
        request, viewer, app, "endpoint_new.html", event_types=types, schemes=schemes, auths=AUTH_HELP
    )


def _auth_of(form: Any, viewer: Viewer) -> dict[str, Any] | None:
    kind = form.get("auth_type") or "none"
    if kind == "none":
        return None
    values = {
        "api_key": {"header": form.get("auth_header") or "X-API-Key", "key": form.get("auth_secret")},
        "basic": {"username": form.get("auth_username"), "password": form.get("auth_secret")},
        "bearer": {"token": form.get("auth_secret")},
    }.get(kind)
    if values is None:
        raise ConfigError(f"unknown authentication {kind!r}")
    # env:/file: references are refused for tenants by the API route this form calls
    return {"type": kind, **values}


async def create_endpoint(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    chosen = form.all("event_type") + [
        t.strip() for t in form.get("event_types_extra").split(",") if t.strip()
    ]
    body = EndpointIn(
        url=form.get("url"),
        event_types=chosen,
        scheme=form.get("scheme") or "standard-webhooks",
        timeout_s=_number(form.get("timeout_s"), "timeout", 15.0),
        allow_insecure=viewer.is_admin and form.flag("allow_insecure"),
        auth=_auth_of(form, viewer),
    )
    created = await endpoints.create_endpoint(app.id, body, viewer.principal, hg)
    return await _render(
        request, viewer, app, "secret.html", endpoint=created.endpoint, secret=created.secret, created=True
    )


async def endpoint_detail(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    app = await app_of(request, hg, viewer)
    endpoint_id = request.path_params["endpoint_id"]
    who = viewer.principal
    found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
    health = await endpoints.endpoint_health(app.id, endpoint_id, who, hg, request.app.state.circuit_states)
    recent = await attempts.endpoint_attempts(app.id, endpoint_id, who, hg, limit=20)
    deliveries = await attempts.endpoint_deliveries(app.id, endpoint_id, who, hg, limit=20)
    return await _render(
        request,
        viewer,
        app,
        "endpoint.html",
        endpoint=found,
        config=found.model_dump(exclude={"id", "app_id", "created_at", "updated_at", "failing_since"}),
        health=health,
        attempts=recent.items,
        deliveries=deliveries.items,
    )


async def edit_endpoint(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    found = await endpoints.get_endpoint(app.id, request.path_params["endpoint_id"], viewer.principal, hg)
    return await _render(request, viewer, app, "endpoint_edit.html", endpoint=found)


def _patch_of(form: Any) -> EndpointPatch:
    """Only the fields the form changes: an empty limit means "no limit"."""
    changes: dict[str, Any] = {
        "url": form.get("url"),
        "event_types": [t.strip() for t in form.get("event_types").split(",") if t.strip()],
        "timeout_s": _number(form.get("timeout_s"), "timeout", 15.0),
        "rate_limit_per_s": _number(form.get("rate_limit_per_s"), "rate limit", 0.0) or None,
    }
    concurrency = form.get("max_concurrency")
    if concurrency and not concurrency.isdigit():
        raise ConfigError("max concurrency must be a whole number")
    changes["max_concurrency"] = int(concurrency) if concurrency else None
    return EndpointPatch(**changes)


async def endpoint_action(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    app = await app_of(request, hg, viewer)
    endpoint_id = request.path_params["endpoint_id"]
    action = request.path_params["action"]
    who = viewer.principal
    back = RedirectResponse(f"{base_of(viewer, app)}/endpoints/{endpoint_id}", status_code=303)
    if action == "edit":
        need(viewer, "manage_endpoints")
        await endpoints.update_endpoint(app.id, endpoint_id, _patch_of(form), who, hg)
    elif action == "disable":
        need(viewer, "manage_endpoints")
        reason = form.get("reason") or "disabled in the console"
        await endpoints.disable_endpoint(app.id, endpoint_id, DisableIn(reason=reason), who, hg)
    elif action == "enable":
        need(viewer, "manage_endpoints")
        await endpoints.enable_endpoint(app.id, endpoint_id, who, hg)
    elif action == "test":
        need(viewer, "manage_endpoints")
        body = TestEventIn(
            event_type=form.get("event_type") or "webhook.test", payload=_payload(form.get("payload"), None)
        )
        sent = await endpoints.send_test_event(app.id, endpoint_id, body, who, hg)
        return RedirectResponse(f"{base_of(viewer, app)}/messages/{sent.message.id}", status_code=303)
    elif action == "delete":
        need(viewer, "manage_endpoints")
        if form.get("confirm") != "yes":
            found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
            return await _render(request, viewer, app, "confirm_delete.html", endpoint=found)
        await endpoints.delete_endpoint(app.id, endpoint_id, who, hg)
        return RedirectResponse(f"{base_of(viewer, app)}/", status_code=303)
    elif action == "rotate":
        need(viewer, "secrets")
        grace = _number(form.get("grace_h"), "grace", 24.0) * 3600.0
        rotated = await endpoints.rotate_secret(app.id, endpoint_id, RotateIn(grace_s=grace), who, hg)
        found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
        return await _render(
            request, viewer, app, "secret.html", endpoint=found, secret=rotated.secret, grace_s=grace
        )
    elif action == "recover":
        need(viewer, "resend")
        since = _instant(form.get("since"), "since")
        if since is None:
            raise ConfigError("choose the time to recover from")
        done = await endpoints.recover(app.id, endpoint_id, RecoverIn(since=since), who, hg)
        return await _render(request, viewer, app, "done.html", message=f"{done.recovered} queued again")
    elif action == "resend":
        need(viewer, "resend")
        status: Literal["dead", "failed"] = "failed" if form.get("status") == "failed" else "dead"
        confirmed = form.get("confirm") == "yes"
        result = await endpoints.resend_endpoint(
            app.id, endpoint_id, ResendIn(status=status, dry_run=not confirmed), who, hg
        )
        if not confirmed:
            found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
            return await _render(
                request,
                viewer,
                app,
                "confirm_resend.html",
                endpoint=found,
                status=status,
                count=result.resent,
            )
        return await _render(
            request, viewer, app, "done.html", message=f"{result.resent} deliveries queued again"
        )
    else:
        raise ConfigError(f"unknown action {action!r}")
    return back


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
