"""The management REST API, versioned under ``/api/v1``; OpenAPI at ``/openapi.json``: wires the routers.

Every route authenticates a bearer token (`hookgate.api.auth`) and checks tenancy (`hookgate.api.deps`);
errors have one shape (`hookgate.api.errors`); request and response bodies are in `hookgate.api.schemas`; the
routes, one module per resource, are in `hookgate.api.routers`; the web console's pages
(`hookgate.console`) are added beside them. Secrets are write-only: an endpoint's
generated secret is returned once, at creation or rotation, never read back.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from hookgate.api import errors
from hookgate.api.metrics import Metrics
from hookgate.api.routers import (
    applications,
    attempts,
    endpoints,
    event_types,
    health,
    keys,
    messages,
    portal,
    signing_keys,
    sources,
    tasks,
    tokens,
)
from hookgate.client import Hookgate

__all__ = ["create_app"]

# in the order their routes appear in the OpenAPI document
ROUTERS = (
    health,
    keys,
    applications,
    event_types,
    endpoints,
    attempts,
    messages,
    tasks,
    portal,
    tokens,
    sources,
    signing_keys,
)


def create_app(
    hg: Hookgate,
    *,
    metrics: Metrics | None = None,
    circuit_states: Callable[[], dict[str, str]] | None = None,
) -> FastAPI:
    """The API over ``hg``. ``circuit_states`` reports the in-process workers' breakers (health, metrics)."""
    app = FastAPI(
        title="hookgate",
        version="1",
        description="Management API: applications, endpoints, messages, attempts, sources, tokens.",
    )
    app.state.hookgate = hg
    app.state.metrics = metrics or Metrics()
    app.state.circuit_states = circuit_states
    errors.install(app)
    for module in ROUTERS:
        # added as they are rather than through include_router, which (FastAPI 0.165) nests a router
        # route: the route list stays flat, one APIRoute per operation, for the 405 answer's Allow header
        # and for whoever lists the routes; each router carries the shared dependencies and error answers
        app.router.routes.extend(module.router.routes)
    # the web console (dashboard and consumer portal): pages over the same services and route functions
    from hookgate.console import console_routes

    app.router.routes.extend(console_routes())
    return app
