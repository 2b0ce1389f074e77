"""The console in a real browser (Playwright driving Debian's chromium, headless) against a live server:
sign in, create an endpoint, publish and watch the attempt appear, resend, rotate a secret; a portal link,
also inside an iframe on another origin and on a phone-sized screen; expired and reused links; a portal
session kept to its application; a forged form refused; nothing loaded from another origin.

Outside CI a missing chromium skips these tests (with the reason); in CI (``CI=true``) it fails them.
Screenshots go to the test's temporary directory, and also to ``HOOKGATE_SCREENSHOTS`` when that is set
(``HOOKGATE_SCREENSHOTS=docs/screenshots pytest tests/console/test_browser.py`` refreshes the README's).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from hookgate.config.sections import JwePayload, OAuth2Auth
from hookgate.keys import generate_key, load_key, public_pem
from tests.console.live import Live, live_server

CHROMIUM = shutil.which("chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    yield from live_server()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI installs it with apt: see .ci/run)")
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Any:
    wanted = os.environ.get("HOOKGATE_SCREENSHOTS")

    def shoot(page: Any, name: str, **options: Any) -> None:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), **options)
        if wanted:
            Path(wanted).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(wanted) / path.name)

    return shoot


class Requests:
    """Every URL a page asked for, to check that none is of another origin."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def foreign(self, *origins: str) -> list[str]:
        return [u for u in self.urls if not u.startswith(origins) and not u.startswith("data:")]


def sign_in(page: Any, live: Live) -> None:
    page.goto(live.base + "/ui/")
    assert page.url.endswith("/ui/login")
    page.get_by_label("Admin token").fill(live.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.base + "/ui/")


