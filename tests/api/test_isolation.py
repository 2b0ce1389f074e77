"""Tenant isolation over every /api/v1 route: 401 without a valid token, 404 across tenants, 403 admin-only.

The table below must list every route the app serves under /api/v1; a new route fails
`test_table_covers_every_route` until it is added here (with its tenancy expectations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.api.conftest import Api

V1 = "/api/v1"

APP = "app"  # tenant-scoped: another tenant's token gets 404
ADMIN = "admin"  # admin-only: an application token gets 403
OWN = "own"  # an application token sees only its own application


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    kind: str
    body: Any = None


SOURCE = {
    "name": "github-in",
    "scheme": "github",
    "secrets": ["s3cret-value"],
    "path": "/inbound/github",
    "forward_to": "https://example.com/in",
    "forward_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}

ROUTES = [
    Route("POST", "/applications", ADMIN, {"name": "new"}),
    Route("GET", "/applications", OWN),
    Route("GET", "/applications/{app_id}", APP),
    Route("PUT", "/applications/{app_id}", APP, {"name": "renamed"}),
    Route("PUT", "/applications/{app_id}/event-types", APP, {"name": "order.created"}),
    Route("GET", "/applications/{app_id}/event-types", APP),
    Route("POST", "/applications/{app_id}/endpoints", APP, {"url": "https://example.com/hook"}),
    Route("GET", "/applications/{app_id}/endpoints", APP),
    Route("GET", "/applications/{app_id}/endpoints/{endpoint_id}", APP),
    Route("PATCH", "/applications/{app_id}/endpoints/{endpoint_id}", APP, {"timeout_s": 10}),
    Route("DELETE", "/applications/{app_id}/endpoints/{endpoint_id}", APP),
    Route("POST", "/applications/{app_id}/endpoints/{endpoint_id}/test", APP, {}),
    Route("POST", "/applications/{app_id}/endpoints/{endpoint_id}/rotate-secret", APP, {}),
    Route("POST", "/applications/{app_id}/endpoints/{endpoint_id}/disable", APP, {}),
    Route("POST", "/applications/{app_id}/endpoints/{endpoint_id}/enable", APP),
    Route("GET", "/applications/{app_id}/endpoints/{endpoint_id}/health", APP),
    Route("GET", "/applications/{app_id}/endpoints/{endpoint_id}/attempts", APP),
    Route("GET", "/applications/{app_id}/endpoints/{endpoint_id}/deliveries", APP),
    Route("POST", "/applications/{app_id}/endpoints/{endpoint_id}/recover", APP, {"since": 0}),
    Route(
        "POST",
        "/applications/{app_id}/endpoints/{endpoint_id}/resend",
        APP,
        {"status": "failed", "limit": 1, "dry_run": True},
    ),
    Route("POST", "/applications/{app_id}/messages", APP, {"event_type": "order.created", "payload": {}}),
    Route("GET", "/applications/{app_id}/messages", APP),
    Route("GET", "/applications/{app_id}/messages/{message_id}", APP),
    Route("GET", "/applications/{app_id}/messages/{message_id}/attempts", APP),
    Route("GET", "/applications/{app_id}/messages/{message_id}/deliveries", APP),
    Route("POST", "/applications/{app_id}/messages/{message_id}/expunge", APP),
    Route("POST", "/applications/{app_id}/messages/expunge", APP, {"before": 0}),
    Route("POST", "/applications/{app_id}/deliveries/{delivery_id}/resend", APP),
    Route(
        "POST",
        "/applications/{app_id}/tasks",
        APP,
        {"kind": "cancel_pending", "due_before": 0, "dry_run": True},
    ),
    Route("GET", "/applications/{app_id}/tasks", APP),
    Route("GET", "/applications/{app_id}/tasks/{task_id}", APP),
    Route("POST", "/applications/{app_id}/tasks/{task_id}/cancel", APP),
    Route("POST", "/applications/{app_id}/portal", APP, {"capabilities": ["view", "resend"]}),
    Route("GET", "/applications/{app_id}/portal/sessions", APP),
    Route("POST", "/applications/{app_id}/portal/sessions/{session_id}/revoke", APP),
    Route("POST", "/tokens", ADMIN, {"name": "t", "scope": "admin"}),
    Route("GET", "/tokens", ADMIN),
    Route("POST", "/tokens/{token_id}/revoke", ADMIN),
    Route("POST", "/sources", ADMIN, {**SOURCE, "name": "posted", "path": "/inbound/posted"}),
    Route("GET", "/sources", ADMIN),
    Route("GET", "/sources/{source_id}", ADMIN),
    Route("GET", "/sources/{source_id}/decisions", ADMIN),
    Route("PUT", "/sources/{source_id}", ADMIN, SOURCE),
    Route("DELETE", "/sources/{source_id}", ADMIN),
    Route("GET", "/signing-keys", ADMIN),
    Route("POST", "/signing-keys", ADMIN, {"kind": "ed25519"}),
    Route("POST", "/signing-keys/{kid}/activate", ADMIN),
    Route("POST", "/signing-keys/{kid}/retire", ADMIN),
]


@dataclass
class Tenant:
    app_id: str
    endpoint_id: str
    message_id: str
    delivery_id: str
    token_id: str
    token: str
    session_id: str
    task_id: str = ""
    source_id: str = ""
    kid: str = ""

    def ids(self) -> dict[str, str]:
        return {
            "app_id": self.app_id,
            "endpoint_id": self.endpoint_id,
            "message_id": self.message_id,
            "delivery_id": self.delivery_id,
            "token_id": self.token_id,
            "session_id": self.session_id,
            "task_id": self.task_id,
            "source_id": self.source_id,  # sources are admin-only, not per tenant
            "kid": self.kid,  # signing keys too
        }


async def make_tenant(api: Api, app_id: str) -> Tenant:
    c = api.client
    assert (await c.post(f"{V1}/applications", json={"name": app_id, "id": app_id})).status_code == 201
    ep = await c.post(f"{V1}/applications/{app_id}/endpoints", json={"url": "https://example.com/h"})
    msg = await c.post(f"{V1}/applications/{app_id}/messages", json={"event_type": "a.b", "payload": {}})
    tok = await c.post(f"{V1}/tokens", json={"name": app_id, "scope": app_id})
    link = await c.post(f"{V1}/applications/{app_id}/portal", json={})
    task = await c.post(f"{V1}/applications/{app_id}/tasks", json={"kind": "cancel_pending", "due_before": 0})
    assert task.status_code == 202, task.text
    return Tenant(
        app_id=app_id,
        endpoint_id=ep.json()["endpoint"]["id"],
        message_id=msg.json()["message"]["id"],
        delivery_id=msg.json()["deliveries"][0]["id"],
        token_id=tok.json()["token"]["id"],
        token=tok.json()["secret"],
        session_id=link.json()["session_id"],
        task_id=task.json()["id"],
    )


@pytest.fixture
async def tenants(api: Api) -> tuple[Tenant, Tenant]:
    a, b = await make_tenant(api, "tenant-a"), await make_tenant(api, "tenant-b")
    created = await api.client.post(f"{V1}/sources", json=SOURCE)
    assert created.status_code == 201, created.text
    a.source_id = b.source_id = created.json()["id"]
    key = await api.client.post(f"{V1}/signing-keys", json={})
    assert key.status_code == 201, key.text
    a.kid = b.kid = key.json()["kid"]
    return a, b


async def call(api: Api, route: Route, ids: dict[str, str], token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://t") as c:
        kwargs: dict[str, Any] = {"headers": headers}
        if route.body is not None:
            kwargs["json"] = route.body
        return await c.request(route.method, V1 + route.path.format(**ids), **kwargs)


def test_table_covers_every_route(api: Api) -> None:
    served = {
        (method, route.path.removeprefix(V1))
        for route in api.app.routes
        if isinstance(route, APIRoute) and route.path.startswith(V1)
        for method in route.methods
    }
    table = {(r.method, r.path) for r in ROUTES}
    assert served == table, f"untested: {served - table}; stale: {table - served}"
    # the ops routes are the only ones outside /api/v1, besides the web console's pages (whose tenancy
    # tests/console/test_isolation.py checks)
    others = {
        r.path
        for r in api.app.routes
        if not r.path.startswith((V1, "/ui/", "/portal/")) and r.path not in ("/ui", "/portal")
    }
    assert others <= {
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_no_or_invalid_token_is_401(api: Api, tenants: tuple[Tenant, Tenant], route: Route) -> None:
    _, b = tenants
    revoked = await api.client.post(f"{V1}/tokens", json={"name": "gone", "scope": b.app_id})
    await api.client.post(f"{V1}/tokens/{revoked.json()['token']['id']}/revoke")
    for token in (None, "hgk_invalid", "not-even-prefixed", revoked.json()["secret"]):
        response = await call(api, route, b.ids(), token)
        assert response.status_code == 401, (token, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_other_tenant_token_is_denied(api: Api, tenants: tuple[Tenant, Tenant], route: Route) -> None:
    a, b = tenants
    response = await call(api, route, b.ids(), a.token)
    if route.kind == APP:
        assert response.status_code == 404, response.text
        assert response.json() == {"error": {"code": "not_found", "message": "no such resource"}}
    elif route.kind == ADMIN:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
    else:
        assert response.status_code == 200
        assert [x["id"] for x in response.json()["items"]] == [a.app_id]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_own_tenant_token_reaches_it(api: Api, tenants: tuple[Tenant, Tenant], route: Route) -> None:
    a, b = tenants
    response = await call(api, route, b.ids(), b.token)
    if route.kind == ADMIN:
        assert response.status_code == 403
    else:
        assert 200 <= response.status_code < 300, response.text
    # a delete succeeds once: the admin deletes the other tenant's object
    admin_ids = a.ids() if route.method == "DELETE" and route.kind == APP else b.ids()
    admin = await call(api, route, admin_ids, api.token)
    assert 200 <= admin.status_code < 300, admin.text


SUB_RESOURCE_ROUTES = [r for r in ROUTES if r.kind == APP and r.path.count("{") > 1]


@pytest.mark.parametrize("route", SUB_RESOURCE_ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_foreign_object_under_own_app_is_404(
    api: Api, tenants: tuple[Tenant, Tenant], route: Route
) -> None:
    """App A's path with B's endpoint/message/delivery id: 404 for A's token and even for an admin."""
    a, b = tenants
    ids = b.ids() | {"app_id": a.app_id}
    for token in (a.token, api.token):
        response = await call(api, route, ids, token)
        assert response.status_code == 404, (token == api.token, response.text)
        assert response.json()["error"]["code"] == "not_found"


