"""Measure hookgate's publish -> deliver throughput and latency against a raw aiohttp POST loop.

Single responsibility: in one run, report (a) the raw aiohttp POST rate to a loopback receiver at the
worker's concurrency, (b) delivered/s through SQLite with one ``hookgate worker`` process, (c) delivered/s
through PostgreSQL with one and with two worker processes, each as a ratio to (a), and the p50/p95/p99
publish-to-received latency at a steady offered load of 200 events/s (SQLite, the embedded default, and
PostgreSQL, one worker each); and (d) per-scheme rows: SQLite, one worker, with the endpoint using HMAC
only, OAuth2 (cached token), a JWS ES256 payload, a JWE RSA-OAEP-256 payload, HMAC over HTTPS, and mTLS,
each as a ratio to the HMAC row.

Run::

    cd /work/main && .venv/bin/python benchmarks/bench_delivery.py               # full run (~3 min)
    cd /work/main && .venv/bin/python benchmarks/bench_delivery.py --no-schemes  # without (d) (~2 min)
    cd /work/main && .venv/bin/python benchmarks/bench_delivery.py --quick       # smoke run (~30 s)

Needs PostgreSQL at ``--pg-url`` (default postgresql://postgres@127.0.0.1:5432/test); every PostgreSQL run
gets its own schema ``bench_<random>`` (``?search_path=`` on the DSN), dropped afterwards. SQLite runs use a
fresh file in a temporary directory.

Method:

* One receiver process (aiohttp web server on 127.0.0.1, plain HTTP: TLS would cost both the baseline and
  hookgate the same and dominate both) answers 200 at once, counts requests and records ``time.time()`` per
  ``webhook-id``; the benchmark reads its counters over ``GET /stats`` and ``GET /times``. On 2 cores that
  receiver competes for CPU with the worker process(es), PostgreSQL and the benchmark process, for the
  baseline and for hookgate alike.
* (a) raw: one ``aiohttp.ClientSession`` in the benchmark process, ``C`` tasks POSTing identical 1 KiB JSON
  bodies (no signing, no database); requests/s measured by the client, median of the repeats.
* (b)/(c) throughput: fresh database, one application, one endpoint (``http://127.0.0.1:PORT/hook``,
  standard-webhooks signing, ``max_concurrency=C``). ``N`` events (1 KiB payloads) are published *held*:
  through a `Hookgate` whose clock runs one hour ahead, so every delivery is stored but not yet due
  (publish/s is reported, 8 concurrent publishers, no worker running). Then the worker process(es) are
  started with ``--concurrency C --log-level warning`` and warmed up: 50 ordinary events are published and
  received (process start-up, imports, migrations check, connection set-up all happen here), and for
  PostgreSQL the benchmark waits until every worker holds its ``LISTEN`` connection (i.e. is idle in its
  claim loop). Then one transaction sets ``next_attempt_at = now`` on the held deliveries (plus
  ``pg_notify`` on PostgreSQL; SQLite workers see the commit through ``PRAGMA data_version`` polling).
  Elapsed = receiver's time of the N-th receipt - commit time of that release; delivered/s = N / elapsed.
  After the workers stop (SIGTERM, graceful) the database must hold N + 50 delivered deliveries.
* Scenarios run in interleaved rounds (raw, SQLite 1w, PG 1w, PG 2w; ``--repeats`` rounds, 5 by default),
  and each figure is the median over the rounds: this machine is shared, and a burst of load from
  elsewhere then hits every scenario alike instead of one of them.
* CPU columns (Linux ``/proc``, 10 ms tick): user+system CPU per request/delivery of the sender (the raw
  client: this process; hookgate: the worker process(es)), of the receiver process, and of this run's
  PostgreSQL backends (found by ``application_name``). They explain the rates on 2 cores and are much less
  sensitive to other load than the rates are.
* Latency: fresh database, one worker, warmed up as above; the benchmark process publishes on a fixed
  schedule (one publish started every 5 ms, each as its own task so a slow publish does not delay the
  next: open loop) for 1 s of warm-up (discarded) and then ``--latency-s`` seconds. Latency per message =
  receiver's receive time - the time the ``publish`` call started (same host clock). ``late`` counts
  publishes that started more than 1 ms after their slot (the benchmark process fell behind).
* (d) per-scheme rows (``--schemes``, the default; ``--no-schemes`` skips them): the (b) SQLite, 1 worker
  scenario with ``--scheme-events`` events (3000) per run, ``--scheme-repeats`` interleaved rounds (5) of
  all rows, median reported. Every row keeps Standard Webhooks HMAC signing and adds one thing to the
  endpoint: ``hmac`` nothing (the baseline of the ratios; run in the same rounds, so it is comparable);
  ``oauth2`` client-credentials auth against a ``/token`` route of the receiver process (``expires_in``
  3600, so the worker fetches one token during warm-up and reuses it; the token requests per worker are
  reported); ``jws`` a JWS payload signed by an active EC P-256 key ring key (ES256); ``jwe`` a JWE payload
  encrypted to a fresh RSA-3072 public key (RSA-OAEP-256 + A256GCM; the receiver does not decrypt);
  ``hmac_https`` HTTPS to a second receiver listener (trustme server certificate, endpoint ``ca_bundle``),
  no client certificate; ``mtls`` HTTPS to a third listener that requires a client certificate
  (``ssl.CERT_REQUIRED``, trustme client CA), the endpoint presenting one. ``mtls_vs_hmac_https``
  separates the client-certificate cost from the cost of TLS itself. The receiver checks that all N
  deliveries arrived on the expected listener with the expected ``Content-Type`` (and a Bearer token for
  OAuth2), and reports TLS handshakes completed during the timed part (``SSLContext.session_stats``).
  ``<row>_vs_hmac`` is the ratio of the median rates; ``<row>_vs_hmac_cpu`` (the "CPU ratio" column) is
  HMAC's worker CPU per delivery / the row's: the rate ratio a CPU-bound worker would reach, and far less
  disturbed by other load on a shared machine than the rates are.
* ``--profile PATH`` runs the worker(s) of the first round of each scenario under cProfile (slower; the
  rates of that round are then not comparable) and writes ``PATH.<scenario>.<n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import trustme
from aiohttp import web

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.keys import generate_key, load_key, public_pem
from hookgate.store import open_store

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BODY_SIZE = 1024
HOLD_S = 3600.0  # how far ahead the holding clock runs
WARMUP_EVENTS = 50
PUBLISHERS = 8
RATE = 200.0
EVENT_TYPE = "bench.event"


def make_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` ASCII bytes."""
    head, tail = b'{"type":"bench.event","data":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


