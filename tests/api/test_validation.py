"""Input the API must refuse with 422 on every backend (issue 10 items 13-16), through the real ASGI app.

SQLite and PostgreSQL both: a NUL character used to be stored by one and answered with 503 by the other; wrong
JSON types were coerced; non-finite numbers, undeliverable URLs and unsendable headers were accepted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from hookgate.api.app import create_app
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import Store
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from tests.support import postgres_dsn

V1 = "/api/v1"
APP = "app_v"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Backend:
    def __init__(self, hg: Hookgate, client: httpx.AsyncClient) -> None:
        self.hg = hg
        self.client = client
        self.endpoint_id = ""

    async def raw(self, method: str, path: str, body: str | None = None, **kw: Any) -> httpx.Response:
        """Send ``body`` byte for byte (NaN, Infinity and 1e400 cannot be written with ``json=``)."""
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return await self.client.request(method, path, content=body, headers=headers, **kw)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Both SQL backends: for what a store could answer differently (NUL in text)."""
    if request.param == "sqlite":
        async for item in _serve(await SQLiteStore.open(tmp_path / "hookgate.db")):
            yield item
    else:
        async for dsn in postgres_dsn():
            async for item in _serve(await PostgresStore.open(dsn)):
                yield item


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Backend]:
    """One backend: for what is refused before any store is asked (types, numbers, URLs, headers)."""
    async for item in _serve(await SQLiteStore.open(tmp_path / "hookgate.db")):
        yield item


async def _serve(store: Store) -> AsyncIterator[Backend]:
    hg = Hookgate(store, SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    app = create_app(hg)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        b = Backend(hg, client)
        assert (await client.post(f"{V1}/applications", json={"name": "v", "id": APP})).status_code == 201
        created = await client.post(
            f"{V1}/applications/{APP}/endpoints",
            json={"url": "http://127.0.0.1:9/hook", "allow_insecure": True},
        )
        assert created.status_code == 201, created.text
        b.endpoint_id = created.json()["endpoint"]["id"]
        yield b
    await hg.close()


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert field in response.text, response.text  # the answer names what is wrong


EP = f"{V1}/applications/{APP}/endpoints/{{ep}}"
ENDPOINT = {"url": "https://receiver.example/hook"}
SOURCE = {
    "name": "gh",
    "scheme": "github",
    "secrets": ["s3cret"],
    "path": "/inbound/gh",
    "forward_to": "https://app.example/in",
    "forward_secret": SECRET,
}


OAUTH = {"type": "oauth2", "token_url": "https://auth.example/t", "client_id": "c", "client_secret": "s"}

# (method, path, JSON body, the field the answer must name)
NUL_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", f"{V1}/applications", {"name": "a\x00b"}, "name"),
    ("POST", f"{V1}/applications", {"name": "ok", "id": "a\x00b"}, "id"),
    ("PUT", f"{V1}/applications/{APP}", {"name": "a\x00b"}, "name"),
    ("PUT", f"{V1}/applications/{APP}/event-types", {"name": "a\x00"}, "name"),
    ("PUT", f"{V1}/applications/{APP}/event-types", {"name": "a.b", "description": "d\x00"}, "description"),
    ("POST", f"{V1}/applications/{APP}/endpoints", {"url": "https://r.example/\x00"}, "url"),
    ("POST", f"{V1}/applications/{APP}/endpoints", {**ENDPOINT, "event_types": ["a\x00"]}, "event_types"),
    ("POST", f"{V1}/applications/{APP}/endpoints", {**ENDPOINT, "headers": {"X-A": "\x00"}}, "headers"),
    ("POST", f"{V1}/applications/{APP}/endpoints", {**ENDPOINT, "headers": {"X\x00": "1"}}, "headers"),
    ("POST", f"{V1}/applications/{APP}/endpoints", {**ENDPOINT, "secret": SECRET + "\x00"}, "secret"),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        {**ENDPOINT, "auth": {**OAUTH, "client_id": "c\x00"}},
        "auth",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        {**ENDPOINT, "scheme_options": {"a\x00": "b"}},
        "scheme_options",
    ),
    ("PATCH", EP, {"url": "https://r.example/\x00"}, "url"),
    ("PATCH", EP, {"tls": {"min_version": "1.2\x00"}}, "tls"),
    ("POST", f"{EP}/disable", {"reason": "gone\x00"}, "reason"),
    ("POST", f"{EP}/rotate-secret", {"secret": SECRET + "\x00"}, "secret"),
    ("POST", f"{V1}/applications/{APP}/messages", {"event_type": "a\x00", "payload": {}}, "event_type"),
    ("POST", f"{V1}/tokens", {"name": "t\x00", "scope": "admin"}, "name"),
    ("POST", f"{V1}/tokens", {"name": "t", "scope": "admin\x00"}, "scope"),
    ("POST", f"{V1}/sources", {**SOURCE, "name": "s\x00"}, "name"),
    ("POST", f"{V1}/sources", {**SOURCE, "secrets": ["s\x00"]}, "secrets"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_BODIES)