async def test_unknown_ids_look_like_foreign_ids(api: Api, tenants: tuple[Tenant, Tenant]) -> None:
    """A nonexistent application and another tenant's one answer exactly alike to an app token."""
    a, b = tenants
    foreign = await call(api, ROUTES[2], b.ids(), a.token)
    missing = await call(api, ROUTES[2], b.ids() | {"app_id": "no-such-app"}, a.token)
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


# --- secret references are the operator's ---

# Each body puts an env:/file: reference where a secret goes. Read by hookgate, it would send the
# content of hookgate's own environment or files to the tenant's URL; a tenant token is refused before
# anything is read.
_REFERENCES: list[tuple[str, str, dict[str, object]]] = [
    ("POST", "", {"url": "https://example.com/r", "secret": "env:HOME"}),
    ("POST", "", {"url": "https://example.com/r", "auth": {"type": "bearer", "token": "env:HOME"}}),
    ("POST", "", {"url": "https://example.com/r", "scheme": "hmac", "secret": "file:/etc/hostname"}),
    ("PATCH", "/{endpoint_id}", {"auth": {"type": "api_key", "header": "X-K", "key": "file:/etc/passwd"}}),
    ("PATCH", "/{endpoint_id}", {"tls": {"client_cert": "x", "client_key": "file:/nonexistent/key.pem"}}),
    ("POST", "/{endpoint_id}/rotate-secret", {"secret": "env:HOOKGATE_MASTER_KEY"}),
]


