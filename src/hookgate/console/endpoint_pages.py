"""An application's endpoint pages, dashboard and portal alike: the create and edit forms (a refusal by the
API shows the form again, 422, with the message beside the part it is about and everything typed except
secrets), the endpoint's page, and its actions (disable, enable, test event, delete, rotate, recover,
resend). Each calls the API's route function with the viewer's principal; the form mapping is
`hookgate.console.endpoint_forms`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hookgate.api.routers import attempts, endpoints, event_types
from hookgate.api.schemas import DisableIn, EndpointOut, RecoverIn, ResendIn, RotateIn, TestEventIn
from hookgate.console import endpoint_forms as ef
from hookgate.console.app_scope import Forbidden, app_of, base_of, instant, json_value, need, number, render
from hookgate.console.forms import Form, read_form
from hookgate.console.session import Viewer
from hookgate.errors import ConfigError
from hookgate.models import Application

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = [
    "create_endpoint",
    "edit_endpoint",
    "endpoint_action",
    "endpoint_detail",
    "new_endpoint",
]

_CHOICES = {
    "schemes": ef.SCHEME_CHOICES,
    "scheme_options": ef.SCHEME_OPTIONS,
    "key_schemes": ef.KEY_SCHEMES,
    "auths": ef.AUTH_CHOICES,
    "auth_methods": ef.AUTH_METHODS,
    "payloads": ef.PAYLOAD_CHOICES,
    "jwe_algs": ef.JWE_ALGS,
    "tls_versions": ef.TLS_VERSIONS,
}


async def _form_page(
    request: Request,
    hg: Hookgate,
    viewer: Viewer,
    app: Application,
    *,
    template: str,
    values: dict[str, Any],
    error: str | None = None,
    **ctx: Any,
) -> Response:
    types = await event_types.list_event_types(app.id, viewer.principal, hg)
    return await render(
        request,
        viewer,
        app,
        template,
        http_status=422 if error else 200,
        event_types=[t for t in types if not t.archived],
        v=values,
        editing=template == "endpoint_edit.html",
        error=error,
        error_at=ef.error_section(error) if error else None,
        **_CHOICES,
        **ctx,
    )


def _refusal(exc: Exception, form: Form) -> str:
    text = ef.validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
    return ef.scrub(text, form)


async def new_endpoint(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    return await _form_page(request, hg, viewer, app, template="endpoint_new.html", values={})


async def create_endpoint(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    try:
        created = await endpoints.create_endpoint(app.id, ef.endpoint_in(form), viewer.principal, hg)
    except Forbidden:
        raise
    except (ConfigError, ValidationError) as exc:
        # the API answers these with 422: show the form again, as typed, minus the secrets
        values = ef.typed_values(form)
        return await _form_page(
            request, hg, viewer, app, template="endpoint_new.html", values=values, error=_refusal(exc, form)
        )
    return await render(
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
    return await render(
        request,
        viewer,
        app,
        "endpoint.html",
        endpoint=found,
        config=found.model_dump(
            exclude={
                "id",
                "app_id",
                "created_at",
                "updated_at",
                "failing_since",
                "auth_type",
                "payload_format",
            }
        ),
        health=health,
        attempts=recent.items,
        deliveries=deliveries.items,
    )


async def _edit_values(app: Application, viewer: Viewer, hg: Hookgate, found: EndpointOut) -> dict[str, Any]:
    types = await event_types.list_event_types(app.id, viewer.principal, hg)
    return ef.values_of(found, [t.name for t in types if not t.archived])


async def edit_endpoint(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    need(viewer, "manage_endpoints")
    app = await app_of(request, hg, viewer)
    found = await endpoints.get_endpoint(app.id, request.path_params["endpoint_id"], viewer.principal, hg)
    values = await _edit_values(app, viewer, hg, found)
    return await _form_page(
        request, hg, viewer, app, template="endpoint_edit.html", values=values, endpoint=found
    )


async def _save_edit(
    request: Request, hg: Hookgate, viewer: Viewer, app: Application, form: Form
) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    who = viewer.principal
    found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
    try:
        await endpoints.update_endpoint(app.id, endpoint_id, ef.endpoint_patch(form), who, hg)
    except Forbidden:
        raise
    except (ConfigError, ValidationError) as exc:
        values = ef.typed_values(form) | {"scheme": found.scheme}
        return await _form_page(
            request,
            hg,
            viewer,
            app,
            template="endpoint_edit.html",
            values=values,
            error=_refusal(exc, form),
            endpoint=found,
        )
    return RedirectResponse(f"{base_of(viewer, app)}/endpoints/{endpoint_id}", status_code=303)


async def endpoint_action(request: Request, hg: Hookgate, viewer: Viewer) -> Response:
    form = await read_form(request, viewer.kind)
    app = await app_of(request, hg, viewer)
    endpoint_id = request.path_params["endpoint_id"]
    action = request.path_params["action"]
    who = viewer.principal
    back = RedirectResponse(f"{base_of(viewer, app)}/endpoints/{endpoint_id}", status_code=303)
    if action == "edit":
        need(viewer, "manage_endpoints")
        return await _save_edit(request, hg, viewer, app, form)
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
            event_type=form.get("event_type") or "webhook.test", payload=json_value(form.get("payload"), None)
        )
        sent = await endpoints.send_test_event(app.id, endpoint_id, body, who, hg)
        return RedirectResponse(f"{base_of(viewer, app)}/messages/{sent.message.id}", status_code=303)
    elif action == "delete":
        need(viewer, "manage_endpoints")
        if form.get("confirm") != "yes":
            found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
            return await render(request, viewer, app, "confirm_delete.html", endpoint=found)
        await endpoints.delete_endpoint(app.id, endpoint_id, who, hg)
        return RedirectResponse(f"{base_of(viewer, app)}/", status_code=303)
    elif action == "rotate":
        need(viewer, "secrets")
        grace = number(form.get("grace_h"), "grace", 24.0) * 3600.0
        rotated = await endpoints.rotate_secret(app.id, endpoint_id, RotateIn(grace_s=grace), who, hg)
        found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
        return await render(
            request, viewer, app, "secret.html", endpoint=found, secret=rotated.secret, grace_s=grace
        )
    elif action == "recover":
        need(viewer, "resend")
        since = instant(form.get("since"), "since")
        if since is None:
            raise ConfigError("choose the time to recover from")
        done = await endpoints.recover(app.id, endpoint_id, RecoverIn(since=since), who, hg)
        return await render(request, viewer, app, "done.html", message=f"{done.recovered} queued again")
    elif action == "resend":
        need(viewer, "resend")
        status: Literal["dead", "failed"] = "failed" if form.get("status") == "failed" else "dead"
        confirmed = form.get("confirm") == "yes"
        result = await endpoints.resend_endpoint(
            app.id, endpoint_id, ResendIn(status=status, dry_run=not confirmed), who, hg
        )
        if not confirmed:
            found = await endpoints.get_endpoint(app.id, endpoint_id, who, hg)
            return await render(
                request,
                viewer,
                app,
                "confirm_resend.html",
                endpoint=found,
                status=status,
                count=result.resent,
            )
        return await render(
            request, viewer, app, "done.html", message=f"{result.resent} deliveries queued again"
        )
    else:
        raise ConfigError(f"unknown action {action!r}")
    return back