async def test_nul_in_any_text_field_is_422_on_every_backend(
    backend: Backend, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    path = path.format(ep=backend.endpoint_id)
    before = (await backend.client.get(f"{V1}/applications/{APP}/endpoints/{backend.endpoint_id}")).json()
    _refused(await backend.client.request(method, path, json=body), field)
    # nothing was stored, and the store still answers
    after = await backend.client.get(f"{V1}/applications/{APP}/endpoints/{backend.endpoint_id}")
    assert after.status_code == 200
    assert after.json() == before
    apps = (await backend.client.get(f"{V1}/applications")).json()["items"]
    assert [a["id"] for a in apps] == [APP]
    assert [a["name"] for a in apps] == ["v"]


async def test_nul_in_the_idempotency_key_is_422(backend: Backend) -> None:
    response = await backend.client.post(
        f"{V1}/applications/{APP}/messages",
        json={"event_type": "a.b", "payload": {}},
        headers={"Idempotency-Key": "k\x00"},
    )
    _refused(response, "idempotency key")
    assert (await backend.client.get(f"{V1}/applications/{APP}/messages")).json()["items"] == []


def _cursor(*position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"{V1}/applications/app%00", "app_id"),
        (f"{V1}/applications/{APP}%00/endpoints", "app_id"),
        (f"{V1}/applications/{APP}/endpoints/ep%00", "endpoint_id"),
        (f"{V1}/applications/{APP}/messages/msg%00", "message_id"),
        (f"{V1}/applications/{APP}/messages?event_type=a%00", "event_type"),
        (f"{V1}/applications/{APP}/messages?cursor=%00", "cursor"),
        (f"{V1}/applications?cursor=abc%00", "cursor"),
        (f"{V1}/applications/{APP}/messages?status=%00", "status"),
        (f"{V1}/applications/{APP}/messages?x%00=1", "x"),
        (f"{V1}/sources/src%00", "source_id"),
        # a well-formed cursor naming an id with a NUL in it
        (f"{V1}/applications?cursor={_cursor('app', 1.0, 'a' + chr(0))}", "cursor"),
        (f"{V1}/applications/{APP}/messages?cursor={_cursor('msg', 1.0, chr(0))}", "cursor"),
    ],
)
async def test_nul_in_path_and_query_parameters_is_422(backend: Backend, path: str, field: str) -> None:
    _refused(await backend.client.get(path), field)


async def test_a_payload_with_nul_is_stored_as_sent(backend: Backend) -> None:
    payload = {"text": "a\x00b", "k\x00": ["\x00"]}
    response = await backend.client.post(
        f"{V1}/applications/{APP}/messages", json={"event_type": "a.b", "payload": payload}
    )
    assert response.status_code == 202, response.text
    message_id = response.json()["message"]["id"]
    assert response.json()["message"]["payload"] == payload
    stored = await backend.client.get(f"{V1}/applications/{APP}/messages/{message_id}")
    assert stored.json()["payload"] == payload
    assert json.loads((await backend.hg.store.get_message(message_id)).payload) == payload