def test_dashboard_endpoint_publish_attempt_resend_rotate(browser: Any, live: Live, shots: Any) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    seen = Requests(page)
    sign_in(page, live)
    page.get_by_role("link", name="Applications").click()
    page.get_by_label("Name").fill("Shop")
    page.get_by_label("Id").fill("shop")
    page.get_by_role("button", name="Create application").click()
    page.wait_for_url(re.compile(r".*/ui/apps/shop/$"))
    page.get_by_label("Name of the event type").fill("order.created")
    page.get_by_label("What it means").fill("A customer placed an order")
    page.get_by_role("button", name="Save event type").click()

    page.get_by_role("link", name="Add endpoint").click()
    page.get_by_label("URL", exact=True).fill(live.receiver)
    page.get_by_label("Allow plain http://").check()
    page.get_by_label("order.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    first_secret = page.get_by_label("Signing secret").input_value()
    assert first_secret.startswith("whsec_")
    page.get_by_role("link", name="Go to the endpoint").click()
    assert first_secret not in page.content()  # never shown again

    page.goto(live.base + "/ui/apps/shop/")
    page.get_by_label("Type of the test event").fill("order.created")
    page.get_by_label("Payload (JSON)").fill('{"order": 42}')
    page.get_by_role("button", name="Send test event").click()
    page.wait_for_url(re.compile(r".*/messages/msg_.*"))
    # the page refreshes its deliveries section by itself: the attempt appears without a reload
    page.locator("#deliveries .attempt").first.wait_for(timeout=20_000)
    assert "delivered" in page.locator("#deliveries").inner_text()
    shots(page, "message", full_page=True)

    page.get_by_role("button", name="Resend").click()
    page.wait_for_url(re.compile(r".*/messages/msg_.*"))
    page.locator("#deliveries .attempt").nth(1).wait_for(timeout=20_000)

    page.locator("#deliveries h3 a").first.click()
    page.get_by_role("button", name="Rotate secret").click()
    second_secret = page.get_by_label("Signing secret").input_value()
    assert second_secret.startswith("whsec_")
    assert second_secret != first_secret
    page.get_by_role("link", name="Go to the endpoint").click()
    page.locator("#attempts .attempt").first.wait_for()
    shots(page, "endpoint", full_page=True)
    endpoint_url = page.url

    page.goto(live.base + "/ui/apps/shop/messages?status=delivered")
    assert page.locator("#message-list a").count() == 1

    # a test event to this endpoint only, then delete it after the confirmation page
    page.goto(endpoint_url)
    page.locator("#test-event").get_by_role("button", name="Send test event").click()
    page.wait_for_url(re.compile(r".*/messages/msg_.*"))
    page.locator("#deliveries .attempt").first.wait_for(timeout=20_000)
    assert "webhook.test" in page.content()
    page.goto(endpoint_url)
    page.get_by_role("button", name="Delete…").click()
    assert "This cannot be undone" in page.content()
    page.get_by_role("button", name="Delete endpoint").click()
    page.wait_for_url(re.compile(r".*/ui/apps/shop/$"))
    assert endpoint_url.rsplit("/", 1)[1] not in page.content()
    page.goto(live.base + "/ui/")
    shots(page, "overview", full_page=True)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(live.base + "/ui/login")
    page.goto(live.base + "/ui/apps")
    assert page.url.endswith("/ui/login")
    assert seen.foreign(live.base) == []
    context.close()


def test_endpoint_form_shows_the_fields_of_the_chosen_types(browser: Any, live: Live, shots: Any) -> None:
    with live.api() as api:
        api.post("/api/v1/applications", json={"name": "Forms", "id": "forms"}).raise_for_status()
    receiver_key = public_pem(load_key(generate_key("rsa"), private=True))
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    sign_in(page, live)
    page.goto(live.base + "/ui/apps/forms/endpoints/new")
    token_url = page.get_by_label("Token URL", exact=True)
    assert token_url.is_hidden()  # only the chosen type's fields are shown
    page.get_by_label("URL", exact=True).fill("https://receiver.example/hook")
    page.get_by_label("How hookgate proves who it is").select_option("oauth2")
    token_url.wait_for(state="visible")
    assert page.get_by_label("API key header name").is_hidden()
    token_url.fill("https://auth.example/oauth/token")
    page.get_by_label("Client id", exact=True).fill("shop-client")
    page.get_by_label("Client secret", exact=True).fill("shop-client-secret")
    page.get_by_label("Scope", exact=True).fill("webhooks")
    page.get_by_label("How the client secret is sent").select_option("client_secret_post")
    public_key = page.get_by_label("Receiver's public key (PEM or JWK)")
    assert public_key.is_hidden()
    page.get_by_label("What the request body is").select_option("jwe")
    public_key.fill(receiver_key)
    page.get_by_label("Sign inside the encryption too").check()
    page.get_by_label("Header name 1").fill("X-Tenant")
    page.get_by_label("Value 1").fill("shop")
    page.get_by_label("Retry schedule").fill("5, 60, 600")
    shots(page, "endpoint-new", full_page=True)
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_role("heading", name="Endpoint added").wait_for()
    href = page.get_by_role("link", name="Go to the endpoint").get_attribute("href")
    assert href is not None
    assert live.hg is not None
    config = live.run(live.hg.get_endpoint(href.rsplit("/", 1)[1])).config
    assert config.auth == OAuth2Auth(
        token_url="https://auth.example/oauth/token",
        client_id="shop-client",
        scope="webhooks",
        auth_method="client_secret_post",
    )
    assert config.payload == JwePayload(public_key=receiver_key.strip(), sign=True)
    assert dict(config.headers) == {"X-Tenant": "shop"}
    assert config.policy.retry_schedule == (5.0, 60.0, 600.0)
    context.close()

    # without JavaScript every field is on the page, grouped under its legend
    plain = browser.new_context(java_script_enabled=False)
    page = plain.new_page()
    sign_in(page, live)
    page.goto(live.base + "/ui/apps/forms/endpoints/new")
    assert page.get_by_label("Token URL", exact=True).is_visible()
    assert page.get_by_label("API key header name").is_visible()
    assert page.get_by_role("group", name="Authentication").is_visible()
    plain.close()


def portal_link(live: Live, app_id: str, lifetime_s: float = 3600, **body: Any) -> dict[str, Any]:
    capabilities = body.pop("capabilities", ["view", "manage_endpoints", "secrets", "resend"])
    with live.api() as api:
        answer = api.post(
            f"/api/v1/applications/{app_id}/portal",
            json={"lifetime_s": lifetime_s, "capabilities": capabilities},
        )
    assert answer.status_code == 201, answer.text
    link: dict[str, Any] = answer.json()
    return link


def tenant(live: Live, name: str) -> str:
    """An application with an endpoint and a delivered message; returns the endpoint's id."""
    with live.api() as api:
        api.post("/api/v1/applications", json={"name": name.title(), "id": name}).raise_for_status()
        api.put(
            f"/api/v1/applications/{name}/event-types",
            json={"name": "invoice.paid", "description": "An invoice was paid"},
        ).raise_for_status()
        created = api.post(
            f"/api/v1/applications/{name}/endpoints", json={"url": live.receiver, "allow_insecure": True}
        )
        created.raise_for_status()
        api.post(
            f"/api/v1/applications/{name}/messages", json={"event_type": "invoice.paid", "payload": {"id": 7}}
        ).raise_for_status()
    endpoint_id: str = created.json()["endpoint"]["id"]
    return endpoint_id


def test_portal_in_an_iframe_on_another_origin(browser: Any, live: Live, shots: Any) -> None:
    endpoint_id = tenant(live, "acme")
    link = portal_link(live, "acme")
    context = browser.new_context(viewport={"width": 1000, "height": 820})
    page = context.new_page()
    seen = Requests(page)
    page.goto(f"{live.other}/embed?src={quote(link['url'], safe='')}")
    frame = page.frame_locator("iframe")
    frame.get_by_role("heading", name="Endpoints").wait_for()
    frame.get_by_role("link", name=live.receiver).click()
    frame.get_by_role("heading", name="Health").wait_for()
    frame.get_by_role("button", name="Rotate secret").click()  # a form, with its CSRF token, in the frame
    assert frame.get_by_label("Signing secret").input_value().startswith("whsec_")
    frame.get_by_role("link", name="Go to the endpoint").click()
    frame.get_by_role("heading", name="Recent attempts").wait_for()
    shots(page, "portal-iframe")
    assert endpoint_id in frame.locator("body").inner_text()
    assert seen.foreign(live.base, live.other) == []
    context.close()


def test_portal_on_a_phone_sized_screen(browser: Any, live: Live, shots: Any) -> None:
    tenant(live, "mobile")
    link = portal_link(live, "mobile")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True
    )
    page = context.new_page()
    page.goto(link["url"])
    page.get_by_role("heading", name="Endpoints").wait_for()
    # nothing wider than the screen: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("link", name="Messages").first.click()
    page.locator("#message-list a").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shots(page, "portal-phone")
    # keyboard: the first Tab reaches the skip link, which moves the focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    context.close()


