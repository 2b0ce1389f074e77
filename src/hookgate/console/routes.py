"""The console's routes, added to the API application by `hookgate.api.app.create_app`: the dashboard under
``/ui/``, the portal under ``/portal/``, the shared application pages under both, the static files.

`guarded` turns a page function into a route: it finds the viewer (or sends a signed-out user to sign in)
and turns our errors into error pages, so no page answers with a traceback or the API's JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hookgate.api.errors import Forbidden as ApiForbidden
from hookgate.console import app_pages, dashboard, portal_pages
from hookgate.console.app_scope import Forbidden as PageForbidden
from hookgate.console.render import error_page
from hookgate.console.session import DASHBOARD, PORTAL, CsrfError, Kind, SignedOut, Viewer, viewer_of
from hookgate.errors import ConfigError, ConflictError, DuplicateError, InvalidQueryError, NotFoundError

if TYPE_CHECKING:
    from hookgate.client import Hookgate

__all__ = ["console_routes"]

PageFn = Callable[[Request, "Hookgate", Viewer], Awaitable[Response]]


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "the form is not valid"


def guarded(kind: Kind, fn: PageFn) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        hg: Hookgate = request.app.state.hookgate
        viewer: Viewer | None = None
        try:
            viewer = await viewer_of(request, hg, kind)
            return await fn(request, hg, viewer)
        except SignedOut:
            if kind is DASHBOARD:
                return RedirectResponse("/ui/login", status_code=303)
            message = "This portal session has ended or was never opened. Ask for a new link."
            return error_page(request, kind, None, 401, message)
        except CsrfError as exc:
            return error_page(request, kind, viewer, 403, str(exc))
        except (PageForbidden, ApiForbidden) as exc:
            return error_page(request, kind, viewer, 403, str(exc))
        except NotFoundError:
            return error_page(request, kind, viewer, 404, "Not found.")
        except ValidationError as exc:
            return error_page(request, kind, viewer, 400, _validation_message(exc))
        except (ConfigError, DuplicateError, InvalidQueryError, ConflictError) as exc:
            return error_page(request, kind, viewer, 400, str(exc))

    endpoint.__name__ = fn.__name__
    return endpoint


def console_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/ui", lambda _: RedirectResponse("/ui/", status_code=307), include_in_schema=False),
        Route("/portal", lambda _: RedirectResponse("/portal/", status_code=307), include_in_schema=False),
        Mount("/ui/static", StaticFiles(packages=[("hookgate.console", "static")]), name="console_static"),
    ]
    routes += dashboard.open_routes()
    routes += portal_pages.open_routes()
    for method, path, fn in dashboard.PAGES:
        routes.append(Route("/ui" + path, guarded(DASHBOARD, fn), methods=[method], include_in_schema=False))
    for method, path, fn in portal_pages.PAGES:
        routes.append(Route("/portal" + path, guarded(PORTAL, fn), methods=[method], include_in_schema=False))
    for method, path, fn in app_pages.PAGES:
        for kind, prefix in ((DASHBOARD, "/ui/apps/{app_id}"), (PORTAL, "/portal")):
            routes.append(Route(prefix + path, guarded(kind, fn), methods=[method], include_in_schema=False))
    return routes
