"""Measure what running hookgate for months costs: delivery and listing with a large history, worker memory
over a long drain, idle CPU, CPU per delivery at a low steady rate, and (once built) what retention frees.

Single responsibility: issue 13's benchmark. A human table per store and the targets first, then ONE JSON
line last (its keys are a contract: ``history_messages``, ``deliver_rate_full_vs_empty``,
``list_p99_ms_full``, ``worker_rss_growth_mb``, ``idle_cpu_pct_sqlite``, ``idle_cpu_pct_pg``,
``cpu_ms_per_delivery_at_200_sqlite``, ``cpu_ms_per_delivery_at_200_pg``,
``db_bytes_after_retention_vs_before``; the rest are extras).

Run::

    cd /work/main && .venv/bin/python benchmarks/bench_lifecycle.py              # 1,000,000 history (long)
    cd /work/main && .venv/bin/python benchmarks/bench_lifecycle.py --quick      # 20,000 history (~5 min)
    cd /work/main && .venv/bin/python benchmarks/bench_lifecycle.py --history 200000 --store sqlite

It reuses ``bench_delivery``'s receiver process, databases (SQLite file in a temporary directory; PostgreSQL
schema per run on ``--pg-url`` via ``?search_path=``, dropped afterwards), held publishing and release,
worker processes, /proc CPU readers and its latency run. Per store (SQLite, then PostgreSQL):

* history (``--history N``, default 1,000,000; ``--quick`` 20,000): N messages, each with one delivered
  delivery and one attempt, spread over the last 60 days, bulk-inserted (executemany / COPY), then ANALYZE
  (``lifecycle_history.py``). Fill time and size on disk are reported.
* ``deliver_rate_full_vs_empty``: ``bench_delivery``'s backlog drain (``--drain-events`` held publishes
  through the service, one ``hookgate worker``, warm-up, one-transaction release, delivered/s to the
  receiver's last receipt) on an empty database and on the history database, same run; ratio full/empty.
  The JSON key is the lower of the two stores.
* ``list_p99_ms_full``: on the history database (before the drain's own messages are added), every
  list/filter call of the API through ``Hookgate`` in this process (list_messages unfiltered, by event type,
  by status delivered and dead, since/until, event type + since/until, idempotency key, cursor page 2;
  list_deliveries and list_message_attempts of messages spread over the history; list_endpoint_deliveries
  unfiltered, status dead, page 2; list_endpoint_attempts, page 2; the overview's attempt_history for an
  hour and a day), ``--list-reps`` times each (100; quick 50; at least 5 and at most ~``--list-cap-s``
  seconds per call), after one untimed call. p99 per call; the key is the slowest call of both stores.
* ``worker_rss_growth_mb``: the worker's VmRSS (``/proc/PID/status``) just before the release vs its
  maximum sampled every 50 ms during the drain (``--drain-events``: 100,000; quick 20,000); the key is the
  largest growth over both drains of both stores.
* ``idle_cpu_pct_<store>``: a fresh ``hookgate serve`` (API and in-process workers;
  ``HOOKGATE_DATABASE_URL`` for PostgreSQL), once its port answers, ``--idle-warmup-s`` (6; quick 3) of
  warm-up, then user+system CPU over ``--idle-s`` (20; quick 10) from /proc, as % of one core. On
  PostgreSQL the CPU of its backends over the same window is an extra, and so is the number of NOTIFYs on
  hookgate's channel in the window: the channel is per database, not per schema, so any other hookgate
  publishing on the shared ``test`` database (other agents' tests and benchmarks) wakes the idle server;
  a PostgreSQL idle figure is only clean with ``idle_pg_foreign_notifies`` 0, or with
  ``--pg-idle-own-database`` (a temporary database just for this measurement; ``idle_pg_own_database``
  says which way it ran).
* ``cpu_ms_per_delivery_at_200_<store>``: ``bench_delivery``'s latency run: fresh database, one worker
  warmed up, events published open-loop at 200/s for 1 s + ``--steady-s`` (10; quick 5); worker CPU from
  the first publish to the last receipt / deliveries. Its p99 latency is an extra.
* ``db_bytes_after_retention_vs_before``: not measured, retention is not built yet: printed as such and
  null in the JSON. The code path is ready: set ``RETENTION_PASS`` (a callable from the history run's
  ``Hookgate`` to a coroutine running one retention pass over data older than the window).

The machine is shared (2 cores, other agents): the load average at start and end is printed; rates and CPU
figures move with that load, so read single runs as noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg

import bench_delivery as bd
import lifecycle_history as lh
from hookgate.client import Hookgate
from hookgate.crypto import generate_master_key
from hookgate.logs import configure_logging
from hookgate.store.postgres import CHANNEL

# one retention pass over data older than the window, on the history run's facade; None until retention
# exists. Adding it is this one line, e.g. ``lambda hg: hg.run_retention(...)``.
RETENTION_PASS: Callable[[Hookgate], Awaitable[object]] | None = None

TARGETS = {  # key: (label, bound, higher is better)
    "deliver_rate_full_vs_empty": ("drain rate with history / empty", 0.9, True),
    "list_p99_ms_full": ("slowest list call p99 with history, ms", 50.0, False),
    "worker_rss_growth_mb": ("worker RSS growth over a drain, MB", 20.0, False),
    "idle_cpu_pct_sqlite": ("idle serve CPU, SQLite, % of a core", 0.5, False),
    "idle_cpu_pct_pg": ("idle serve CPU, PostgreSQL, % of a core", 0.5, False),
    "cpu_ms_per_delivery_at_200_sqlite": ("worker CPU ms/delivery at 200/s, SQLite", 0.6, False),
    "cpu_ms_per_delivery_at_200_pg": ("worker CPU ms/delivery at 200/s, PG", 0.6, False),
}


@dataclass
class Idle:
    pct: float  # the serve process, % of one core
    backend_pct: float | None = None  # its PostgreSQL backends (None on SQLite)
    # NOTIFYs on hookgate's channel during the window, from other sessions and from its own backends: the
    # channel is per database, not per schema, so other runs on the shared database wake this server too
    notifies: int | None = None
    own_notifies: int | None = None


@dataclass
class StoreResult:
    empty: bd.Run | None = None
    full: bd.Run | None = None
    rss_mb: dict[str, tuple[float, float]] = field(default_factory=dict)  # drain -> (before, max during)
    history: lh.History | None = None
    lists: dict[str, lh.ListTiming] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int | None = None
    idle: Idle | None = None
    at_200: bd.Latency | None = None


def vm_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def rss_monitor(
    out: dict[str, tuple[float, float]], name: str
) -> Callable[[bd.Workers], Coroutine[Any, Any, None]]:
    """A bench_delivery ``monitor``: the worker's VmRSS at the release, then its maximum every 50 ms."""

    async def watch(workers: bd.Workers) -> None:
        pid = workers.procs[0].pid
        before = peak = vm_rss_mb(pid)
        out[name] = (before, peak)
        while True:
            await asyncio.sleep(0.05)
            peak = max(peak, vm_rss_mb(pid))
            out[name] = (before, peak)

    return watch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def idle_serve(kind: str, args: argparse.Namespace, tmp: Path, master_key: str) -> Idle:
    """CPU of an idle ``hookgate serve`` (see the module docstring); with ``--pg-idle-own-database`` the
    PostgreSQL run gets a database of its own (NOTIFY channels are per database), dropped afterwards."""
    if kind != "pg" or not args.pg_idle_own_database:
        return await _idle_serve(kind, args, tmp, master_key, args.pg_url)
    name = f"bench_idle_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.pg_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            own = urlsplit(args.pg_url)._replace(path=f"/{name}").geturl()
            return await _idle_serve(kind, args, tmp, master_key, own)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def _idle_serve(kind: str, args: argparse.Namespace, tmp: Path, master_key: str, pg_url: str) -> Idle:
    db = await bd.create_database(kind, tmp, pg_url)
    data_dir = tmp / f"{db.tag}-serve"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    env["HOOKGATE_MASTER_KEY"] = master_key
    if kind == "pg":
        env["HOOKGATE_DATABASE_URL"] = db.url
    cmd = [sys.executable, "-m", "hookgate", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    log = tmp / f"{db.tag}-serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stdout=out, stderr=out, cwd=tmp)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"hookgate serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("hookgate serve did not listen within 60 s") from None
                await asyncio.sleep(0.1)
        await asyncio.sleep(args.idle_warmup_s)
        notifies: list[int] = []  # the sending backend's pid, one per NOTIFY
        listener = await asyncpg.connect(pg_url) if kind == "pg" else None
        if listener is not None:
            await listener.add_listener(CHANNEL, lambda _c, pid, _ch, _p: notifies.append(pid))
        backends = await bd.backend_cpu(db, pg_url)
        cpu, t0 = bd.proc_cpu_s(proc.pid), time.monotonic()
        await asyncio.sleep(args.idle_s)
        cpu, elapsed = bd.proc_cpu_s(proc.pid) - cpu, time.monotonic() - t0
        after = await bd.backend_cpu(db, pg_url)
        if listener is None:
            return Idle(cpu / elapsed * 100.0)
        await listener.close()
        backend = sum(t - backends.get(pid, t) for pid, t in after.items())
        own = sum(1 for pid in notifies if pid in after)
        return Idle(cpu / elapsed * 100.0, backend / elapsed * 100.0, len(notifies) - own, own)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        await bd.drop_database(db, pg_url)


async def run_store(
    kind: str, args: argparse.Namespace, receiver: bd.Receiver, tmp: Path, master_key: str
) -> StoreResult:
    res = StoreResult()
    drain = {
        "n": args.drain_events,
        "concurrency": args.concurrency,
        "receiver": receiver,
        "tmp": tmp,
        "pg_url": args.pg_url,
        "master_key": master_key,
    }
    label = "SQLite" if kind == "sqlite" else "PostgreSQL"
    print(f"[{label}] drain of {args.drain_events:,} on an empty database ...", flush=True)
    res.empty = await bd.throughput_run(kind, 1, monitor=rss_monitor(res.rss_mb, "empty"), **drain)

    async def prepare(db: bd.Database, setup: bd.Setup) -> None:
        endpoint_id = (await setup.hg.list_endpoints(setup.app_id))[0].id
        print(f"[{label}] filling {args.history:,} history messages ...", flush=True)
        res.history = await lh.fill_history(db, args.history, setup.app_id, endpoint_id)
        print(f"[{label}] filled in {res.history.fill_s:.1f} s; timing list calls ...", flush=True)
        res.lists = await lh.time_lists(
            setup.hg, setup.app_id, endpoint_id, res.history, reps=args.list_reps, cap_s=args.list_cap_s
        )
        retention = (lambda: RETENTION_PASS(setup.hg)) if RETENTION_PASS is not None else None
        res.bytes_before, res.bytes_after = await lh.retention_ratio(db, retention)
        print(f"[{label}] drain of {args.drain_events:,} with the history ...", flush=True)

    res.full = await bd.throughput_run(
        kind, 1, prepare=prepare, monitor=rss_monitor(res.rss_mb, "full"), **drain
    )
    print(f"[{label}] steady {bd.RATE:.0f}/s for {args.steady_s:.0f} s ...", flush=True)
    res.at_200 = await bd.latency_run(
        kind,
        args.steady_s,
        concurrency=args.concurrency,
        receiver=receiver,
        tmp=tmp,
        pg_url=args.pg_url,
        master_key=master_key,
    )
    print(f"[{label}] idle hookgate serve for {args.idle_s:.0f} s ...", flush=True)
    res.idle = await idle_serve(kind, args, tmp, master_key)
    return res


def store_summary(args: argparse.Namespace, kind: str, r: StoreResult) -> dict[str, Any]:
    assert r.empty is not None
    assert r.full is not None
    assert r.at_200 is not None
    assert r.history is not None
    assert r.idle is not None
    slowest = max(r.lists.items(), key=lambda kv: kv[1].p99_ms)
    growth = {name: peak - before for name, (before, peak) in r.rss_mb.items()}
    return {
        f"deliver_rate_empty_per_s_{kind}": round(r.empty.per_s),
        f"deliver_rate_full_per_s_{kind}": round(r.full.per_s),
        f"deliver_rate_full_vs_empty_{kind}": round(r.full.per_s / r.empty.per_s, 3),
        f"worker_cpu_us_per_delivery_empty_{kind}": round(r.empty.cpu_us, 1),
        f"worker_cpu_us_per_delivery_full_{kind}": round(r.full.cpu_us, 1),
        f"publish_per_s_empty_{kind}": round(r.empty.publish_per_s),
        f"publish_per_s_full_{kind}": round(r.full.publish_per_s),
        f"list_p99_ms_full_{kind}": round(slowest[1].p99_ms, 2),
        f"list_slowest_{kind}": slowest[0],
        f"list_p99_ms_{kind}": {name: round(t.p99_ms, 2) for name, t in r.lists.items()},
        f"worker_rss_growth_mb_{kind}_empty": round(growth.get("empty", 0.0), 1),
        f"worker_rss_growth_mb_{kind}_full": round(growth.get("full", 0.0), 1),
        f"worker_rss_mb_before_{kind}": round(r.rss_mb.get("full", (0.0, 0.0))[0], 1),
        f"history_fill_s_{kind}": round(r.history.fill_s, 1),
        f"history_db_bytes_{kind}": r.bytes_before,
        f"idle_cpu_pct_{kind}": round(r.idle.pct, 3),
        f"cpu_ms_per_delivery_at_200_{kind}": round(r.at_200.worker_cpu_s * 1000 / r.at_200.deliveries, 3),
        f"p99_ms_at_200_{kind}": round(r.at_200.p99, 2),
        **(
            {
                "idle_pg_backend_cpu_pct": round(r.idle.backend_pct, 3),
                "idle_pg_foreign_notifies": r.idle.notifies,
                "idle_pg_own_notifies": r.idle.own_notifies,
                "idle_pg_own_database": args.pg_idle_own_database,
            }
            if r.idle.backend_pct is not None
            else {}
        ),
    }


def report(args: argparse.Namespace, results: dict[str, StoreResult]) -> dict[str, Any]:
    summary: dict[str, Any] = {"history_messages": args.history, "drain_events": args.drain_events}
    for kind, r in results.items():
        summary.update(store_summary(args, kind, r))
    kinds = list(results)
    for kind, r in results.items():
        label = "SQLite" if kind == "sqlite" else "PostgreSQL"
        s = summary
        print()
        print(
            f"== {label}: history {args.history:,} messages ({s[f'history_db_bytes_{kind}'] / 1e6:,.0f} MB on"
            f" disk, filled in {s[f'history_fill_s_{kind}']} s), drains of {args.drain_events:,}"
        )
        print(
            f"drain, empty database        {s[f'deliver_rate_empty_per_s_{kind}']:>8,} delivered/s"
            f"  worker {s[f'worker_cpu_us_per_delivery_empty_{kind}']:>6.0f} us/delivery"
        )
        print(
            f"drain, with history          {s[f'deliver_rate_full_per_s_{kind}']:>8,} delivered/s"
            f"  worker {s[f'worker_cpu_us_per_delivery_full_{kind}']:>6.0f} us/delivery"
            f"  ratio {s[f'deliver_rate_full_vs_empty_{kind}']:.2f}"
        )
        for name, (before, peak) in r.rss_mb.items():
            print(
                f"worker RSS, drain {name:<11} {before:>8.1f} MB before, {peak:.1f} MB max"
                f" ({peak - before:+.1f})"
            )
        print(
            f"steady {bd.RATE:.0f}/s: worker {s[f'cpu_ms_per_delivery_at_200_{kind}']:.3f} ms CPU/delivery,"
            f" p99 latency {s[f'p99_ms_at_200_{kind}']:.1f} ms"
        )
        assert r.idle is not None
        backend = (
            f" (+ PG backends {r.idle.backend_pct:.3f}%); NOTIFYs on its channel in the window:"
            f" {r.idle.notifies} from other sessions on the shared database, {r.idle.own_notifies} its own"
            if r.idle.backend_pct is not None
            else ""
        )
        print(f"idle hookgate serve: {r.idle.pct:.3f}% of a core{backend}")
        print(
            f"{'list call (history database)':<46} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
            f" {'n':>4} {'rows':>5}"
        )
        for name, t in r.lists.items():
            print(f"{name:<46} {t.p50_ms:>8.2f} {t.p99_ms:>8.2f} {t.max_ms:>8.2f} {t.n:>4} {t.rows:>5}")
    summary["deliver_rate_full_vs_empty"] = min(summary[f"deliver_rate_full_vs_empty_{k}"] for k in kinds)
    summary["list_p99_ms_full"] = max(summary[f"list_p99_ms_full_{k}"] for k in kinds)
    summary["worker_rss_growth_mb"] = max(
        summary[f"worker_rss_growth_mb_{k}_{d}"] for k in kinds for d in ("empty", "full")
    )
    for key in ("idle_cpu_pct", "cpu_ms_per_delivery_at_200"):
        for kind in ("sqlite", "pg"):
            summary.setdefault(f"{key}_{kind}", None)
    ratios = [
        r.bytes_after / r.bytes_before
        for r in results.values()
        if r.bytes_after is not None and r.bytes_before
    ]
    summary["db_bytes_after_retention_vs_before"] = round(max(ratios), 3) if ratios else None
    print()
    if summary["db_bytes_after_retention_vs_before"] is None:
        print("db_bytes_after_retention_vs_before: not measured: retention not built")
    else:
        print(f"db bytes after retention / before: {summary['db_bytes_after_retention_vs_before']:.3f}")
    met: list[str] = []
    missed: list[str] = []
    for key, (label, bound, higher) in TARGETS.items():
        value = summary[key]
        if value is None:
            print(f"target {label:<44} {'-':>9}  not run")
            continue
        ok = value >= bound if higher else value <= bound
        (met if ok else missed).append(key)
        print(
            f"target {label:<44} {value:>9}  ({'>=' if higher else '<='} {bound:g})"
            f"  {'MET' if ok else 'MISSED'}"
        )
    summary["targets_met"], summary["targets_missed"] = met, missed
    return summary


async def bench(args: argparse.Namespace, ports: dict[str, int], receiver_pid: int) -> dict[str, Any]:
    master_key = f"k1:{generate_master_key()}"
    results: dict[str, StoreResult] = {}
    with tempfile.TemporaryDirectory(prefix="bench_lifecycle_") as tmp_name:
        async with aiohttp.ClientSession() as control:
            receiver = bd.Receiver(control, ports, receiver_pid)
            await receiver.wait_count(0, timeout=10)
            for kind in args.stores:
                results[kind] = await run_store(kind, args, receiver, Path(tmp_name), master_key)
    return report(args, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000 history, shorter windows")
    parser.add_argument("--history", type=int, help="history messages (default 1,000,000; --quick 20,000)")
    parser.add_argument(
        "--drain-events", type=int, help="backlog per drain (default 100,000; --quick 20,000)"
    )
    parser.add_argument("--store", choices=["sqlite", "pg", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=64, help="worker --concurrency")
    parser.add_argument("--list-reps", type=int, help="timed calls per list call (default 100; --quick 50)")
    parser.add_argument("--list-cap-s", type=float, default=20.0, help="time cap per list call (min 5 calls)")
    parser.add_argument("--idle-s", type=float, help="idle window (default 20; --quick 10)")
    parser.add_argument("--idle-warmup-s", type=float, help="idle warm-up (default 6; --quick 3)")
    parser.add_argument("--steady-s", type=float, help="seconds at 200 events/s (default 10; --quick 5)")
    parser.add_argument("--pg-url", default=bd.PG_URL, help="PostgreSQL server (a schema per run is created)")
    parser.add_argument(
        "--pg-idle-own-database",
        action="store_true",
        help="measure PostgreSQL idle CPU in a database of its own (created and dropped), out of reach of"
        " other sessions' NOTIFYs on the shared database",
    )
    args = parser.parse_args(argv)
    q = args.quick
    args.history = args.history if args.history is not None else (20_000 if q else 1_000_000)
    args.drain_events = args.drain_events or (20_000 if q else 100_000)
    args.list_reps = args.list_reps or (50 if q else 100)
    args.idle_s = args.idle_s or (10.0 if q else 20.0)
    args.idle_warmup_s = args.idle_warmup_s or (3.0 if q else 6.0)
    args.steady_s = args.steady_s or (5.0 if q else 10.0)
    args.stores = ["sqlite", "pg"] if args.store == "both" else [args.store]
    # the in-process Hookgate logs (e.g. operational events) would interleave with the tables
    configure_logging(fmt="console", level="warning")

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=bd.receiver_main, args=(child,), daemon=True)
    proc.start()
    start, load_start = time.monotonic(), " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        ports = parent.recv()
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, history={args.history:,}, "
            f"drain={args.drain_events:,}, stores={','.join(args.stores)}, concurrency={args.concurrency}; "
            f"load average at start {load_start}",
            flush=True,
        )
        summary = asyncio.run(bench(args, ports, proc.pid or 0))
    finally:
        proc.terminate()
        proc.join(5)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at end {load}; whole run {time.monotonic() - start:.0f} s")
    summary["load_average_start"], summary["load_average_end"] = load_start, load
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
