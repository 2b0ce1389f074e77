"""The management REST API, versioned under ``/api/v1``; OpenAPI at ``/openapi.json``.

Every route authenticates a bearer token (`hookgate.api.auth`) and checks tenancy: a token scoped to one
application sees every other application as nonexistent (404, not 403, so ids of other tenants cannot be
probed). Errors have one shape, ``{"error": {"code": ..., "message": ...}}``, with stable codes. Secrets are
write-only: an endpoint's generated secret is returned once, at creation or rotation, never read back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from hookgate.api.auth import ADMIN, ApiError, Auth, Principal, issue_token, require_admin
from hookgate.api.metrics import CONTENT_TYPE, Metrics
from hookgate.api.sources import add_routes as add_source_routes
from hookgate.api.strict import StrictBody, clean_parameters
from hookgate.client import Hookgate
from hookgate.errors import ConfigError, ConflictError, HookgateError, NotFoundError, StoreError
from hookgate.models import (
    APP_ID_PATTERN,
    ApiToken,
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    Message,
)

__all__ = ["create_app", "error_body"]


# -- the error shape ----------------------------------------------------------------------------------


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code": ..., "message": ...[, "details": ...]}}``."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return body


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


_STATUSES = frozenset(s.value for s in HTTPStatus)
# nesting levels of arrays and objects a JSON request body may have: what many receivers' parsers accept
# for a payload (Ruby's JSON: 100), far inside what the store (deep copies), the response serializer
# (pydantic-core stops at 255) and Python's recursion limit handle
MAX_BODY_DEPTH = 100


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value has more than ``limit`` levels of arrays and objects (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path (Starlette's own 405 names only the first route's)."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= route.methods
    return ", ".join(sorted(allowed))


async def _shallow_body(request: Request) -> None:
    """Refuse a JSON body nested deeper than `MAX_BODY_DEPTH` before it is validated, stored or echoed.

    Runs as an application-wide dependency: FastAPI has parsed the body by then (Starlette caches it on
    the request as ``_json``) and validates it only after the dependencies.
    """
    parsed = getattr(request, "_json", None)
    if isinstance(parsed, (dict, list)) and _nested_deeper_than(parsed, MAX_BODY_DEPTH):
        message = f"the request body is nested more than {MAX_BODY_DEPTH} levels deep"
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": message, "input": {}}]
        )


# what the router and FastAPI's body parsing raise as HTTPException, in our words
_HTTP_ERRORS = {
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "this method is not allowed here (see the Allow header)"),
}


def _unreadable_body(exc: BaseException | None) -> str | None:
    """Why FastAPI could not parse a JSON body (it raises a bare 400 from the parser's exception)."""
    if isinstance(exc, UnicodeDecodeError):
        return "the request body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return f"the request body is nested more than {MAX_BODY_DEPTH} levels deep"
    if isinstance(exc, ValueError) and "digits" in str(exc):  # sys.get_int_max_str_digits(), 4300 by default
        return "the request body has an integer with too many digits"
    if isinstance(exc, ValueError):
        return "the request body is not valid JSON"
    return None


NOT_FOUND = ApiError(404, "not_found", "no such resource")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request"},
    401: {"model": ErrorResponse, "description": "Missing or invalid token"},
    403: {"model": ErrorResponse, "description": "The token may not do this"},
    404: {"model": ErrorResponse, "description": "Not found (or not visible to this token)"},
    409: {"model": ErrorResponse, "description": "Conflict"},
    422: {"model": ErrorResponse, "description": "Invalid request"},
    500: {"model": ErrorResponse, "description": "Unexpected error (the details are in the server log)"},
}


# -- request and response bodies ----------------------------------------------------------------------


class _Strict(StrictBody):
    """A request body: strict JSON, no unknown fields, no NUL, finite numbers (`hookgate.api.strict`)."""


class ApplicationIn(_Strict):
    name: str = Field(min_length=1, max_length=256)
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=APP_ID_PATTERN)


class ApplicationRename(_Strict):
    name: str = Field(min_length=1, max_length=256)


class ApplicationOut(BaseModel):
    id: str
    name: str
    created_at: float


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


