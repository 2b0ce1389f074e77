"""The endpoint page's delete (with its confirmation step) and test event, and the messages filter by
idempotency key, through the console's forms (which call the API's route functions)."""

from __future__ import annotations

import httpx

from hookgate.models import DeliveryStatus
from tests.console.conftest import Api
from tests.console.helpers import open_portal, portal_link, sign_in


async def test_delete_asks_first_then_deletes_and_keeps_the_message_page(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    endpoint = (await api.hg.create_endpoint(app.id, "https://acme.example/hook")).endpoint
    sent = await api.hg.publish(app.id, "order.created", {"n": 1})
    csrf = await sign_in(browser_client, api.token)
    page = await browser_client.get(f"/ui/apps/acme/endpoints/{endpoint.id}")
    assert f'action="/ui/apps/acme/endpoints/{endpoint.id}/delete"' in page.text

    asked = await browser_client.post(f"/ui/apps/acme/endpoints/{endpoint.id}/delete", data={"csrf": csrf})
    assert asked.status_code == 200
    assert "This cannot be undone" in asked.text
    assert (await api.hg.get_endpoint(endpoint.id)).deleted_at is None  # nothing happened yet

    done = await browser_client.post(
        f"/ui/apps/acme/endpoints/{endpoint.id}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/apps/acme/"
    assert (await api.hg.get_delivery(sent.deliveries[0].id)).status is DeliveryStatus.DEAD
    assert endpoint.id not in (await browser_client.get("/ui/apps/acme/")).text
    assert (await browser_client.get(f"/ui/apps/acme/endpoints/{endpoint.id}")).status_code == 404
    history = await browser_client.get(f"/ui/apps/acme/messages/{sent.message.id}")
    assert history.status_code == 200
    assert sent.deliveries[0].id in history.text


async def test_delete_without_the_csrf_token_is_refused(api: Api, browser_client: httpx.AsyncClient) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    endpoint = (await api.hg.create_endpoint(app.id, "https://acme.example/hook")).endpoint
    await sign_in(browser_client, api.token)
    refused = await browser_client.post(
        f"/ui/apps/acme/endpoints/{endpoint.id}/delete", data={"confirm": "yes"}
    )
    assert refused.status_code == 403
    assert (await api.hg.get_endpoint(endpoint.id)).deleted_at is None


async def test_a_test_event_goes_to_that_endpoint_only(api: Api, browser_client: httpx.AsyncClient) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    target = (await api.hg.create_endpoint(app.id, "https://a.example/hook", event_types=["x.y"])).endpoint
    await api.hg.create_endpoint(app.id, "https://b.example/hook")
    link = await portal_link(api.client, api.token, app.id, ["view", "manage_endpoints"])
    csrf = await open_portal(browser_client, str(link["url"]))
    page = await browser_client.get(f"/portal/endpoints/{target.id}")
    assert 'id="test-event"' in page.text
    sent = await browser_client.post(
        f"/portal/endpoints/{target.id}/test",
        data={"csrf": csrf, "event_type": "webhook.test", "payload": ""},
    )
    assert sent.status_code == 303
    message_id = sent.headers["location"].rsplit("/", 1)[1]
    deliveries = await api.hg.list_deliveries(message_id)
    assert [d.endpoint_id for d in deliveries] == [target.id]
    bad = await browser_client.post(
        f"/portal/endpoints/{target.id}/test", data={"csrf": csrf, "payload": "{not json"}
    )
    assert bad.status_code == 400
    viewer_only = await portal_link(api.client, api.token, app.id, ["view"])
    csrf = await open_portal(browser_client, str(viewer_only["url"]))
    denied = await browser_client.post(f"/portal/endpoints/{target.id}/test", data={"csrf": csrf})
    assert denied.status_code == 403


async def test_messages_filter_by_idempotency_key(api: Api, browser_client: httpx.AsyncClient) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    wanted = await api.hg.publish(app.id, "order.created", {"n": 1}, idempotency_key="order-42")
    other = await api.hg.publish(app.id, "order.created", {"n": 2}, idempotency_key="order-43")
    await sign_in(browser_client, api.token)
    listed = await browser_client.get("/ui/apps/acme/messages", params={"idempotency_key": "order-42"})
    assert listed.status_code == 200
    assert wanted.message.id in listed.text
    assert other.message.id not in listed.text
    assert 'value="order-42"' in listed.text  # the filter field keeps what was typed


async def test_the_message_page_of_an_expunged_message_says_so_and_keeps_the_deliveries(
    api: Api, browser_client: httpx.AsyncClient
) -> None:
    app = await api.hg.create_application("acme", app_id="acme")
    await api.hg.create_endpoint(app.id, "https://acme.example/hook")
    sent = await api.hg.publish(app.id, "user.updated", {"email": "erase-me@example.test"})
    await sign_in(browser_client, api.token)
    before = await browser_client.get(f"/ui/apps/acme/messages/{sent.message.id}")
    assert "erase-me@example.test" in before.text
    await api.hg.expunge_message(sent.message.id)
    page = await browser_client.get(f"/ui/apps/acme/messages/{sent.message.id}")
    assert page.status_code == 200
    assert "erase-me@example.test" not in page.text
    assert "Expunged" in page.text
    assert sent.deliveries[0].id in page.text
