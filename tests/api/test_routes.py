"""Every management API route with an admin token: the happy path and the main validation errors."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.api.conftest import Api, Receiver

V1 = "/api/v1"

MakeReceiver = Callable[[int], Awaitable[Receiver]]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    code = body["error"]["code"]
    assert isinstance(code, str)
    return code


async def new_app(api: Api, app_id: str | None = None, name: str = "shop") -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if app_id is not None:
        body["id"] = app_id
    response = await api.client.post(f"{V1}/applications", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def new_endpoint(api: Api, app_id: str, url: str, **options: Any) -> dict[str, Any]:
    response = await api.client.post(
        f"{V1}/applications/{app_id}/endpoints", json={"url": url, "allow_insecure": True, **options}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def publish(api: Api, app_id: str, event_type: str = "order.created", **kw: Any) -> httpx.Response:
    return await api.client.post(
        f"{V1}/applications/{app_id}/messages",
        json={"event_type": event_type, "payload": kw.pop("payload", {"n": 1})},
        **kw,
    )


# -- ops ----------------------------------------------------------------------------------------------


async def test_healthz_readyz_need_no_token(api: Api) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://t") as anon:
        assert (await anon.get("/healthz")).json() == {"status": "ok"}
        ready = await anon.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}


async def test_metrics_prometheus_text(api: Api, receiver: MakeReceiver) -> None:
    app = await new_app(api, "m1")
    rec = await receiver(200)
    await new_endpoint(api, app["id"], rec.url)
    assert (await publish(api, "m1")).status_code == 202
    text = (await api.client.get("/metrics")).text
    assert "hookgate_queue_depth 1.0" in text
    assert 'hookgate_messages_published_total{app="m1"} 1.0' in text
    response = await api.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    await api.deliver()
    text = (await api.client.get("/metrics")).text
    assert "hookgate_queue_depth 0.0" in text
    assert "hookgate_deliveries_delivered_total 1.0" in text
    assert 'hookgate_attempts_total{status_class="2xx"} 1.0' in text
    for name in ("hookgate_circuits_open", "hookgate_attempt_duration_seconds_bucket"):
        assert name in text


async def test_jwks_one_public_key(api: Api) -> None:
    response = await api.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1
    private_members = {"d", "p", "q", "dp", "dq", "qi", "k"}
    assert not private_members & set(keys[0]), keys[0]
    assert keys[0]["kid"]


async def test_openapi_lists_every_route(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    paths = set(doc["paths"])
    routes = {r.path for r in api.app.routes if r.path.startswith(V1)}
    assert routes <= paths
    assert "ErrorResponse" in doc["components"]["schemas"]


# -- applications -------------------------------------------------------------------------------------


async def test_create_and_get_application(api: Api) -> None:
    created = await new_app(api, "acme", "Acme Inc")
    assert created["id"] == "acme"
    assert created["name"] == "Acme Inc"
    assert isinstance(created["created_at"], float)
    got = await api.client.get(f"{V1}/applications/acme")
    assert got.status_code == 200
    assert got.json() == created
    generated = await new_app(api, None, "no id")
    assert generated["id"].startswith("app")
    missing = await api.client.get(f"{V1}/applications/nope")
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"


async def test_duplicate_application_id_conflicts(api: Api) -> None:
    await new_app(api, "dup")
    again = await api.client.post(f"{V1}/applications", json={"name": "x", "id": "dup"})
    assert again.status_code == 409
    assert error_code(again) == "conflict"


async def test_create_application_validation(api: Api) -> None:
    for body in (
        {},
        {"name": ""},
        {"name": "x" * 257},
        {"name": "x", "id": "has space"},
        {"name": "x", "id": "x" * 65},
        {"name": "x", "extra": 1},
        {"name": 5},
    ):
        response = await api.client.post(f"{V1}/applications", json=body)
        assert response.status_code == 422, body
        assert error_code(response) == "validation_error"
        assert response.json()["error"]["details"]
    bad_json = await api.client.post(
        f"{V1}/applications", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert error_code(bad_json) == "validation_error"


async def test_list_applications_cursor_walk(api: Api) -> None:
    ids = {(await new_app(api, f"a{i:02d}"))["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get(f"{V1}/applications", params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 3
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert set(seen) == ids
    assert len(seen) == len(ids)
    assert pages >= 3
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        response = await api.client.get(f"{V1}/applications", params=params)
        assert response.status_code == 422
        assert error_code(response) == "validation_error"
    response = await api.client.get(f"{V1}/applications", params={"cursor": "garbage!!"})
    assert response.status_code == 422
    assert error_code(response) == "invalid"


# -- event types --------------------------------------------------------------------------------------


async def test_event_types_put_and_list(api: Api) -> None:
    await new_app(api, "et")
    url = f"{V1}/applications/et/event-types"
    put = await api.client.put(url, json={"name": "order.created", "description": "new order"})
    assert put.status_code == 200
    assert put.json()["name"] == "order.created"
    assert put.json()["archived"] is False
    update = await api.client.put(url, json={"name": "order.created", "description": "v2", "archived": True})
    assert update.status_code == 200
    assert update.json()["description"] == "v2"
    await api.client.put(url, json={"name": "order.paid"})
    listed = (await api.client.get(url)).json()
    by_name = {e["name"]: e for e in listed}
    assert set(by_name) == {"order.created", "order.paid"}
    assert by_name["order.created"]["archived"] is True
    for body in ({"name": "bad name"}, {"name": ""}, {"name": "a..b"}, {"name": "a", "archived": "maybe"}):
        response = await api.client.put(url, json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    missing = await api.client.get(f"{V1}/applications/nope/event-types")
    assert missing.status_code == 404


# -- endpoints ----------------------------------------------------------------------------------------


async def test_endpoint_secret_shown_once(api: Api) -> None:
    await new_app(api, "ep")
    created = await new_endpoint(api, "ep", "http://127.0.0.1:9/hook", event_types=["order.*"])
    secret = created["secret"]
    assert secret
    assert secret.startswith("whsec_")
    endpoint = created["endpoint"]
    assert endpoint["app_id"] == "ep"
    assert endpoint["enabled"] is True
    assert endpoint["event_types"] == ["order.*"]
    assert endpoint["scheme"] == "standard-webhooks"
    assert secret not in json.dumps(endpoint)
    one = await api.client.get(f"{V1}/applications/ep/endpoints/{endpoint['id']}")
    assert one.status_code == 200
    assert one.json() == endpoint
    listed = await api.client.get(f"{V1}/applications/ep/endpoints")
    assert [e["id"] for e in listed.json()] == [endpoint["id"]]
    for response in (one, listed):
        assert secret not in response.text
        assert secret.removeprefix("whsec_") not in response.text
        assert "secret" not in response.text


async def test_given_secret_never_read_back(api: Api) -> None:
    await new_app(api, "eps")
    given = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    created = await new_endpoint(api, "eps", "http://127.0.0.1:9/hook", secret=given)
    assert created["secret"] is None  # only a generated secret is returned
    ep_id = created["endpoint"]["id"]
    for url in (f"{V1}/applications/eps/endpoints/{ep_id}", f"{V1}/applications/eps/endpoints"):
        text = (await api.client.get(url)).text
        assert given not in text
        assert given.removeprefix("whsec_") not in text


async def test_tls_client_key_never_returned(api: Api) -> None:
    trustme = __import__("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("client.example")
    key_pem = cert.private_key_pem.bytes().decode()
    cert_pem = cert.cert_chain_pems[0].bytes().decode()
    await new_app(api, "tls")
    created = await new_endpoint(
        api, "tls", "https://127.0.0.1:9/hook", tls={"client_cert": cert_pem, "client_key": key_pem}
    )
    ep_id = created["endpoint"]["id"]
    marker = key_pem.splitlines()[1]
    assert marker not in json.dumps(created)
    for url in (f"{V1}/applications/tls/endpoints/{ep_id}", f"{V1}/applications/tls/endpoints"):
        response = await api.client.get(url)
        assert response.status_code == 200
        assert marker not in response.text
        assert "PRIVATE KEY" not in response.text
        assert "client_key" not in response.text


async def test_create_endpoint_validation(api: Api) -> None:
    await new_app(api, "epv")
    url = f"{V1}/applications/epv/endpoints"
    schema_errors = (
        {},
        {"url": ""},
        {"url": "https://x.example", "timeout_s": 0},
        {"url": "https://x.example", "timeout_s": 121},
        {"url": "https://x.example", "max_concurrency": 0},
        {"url": "https://x.example", "rate_limit_per_s": 0},
        {"url": "https://x.example", "unknown": True},
        {"url": "https://x.example", "keys": ["k"] * 9},
    )
    for body in schema_errors:
        response = await api.client.post(url, json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    engine_errors = (
        {"url": "http://insecure.example/hook"},  # http without allow_insecure
        {"url": "not a url"},
        {"url": "https://x.example", "scheme": "nope"},
        {"url": "https://x.example", "event_types": ["bad filter!"]},
        {"url": "https://x.example", "retry_schedule": []},
        {"url": "https://x.example", "scheme": "none", "secret": "whsec_abc"},
        {"url": "https://x.example", "headers": {"Host": "evil"}},
    )
    for body in engine_errors:
        response = await api.client.post(url, json=body)
        assert (response.status_code, error_code(response)) == (422, "invalid"), (body, response.text)
    missing = await api.client.post(f"{V1}/applications/nope/endpoints", json={"url": "https://x.example"})
    assert missing.status_code == 404


async def test_rotate_secret(api: Api) -> None:
    await new_app(api, "rot")
    created = await new_endpoint(api, "rot", "http://127.0.0.1:9/hook")
    ep_id = created["endpoint"]["id"]
    url = f"{V1}/applications/rot/endpoints/{ep_id}/rotate-secret"
    rotated = await api.client.post(url, json={"grace_s": 60})
    assert rotated.status_code == 200
    assert rotated.json()["grace_s"] == 60
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != created["secret"]
    default = await api.client.post(url, json={})
    assert default.status_code == 200
    assert default.json()["grace_s"] == 24 * 3600
    text = (await api.client.get(f"{V1}/applications/rot/endpoints/{ep_id}")).text
    assert new_secret not in text
    for body in ({"grace_s": -1}, {"grace_s": 31 * 24 * 3600}, {"extra": 1}):
        response = await api.client.post(url, json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    bad = await api.client.post(url, json={"secret": "whsec_!!!"})
    assert bad.status_code == 422
    assert error_code(bad) == "invalid"
    none_ep = await new_endpoint(api, "rot", "http://127.0.0.1:9/hook", scheme="none")
    url_none = f"{V1}/applications/rot/endpoints/{none_ep['endpoint']['id']}/rotate-secret"
    response = await api.client.post(url_none, json={})
    assert response.status_code == 422
    assert error_code(response) == "invalid"
    missing = await api.client.post(f"{V1}/applications/rot/endpoints/ep_nope/rotate-secret", json={})
    assert missing.status_code == 404


async def test_disable_enable(api: Api) -> None:
    await new_app(api, "dis")
    ep_id = (await new_endpoint(api, "dis", "http://127.0.0.1:9/hook"))["endpoint"]["id"]
    base = f"{V1}/applications/dis/endpoints/{ep_id}"
    disabled = await api.client.post(f"{base}/disable", json={"reason": "maintenance"})
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "maintenance"
    default = await api.client.post(f"{base}/disable", json={})
    assert default.json()["disabled_reason"] == "disabled by operator"
    health = (await api.client.get(f"{base}/health")).json()
    assert health["enabled"] is False
    enabled = await api.client.post(f"{base}/enable")
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    long = await api.client.post(f"{base}/disable", json={"reason": "x" * 513})
    assert long.status_code == 422
    assert error_code(long) == "validation_error"


async def test_deliveries_attempts_health_and_recover(api: Api, receiver: MakeReceiver) -> None:
    await new_app(api, "dl")
    ok = await receiver(200)
    bad = await receiver(500)
    ok_id = (await new_endpoint(api, "dl", ok.url, event_types=["order.*"]))["endpoint"]["id"]
    bad_id = (await new_endpoint(api, "dl", bad.url, retry_schedule=[0]))["endpoint"]["id"]
    before = time.time() - 1
    published = await publish(api, "dl")
    assert published.status_code == 202
    deliveries = published.json()["deliveries"]
    assert {d["endpoint_id"] for d in deliveries} == {ok_id, bad_id}
    await api.deliver()
    assert len(ok.bodies) == 1
    assert len(bad.bodies) == 1
    bad_only = await publish(api, "dl", "other.event")
    assert bad_only.status_code == 202
    assert len(bad_only.json()["deliveries"]) == 1
    await api.deliver()

    ok_base = f"{V1}/applications/dl/endpoints/{ok_id}"
    attempts = (await api.client.get(f"{ok_base}/attempts")).json()
    assert len(attempts["items"]) == 1
    assert attempts["items"][0]["status_code"] == 200
    assert attempts["items"][0]["outcome"]
    delivered = (await api.client.get(f"{ok_base}/deliveries")).json()
    assert [d["status"] for d in delivered["items"]] == ["delivered"]
    filtered = (await api.client.get(f"{ok_base}/deliveries", params={"status": "dead"})).json()
    assert filtered["items"] == []
    bad_status = await api.client.get(f"{ok_base}/deliveries", params={"status": "nonsense"})
    assert bad_status.status_code == 422
    assert error_code(bad_status) == "validation_error"
    health = (await api.client.get(f"{ok_base}/health")).json()
    assert health["recent_attempts"] == 1
    assert health["recent_success_rate"] == 1.0
    assert health["last_error"] is None
    assert health["endpoint_id"] == ok_id

    bad_base = f"{V1}/applications/dl/endpoints/{bad_id}"
    bad_deliveries = (await api.client.get(f"{bad_base}/deliveries")).json()["items"]
    assert [d["status"] for d in bad_deliveries] == ["dead", "dead"]
    health = (await api.client.get(f"{bad_base}/health")).json()
    assert health["recent_success_rate"] == 0.0
    assert health["last_error"]["status_code"] == 500
    page = (await api.client.get(f"{bad_base}/attempts", params={"limit": 1})).json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    nxt = (
        await api.client.get(f"{bad_base}/attempts", params={"limit": 1, "cursor": page["next_cursor"]})
    ).json()
    assert nxt["items"]
    assert nxt["items"][0]["id"] != page["items"][0]["id"]

    recovered = await api.client.post(f"{bad_base}/recover", json={"since": before})
    assert recovered.status_code == 200
    assert recovered.json() == {"recovered": 2}
    assert (await api.client.get(f"{bad_base}/deliveries", params={"status": "pending"})).json()["items"]
    nothing = await api.client.post(f"{ok_base}/recover", json={"since": before})
    assert nothing.json() == {"recovered": 0}
    for body in ({}, {"since": -1}, {"since": "yesterday"}):
        response = await api.client.post(f"{bad_base}/recover", json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    for path in ("attempts", "deliveries", "health"):
        missing = await api.client.get(f"{V1}/applications/dl/endpoints/ep_nope/{path}")
        assert missing.status_code == 404
        assert error_code(missing) == "not_found"


# -- messages -----------------------------------------------------------------------------------------


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


# -- tokens -------------------------------------------------------------------------------------------


async def test_tokens_create_list_revoke(api: Api) -> None:
    await new_app(api, "tk")
    created = await api.client.post(f"{V1}/tokens", json={"name": "ci", "scope": "tk"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    token = created.json()["token"]
    assert secret.startswith("hgk_")
    assert token["scope"] == "tk"
    assert token["revoked_at"] is None
    listed = await api.client.get(f"{V1}/tokens")
    assert listed.status_code == 200
    assert {t["id"] for t in listed.json()} >= {token["id"]}
    assert secret not in listed.text
    assert "hash" not in listed.text
    app_view = await api.client.get(f"{V1}/applications", headers=api.auth(secret))
    assert app_view.status_code == 200
    assert [a["id"] for a in app_view.json()["items"]] == ["tk"]

    revoked = await api.client.post(f"{V1}/tokens/{token['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = await api.client.get(f"{V1}/applications/tk", headers=api.auth(secret))
    assert after.status_code == 401
    assert error_code(after) == "unauthorized"

    admin2 = await api.client.post(f"{V1}/tokens", json={"name": "ops", "scope": "admin"})
    assert admin2.status_code == 201
    assert (
        await api.client.get(f"{V1}/tokens", headers=api.auth(admin2.json()["secret"]))
    ).status_code == 200

    unknown_app = await api.client.post(f"{V1}/tokens", json={"name": "x", "scope": "nope"})
    assert unknown_app.status_code == 404
    for body in ({}, {"name": "", "scope": "admin"}, {"name": "x", "scope": ""}, {"name": "x"}):
        response = await api.client.post(f"{V1}/tokens", json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
    missing = await api.client.post(f"{V1}/tokens/tok_nope/revoke")
    assert missing.status_code == 404


async def test_bad_authorization_headers(api: Api) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://t") as anon:
        url = f"{V1}/applications"
        for headers in (
            {},
            {"Authorization": ""},
            {"Authorization": api.token},
            {"Authorization": f"Basic {api.token}"},
            {"Authorization": "Bearer hgk_wrong"},
            {"Authorization": "Bearer " + api.token[4:]},
            {"Authorization": f"Bearer {api.token}x"},
            {"Authorization": "Bearer hgk_" + "a" * 300},
        ):
            response = await anon.get(url, headers=headers)
            assert response.status_code == 401, headers
            assert error_code(response) == "unauthorized"
        assert (await anon.get(url, headers={"Authorization": f"bearer {api.token}"})).status_code == 200


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
