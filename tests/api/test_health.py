"""The ops routes and documents: liveness, readiness, metrics, the JWKS and the OpenAPI listing."""

from __future__ import annotations

import httpx

from tests.api.conftest import Api
from tests.api.helpers import V1, MakeReceiver, new_app, new_endpoint, publish


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
