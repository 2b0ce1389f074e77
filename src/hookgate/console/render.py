"""Turning a page into an answer: the Jinja2 templates (autoescaped), the console's look (the theme
stylesheet built from the settings) and the error pages; every answer carries `security_headers`."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hookgate.config import Settings
from hookgate.console.session import Kind, Viewer, security_headers

__all__ = ["error_page", "page", "theme_css"]


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


_env = Environment(
    loader=PackageLoader("hookgate.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.filters["pretty"] = _pretty


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.hookgate.settings
    return settings


def _headers(request: Request, kind: Kind) -> dict[str, str]:
    settings = _settings(request)
    headers = security_headers(kind, settings.console_frame_ancestors)
    logo = settings.console_logo_url
    if logo is not None and logo.startswith("https://"):
        # the operator's own logo is the one image allowed from elsewhere
        origin = "https://" + urlsplit(logo).netloc
        headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
            "img-src 'self' data:", f"img-src 'self' data: {origin}"
        )
    return headers


def page(
    request: Request,
    kind: Kind,
    template: str,
    viewer: Viewer | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    settings = _settings(request)
    html = _env.get_template(template).render(
        request=request,
        kind=kind,
        viewer=viewer,
        settings=settings,
        theme=settings.console_theme,
        logo=settings.console_logo_url,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=_headers(request, kind))


def error_page(request: Request, kind: Kind, viewer: Viewer | None, status: int, message: str) -> Response:
    return page(request, kind, "error.html", viewer, status=status, message=message)


def theme_css(settings: Settings) -> str:
    """The accent colour as a stylesheet (inline styles are not allowed by the pages' CSP)."""
    return f":root {{ --accent: {settings.console_accent}; }}\n"
