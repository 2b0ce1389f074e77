"""Signing in to the dashboard, the session cookie, CSRF, signing out; portal links: lifetime, single use,
capabilities, revocation."""

from __future__ import annotations

import httpx
import pytest

from hookgate.api.app import create_app
from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.store.memory import MemoryStore
from tests.console.conftest import Api
from tests.console.helpers import V1, csrf_of, open_portal, portal_link, sign_in


async def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_ends_the_session(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    c = browser_client
    assert (await c.get("/ui/")).headers["location"] == "/ui/login"
    form = await c.get("/ui/login")
    answer = await c.post("/ui/login", data={"csrf": csrf_of(form.text), "token": api.token})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("hg_console=hgs_")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    stolen = c.cookies.get("hg_console")
    home = await c.get("/ui/")
    assert home.status_code == 200
    assert api.token not in home.text
    sessions = await api.hg.list_console_sessions("admin")
    assert len(sessions) == 1
    assert stolen not in repr(sessions[0])
    out = await c.post("/ui/logout", data={"csrf": csrf_of(home.text)})
    assert out.status_code == 303
    # the session is revoked, not only forgotten by this browser
    c.cookies.set("hg_console", stolen, path="/ui")
    assert (await c.get("/ui/")).headers["location"] == "/ui/login"


async def test_the_cookie_is_secure_over_https(api: Api) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="https://t") as c:
        form = await c.get("/ui/login")
        answer = await c.post("/ui/login", data={"csrf": csrf_of(form.text), "token": api.token})
        assert "Secure" in answer.headers["set-cookie"]
        link = await portal_link(c, api.token, (await api.hg.create_application("x")).id)
        opened = await c.get(str(link["url"]))
        portal_cookie = opened.headers["set-cookie"]
        assert portal_cookie.startswith("hg_portal=")
        for attribute in ("Secure", "HttpOnly", "SameSite=none", "Partitioned", "Path=/portal"):
            assert attribute in portal_cookie