# -- the receiver (its own process) --------------------------------------------------------------------


def receiver_main(conn: Connection, tls: dict[str, str] | None = None) -> None:
    asyncio.run(_serve(conn, tls))


def _server_contexts(tls: dict[str, str], tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server-auth-only, client-certificate-required) contexts from the PEMs made by `make_pki`."""
    cert, key = tmp / "server.pem", tmp / "server.key"
    cert.write_text(tls["server_cert"])
    key.write_text(tls["server_key"])
    contexts = []
    for require_client in (False, True):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        if require_client:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=tls["client_ca"])
        contexts.append(ctx)
    return contexts[0], contexts[1]


async def _serve(conn: Connection, tls: dict[str, str] | None = None) -> None:
    state: dict[str, object] = {"count": 0, "first": None, "last": None, "tokens": 0}
    times: dict[str, float] = {}
    # per (listener, content type, bearer or not): what arrived since the last reset (scheme rows check it)
    kinds: dict[str, int] = {}

    def make_hook(listener: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def hook(request: web.Request) -> web.Response:
            now = time.time()
            await request.read()
            headers = request.headers
            msg_id = headers.get("webhook-id")
            if msg_id is not None:
                times[msg_id] = now
            state["count"] = int(state["count"]) + 1  # type: ignore[call-overload]
            if state["first"] is None:
                state["first"] = now
            state["last"] = now
            bearer = headers.get("Authorization", "").startswith("Bearer ")
            kind = f"{listener} {headers.get('Content-Type', '-')}{' bearer' if bearer else ''}"
            kinds[kind] = kinds.get(kind, 0) + 1
            return web.Response(status=200)

        return hook

    async def token(request: web.Request) -> web.Response:
        # OAuth2 client-credentials token endpoint: every request gets a fresh token valid for an hour
        await request.read()
        state["tokens"] = int(state["tokens"]) + 1  # type: ignore[call-overload]
        return web.json_response(
            {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 3600}
        )

    contexts: dict[str, ssl.SSLContext] = {}

    async def stats(_: web.Request) -> web.Response:
        # completed TLS handshakes so far, per TLS listener (cumulative: never reset)
        handshakes = {name: ctx.session_stats()["accept_good"] for name, ctx in contexts.items()}
        return web.json_response({**state, "kinds": kinds, "handshakes": handshakes})

    async def get_times(_: web.Request) -> web.Response:
        return web.json_response(times)

    async def reset(_: web.Request) -> web.Response:
        state.update(count=0, first=None, last=None)
        times.clear()
        kinds.clear()
        return web.Response(status=204)

    with tempfile.TemporaryDirectory(prefix="bench_receiver_") as tmp:
        if tls is not None:
            contexts["https"], contexts["mtls"] = _server_contexts(tls, Path(tmp))
        ports: dict[str, int] = {}
        for listener in ("http", *contexts):
            app = web.Application()
            app.router.add_post("/hook", make_hook(listener))
            if listener == "http":
                app.router.add_post("/token", token)
                app.router.add_get("/stats", stats)
                app.router.add_get("/times", get_times)
                app.router.add_post("/reset", reset)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024, ssl_context=contexts.get(listener))
            await site.start()
            ports[listener] = runner.addresses[0][1]
        conn.send(ports)
        conn.close()
        await asyncio.Event().wait()  # until terminated


class Receiver:
    def __init__(self, session: aiohttp.ClientSession, ports: dict[str, int], pid: int) -> None:
        self.session = session
        self.pid = pid
        self.ports = ports
        self.base = f"http://127.0.0.1:{ports['http']}"
        self.hook_url = f"{self.base}/hook"
        self.token_url = f"{self.base}/token"

    def url(self, listener: str) -> str:
        """The hook URL of a listener: ``http``, ``https`` (server certificate) or ``mtls`` (client too)."""
        scheme = "http" if listener == "http" else "https"
        return f"{scheme}://127.0.0.1:{self.ports[listener]}/hook"

    async def reset(self) -> None:
        async with self.session.post(f"{self.base}/reset") as resp:
            resp.raise_for_status()

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/stats") as resp:
            data: dict[str, Any] = await resp.json()
            return data

    async def times(self) -> dict[str, float]:
        async with self.session.get(f"{self.base}/times") as resp:
            data: dict[str, float] = await resp.json()
            return data

    async def wait_count(self, count: int, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = await self.stats()
            if st["count"] >= count:
                return st
            if time.monotonic() > deadline:
                raise SystemExit(f"receiver saw {st['count']} of {count} requests within {timeout:.0f} s")
            await asyncio.sleep(0.005)


def make_pki() -> dict[str, str]:
    """A server certificate for 127.0.0.1 (own CA) and a client certificate (another CA), as PEM text."""
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    client = client_ca.issue_cert("bench-client@example")
    return {
        "server_ca": server_ca.cert_pem.bytes().decode(),
        "server_cert": "".join(b.bytes().decode() for b in server.cert_chain_pems),
        "server_key": server.private_key_pem.bytes().decode(),
        "client_ca": client_ca.cert_pem.bytes().decode(),
        "client_cert": "".join(b.bytes().decode() for b in client.cert_chain_pems),
        "client_key": client.private_key_pem.bytes().decode(),
    }


# -- (a) raw aiohttp -----------------------------------------------------------------------------------


@dataclass
class Run:
    per_s: float  # raw: requests/s; hookgate: delivered/s
    cpu_us: float  # CPU of the sending process(es) per request / delivery, microseconds
    receiver_cpu_us: float  # CPU of the receiver process per request
    db_cpu_us: float = 0.0  # CPU of this run's PostgreSQL backends per delivery (SQLite: in the worker)
    publish_per_s: float = 0.0
    tokens_per_worker: float = 0.0  # OAuth2 token requests per worker process, start to stop (scheme rows)
    handshakes: float = 0.0  # TLS handshakes the receiver completed during the timed part (scheme rows)


async def raw_rate(url: str, n: int, concurrency: int, receiver_pid: int) -> Run:
    body = make_body(BODY_SIZE)
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def run(total: int) -> float:
            remaining = total

            async def one() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status != 200:
                            raise SystemExit(f"raw POST got {resp.status}")

            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(concurrency)))
            return total / (time.perf_counter() - start)

        await run(min(n, 1000))  # warm-up: open the connections
        cpu, receiver_cpu = time.process_time(), proc_cpu_s(receiver_pid)
        rate = await run(n)
        return Run(
            rate,
            (time.process_time() - cpu) / n * 1e6,
            (proc_cpu_s(receiver_pid) - receiver_cpu) / n * 1e6,
        )


# -- databases -----------------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str  # "sqlite" | "pg"
    url: str
    tag: str
    path: str | None = None  # sqlite file
    schema: str | None = None  # pg schema


async def create_database(kind: str, tmp: Path, pg_url: str) -> Database:
    tag = f"bench_{secrets.token_hex(4)}"
    if kind == "sqlite":
        path = str(tmp / f"{tag}.db")
        return Database(kind, f"sqlite:///{path}", tag, path=path)  # path is absolute: four slashes
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f"CREATE SCHEMA {tag}")
    finally:
        await conn.close()
    sep = "&" if "?" in pg_url else "?"
    return Database(kind, f"{pg_url}{sep}search_path={tag}&application_name={tag}", tag, schema=tag)


async def drop_database(db: Database, pg_url: str) -> None:
    if db.kind == "sqlite" and db.path:
        for suffix in ("", "-wal", "-shm"):
            Path(db.path + suffix).unlink(missing_ok=True)
    elif db.schema:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {db.schema} CASCADE")
        finally:
            await conn.close()


async def release_held(db: Database) -> float:
    """Make every held delivery due now in one transaction; return the commit time."""
    if db.kind == "sqlite":
        assert db.path is not None

        def run() -> float:
            conn = sqlite3.connect(db.path, isolation_level=None, timeout=10)  # type: ignore[arg-type]
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "UPDATE deliveries SET next_attempt_at = ?"
                    " WHERE status = 'pending' AND next_attempt_at > ?",
                    (time.time(), time.time() + HOLD_S / 2),
                )
                conn.execute("COMMIT")
                return time.time()
            finally:
                conn.close()

        return await asyncio.to_thread(run)
    conn = await asyncpg.connect(db.url)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE deliveries SET next_attempt_at = $1"
                " WHERE status = 'pending' AND next_attempt_at > $2",
                time.time(),
                time.time() + HOLD_S / 2,
            )
            await conn.execute("SELECT pg_notify('hookgate_work', '')")
        return time.time()
    finally:
        await conn.close()


async def delivered_count(db: Database) -> int:
    sql = "SELECT count(*) FROM deliveries WHERE status = 'delivered'"
    if db.kind == "sqlite":

        def run() -> int:
            conn = sqlite3.connect(db.path, timeout=10)  # type: ignore[arg-type]
            try:
                return int(conn.execute(sql).fetchone()[0])
            finally:
                conn.close()

        return await asyncio.to_thread(run)
    conn = await asyncpg.connect(db.url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def backend_cpu(db: Database, pg_url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving this run's connections (by application_name)."""
    if db.kind != "pg":
        return {}
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", db.tag)
    finally:
        await conn.close()
    return {r["pid"]: proc_cpu_s(r["pid"]) for r in rows}


