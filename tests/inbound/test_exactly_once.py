"""The same event sent 50 times at once reaches the handler exactly once, on every idempotency store.

Two middleware instances (two application processes, in effect) each get their own store instance over the
same backend (their own SQLite connection, PostgreSQL pool, Redis client), and the 50 identical requests are
split between them, so the claim is decided by the store, not by one process's memory.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hookgate.inbound.asgi import HookgateMiddleware
from hookgate.inbound.source import Source
from hookgate.keys import generate_hmac_secret
from tests.inbound.test_stores import Backend, backend  # noqa: F401 - the parametrised store fixture

SECRET = generate_hmac_secret()


def app_with(store: object, calls: list[str]) -> Starlette:
    async def hook(request: Request) -> JSONResponse:
        calls.append(request.state.webhook.msg_id)
        await asyncio.sleep(0.05)  # hold the claim while the duplicates arrive
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
    source = Source("acme", "standard-webhooks", secrets=(SECRET,), path="/hooks", require_https=False)
    app.add_middleware(HookgateMiddleware, sources=[source], idempotency=store)  # type: ignore[arg-type]
    return app


async def test_fifty_concurrent_copies_reach_the_handler_once(backend: Backend) -> None:  # noqa: F811
    calls: list[str] = []
    apps = [app_with(await backend.idempotency(), calls) for _ in range(2)]
    body = json.dumps({"type": "order.paid", "id": 1}).encode()
    now = datetime.now(tz=UTC)
    headers = {
        "webhook-id": "msg_once",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign("msg_once", now, body.decode()),
        "content-type": "application/json",
    }
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        for app in apps
    ]
    try:
        responses = await asyncio.gather(
            *(clients[n % 2].post("/hooks", content=body, headers=headers) for n in range(50))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert calls == ["msg_once"]
    statuses = sorted(r.status_code for r in responses)
    handled = [r for r in responses if r.json() == {"ok": True}]
    assert len(handled) == 1
    others = [r for r in responses if r is not handled[0]]
    # duplicates are either acknowledged as processed or asked to come back while the first is in flight
    assert all(
        (r.status_code, r.json()) in ((200, {"status": "already processed"}), (409, {"error": "conflict"}))
        for r in others
    ), statuses
    # and once the first has finished, a late copy is acknowledged without reaching the handler
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=apps[1]), base_url="http://testserver"
    ) as c:
        late = await c.post("/hooks", content=body, headers=headers)
    assert (late.status_code, late.json()) == (200, {"status": "already processed"})
    assert calls == ["msg_once"]
