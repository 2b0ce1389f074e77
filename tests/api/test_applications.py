"""Applications over the API with an admin token: create, read, list, rename, and their validation."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.helpers import V1, error_code, new_app


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
