"""Every error the management API answers has the one documented shape, ``{"error": {"code", "message"}}``.

Through the real ASGI app: bodies FastAPI cannot parse (invalid UTF-8, invalid JSON, nesting past the limit,
integers past Python's digit limit), unknown routes, wrong methods, validation errors and an unexpected
exception (a generic 500; the detail stays in the server's log).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hookgate.api.app import create_app
from hookgate.api.errors import ERROR_TABLE, ErrorResponse, Forbidden, Unauthorized, answer_for
from hookgate.api.serve import bootstrap
from hookgate.api.strict import MAX_BODY_DEPTH
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.errors import (
    ConfigError,
    ConflictError,
    DuplicateError,
    HookgateError,
    InvalidQueryError,
    KeyFormatError,
    NotFoundError,
    ReplayError,
    StoreError,
)
from hookgate.models import Application
from hookgate.runtime import SignalFreeServer
from hookgate.store.memory import MemoryStore
from hookgate.store.sqlite import SQLiteStore
from tests.api.conftest import BASE, Api

V1 = "/api/v1"


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error object of an answer that must be ``status`` in the documented shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    ErrorResponse.model_validate(document)
    assert set(document) == {"error"}
    error: dict[str, Any] = document["error"]
    assert set(error) <= {"code", "message", "details"}
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def post_raw(api: Api, path: str, content: bytes) -> httpx.Response:
    return await api.client.post(path, content=content, headers={"Content-Type": "application/json"})


async def test_unparseable_bodies(api: Api) -> None:
    await api.client.post(f"{V1}/applications", json={"name": "shop", "id": "shop"})
    messages = f"{V1}/applications/shop/messages"
    cases = {
        "not UTF-8": (f"{V1}/applications", b'{"name": "\xff\xfe"}', "not valid UTF-8"),
        "not JSON": (f"{V1}/applications", b'{"name": ', "JSON decode error"),
        "nested past Python's limit": (messages, b"[" * 100_000 + b"]" * 100_000, "nested more than 100"),
        "integer past the digit limit": (
            messages,
            b'{"event_type": "a", "payload": [' + b"7" * 5000 + b"]}",
            "digits",
        ),
    }
    for name, (path, content, says) in cases.items():
        error = error_of(await post_raw(api, path, content), 422)
        assert error["code"] == "validation_error", name
        (detail,) = error["details"]
        assert detail["type"] == "json_invalid", name
        assert says in detail["msg"], (name, detail)
    assert (await api.client.get(messages)).json()["items"] == []


async def test_nesting_is_limited_for_every_body(api: Api) -> None:
    await api.client.post(f"{V1}/applications", json={"name": "shop", "id": "shop"})
    messages = f"{V1}/applications/shop/messages"
    # the body object is one level: a payload may have MAX_BODY_DEPTH - 1
    deepest = {"event_type": "order.created", "payload": nested(MAX_BODY_DEPTH - 1)}
    accepted = await api.client.post(messages, json=deepest)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["message"]["payload"] == deepest["payload"]
    too_deep = {"event_type": "order.created", "payload": nested(MAX_BODY_DEPTH)}
    error = error_of(await api.client.post(messages, json=too_deep), 422)
    assert error["details"] == [
        {
            "loc": ["body"],
            "msg": f"the request body is nested more than {MAX_BODY_DEPTH} levels deep",
            "type": "json_invalid",
        }
    ]
    # deep enough to break the response serializer or the store's copies, not Python's parser: refused too
    for body in (
        {"event_type": "order.created", "payload": nested(400)},
        {"url": "https://example.com/hook", "scheme_options": {"a": nested(600)}},
    ):
        path = messages if "payload" in body else f"{V1}/applications/shop/endpoints"
        error = error_of(await api.client.post(path, json=body), 422)
        assert "nested more than" in error["details"][0]["msg"]
    listed = await api.client.get(messages)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 1
    assert (await api.client.get(f"{V1}/applications/shop/endpoints")).json() == []


async def test_a_deep_payload_published_elsewhere_is_listed_as_text(api: Api) -> None:
    """The library (or the gateway) may store deeper JSON than the API takes: reading it must not fail."""
    await api.hg.create_application("shop", app_id="shop")
    payload = nested(400)
    await api.hg.publish("shop", "order.created", payload)
    listed = await api.client.get(f"{V1}/applications/shop/messages")
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert json.loads(item["payload"]) == payload
    got = await api.client.get(f"{V1}/applications/shop/messages/{item['id']}")
    assert got.status_code == 200
    assert got.json()["payload"] == item["payload"]


@pytest.mark.parametrize("path", ["/nope", f"{V1}/nope", f"{V1}/applications/shop/nope", "/api", "/"])
async def test_unknown_routes(api: Api, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        error = error_of(await api.client.request(method, path), 404)
        assert error == {"code": "not_found", "message": "no such resource"}


async def test_wrong_methods_name_the_allowed_ones(api: Api) -> None:
    for method, path, allowed in [
        ("DELETE", "/healthz", "GET"),
        ("POST", "/metrics", "GET"),
        ("PATCH", f"{V1}/applications", "GET, POST"),  # two routes on one path: both methods
        ("GET", f"{V1}/applications/shop/endpoints/ep_1/rotate-secret", "POST"),
        ("POST", f"{V1}/applications/shop/messages/msg_1", "GET"),
    ]:
        response = await api.client.request(method, path)
        error = error_of(response, 405)
        assert error["code"] == "method_not_allowed"
        assert sorted(response.headers["allow"].split(", ")) == sorted(allowed.split(", ")), path


async def test_validation_errors(api: Api) -> None:
    for response in (
        await api.client.post(f"{V1}/applications", json={"name": ""}),
        await api.client.post(f"{V1}/applications", json={"name": "x", "colour": "blue"}),
        await api.client.get(f"{V1}/applications", params={"limit": "9" * 5000}),
        await api.client.post(
            f"{V1}/applications", content=b"name=x", headers={"Content-Type": "text/plain"}
        ),
    ):
        assert error_of(response, 422)["code"] == "validation_error"


class BrokenStore(MemoryStore):
    async def list_applications(self, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail: table apps is corrupt")

    async def get_application(self, app_id: str) -> Application:
        raise KeyError(app_id)


async def test_unexpected_errors_are_a_generic_500() -> None:
    hg = Hookgate(BrokenStore(), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    transport = httpx.ASGITransport(app=create_app(hg), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for path in (f"{V1}/applications", f"{V1}/applications/shop"):
            response = await client.get(path)
            error = error_of(response, 500)
            assert error == {"code": "internal_error", "message": "internal server error"}
            assert "corrupt" not in response.text
            assert "Traceback" not in response.text
    await hg.close()


async def test_the_traceback_of_an_unexpected_error_goes_to_the_server_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On a real uvicorn server (loopback): the answer is generic, the server's log has the traceback."""
    hg = Hookgate(BrokenStore(), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    config = uvicorn.Config(create_app(hg), host="127.0.0.1", port=0, lifespan="off", log_config=None)
    server = SignalFreeServer(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                assert not task.done()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                response = await client.get(
                    f"{V1}/applications", headers={"Authorization": f"Bearer {token}"}
                )
    finally:
        server.should_exit = True
        await task
        await hg.close()
    assert error_of(response, 500) == {"code": "internal_error", "message": "internal server error"}
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert isinstance(record.exc_info[1], RuntimeError)
    assert "table apps is corrupt" in caplog.text


async def test_the_openapi_document_describes_the_error_shape(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "404", "422", "500"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]


# -- one table: the status follows the exception's type, never its text -----------------------------


@pytest.mark.parametrize(
    ("exc", "status", "code", "message"),
    [
        # a store failure whose text mentions a cursor, a limit, a name or uniqueness is still a failure
        (
            StoreError("cursor limit: unique name exists"),
            503,
            "store_unavailable",
            "the store is unavailable",
        ),
        (DuplicateError("a source named github exists"), 409, "conflict", "a source named github exists"),
        (InvalidQueryError("invalid cursor"), 422, "invalid", "invalid cursor"),
        (
            ConflictError("endpoint 'ep_1' changed"),
            409,
            "conflict",
            "the resource changed concurrently; try again",
        ),
        (NotFoundError("application 'app_x' not found"), 404, "not_found", "no such resource"),
        (ConfigError("url must be https"), 422, "invalid", "url must be https"),
        (KeyFormatError("not a key"), 422, "invalid", "not a key"),
        (
            Unauthorized("a valid bearer token is required"),
            401,
            "unauthorized",
            "a valid bearer token is required",
        ),
        (Forbidden("this needs an admin token"), 403, "forbidden", "this needs an admin token"),
        (ReplayError("seen"), 400, "bad_request", "seen"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_the_answer_follows_the_exception_type(
    exc: HookgateError, status: int, code: str, message: str
) -> None:
    assert answer_for(exc) == (status, code, message)


def test_every_table_entry_is_one_of_our_types() -> None:
    assert HookgateError in ERROR_TABLE  # the fallback: nothing of ours escapes as a 500
    assert all(issubclass(kind, HookgateError) for kind in ERROR_TABLE)


async def test_a_duplicate_source_on_sqlite_is_409_by_type(tmp_path: Path) -> None:
    """The SQL store's unique violation becomes `DuplicateError` at its boundary, so no text is searched."""
    hg = Hookgate(await SQLiteStore.open(tmp_path / "hookgate.db"), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    source = {
        "name": "github",
        "scheme": "github",
        "secrets": ["s3cr3t-s3cr3t"],
        "path": "/inbound/github",
        "forward_to": "https://internal.example/hooks",
        "forward_secret": "fwd-secret",
    }
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(hg)),
            base_url=BASE,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            assert (await client.post(f"{V1}/sources", json=source)).status_code == 201
            again = await client.post(f"{V1}/sources", json={**source, "path": "/inbound/other"})
            assert again.status_code == 409, again.text
            assert again.json() == {"error": {"code": "conflict", "message": "a source named github exists"}}
    finally:
        await hg.close()
