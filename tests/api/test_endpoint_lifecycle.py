"""Deleting an endpoint, sending a test event to one endpoint, and finding messages by idempotency key,
over the API."""

from __future__ import annotations

import json

from tests.api.conftest import Api
from tests.api.helpers import V1, MakeReceiver, error_code, new_app, new_endpoint, publish


async def test_delete_ends_delivery_and_keeps_history(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "del")
    rec = await receiver(200)
    gone = (await new_endpoint(api, "del", rec.url))["endpoint"]["id"]
    kept = (await new_endpoint(api, "del", rec.url))["endpoint"]["id"]
    published = (await publish(api, "del")).json()
    message_id = published["message"]["id"]
    gone_delivery = next(d["id"] for d in published["deliveries"] if d["endpoint_id"] == gone)

    deleted = await api.client.delete(f"{V1}/applications/del/endpoints/{gone}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    await api.deliver()

    assert len(rec.bodies) == 1  # only the kept endpoint received the message
    ep_url = f"{V1}/applications/del/endpoints/{gone}"
    assert error_code(await api.client.get(ep_url)) == "not_found"
    assert error_code(await api.client.delete(ep_url)) == "not_found"
    assert error_code(await api.client.post(f"{ep_url}/enable")) == "not_found"
    assert error_code(await api.client.patch(ep_url, json={"timeout_s": 5})) == "not_found"
    assert error_code(await api.client.post(f"{ep_url}/test", json={})) == "not_found"
    listed = (await api.client.get(f"{V1}/applications/del/endpoints")).json()
    assert [e["id"] for e in listed] == [kept]
    # the history that names it stays readable; its delivery is dead and cannot be resent
    deliveries = (await api.client.get(f"{V1}/applications/del/messages/{message_id}/deliveries")).json()
    assert {d["endpoint_id"]: d["status"] for d in deliveries} == {gone: "dead", kept: "delivered"}
    attempts = await api.client.get(f"{V1}/applications/del/messages/{message_id}/attempts")
    assert attempts.status_code == 200
    resend = await api.client.post(f"{V1}/applications/del/deliveries/{gone_delivery}/resend")
    assert resend.status_code == 409
    assert error_code(resend) == "conflict"


async def test_a_test_event_reaches_only_that_endpoint(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "tst")
    target, other = await receiver(200), await receiver(200)
    ep = (await new_endpoint(api, "tst", target.url, event_types=["invoice.paid"]))["endpoint"]["id"]
    await new_endpoint(api, "tst", other.url)

    sent = await api.client.post(f"{V1}/applications/tst/endpoints/{ep}/test", json={})
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert body["message"]["event_type"] == "webhook.test"
    assert body["message"]["payload"]["data"]["endpoint_id"] == ep
    assert body["delivery"]["endpoint_id"] == ep
    await api.deliver()
    assert len(target.bodies) == 1
    assert json.loads(target.bodies[0])["type"] == "webhook.test"
    assert other.bodies == []

    custom = await api.client.post(
        f"{V1}/applications/tst/endpoints/{ep}/test",
        json={"event_type": "invoice.paid", "payload": {"amount": 1}},
    )
    assert custom.json()["message"]["payload"] == {"amount": 1}
    assert custom.json()["message"]["event_type"] == "invoice.paid"


async def test_a_test_event_to_a_disabled_endpoint_is_a_conflict(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "off")
    ep = (await new_endpoint(api, "off", (await receiver(200)).url))["endpoint"]["id"]
    await api.client.post(f"{V1}/applications/off/endpoints/{ep}/disable", json={})
    refused = await api.client.post(f"{V1}/applications/off/endpoints/{ep}/test", json={})
    assert refused.status_code == 409
    assert error_code(refused) == "conflict"
    assert (await api.client.get(f"{V1}/applications/off/messages")).json()["items"] == []
    bad = await api.client.post(f"{V1}/applications/off/endpoints/{ep}/test", json={"event_type": ""})
    assert bad.status_code == 422


async def test_messages_filter_by_idempotency_key(api: Api) -> None:
    await new_app(api, "keys")
    first = (await publish(api, "keys", headers={"Idempotency-Key": "order-7"})).json()["message"]["id"]
    await publish(api, "keys", headers={"Idempotency-Key": "order-8"})
    await publish(api, "keys")
    url = f"{V1}/applications/keys/messages"
    found = (await api.client.get(url, params={"idempotency_key": "order-7"})).json()
    assert [m["id"] for m in found["items"]] == [first]
    assert (await api.client.get(url, params={"idempotency_key": "nope"})).json()["items"] == []
    assert len((await api.client.get(url)).json()["items"]) == 3
    assert (await api.client.get(url, params={"idempotency_key": ""})).status_code == 422
