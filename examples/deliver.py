"""The delivery engine on the embedded default, end to end in one process.

SQLite in a temporary data directory, a receiver on 127.0.0.1 that verifies every request with hookgate's own
Standard Webhooks verifier and fails the first one with a 500, three published events (one a duplicate by
idempotency key), and a worker that delivers them, retrying the failure. Prints the attempt log.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.errors import VerificationError
from hookgate.logs import configure_logging
from hookgate.schemes.registry import build_verifier


async def main() -> None:
    configure_logging(fmt="console", level="warning")  # the attempt log below says what happened
    received: list[str] = []
    verifier = None

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verified = verifier.verify(body, dict(request.headers), now=time.time())  # type: ignore[union-attr]
        except VerificationError as exc:
            print(f"receiver: refused ({exc})")
            return web.json_response({"error": "unauthorized"}, status=401)
        if not received:
            received.append("(failed on purpose)")
            print(f"receiver: {verified.msg_id} verified, answering 500 once to show a retry")
            return web.Response(status=500)
        received.append(verified.msg_id or "")
        print(f"receiver: {verified.msg_id} verified: {body.decode()}")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhooks", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    with tempfile.TemporaryDirectory() as data_dir:
        # The receiver is on loopback, which the SSRF guard refuses by default: allow it explicitly.
        settings = Settings(data_dir=Path(data_dir), ssrf_allowlist=("127.0.0.0/8",))
        async with await Hookgate.open(settings=settings) as hg:
            shop = await hg.create_application("shop")
            created = await hg.create_endpoint(
                shop.id,
                f"http://127.0.0.1:{port}/webhooks",
                event_types=["invoice.*"],
                allow_insecure=True,  # plain HTTP on loopback for the demo; real endpoints must be https
                retry_schedule=[0, 0.5, 5],
            )
            verifier = build_verifier("standard-webhooks", [created.secret or ""], [])
            print(f"endpoint {created.endpoint.id} -> {created.endpoint.config.url} (database in {data_dir})")

            invoice = {"id": "inv_1", "amount": 4200}
            first = await hg.publish(shop, "invoice.paid", invoice, idempotency_key="k1")
            again = await hg.publish(shop, "invoice.paid", invoice, idempotency_key="k1")
            await hg.publish(shop, "invoice.voided", {"id": "inv_2"})
            skipped = await hg.publish(shop, "customer.created", {"id": "cus_1"})
            print(f"published; duplicate returned the first message: {again.message.id == first.message.id}")
            print(f"customer.created matched {len(skipped.deliveries)} endpoints (filter is invoice.*)")

            await deliver_until(hg, lambda: len(received) >= 3)
            await print_attempts(hg, first.message.id)
    await runner.cleanup()
    if len(received) != 3:
        raise SystemExit(f"expected 3 requests at the receiver, got {len(received)}")
    print("delivery OK")


async def deliver_until(hg: Hookgate, done: Callable[[], bool]) -> None:
    worker = hg.worker()
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 15
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # let the last result commit
    worker.stop()
    await task
    await worker.close()


async def print_attempts(hg: Hookgate, message_id: str) -> None:
    print("\nattempt log:")
    for delivery in await hg.store.list_deliveries(message_id):
        for attempt in await hg.store.list_attempts(delivery.id):
            print(f"  {delivery.id} status={attempt.status_code} outcome={attempt.outcome}")
        final = await hg.store.get_delivery(delivery.id)
        print(f"  {delivery.id} is {final.status} after {final.attempts} attempts")


if __name__ == "__main__":
    asyncio.run(main())