async def test_sign_in_refuses_wrong_app_scoped_and_revoked_tokens(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    app = await api.hg.create_application("acme")
    _, scoped = await api.hg.create_api_token("acme", app.id)
    revoked, revoked_text = await api.hg.create_api_token("old", "admin")
    await api.hg.revoke_api_token(revoked.id)
    for token in ("hgk_wrong", scoped, revoked_text, ""):
        form = await browser_client.get("/ui/login")
        answer = await browser_client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": token})
        assert answer.status_code == 401
        assert "hg_console" not in browser_client.cookies
    assert await api.hg.list_console_sessions("admin") == []


async def test_sign_in_without_the_form_token_is_refused(api: Api, browser_client: httpx.AsyncClient) -> None:
    await browser_client.get("/ui/login")
    answer = await browser_client.post("/ui/login", data={"csrf": "forged", "token": api.token})
    assert answer.status_code == 403
    assert await api.hg.list_console_sessions("admin") == []


async def test_revoking_the_admin_token_ends_its_dashboard_sessions(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    record, token = await api.hg.create_api_token("ops", "admin")
    await sign_in(browser_client, token)
    await api.hg.revoke_api_token(record.id)
    assert (await browser_client.get("/ui/apps")).headers["location"] == "/ui/login"


async def test_forms_without_the_session_csrf_token_are_refused(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    await sign_in(browser_client, api.token)
    for data in ({"name": "x"}, {"name": "x", "csrf": "guess"}, {"name": "x", "csrf": ""}):
        answer = await browser_client.post("/ui/apps", data=data)
        assert answer.status_code == 403, answer.text
    page = (await api.hg.list_applications()).items
    assert page == []


async def test_portal_link_defaults_limits_and_validation(api: Api) -> None:
    app = await api.hg.create_application("acme")
    made = await api.client.post(f"{V1}/applications/{app.id}/portal", json={})
    assert made.status_code == 201
    body = made.json()
    assert body["capabilities"] == ["view"]
    assert body["url"].startswith("http://testserver/portal/open?token=hgl_")
    sessions = await api.hg.list_console_sessions(app.id)
    assert sessions[0].expires_at - sessions[0].created_at == 3600
    assert body["url"].split("token=")[1] not in repr(sessions)
    week = await api.client.post(f"{V1}/applications/{app.id}/portal", json={"lifetime_s": 7 * 24 * 3600})
    assert week.status_code == 201
    for bad in (
        {"lifetime_s": 7 * 24 * 3600 + 1},
        {"lifetime_s": 0},
        {"capabilities": ["admin"]},
        {"extra": 1},
    ):
        answer = await api.client.post(f"{V1}/applications/{app.id}/portal", json=bad)
        assert answer.status_code == 422, (bad, answer.text)
    listed = await api.client.get(f"{V1}/applications/{app.id}/portal/sessions")
    assert [s["id"] for s in listed.json()] == [week.json()["session_id"], body["session_id"]]


async def test_a_link_opens_once_and_a_revoked_session_ends(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    app = await api.hg.create_application("acme")
    link = await portal_link(api.client, api.token, app.id)
    await open_portal(browser_client, str(link["url"]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://t") as other:
        reused = await other.get(str(link["url"]))
        assert reused.status_code == 410
        assert "hg_portal" not in other.cookies
    revoked = await api.client.post(f"{V1}/applications/{app.id}/portal/sessions/{link['session_id']}/revoke")
    assert revoked.json()["revoked_at"] is not None
    ended = await browser_client.get("/portal/")
    assert ended.status_code == 401


async def test_an_expired_link_and_an_expired_session_are_refused() -> None:
    now = [1_800_000_000.0]
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), clock=lambda: now[0])
    token = await bootstrap(hg)
    assert token is not None
    app = create_app(hg, metrics=Metrics())
    acme = await hg.create_application("acme")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        late = await portal_link(c, token, acme.id, lifetime_s=60)
        soon = await portal_link(c, token, acme.id, lifetime_s=60)
        await open_portal(c, str(soon["url"]))
        now[0] += 60
        assert (await c.get(str(late["url"]))).status_code == 410
        assert (await c.get("/portal/")).status_code == 401
    await hg.close()


async def test_a_portal_session_is_no_dashboard_session(api: Api, browser_client: httpx.AsyncClient) -> None:
    app = await api.hg.create_application("acme")
    link = await portal_link(api.client, api.token, app.id, ["view", "manage_endpoints", "secrets", "resend"])
    await open_portal(browser_client, str(link["url"]))
    cookie = browser_client.cookies.get("hg_portal")
    browser_client.cookies.set("hg_console", cookie, path="/ui")
    for path in ("/ui/", "/ui/apps", "/ui/tokens", f"/ui/apps/{app.id}/"):
        answer = await browser_client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/ui/login"


async def test_an_application_token_makes_links_for_its_application_only(api: Api) -> None:
    mine, theirs = await api.hg.create_application("mine"), await api.hg.create_application("theirs")
    _, token = await api.hg.create_api_token("mine", mine.id)
    assert (await portal_link(api.client, token, mine.id))["url"]
    other = await api.client.post(
        f"{V1}/applications/{theirs.id}/portal", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert other.status_code == 404


@pytest.mark.parametrize("capabilities", [["view"], ["view", "resend"]])
async def test_a_portal_without_a_capability_cannot_use_it(
    api: Api, browser_client: httpx.AsyncClient, capabilities: list[str]
) -> None:
    app = await api.hg.create_application("acme")
    created = await api.hg.create_endpoint(app.id, "https://example.com/h")
    endpoint = created.endpoint
    link = await portal_link(api.client, api.token, app.id, capabilities)
    csrf = await open_portal(browser_client, str(link["url"]))
    for action in ("disable", "rotate"):
        answer = await browser_client.post(f"/portal/endpoints/{endpoint.id}/{action}", data={"csrf": csrf})
        assert answer.status_code == 403, answer.text
    create = await browser_client.post("/portal/endpoints", data={"csrf": csrf, "url": "https://e.com/x"})
    assert create.status_code == 403
    assert len(await api.hg.list_endpoints(app.id)) == 1
    assert (await api.hg.get_endpoint(endpoint.id)).enabled
    page = await browser_client.get(f"/portal/endpoints/{endpoint.id}")
    assert "Rotate secret" not in page.text
    assert "Disable" not in page.text