def test_reused_expired_and_revoked_links_are_refused(browser: Any, live: Live) -> None:
    tenant(live, "links")
    context = browser.new_context()
    page = context.new_page()
    used = portal_link(live, "links")
    page.goto(used["url"])
    page.get_by_role("heading", name="Endpoints").wait_for()
    other = browser.new_context().new_page()
    other.goto(used["url"])
    assert "expired or was already used" in other.content()
    expired = portal_link(live, "links", lifetime_s=60)
    live.offset[0] = 61.0  # the engine's clock moves a minute on
    try:
        other.goto(expired["url"])
        assert "expired or was already used" in other.content()
    finally:
        live.offset[0] = 0.0
    revoked = portal_link(live, "links")
    with live.api() as api:
        api.post(
            f"/api/v1/applications/links/portal/sessions/{revoked['session_id']}/revoke"
        ).raise_for_status()
    other.goto(revoked["url"])
    assert "expired or was already used" in other.content()
    context.close()


def test_a_portal_session_stays_in_its_application(browser: Any, live: Live) -> None:
    tenant(live, "alpha")
    beta_endpoint = tenant(live, "beta")
    context = browser.new_context()
    page = context.new_page()
    page.goto(portal_link(live, "alpha")["url"])
    page.get_by_role("heading", name="Endpoints").wait_for()
    answer = page.goto(f"{live.base}/portal/endpoints/{beta_endpoint}")
    assert answer is not None
    assert answer.status == 404
    page.goto(f"{live.base}/ui/apps/beta/")
    assert page.url.endswith("/ui/login")
    context.close()


def test_a_form_forged_on_another_origin_is_refused(browser: Any, live: Live) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live)
    page.goto(f"{live.other}/forge")
    page.get_by_role("button", name="Win a prize").click()
    page.wait_for_load_state()
    assert "out of date" in page.content()
    with live.api() as api:
        names = [a["name"] for a in api.get("/api/v1/applications", params={"limit": 1000}).json()["items"]]
    assert "forged" not in names
    context.close()
