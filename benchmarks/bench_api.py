"""Measure the management API's publish path: accepted events/s, and publish -> delivered latency.

Single responsibility: in one run, report (a) API publish throughput, events accepted per second by
``POST /api/v1/applications/{app}/messages`` from an aiohttp client at concurrency 32, against
``hookgate serve --no-workers`` on SQLite (the embedded default) and on PostgreSQL; and (b) end-to-end
latency percentiles (p50/p95/p99) from the start of the publish request to the receiver's receipt, at a fixed
offered load of 200 events/s, against ``hookgate serve`` with its workers on (SQLite), delivering to a
loopback receiver process.

Run::

    cd /work/main && .venv/bin/python benchmarks/bench_api.py            # full run (~50 s)
    cd /work/main && .venv/bin/python benchmarks/bench_api.py --quick    # smoke run (~10 s)

Needs PostgreSQL at ``--pg-url`` (default postgresql://postgres@127.0.0.1:5432/test); the PostgreSQL server
process gets its own schema ``bench_api_<random>`` (``?search_path=`` on ``HOOKGATE_DATABASE_URL``), dropped
afterwards. SQLite servers use a fresh ``--data-dir`` in a temporary directory.

Method:

* Servers are real ``hookgate serve`` processes (``--log-level warning``, uvicorn inside, one process each),
  started once per scenario; the admin token is read from their stdout. Through the API the benchmark
  creates one application and one endpoint (``http://127.0.0.1:PORT/hook`` on the receiver,
  ``allow_insecure``, Standard Webhooks signing), so every publish stores a message *and* a delivery.
* (a) throughput: 32 tasks on one ``aiohttp.ClientSession`` POST ``{"event_type": "bench.event",
  "payload": {...}}`` (1 KiB JSON body) with a unique ``Idempotency-Key`` each, ``--events`` requests per run
  after 200 warm-up requests; accepted/s = requests / elapsed (client clock). Every response must be 202 and
  not a duplicate. No worker runs (``--no-workers``), so the deliveries stay pending: this is intake only.
  ``--rounds`` interleaved rounds (SQLite, PostgreSQL; the order alternates), median reported. CPU columns
  (Linux ``/proc``): the server process's user+system CPU per request, and the client's (this process).
* (b) latency: a fresh ``hookgate serve`` (workers on, SQLite, ``HOOKGATE_SSRF_ALLOWLIST=127.0.0.0/8``) and
  a receiver process (aiohttp on 127.0.0.1, answers 200 at once, records ``time.time()`` per
  ``webhook-id``). The benchmark starts one publish every 5 ms, each as its own task (open loop: a slow
  publish does not delay the next), for 1 s of warm-up (discarded) and then ``--latency-s`` seconds. Latency
  = receiver's receive time - the time the publish request started (same host clock). ``late`` counts
  publishes that started more than 1 ms after their slot (the benchmark process fell behind); the API's own
  response time (p50/p99) is reported alongside.
* The machine is shared (2 cores: client, server, receiver and PostgreSQL compete for them), so the rates
  move with outside load; the CPU columns are steadier than the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONCURRENCY = 32
RATE = 200.0
WARMUP_REQUESTS = 200
EVENT_TYPE = "bench.event"
TOKEN_LINE = re.compile(r"^admin API token \(shown once, store it now\): (hgk_\S+)$")
READY_LINE = re.compile(r"^hookgate API on http://127\.0\.0\.1:(\d+)/api/v1")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def message_body(i: int) -> dict[str, Any]:
    """A publish request whose JSON encoding is about 1 KiB."""
    return {"event_type": EVENT_TYPE, "payload": {"n": i, "data": "x" * 960}}


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# -- the receiver (its own process) --------------------------------------------------------------------


def receiver_main(conn: Connection) -> None:
    asyncio.run(_receive(conn))


async def _receive(conn: Connection) -> None:
    times: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        now = time.time()
        await request.read()
        msg_id = request.headers.get("webhook-id")
        if msg_id is not None:
            times.setdefault(msg_id, now)
        return web.Response(status=200)

    async def get_times(_: web.Request) -> web.Response:
        return web.json_response(times)

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"count": len(times)})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/times", get_times)
    app.router.add_get("/count", count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    conn.send(runner.addresses[0][1])
    conn.close()
    await asyncio.Event().wait()  # until terminated


# -- hookgate serve processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    token: str
    out: IO[bytes]
    err_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        if self.proc.returncode != 0:
            raise SystemExit(f"hookgate serve exited {self.proc.returncode}: {self.err_path.read_text()}")


async def start_server(tmp: Path, name: str, *, workers: bool, env_extra: dict[str, str]) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    env.update(env_extra)
    port = free_port()
    out_path, err_path = tmp / f"{name}.out", tmp / f"{name}.err"
    out = out_path.open("wb")
    args = [sys.executable, "-m", "hookgate", "serve", "--port", str(port), "--log-level", "warning"]
    args += ["--data-dir", str(tmp / f"{name}-data")]
    if not workers:
        args.append("--no-workers")
    with err_path.open("wb") as err:
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)  # noqa: S603
    deadline = time.monotonic() + 60
    while True:
        lines = out_path.read_text().splitlines()
        if any(READY_LINE.match(line) for line in lines):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"hookgate serve did not start: {lines} {err_path.read_text()}")
        await asyncio.sleep(0.05)
    tokens = [m.group(1) for m in map(TOKEN_LINE.match, lines) if m]
    if len(tokens) != 1:
        raise SystemExit(f"expected one admin token line, got {lines}")
    return Server(proc, f"http://127.0.0.1:{port}", tokens[0], out, err_path)


async def create_app_and_endpoint(session: aiohttp.ClientSession, server: Server, hook_url: str) -> str:
    async with session.post(
        f"{server.base}/api/v1/applications", json={"name": "bench"}, headers=server.headers
    ) as resp:
        if resp.status != 201:
            raise SystemExit(f"create application: {resp.status} {await resp.text()}")
        app_id: str = (await resp.json())["id"]
    async with session.post(
        f"{server.base}/api/v1/applications/{app_id}/endpoints",
        json={"url": hook_url, "allow_insecure": True},
        headers=server.headers,
    ) as resp:
        if resp.status != 201:
            raise SystemExit(f"create endpoint: {resp.status} {await resp.text()}")
    return app_id


class Publisher:
    def __init__(self, session: aiohttp.ClientSession, server: Server, app_id: str) -> None:
        self.session = session
        self.url = f"{server.base}/api/v1/applications/{app_id}/messages"
        self.headers = server.headers
        self.keys = 0

    async def publish(self, i: int) -> str:
        """One publish with a fresh Idempotency-Key; returns the message id (must be 202, not a duplicate)."""
        self.keys += 1
        headers = {**self.headers, "Idempotency-Key": f"bench-{self.keys}-{secrets.token_hex(4)}"}
        async with self.session.post(self.url, json=message_body(i), headers=headers) as resp:
            if resp.status != 202:
                raise SystemExit(f"publish: {resp.status} {await resp.text()}")
            body = await resp.json()
        if body["duplicate"] or len(body["deliveries"]) != 1:
            raise SystemExit(f"publish: unexpected answer {body}")
        msg_id: str = body["message"]["id"]
        return msg_id


# -- (a) throughput -------------------------------------------------------------------------------------


@dataclass
class Run:
    per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float
    client_cpu_us: float


async def throughput_run(publisher: Publisher, server_pid: int, n: int) -> Run:
    for i in range(WARMUP_REQUESTS):
        await publisher.publish(i)
    latencies: list[float] = []
    next_i = 0

    async def task() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t = time.perf_counter()
            await publisher.publish(i)
            latencies.append(time.perf_counter() - t)

    cpu0, client0 = proc_cpu_s(server_pid), time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - t0
    cpu1, client1 = proc_cpu_s(server_pid), time.process_time()
    if len(latencies) != n:
        raise SystemExit(f"throughput: {len(latencies)} of {n} requests completed")
    latencies.sort()
    return Run(
        n / elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        (cpu1 - cpu0) / n * 1e6,
        (client1 - client0) / n * 1e6,
    )


# -- (b) latency ------------------------------------------------------------------------------------------


@dataclass
class Latency:
    p50: float
    p95: float
    p99: float
    max: float
    n: int
    late: int
    api_p50: float
    api_p99: float


async def latency_run(
    publisher: Publisher, session: aiohttp.ClientSession, recv: str, seconds: float
) -> Latency:
    warm = int(RATE)  # 1 s at the target rate, discarded
    total = warm + int(seconds * RATE)
    started: dict[str, float] = {}
    api_times: list[float] = []
    late = 0

    async def one(i: int) -> None:
        t, p = time.time(), time.perf_counter()
        msg_id = await publisher.publish(i)
        if i >= warm:
            started[msg_id] = t
            api_times.append(time.perf_counter() - p)

    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    t_start = loop.time() + 0.05
    for i in range(total):
        delay = t_start + i / RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.001 and i >= warm:
            late += 1
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + 60
    while True:
        async with session.get(f"{recv}/count") as resp:
            if (await resp.json())["count"] >= total:
                break
        if time.monotonic() > deadline:
            raise SystemExit("latency: not every message was delivered within 60 s")
        await asyncio.sleep(0.05)
    async with session.get(f"{recv}/times") as resp:
        times: dict[str, float] = await resp.json()
    lat = sorted((times[m] - t) * 1000.0 for m, t in started.items())
    if len(lat) != total - warm:
        raise SystemExit(f"latency: {len(lat)} measured, expected {total - warm}")
    api_times.sort()
    return Latency(
        percentile(lat, 50),
        percentile(lat, 95),
        percentile(lat, 99),
        lat[-1],
        len(lat),
        late,
        percentile(api_times, 50) * 1000,
        percentile(api_times, 99) * 1000,
    )


# -- main ------------------------------------------------------------------------------------------------


async def pg_schema(pg_url: str) -> tuple[str, Any]:
    import asyncpg

    admin = await asyncpg.connect(pg_url)
    schema = "bench_api_" + secrets.token_hex(6)
    await admin.execute(f"CREATE SCHEMA {schema}")
    return schema, admin


async def bench(args: argparse.Namespace, recv_port: int) -> dict[str, Any]:
    from hookgate.crypto import generate_master_key

    recv = f"http://127.0.0.1:{recv_port}"
    hook_url = f"{recv}/hook"
    schema, admin = await pg_schema(args.pg_url)
    servers: list[Server] = []
    t_begin = time.monotonic()
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 4)
    stack = contextlib.AsyncExitStack()
    try:
        with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp_name:
            tmp = Path(tmp_name)
            session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
            key = generate_master_key()
            pg_dsn = f"{args.pg_url}?search_path={schema}"
            publishers: dict[str, tuple[Publisher, int]] = {}
            for kind, extra in (
                ("sqlite", {"HOOKGATE_MASTER_KEY": key}),
                ("pg", {"HOOKGATE_MASTER_KEY": key, "HOOKGATE_DATABASE_URL": pg_dsn}),
            ):
                server = await start_server(tmp, kind, workers=False, env_extra=extra)
                servers.append(server)
                app_id = await create_app_and_endpoint(session, server, hook_url)
                publishers[kind] = (Publisher(session, server, app_id), server.proc.pid)
            runs: dict[str, list[Run]] = {"sqlite": [], "pg": []}
            for r in range(args.rounds):
                order = ["sqlite", "pg"] if r % 2 == 0 else ["pg", "sqlite"]
                for kind in order:
                    publisher, pid = publishers[kind]
                    run = await throughput_run(publisher, pid, args.events)
                    runs[kind].append(run)
                    print(
                        f"  round {r + 1} {kind:<7} {run.per_s:8,.0f} events/s  p50 {run.p50_ms:6.2f} ms"
                        f"  p99 {run.p99_ms:6.2f} ms  server {run.server_cpu_us:5.0f} us/req"
                        f"  client {run.client_cpu_us:4.0f} us/req",
                        file=sys.stderr,
                        flush=True,
                    )
            for server in servers:
                server.stop()
            servers.clear()

            e2e_server = await start_server(
                tmp,
                "e2e",
                workers=True,
                env_extra={"HOOKGATE_MASTER_KEY": key, "HOOKGATE_SSRF_ALLOWLIST": "127.0.0.0/8"},
            )
            servers.append(e2e_server)
            app_id = await create_app_and_endpoint(session, e2e_server, hook_url)
            latency = await latency_run(Publisher(session, e2e_server, app_id), session, recv, args.latency_s)
            e2e_server.stop()
            servers.clear()
    finally:
        for server in servers:
            with contextlib.suppress(BaseException):
                server.stop()
        await stack.aclose()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    return {"runs": runs, "latency": latency, "elapsed": time.monotonic() - t_begin}


def median_run(runs: list[Run]) -> Run:
    mid = sorted(runs, key=lambda r: r.per_s)[len(runs) // 2]
    return Run(
        mid.per_s,
        mid.p50_ms,
        mid.p99_ms,
        statistics.median(r.server_cpu_us for r in runs),
        statistics.median(r.client_cpu_us for r in runs),
    )


def report(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    import uvicorn

    import hookgate

    runs: dict[str, list[Run]] = result["runs"]
    lat: Latency = result["latency"]
    print(
        f"python {sys.version.split()[0]}, uvicorn {uvicorn.__version__},"
        f" client aiohttp {aiohttp.__version__}; hookgate from {Path(hookgate.__file__).parent};"
        f" concurrency {CONCURRENCY},"
        f" {args.events} requests/run (+{WARMUP_REQUESTS} warm-up), ~1 KiB bodies,"
        f" {args.rounds} rounds, median"
    )
    header = (
        f"{'scenario':<22}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'srv us/req':>12}{'cli us/req':>12}"
        "  per-round events/s"
    )
    print(header)
    print("-" * len(header))
    summary: dict[str, Any] = {"concurrency": CONCURRENCY, "events": args.events, "rounds": args.rounds}
    for kind, label in (("sqlite", "publish, SQLite"), ("pg", "publish, PostgreSQL")):
        m = median_run(runs[kind])
        rounds = ", ".join(f"{r.per_s:,.0f}" for r in runs[kind])
        print(
            f"{label:<22}{m.per_s:>10,.0f}{m.p50_ms:>9.2f}{m.p99_ms:>9.2f}{m.server_cpu_us:>12.0f}"
            f"{m.client_cpu_us:>12.0f}  {rounds}"
        )
        summary |= {
            f"api_publish_{kind}_per_s": round(m.per_s),
            f"api_publish_{kind}_per_s_rounds": [round(r.per_s) for r in runs[kind]],
            f"api_publish_{kind}_p50_ms": round(m.p50_ms, 2),
            f"api_publish_{kind}_p99_ms": round(m.p99_ms, 2),
            f"api_publish_{kind}_server_cpu_us": round(m.server_cpu_us),
        }
    print()
    print(
        f"end to end at {RATE:.0f} events/s offered ({args.latency_s:.0f} s after 1 s warm-up;"
        " hookgate serve with workers, SQLite; publish start -> receiver):"
    )
    print(
        f"  p50 {lat.p50:.1f} ms  p95 {lat.p95:.1f} ms  p99 {lat.p99:.1f} ms  max {lat.max:.1f} ms"
        f"  n={lat.n}  late publishes {lat.late}"
        f"  API response p50 {lat.api_p50:.1f} ms p99 {lat.api_p99:.1f} ms"
    )
    print(
        "checks: every publish 202, not a duplicate, one delivery; every e2e message received;"
        f" total {result['elapsed']:.0f} s"
    )
    summary |= {
        "e2e_p50_ms_at_200": round(lat.p50, 1),
        "e2e_p95_ms_at_200": round(lat.p95, 1),
        "e2e_p99_ms_at_200": round(lat.p99, 1),
        "e2e_max_ms_at_200": round(lat.max, 1),
        "e2e_n": lat.n,
        "e2e_late_publishes": lat.late,
        "e2e_api_p50_ms": round(lat.api_p50, 1),
        "e2e_api_p99_ms": round(lat.api_p99, 1),
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: fewer events, one round, 3 s latency"
    )
    parser.add_argument("--events", type=int, help="requests per throughput run (default 3000; --quick 500)")
    parser.add_argument("--rounds", type=int, help="interleaved throughput rounds (default 3; --quick 1)")
    parser.add_argument("--latency-s", type=float, help="seconds of steady load (default 15; --quick 3)")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a schema per run is created)")
    args = parser.parse_args(argv)
    args.events = args.events or (500 if args.quick else 3000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.latency_s = args.latency_s or (3.0 if args.quick else 15.0)

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    receiver = ctx.Process(target=receiver_main, args=(child,), daemon=True)
    receiver.start()
    try:
        port = parent.recv()
        result = asyncio.run(bench(args, port))
    finally:
        receiver.terminate()
        receiver.join(10)
    summary = report(args, result)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
