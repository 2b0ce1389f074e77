"""API tokens over the API (admin): create, list, revoke; malformed Authorization headers."""

from __future__ import annotations

import httpx

from tests.api.conftest import Api
from tests.api.helpers import V1, error_code, new_app


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
