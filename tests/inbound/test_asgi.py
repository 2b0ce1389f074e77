"""The ASGI middleware end to end: real Starlette/FastAPI apps behind `HookgateMiddleware`, requests signed by
the providers' own libraries, sent through httpx's ASGI transport (client 127.0.0.1) or raw ASGI calls."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hookgate.inbound.asgi import HookgateMiddleware
from hookgate.inbound.source import Source
from tests.inbound._peers import (
    AUDIT_FIELDS,
    DUPLICATE,
    GH_BODY,
    GH_SECRET,
    GH_SIG,
    NOW,
    SLACK_BODY,
    STRIPE_BODY,
    STRIPE_SECRET,
    SVIX_BODY,
    SVIX_SECRET,
    Clock,
    all_sources,
    assert_generic,
    captured_audit,
    decisions,
    genuine_requests,
    github_headers,
    github_source,
    slack_headers,
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
    """The application behind the middleware: records what reached it; ``mode`` says how it answers."""

    mode: str = "ok"  # ok | raise | 500 | slow
    calls: list[tuple[str, Any, bytes]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        webhook = request.state.webhook
        body = await request.body()  # the middleware replayed it: the handler reads it again
        assert webhook.payload == body
        self.calls.append((request.url.path, webhook, body))
        if self.mode == "raise":
            raise RuntimeError("handler failed")
        if self.mode == "500":
            return JSONResponse({"error": "try later"}, status_code=500)
        if self.mode == "slow":
            await asyncio.sleep(0.05)
        return JSONResponse({"ok": True, "key_id": webhook.key_id})


async def other(request: Request) -> Response:
    body = await request.body()
    return PlainTextResponse(f"{request.method} other {len(body)} {hasattr(request.state, 'webhook')}")


def build(
    handler: Handler, sources: list[Source] | None = None, clock: Clock | None = None
) -> HookgateMiddleware:
    sources = sources if sources is not None else all_sources()
    routes = [Route(s.path or "/", handler.endpoint, methods=["GET", "POST"]) for s in sources]
    routes.append(Route("/other", other, methods=["GET", "POST"]))
    return HookgateMiddleware(Starlette(routes=routes), sources=sources, clock=clock or Clock())


def client(app: Any, base_url: str = HTTPS, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


# -- raw ASGI calls, for what httpx cannot show (bytes read, untouched scopes) ------------------------------


@dataclass
class Raw:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def http_scope(
    path: str, headers: dict[str, str], *, method: str = "POST", scheme: str = "https"
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 443),
    }


async def raw_call(app: Any, scope: dict[str, Any], receive: Callable[[], Any]) -> Raw:
    out = Raw()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    await app(scope, receive, send)
    return out


async def must_not_receive() -> dict[str, Any]:
    raise AssertionError("the body was read")


# -- genuine requests from the providers' libraries ---------------------------------------------------------


async def test_requests_signed_by_provider_libraries_are_accepted() -> None:
    handler = Handler()
    async with client(build(handler)) as http:
        for path, body, headers in genuine_requests():
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code == 200, (path, response.text)
            assert response.json() == {"ok": True, "key_id": "0"}
    assert [(path, body) for path, _, body in handler.calls] == [
        (path, body) for path, body, _ in genuine_requests()
    ]
    stripe_event, svix_event, std_event, slack_event, github_event = (c[1] for c in handler.calls)
    assert stripe_event.timestamp == NOW
    assert svix_event.msg_id == "msg_2b7Y5z"
    assert std_event.msg_id == "msg_std"
    assert slack_event.timestamp == NOW
    assert github_event.payload == GH_BODY


async def test_rotated_secrets_report_the_key_that_matched() -> None:
    handler = Handler()
    sources = [stripe_source(secrets=("whsec_old", STRIPE_SECRET))]
    async with client(build(handler, sources)) as http:
        response = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
    assert response.json() == {"ok": True, "key_id": "1"}


async def test_fastapi_add_middleware_and_request_state() -> None:
    app = FastAPI()
    app.add_middleware(HookgateMiddleware, sources=[stripe_source()], clock=Clock())
    seen: list[tuple[bytes, bytes]] = []

    @app.post("/hooks/stripe")
    async def hook(request: Request) -> dict[str, str]:
        seen.append((request.state.webhook.payload, await request.body()))
        return {"event": (await request.json())["id"]}

    async with client(app) as http:
        response = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert response.json() == {"event": "evt_1NxYz"}
        tampered = await http.post("/hooks/stripe", content=STRIPE_BODY + b" ", headers=stripe_headers())
        assert tampered.status_code == 401
        assert_generic(401, tampered.content)
    assert seen == [(STRIPE_BODY, STRIPE_BODY)]


# -- rejections: right status, generic body -----------------------------------------------------------------


async def test_tampered_bodies_and_wrong_secrets_are_401() -> None:
    handler = Handler()
    async with client(build(handler)) as http:
        cases = [
            ("/hooks/stripe", STRIPE_BODY.replace(b"succeeded", b"failed"), stripe_headers()),
            ("/hooks/stripe", STRIPE_BODY, stripe_headers(secret="whsec_someone_else")),
            ("/hooks/svix", SVIX_BODY + b" ", svix_headers()),
            ("/hooks/svix", SVIX_BODY, svix_headers(secret="whsec_" + "A" * 43)),
            ("/hooks/slack", SLACK_BODY.replace(b"prod", b"dev"), slack_headers()),
            ("/hooks/github", b"Hello, World?", github_headers()),
            ("/hooks/stripe", STRIPE_BODY, {}),
            ("/hooks/github", GH_BODY, {"X-Hub-Signature-256": "sha256=zz"}),
        ]
        for path, body, headers in cases:
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code == 401, (path, response.text)
            assert_generic(401, response.content)
            assert response.headers["content-type"] == "application/json"
    assert handler.calls == []


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "future"])
async def test_timestamps_outside_the_window_are_401(offset: int) -> None:
    handler = Handler()
    async with client(build(handler)) as http:
        for path, body, headers in [
            ("/hooks/stripe", STRIPE_BODY, stripe_headers(ts=NOW + offset)),
            ("/hooks/svix", SVIX_BODY, svix_headers(ts=NOW + offset)),
            ("/hooks/svix", SVIX_BODY, standard_headers(ts=NOW + offset)),
            ("/hooks/slack", SLACK_BODY, slack_headers(ts=NOW + offset)),
        ]:
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code == 401, path
            assert_generic(401, response.content)
        # just inside the window is fine
        inside = 300 if offset > 0 else -300
        ok = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers(ts=NOW + inside))
        assert ok.status_code == 200
    assert len(handler.calls) == 1


async def test_replayed_event_after_success_is_acknowledged_without_the_handler() -> None:
    handler = Handler()
    async with client(build(handler)) as http:
        for path, body, headers in [
            ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
            ("/hooks/svix", SVIX_BODY, svix_headers()),
            ("/hooks/github", GH_BODY, github_headers()),
        ]:
            first = await http.post(path, content=body, headers=headers)
            assert first.status_code == 200
            again = await http.post(path, content=body, headers=headers)
            assert again.status_code == 200
            assert again.content == DUPLICATE
            assert again.headers["content-type"] == "application/json"
        # Stripe re-signs a retry with a new timestamp: same event id, still a duplicate
        resigned = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers(ts=NOW + 5))
        assert resigned.content == DUPLICATE
        # a different GitHub delivery of the same body is a new event
        new = await http.post("/hooks/github", content=GH_BODY, headers=github_headers("another-delivery"))
        assert new.json()["ok"] is True
    assert len(handler.calls) == 4


async def test_ip_allowlist_and_forwarded_for() -> None:
    handler = Handler()
    clock = Clock()
    untrusted = stripe_source(allow_ips=("10.0.0.0/8",))
    async with client(build(handler, [untrusted], clock)) as http:
        # the peer is 127.0.0.1: not allowed
        response = await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        assert response.status_code == 403
        assert_generic(403, response.content)
        # a spoofed X-Forwarded-For from an untrusted peer is ignored: the allowlist still sees 127.0.0.1
        spoofed = await http.post(
            "/hooks/stripe",
            content=STRIPE_BODY,
            headers={**stripe_headers(), "X-Forwarded-For": "10.1.2.3"},
        )
        assert spoofed.status_code == 403
        assert_generic(403, spoofed.content)
    assert handler.calls == []

    # and the other way round: an allowed peer is not refused for a forged header naming someone else
    loopback = [stripe_source(allow_ips=("127.0.0.0/8",))]
    with pytest.MonkeyPatch.context() as mp, captured_audit(mp) as captured:
        async with client(build(handler, loopback, clock)) as http:
            forged_other = await http.post(
                "/hooks/stripe",
                content=STRIPE_BODY,
                headers={**stripe_headers(), "X-Forwarded-For": "203.0.113.9"},
            )
            assert forged_other.status_code == 200
    assert [d["client_ip"] for d in decisions(captured)] == ["127.0.0.1"]
    handler.calls.clear()

    behind_proxy = stripe_source(
        allow_ips=("10.1.0.0/16",), trusted_proxies=("127.0.0.1/32", "192.168.0.0/16")
    )
    with pytest.MonkeyPatch.context() as mp, captured_audit(mp) as captured:
        async with client(build(handler, [behind_proxy], clock)) as http:
            # the right-most untrusted hop is the client: 10.1.2.3 (allowed)
            good = await http.post(
                "/hooks/stripe",
                content=STRIPE_BODY,
                headers={**stripe_headers(), "X-Forwarded-For": "203.0.113.7, 10.1.2.3, 192.168.1.1"},
            )
            assert good.status_code == 200
            # an allowed address written by the client to the left of an untrusted hop does not help
            forged = await http.post(
                "/hooks/stripe",
                content=STRIPE_BODY,
                headers={
                    **stripe_headers(ts=NOW + 1),
                    "X-Forwarded-For": "10.1.2.3, 203.0.113.7, 192.168.1.1",
                },
            )
            assert forged.status_code == 403
            assert_generic(403, forged.content)
    assert [(d["decision"], d["client_ip"]) for d in decisions(captured)] == [
        ("accepted", "10.1.2.3"),
        ("rejected", "203.0.113.7"),
    ]
    assert len(handler.calls) == 1


async def test_rate_limit_answers_429_with_retry_after_and_ratelimit_headers() -> None:
    handler = Handler()
    clock = Clock()
    sources = [svix_source(rate_limit_per_s=0.5, rate_limit_burst=2)]
    async with client(build(handler, sources, clock)) as http:
        for n in range(2):
            ok = await http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers(msg_id=f"msg_{n}"))
            assert ok.status_code == 200
        limited = await http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers(msg_id="msg_2"))
        assert limited.status_code == 429
        assert_generic(429, limited.content)
        assert limited.headers["retry-after"] == "2"
        assert limited.headers["ratelimit-limit"] == "2"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert limited.headers["ratelimit-reset"] == "2"
        # unsigned junk is limited too (the limit comes before the signature check)
        junk = await http.post("/hooks/svix", content=b"x")
        assert junk.status_code == 429
        clock.now += 2
        assert (
            await http.post(
                "/hooks/svix", content=SVIX_BODY, headers=svix_headers(msg_id="msg_3", ts=NOW + 2)
            )
        ).status_code == 200
    assert len(handler.calls) == 3


async def test_oversized_with_content_length_is_refused_before_reading() -> None:
    handler = Handler()
    app = build(handler, [stripe_source(max_body_bytes=64)])
    result = await raw_call(
        app, http_scope("/hooks/stripe", {**stripe_headers(), "Content-Length": "65"}), must_not_receive
    )
    assert result.status == 413
    assert_generic(413, result.body)
    assert result.headers["content-length"] == str(len(result.body))
    # and through httpx: a real body over the cap
    async with client(app) as http:
        response = await http.post("/hooks/stripe", content=b"x" * 65, headers=stripe_headers())
        assert response.status_code == 413
        assert_generic(413, response.content)
    assert handler.calls == []


async def test_oversized_without_content_length_stops_one_byte_past_the_cap() -> None:
    handler = Handler()
    cap = 64
    app = build(handler, [stripe_source(max_body_bytes=cap)])
    received = 0

    async def endless() -> dict[str, Any]:
        nonlocal received
        received += 1
        assert received <= cap + 1, "read past the cap"
        return {"type": "http.request", "body": b"x", "more_body": True}

    headers = {**stripe_headers(), "Transfer-Encoding": "chunked"}
    result = await raw_call(app, http_scope("/hooks/stripe", headers), endless)
    assert result.status == 413
    assert_generic(413, result.body)
    assert received == cap + 1

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 10

    async with client(app) as http:  # httpx streams an async iterator without Content-Length
        response = await http.post("/hooks/stripe", content=chunks(), headers=stripe_headers())
        assert response.status_code == 413
        assert_generic(413, response.content)
    assert handler.calls == []

    async def genuine() -> AsyncIterator[bytes]:
        yield STRIPE_BODY[:30]
        yield STRIPE_BODY[30:]

    async with client(build(handler, [stripe_source()])) as http:  # a chunked body under the cap is verified
        ok = await http.post("/hooks/stripe", content=genuine(), headers=stripe_headers())
        assert ok.status_code == 200
        assert "content-length" not in ok.request.headers
    assert [body for _, _, body in handler.calls] == [STRIPE_BODY]


async def test_https_required() -> None:
    handler = Handler()
    direct = [svix_source()]
    async with client(build(handler, direct), HTTP) as http:
        response = await http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers())
        assert response.status_code == 403
        assert_generic(403, response.content)
        # from an untrusted peer, X-Forwarded-Proto is not believed
        claimed = await http.post(
            "/hooks/svix", content=SVIX_BODY, headers={**svix_headers(), "X-Forwarded-Proto": "https"}
        )
        assert claimed.status_code == 403
        assert_generic(403, claimed.content)
    assert handler.calls == []

    proxied = [svix_source(trusted_proxies=("127.0.0.0/8",))]
    async with client(build(handler, proxied), HTTP) as http:
        plain = await http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers())
        assert plain.status_code == 403
        via_proxy = await http.post(
            "/hooks/svix", content=SVIX_BODY, headers={**svix_headers(), "X-Forwarded-Proto": "https"}
        )
        assert via_proxy.status_code == 200
    async with client(build(handler, [svix_source(require_https=False)]), HTTP) as http:
        allowed = await http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers())
        assert allowed.status_code == 200
    assert len(handler.calls) == 2


async def test_wrong_method_is_405() -> None:
    handler = Handler()
    async with client(build(handler)) as http:
        for method in ("GET", "PUT", "DELETE"):
            response = await http.request(method, "/hooks/stripe")
            assert response.status_code == 405
            assert response.headers["allow"] == "POST"
            assert_generic(405, response.content)
    assert handler.calls == []


async def test_every_rejection_body_is_generic() -> None:
    """One request per check; none of the bodies names the check that failed."""
    handler = Handler()
    clock = Clock()
    sources = [
        stripe_source(max_body_bytes=256),
        svix_source(allow_ips=("10.0.0.0/8",)),
        github_source(rate_limit_per_s=1, rate_limit_burst=1),
    ]
    seen: set[bytes] = set()
    async with client(build(handler, sources, clock)) as http:
        for response in [
            await http.post("/hooks/stripe", content=STRIPE_BODY + b"x", headers=stripe_headers()),
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers(ts=NOW - 999)),
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers(ts=NOW + 999)),
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers={"Stripe-Signature": "t=x,v1=y"}),
            await http.post("/hooks/stripe", content=b"z" * 300, headers=stripe_headers()),
            await http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers()),
            await http.post("/hooks/github", content=GH_BODY, headers=github_headers()),
            await http.post("/hooks/github", content=GH_BODY, headers=github_headers("2")),
            await http.post("/hooks/github", content=GH_BODY, headers={"X-Hub-Signature-256": GH_SIG}),
            await http.get("/hooks/github"),
        ]:
            if response.status_code >= 400:
                assert_generic(response.status_code, response.content)
                seen.add(response.content)
                text = response.text.lower()
                for word in ("signature", "timestamp", "secret", "ip", "hmac", "stripe", "tolerance"):
                    assert word not in text
    assert len(seen) >= 4
    assert len(handler.calls) == 1


# -- claim-then-process -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["raise", "500"])
async def test_failed_handler_releases_the_event_for_the_retry(mode: str) -> None:
    handler = Handler(mode=mode)
    async with client(build(handler), raise_app_exceptions=False) as http:
        for path, body, headers in [
            ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
            ("/hooks/svix", SVIX_BODY, svix_headers()),
        ]:
            failed = await http.post(path, content=body, headers=headers)
            assert failed.status_code == 500
            handler.mode = "ok"
            retry = await http.post(path, content=body, headers=headers)
            assert retry.status_code == 200
            assert retry.json()["ok"] is True
            again = await http.post(path, content=body, headers=headers)
            assert again.content == DUPLICATE
            handler.mode = mode
    assert len(handler.calls) == 4


async def test_handler_exception_propagates_after_release() -> None:
    handler = Handler(mode="raise")
    app = build(handler, [stripe_source()])
    async with client(app) as http:
        with pytest.raises(RuntimeError, match="handler failed"):
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        handler.mode = "ok"
        assert (
            await http.post("/hooks/stripe", content=STRIPE_BODY, headers=stripe_headers())
        ).status_code == 200


async def test_fifty_concurrent_copies_reach_the_handler_once() -> None:
    handler = Handler(mode="slow")
    async with client(build(handler)) as http:
        responses = await asyncio.gather(
            *(http.post("/hooks/svix", content=SVIX_BODY, headers=svix_headers()) for _ in range(50))
        )
    assert len(handler.calls) == 1
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) + statuses.count(409) == 50
    processed = [r for r in responses if r.status_code == 200 and r.content != DUPLICATE]
    assert len(processed) == 1
    assert processed[0].json()["ok"] is True
    for response in responses:
        if response.status_code == 409:
            assert_generic(409, response.content)
            assert response.headers["retry-after"] == "1"
        elif response is not processed[0]:
            assert response.content == DUPLICATE
    assert statuses.count(409) > 0


# -- the audit log ------------------------------------------------------------------------------------------


async def test_one_audit_line_per_request_without_secrets_signatures_or_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = Handler()
    clock = Clock()
    requests: list[tuple[str, bytes, dict[str, str]]] = [
        *genuine_requests(),
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),  # duplicate
        ("/hooks/stripe", STRIPE_BODY + b" ", stripe_headers(STRIPE_BODY + b" ", ts=NOW - 1000)),  # stale
        ("/hooks/svix", SVIX_BODY, svix_headers(secret="whsec_" + "B" * 43)),  # wrong secret
    ]
    signature_values = [
        value for _, _, headers in requests for name, value in headers.items() if "signature" in name.lower()
    ]
    with captured_audit(monkeypatch) as captured:
        async with client(build(handler, clock=clock)) as http:
            for path, body, headers in requests:
                await http.post(path, content=body, headers=headers)
    lines = decisions(captured)
    assert len(lines) == len(requests)
    for line in lines:
        assert set(line) >= AUDIT_FIELDS
        assert line["client_ip"] == "127.0.0.1"
        assert isinstance(line["latency_ms"], float)
    assert [(d["source"], d["decision"], d["reason"]) for d in lines] == [
        ("stripe", "accepted", "ok"),
        ("svix", "accepted", "ok"),
        ("svix", "accepted", "ok"),
        ("slack", "accepted", "ok"),
        ("github", "accepted", "ok"),
        ("stripe", "duplicate", "duplicate"),
        ("stripe", "rejected", "timestamp_too_old"),
        ("svix", "rejected", "signature_mismatch"),
    ]
    assert [d["event_id"] for d in lines] == [
        "evt_1NxYz",
        "msg_2b7Y5z",
        "msg_std",
        None,
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "evt_1NxYz",
        None,
        None,
    ]
    text = repr(captured)
    forbidden = [
        STRIPE_SECRET,
        SVIX_SECRET,
        SVIX_SECRET.removeprefix("whsec_"),
        GH_SECRET,
        "8f742231b10e8888abcd99yyyzzz85a5",
        "payment_intent.succeeded",
        "invoice.paid",
        "Hello, World",
        "team_id",
        *signature_values,
    ]
    for value in signature_values:  # the bare MACs too, without their "t=..," / "v1," / "sha256=" framing
        forbidden += re.findall(r"[A-Za-z0-9+/]{20,}={0,2}", value)
    assert len(forbidden) >= 2 * len(signature_values) + 9
    for value in forbidden:
        assert value not in text, value


# -- pass-through -------------------------------------------------------------------------------------------


async def test_other_paths_pass_through_unverified() -> None:
    handler = Handler()
    async with client(build(handler), HTTP) as http:
        posted = await http.post("/other", content=b"anything")
        assert posted.text == "POST other 8 False"
        got = await http.get("/other")
        assert got.text == "GET other 0 False"
        # a path that only shares a prefix with a webhook route is not a webhook route
        assert (await http.post("/hooks/stripe/extra")).status_code == 404
    assert handler.calls == []


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_non_http_scopes_are_untouched(kind: str) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    app = HookgateMiddleware(inner, sources=all_sources())
    scope = {"type": kind, "path": "/hooks/stripe", "headers": []}
    if kind == "lifespan":
        del scope["path"]

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: dict[str, Any]) -> None:
        del message

    await app(scope, receive, send)
    assert len(seen) == 1
    assert seen[0][0] is scope
    assert seen[0][1] is receive
    assert seen[0][2] is send
    assert "state" not in scope


async def test_rejects_sources_without_unique_paths() -> None:
    from hookgate.errors import ConfigError

    with pytest.raises(ConfigError, match="path"):
        HookgateMiddleware(Starlette(), sources=[Source("s", "stripe", secrets=("x",))])
    with pytest.raises(ConfigError, match="share"):
        HookgateMiddleware(Starlette(), sources=[stripe_source(), svix_source(path="/hooks/stripe")])
    with pytest.raises(ConfigError):
        HookgateMiddleware(Starlette(), sources=[])


# -- bugs found ---------------------------------------------------------------------------------------------


async def test_non_ascii_digit_content_length_is_a_400() -> None:
    app = build(Handler(), [stripe_source()])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": STRIPE_BODY, "more_body": False}

    result = await raw_call(
        app, http_scope("/hooks/stripe", {**stripe_headers(), "Content-Length": "²"}), receive
    )
    assert result.status == 400
    assert_generic(400, result.body)


async def test_method_and_content_length_refusals_are_audited(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build(Handler(), [stripe_source()])
    with captured_audit(monkeypatch) as captured:
        async with client(app) as http:
            assert (await http.get("/hooks/stripe")).status_code == 405
        result = await raw_call(app, http_scope("/hooks/stripe", {"Content-Length": "12x"}), must_not_receive)
        assert result.status == 400
    assert [(d["decision"], d["status"]) for d in decisions(captured)] == [
        ("rejected", 405),
        ("rejected", 400),
    ]
