"""The one request flow (`hookgate.inbound.driver`) under the ASGI middleware and the gateway.

The same requests go to a `HookgateMiddleware` and to a `Gateway` over the same sources: every refusal gets
the same status, generic body and headers from both, and exactly one ``inbound.decision`` audit line with
the same fields. The gateway's own answers (an unknown path, a store that fails, a bug) are audited too,
and a failing rate limiter or idempotency store is a 503 rather than an exception.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hookgate.client import Hookgate
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import StoreError
from hookgate.gateway.app import Gateway
from hookgate.gateway.config import GatewayConfig
from hookgate.inbound.asgi import HookgateMiddleware
from hookgate.inbound.source import Source
from hookgate.inbound.stores import ClaimState, MemoryRateLimiter, RateDecision
from hookgate.keys import generate_hmac_secret
from hookgate.models import Message
from hookgate.store.base import PublishResult
from hookgate.store.memory import MemoryStore
from tests.inbound._peers import (
    AUDIT_FIELDS,
    SVIX_BODY,
    SVIX_SECRET,
    Clock,
    captured_audit,
    decisions,
    standard_headers,
)

FORWARD = generate_hmac_secret()
CAP = 256


def sources() -> list[Source]:
    common: dict[str, Any] = {
        "secrets": (SVIX_SECRET,),
        "require_https": False,
        "max_body_bytes": CAP,
        "forward_to": "https://app.example/hooks",
    }
    return [
        Source("acme", "standard-webhooks", path="/in/acme", **common),
        Source("secure", "standard-webhooks", path="/in/secure", **{**common, "require_https": True}),
        Source("walled", "standard-webhooks", path="/in/walled", allow_ips=("10.0.0.0/8",), **common),
        Source("limited", "standard-webhooks", path="/in/limited", rate_limit_per_s=0.001, **common),
    ]


async def handler(request: Request) -> Response:
    await request.body()
    return JSONResponse({"ok": True})


def middleware(clock: Clock, **stores: Any) -> HookgateMiddleware:
    routes = [Route(s.path or "/", handler, methods=["GET", "POST", "PUT"]) for s in sources()]
    return HookgateMiddleware(Starlette(routes=routes), sources=sources(), clock=clock, **stores)


async def gateway(clock: Clock, store: MemoryStore | None = None, **options: Any) -> Gateway:
    hg = Hookgate(store or MemoryStore(), SecretBox(parse_master_keys(generate_master_key())))
    gw = Gateway(GatewayConfig(sources=tuple(sources()), forward_secret=FORWARD), hg, clock=clock, **options)
    await gw.setup()
    return gw


# -- raw ASGI requests: duplicate headers and chunked bodies, which an HTTP client will not send ----------


@dataclass
class Answer:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Req:
    path: str
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    method: str = "POST"
    scheme: str = "https"
    peer: str = "127.0.0.1"


async def call(app: Callable[..., Awaitable[None]], req: Req) -> Answer:
    out = Answer()
    pending = list(req.chunks) or [b""]

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": req.scheme,
        "path": req.path,
        "raw_path": req.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in req.headers],
        "client": (req.peer, 40000),
        "server": ("testserver", 443),
    }
    await app(scope, receive, send)
    return out


def signed(path: str, body: bytes = SVIX_BODY, *, msg_id: str = "msg_1", **extra: str) -> Req:
    headers = [*standard_headers(body, msg_id=msg_id).items(), *extra.items()]
    return Req(path, headers, [body])


def forged(path: str) -> Req:
    return Req(path, list(standard_headers(SVIX_BODY, secret="whsec_" + "B" * 43).items()), [SVIX_BODY])


# (name, request, status, reason): every refusal the flow makes before a handler runs
REFUSALS: list[tuple[str, Req, int, str]] = [
    ("GET", Req("/in/acme", [], [], method="GET"), 405, "method_not_allowed"),
    ("PUT", Req("/in/acme", [("content-length", "2")], [b"{}"], method="PUT"), 405, "method_not_allowed"),
    ("bad Content-Length", signed("/in/acme", **{"content-length": "12x"}), 400, "bad_content_length"),
    ("negative Content-Length", signed("/in/acme", **{"content-length": "-1"}), 400, "bad_content_length"),
    (
        "two Content-Length fields",
        Req("/in/acme", [("content-length", "47"), ("content-length", "47")], [SVIX_BODY]),
        400,
        "bad_content_length",
    ),
    ("declared over the cap", signed("/in/acme", **{"content-length": str(CAP + 1)}), 413, "body_too_large"),
    ("chunked over the cap", Req("/in/acme", [], [b"x" * 200, b"x" * 200]), 413, "body_too_large"),
    ("forged", forged("/in/acme"), 401, "signature_mismatch"),
    ("no signature", Req("/in/acme", [], [SVIX_BODY]), 401, "missing_header"),
    ("plain http", Req("/in/secure", [], [SVIX_BODY], scheme="http"), 403, "https_required"),
    ("address", signed("/in/walled"), 403, "ip_not_allowed"),
]


def comparable(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k != "latency_ms"}


@pytest.mark.parametrize(
    ("request_", "status", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
async def test_each_refusal_is_the_same_answer_and_audit_line_from_middleware_and_gateway(
    monkeypatch: pytest.MonkeyPatch, request_: Req, status: int, reason: str
) -> None:
    clock = Clock()
    answers: list[Answer] = []
    lines: list[dict[str, Any]] = []
    for app in (middleware(clock), await gateway(clock)):
        with captured_audit(monkeypatch) as captured:
            answers.append(await call(app, request_))
        (line,) = decisions(captured)  # exactly one line per request
        assert set(line) >= {*AUDIT_FIELDS, "status"}
        assert isinstance(line["latency_ms"], float)
        lines.append(comparable(line))
    from_middleware, from_gateway = answers
    assert from_middleware == from_gateway
    assert from_gateway.status == status
    assert from_gateway.headers["content-type"] == "application/json"
    assert list(json.loads(from_gateway.body)) == ["error"]
    if status == 405:
        assert from_gateway.headers["allow"] == "POST"
    assert lines[0] == lines[1]
    assert lines[0]["decision"] == "rejected"
    assert (lines[0]["reason"], lines[0]["status"]) == (reason, status)
    assert lines[0]["client_ip"] == "127.0.0.1"


async def test_rate_limit_is_the_same_answer_and_audit_line_from_middleware_and_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    seen: list[tuple[list[Answer], list[dict[str, Any]]]] = []
    for app in (middleware(clock), await gateway(clock)):
        with captured_audit(monkeypatch) as captured:
            answers = [await call(app, forged("/in/limited")), await call(app, forged("/in/limited"))]
        seen.append((answers, [comparable(line) for line in decisions(captured)]))
    assert seen[0] == seen[1]
    answers, lines = seen[0]
    assert [a.status for a in answers] == [401, 429]
    assert "retry-after" in answers[1].headers or "ratelimit-reset" in answers[1].headers
    assert [(d["reason"], d["status"]) for d in lines] == [("signature_mismatch", 401), ("rate_limited", 429)]


# -- the gateway's own answers ------------------------------------------------------------------------------


async def test_gateway_unknown_path_is_audited_without_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = await gateway(Clock())
    with captured_audit(monkeypatch) as captured:
        answer = await call(gw, signed("/in/nope"))
    assert (answer.status, answer.body) == (404, b'{"error":"not_found"}')
    (line,) = decisions(captured)
    assert comparable(line) == {
        "event": "inbound.decision",
        "log_level": "info",
        "source": None,
        "decision": "rejected",
        "reason": "no_such_source",
        "status": 404,
        "client_ip": "127.0.0.1",
        "event_id": None,
    }


class FailingStore(MemoryStore):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def publish_many(self, messages: list[Message], *, now: float) -> list[PublishResult | Any]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "body", "reason"),
    [
        (StoreError("database is locked"), 503, b'{"error":"unavailable"}', "store_unavailable"),
        (RuntimeError("a bug"), 500, b'{"error":"internal_error"}', "internal_error"),
    ],
    ids=["store error", "bug"],
)
async def test_gateway_store_failure_is_answered_generically_and_audited_once(
    monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, body: bytes, reason: str
) -> None:
    gw = await gateway(Clock(), FailingStore(error))
    with captured_audit(monkeypatch) as captured:
        # a guard, not a measurement: before the fix an unexpected error left the request waiting forever
        async with asyncio.timeout(30):
            answer = await call(gw, signed("/in/acme"))
    assert (answer.status, answer.body) == (status, body)
    (line,) = decisions(captured)
    assert (line["source"], line["decision"], line["reason"], line["status"]) == (
        "acme",
        "handler_failed",
        reason,
        status,
    )
    assert line["event_id"] == "msg_1"
    assert "a bug" not in answer.body.decode()
    assert gw.accepted == 0
    if status == 500:  # a bug's traceback goes to the log, never to the sender
        (logged,) = [e for e in captured if e["event"] == "gateway.internal_error"]
        assert logged["exc_info"] is True


class BuggyLimiter(MemoryRateLimiter):
    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        raise RuntimeError("a bug in a check")


async def test_gateway_bug_before_the_event_is_verified_is_a_generic_audited_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw = await gateway(Clock(), limiter=BuggyLimiter())
    with captured_audit(monkeypatch) as captured:
        answer = await call(gw, signed("/in/limited"))
    assert (answer.status, answer.body) == (500, b'{"error":"internal_error"}')
    assert [(d["source"], d["decision"], d["reason"], d["status"]) for d in decisions(captured)] == [
        ("limited", "rejected", "internal_error", 500)
    ]
    (logged,) = [e for e in captured if e["event"] == "gateway.internal_error"]
    assert logged["exc_info"] is True


# -- stores that fail: a 503 the sender retries, not an exception ---------------------------------------


class DownLimiter(MemoryRateLimiter):
    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> RateDecision:
        raise StoreError("Redis inbound store error: ConnectionError: refused")


class DownIdempotency:
    def __init__(self) -> None:
        self.fail_claim = True

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        if self.fail_claim:
            raise StoreError("Redis inbound store error: ConnectionError: refused")
        return ClaimState.CLAIMED

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        raise StoreError("Redis inbound store error: ConnectionError: refused")

    async def release(self, key: str) -> None:
        raise StoreError("Redis inbound store error: ConnectionError: refused")


async def test_a_rate_limiter_that_fails_is_a_503_from_middleware_and_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    seen = []
    for app in (
        middleware(clock, limiter=DownLimiter()),
        await gateway(clock, limiter=DownLimiter()),
    ):
        with captured_audit(monkeypatch) as captured:
            answer = await call(app, signed("/in/limited"))
        seen.append((answer, [comparable(line) for line in decisions(captured)]))
    assert seen[0] == seen[1]
    answer, lines = seen[0]
    assert (answer.status, answer.body) == (503, b'{"error":"unavailable"}')
    assert [(d["source"], d["reason"], d["status"]) for d in lines] == [
        ("limited", "rate_limiter_unavailable", 503)
    ]


async def test_an_idempotency_store_that_fails_is_a_503_then_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = DownIdempotency()
    app = middleware(Clock(), idempotency=store)
    with captured_audit(monkeypatch) as captured:
        refused = await call(app, signed("/in/acme"))
        store.fail_claim = False  # claims work again, completing does not
        accepted = await call(app, signed("/in/acme"))
    assert (refused.status, refused.body) == (503, b'{"error":"unavailable"}')
    assert accepted.status == 200  # the handler's answer stands; the store failure is the log's business
    assert [(d["decision"], d["reason"], d["status"]) for d in decisions(captured)] == [
        ("rejected", "idempotency_store_unavailable", 503),
        ("accepted", "ok", 200),
    ]
    failures = [e for e in captured if e.get("event") == "inbound.store_unavailable"]
    assert [e["store"] for e in failures] == ["idempotency_store", "idempotency_store"]