async def wait_listeners(db: Database, pg_url: str, count: int, timeout: float = 30.0) -> None:
    """Wait until ``count`` worker processes hold their LISTEN connection (idle in the claim loop)."""
    conn = await asyncpg.connect(pg_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            n = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
                db.tag,
            )
            if n >= count:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"only {n} of {count} workers listening after {timeout:.0f} s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- worker processes ----------------------------------------------------------------------------------


@dataclass
class Workers:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(p.pid) for p in self.procs)

    def check_alive(self) -> None:
        for p, log in zip(self.procs, self.logs, strict=True):
            if p.poll() is not None:
                raise SystemExit(f"worker exited with {p.returncode}: {log.read_text()[-2000:]}")


def start_workers(
    db: Database, count: int, *, concurrency: int, master_key: str, tmp: Path, profile: Path | None = None
) -> Workers:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    env.update(
        HOOKGATE_MASTER_KEY=master_key,
        HOOKGATE_SSRF_ALLOWLIST="127.0.0.0/8",
        HOOKGATE_DATA_DIR=str(tmp / "data"),
    )
    workers = Workers()
    for i in range(count):
        prefix = [sys.executable]
        if profile is not None:
            prefix += ["-m", "cProfile", "-o", f"{profile}.{i}"]
        cmd = [
            *prefix,
            "-m",
            "hookgate",
            "worker",
            "--database-url",
            db.url,
            "--log-level",
            "warning",
            "--concurrency",
            str(concurrency),
        ]
        log = tmp / f"{db.tag}-worker{i}.log"
        with log.open("wb") as out:
            workers.procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=tmp))  # noqa: S603
        workers.logs.append(log)
    return workers