async def test_a_receiver_answering_nul_does_not_break_the_attempt_record(backend: Backend) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=b"bad\x00body")

    server = web.Application()
    server.router.add_post("/hook", handle)
    runner = web.AppRunner(server, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        patched = await backend.client.patch(
            f"{V1}/applications/{APP}/endpoints/{backend.endpoint_id}",
            json={"url": f"http://127.0.0.1:{port}/hook"},
        )
        assert patched.status_code == 200, patched.text
        sent = await backend.client.post(
            f"{V1}/applications/{APP}/messages", json={"event_type": "a.b", "payload": {"n": 1}}
        )
        assert sent.status_code == 202
        worker = backend.hg.worker(address_policy=AddressPolicy(allow=["127.0.0.0/8"]))
        try:
            await worker.run_until_idle(timeout=20)
        finally:
            await worker.close()
    finally:
        await runner.cleanup()
    attempts = (
        await backend.client.get(f"{V1}/applications/{APP}/endpoints/{backend.endpoint_id}/attempts")
    ).json()["items"]
    assert [(a["status_code"], a["response_excerpt"]) for a in attempts] == [(200, "bad\ufffdbody")]


# -- item 14: URLs that can never be delivered --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://exa mple.com/x", "endpoint URL contains ' '"),
        ("https://receiver.example/x\r\n", "endpoint URL contains '\\\\r'"),
        ("https://\r\nreceiver.example/x", "endpoint URL contains '\\\\r'"),
        ("https://127.1/x", "host '127.1' is not an IPv4 address"),
        ("https://0/x", "host '0' is not an IPv4 address"),
        ("https://2130706433/x", "host '2130706433' is not an IPv4 address"),
        ("https://0177.0.0.1/x", "host '0177.0.0.1' is not an IPv4 address"),
        ("https://receiver.example:70000/x", "port '70000'"),
        ("https://receiver.example:0/x", "port '0'"),
    ],
)
async def test_undeliverable_urls_are_refused_on_create_and_update(
    sqlite: Backend, url: str, message: str
) -> None:
    _refused(await sqlite.client.post(f"{V1}/applications/{APP}/endpoints", json={"url": url}), message)
    patch = await sqlite.client.patch(
        f"{V1}/applications/{APP}/endpoints/{sqlite.endpoint_id}", json={"url": url}
    )
    _refused(patch, message)
    found = await sqlite.client.get(f"{V1}/applications/{APP}/endpoints/{sqlite.endpoint_id}")
    assert found.json()["url"] == "http://127.0.0.1:9/hook"


async def test_the_url_is_stored_exactly_as_submitted(sqlite: Backend) -> None:
    url = "https://Receiver.Example./a%2fb?x=%7E&y"
    created = await sqlite.client.post(f"{V1}/applications/{APP}/endpoints", json={"url": url})
    assert created.status_code == 201, created.text
    endpoint = created.json()["endpoint"]
    assert endpoint["url"] == url
    assert (await sqlite.client.get(f"{V1}/applications/{APP}/endpoints/{endpoint['id']}")).json()[
        "url"
    ] == url


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"forward_to": "https://127.1/in"}, "forward_to host '127.1'"),
        ({"forward_to": "https://app.example/in\n"}, "forward_to contains"),
        ({"forward_to": "http://app.example/in"}, "forward_to must use https"),
        (
            {"scheme": "jws", "secrets": [], "jwks_url": "https://2130706433/jwks"},
            "jwks_url host '2130706433'",
        ),
    ],
)
async def test_source_urls_follow_the_url_rule(sqlite: Backend, change: dict[str, Any], message: str) -> None:
    source = {**SOURCE, **change}
    _refused(await sqlite.client.post(f"{V1}/sources", json=source), message)
    assert (await sqlite.client.get(f"{V1}/sources")).json() == []


# -- item 15: headers that could never be sent --------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-A": "a\x0bb"}, "control character"),
        ({"X-A": "a\x0cb"}, "control character"),
        ({"X-A": "a\x7fb"}, "control character"),
        ({"X-A": "a\r\nX-B: c"}, "control character"),
        ({"X-A": " a"}, "must not start or end with a space"),
        ({"X" * 10_000: "1"}, "at most 256"),
        ({"X-A": "v" * 4097}, "at most 4096"),
    ],
)
async def test_unsendable_custom_headers_are_refused(
    sqlite: Backend, headers: dict[str, str], message: str
) -> None:
    create = await sqlite.client.post(
        f"{V1}/applications/{APP}/endpoints", json={**ENDPOINT, "headers": headers}
    )
    _refused(create, message)
    patch = await sqlite.client.patch(EP.format(ep=sqlite.endpoint_id), json={"headers": headers})
    _refused(patch, message)
    assert (await sqlite.client.get(EP.format(ep=sqlite.endpoint_id))).json()["headers"] == {}


# -- item 16: strict JSON types, finite numbers ---------------------------------------------------------

