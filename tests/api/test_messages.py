"""Messages over the API: publish (idempotent), validation, listing, filters, attempts, deliveries, resend."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.helpers import V1, MakeReceiver, error_code, new_app, new_endpoint, publish


async def test_publish_idempotency(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "idem")
    rec = await receiver(200)
    await new_endpoint(api, "idem", rec.url)
    first = await publish(api, "idem", headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202
    body = first.json()
    assert body["duplicate"] is False
    assert len(body["deliveries"]) == 1
    assert body["message"]["idempotency_key"] == "k-1"
    assert body["message"]["payload"] == {"n": 1}
    again = await publish(api, "idem", headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert again.json()["message"]["id"] == body["message"]["id"]
    messages = (await api.client.get(f"{V1}/applications/idem/messages")).json()["items"]
    assert len(messages) == 1
    deliveries = (
        await api.client.get(f"{V1}/applications/idem/messages/{body['message']['id']}/deliveries")
    ).json()
    assert len(deliveries) == 1  # still one delivery
    metrics = (await api.client.get("/metrics")).text
    assert 'hookgate_messages_published_total{app="idem"} 1.0' in metrics
    too_long = await publish(api, "idem", headers={"Idempotency-Key": "k" * 257})
    assert too_long.status_code == 422
    assert error_code(too_long) == "validation_error"


async def test_publish_validation(api: Api) -> None:
    await new_app(api, "pv")
    url = f"{V1}/applications/pv/messages"
    for body in (
        {},
        {"event_type": "a"},
        {"event_type": "", "payload": {}},
        {"event_type": "a", "payload": "string"},
        {"event_type": "a", "payload": {}, "x": 1},
    ):
        response = await api.client.post(url, json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    bad_type = await api.client.post(url, json={"event_type": "bad type!", "payload": {}})
    assert bad_type.status_code == 422
    assert error_code(bad_type) == "invalid"
    listed = await api.client.post(url, json={"event_type": "list.payload", "payload": [1, 2]})
    assert listed.status_code == 202
    assert listed.json()["deliveries"] == []
    missing = await publish(api, "nope")
    assert missing.status_code == 404


async def test_list_messages_filters_and_cursor(api: Api) -> None:
    await new_app(api, "lm")
    ids: list[str] = []
    stamps: list[float] = []
    for i in range(6):
        kind = "order.created" if i % 2 == 0 else "order.paid"
        response = await publish(api, "lm", kind, payload={"i": i})
        ids.append(response.json()["message"]["id"])
        stamps.append(response.json()["message"]["created_at"])
    url = f"{V1}/applications/lm/messages"
    walked: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.client.get(url, params=params)).json()
        assert len(page["items"]) <= 2
        walked += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(walked) <= 6
    assert sorted(walked) == sorted(ids)
    assert len(walked) == 6

    created = (await api.client.get(url, params={"event_type": "order.created"})).json()["items"]
    assert {m["event_type"] for m in created} == {"order.created"}
    assert len(created) == 3
    since = (await api.client.get(url, params={"since": stamps[3]})).json()["items"]
    assert {m["id"] for m in since} == {m for m, t in zip(ids, stamps, strict=True) if t >= stamps[3]}
    # [since, until): until is exclusive
    until = (await api.client.get(url, params={"until": stamps[-1]})).json()["items"]
    assert ids[0] in {m["id"] for m in until}
    assert ids[-1] not in {m["id"] for m in until}
    assert all(m["created_at"] < stamps[-1] for m in until)
    excl = (await api.client.get(url, params={"until": stamps[0]})).json()["items"]
    assert ids[0] not in {m["id"] for m in excl}
    window = (await api.client.get(url, params={"since": stamps[1], "until": stamps[3]})).json()["items"]
    assert {m["id"] for m in window} == {
        m for m, t in zip(ids, stamps, strict=True) if stamps[1] <= t < stamps[3]
    }

    for params in ({"limit": 0}, {"since": "x"}, {"until": "y"}):
        response = await api.client.get(url, params=params)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), params
    response = await api.client.get(url, params={"cursor": "%%%"})
    assert response.status_code == 422
    assert error_code(response) == "invalid"


async def test_get_message_attempts_and_resend(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "gm")
    rec = await receiver(200)
    ep_id = (await new_endpoint(api, "gm", rec.url))["endpoint"]["id"]
    published = (await publish(api, "gm", payload={"hello": "world"})).json()
    msg_id = published["message"]["id"]
    delivery_id = published["deliveries"][0]["id"]
    await api.deliver()
    got = await api.client.get(f"{V1}/applications/gm/messages/{msg_id}")
    assert got.status_code == 200
    assert got.json()["payload"] == {"hello": "world"}
    assert got.json()["id"] == msg_id
    delivered = (await api.client.get(f"{V1}/applications/gm/messages/{msg_id}/deliveries")).json()
    assert [(d["id"], d["status"]) for d in delivered] == [(delivery_id, "delivered")]
    attempts = (await api.client.get(f"{V1}/applications/gm/messages/{msg_id}/attempts")).json()
    assert attempts["next_cursor"] is None
    assert [(a["delivery_id"], a["status_code"]) for a in attempts["items"]] == [(delivery_id, 200)]

    resent = await api.client.post(f"{V1}/applications/gm/deliveries/{delivery_id}/resend")
    assert resent.status_code == 200
    assert resent.json()["status"] == "pending"
    assert resent.json()["attempts"] == 0
    await api.deliver()
    assert len(rec.bodies) == 2
    deliveries = (await api.client.get(f"{V1}/applications/gm/endpoints/{ep_id}/deliveries")).json()
    assert [d["status"] for d in deliveries["items"]] == ["delivered"]

    for url in (
        f"{V1}/applications/gm/messages/msg_nope",
        f"{V1}/applications/gm/messages/msg_nope/attempts",
        f"{V1}/applications/gm/messages/msg_nope/deliveries",
    ):
        response = await api.client.get(url)
        assert response.status_code == 404
        assert error_code(response) == "not_found"
    response = await api.client.post(f"{V1}/applications/gm/deliveries/dlv_nope/resend")
    assert response.status_code == 404


async def test_list_messages_filters_by_delivery_status(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "st")
    ok = await receiver(200)
    bad = await receiver(500)
    await new_endpoint(api, "st", ok.url, event_types=["order.*"])
    await new_endpoint(api, "st", bad.url, event_types=["order.paid"], retry_schedule=[0, 3600])
    created = (await publish(api, "st", "order.created")).json()["message"]["id"]
    paid = (await publish(api, "st", "order.paid")).json()["message"]["id"]
    nobody = (await publish(api, "st", "user.created")).json()["message"]["id"]
    await api.deliver()
    url = f"{V1}/applications/st/messages"

    async def listed(**params: Any) -> list[str]:
        response = await api.client.get(url, params=params)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    assert await listed(status="failed") == [paid]
    assert await listed(status="delivered") == [paid, created]  # newest first
    assert await listed(status="dead") == []
    assert await listed(status="failed", event_type="order.created") == []
    assert await listed(status="delivered", event_type="order.created") == [created]
    assert await listed() == [nobody, paid, created]
    first = (await api.client.get(url, params={"status": "delivered", "limit": 1})).json()
    assert [m["id"] for m in first["items"]] == [paid]
    assert await listed(status="delivered", limit=1, cursor=first["next_cursor"]) == [created]
    for status in ("nonsense", "FAILED", ""):
        response = await api.client.get(url, params={"status": status})
        assert (response.status_code, error_code(response)) == (422, "validation_error"), status


async def test_message_attempts_pages_and_message_deliveries(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "ma")
    ok = await receiver(200)
    bad = await receiver(500)
    ok_id = (await new_endpoint(api, "ma", ok.url))["endpoint"]["id"]
    bad_id = (await new_endpoint(api, "ma", bad.url, retry_schedule=[0, 0]))["endpoint"]["id"]
    msg_id = (await publish(api, "ma")).json()["message"]["id"]
    other_id = (await publish(api, "ma")).json()["message"]["id"]
    await api.deliver()
    base = f"{V1}/applications/ma/messages/{msg_id}"

    deliveries = (await api.client.get(f"{base}/deliveries")).json()
    assert isinstance(deliveries, list)
    assert {d["endpoint_id"]: d["status"] for d in deliveries} == {ok_id: "delivered", bad_id: "dead"}
    assert all(d["message_id"] == msg_id for d in deliveries)
    total = sum(d["attempts"] for d in deliveries)
    assert total >= 3

    walked: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.client.get(f"{base}/attempts", params=params)).json()
        assert set(page) == {"items", "next_cursor"}
        assert 1 <= len(page["items"]) <= 2
        walked += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(walked) < total
    ids = [a["id"] for a in walked]
    assert len(walked) == total
    assert ids == sorted(ids, reverse=True)  # newest first, no repeats
    assert len(set(ids)) == total
    assert {a["delivery_id"] for a in walked} == {d["id"] for d in deliveries}
    whole = (await api.client.get(f"{base}/attempts")).json()
    assert whole["items"] == walked
    assert whole["next_cursor"] is None
    others = (await api.client.get(f"{V1}/applications/ma/messages/{other_id}/attempts")).json()
    assert len(others["items"]) == total
    assert not {a["id"] for a in others["items"]} & set(ids)

    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        response = await api.client.get(f"{base}/attempts", params=params)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), params
    messages_cursor = (await api.client.get(f"{V1}/applications/ma/messages", params={"limit": 1})).json()
    for cursor in ("%%%", messages_cursor["next_cursor"]):
        response = await api.client.get(f"{base}/attempts", params={"cursor": cursor})
        assert (response.status_code, error_code(response)) == (422, "invalid"), cursor
    await new_app(api, "ma2")
    for path in ("attempts", "deliveries"):
        foreign = await api.client.get(f"{V1}/applications/ma2/messages/{msg_id}/{path}")
        assert (foreign.status_code, error_code(foreign)) == (404, "not_found")
