"""The tasks routes: a dry run answers the count (200) and stores nothing, a task is 202 and runs to done,
cancel, list, and the refusals (422) of filters a kind does not take."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

V1 = "/api/v1"


async def test_dry_run_create_run_list_cancel(api: Api) -> None:
    c = api.client
    assert (await c.post(f"{V1}/applications", json={"name": "t", "id": "t-app"})).status_code == 201
    ep = (await c.post(f"{V1}/applications/t-app/endpoints", json={"url": "https://example.com/h"})).json()
    for _ in range(3):
        await c.post(f"{V1}/applications/t-app/messages", json={"event_type": "a.b", "payload": {}})
    body = {"kind": "cancel_pending", "endpoint_id": ep["endpoint"]["id"], "due_before": api.hg.now() + 60}
    dry = await c.post(f"{V1}/applications/t-app/tasks", json={**body, "dry_run": True})
    assert (dry.status_code, dry.json()) == (200, {"dry_run": True, "kind": "cancel_pending", "matched": 3})
    assert (await c.get(f"{V1}/applications/t-app/tasks")).json() == {"items": []}

    created = await c.post(f"{V1}/applications/t-app/tasks", json=body)
    assert created.status_code == 202, created.text
    task = created.json()
    assert (task["state"], task["matched"], task["done"]) == ("pending", 3, 0)
    assert await api.hg.run_tasks() == 1
    shown = (await c.get(f"{V1}/applications/t-app/tasks/{task['id']}")).json()
    assert (shown["state"], shown["done"], shown["filters"]["due_before"]) == ("done", 3, body["due_before"])
    # cancelling a finished task changes nothing; a pending one is cancelled
    assert (await c.post(f"{V1}/applications/t-app/tasks/{task['id']}/cancel")).json()["state"] == "done"
    other = (await c.post(f"{V1}/applications/t-app/tasks", json={"kind": "resend"})).json()
    cancelled = await c.post(f"{V1}/applications/t-app/tasks/{other['id']}/cancel")
    assert cancelled.json()["state"] == "cancelled"
    listed = (await c.get(f"{V1}/applications/t-app/tasks")).json()["items"]
    assert sorted(t["id"] for t in listed) == sorted([other["id"], task["id"]])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "replay_missing"}, "replay_missing needs an endpoint_id"),
        ({"kind": "cancel_pending"}, "due_before is required for cancel_pending"),
        ({"kind": "resend", "due_before": 1}, "due_before is required for cancel_pending"),
        ({"kind": "cancel_pending", "due_before": 1, "statuses": ["dead"]}, "statuses only apply to resend"),
        ({"kind": "cancel_pending", "due_before": 1, "status_class": "5xx"}, "status_class must be one of"),
        ({"kind": "resend", "since": 5, "until": 5}, "since must be before until"),
        ({"kind": "resend", "event_types": ["not a type!"]}, "event type"),
    ],
)
async def test_refusals(api: Api, body: dict[str, object], message: str) -> None:
    await api.client.post(f"{V1}/applications", json={"name": "t", "id": "t-app"})
    response = await api.client.post(f"{V1}/applications/t-app/tasks", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
