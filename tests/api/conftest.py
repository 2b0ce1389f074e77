"""Fixtures for the management API tests: an in-memory engine, its API app, an admin token, a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from hookgate.api.app import create_app
from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.memory import MemoryStore

BASE = "http://testserver"


@dataclass
class Api:
    """The app under test, an admin client and the pieces behind them."""

    hg: Hookgate
    app: Any
    metrics: Metrics
    token: str
    client: httpx.AsyncClient

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def deliver(self) -> None:
        """Run a worker (loopback allowed) until nothing is due."""
        worker = self.hg.worker(
            address_policy=AddressPolicy(allow=["127.0.0.0/8"]), observers=[self.metrics.observe_attempt]
        )
        try:
            await worker.run_until_idle(timeout=20)
        finally:
            await worker.close()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}))
    token = await bootstrap(hg)
    assert token is not None
    metrics = Metrics()
    app = create_app(hg, metrics=metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield Api(hg, app, metrics, token, client)
    await hg.close()


@dataclass
class Receiver:
    url: str
    status: int = 200
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[[int], Awaitable[Receiver]]]:
    """A factory of loopback aiohttp receivers answering a fixed status."""
    runners: list[web.AppRunner] = []

    async def make(status: int = 200) -> Receiver:
        rec = Receiver(url="")

        async def handle(request: web.Request) -> web.Response:
            rec.bodies.append(await request.read())
            return web.Response(status=rec.status, text="ok" if rec.status < 300 else "nope")

        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        rec.url = f"http://127.0.0.1:{port}/hook"
        rec.status = status
        return rec

    yield make
    for runner in runners:
        await runner.cleanup()
