"""Expunging payloads over the API: one message (the view shows payload null and expunged_at, the record of
delivery stays) and an application's messages older than a time (only that application's, only older)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hookgate.api.app import create_app
from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.store.memory import MemoryStore
from hookgate.testing import FixedClock
from tests.api.conftest import BASE, Api
from tests.api.helpers import V1, error_code, new_app, new_endpoint, publish


@pytest.fixture
async def api_at(clock: FixedClock) -> AsyncIterator[Api]:
    """The API over an engine on the test's fixed clock (message times the test chooses)."""
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), clock=clock)
    token = await bootstrap(hg)
    assert token is not None
    metrics = Metrics()
    app = create_app(hg, metrics=metrics)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers) as c:
        yield Api(hg, app, metrics, token, c)
    await hg.close()


async def test_expunge_one_message(api_at: Api, clock: FixedClock) -> None:
    api = api_at
    await new_app(api, "gx")
    await new_endpoint(api, "gx", "http://127.0.0.1:9/hook")
    published = (await publish(api, "gx", payload={"email": "a@example.test"})).json()
    message_id = published["message"]["id"]
    assert published["message"]["expunged_at"] is None
    clock.advance(10)

    response = await api.client.post(f"{V1}/applications/gx/messages/{message_id}/expunge")
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["id"], view["payload"], view["expunged_at"]) == (message_id, None, clock())
    assert (await api.client.get(f"{V1}/applications/gx/messages/{message_id}")).json() == view
    (delivery,) = (await api.client.get(f"{V1}/applications/gx/messages/{message_id}/deliveries")).json()
    assert delivery["status"] == "dead"
    resend = await api.client.post(f"{V1}/applications/gx/deliveries/{delivery['id']}/resend")
    assert resend.status_code == 409, resend.text
    missing = await api.client.post(f"{V1}/applications/gx/messages/msg_nope/expunge")
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"


async def test_expunge_older_messages_of_one_application(api_at: Api, clock: FixedClock) -> None:
    api = api_at
    for app_id in ("gx", "gy"):
        await new_app(api, app_id)
    old = [(await publish(api, "gx")).json()["message"]["id"] for _ in range(3)]
    theirs = (await publish(api, "gy")).json()["message"]["id"]
    cutoff = clock.advance(60)
    new = (await publish(api, "gx")).json()["message"]["id"]

    response = await api.client.post(f"{V1}/applications/gx/messages/expunge", json={"before": cutoff})
    assert response.status_code == 200, response.text
    assert response.json() == {"expunged": 3}
    for message_id, app_id, gone in [
        *[(m, "gx", True) for m in old],
        (new, "gx", False),
        (theirs, "gy", False),
    ]:
        view = (await api.client.get(f"{V1}/applications/{app_id}/messages/{message_id}")).json()
        assert (view["payload"] is None, view["expunged_at"] is not None) == (gone, gone)
    again = await api.client.post(f"{V1}/applications/gx/messages/expunge", json={"before": cutoff})
    assert again.json() == {"expunged": 0}
    for bad in ({"before": -1}, {}, {"before": "soon"}, {"before": 1, "extra": 1}):
        refused = await api.client.post(f"{V1}/applications/gx/messages/expunge", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
