"""The documented multi-process deployment, as real processes on one PostgreSQL schema.

One ``hookgate serve --no-workers`` (the management API only) and two ``hookgate worker`` processes share a
fresh schema and a master key. Everything is driven through the HTTP API, as an operator would: create an
application and an endpoint (a plain-HTTP receiver on 127.0.0.1), publish a batch of messages (some twice
with the same ``Idempotency-Key``). Leases are long enough never to expire, so every message must reach the
receiver exactly once, both workers must have delivered some, and nothing may be lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from aiohttp import web

from hookgate.crypto import generate_master_key
from tests.support import free_port, postgres_dsn

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MESSAGES = 300
REPEATS = 20  # of the MESSAGES, published a second time with the same Idempotency-Key
TOKEN_LINE = re.compile(r"^admin API token \(shown once, store it now\): (hgk_\S+)$")
READY_LINE = re.compile(r"^hookgate API on http://127\.0\.0\.1:(\d+)/api/v1")


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


def base_env(dsn: str, master_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    env.update(
        HOOKGATE_DATABASE_URL=dsn,
        HOOKGATE_MASTER_KEY=master_key,
        HOOKGATE_SSRF_ALLOWLIST="127.0.0.0/8",
        HOOKGATE_LEASE_SECONDS="60",  # never expires during the test: a second receipt would be a bug
        PYTHONUNBUFFERED="1",
    )
    return env


class Proc:
    """A hookgate child process; stdout and stderr go to files read after (or while) it runs."""

    def __init__(self, args: list[str], env: dict[str, str], out: Path, err: Path) -> None:
        self.out, self.err = out, err
        self._files: list[IO[bytes]] = [out.open("wb"), err.open("wb")]
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "hookgate", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1],
        )

    def stdout_lines(self) -> list[str]:
        return self.out.read_text(encoding="utf-8", errors="replace").splitlines()

    def log(self) -> list[dict[str, Any]]:
        """The JSON log lines on stderr (anything else, e.g. a traceback, as an ``unparsed`` entry)."""
        out = []
        for raw in self.err.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"event": "unparsed", "line": raw})
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log() if line.get("event") == name]

    def complaints(self) -> list[dict[str, Any]]:
        return [line for line in self.log() if line.get("level") != "info"]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"{self.proc.args} exited {self.proc.returncode}: {self.err.read_text()}")

    async def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def reap(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        await asyncio.to_thread(self.proc.wait, 10)
        for f in self._files:
            f.close()


async def until(check: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def test_api_process_and_two_workers_deliver_exactly_once(tmp_path: Path, pg_dsn: str) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    t0 = time.monotonic()
    env = base_env(pg_dsn, generate_master_key())
    received: Counter[str] = Counter()
    requests = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal requests
        await request.read()
        requests += 1
        msg_id = request.headers.get("webhook-id")
        if msg_id is None:
            return web.Response(status=400)
        received[msg_id] += 1
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    procs: list[Proc] = []
    conn = await asyncpg.connect(pg_dsn)
    try:
        # the API process first: it applies the migrations (under a lock) and prints the admin token
        port = free_port()
        server = Proc(
            ["serve", "--no-workers", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            env,
            tmp_path / "serve.out",
            tmp_path / "serve.err",
        )
        procs.append(server)

        async def server_ready() -> bool:
            server.check_alive()
            return any(READY_LINE.match(line) for line in server.stdout_lines())

        await until(server_ready, 30, "hookgate serve to listen", 0.05)
        tokens = [m.group(1) for m in map(TOKEN_LINE.match, server.stdout_lines()) if m]
        assert len(tokens) == 1, server.stdout_lines()
        headers = {"Authorization": f"Bearer {tokens[0]}"}

        workers = [
            Proc(
                ["worker", "--concurrency", "16", "--log-level", "info"],
                env,
                tmp_path / f"worker-{i}.out",
                tmp_path / f"worker-{i}.err",
            )
            for i in range(2)
        ]
        procs.extend(workers)

        async def workers_started() -> bool:
            for w in workers:
                w.check_alive()
            return all(w.events("worker.start") for w in workers)

        # both idle in their claim loops before anything is published: each gets a fair chance at the work
        await until(workers_started, 30, "both workers to start")

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as api:
            created = await api.post("/api/v1/applications", json={"name": "multiprocess"})
            assert created.status_code == 201, created.text
            app_id = created.json()["id"]
            endpoint = await api.post(
                f"/api/v1/applications/{app_id}/endpoints",
                json={"url": hook_url, "allow_insecure": True, "retry_schedule": [0, 0.2, 0.5, 1, 1]},
            )
            assert endpoint.status_code == 201, endpoint.text
            assert endpoint.json()["secret"].startswith("whsec_")

            gate = asyncio.Semaphore(16)

            async def publish(i: int) -> dict[str, Any]:
                async with gate:
                    resp = await api.post(
                        f"/api/v1/applications/{app_id}/messages",
                        json={"event_type": "order.created", "payload": {"n": i}},
                        headers={"Idempotency-Key": f"order-{i}"},
                    )
                assert resp.status_code == 202, resp.text
                body: dict[str, Any] = resp.json()
                return body

            first = await asyncio.gather(*(publish(i) for i in range(MESSAGES)))
            assert not any(r["duplicate"] for r in first)
            assert all(len(r["deliveries"]) == 1 for r in first)
            ids = [r["message"]["id"] for r in first]
            assert len(set(ids)) == MESSAGES
            again = await asyncio.gather(*(publish(i) for i in range(REPEATS)))
            assert all(r["duplicate"] for r in again)
            assert [r["message"]["id"] for r in again] == ids[:REPEATS]

            async def all_delivered() -> bool:
                for p in procs:
                    p.check_alive()
                n = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
                return bool(n == MESSAGES)

            await until(all_delivered, 25, "every delivery to be delivered", 0.1)

            # the API reports the outcome too
            sample = await api.get(f"/api/v1/applications/{app_id}/messages/{ids[0]}/deliveries")
            assert sample.status_code == 200, sample.text
            [delivery] = sample.json()
            assert delivery["status"] == "delivered", delivery
            attempts = await api.get(f"/api/v1/applications/{app_id}/messages/{ids[0]}/attempts")
            assert attempts.status_code == 200, attempts.text
            assert 200 <= attempts.json()["items"][0]["status_code"] < 300

        for w in workers:
            assert await w.terminate() == 0, w.err.read_text()
        assert await server.terminate() == 0, server.err.read_text()
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM deliveries GROUP BY status"))
        messages = await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        for p in procs:
            await p.reap()
        await conn.close()
        await runner.cleanup()

    # nothing lost, nothing duplicated (no lease expired, so no second receipt is allowed)
    assert messages == MESSAGES
    assert statuses == {"delivered": MESSAGES}
    assert received == Counter(dict.fromkeys(ids, 1))
    assert requests == MESSAGES
    # both workers took part, and their own counts add up to what the receiver saw
    stops = [w.events("worker.stop") for w in workers]
    assert all(len(s) == 1 for s in stops), stops
    delivered = [s[0]["delivered"] for s in stops]
    assert all(n > 0 for n in delivered), delivered
    assert sum(delivered) == MESSAGES
    assert sum(s[0]["attempts"] for s in stops) == requests
    assert len({s[0]["owner"] for s in stops}) == 2
    for w in workers:
        assert not w.complaints(), (w.err, w.complaints())
    assert not [line for line in server.log() if line.get("level") not in {"info", "warning"}]
    elapsed = time.monotonic() - t0
    # how long it took is printed, not asserted: speed is the benchmarks' business, not the tests'
    print(f"\nmessages={MESSAGES} delivered per worker={delivered} total={elapsed:.1f}s")
