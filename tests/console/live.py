"""A live hookgate for the browser tests: ``serving`` (API, console, workers) on a loopback port in a thread
of its own, a receiver for its deliveries, and a second server on another port for pages on "another
origin" (a page framing the portal, a page forging a form)."""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from aiohttp import web

from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap, serving
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.store.memory import MemoryStore
from tests.support import free_port

T = TypeVar("T")


@dataclass
class Live:
    base: str = ""
    other: str = ""  # the other origin's base URL
    receiver: str = ""  # a loopback receiver URL answering 200
    token: str = ""
    hg: Hookgate | None = None
    loop: asyncio.AbstractEventLoop | None = None
    offset: list[float] = field(default_factory=lambda: [0.0])  # added to the engine's clock

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"})


def _other_origin(live: Live) -> web.Application:
    async def embed(request: web.Request) -> web.Response:
        src = html.escape(request.query.get("src", ""))
        page = (
            "<!doctype html><html><head><title>Customer site</title></head>"
            "<body style='font-family:sans-serif;margin:0;background:#eef'>"
            "<h1 style='margin:12px'>Customer site</h1><iframe title='Webhooks portal'"
            f" src='{src}' style='width:100%;height:720px;border:0'></iframe></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def forge(request: web.Request) -> web.Response:
        page = (
            f"<!doctype html><html><body><form method='post' action='{live.base}/ui/apps'>"
            "<input name='name' value='forged'><button id='go' type='submit'>Win a prize</button>"
            "</form></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_get("/embed", embed)
    app.router.add_get("/forge", forge)
    app.router.add_post("/hook", hook)
    return app


def _serve(live: Live, ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        other = web.AppRunner(_other_origin(live), access_log=None)
        await other.setup()
        await web.TCPSite(other, "127.0.0.1", 0).start()
        other_port = other.addresses[-1][1]
        live.other = f"http://127.0.0.1:{other_port}"
        live.receiver = f"{live.other}/hook"
        port = free_port()
        settings = Settings(
            host="127.0.0.1",
            port=port,
            ssrf_allowlist=("127.0.0.0/8",),
            console_frame_ancestors=f"'self' http://127.0.0.1:{other_port}",
        )
        hg = Hookgate(
            MemoryStore(), SecretBox({"k1": b"\x02" * 32}), settings=settings,
            clock=lambda: time.time() + live.offset[0],
        )  # fmt: skip
        token = await bootstrap(hg)
        assert token is not None
        live.token, live.hg, live.loop = token, hg, asyncio.get_running_loop()
        async with serving(hg, metrics=Metrics(), idle_poll_s=0.05) as running:
            live.base = f"http://127.0.0.1:{running.port}"
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
        await hg.close()
        await other.cleanup()

    asyncio.run(main())


def live_server() -> Iterator[Live]:
    live, ready, stop = Live(), threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve, args=(live, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(30), "the live server did not start"
    try:
        yield live
    finally:
        stop.set()
        thread.join(30)
