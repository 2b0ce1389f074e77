"""The per-route FastAPI/Starlette integration: `webhook_dependency`, `WebhookRoute`,
`install_exception_handler` and `@verified_webhook`, on real apps through httpx's ASGI transport and raw
ASGI calls."""

# no `from __future__ import annotations`: FastAPI must see the closures' Annotated[..., Depends(...)] values
import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookgate.inbound.fastapi import (
    WebhookRejected,
    WebhookRoute,
    install_exception_handler,
    verified_webhook,
    webhook_dependency,
)
from hookgate.inbound.source import Source
from hookgate.inbound.stores import ClaimState, MemoryIdempotencyStore
from hookgate.schemes._base import Verified
from tests.inbound._peers import (
    AUDIT_FIELDS,
    DUPLICATE,
    GH_BODY,
    GH_SECRET,
    NOW,
    SLACK_BODY,
    STRIPE_BODY,
    STRIPE_SECRET,
    SVIX_BODY,
    SVIX_SECRET,
    Clock,
    assert_generic,
    captured_audit,
    decisions,
    github_headers,
    github_source,
    slack_headers,
    slack_source,
    standard_headers,
    stripe_headers,
    stripe_source,
    svix_headers,
    svix_source,
)

HTTPS = "https://testserver"
HTTP = "http://testserver"


@dataclass
class Handler:
    mode: str = "ok"  # ok | raise | http-503 | set-500 | return-500 | slow
    calls: list[tuple[str, Verified, bytes]] = field(default_factory=list)


def fastapi_app(
    handler: Handler,
    sources: list[Source],
    *,
    clock: Clock | None = None,
    handler_installed: bool = True,
    route_class: type[WebhookRoute] | None = None,
    **stores: Any,
) -> FastAPI:
    app = FastAPI()
    if handler_installed:
        install_exception_handler(app)
    router = APIRouter(route_class=route_class) if route_class is not None else APIRouter()
    for source in sources:
        dependency = webhook_dependency(source, clock=clock or Clock(), **stores)
        add_route(router, source.name, source.path or "/", dependency, handler)
    app.include_router(router)

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"other": "yes"}

    return app


def add_route(router: APIRouter, name: str, path: str, dependency: Any, handler: Handler) -> None:
    @router.post(path)
    async def hook(
        event: Annotated[Verified, Depends(dependency)], request: Request, response: Response
    ) -> Any:
        assert request.state.webhook is event
        body = await request.body()  # read again by the handler
        assert body == event.payload
        handler.calls.append((name, event, body))
        if handler.mode == "raise":
            raise RuntimeError("handler failed")
        if handler.mode == "http-503":
            raise HTTPException(503, "later")
        if handler.mode == "set-500":
            response.status_code = 500
            return {"error": "later"}
        if handler.mode == "return-500":
            return JSONResponse({"error": "later"}, status_code=500)
        if handler.mode == "slow":
            await asyncio.sleep(0.05)
        return {"ok": True, "key_id": event.key_id}


def client(app: Any, base_url: str = HTTPS, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def providers() -> list[Source]:
    return [stripe_source(), svix_source(), slack_source(), github_source()]


# -- raw ASGI -----------------------------------------------------------------------------------------------


def http_scope(path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 443),
    }


