"""Endpoints over the API: secrets shown once, validation, rotation, disable/enable, deliveries, attempts,
health and recovery."""

from __future__ import annotations

import json
import time

from tests.api.conftest import Api
from tests.api.helpers import V1, MakeReceiver, error_code, new_app, new_endpoint, publish


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


async def test_resend_every_dead_delivery_of_an_endpoint(api: Api, receiver: MakeReceiver) -> None:
    """One operation instead of a client-side loop over the deliveries (`hookgate resend --endpoint`)."""
    await new_app(api, "bulk")
    rec = await receiver(500)
    endpoint_id = (await new_endpoint(api, "bulk", rec.url, retry_schedule=[0]))["endpoint"]["id"]
    for n in range(3):
        assert (await publish(api, "bulk", payload={"n": n})).status_code == 202
    await api.deliver()
    base = f"{V1}/applications/bulk/endpoints/{endpoint_id}"
    dead = (await api.client.get(f"{base}/deliveries", params={"status": "dead"})).json()["items"]
    assert len(dead) == 3
    nothing = {"resent": 0, "ids": [], "more": False, "dry_run": False}
    assert (await api.client.post(f"{base}/resend", json={"status": "failed"})).json() == nothing

    resent = await api.client.post(f"{base}/resend", json={})  # dead by default, all of them
    assert resent.status_code == 200, resent.text
    assert resent.json() == {"resent": 3, "ids": [d["id"] for d in dead], "more": False, "dry_run": False}
    pending = (await api.client.get(f"{base}/deliveries", params={"status": "pending"})).json()["items"]
    assert {d["id"] for d in pending} == {d["id"] for d in dead}
    assert all(d["attempts"] == 0 for d in pending)
    assert (await api.client.post(f"{base}/resend", json={"status": "dead"})).json() == nothing

    rec.respond = 200
    await api.deliver()
    delivered = (await api.client.get(f"{base}/deliveries", params={"status": "delivered"})).json()["items"]
    assert len(delivered) == 3
    assert len(rec.bodies) == 6  # three failed attempts, three delivered again

    for body in (
        {"status": "pending"},
        {"status": "delivered"},
        {"status": 1},
        {"limit": "5"},
        {"limit": True},
        {"limit": 1.5},
        {"dry_run": "yes"},
        {"dry_run": 1},
        {"ids": []},
    ):
        refused = await api.client.post(f"{base}/resend", json=body)
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), body
    for body in ({"limit": 0}, {"limit": -1}):
        refused = await api.client.post(f"{base}/resend", json=body)
        assert (refused.status_code, error_code(refused)) == (422, "invalid"), body
        assert "limit must be a positive integer" in refused.text
    missing = await api.client.post(f"{V1}/applications/bulk/endpoints/ep_nope/resend", json={})
    assert (missing.status_code, error_code(missing)) == (404, "not_found")


async def test_resend_dry_run_and_limit(api: Api, receiver: MakeReceiver) -> None:
    """A dry run answers what would be resent and changes nothing; limit takes the newest first and says
    whether more remain; another application's endpoint is not found (the CLI's count, then its resend)."""
    await new_app(api, "dry")
    await new_app(api, "other")
    rec = await receiver(500)
    endpoint_id = (await new_endpoint(api, "dry", rec.url, retry_schedule=[0]))["endpoint"]["id"]
    for n in range(3):
        assert (await publish(api, "dry", payload={"n": n})).status_code == 202
    await api.deliver()
    base = f"{V1}/applications/dry/endpoints/{endpoint_id}"

    async def dead_ids() -> list[str]:
        answer = await api.client.get(f"{base}/deliveries", params={"status": "dead"})
        return [d["id"] for d in answer.json()["items"]]

    dead = await dead_ids()  # newest first
    assert len(dead) == 3
    everything = await api.client.post(f"{base}/resend", json={"dry_run": True})
    assert everything.json() == {"resent": 3, "ids": dead, "more": False, "dry_run": True}
    assert await dead_ids() == dead  # nothing changed
    exactly = await api.client.post(f"{base}/resend", json={"dry_run": True, "limit": 3})
    assert exactly.json() == {"resent": 3, "ids": dead, "more": False, "dry_run": True}
    two = await api.client.post(f"{base}/resend", json={"dry_run": True, "limit": 2, "status": "dead"})
    assert two.json() == {"resent": 2, "ids": dead[:2], "more": True, "dry_run": True}
    failed = await api.client.post(f"{base}/resend", json={"dry_run": True, "status": "failed"})
    assert failed.json() == {"resent": 0, "ids": [], "more": False, "dry_run": True}
    assert await dead_ids() == dead

    # another application's token-visible path does not reach this endpoint, dry run or not
    for body in ({"dry_run": True}, {}):
        across = await api.client.post(f"{V1}/applications/other/endpoints/{endpoint_id}/resend", json=body)
        assert (across.status_code, error_code(across)) == (404, "not_found"), body
    assert await dead_ids() == dead

    one = await api.client.post(f"{base}/resend", json={"limit": 1})
    assert one.json() == {"resent": 1, "ids": dead[:1], "more": True, "dry_run": False}
    assert await dead_ids() == dead[1:]
    rest = await api.client.post(f"{base}/resend", json={"limit": 5, "dry_run": False})
    assert rest.json() == {"resent": 2, "ids": dead[1:], "more": False, "dry_run": False}
    assert await dead_ids() == []
