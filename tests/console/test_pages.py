"""The console's pages as HTTP answers: security headers (CSP, framing), every asset from hookgate itself,
the theme settings, and the overview's numbers from the metrics."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from hookgate.api.app import create_app
from hookgate.api.metrics import History, Metrics
from hookgate.client import Hookgate
from hookgate.config import Settings, load_settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.store.memory import MemoryStore
from hookgate.testing import RecordingReceiver
from tests.api.conftest import BASE
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


def test_the_history_keeps_the_live_gauges_per_minute() -> None:
    history = History(keep=60)
    t0 = 1_800_000_000.0 - 1_800_000_000.0 % 60
    history.gauges(7, 1, now=t0 + 3)
    last = history.last(3, now=t0 + 5)
    assert [(m.queue_depth, m.circuits_open) for m in last] == [(None, None), (None, None), (7, 1)]
    history.gauges(2, 0, now=t0 + 3600)
    assert [m.queue_depth for m in history.last(60, now=t0 + 3600)][-2:] == [None, 2]


async def test_the_overview_charts_come_from_the_store_so_a_restart_loses_nothing(
    api: Api, receiver: Callable[[int], Awaitable[RecordingReceiver]]
) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    rcv = await receiver(200)
    await api.hg.create_endpoint(app.id, rcv.url, allow_insecure=True)
    for n in range(3):
        await api.hg.publish(app.id, "order.paid", {"n": n})
    await api.deliver()
    # another API process over the same store (or this one restarted): new metrics, nothing in memory
    other = create_app(api.hg, metrics=Metrics())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url=BASE) as client:
        await sign_in(client, api.token)
        for span, per in (("hour", 1), ("day", 15)):
            page = await client.get(f"/ui/?span={span}")
            periods = await api.hg.attempt_history(minutes=60 if per == 1 else 24 * 60, per=per)
            shown = dict(re.findall(r"<figcaption>([^<]+) <strong>([^<]+)</strong>", page.text))
            assert sum(p.delivered for p in periods) == 3
            # the page's latest value is the running period's (the attempts' unless a period just began)
            assert shown["Deliveries per minute"] == f"{round(periods[-1].delivered / per, 2):g}", shown
            assert shown["Success rate"] == "100%"
            assert shown["Latency p50"].endswith(" s")


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