async def raw_call(
    app: Any, scope: dict[str, Any], receive: Callable[[], Any], events: list[str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    status = 0
    headers: dict[str, str] = {}
    body = b""

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers, body
        if events is not None:
            events.append(message["type"])
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(scope, receive, send)
    return status, headers, body


async def must_not_receive() -> dict[str, Any]:
    raise AssertionError("the body was read")


# -- the dependency -----------------------------------------------------------------------------------------


async def test_dependency_accepts_requests_signed_by_provider_libraries() -> None:
    handler = Handler()
    app = fastapi_app(handler, providers())
    async with client(app) as http:
        for path, body, headers in [
            ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
            ("/hooks/svix", SVIX_BODY, svix_headers()),
            ("/hooks/svix", SVIX_BODY, standard_headers(msg_id="msg_std")),
            ("/hooks/slack", SLACK_BODY, slack_headers()),
            ("/hooks/github", GH_BODY, github_headers()),
        ]:
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code == 200, (path, response.text)
            assert response.json() == {"ok": True, "key_id": "0"}
        assert (await http.get("/other")).json() == {"other": "yes"}
    assert [name for name, _, _ in handler.calls] == ["stripe", "svix", "svix", "slack", "github"]
    assert handler.calls[2][1].msg_id == "msg_std"


async def test_dependency_rejections_have_the_generic_status_body_and_headers() -> None:
    handler = Handler()
    clock = Clock()
    sources = [
        stripe_source(max_body_bytes=256, allow_ips=("127.0.0.0/8",)),
        svix_source(allow_ips=("10.0.0.0/8",)),
        github_source(rate_limit_per_s=0.25, rate_limit_burst=1),
    ]
    app = fastapi_app(handler, sources, clock=clock)
    async with client(app) as http:
        for headers, body in [
            (stripe_headers(), STRIPE_BODY.replace(b"succeeded", b"failed")),
            (stripe_headers(ts=NOW - 301), STRIPE_BODY),
            (stripe_headers(ts=NOW + 301), STRIPE_BODY),
            ({"Stripe-Signature": "garbage"}, STRIPE_BODY),
        ]:
            response = await http.post("/hooks/stripe", content=body, headers=headers)
            assert response.status_code == 401
            assert_generic(401, response.content)
        too_big = await http.post("/hooks/stripe", content=b"x" * 257, headers=stripe_headers())
        assert too_big.status_code == 413
        assert_generic(413, too_big.content)
        forbidden = await http.post(
            "/hooks/svix", content=SVIX_BODY, headers={**svix_headers(), "X-Forwarded-For": "10.0.0.1"}
        )
        assert forbidden.status_code == 403
        assert_generic(403, forbidden.content)
        assert (
            await http.post("/hooks/github", content=GH_BODY, headers=github_headers())
        ).status_code == 200
        limited = await http.post("/hooks/github", content=GH_BODY, headers=github_headers("2"))
        assert limited.status_code == 429
        assert_generic(429, limited.content)
        assert limited.headers["retry-after"] == "4"
        assert limited.headers["ratelimit-limit"] == "1"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert limited.headers["ratelimit-reset"] == "4"
    async with client(app, HTTP) as http:
        plain = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert plain.status_code == 403
        assert_generic(403, plain.content)
    assert len(handler.calls) == 1


async def test_without_the_exception_handler_fastapi_answers_detail_with_the_same_status() -> None:
    handler = Handler()
    app = fastapi_app(
        handler, [stripe_source(rate_limit_per_s=1, rate_limit_burst=1)], handler_installed=False
    )
    async with client(app) as http:
        refused = await http.post("/hooks/stripe", content=b"{}", headers=stripe_headers())
        assert refused.status_code == 401
        assert refused.json() == {"detail": "unauthorized"}
        limited = await http.post("/hooks/stripe", content=b"{}", headers=stripe_headers())
        assert limited.status_code == 429
        assert limited.json() == {"detail": "rate_limited"}
        assert limited.headers["retry-after"] == "1"
    assert handler.calls == []


async def test_webhook_route_renders_rejections_without_the_exception_handler() -> None:
    handler = Handler()
    app = fastapi_app(handler, [stripe_source()], handler_installed=False, route_class=WebhookRoute)
    async with client(app) as http:
        refused = await http.post("/hooks/stripe", content=b"{}", headers=stripe_headers())
        assert refused.status_code == 401
        assert_generic(401, refused.content)
        assert refused.headers["content-type"] == "application/json"
        ok = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert ok.status_code == 200
        duplicate = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert duplicate.content == DUPLICATE
    assert len(handler.calls) == 1


async def test_oversized_with_content_length_is_refused_before_reading() -> None:
    app = fastapi_app(Handler(), [stripe_source(max_body_bytes=64)])
    status, headers, body = await raw_call(
        app, http_scope("/hooks/stripe", {**stripe_headers(), "Content-Length": "65"}), must_not_receive
    )
    assert status == 413
    assert_generic(413, body)
    assert headers["content-length"] == str(len(body))


async def test_oversized_chunked_body_stops_one_byte_past_the_cap() -> None:
    cap = 64
    app = fastapi_app(Handler(), [stripe_source(max_body_bytes=cap)])
    received = 0

    async def endless() -> dict[str, Any]:
        nonlocal received
        received += 1
        assert received <= cap + 1, "read past the cap"
        return {"type": "http.request", "body": b"x", "more_body": True}

    status, _, body = await raw_call(
        app, http_scope("/hooks/stripe", {**stripe_headers(), "Transfer-Encoding": "chunked"}), endless
    )
    assert status == 413
    assert_generic(413, body)
    assert received == cap + 1


async def test_replay_after_success_does_not_reach_the_handler() -> None:
    handler = Handler()
    app = fastapi_app(handler, providers())
    async with client(app) as http:
        for path, body, headers in [
            ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
            ("/hooks/svix", SVIX_BODY, svix_headers()),
            ("/hooks/github", GH_BODY, github_headers()),
        ]:
            assert (await http.post(path, content=body, headers=headers)).json()["ok"] is True
            again = await http.post(path, content=body, headers=headers)
            assert again.status_code == 200
            assert again.content == DUPLICATE
    assert len(handler.calls) == 3


@pytest.mark.parametrize(
    ("mode", "route_class", "status"),
    [
        ("raise", None, 500),
        ("http-503", None, 503),
        ("set-500", None, 500),
        ("return-500", WebhookRoute, 500),
        ("raise", WebhookRoute, 500),
    ],
)
async def test_failed_handler_releases_the_event_for_the_retry(
    mode: str, route_class: type[WebhookRoute] | None, status: int
) -> None:
    handler = Handler(mode=mode)
    app = fastapi_app(handler, [stripe_source(), github_source()], route_class=route_class)
    async with client(app, raise_app_exceptions=False) as http:
        for path, body, headers in [
            ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
            ("/hooks/github", GH_BODY, github_headers()),
        ]:
            failed = await http.post(path, content=body, headers=headers)
            assert failed.status_code == status
            handler.mode = "ok"
            assert (await http.post(path, content=body, headers=headers)).json()["ok"] is True
            assert (await http.post(path, content=body, headers=headers)).content == DUPLICATE
            handler.mode = mode
    assert len(handler.calls) == 4


async def test_returned_error_response_is_only_seen_with_webhook_route() -> None:
    """Documented limitation: a dependency cannot see the status of a Response the handler returns."""
    handler = Handler(mode="return-500")
    app = fastapi_app(handler, [stripe_source()])
    async with client(app) as http:
        assert (
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        ).status_code == 500
        assert (
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        ).content == DUPLICATE
    assert len(handler.calls) == 1


class EventStore(MemoryIdempotencyStore):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        self.events.append("claim")
        return await super().claim(key, lease_s=lease_s, now=now)

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        self.events.append("complete")
        await super().complete(key, ttl_s=ttl_s, now=now)

    async def release(self, key: str) -> None:
        self.events.append("release")
        await super().release(key)


async def test_event_is_marked_processed_after_the_response_is_sent() -> None:
    events: list[str] = []
    app = fastapi_app(Handler(), [stripe_source()], idempotency=EventStore(events))
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(10)
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": STRIPE_BODY, "more_body": False}

    status, _, _ = await raw_call(app, http_scope("/hooks/stripe", stripe_headers()), receive, events)
    assert status == 200
    assert events == ["claim", "http.response.start", "http.response.body", "complete"]


async def test_fifty_concurrent_copies_reach_the_handler_once() -> None:
    handler = Handler(mode="slow")
    app = fastapi_app(handler, [svix_source()])
    async with client(app) as http:
        responses = await asyncio.gather(
            *(http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers()) for _ in range(50))
        )
    assert len(handler.calls) == 1
    processed = [r for r in responses if r.status_code == 200 and r.content != DUPLICATE]
    assert len(processed) == 1
    others = [r for r in responses if r is not processed[0]]
    assert {r.status_code for r in others} <= {200, 409}
    assert any(r.status_code == 409 for r in others)
    for response in others:
        if response.status_code == 409:
            assert_generic(409, response.content)
            assert response.headers["retry-after"] == "1"
        else:
            assert response.content == DUPLICATE


async def test_dependency_audit_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Handler()
    app = fastapi_app(handler, providers())
    requests = [
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
        ("/hooks/svix", SVIX_BODY, svix_headers(ts=NOW + 1000)),
        ("/hooks/slack", SLACK_BODY, slack_headers()),
    ]
    with captured_audit(monkeypatch) as captured:
        async with client(app) as http:
            for path, body, headers in requests:
                await http.post(path, content=body, headers=headers)
    lines = decisions(captured)
    assert [(d["source"], d["decision"], d["reason"], d["event_id"]) for d in lines] == [
        ("stripe", "accepted", "ok", "evt_1NxYz"),
        ("stripe", "duplicate", "duplicate", "evt_1NxYz"),
        ("svix", "rejected", "timestamp_in_future", None),
        ("slack", "accepted", "ok", None),
    ]
    for line in lines:
        assert set(line) >= AUDIT_FIELDS
        assert line["client_ip"] == "127.0.0.1"
    text = repr(captured)
    signatures = [v for _, _, h in requests for k, v in h.items() if "signature" in k.lower()]
    forbidden = [STRIPE_SECRET, SVIX_SECRET, GH_SECRET, "payment_intent", "team_id", *signatures]
    for value in signatures:
        forbidden += re.findall(r"[A-Za-z0-9+/]{20,}={0,2}", value)
    for value in forbidden:
        assert value not in text, value


async def test_webhook_route_answers_and_audits_a_wrong_method(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Handler()
    app = fastapi_app(handler, [stripe_source()], handler_installed=False, route_class=WebhookRoute)
    with captured_audit(monkeypatch) as captured:
        async with client(app) as http:
            for method in ("GET", "PUT", "DELETE"):
                response = await http.request(
                    method, "/hooks/stripe", headers={"X-Forwarded-For": "10.1.1.1"}
                )
                assert response.status_code == 405, method
                assert_generic(405, response.content)
                assert response.headers["allow"] == "POST"
            assert (await http.put("/other")).json() == {
                "detail": "Method Not Allowed"
            }  # not a webhook route
    lines = decisions(captured)
    assert [(d["source"], d["decision"], d["reason"], d["status"]) for d in lines] == [
        ("stripe", "rejected", "method_not_allowed", 405)
    ] * 3
    assert {d["client_ip"] for d in lines} == {"127.0.0.1"}  # no trusted proxy: the peer, not the header
    assert handler.calls == []


def test_webhook_rejected_carries_the_rejection() -> None:
    from hookgate.inbound.pipeline import Rejection

    rejection = Rejection(429, "rate_limited", {"Retry-After": "3"})
    exc = WebhookRejected(rejection)
    assert exc.status_code == 429
    assert exc.detail == "rate_limited"
    assert exc.headers == {"Retry-After": "3"}
    assert exc.rejection is rejection
    assert WebhookRejected(Rejection(200, "duplicate", body=DUPLICATE)).detail == "already processed"


# -- the decorator ------------------------------------------------------------------------------------------


async def test_decorator_on_a_starlette_endpoint() -> None:
    calls: list[bytes] = []
    mode = "ok"

    @verified_webhook(stripe_source(), clock=Clock())
    async def hook(request: Request) -> Response:
        assert request.state.webhook.payload == await request.body()
        calls.append(await request.body())
        if mode == "raise":
            raise RuntimeError("boom")
        if mode == "500":
            return JSONResponse({"error": "later"}, status_code=500)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hooks/stripe", hook, methods=["POST"])])
    async with client(app, raise_app_exceptions=False) as http:
        tampered = await http.post("/hooks/stripe", content=STRIPE_BODY + b" ", headers=stripe_headers())
        assert tampered.status_code == 401
        assert_generic(401, tampered.content)
        for mode in ("raise", "500"):  # noqa: B007 - read by the endpoint
            failed = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
            assert failed.status_code == 500
        mode = "ok"
        ok = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert ok.json() == {"ok": True}
        again = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert again.content == DUPLICATE
    assert calls == [STRIPE_BODY] * 3
    status, _, body = await raw_call(
        app, http_scope("/hooks/stripe", {**stripe_headers(), "Content-Length": "99999999"}), must_not_receive
    )
    assert status == 413
    assert_generic(413, body)


async def test_decorator_on_a_fastapi_endpoint_with_other_parameters() -> None:
    app = FastAPI()
    seen: list[tuple[str, bytes]] = []

    @app.post("/hooks/github")
    @verified_webhook(github_source(), clock=Clock())
    async def hook(request: Request, tag: str = "none") -> dict[str, str]:
        seen.append((tag, request.state.webhook.payload))
        return {"tag": tag}

    async with client(app) as http:
        ok = await http.post("/hooks/github?tag=a", content=GH_BODY, headers=github_headers())
        assert ok.json() == {"tag": "a"}
        duplicate = await http.post("/hooks/github?tag=b", content=GH_BODY, headers=github_headers())
        assert duplicate.content == DUPLICATE
        refused = await http.post("/hooks/github", content=b"nope", headers=github_headers("x"))
        assert refused.status_code == 401
        assert_generic(401, refused.content)
    assert seen == [("a", GH_BODY)]


async def test_decorator_needs_the_request() -> None:
    @verified_webhook(stripe_source(), clock=Clock())
    async def hook(value: int) -> dict[str, int]:
        return {"value": value}

    with pytest.raises(TypeError, match="request"):
        await hook(1)