@pytest.mark.parametrize(("method", "path", "body"), _REFERENCES)
async def test_a_tenant_token_cannot_set_secret_references(
    api: Api, tenants: tuple[Tenant, Tenant], method: str, path: str, body: dict[str, object]
) -> None:
    tenant, _ = tenants
    url = f"{V1}/applications/{tenant.app_id}/endpoints" + path.format(endpoint_id=tenant.endpoint_id)
    headers = {"Authorization": f"Bearer {tenant.token}"}
    answer = await api.client.request(method, url, json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert "secret references (env:, file:) can only be set with an admin token" in answer.text
    # refused before it was read: no file or variable name is echoed as unreadable or unset
    assert "cannot be read" not in answer.text
    assert "not set" not in answer.text
    endpoint = await api.client.get(f"{V1}/applications/{tenant.app_id}/endpoints/{tenant.endpoint_id}")
    assert endpoint.json()["auth_type"] == "none"


async def test_an_admin_token_may_set_secret_references(
    api: Api, tenants: tuple[Tenant, Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HG_TEST_BEARER", "tok-from-env")
    tenant, _ = tenants
    body = {"url": "https://example.com/r", "auth": {"type": "bearer", "token": "env:HG_TEST_BEARER"}}
    created = await api.client.post(f"{V1}/applications/{tenant.app_id}/endpoints", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["endpoint"]["auth_type"] == "bearer"
