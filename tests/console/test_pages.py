"""The console's pages as HTTP answers: security headers (CSP, framing), every asset from hookgate itself,
the theme settings, and the overview's numbers from the metrics."""

from __future__ import annotations

import re

import httpx
import pytest

from hookgate.api.app import create_app
from hookgate.api.metrics import History, Metrics
from hookgate.client import Hookgate
from hookgate.config import Settings, load_settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.store.memory import MemoryStore
from tests.console.conftest import Api
from tests.console.helpers import open_portal, portal_link, sign_in

_REFERENCE = re.compile(r'(?:src|href|action)="([^"]*)"')


async def all_pages(api: Api, client: httpx.AsyncClient) -> list[httpx.Response]:
    app = await api.hg.create_application("acme", app_id="acme")
    created = await api.hg.create_endpoint(app.id, "https://acme.example/hook")
    sent = await api.hg.publish(app.id, "order.created", {"n": 1})
    await api.hg.put_event_type(app.id, "order.created", description="An order")
    pages = [await client.get("/ui/login")]
    await sign_in(client, api.token)
    for path in ("/ui/", "/ui/?span=day", "/ui/apps", "/ui/tokens", "/ui/sources", "/ui/apps/acme/"):
        pages.append(await client.get(path))
    base = "/ui/apps/acme"
    for path in (
        "/endpoints/new",
        f"/endpoints/{created.endpoint.id}",
        "/messages",
        f"/messages/{sent.message.id}",
    ):
        pages.append(await client.get(base + path))
    link = await portal_link(api.client, api.token, app.id, ["view", "manage_endpoints", "secrets", "resend"])
    await open_portal(client, str(link["url"]))
    for path in ("/", "/endpoints/new", f"/endpoints/{created.endpoint.id}", "/messages"):
        pages.append(await client.get("/portal" + path))
    assert all(p.status_code == 200 for p in pages), [(p.url, p.status_code) for p in pages]
    return pages


async def test_no_page_references_another_origin(api: Api, browser_client: httpx.AsyncClient) -> None:
    for answer in await all_pages(api, browser_client):
        for reference in _REFERENCE.findall(answer.text):
            assert reference.startswith(("/", "#", "?")), (answer.url, reference)
            assert not reference.startswith("//"), (answer.url, reference)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self';" in csp
        assert "unsafe" not in csp
        assert answer.headers["referrer-policy"] == "no-referrer"


async def test_only_the_portal_may_be_framed_and_by_the_configured_ancestors() -> None:
    settings = Settings(console_frame_ancestors="'self' https://customer.example")
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), settings=settings)
    _, token = await hg.create_api_token("admin", "admin")
    app = create_app(hg, metrics=Metrics())
    acme = await hg.create_application("acme")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        link = await portal_link(c, token, acme.id)
        await open_portal(c, str(link["url"]))
        portal = await c.get("/portal/")
        assert portal.headers["content-security-policy"].endswith(
            "frame-ancestors 'self' https://customer.example"
        )
        assert "x-frame-options" not in portal.headers
        await sign_in(c, token)
        dashboard = await c.get("/ui/")
        assert dashboard.headers["content-security-policy"].endswith("frame-ancestors 'none'")
        assert dashboard.headers["x-frame-options"] == "DENY"
    await hg.close()


async def test_theme_settings_reach_the_pages() -> None:
    settings = Settings(console_accent="#aa3300", console_theme="dark", console_logo_url="/static/logo.png")
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), settings=settings)
    app = create_app(hg, metrics=Metrics())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        login = await c.get("/ui/login")
        assert 'data-theme="dark"' in login.text
        assert 'src="/static/logo.png"' in login.text
        assert "--accent: #aa3300" in (await c.get("/ui/theme.css")).text
        assert (await c.get("/ui/static/console.css")).status_code == 200
    await hg.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("console_frame_ancestors", "'self'; script-src *"),
        ("console_frame_ancestors", "'none' https://a.example"),
        ("console_frame_ancestors", ""),
        ("console_accent", "red;}body{display:none"),
        ("console_theme", "pink"),
        ("console_logo_url", "http://insecure.example/logo.png"),
        ("console_logo_url", '/logo.png" onerror="x'),
    ],
)
def test_console_settings_refuse_what_would_break_out_of_their_header_or_stylesheet(
    name: str, value: str
) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={f"HOOKGATE_{name.upper()}": value} if value else {}, overrides={name: value})