# -- hookgate runs -------------------------------------------------------------------------------------


@dataclass
class Setup:
    hg: Hookgate
    app_id: str


@dataclass(frozen=True)
class Scheme:
    """How the endpoint of a per-scheme row is configured (on top of Standard Webhooks HMAC signing)."""

    label: str
    listener: str  # the receiver listener: "http", "https" (server cert) or "mtls" (client cert required)
    options: Mapping[str, Any] = field(default_factory=dict)  # extra create_endpoint keyword arguments
    signing_key: str | None = None  # key ring key type generated and activated first (JWS payloads)
    content_type: str = "application/json"  # what every delivery must arrive as
    bearer: bool = False  # every delivery must carry an ``Authorization: Bearer`` token

    def expected_kind(self) -> str:
        """The receiver's tally key every delivery of this row must land in."""
        return f"{self.listener} {self.content_type}{' bearer' if self.bearer else ''}"


PLAIN = Scheme("HMAC (plain HTTP)", "http")


async def open_hookgate(
    db: Database, box: SecretBox, receiver: Receiver, concurrency: int, scheme: Scheme = PLAIN
) -> Setup:
    store = await open_store(db.url)
    hg = Hookgate(store, box, settings=Settings(ssrf_allowlist=("127.0.0.0/8",)))
    app = await hg.create_application("bench")
    if scheme.signing_key is not None:
        await hg.keyring.generate(scheme.signing_key, activate=True)
    url = receiver.url(scheme.listener)
    await hg.create_endpoint(
        app.id,
        url,
        allow_insecure=url.startswith("http:"),
        scheme="standard-webhooks",
        max_concurrency=concurrency,
        **scheme.options,
    )
    return Setup(hg, app.id)


async def publish_many(hg: Hookgate, app_id: str, n: int, payload: bytes) -> float:
    """Publish ``n`` events with PUBLISHERS concurrent tasks; return events/s."""
    remaining = n

    async def one() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await hg.publish(app_id, EVENT_TYPE, payload)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(PUBLISHERS)))
    return n / (time.perf_counter() - start)


async def warm_up(
    setup: Setup, receiver: Receiver, *, payload: bytes, db: Database, pg_url: str, n_workers: int
) -> None:
    await receiver.reset()
    for _ in range(WARMUP_EVENTS):
        await setup.hg.publish(setup.app_id, EVENT_TYPE, payload)
    await receiver.wait_count(WARMUP_EVENTS, timeout=60)
    if db.kind == "pg":
        await wait_listeners(db, pg_url, n_workers)
    await asyncio.sleep(0.3)  # let the workers flush the warm-up results and go idle


