"""Fixtures for the management API tests: an in-memory engine, its API app, an admin token, receivers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hookgate.api.app import create_app
from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap
from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.memory import MemoryStore
from hookgate.testing import RecordingReceiver, Reply
from tests.support import MakeReceiver

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


@pytest.fixture
def receiver(receivers: MakeReceiver) -> Callable[[int], Awaitable[RecordingReceiver]]:
    """A factory of loopback receivers answering a fixed status (``rec.respond = 200`` changes it)."""

    async def make(status: int = 200) -> RecordingReceiver:
        return receivers(Reply(status, "ok" if status < 300 else "nope"))

    return make
