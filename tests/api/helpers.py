"""Helpers of the management API route tests: the error-shape check and creating the usual records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hookgate.testing import RecordingReceiver
from tests.api.conftest import Api

V1 = "/api/v1"

MakeReceiver = Callable[[int], Awaitable[RecordingReceiver]]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    code = body["error"]["code"]
    assert isinstance(code, str)
    return code


async def new_app(api: Api, app_id: str | None = None, name: str = "shop") -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if app_id is not None:
        body["id"] = app_id
    response = await api.client.post(f"{V1}/applications", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def new_endpoint(api: Api, app_id: str, url: str, **options: Any) -> dict[str, Any]:
    response = await api.client.post(
        f"{V1}/applications/{app_id}/endpoints", json={"url": url, "allow_insecure": True, **options}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def publish(api: Api, app_id: str, event_type: str = "order.created", **kw: Any) -> httpx.Response:
    return await api.client.post(
        f"{V1}/applications/{app_id}/messages",
        json={"event_type": event_type, "payload": kw.pop("payload", {"n": 1})},
        **kw,
    )
