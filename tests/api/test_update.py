"""PATCH an endpoint: only the fields sent change; sections are replaced whole and re-sealed, never shown."""

from __future__ import annotations

import time

import pytest

from hookgate.models import Endpoint
from hookgate.vault import open_secrets
from tests.api.conftest import Api

V1 = "/api/v1"


async def endpoint(api: Api) -> tuple[str, str]:
    app_id = (await api.client.post(f"{V1}/applications", json={"name": "shop"})).json()["id"]
    created = await api.client.post(
        f"{V1}/applications/{app_id}/endpoints",
        json={
            "url": "https://receiver.example/hook",
            "event_types": ["order.*"],
            "auth": {"type": "api_key", "header": "x-api-key", "key": "old-key-123"},
            "timeout_s": 5,
        },
    )
    assert created.status_code == 201, created.text
    return app_id, created.json()["endpoint"]["id"]


async def test_only_the_fields_sent_change(api: Api) -> None:
    app_id, ep = await endpoint(api)
    url = f"{V1}/applications/{app_id}/endpoints/{ep}"
    patched = await api.client.patch(url, json={"url": "https://receiver.example/v2", "event_types": ["a.b"]})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["url"] == "https://receiver.example/v2"
    assert body["event_types"] == ["a.b"]
    assert body["timeout_s"] == 5  # not sent, not changed
    assert body["auth_type"] == "api_key"
    assert body["updated_at"] > body["created_at"] or body["updated_at"] == body["created_at"]
    # sending null clears an optional limit
    limited = await api.client.patch(url, json={"rate_limit_per_s": 5})
    assert limited.json()["rate_limit_per_s"] == 5
    cleared = await api.client.patch(url, json={"rate_limit_per_s": None})
    assert cleared.json()["rate_limit_per_s"] is None


async def test_an_auth_section_is_replaced_and_resealed(api: Api) -> None:
    app_id, ep = await endpoint(api)
    url = f"{V1}/applications/{app_id}/endpoints/{ep}"
    patched = await api.client.patch(
        url, json={"auth": {"type": "basic", "username": "hook", "password": "new-pass-456"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["auth_type"] == "basic"
    assert "new-pass-456" not in patched.text
    stored = await api.hg.store.get_endpoint(ep)
    assert b"new-pass-456" not in stored.secrets_sealed
    assert api.hg.box is not None
    entries = open_secrets(api.hg.box, ep, stored.secrets_sealed).entries
    kinds = sorted(e.kind for e in entries)
    assert kinds == ["auth", "secret"]  # the signing secret is kept, the old API key replaced
    assert [e.value for e in entries if e.kind == "auth"] == ["new-pass-456"]
    removed = await api.client.patch(url, json={"auth": {"type": "none"}})
    assert removed.json()["auth_type"] == "none"
    entries = open_secrets(api.hg.box, ep, (await api.hg.store.get_endpoint(ep)).secrets_sealed).entries
    assert [e.kind for e in entries] == ["secret"]


async def test_invalid_changes_are_refused_and_change_nothing(api: Api) -> None:
    app_id, ep = await endpoint(api)
    url = f"{V1}/applications/{app_id}/endpoints/{ep}"
    before = (await api.client.get(url)).json()
    cases = [
        ({"url": "http://plain.example/hook"}, 422, "https"),
        ({"tls": {"min_version": "1.1"}}, 422, "min_version"),
        ({"auth": {"type": "nope"}}, 422, "auth.type"),
        ({"headers": {"Content-Type": "text/plain"}}, 422, "Content-Type"),
        ({"secret": "whsec_x"}, 422, "validation_error"),
        ({"timeout_s": 0}, 422, "validation_error"),
    ]
    for body, status, text in cases:
        response = await api.client.patch(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert text in response.text, (body, response.text)
    assert (await api.client.get(url)).json() == before


async def test_rename_an_application(api: Api) -> None:
    app_id = (await api.client.post(f"{V1}/applications", json={"name": "shop"})).json()["id"]
    renamed = await api.client.put(f"{V1}/applications/{app_id}", json={"name": "store"})
    assert (renamed.status_code, renamed.json()["name"]) == (200, "store")
    assert (await api.client.put(f"{V1}/applications/{app_id}", json={"name": ""})).status_code == 422
    assert (await api.client.put(f"{V1}/applications/app_nope", json={"name": "x"})).status_code == 404


async def test_a_patch_racing_a_disable_keeps_it_and_a_lost_race_is_409(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id, ep = await endpoint(api)
    url = f"{V1}/applications/{app_id}/endpoints/{ep}"
    store = api.hg.store
    read = store.get_endpoint
    racing = {"disable_once": True, "always": False}

    async def get_endpoint(endpoint_id: str) -> Endpoint:
        found = await read(endpoint_id)
        if racing["disable_once"]:  # a worker's 410 verdict lands between the read and the write
            racing["disable_once"] = False
            await store.set_endpoint_enabled(endpoint_id, False, reason="410", now=time.time())
        elif racing["always"]:  # something changes it before every write
            await store.set_endpoint_enabled(endpoint_id, False, reason="410", now=time.time())
        return found

    monkeypatch.setattr(store, "get_endpoint", get_endpoint)
    patched = await api.client.patch(url, json={"timeout_s": 9})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["timeout_s"], patched.json()["enabled"]) == (9, False)
    racing["always"] = True
    lost = await api.client.patch(url, json={"timeout_s": 11})
    assert lost.status_code == 409, lost.text
    assert lost.json()["error"]["code"] == "conflict"
