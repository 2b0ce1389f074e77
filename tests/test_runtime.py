"""The process runtime (``hookgate.runtime``) that serve, worker, gateway, demo and listen share: signals
(first: drain, second: stop waiting), a port in use, and an orderly stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from aiohttp import web

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError
from hookgate.models import DeliveryStatus
from hookgate.runtime import Interrupted, PortInUseError, Runtime, running
from hookgate.store.memory import MemoryStore


async def app(scope: dict[str, object], receive: object, send: object) -> None:  # never called
    raise AssertionError("no request is made")


async def test_first_signal_sets_stopping_says_what_it_waits_for_then_lets_go_of_the_signals() -> None:
    loop = asyncio.get_running_loop()
    messages: list[str] = []
    runtime = Runtime(announce=messages.append)
    with runtime.signals():
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(runtime.stopping.wait(), 10)
    assert not loop.remove_signal_handler(signal.SIGTERM)  # none left installed
    assert not loop.remove_signal_handler(signal.SIGINT)
    assert messages == ["SIGTERM: stopping; waiting for nothing (SIGTERM again to stop now)"]
    assert runtime.forced_by is None


async def test_a_port_in_use_is_a_config_error_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        runtime = Runtime()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        with pytest.raises(
            PortInUseError, match=f"cannot listen on 127.0.0.1:{port}: port {port} is in use; use --port"
        ):
            await runtime.serve(config, hint="use --port")
        await runtime.stop()
    assert issubclass(PortInUseError, ConfigError)
    assert PortInUseError("x").exit_code == 2


@pytest.fixture
async def hanging_receiver() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A receiver that takes every request and never answers (until the test ends)."""
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await request.read()
        arrived.set()
        await release.wait()
        return web.Response(text="late")

    web_app = web.Application()
    web_app.router.add_post("/hook", hang)
    runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[-1][1]}/hook", arrived
    finally:
        release.set()
        await runner.cleanup()


async def test_second_signal_stops_waiting_for_in_flight_deliveries_and_releases_them(
    hanging_receiver: tuple[str, asyncio.Event],
) -> None:
    url, arrived = hanging_receiver
    settings = Settings(ssrf_allowlist=("127.0.0.0/8",))
    hg = Hookgate(MemoryStore(), SecretBox({"k1": b"\x01" * 32}), settings=settings)
    application = await hg.create_application("runtime")
    await hg.create_endpoint(application.id, url, allow_insecure=True)
    (delivery,) = (await hg.publish(application, "order.created", {"n": 1})).deliveries
    # a grace period no test outlives: only the second signal can end the drain
    worker = hg.worker(idle_poll_s=0.05, shutdown_grace_s=3600.0)
    messages: list[str] = []

    def announce(message: str) -> None:
        messages.append(message)
        if len(messages) == 1:
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGINT)

    async def deliver_until_signalled() -> None:
        async with asyncio.timeout(60), running(announce=announce) as runtime:
            runtime.start_worker(worker)
            await arrived.wait()
            os.kill(os.getpid(), signal.SIGTERM)
            await runtime.wait()

    with pytest.raises(Interrupted) as raised:
        await deliver_until_signalled()
    assert raised.value.exit_code == 128 + signal.SIGINT
    assert messages == [
        "SIGTERM: stopping; waiting for 1 in-flight deliveries (up to 3600 s, then the rest are released)"
        " (SIGTERM again to stop now)",
        "SIGINT again: stopping now, without waiting",
    ]
    # the cancelled delivery was released: due again at once, no attempt counted
    (after,) = await hg.store.list_deliveries(delivery.message_id)
    assert after.status is DeliveryStatus.PENDING
    assert after.attempts == 0
    assert worker.stats.released == 1
    await hg.close()


async def test_a_component_that_fails_ends_the_wait_with_its_error() -> None:
    class Broken:
        in_flight = 0
        shutdown_grace_s = 1.0
        closed = False

        async def run(self) -> None:
            raise RuntimeError("worker bug")

        def stop(self) -> None:
            pass

        def hurry(self) -> None:
            pass

        async def close(self) -> None:
            self.closed = True

    broken = Broken()
    runtime = Runtime()
    runtime.start_worker(broken)
    with pytest.raises(RuntimeError, match="worker bug"):
        await runtime.wait()
    await runtime.stop()
    assert broken.closed
