"""``hookgate serve``'s runner in process: it serves and delivers for the block, then stops in order."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from hookgate.api.metrics import Metrics
from hookgate.api.serve import run_server, serving
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.models import DeliveryStatus
from hookgate.store.base import AttemptResult
from hookgate.store.memory import MemoryStore
from tests.support import free_port


def engine(port: int) -> Hookgate:
    settings = Settings(host="127.0.0.1", port=port, ssrf_allowlist=("127.0.0.0/8",))
    return Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), settings=settings)


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[-1][1]}/hook"
    await runner.cleanup()


async def test_serving_answers_and_delivers_for_the_block_then_stops(receiver: str) -> None:
    hg = engine(free_port())
    delivered = asyncio.Event()

    def observe(result: AttemptResult) -> None:
        if result.status is DeliveryStatus.DELIVERED:
            delivered.set()

    app = await hg.create_application("serve")
    await hg.create_endpoint(app.id, receiver, allow_insecure=True)
    async with serving(hg, metrics=Metrics(), observers=[observe], idle_poll_s=0.05) as running:
        assert running.port == hg.settings.port
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{running.port}/openapi.json")
        assert answer.status_code == 200
        await hg.publish(app, "order.created", {"order": 1})
        await asyncio.wait_for(delivered.wait(), 20)
        assert running.worker_task is not None
        assert not running.worker_task.done()
    assert running.worker_task.done()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{running.port}/openapi.json")
    await hg.close()


async def test_serving_without_workers_runs_none() -> None:
    hg = engine(free_port())
    async with serving(hg, metrics=Metrics(), workers=False) as running:
        assert running.worker_task is None
    await hg.close()


async def test_serving_on_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        hg = engine(port)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with serving(hg, metrics=Metrics()):
                pass  # pragma: no cover - the listener cannot start
    await hg.close()


async def test_run_server_on_a_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    # uvicorn's sys.exit() on a failed bind used to end the process from inside the serve task
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=port)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await run_server(settings, announce=lambda _: None)