async def throughput_run(
    kind: str,
    n_workers: int,
    *,
    n: int,
    concurrency: int,
    receiver: Receiver,
    tmp: Path,
    pg_url: str,
    master_key: str,
    profile: Path | None = None,
    scheme: Scheme = PLAIN,
    prepare: Callable[[Database, Setup], Awaitable[None]] | None = None,
    monitor: Callable[[Workers], Coroutine[Any, Any, None]] | None = None,
) -> Run:
    """One held-backlog drain (see the module docstring). Hooks for bench_lifecycle: ``prepare`` runs on
    the new database before the held publish (e.g. fills it with history); ``monitor`` runs as a task from
    just before the release until the last delivery is received (e.g. samples the worker's memory)."""
    box = SecretBox(parse_master_keys(master_key))
    payload = make_body(BODY_SIZE)
    db = await create_database(kind, tmp, pg_url)
    workers: Workers | None = None
    try:
        setup = await open_hookgate(db, box, receiver, concurrency, scheme)
        if prepare is not None:
            await prepare(db, setup)
        already = await delivered_count(db)  # the history ``prepare`` may have added
        # held publisher: same store, clock an hour ahead, so deliveries are stored but not yet due
        held = Hookgate(setup.hg.store, box, settings=setup.hg.settings, clock=lambda: time.time() + HOLD_S)
        publish_per_s = await publish_many(held, setup.app_id, n, payload)
        tokens = (await receiver.stats())["tokens"]
        workers = start_workers(
            db, n_workers, concurrency=concurrency, master_key=master_key, tmp=tmp, profile=profile
        )
        await warm_up(setup, receiver, payload=payload, db=db, pg_url=pg_url, n_workers=n_workers)
        workers.check_alive()
        await receiver.reset()
        db_cpu = await backend_cpu(db, pg_url)
        cpu, receiver_cpu = workers.cpu_s(), proc_cpu_s(receiver.pid)
        handshakes = (await receiver.stats())["handshakes"].get(scheme.listener, 0)
        watching = asyncio.create_task(monitor(workers)) if monitor is not None else None
        t0 = await release_held(db)
        st = await receiver.wait_count(n, timeout=max(120.0, n / 50))
        if watching is not None:
            watching.cancel()
        elapsed = st["last"] - t0
        cpu, receiver_cpu = workers.cpu_s() - cpu, proc_cpu_s(receiver.pid) - receiver_cpu
        handshakes = st["handshakes"].get(scheme.listener, 0) - handshakes
        db_after = await backend_cpu(db, pg_url)
        db_used = sum(t - db_cpu.get(pid, 0.0) for pid, t in db_after.items())
        workers.stop()
        workers = None
        done = await delivered_count(db)
        if done != already + n + WARMUP_EVENTS or st["count"] != n:
            raise SystemExit(
                f"{kind}: {done} delivered in the database, receiver saw {st['count']}; expected {n}"
            )
        if st["kinds"] != {scheme.expected_kind(): n}:
            raise SystemExit(f"{scheme.label}: receiver saw {st['kinds']}; expected {scheme.expected_kind()}")
        tokens = (await receiver.stats())["tokens"] - tokens
        await setup.hg.close()
        return Run(
            n / elapsed,
            cpu / n * 1e6,
            receiver_cpu / n * 1e6,
            db_used / n * 1e6,
            publish_per_s,
            tokens / n_workers,
            handshakes,
        )
    finally:
        if workers is not None:
            workers.stop()
        await drop_database(db, pg_url)


@dataclass
class Latency:
    p50: float
    p95: float
    p99: float
    max: float
    n: int
    late_publishes: int  # publish calls that started > 1 ms after their slot
    worker_cpu_s: float = (
        0.0  # the worker's CPU from the first publish (warm-up second included) to the last receipt
    )
    deliveries: int = 0  # deliveries in that span (warm-up second included)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def latency_run(
    kind: str,
    seconds: float,
    *,
    concurrency: int,
    receiver: Receiver,
    tmp: Path,
    pg_url: str,
    master_key: str,
) -> Latency:
    box = SecretBox(parse_master_keys(master_key))
    payload = make_body(BODY_SIZE)
    db = await create_database(kind, tmp, pg_url)
    workers: Workers | None = None
    try:
        setup = await open_hookgate(db, box, receiver, concurrency)
        workers = start_workers(db, 1, concurrency=concurrency, master_key=master_key, tmp=tmp)
        await warm_up(setup, receiver, payload=payload, db=db, pg_url=pg_url, n_workers=1)
        await receiver.reset()
        warm = int(RATE)  # 1 s of warm-up at the target rate, discarded
        total = warm + int(seconds * RATE)
        started: dict[str, float] = {}
        late = 0
        tasks: list[asyncio.Task[None]] = []

        async def publish(i: int) -> None:
            t = time.time()
            result = await setup.hg.publish(setup.app_id, EVENT_TYPE, payload)
            if i >= warm:
                started[result.message.id] = t

        loop = asyncio.get_running_loop()
        cpu = workers.cpu_s()
        t_start = loop.time() + 0.05
        for i in range(total):
            slot = t_start + i / RATE
            delay = slot - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.001 and i >= warm:
                late += 1
            tasks.append(asyncio.create_task(publish(i)))
        await asyncio.gather(*tasks)
        await receiver.wait_count(total, timeout=60)
        cpu = workers.cpu_s() - cpu
        workers.check_alive()
        times = await receiver.times()
        lat = sorted((times[m] - t) * 1000.0 for m, t in started.items())
        if len(lat) != total - warm:
            raise SystemExit(f"latency: {len(lat)} measured, expected {total - warm}")
        await setup.hg.close()
        return Latency(
            percentile(lat, 50), percentile(lat, 95), percentile(lat, 99), lat[-1], len(lat), late, cpu, total
        )
    finally:
        if workers is not None:
            workers.stop()
        await drop_database(db, pg_url)