WRONG_TYPES: list[tuple[str, str, str, str]] = [
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "timeout_s": "5"}',
        "timeout_s",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "max_concurrency": "2"}',
        "max_concurrency",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "max_concurrency": 2.5}',
        "max_concurrency",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "allow_insecure": "yes"}',
        "allow_insecure",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "allow_insecure": 1}',
        "allow_insecure",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "retry_schedule": ["1"]}',
        "retry_schedule",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "rate_limit_per_s": "10"}',
        "rate_limit_per_s",
    ),
    ("POST", f"{V1}/applications/{APP}/endpoints", '{"url": 5}', "url"),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "event_types": "a.b"}',
        "event_types",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "headers": {"X-A": 1}}',
        "headers",
    ),
    (
        "POST",
        f"{V1}/applications/{APP}/endpoints",
        '{"url": "https://r.example/h", "scheme": "hmac", "secret": "'
        + SECRET
        + '", "scheme_options": {"algorithm": ["sha256"]}}',
        "algorithm",
    ),
    ("PATCH", EP, '{"timeout_s": "5"}', "timeout_s"),
    ("PATCH", EP, '{"allow_insecure": "yes"}', "allow_insecure"),
    ("PATCH", EP, '{"allow_insecure": 0}', "allow_insecure"),
    ("PATCH", EP, '{"max_concurrency": true}', "max_concurrency"),
    ("POST", f"{EP}/rotate-secret", '{"grace_s": "60"}', "grace_s"),
    ("POST", f"{EP}/recover", '{"since": "0"}', "since"),
    ("POST", f"{EP}/recover", '{"since": true}', "since"),
    ("POST", f"{V1}/applications", '{"name": 5}', "name"),
    ("PUT", f"{V1}/applications/{APP}/event-types", '{"name": "a.b", "archived": "false"}', "archived"),
    ("POST", f"{V1}/tokens", '{"name": "t", "scope": 1}', "scope"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES)
async def test_wrong_json_types_are_not_coerced(
    sqlite: Backend, method: str, path: str, body: str, field: str
) -> None:
    _refused(await sqlite.raw(method, path.format(ep=sqlite.endpoint_id), body), field)
    endpoint = (await sqlite.client.get(EP.format(ep=sqlite.endpoint_id))).json()
    assert (endpoint["timeout_s"], endpoint["allow_insecure"], endpoint["max_concurrency"]) == (
        15.0,
        True,
        None,
    )


NON_FINITE: list[tuple[str, str, str, str]] = [
    ("POST", f"{EP}/recover", '{"since": 1e400}', "since"),
    ("POST", f"{EP}/recover", '{"since": Infinity}', "since"),
    ("POST", f"{EP}/recover", '{"since": NaN}', "since"),
    ("POST", f"{EP}/recover", '{"since": -Infinity}', "since"),
    ("POST", f"{EP}/rotate-secret", '{"grace_s": NaN}', "grace_s"),
    ("PATCH", EP, '{"timeout_s": NaN}', "timeout_s"),
    ("PATCH", EP, '{"rate_limit_per_s": Infinity}', "rate_limit_per_s"),
    ("PATCH", EP, '{"retry_schedule": [1, 1e999]}', "retry_schedule"),
    ("PATCH", EP, '{"auth": {"type": "jwt", "secret": "' + "s" * 40 + '", "lifetime": Infinity}}', "auth"),
    ("POST", f"{V1}/applications/{APP}/messages", '{"event_type": "a.b", "payload": {"x": NaN}}', "payload"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NON_FINITE)
async def test_non_finite_numbers_are_refused_everywhere(
    sqlite: Backend, method: str, path: str, body: str, field: str
) -> None:
    _refused(await sqlite.raw(method, path.format(ep=sqlite.endpoint_id), body), field)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e400"])
async def test_non_finite_query_numbers_are_refused(sqlite: Backend, value: str) -> None:
    for name in ("since", "until"):
        _refused(await sqlite.client.get(f"{V1}/applications/{APP}/messages", params={name: value}), name)


@pytest.mark.parametrize(
    ("field", "raw_value"),
    [
        ("tolerance_s", '"300"'),
        ("tolerance_s", "300.5"),
        ("require_https", '"yes"'),
        ("jwks_insecure", '"no"'),
        ("rate_limit_per_s", '"5"'),
        ("rate_limit_per_s", "Infinity"),
        ("rate_limit_burst", "NaN"),
        ("idempotency_ttl_s", "1e400"),
        ("max_body_bytes", "1024.0"),
        ("secrets", '"s3cret"'),
    ],
)
async def test_source_bodies_are_strict(sqlite: Backend, field: str, raw_value: str) -> None:
    body = json.dumps(SOURCE)[:-1] + f', "{field}": {raw_value}}}'
    _refused(await sqlite.raw("POST", f"{V1}/sources", body), field)
    assert (await sqlite.client.get(f"{V1}/sources")).json() == []
