"""The web console: the operator dashboard (``/ui/``) and the embeddable consumer portal (``/portal/``).

Server-rendered pages (Jinja2 templates, a small script of our own for progressive enhancement, SVG charts
drawn on the server, every asset served from ``/ui/static``) over the same services and the same route
functions as the management API: `console_routes` lists the routes `hookgate.api.app.create_app` adds.
"""

from __future__ import annotations

from hookgate.console.routes import console_routes

__all__ = ["console_routes"]
