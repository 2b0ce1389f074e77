"""What every page of one application shares: which application the viewer may see (the URL's for the
operator, the session's for the portal), the portal's capability check, the page's base URL and rendering,
and the reading of typed form values (numbers, instants, JSON)."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from hookgate.api.deps import application
from hookgate.console.render import page
from hookgate.console.session import Viewer
from hookgate.errors import ConfigError
from hookgate.models import Application

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["Forbidden", "app_of", "base_of", "instant", "json_value", "need", "number", "render"]


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


def instant(text: str, what: str) -> float | None:
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


def number(text: str, what: str, default: float) -> float:
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number") from None


def json_value(text: str, default: str | None = "{}") -> Any:
    """A JSON form field (``default`` when left empty)."""
    if not text and default is None:
        return None
    try:
        return json.loads(text or default or "{}")
    except ValueError:
        raise ConfigError("the payload must be JSON") from None


async def render(
    request: Request, viewer: Viewer, app: Application, template: str, *, http_status: int = 200, **ctx: Any
) -> Response:
    return page(
        request, viewer.kind, template, viewer, status=http_status, app=app, base=base_of(viewer, app), **ctx
    )
