"""An inbound source's decisions are kept in the store off the request's path: real requests through
``hookgate serve``'s inbound router, then the API route and the console's sources pages read them back,
after the router (the process) is gone."""

from __future__ import annotations

import httpx

from hookgate.api.inbound import InboundRouter
from tests.api.conftest import BASE, Api
from tests.api.test_inbound import SOURCE
from tests.console.helpers import sign_in
from tests.inbound._peers import GH_BODY, github_headers

V1 = "/api/v1"


async def test_decisions_are_stored_by_reason_and_read_through_the_api_and_the_console(api: Api) -> None:
    router = InboundRouter(api.app, api.hg, refresh_s=0.0)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url=BASE) as client:
            created = await client.post(f"{V1}/sources", json=SOURCE, headers=api.auth())
            assert created.status_code == 201, created.text
            source_id = created.json()["id"]
            for delivery, body in (("d-1", GH_BODY), ("d-1", GH_BODY), ("d-2", b"forged"), ("d-3", b"!")):
                await client.post("/inbound/github", content=body, headers=github_headers(delivery))
    finally:
        await router.close()  # the process stops: what is buffered is written
    client = api.client
    answer = await client.get(f"{V1}/sources/{source_id}/decisions")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [(d["outcome"], d["reason"], d["status"]) for d in found["items"]] == [
        ("rejected", "signature_mismatch", 401),
        ("rejected", "signature_mismatch", 401),
        ("duplicate", "duplicate", 200),
        ("accepted", "ok", 200),
    ]
    assert {d["peer"] for d in found["items"]} == {"127.0.0.1"}
    assert found["last_hour"] == [
        {"outcome": "rejected", "reason": "signature_mismatch", "count": 2},
        {"outcome": "accepted", "reason": "ok", "count": 1},
        {"outcome": "duplicate", "reason": "duplicate", "count": 1},
    ]
    only = await client.get(f"{V1}/sources/{source_id}/decisions", params={"reason": "ok", "limit": 5})
    assert [d["reason"] for d in only.json()["items"]] == ["ok"]
    assert (await client.get(f"{V1}/sources/{source_id}/decisions", params={"limit": 0})).status_code == 422
    assert (await client.get(f"{V1}/sources/src_nope/decisions")).status_code == 404

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url=BASE) as browser:
        await sign_in(browser, api.token)
        listed = await browser.get("/ui/sources")
        assert "rejected (signature_mismatch): 2" in listed.text, listed.text
        page = await browser.get(f"/ui/sources/{source_id}")
        assert page.status_code == 200, page.text
        assert page.text.count('<tr class="decision">') == 4
        filtered = await browser.get(f"/ui/sources/{source_id}", params={"reason": "signature_mismatch"})
        assert filtered.text.count('<tr class="decision">') == 2
        assert "Show all" in filtered.text
