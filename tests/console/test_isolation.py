"""Tenant isolation over every console page and form, like tests/api/test_isolation.py for the API: a portal
session of application A never sees or changes application B's records, whatever ids it puts in a URL; the
dashboard's pages refuse a portal session; an application's URL with another's record ids is 404 even for the
operator. The table must list every console route (`test_table_covers_every_route`)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from starlette.routing import Route

from hookgate.console import console_routes
from tests.console.conftest import Api
from tests.console.helpers import V1, open_portal, portal_link, sign_in

OWN = "own"  # a page of the session's own application: shows nothing of B, changes nothing of B
FOREIGN = "foreign"  # names a record of B: 404, B unchanged
DENIED = "denied"  # the operator's only: 403 for any portal session
DASH = "dashboard"  # a dashboard page: a portal session is sent to sign in
OPEN = "open"  # needs no session (sign-in form, link opening, theme)

ACTIONS = ("edit", "disable", "enable", "rotate", "recover", "resend", "test", "delete")


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    kind: str


PAGES = [
    Page("GET", "/ui/login", OPEN),
    Page("POST", "/ui/login", OPEN),
    Page("GET", "/ui/theme.css", OPEN),
    Page("GET", "/portal/open", OPEN),
    Page("GET", "/ui/", DASH),
    Page("POST", "/ui/logout", DASH),
    Page("GET", "/ui/apps", DASH),
    Page("POST", "/ui/apps", DASH),
    Page("GET", "/ui/tokens", DASH),
    Page("POST", "/ui/tokens", DASH),
    Page("POST", "/ui/tokens/{token_id}/revoke", DASH),
    Page("GET", "/ui/sources", DASH),
    Page("GET", "/ui/sources/{source_id}", DASH),
    Page("GET", "/ui/keys", DASH),
    Page("POST", "/ui/keys", DASH),
    Page("POST", "/ui/keys/{kid}/{action}", DASH),
    Page("POST", "/portal/logout", OWN),
]
APP_PAGES = [
    ("GET", "/", OWN),
    ("POST", "/test-event", OWN),
    ("POST", "/event-types", DENIED),
    ("POST", "/portal-links", DENIED),
    ("POST", "/portal-sessions/{session_id}/revoke", DENIED),
    ("GET", "/endpoints/new", OWN),
    ("POST", "/endpoints", OWN),
    ("GET", "/endpoints/{endpoint_id}", FOREIGN),
    ("GET", "/endpoints/{endpoint_id}/edit", FOREIGN),
    ("POST", "/endpoints/{endpoint_id}/{action}", FOREIGN),
    ("GET", "/messages", OWN),
    ("GET", "/messages/{message_id}", FOREIGN),
    ("POST", "/deliveries/{delivery_id}/resend", FOREIGN),
]
PAGES += [Page(m, "/portal" + p, k) for m, p, k in APP_PAGES]
PAGES += [Page(m, "/ui/apps/{app_id}" + p, DASH) for m, p, _ in APP_PAGES]


@dataclass
class Tenant:
    app_id: str
    endpoint_id: str
    message_id: str
    delivery_id: str
    session_id: str
    url: str

    def ids(self, action: str = "disable") -> dict[str, str]:
        return {
            "app_id": self.app_id,
            "endpoint_id": self.endpoint_id,
            "message_id": self.message_id,
            "delivery_id": self.delivery_id,
            "session_id": self.session_id,
            "token_id": "tok_x",
            "kid": "kid_x",
            "source_id": "src_x",
            "action": action,
        }


async def make_tenant(api: Api, name: str) -> Tenant:
    app = await api.hg.create_application(name, app_id=name)
    created = await api.hg.create_endpoint(app.id, f"https://{name}.example/hook")
    sent = await api.hg.publish(app.id, "order.created", {"owner": f"{name}-private-data"})
    link = await portal_link(api.client, api.token, app.id)
    return Tenant(
        app.id, created.endpoint.id, sent.message.id, sent.deliveries[0].id, str(link["session_id"]), ""
    )


@pytest.fixture
async def tenants(api: Api) -> tuple[Tenant, Tenant]:
    return await make_tenant(api, "tenant-a"), await make_tenant(api, "tenant-b")


def test_table_covers_every_route() -> None:
    served = {
        (method, route.path)
        for route in console_routes()
        if isinstance(route, Route) and route.path not in ("/ui", "/portal")
        for method in (route.methods or ()) - {"HEAD"}
    }
    table = {(p.method, p.path) for p in PAGES}
    assert served == table, f"untested: {served - table}; stale: {table - served}"


async def b_state(api: Api, b: Tenant) -> tuple[object, ...]:
    endpoint = await api.hg.get_endpoint(b.endpoint_id)
    delivery = await api.hg.get_delivery(b.delivery_id)
    sessions = await api.hg.list_console_sessions(b.app_id)
    return (endpoint, delivery.status, delivery.next_attempt_at, [s.revoked_at for s in sessions])


FULL = ["view", "manage_endpoints", "secrets", "resend"]
PORTAL_PAGES = [p for p in PAGES if p.path.startswith("/portal/") and p.kind != OPEN]


@pytest.mark.parametrize("page", PORTAL_PAGES, ids=lambda p: f"{p.method} {p.path}")
async def test_a_portal_session_never_reaches_another_application(
    api: Api, tenants: tuple[Tenant, Tenant], browser_client: httpx.AsyncClient, page: Page
) -> None:
    a, b = tenants
    link = await portal_link(api.client, api.token, a.app_id, FULL)
    csrf = await open_portal(browser_client, str(link["url"]))
    before = await b_state(api, b)
    actions = ACTIONS if "{action}" in page.path else ("disable",)
    for action in actions:
        url = page.path.format(**b.ids(action))
        data = {
            "csrf": csrf,
            "url": "https://x.example/h",
            "name": "x.y",
            "event_type": "order.created",
            "since": "2020-01-01T00:00",
        }
        answer = await browser_client.request(page.method, url, data=data if page.method == "POST" else None)
        if page.kind == FOREIGN:
            assert answer.status_code == 404, (action, answer.text)
        elif page.kind == DENIED:
            assert answer.status_code == 403, answer.text
        else:
            assert answer.status_code in (200, 303), answer.text
        for secret in ("tenant-b", b.endpoint_id, b.message_id, b.delivery_id):
            assert secret not in answer.text
    assert await b_state(api, b) == before


@pytest.mark.parametrize("page", [p for p in PAGES if p.kind == DASH], ids=lambda p: f"{p.method} {p.path}")
async def test_the_dashboard_refuses_a_portal_session(
    api: Api, tenants: tuple[Tenant, Tenant], browser_client: httpx.AsyncClient, page: Page
) -> None:
    a, _ = tenants
    link = await portal_link(api.client, api.token, a.app_id, FULL)
    csrf = await open_portal(browser_client, str(link["url"]))
    browser_client.cookies.set("hg_console", browser_client.cookies.get("hg_portal") or "", path="/ui")
    answer = await browser_client.request(
        page.method, page.path.format(**a.ids()), data={"csrf": csrf} if page.method == "POST" else None
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"


FOREIGN_UNDER_OWN = [p for p in PAGES if p.path.startswith("/ui/apps/{app_id}/") and p.path.count("{") > 1]


@pytest.mark.parametrize("page", FOREIGN_UNDER_OWN, ids=lambda p: f"{p.method} {p.path}")
async def test_foreign_records_under_an_application_are_404_for_the_operator_too(
    api: Api, tenants: tuple[Tenant, Tenant], browser_client: httpx.AsyncClient, page: Page
) -> None:
    a, b = tenants
    csrf = await sign_in(browser_client, api.token)
    before = await b_state(api, b)
    url = page.path.format(**(b.ids() | {"app_id": a.app_id}))
    answer = await browser_client.request(
        page.method, url, data={"csrf": csrf} if page.method == "POST" else None
    )
    assert answer.status_code == 404, answer.text
    assert await b_state(api, b) == before


async def test_portal_pages_show_only_their_application(
    api: Api, tenants: tuple[Tenant, Tenant], browser_client: httpx.AsyncClient
) -> None:
    a, b = tenants
    link = await portal_link(api.client, api.token, a.app_id, FULL)
    await open_portal(browser_client, str(link["url"]))
    for path, mine in (
        ("/portal/", "tenant-a.example"),
        ("/portal/messages", a.message_id),
        (f"/portal/endpoints/{a.endpoint_id}", "tenant-a.example"),
    ):
        answer = await browser_client.get(path)
        assert answer.status_code == 200
        assert mine in answer.text
        assert "tenant-b" not in answer.text
    message = await browser_client.get(f"/portal/messages/{a.message_id}")
    assert "tenant-a-private-data" in message.text
    # the application id in a dashboard-style URL is not how the portal is addressed
    assert (await browser_client.get(f"/portal/apps/{b.app_id}/")).status_code == 404
    assert (await api.client.get(f"{V1}/applications/{b.app_id}")).status_code == 200