def test_the_frame_ancestors_come_from_the_environment() -> None:
    env = {"HOOKGATE_CONSOLE_FRAME_ANCESTORS": "'self' https://app.example.com"}
    assert load_settings(environ=env).console_frame_ancestors == "'self' https://app.example.com"
    assert Settings().console_frame_ancestors == "'self'"


def test_the_history_keeps_per_minute_numbers_and_percentiles() -> None:
    history = History(keep=60)
    t0 = 1_800_000_000.0 - 1_800_000_000.0 % 60
    for ms in (10, 20, 30, 40, 2000):
        history.attempt(True, ms / 1000, now=t0 + 1)
    history.attempt(False, 0.001, now=t0 + 2)
    history.gauges(7, 1, now=t0 + 3)
    last = history.last(3, now=t0 + 5)
    assert [m.attempts for m in last] == [0, 0, 6]
    assert last[-1].delivered == 5
    assert last[-1].queue_depth == 7
    assert last[-1].percentile(0.5) == 0.025
    assert last[-1].percentile(0.95) == 2.5
    history.attempt(True, 0.01, now=t0 + 3600)
    assert all(m.attempts == 0 for m in history.last(60, now=t0 + 3600)[:-1])


async def test_signing_keys_are_generated_activated_and_retired_from_the_dashboard(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    await api.hg.keyring.ensure_active()
    csrf = await sign_in(browser_client, api.token)
    (old,) = await api.hg.keyring.keys()
    assert (await browser_client.post("/ui/keys", data={"csrf": csrf, "kind": "ec"})).status_code == 303
    new = next(k for k in await api.hg.keyring.keys() if k.kid != old.kid)
    assert new.status == "pending"
    listed = await browser_client.get("/ui/keys")
    assert new.kid in listed.text
    await browser_client.post(f"/ui/keys/{new.kid}/activate", data={"csrf": csrf})
    await browser_client.post(f"/ui/keys/{old.kid}/retire", data={"csrf": csrf})
    states = {k.kid: str(k.status) for k in await api.hg.keyring.keys()}
    assert states == {new.kid: "active", old.kid: "retired"}
    refused = await browser_client.post(f"/ui/keys/{new.kid}/retire", data={"csrf": csrf})
    assert refused.status_code == 400  # the active key: the API's own refusal, as a page


async def test_an_endpoint_is_edited_through_the_api_patch(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    endpoint = (await api.hg.create_endpoint(app.id, "https://acme.example/hook")).endpoint
    csrf = await sign_in(browser_client, api.token)
    form = await browser_client.get(f"/ui/apps/acme/endpoints/{endpoint.id}/edit")
    assert 'value="https://acme.example/hook"' in form.text
    data = {
        "csrf": csrf,
        "url": "https://acme.example/v2",
        "event_types_extra": "order.*, invoice.paid",
        "timeout_s": "5",
        "rate_limit_per_s": "",
        "max_concurrency": "4",
    }
    saved = await browser_client.post(f"/ui/apps/acme/endpoints/{endpoint.id}/edit", data=data)
    assert saved.status_code == 303
    changed = await api.hg.get_endpoint(endpoint.id)
    assert (changed.config.url, changed.config.event_types, changed.config.policy.timeout_s) == (
        "https://acme.example/v2",
        ("order.*", "invoice.paid"),
        5.0,
    )
    assert (changed.config.policy.rate_limit_per_s, changed.config.policy.max_concurrency) == (None, 4)
    assert changed.version == endpoint.version + 1
    bad = await browser_client.post(
        f"/ui/apps/acme/endpoints/{endpoint.id}/edit", data={**data, "url": "ftp://x", "max_concurrency": "x"}
    )
    assert bad.status_code == 422  # the form again, with the API's refusal
    assert 'role="alert"' in bad.text
    assert (await api.hg.get_endpoint(endpoint.id)).config.url == "https://acme.example/v2"