# -- main ----------------------------------------------------------------------------------------------


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.per_s for r in runs),
        statistics.median(r.cpu_us for r in runs),
        statistics.median(r.receiver_cpu_us for r in runs),
        statistics.median(r.db_cpu_us for r in runs),
        statistics.median(r.publish_per_s for r in runs),
        statistics.median(r.tokens_per_worker for r in runs),
        statistics.median(r.handshakes for r in runs),
    )


SCENARIOS = {  # name: (label, store, worker processes); "raw" is the baseline
    "raw": ("raw aiohttp POST", "", 0),
    "sqlite_1w": ("hookgate SQLite, 1 worker", "sqlite", 1),
    "pg_1w": ("hookgate PG, 1 worker", "pg", 1),
    "pg_2w": ("hookgate PG, 2 workers", "pg", 2),
}


def scheme_rows(receiver: Receiver, pki: dict[str, str]) -> dict[str, Scheme]:
    """The per-scheme rows: each is the SQLite 1-worker throughput scenario with one endpoint option added."""
    jwe_key = public_pem(load_key(generate_key("rsa"), private=True))  # RSA 3072 -> RSA-OAEP-256 + A256GCM
    oauth2 = {
        "type": "oauth2",
        "token_url": receiver.token_url,  # served by the receiver process, expires_in 3600
        "client_id": "bench",
        "client_secret": "bench-client-secret",
    }
    client_tls = {"client_cert": pki["client_cert"], "client_key": pki["client_key"]}
    return {
        "hmac": PLAIN,
        "oauth2": Scheme("OAuth2 (cached token)", "http", {"auth": oauth2}, bearer=True),
        "jws": Scheme(
            "JWS ES256", "http", {"payload": {"format": "jws"}}, "ec", content_type="application/jwt"
        ),
        "jwe": Scheme(
            "JWE RSA-OAEP-256",
            "http",
            {"payload": {"format": "jwe", "public_key": jwe_key}},
            content_type="application/jose",
        ),
        "hmac_https": Scheme("HMAC over HTTPS", "https", {"tls": {"ca_bundle": pki["server_ca"]}}),
        "mtls": Scheme("mTLS (client cert)", "mtls", {"tls": {"ca_bundle": pki["server_ca"], **client_tls}}),
    }


async def bench(
    args: argparse.Namespace, ports: dict[str, int], receiver_pid: int, pki: dict[str, str] | None
) -> dict[str, Any]:
    n, c, repeats = args.events, args.concurrency, args.repeats
    master_key = f"k1:{generate_master_key()}"
    profile = Path(args.profile).resolve() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench_delivery_") as tmp_name:
        tmp = Path(tmp_name)
        async with aiohttp.ClientSession() as control:
            receiver = Receiver(control, ports, receiver_pid)
            await receiver.wait_count(0, timeout=10)

            # rounds interleave the scenarios, so a burst of load from elsewhere hits all of them alike
            all_runs: dict[str, list[Run]] = {name: [] for name in SCENARIOS}
            for i in range(repeats):
                for name, (_, kind, workers) in SCENARIOS.items():
                    if name == "raw":
                        all_runs[name].append(await raw_rate(receiver.hook_url, n, c, receiver.pid))
                        continue
                    prof = profile.with_name(f"{profile.name}.{name}") if profile and i == 0 else None
                    all_runs[name].append(
                        await throughput_run(
                            kind,
                            workers,
                            n=n,
                            concurrency=c,
                            receiver=receiver,
                            tmp=tmp,
                            pg_url=args.pg_url,
                            master_key=master_key,
                            profile=prof,
                        )
                    )

            # per-scheme rows: SQLite, 1 worker, --scheme-events each, interleaved rounds as above
            schemes = scheme_rows(receiver, pki) if pki is not None else {}
            scheme_runs: dict[str, list[Run]] = {name: [] for name in schemes}
            scheme_start = time.monotonic()
            for _ in range(args.scheme_repeats if schemes else 0):
                for name, scheme in schemes.items():
                    scheme_runs[name].append(
                        await throughput_run(
                            "sqlite",
                            1,
                            n=args.scheme_events,
                            concurrency=c,
                            receiver=receiver,
                            tmp=tmp,
                            pg_url=args.pg_url,
                            master_key=master_key,
                            scheme=scheme,
                        )
                    )
            args.scheme_wall_s = time.monotonic() - scheme_start

            latencies = {
                kind: await latency_run(
                    kind,
                    args.latency_s,
                    concurrency=c,
                    receiver=receiver,
                    tmp=tmp,
                    pg_url=args.pg_url,
                    master_key=master_key,
                )
                for kind in ("sqlite", "pg")
            }
    summary = report(args, all_runs, latencies)
    if schemes:
        summary.update(report_schemes(args, schemes, scheme_runs))
    return summary


