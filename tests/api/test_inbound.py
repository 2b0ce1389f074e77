"""hookgate serve's inbound side: API-managed sources served under /inbound/, acked after the store commit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trustme

from hookgate.api.inbound import InboundRouter
from hookgate.gateway.app import GATEWAY_APP_ID
from hookgate.vault import open_secrets
from tests.api.conftest import Api
from tests.inbound._peers import GH_BODY, GH_SECRET, github_headers

V1 = "/api/v1"
SOURCE = {
    "name": "github",
    "scheme": "github",
    "secrets": [GH_SECRET],
    "path": "/inbound/github",
    "forward_to": "https://app.example/hooks/github",
    "forward_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "event_id": "header:X-GitHub-Delivery",
    "require_https": False,
}


@pytest.fixture
async def served(api: Api) -> AsyncIterator[tuple[InboundRouter, httpx.AsyncClient]]:
    router = InboundRouter(api.app, api.hg, refresh_s=0.0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=router), base_url="http://testserver"
    ) as c:
        yield router, c
    await router.close()


async def test_a_source_created_through_the_api_receives_webhooks(
    api: Api, served: tuple[InboundRouter, httpx.AsyncClient]
) -> None:
    _, client = served
    assert (
        await client.post("/inbound/github", content=GH_BODY, headers=github_headers())
    ).status_code == 404
    created = await client.post(f"{V1}/sources", json=SOURCE, headers=api.auth())
    assert created.status_code == 201, created.text
    accepted = await client.post("/inbound/github", content=GH_BODY, headers=github_headers("d-1"))
    assert (accepted.status_code, accepted.json()) == (200, {"status": "accepted"})
    again = await client.post("/inbound/github", content=GH_BODY, headers=github_headers("d-1"))
    assert again.json() == {"status": "already processed"}
    forged = await client.post("/inbound/github", content=GH_BODY + b"!", headers=github_headers("d-2"))
    assert (forged.status_code, forged.json()) == (401, {"error": "unauthorized"})
    page = await api.hg.store.list_messages(GATEWAY_APP_ID)
    assert [m.event_type for m in page.items] == ["gateway.github"]
    assert page.items[0].idempotency_key == "github:d-1"
    (endpoint,) = await api.hg.store.list_endpoints(GATEWAY_APP_ID)
    assert endpoint.config.url == "https://app.example/hooks/github"
    # the API itself is still served through the router
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_changes_and_deletions_take_effect(
    api: Api, served: tuple[InboundRouter, httpx.AsyncClient]
) -> None:
    _, client = served
    created = (await client.post(f"{V1}/sources", json=SOURCE, headers=api.auth())).json()
    assert (
        await client.post("/inbound/github", content=GH_BODY, headers=github_headers("e-1"))
    ).status_code == 200
    moved = {**SOURCE, "path": "/inbound/gh2"}
    assert (
        await client.put(f"{V1}/sources/{created['id']}", json=moved, headers=api.auth())
    ).status_code == 200
    assert (
        await client.post("/inbound/github", content=GH_BODY, headers=github_headers("e-2"))
    ).status_code == 404
    assert (
        await client.post("/inbound/gh2", content=GH_BODY, headers=github_headers("e-3"))
    ).status_code == 200
    assert (await client.delete(f"{V1}/sources/{created['id']}", headers=api.auth())).status_code == 204
    assert (
        await client.post("/inbound/gh2", content=GH_BODY, headers=github_headers("e-4"))
    ).status_code == 404


async def test_inbound_decisions_are_counted_in_metrics(api: Api) -> None:
    from hookgate.api.metrics import Metrics

    metrics = Metrics()
    router = InboundRouter(api.app, api.hg, refresh_s=0.0, observer=metrics.observe_inbound)
    transport = httpx.ASGITransport(app=router)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post(f"{V1}/sources", json=SOURCE, headers=api.auth())).status_code == 201
            await client.post("/inbound/github", content=GH_BODY, headers=github_headers("m-1"))
            await client.post("/inbound/github", content=GH_BODY, headers=github_headers("m-1"))
            await client.post("/inbound/github", content=b"forged", headers=github_headers("m-2"))
    finally:
        await router.close()
    text = metrics.render().decode()
    for decision in ("accepted", "duplicate", "rejected"):
        assert f'hookgate_inbound_decisions_total{{decision="{decision}",source="github"}} 1.0' in text, text


async def test_forward_tls_of_an_api_source_reaches_its_forwarding_endpoint(
    api: Api, served: tuple[InboundRouter, httpx.AsyncClient]
) -> None:
    _, client = served
    ca, leaf = trustme.CA(), trustme.CA().issue_cert("gateway@example")
    tls = {
        "ca_bundle": ca.cert_pem.bytes().decode(),
        "client_cert": "".join(b.bytes().decode() for b in leaf.cert_chain_pems),
        "client_key": leaf.private_key_pem.bytes().decode(),
    }
    created = await client.post(f"{V1}/sources", json={**SOURCE, "forward_tls": tls}, headers=api.auth())
    assert created.status_code == 201, created.text
    accepted = await client.post("/inbound/github", content=GH_BODY, headers=github_headers("t-1"))
    assert accepted.status_code == 200
    (endpoint,) = await api.hg.store.list_endpoints(GATEWAY_APP_ID)
    assert endpoint.config.sections()["tls"] == {
        "ca_bundle": tls["ca_bundle"],
        "client_cert": tls["client_cert"],
    }
    assert api.hg.box is not None
    entries = open_secrets(api.hg.box, endpoint.id, endpoint.secrets_sealed).entries
    assert [(e.kind, e.value) for e in entries if e.kind == "tls_key"] == [("tls_key", tls["client_key"])]
