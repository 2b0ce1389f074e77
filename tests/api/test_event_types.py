"""Event types over the API: declared and updated by name, listed."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.helpers import V1, error_code, new_app


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
