"""Measure the work-queue hot path of the SQL stores: ``claim`` + ``complete`` per delivery.

Single responsibility: for SQLite and PostgreSQL, report the wall time and the process CPU time per delivery
of claiming N due deliveries in batches and completing each batch (one ``complete`` call per claimed batch,
as the worker's group commit does), split into claim and complete.

Run::

    cd /work/main && .venv/bin/python benchmarks/bench_store.py          # 5000 deliveries, batches of 100
    cd /work/main && .venv/bin/python benchmarks/bench_store.py --quick  # smoke run

Needs PostgreSQL at ``--pg-url`` (default postgresql://postgres@127.0.0.1:5432/test); every PostgreSQL round
gets its own schema ``bench_<random>`` (``?search_path=`` on the DSN), dropped afterwards. SQLite rounds use
a fresh file in a temporary directory.

Method: per round and backend, a fresh database with one application and ``--endpoints`` endpoints; N
deliveries are published (1 KiB payloads; ``N / endpoints`` messages fanned out; not timed). Then, timed
with ``time.perf_counter`` and ``time.process_time`` (all threads of this process, so the SQLite store
thread is included; PostgreSQL's backend CPU is not): ``claim(owner, batch)`` until nothing is left, each
batch followed by one ``complete`` of a delivered result per claimed delivery (an attempt row each). Every
delivery must be claimed once and applied once. Rounds are interleaved between the backends (this machine is
shared) and each figure is the median over ``--rounds``. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hookgate.config import EndpointConfig
from hookgate.models import Application, DeliveryStatus, Endpoint, Message, new_id
from hookgate.store.base import AttemptResult, Store
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore

T0 = 1_700_000_000.0
PAYLOAD = b'{"type":"bench.event","data":"' + b"x" * (1024 - 33) + b'"}'


@dataclass(frozen=True, slots=True)
class Round:
    claim_s: float
    complete_s: float
    cpu_s: float
    n: int


async def fill(store: Store, deliveries: int, endpoints: int) -> None:
    app = await store.create_application(Application(id=new_id("app"), name="bench", created_at=T0))
    for _ in range(endpoints):
        await store.create_endpoint(
            Endpoint(
                id=new_id("ep"),
                app_id=app.id,
                config=EndpointConfig(url="http://127.0.0.1:9/hook"),
                created_at=T0,
                updated_at=T0,
            )
        )
    for _ in range(deliveries // endpoints):
        msg = Message(id=new_id("msg"), app_id=app.id, event_type="a.b", payload=PAYLOAD, created_at=T0)
        await store.publish(msg, now=T0)


async def drain(store: Store, batch: int) -> Round:
    claim_s = complete_s = 0.0
    n = 0
    now = T0 + 1
    cpu0 = time.process_time()
    while True:
        t0 = time.perf_counter()
        claims = await store.claim("bench-worker", batch, now=now, lease_s=60.0)
        t1 = time.perf_counter()
        claim_s += t1 - t0
        if not claims:
            break
        results = [
            AttemptResult(
                delivery_id=c.delivery.id,
                owner="bench-worker",
                status=DeliveryStatus.DELIVERED,
                next_attempt_at=now,
                attempted=True,
                started_at=now,
                duration_ms=1.5,
                status_code=200,
                response_excerpt="ok",
                error_class=None,
                outcome="delivered",
            )
            for c in claims
        ]
        t2 = time.perf_counter()
        applied = await store.complete(results)
        complete_s += time.perf_counter() - t2
        assert applied == len(claims), (applied, len(claims))
        n += len(claims)
    cpu = time.process_time() - cpu0
    assert await store.next_due_at() is None
    return Round(claim_s, complete_s, cpu, n)


async def run_sqlite(args: argparse.Namespace) -> Round:
    with tempfile.TemporaryDirectory() as tmp:
        store = await SQLiteStore.open(Path(tmp) / "bench.db")
        try:
            await fill(store, args.deliveries, args.endpoints)
            return await drain(store, args.batch)
        finally:
            await store.close()


async def run_postgres(args: argparse.Namespace) -> Round:
    schema = "bench_" + secrets.token_hex(6)
    admin = await asyncpg.connect(args.pg_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        store = await PostgresStore.open(f"{args.pg_url}?search_path={schema}")
        try:
            await fill(store, args.deliveries, args.endpoints)
            return await drain(store, args.batch)
        finally:
            await store.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--quick", action="store_true", help="1000 deliveries, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.deliveries, args.rounds = 1000, 2
    runners = {"sqlite": run_sqlite, "postgres": run_postgres}
    backends = args.backends.split(",")
    rounds: dict[str, list[Round]] = {b: [] for b in backends}
    for _ in range(args.rounds):
        for backend in backends:
            rounds[backend].append(await runners[backend](args))

    load = os.getloadavg()[0]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, deliveries={args.deliveries}, "
        f"batch={args.batch}, endpoints={args.endpoints}, rounds={args.rounds} (median); "
        f"load average {load:.2f}"
    )
    print(f"{'backend':10} {'claim us':>9} {'complete us':>12} {'total us':>9} {'cpu us':>7}  (per delivery)")
    summary: dict[str, float] = {}
    for backend, rs in rounds.items():
        assert all(r.n == args.deliveries for r in rs), [r.n for r in rs]

        def per(values: list[float]) -> float:
            return statistics.median(values) / args.deliveries * 1e6

        claim = per([r.claim_s for r in rs])
        complete = per([r.complete_s for r in rs])
        total = per([r.claim_s + r.complete_s for r in rs])
        cpu = per([r.cpu_s for r in rs])
        print(f"{backend:10} {claim:9.1f} {complete:12.1f} {total:9.1f} {cpu:7.1f}")
        summary |= {
            f"{backend}_claim_us": round(claim, 1),
            f"{backend}_complete_us": round(complete, 1),
            f"{backend}_total_us": round(total, 1),
            f"{backend}_cpu_us": round(cpu, 1),
        }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