class EventTypeIn(_Strict):
    name: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
    description: str = Field(default="", max_length=4096)
    archived: bool = False


class EventTypeOut(BaseModel):
    name: str
    description: str
    archived: bool
    created_at: float


class EndpointIn(_Strict):
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(default_factory=list, max_length=256)
    scheme: str = "standard-webhooks"
    secret: str | None = Field(default=None, max_length=4096)
    keys: list[str] = Field(default_factory=list, max_length=8)
    scheme_options: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    timeout_s: float = Field(default=15.0, gt=0, le=120)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1, le=1024)
    retry_schedule: list[float] | None = Field(default=None, max_length=50)
    allow_insecure: bool = False
    auth: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    tls: dict[str, Any] | None = None


class EndpointPatch(_Strict):
    """Only the fields given are changed; auth, payload and tls are replaced as whole sections."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(default=None, max_length=256)
    headers: dict[str, str] | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=120)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1, le=1024)
    retry_schedule: list[float] | None = Field(default=None, max_length=50)
    allow_insecure: bool | None = None
    auth: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    tls: dict[str, Any] | None = None


class EndpointOut(BaseModel):
    id: str
    app_id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    scheme: str
    headers: dict[str, str]
    timeout_s: float
    rate_limit_per_s: float | None
    max_concurrency: int | None
    retry_schedule: list[float] | None
    allow_insecure: bool
    auth_type: str
    payload_format: str
    tls: dict[str, Any]
    failing_since: float | None
    created_at: float
    updated_at: float


class EndpointCreated(BaseModel):
    endpoint: EndpointOut
    secret: str | None = Field(description="The generated signing secret or key, shown only now")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret, shown only now")
    grace_s: float


class RotateIn(_Strict):
    secret: str | None = Field(default=None, max_length=4096)
    grace_s: float = Field(default=24 * 3600.0, ge=0, le=30 * 24 * 3600.0)


class DisableIn(_Strict):
    reason: str = Field(default="disabled by operator", max_length=512)


class MessageIn(_Strict):
    raw_fields = frozenset({"payload"})  # stored as sent (a NUL in a JSON string is stored escaped)

    event_type: str = Field(min_length=1, max_length=256)
    payload: dict[str, Any] | list[Any]


class MessageOut(BaseModel):
    id: str
    app_id: str
    event_type: str
    payload: Any
    created_at: float
    idempotency_key: str | None


class DeliveryOut(BaseModel):
    id: str
    message_id: str
    endpoint_id: str
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float


class PublishOut(BaseModel):
    message: MessageOut
    deliveries: list[DeliveryOut]
    duplicate: bool


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class AttemptOut(BaseModel):
    id: int | None
    delivery_id: str
    started_at: float
    duration_ms: float
    status_code: int | None
    response_excerpt: str
    error_class: str | None
    outcome: str


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class RecoverIn(_Strict):
    since: float = Field(ge=0)


class RecoverOut(BaseModel):
    recovered: int


class HealthOut(BaseModel):
    endpoint_id: str
    enabled: bool
    disabled_reason: str | None
    failing_since: float | None
    circuit: str | None
    recent_attempts: int
    recent_success_rate: float | None
    last_error: AttemptOut | None


class TokenIn(_Strict):
    name: str = Field(min_length=1, max_length=128)
    scope: str = Field(min_length=1, max_length=64, description="'admin' or an application id")


class TokenOut(BaseModel):
    id: str
    name: str
    scope: str
    created_at: float
    revoked_at: float | None


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token, shown only now")


def _app_out(app: Application) -> ApplicationOut:
    return ApplicationOut(id=app.id, name=app.name, created_at=app.created_at)


def _endpoint_out(e: Endpoint) -> EndpointOut:
    settings = e.settings
    return EndpointOut(
        id=e.id,
        app_id=e.app_id,
        url=e.url,
        event_types=list(e.event_types),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        scheme=e.scheme,
        headers=dict(e.headers),
        timeout_s=e.timeout_s,
        rate_limit_per_s=e.rate_limit_per_s,
        max_concurrency=e.max_concurrency,
        retry_schedule=list(e.retry_schedule) if e.retry_schedule is not None else None,
        allow_insecure=e.allow_insecure,
        auth_type=(settings.get("auth") or {}).get("type", "none"),
        payload_format=(settings.get("payload") or {}).get("format", "json"),
        # the public TLS settings (certificates, CA bundle, floor); the client key is sealed, never here
        tls=dict(settings.get("tls") or {}),
        failing_since=e.failing_since,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


def _message_out(m: Message) -> MessageOut:
    try:
        payload: Any = json.loads(m.payload)
    except (ValueError, RecursionError):
        payload = m.payload.decode("utf-8", errors="replace")
    # published by another front end (the gateway, the library) deeper than the response serializer goes:
    # shown as its JSON text, like a payload that is not JSON, rather than failing the whole answer
    if m.payload.count(b"[") + m.payload.count(b"{") > MAX_BODY_DEPTH and _nested_deeper_than(
        payload, MAX_BODY_DEPTH
    ):
        payload = m.payload.decode("utf-8", errors="replace")
    return MessageOut(
        id=m.id,
        app_id=m.app_id,
        event_type=m.event_type,
        payload=payload,
        created_at=m.created_at,
        idempotency_key=m.idempotency_key,
    )


def _delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        message_id=d.message_id,
        endpoint_id=d.endpoint_id,
        status=str(d.status),
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def _attempt_out(a: Attempt) -> AttemptOut:
    return AttemptOut(
        id=a.id,
        delivery_id=a.delivery_id,
        started_at=a.started_at,
        duration_ms=a.duration_ms,
        status_code=a.status_code,
        response_excerpt=a.response_excerpt,
        error_class=a.error_class,
        outcome=a.outcome,
    )


def _token_out(t: ApiToken) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, scope=t.scope, created_at=t.created_at, revoked_at=t.revoked_at)


# -- the application ----------------------------------------------------------------------------------


def create_app(
    hg: Hookgate,
    *,
    metrics: Metrics | None = None,
    circuit_states: Callable[[], dict[str, str]] | None = None,
) -> FastAPI:
    """The API over ``hg``. ``circuit_states`` reports the in-process workers' breakers (health, metrics)."""
    metrics = metrics or Metrics()
    store = hg.store
    app = FastAPI(
        title="hookgate",
        version="1",
        description="Management API: applications, endpoints, messages, attempts, sources, tokens.",
        responses=_ERRORS,
        dependencies=[Depends(clean_parameters), Depends(_shallow_body)],
    )
    app.state.hookgate = hg
    app.state.metrics = metrics

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, "not_found", "no such resource")

    @app.exception_handler(ConfigError)
    async def invalid(request: Request, exc: ConfigError) -> JSONResponse:
        return _error(422, "invalid", str(exc))

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> JSONResponse:
        # the services retry version-checked writes; this is what is left when they kept losing
        return _error(409, "conflict", "the resource changed concurrently; try again")

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        message = str(exc)
        if "cursor" in message or "limit" in message:
            return _error(422, "invalid", message)
        return _error(503, "store_unavailable", "the store is unavailable")

    @app.exception_handler(HookgateError)
    async def other_error(request: Request, exc: HookgateError) -> JSONResponse:
        return _error(400, "bad_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return _error(422, "validation_error", "the request is invalid", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code in (204, 304):  # no body allowed
            return Response(status_code=exc.status_code, headers=headers)
        unreadable = _unreadable_body(exc.__cause__) if exc.status_code == 400 else None
        if unreadable is not None:
            # the same answer as FastAPI gives a body that is not JSON at all
            details = [{"loc": ["body"], "msg": unreadable, "type": "json_invalid"}]
            return _error(422, "validation_error", "the request is invalid", details)
        phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else "Error"
        code, message = _HTTP_ERRORS.get(
            exc.status_code, (phrase.lower().replace(" ", "_").replace("-", "_"), phrase.lower())
        )
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        response = _error(exc.status_code, code, message)
        response.headers.update(headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the server logs the traceback; the body says nothing
        return _error(500, "internal_error", "internal server error")

    admin_only = require_admin

    async def application(who: Principal, app_id: str) -> Application:
        if not who.may_access(app_id):
            raise NOT_FOUND  # another tenant's application does not exist for this token
        return await store.get_application(app_id)

    async def endpoint_of(who: Principal, app_id: str, endpoint_id: str) -> Endpoint:
        await application(who, app_id)
        endpoint = await store.get_endpoint(endpoint_id)
        if endpoint.app_id != app_id:
            raise NOT_FOUND
        return endpoint

    async def message_of(who: Principal, app_id: str, message_id: str) -> Message:
        await application(who, app_id)
        message = await store.get_message(message_id)
        if message.app_id != app_id:
            raise NOT_FOUND
        return message

    # -- health, metrics, keys ---------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"model": ErrorResponse}})
    async def readyz() -> dict[str, str]:
        await store.count_due(now=time.time())  # a store error becomes the 503 answer
        return {"status": "ready"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics_route() -> Response:
        metrics.queue_depth.set(await store.count_due(now=time.time()))
        if circuit_states is not None:
            metrics.circuits_open.set(sum(1 for s in circuit_states().values() if s != "closed"))
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/.well-known/jwks.json", tags=["keys"])
    async def jwks() -> dict[str, Any]:
        return await hg.jwks()

    # -- applications --------------------------------------------------------------------------------

    v1 = "/api/v1"

    @app.post(f"{v1}/applications", status_code=201, tags=["applications"])
    async def create_application(body: ApplicationIn, who: Auth) -> ApplicationOut:
        admin_only(who)
        if body.id is not None:
            try:
                await store.get_application(body.id)
            except NotFoundError:
                pass
            else:
                raise ApiError(409, "conflict", f"application {body.id} exists")
        return _app_out(await hg.create_application(body.name, app_id=body.id))

    @app.get(f"{v1}/applications", tags=["applications"])
    async def list_applications(
        who: Auth, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> ApplicationPage:
        if not who.is_admin:
            own = await store.get_application(who.scope)
            return ApplicationPage(items=[_app_out(own)], next_cursor=None)
        page = await store.list_applications(cursor=cursor, limit=limit)
        return ApplicationPage(items=[_app_out(a) for a in page.items], next_cursor=page.next_cursor)

    @app.get(f"{v1}/applications/{{app_id}}", tags=["applications"])
    async def get_application(app_id: str, who: Auth) -> ApplicationOut:
        return _app_out(await application(who, app_id))

    @app.put(f"{v1}/applications/{{app_id}}", tags=["applications"])
    async def rename_application(app_id: str, body: ApplicationRename, who: Auth) -> ApplicationOut:
        await application(who, app_id)
        return _app_out(await store.rename_application(app_id, body.name))

    # -- event types -------------------------------------------------------------------------------

    @app.put(f"{v1}/applications/{{app_id}}/event-types", tags=["event types"])
    async def put_event_type(app_id: str, body: EventTypeIn, who: Auth) -> EventTypeOut:
        await application(who, app_id)
        et = EventType(app_id, body.name, time.time(), body.description, body.archived)
        saved = await store.put_event_type(et)
        return EventTypeOut(
            name=saved.name,
            description=saved.description,
            archived=saved.archived,
            created_at=saved.created_at,
        )

    @app.get(f"{v1}/applications/{{app_id}}/event-types", tags=["event types"])
    async def list_event_types(app_id: str, who: Auth) -> list[EventTypeOut]:
        await application(who, app_id)
        return [
            EventTypeOut(name=e.name, description=e.description, archived=e.archived, created_at=e.created_at)
            for e in await store.list_event_types(app_id)
        ]

    # -- endpoints ---------------------------------------------------------------------------------

    @app.post(f"{v1}/applications/{{app_id}}/endpoints", status_code=201, tags=["endpoints"])
    async def create_endpoint(app_id: str, body: EndpointIn, who: Auth) -> EndpointCreated:
        await application(who, app_id)
        created = await hg.create_endpoint(
            app_id,
            body.url,
            event_types=body.event_types,
            scheme=body.scheme,
            secret=body.secret,
            keys=body.keys,
            scheme_options=body.scheme_options,
            headers=body.headers,
            timeout_s=body.timeout_s,
            rate_limit_per_s=body.rate_limit_per_s,
            max_concurrency=body.max_concurrency,
            retry_schedule=body.retry_schedule,
            allow_insecure=body.allow_insecure,
            auth=body.auth,
            payload=body.payload,
            tls=body.tls,
        )
        return EndpointCreated(endpoint=_endpoint_out(created.endpoint), secret=created.secret)

    @app.get(f"{v1}/applications/{{app_id}}/endpoints", tags=["endpoints"])
    async def list_endpoints(app_id: str, who: Auth) -> list[EndpointOut]:
        await application(who, app_id)
        return [_endpoint_out(e) for e in await store.list_endpoints(app_id)]

    @app.get(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}", tags=["endpoints"])
    async def get_endpoint(app_id: str, endpoint_id: str, who: Auth) -> EndpointOut:
        return _endpoint_out(await endpoint_of(who, app_id, endpoint_id))

    @app.patch(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}", tags=["endpoints"])
    async def update_endpoint(app_id: str, endpoint_id: str, body: EndpointPatch, who: Auth) -> EndpointOut:
        await endpoint_of(who, app_id, endpoint_id)
        # explicitly sent nulls mean "no limit" / "default schedule"; fields not sent stay as they are
        changes = body.model_dump(exclude_unset=True)
        return _endpoint_out(await hg.update_endpoint(endpoint_id, **changes))

    @app.post(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/rotate-secret", tags=["endpoints"])
    async def rotate_secret(app_id: str, endpoint_id: str, body: RotateIn, who: Auth) -> SecretRotated:
        await endpoint_of(who, app_id, endpoint_id)
        secret = await hg.rotate_secret(endpoint_id, body.secret, grace_s=body.grace_s)
        return SecretRotated(secret=secret, grace_s=body.grace_s)

    @app.post(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/disable", tags=["endpoints"])
    async def disable_endpoint(app_id: str, endpoint_id: str, body: DisableIn, who: Auth) -> EndpointOut:
        await endpoint_of(who, app_id, endpoint_id)
        await hg.disable_endpoint(endpoint_id, reason=body.reason)
        return _endpoint_out(await store.get_endpoint(endpoint_id))

    @app.post(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/enable", tags=["endpoints"])
    async def enable_endpoint(app_id: str, endpoint_id: str, who: Auth) -> EndpointOut:
        await endpoint_of(who, app_id, endpoint_id)
        await hg.enable_endpoint(endpoint_id)
        return _endpoint_out(await store.get_endpoint(endpoint_id))

    @app.get(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/health", tags=["endpoints"])
    async def endpoint_health(app_id: str, endpoint_id: str, who: Auth) -> HealthOut:
        endpoint = await endpoint_of(who, app_id, endpoint_id)
        recent = (await store.list_endpoint_attempts(endpoint_id, limit=100)).items
        ok = sum(1 for a in recent if a.status_code is not None and 200 <= a.status_code < 300)
        last_error = next((a for a in recent if not (a.status_code and 200 <= a.status_code < 300)), None)
        circuit = (circuit_states() if circuit_states is not None else {}).get(endpoint_id)
        return HealthOut(
            endpoint_id=endpoint_id,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            circuit=circuit,
            recent_attempts=len(recent),
            recent_success_rate=ok / len(recent) if recent else None,
            last_error=_attempt_out(last_error) if last_error is not None else None,
        )

    @app.get(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/attempts", tags=["attempts"])
    async def endpoint_attempts(
        app_id: str,
        endpoint_id: str,
        who: Auth,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> AttemptPage:
        await endpoint_of(who, app_id, endpoint_id)
        page = await store.list_endpoint_attempts(endpoint_id, cursor=cursor, limit=limit)
        return AttemptPage(items=[_attempt_out(a) for a in page.items], next_cursor=page.next_cursor)

    @app.get(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/deliveries", tags=["attempts"])
    async def endpoint_deliveries(
        app_id: str,
        endpoint_id: str,
        who: Auth,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> DeliveryPage:
        await endpoint_of(who, app_id, endpoint_id)
        page = await store.list_endpoint_deliveries(endpoint_id, status=status, cursor=cursor, limit=limit)
        return DeliveryPage(items=[_delivery_out(d) for d in page.items], next_cursor=page.next_cursor)

    @app.post(f"{v1}/applications/{{app_id}}/endpoints/{{endpoint_id}}/recover", tags=["endpoints"])
    async def recover(app_id: str, endpoint_id: str, body: RecoverIn, who: Auth) -> RecoverOut:
        await endpoint_of(who, app_id, endpoint_id)
        return RecoverOut(recovered=await hg.recover(endpoint_id, since=body.since))

    # -- messages ----------------------------------------------------------------------------------

    @app.post(f"{v1}/applications/{{app_id}}/messages", status_code=202, tags=["messages"])
    async def publish(
        app_id: str,
        body: MessageIn,
        who: Auth,
        idempotency_key: Annotated[str | None, Header(max_length=256)] = None,
    ) -> PublishOut:
        await application(who, app_id)
        result = await hg.publish(app_id, body.event_type, body.payload, idempotency_key=idempotency_key)
        if not result.duplicate:
            metrics.published.labels(app=app_id).inc()
        return PublishOut(
            message=_message_out(result.message),
            deliveries=[_delivery_out(d) for d in result.deliveries],
            duplicate=result.duplicate,
        )

    @app.get(f"{v1}/applications/{{app_id}}/messages", tags=["messages"])
    async def list_messages(
        app_id: str,
        who: Auth,
        event_type: str | None = None,
        since: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        until: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        status: DeliveryStatus | None = None,
    ) -> MessagePage:
        await application(who, app_id)
        page = await store.list_messages(
            app_id,
            event_type=event_type,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
            status=status,
        )
        return MessagePage(items=[_message_out(m) for m in page.items], next_cursor=page.next_cursor)

    @app.get(f"{v1}/applications/{{app_id}}/messages/{{message_id}}", tags=["messages"])
    async def get_message(app_id: str, message_id: str, who: Auth) -> MessageOut:
        return _message_out(await message_of(who, app_id, message_id))

    @app.get(f"{v1}/applications/{{app_id}}/messages/{{message_id}}/attempts", tags=["attempts"])
    async def message_attempts(
        app_id: str,
        message_id: str,
        who: Auth,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> AttemptPage:
        await message_of(who, app_id, message_id)
        page = await store.list_message_attempts(message_id, cursor=cursor, limit=limit)
        return AttemptPage(items=[_attempt_out(a) for a in page.items], next_cursor=page.next_cursor)

    @app.get(f"{v1}/applications/{{app_id}}/messages/{{message_id}}/deliveries", tags=["attempts"])
    async def message_deliveries(app_id: str, message_id: str, who: Auth) -> list[DeliveryOut]:
        await message_of(who, app_id, message_id)
        return [_delivery_out(d) for d in await store.list_deliveries(message_id)]

    @app.post(f"{v1}/applications/{{app_id}}/deliveries/{{delivery_id}}/resend", tags=["messages"])
    async def resend(app_id: str, delivery_id: str, who: Auth) -> DeliveryOut:
        await application(who, app_id)
        delivery = await store.get_delivery(delivery_id)
        if (await store.get_message(delivery.message_id)).app_id != app_id:
            raise NOT_FOUND
        return _delivery_out(await hg.resend(delivery_id))

    # -- tokens (admin) ----------------------------------------------------------------------------

    @app.post(f"{v1}/tokens", status_code=201, tags=["tokens"])
    async def create_token(body: TokenIn, who: Auth) -> TokenCreated:
        admin_only(who)
        if body.scope != ADMIN:
            await store.get_application(body.scope)  # 404 for an unknown application
        record, secret = await issue_token(store, body.name, body.scope)
        return TokenCreated(token=_token_out(record), secret=secret)

    @app.get(f"{v1}/tokens", tags=["tokens"])
    async def list_tokens(who: Auth) -> list[TokenOut]:
        admin_only(who)
        return [_token_out(t) for t in await store.list_api_tokens()]

    @app.post(f"{v1}/tokens/{{token_id}}/revoke", tags=["tokens"])
    async def revoke_token(token_id: str, who: Auth) -> TokenOut:
        admin_only(who)
        return _token_out(await store.revoke_api_token(token_id, now=time.time()))

    add_source_routes(app)
    return app