def report_schemes(
    args: argparse.Namespace, schemes: dict[str, Scheme], runs: dict[str, list[Run]]
) -> dict[str, Any]:
    results = {name: median_run(r) for name, r in runs.items()}
    hmac, https = results["hmac"].per_s, results["hmac_https"].per_s
    hmac_cpu = results["hmac"].cpu_us
    print()
    title = f"per scheme (SQLite, 1 worker, {args.scheme_events} events)"
    header = (
        f"{title:<43} {'delivered/s':>11} {'vs HMAC':>7} {'CPU us/msg: worker':>18} {'CPU ratio':>9}"
        f" {'receiver':>8} {'tokens/w':>8} {'TLS hs':>6}   runs (per s)"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        per_run = ", ".join(f"{x.per_s:,.0f}" for x in runs[name])
        tokens = f"{r.tokens_per_worker:.0f}" if schemes[name].bearer else "-"
        handshakes = f"{r.handshakes:.0f}" if schemes[name].listener != "http" else "-"
        print(
            f"{schemes[name].label:<43} {r.per_s:>11,.0f} {r.per_s / hmac:>6.2f}x {r.cpu_us:>18.0f}"
            f" {hmac_cpu / r.cpu_us:>8.2f}x {r.receiver_cpu_us:>8.0f} {tokens:>8} {handshakes:>6}   {per_run}"
        )
    mtls_cpu = results["hmac_https"].cpu_us / results["mtls"].cpu_us
    print(f"mTLS vs HMAC over HTTPS: {results['mtls'].per_s / https:.2f}x (CPU ratio {mtls_cpu:.2f}x)")
    rounds = len(runs["hmac"])
    print(f"({len(results)} rows x {rounds} interleaved rounds took {args.scheme_wall_s:.0f} s)")
    summary: dict[str, Any] = {
        "scheme_events": args.scheme_events,
        "scheme_repeats": args.scheme_repeats,
        "oauth2_token_requests_per_worker": results["oauth2"].tokens_per_worker,
        "mtls_vs_hmac_https": round(results["mtls"].per_s / https, 3),
        "mtls_vs_hmac_https_cpu": round(mtls_cpu, 3),
        "mtls_tls_handshakes": results["mtls"].handshakes,
        "hmac_https_tls_handshakes": results["hmac_https"].handshakes,
    }
    for name, r in results.items():
        summary[f"scheme_{name}_per_s"] = round(r.per_s)
        summary[f"scheme_{name}_cpu_us_per_delivery"] = round(r.cpu_us, 1)
        summary[f"scheme_{name}_receiver_cpu_us_per_req"] = round(r.receiver_cpu_us, 1)
        if name != "hmac":
            summary[f"{name}_vs_hmac"] = round(r.per_s / hmac, 3)
            summary[f"{name}_vs_hmac_cpu"] = round(hmac_cpu / r.cpu_us, 3)
    return summary


def report(
    args: argparse.Namespace, all_runs: dict[str, list[Run]], latencies: dict[str, Latency]
) -> dict[str, Any]:
    results = {name: median_run(runs) for name, runs in all_runs.items()}
    raw = results["raw"].per_s
    header = (
        f"{'scenario':<26} {'delivered/s':>11} {'vs raw':>7} {'publish/s':>9}"
        f" {'CPU us/msg: sender':>18} {'receiver':>8} {'PG':>4}   runs (per s)"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        runs = ", ".join(f"{x.per_s:,.0f}" for x in all_runs[name])
        publish = f"{r.publish_per_s:,.0f}" if name != "raw" else "-"
        db = f"{r.db_cpu_us:.0f}" if name.startswith("pg") else "-"
        print(
            f"{SCENARIOS[name][0]:<26} {r.per_s:>11,.0f} {r.per_s / raw:>6.2f}x {publish:>9}"
            f" {r.cpu_us:>18.0f} {r.receiver_cpu_us:>8.0f} {db:>4}   {runs}"
        )
    pg_ratio = results["pg_2w"].per_s / results["pg_1w"].per_s
    print(f"PG 2 workers vs 1 worker: {pg_ratio:.2f}x")
    print()
    cols = f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'n':>6} {'late':>5}"
    lat_header = f"latency at {RATE:.0f} events/s  {cols}"
    print(lat_header)
    print("-" * len(lat_header))
    for kind, lt in latencies.items():
        label = "SQLite, 1 worker" if kind == "sqlite" else "PG, 1 worker"
        print(
            f"{label:<26} {lt.p50:>7.2f} {lt.p95:>7.2f} {lt.p99:>7.2f} {lt.max:>7.2f} {lt.n:>6}"
            f" {lt.late_publishes:>5}"
        )
    print()
    sq = latencies["sqlite"]
    sqlite_vs_raw = results["sqlite_1w"].per_s / raw
    checks = [
        ("SQLite 1 worker >= 0.6x raw", f"{sqlite_vs_raw:.2f}x", sqlite_vs_raw >= 0.6),
        ("p95 <= 12 ms at 200 events/s (SQLite)", f"{sq.p95:.2f} ms", sq.p95 <= 12.0),
        ("PG 2 workers >= 1.6x 1 worker", f"{pg_ratio:.2f}x", pg_ratio >= 1.6),
    ]
    for label, value, ok in checks:
        print(f"target {label:<40} {value:>9}  {'met' if ok else 'MISSED'}")
    pg = latencies["pg"]
    return {
        "events": args.events,
        "concurrency": args.concurrency,
        "repeats": args.repeats,
        "raw_aiohttp_per_s": round(raw),
        "sqlite_1w_per_s": round(results["sqlite_1w"].per_s),
        "sqlite_vs_raw": round(sqlite_vs_raw, 3),
        "pg_1w_per_s": round(results["pg_1w"].per_s),
        "pg_1w_vs_raw": round(results["pg_1w"].per_s / raw, 3),
        "pg_2w_per_s": round(results["pg_2w"].per_s),
        "pg_2w_vs_raw": round(results["pg_2w"].per_s / raw, 3),
        "pg_2w_vs_1w": round(pg_ratio, 3),
        "sqlite_publish_per_s": round(results["sqlite_1w"].publish_per_s),
        "raw_cpu_us_per_req": round(results["raw"].cpu_us, 1),
        "sqlite_1w_cpu_us_per_delivery": round(results["sqlite_1w"].cpu_us, 1),
        "pg_1w_cpu_us_per_delivery": round(results["pg_1w"].cpu_us, 1),
        "pg_2w_cpu_us_per_delivery": round(results["pg_2w"].cpu_us, 1),
        "receiver_cpu_us_per_req_raw": round(results["raw"].receiver_cpu_us, 1),
        "receiver_cpu_us_per_req_sqlite_1w": round(results["sqlite_1w"].receiver_cpu_us, 1),
        "pg_backend_cpu_us_per_delivery_1w": round(results["pg_1w"].db_cpu_us, 1),
        "pg_backend_cpu_us_per_delivery_2w": round(results["pg_2w"].db_cpu_us, 1),
        "pg_publish_per_s": round(results["pg_1w"].publish_per_s),
        "p50_ms_at_200": round(sq.p50, 2),
        "p95_ms_at_200": round(sq.p95, 2),
        "p99_ms_at_200": round(sq.p99, 2),
        "pg_p50_ms_at_200": round(pg.p50, 2),
        "pg_p95_ms_at_200": round(pg.p95, 2),
        "pg_p99_ms_at_200": round(pg.p99, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: fewer events, one repeat, 3 s latency"
    )
    parser.add_argument("--events", type=int, help="events per throughput run (default 5000; --quick 1000)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight (raw and --concurrency)"
    )
    parser.add_argument(
        "--repeats", type=int, help="runs per throughput scenario, median reported (default 5)"
    )
    parser.add_argument("--latency-s", type=float, help="seconds of steady load per latency run (default 10)")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a schema per run is created)")
    parser.add_argument(
        "--profile", help="cProfile the first worker of the first run of each scenario to PATH.*"
    )
    parser.add_argument(
        "--schemes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the per-scheme rows (HMAC, OAuth2, JWS, JWE, HMAC over HTTPS, mTLS; default on)",
    )
    parser.add_argument(
        "--scheme-events", type=int, help="events per per-scheme run (default 3000; --quick 500)"
    )
    parser.add_argument(
        "--scheme-repeats", type=int, help="rounds of the per-scheme rows, median reported (default 5)"
    )
    args = parser.parse_args(argv)
    args.events = args.events or (1000 if args.quick else 5000)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.latency_s = args.latency_s or (3.0 if args.quick else 10.0)
    args.scheme_events = args.scheme_events or (500 if args.quick else 3000)
    args.scheme_repeats = args.scheme_repeats or (1 if args.quick else 5)

    pki = make_pki() if args.schemes else None
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=receiver_main, args=(child, pki), daemon=True)
    proc.start()
    try:
        ports = parent.recv()
        schemes = (
            f"; per-scheme rows: {args.scheme_events} events x {args.scheme_repeats} rounds"
            if args.schemes
            else ""
        )
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, events={args.events}, "
            f"concurrency={args.concurrency}, repeats={args.repeats} (median), 1 KiB bodies, "
            f"latency {args.latency_s:.0f} s at {RATE:.0f}/s{schemes}; load average at start"
            f" {os.getloadavg()[0]:.2f}"
        )
        summary = asyncio.run(bench(args, ports, proc.pid or 0, pki))
    finally:
        proc.terminate()
        proc.join(5)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
