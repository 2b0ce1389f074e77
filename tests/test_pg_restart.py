"""PostgreSQL restarting under load: the worker and the API process ride it out.

A private PostgreSQL cluster (its own data directory and loopback port: the shared server on 5432 is never
touched) backs one ``hookgate serve --no-workers`` and one ``hookgate worker`` process. While messages are
being published through the API, the cluster is restarted (``pg_ctl restart -m fast``) and then stopped and
started again after a pause. Afterwards the worker must still be running, every publish the API accepted must
reach the loopback receiver, and every publish it did not accept must have been answered 503 with the
documented JSON error body (never a 500 or a plain-text page).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from hookgate.crypto import generate_master_key
from tests.support import free_port
from tests.test_multiprocess import READY_LINE, TOKEN_LINE, Proc, base_env, until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _pg_bin() -> Path:
    """The newest installed PostgreSQL's binaries; in CI their absence fails the test instead of skipping."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
        pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    return Path(found[-1]).parent


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster run with pg_ctl (as the ``postgres`` user when we are root)."""

    bin: Path
    root: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        command = [
            *self._as_owner(),
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            *args,
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603 - fixed argv

    def init(self) -> None:
        subprocess.run(  # noqa: S603 - fixed argv
            [
                *self._as_owner(),
                str(self.bin / "initdb"),
                "-D",
                str(self.root / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    pg_bin = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="hookgate-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")  # initdb refuses to run as root
    c = Cluster(pg_bin, root, free_port())
    try:
        await asyncio.to_thread(c.init)
        await asyncio.to_thread(c.pg_ctl, "start")
        yield c
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            await asyncio.to_thread(c.pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _documented_503(resp: httpx.Response) -> bool:
    if resp.status_code != 503 or not resp.headers.get("content-type", "").startswith("application/json"):
        return False
    try:
        error = resp.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error.get("code"), str) and isinstance(error.get("message"), str)


async def test_worker_and_api_survive_postgres_restarts_under_load(tmp_path: Path, cluster: Cluster) -> None:
    env = base_env(cluster.dsn, generate_master_key())
    # short leases: a claim whose commit the outage swallowed is taken again soon (at-least-once)
    env["HOOKGATE_LEASE_SECONDS"] = "5"
    received: Counter[str] = Counter()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        msg_id = request.headers.get("webhook-id")
        if msg_id is not None:
            received[msg_id] += 1
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    procs: list[Proc] = []
    try:
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
        [token] = [m.group(1) for m in map(TOKEN_LINE.match, server.stdout_lines()) if m]
        worker = Proc(
            ["worker", "--concurrency", "16"], env, tmp_path / "worker.out", tmp_path / "worker.err"
        )
        procs.append(worker)

        async def worker_started() -> bool:
            worker.check_alive()
            return bool(worker.events("worker.start"))

        await until(worker_started, 30, "the worker to start")

        accepted: list[str] = []
        refused: list[httpx.Response] = []
        wrong: list[str] = []
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            created = await api.post("/api/v1/applications", json={"name": "restart"})
            assert created.status_code == 201, created.text
            app_id = created.json()["id"]
            endpoint = await api.post(
                f"/api/v1/applications/{app_id}/endpoints",
                json={
                    "url": hook_url,
                    "allow_insecure": True,
                    "retry_schedule": [0.2, 0.5, 1, 1, 1, 1, 1, 1],
                },
            )
            assert endpoint.status_code == 201, endpoint.text
            publishing = True

            async def publisher(lane: int) -> None:
                n = 0
                while publishing:
                    n += 1
                    try:
                        resp = await api.post(
                            f"/api/v1/applications/{app_id}/messages",
                            json={"event_type": "order.created", "payload": {"lane": lane, "n": n}},
                        )
                    except httpx.TransportError as exc:  # the API must answer, not drop the connection
                        wrong.append(f"no answer: {exc!r}")
                        await asyncio.sleep(0.05)
                        continue
                    if resp.status_code == 202:
                        accepted.append(resp.json()["message"]["id"])
                    elif _documented_503(resp):
                        refused.append(resp)
                        await asyncio.sleep(0.05)
                    else:
                        wrong.append(
                            f"{resp.status_code} {resp.headers.get('content-type')}: {resp.text[:200]}"
                        )
                        await asyncio.sleep(0.05)

            lanes = [asyncio.create_task(publisher(lane)) for lane in range(6)]
            try:
                await asyncio.sleep(1.0)
                await asyncio.to_thread(cluster.pg_ctl, "-m", "fast", "restart")
                await asyncio.sleep(1.0)
                await asyncio.to_thread(cluster.pg_ctl, "-m", "fast", "stop")
                await asyncio.sleep(1.5)  # down: every connection attempt is refused meanwhile
                await asyncio.to_thread(cluster.pg_ctl, "start")
                before = len(accepted)

                async def accepting_again() -> bool:
                    return len(accepted) > before + 20

                await until(accepting_again, 15, "the API to accept publishes again")
            finally:
                publishing = False
                await asyncio.gather(*lanes)

            async def all_received() -> bool:
                worker.check_alive()
                return all(m in received for m in accepted)

            await until(all_received, 20, "every accepted message to be delivered")

        worker.check_alive()
        server.check_alive()
        assert await worker.terminate() == 0, worker.err.read_text()
        assert await server.terminate() == 0, server.err.read_text()
    finally:
        for p in procs:
            await p.reap()
        await runner.cleanup()

    assert not wrong, wrong[:5]
    assert accepted
    # no traceback or other unstructured output: every failure was logged as an event
    unparsed: list[dict[str, Any]] = [
        line for p in procs for line in p.log() if line.get("event") == "unparsed"
    ]
    assert not unparsed, unparsed[:10]
    print(f"\naccepted={len(accepted)} refused(503)={len(refused)} received={len(received)}")
