"""What the management API's routes depend on: the engine, the request checks, and tenant-checked lookups.

The lookups make tenancy one rule: a token scoped to one application sees every other application, and
everything under it, as nonexistent (404, not 403, so ids of other tenants cannot be probed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError

from hookgate.api.auth import Principal
from hookgate.api.errors import ERROR_RESPONSES
from hookgate.api.metrics import Metrics
from hookgate.api.strict import MAX_BODY_DEPTH, clean_parameters, nested_deeper_than
from hookgate.client import Hookgate
from hookgate.errors import NotFoundError
from hookgate.models import Application, Delivery, Endpoint, Message

__all__ = [
    "HG",
    "Circuits",
    "MetricsDep",
    "application",
    "clean_parameters",
    "delivery_of",
    "endpoint_of",
    "hookgate_of",
    "message_of",
    "resource_router",
    "shallow_body",
]


def hookgate_of(request: Request) -> Hookgate:
    """The engine the application was created over."""
    hg: Hookgate = request.app.state.hookgate
    return hg


def metrics_of(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def circuits_of(request: Request) -> Callable[[], dict[str, str]] | None:
    """What reports the in-process workers' breakers, if the application was given one."""
    states: Callable[[], dict[str, str]] | None = request.app.state.circuit_states
    return states


# module level: FastAPI resolves the (string) annotations of route functions in their module's globals
HG = Annotated[Hookgate, Depends(hookgate_of)]
MetricsDep = Annotated[Metrics, Depends(metrics_of)]
Circuits = Annotated[Callable[[], dict[str, str]] | None, Depends(circuits_of)]


async def shallow_body(request: Request) -> None:
    """Refuse a JSON body nested deeper than `MAX_BODY_DEPTH` before it is validated, stored or echoed.

    Runs as an application-wide dependency: FastAPI has parsed the body by then (Starlette caches it on
    the request as ``_json``) and validates it only after the dependencies.
    """
    parsed = getattr(request, "_json", None)
    if isinstance(parsed, (dict, list)) and nested_deeper_than(parsed, MAX_BODY_DEPTH):
        message = f"the request body is nested more than {MAX_BODY_DEPTH} levels deep"
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": message, "input": {}}]
        )


def resource_router(prefix: str, tag: str) -> APIRouter:
    """The router of one resource: every route refuses NUL parameters and over-deep bodies, and documents
    the error answers (`hookgate.api.app` adds the routes to the application as they are, one per operation).
    """
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        responses=ERROR_RESPONSES,
        dependencies=[Depends(clean_parameters), Depends(shallow_body)],
    )


def _not_found() -> NotFoundError:
    return NotFoundError("no such resource")


async def application(hg: Hookgate, who: Principal, app_id: str) -> Application:
    """The application ``app_id``, if ``who`` may see it."""
    if not who.may_access(app_id):
        raise _not_found()  # another tenant's application does not exist for this token
    return await hg.get_application(app_id)


async def endpoint_of(hg: Hookgate, who: Principal, app_id: str, endpoint_id: str) -> Endpoint:
    """The endpoint ``endpoint_id`` of application ``app_id``, if ``who`` may see it."""
    await application(hg, who, app_id)
    endpoint = await hg.get_endpoint(endpoint_id)
    if endpoint.app_id != app_id:
        raise _not_found()
    return endpoint


async def message_of(hg: Hookgate, who: Principal, app_id: str, message_id: str) -> Message:
    """The message ``message_id`` of application ``app_id``, if ``who`` may see it."""
    await application(hg, who, app_id)
    message = await hg.get_message(message_id)
    if message.app_id != app_id:
        raise _not_found()
    return message


async def delivery_of(hg: Hookgate, who: Principal, app_id: str, delivery_id: str) -> Delivery:
    """The delivery ``delivery_id`` of a message of application ``app_id``, if ``who`` may see it."""
    await application(hg, who, app_id)
    delivery = await hg.get_delivery(delivery_id)
    if (await hg.get_message(delivery.message_id)).app_id != app_id:
        raise _not_found()
    return delivery
