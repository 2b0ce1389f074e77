"""``hookgate demo``'s orchestration: start everything, create one endpoint per scheme, publish, watch.

One process runs the hookgate server (``hookgate serve``'s runner: management API and delivery worker,
SQLite in a temporary directory) and the local receivers and token endpoint (``hookgate.demo.receivers``);
it creates the scenarios' endpoints (``hookgate.demo.scenarios``) through the `Hookgate` facade, publishes
a few events and shows what each receiver made of its deliveries (``hookgate.demo.display``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from hookgate.api.metrics import Metrics
from hookgate.api.serve import bootstrap, serving
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.demo.display import REFRESH_S, Display
from hookgate.demo.receivers import TokenIssuer, receiving
from hookgate.demo.scenarios import EVENTS, Row, Setup, build_rows
from hookgate.models import DeliveryStatus
from hookgate.runtime import Runtime, running
from hookgate.store.base import AttemptResult
from hookgate.tokens import ADMIN

__all__ = ["ONCE_TIMEOUT_S", "run_demo"]

ONCE_TIMEOUT_S = 30.0


async def run_demo(
    *,
    once: bool,
    port: int,
    data_dir: Path | None,
    out: TextIO = sys.stdout,
    timeout_s: float = ONCE_TIMEOUT_S,
) -> int:
    """Run the demo; the exit code (0: every row verified, 1: some row was not within ``timeout_s``)."""
    async with contextlib.AsyncExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hookgate-demo-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=data_dir, host="127.0.0.1", port=port, ssrf_allowlist=("127.0.0.0/8",))
        # the table shows the first Ctrl-C's message (printing it at once would cut through a live table)
        runtime = await stack.enter_async_context(running(announce=lambda _message: None))
        tour = _Tour(out, runtime)
        # the stack closes in reverse: the server and worker, then the receivers, the store, the runtime
        await tour.start(stack, settings)
        return await tour.watch(once=once, timeout_s=timeout_s)
    raise AssertionError("unreachable")  # pragma: no cover - mypy cannot see that AsyncExitStack re-raises


class _Tour:
    """One demo run: its rows, what was delivered, and the worker whose failure ends the run."""

    def __init__(self, out: TextIO, runtime: Runtime) -> None:
        self.out = out
        self.runtime = runtime
        self.stop = runtime.stopping
        self.started = time.monotonic()
        self.rows: list[Row] = []
        self.rows_by_key: dict[str, Row] = {}
        self.delivered_ids: set[str] = set()
        self.banner: list[str] = []
        self.worker_task: asyncio.Task[None] | None = None

    def _observe(self, result: AttemptResult) -> None:
        if result.status is DeliveryStatus.DELIVERED:
            self.delivered_ids.add(result.delivery_id)

    async def start(self, stack: contextlib.AsyncExitStack, settings: Settings) -> None:
        """Open the store, start the receivers, create the endpoints, start serving, publish the events."""
        hg = await Hookgate.open(settings=settings)
        stack.push_async_callback(hg.close)
        token = await bootstrap(hg)
        if token is None:  # a reused data directory: its first token was shown before; issue one for the demo
            _, token = await hg.create_api_token("hookgate demo", ADMIN)
        await hg.keyring.generate("ec", activate=True)

        issuer = TokenIssuer("hookgate-demo", secrets.token_urlsafe(24))
        receivers = await stack.enter_async_context(receiving(self.rows_by_key, issuer))
        setup = Setup(
            receivers.http_base, receivers.https_base, receivers.token_url, receivers.pki, await hg.jwks()
        )
        app = await hg.create_application("hookgate demo")
        for row, options in build_rows(setup, issuer):
            url = options.pop("url")
            new = await hg.create_endpoint(app.id, url, retry_schedule=[0, 1, 2, 5], **options)
            row.endpoint_id, row.url = new.endpoint.id, url
            self.rows_by_key[row.key] = row
            self.rows.append(row)

        running = await stack.enter_async_context(
            serving(hg, metrics=Metrics(), observers=[self._observe], runtime=self.runtime, idle_poll_s=0.2)
        )
        self.worker_task = running.worker_task
        base = f"http://{settings.host}:{running.port}"
        self.banner = [
            f"hookgate API:     {base}/api/v1 (OpenAPI: {base}/openapi.json)",
            f"JWKS:             {base}/.well-known/jwks.json",
            f"admin API token:  {token}",
            f"data directory:   {settings.data_dir}",
            f"receiver:         {receivers.http_base}/hook/<scheme>",
            f"mTLS receiver:    {receivers.https_base}/hook/mtls (client certificate required)",
            f"token endpoint:   {receivers.token_url}",
            f"application:      {app.id} ({len(self.rows)} endpoints, one per scheme)",
        ]
        print("\n".join(self.banner), file=self.out, flush=True)

        for event_type, payload in EVENTS:
            result = await hg.publish(app, event_type, payload)
            for delivery in result.deliveries:
                for row in self.rows:
                    if row.endpoint_id == delivery.endpoint_id:
                        row.delivery_ids.add(delivery.id)

    async def watch(self, *, once: bool, timeout_s: float) -> int:
        """Refresh the table until every row is verified (``once``), the timeout, or Ctrl-C."""
        deadline = time.monotonic() + timeout_s
        code = 0
        announced = False
        with Display(self.rows, self.delivered_ids, self.out, follow=not once) as display:
            while not self.stop.is_set():
                display.refresh()
                if all(r.ok for r in self.rows) and not announced:
                    if once:
                        break
                    announced = True
                    lines = [f"all {len(self.rows)} schemes verified; serving until Ctrl-C", *self.banner]
                    display.say("\n".join(["", *lines, ""]))
                if once and time.monotonic() > deadline:
                    code = 1
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), REFRESH_S)
                if self.worker_task is not None and self.worker_task.done():
                    raise RuntimeError("the delivery worker stopped") from self.worker_task.exception()
            if not once:
                waiting = self.runtime.waiting_for()
                display.say(f"stopping (Ctrl-C received): waiting for {waiting} (Ctrl-C again to stop now)")
        elapsed = time.monotonic() - self.started
        if not once:
            return 0
        if code == 0 and not self.stop.is_set():
            print(
                f"all {len(self.rows)} schemes verified by their receivers in {elapsed:.1f} s", file=self.out
            )
            return 0
        print(f"hookgate demo: not every scheme was verified after {elapsed:.1f} s:", file=sys.stderr)
        for r in self.rows:
            if not r.ok:
                print(f"  {r.title} ({r.endpoint_id}): {r.verdict}", file=sys.stderr)
        return 1
