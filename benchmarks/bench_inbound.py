"""Measure hookgate's inbound side: a bare Starlette endpoint vs the HookgateMiddleware vs the gateway.

Single responsibility: in one run, report requests/s and client-side p50/p99 latency for the same webhook
route served three ways by the same server (uvicorn, one process) under the same load (one aiohttp client
process, fixed concurrency), each rate as a ratio to the bare endpoint:

* ``bare``: a Starlette app with one ``POST /hook`` route that reads the body and answers 200
  ``{"status":"ok"}``. No verification at all: the upper bound.
* ``middleware``: the same app and route behind `HookgateMiddleware` with one Standard Webhooks source
  (signature + 300 s timestamp window; ``require_https=False`` since the benchmark runs plain HTTP) and the
  default in-memory idempotency store: every request is verified and its ``webhook-id`` claimed, then
  completed after the route answered 200.
* ``gateway``: the `Gateway` ASGI app (same source, ``path = "/hook"``) over a `Hookgate` on a fresh SQLite
  database: every request is verified and published (message + one delivery, idempotency key = webhook-id)
  and answered 200 only after that transaction committed. The forwarding worker is **not** running: the
  server process builds ``Gateway`` + ``Hookgate`` itself (``await gateway.setup()``) instead of calling
  ``run_gateway``, so no forwarding competes with the intake (``forward_to`` is ``https://forward.invalid/``,
  never reached). This measures intake only; a real gateway also runs its worker in the same process.

Run::

    cd /work/main && .venv/bin/python benchmarks/bench_inbound.py          # full run (~2-3 min)
    cd /work/main && .venv/bin/python benchmarks/bench_inbound.py --quick  # smoke run (~20 s)

Options: ``--concurrency`` (64), ``--requests`` per timed run (20000; 3000 with ``--quick``) or
``--duration`` seconds per timed run instead, ``--warmup`` requests (1000; 300 with ``--quick``),
``--rounds`` (5; 2 with ``--quick``), ``--audit-log`` (hookgate's audit log at INFO as JSON lines, see below),
``--profile DIR`` (cProfile, timer ``time.thread_time``, the server process of the first round of each
scenario, main thread and the gateway's SQLite thread separately: ``DIR/<scenario>.prof.main``,
``DIR/gateway.prof.sqlite_thread``; the rates of that round are then not comparable).

Method:

* Server: one process per scenario run, started fresh (``python bench_inbound.py --serve ...``), uvicorn
  with identical settings every time: ``uvicorn.Config(app, host="127.0.0.1", port=P, log_level="warning",
  access_log=False, loop="asyncio", http="h11")`` served by ``uvicorn.Server(config).serve()`` under
  ``asyncio.run`` (what ``uvicorn.run`` does; the gateway's store must be opened on the server's loop before
  serving, so all three use the explicit form; SIGINT sets ``should_exit`` as in ``run_gateway``). One worker
  process, the stdlib asyncio loop, the h11 HTTP parser (httptools and uvloop are not installed in this venv;
  httptools is used when installed; the table header prints which).
  hookgate's structlog output is configured as ``hookgate gateway --log-level warning`` would
  (`configure_logging`), so the per-request audit line is filtered out in every scenario; ``--audit-log``
  turns it on at INFO (JSON to the server's stderr, a file) for the middleware and gateway.
* Client: one process (``--client``), one ``aiohttp.ClientSession`` with ``limit=C`` keep-alive connections
  and ``C`` tasks taking the next request from a shared list. Every request is a 1024-byte JSON body with
  Standard Webhooks headers signed by hookgate's `StandardWebhooksSigner` *before* timing, each with a unique
  ``webhook-id`` (so every idempotency claim and every gateway publish is a new one) and a timestamp taken
  at signing time (seconds before it is sent, well inside the 300 s window). The same requests go to the
  bare endpoint (it ignores the headers). Warm-up requests (own ids) run first on the same session, then the
  timed part: req/s = requests / wall time from the first send to the last response; latency per request =
  send to body read (client ``perf_counter``). Every response must be 200 with the scenario's expected body
  (``{"status":"ok"}``, or ``{"status":"accepted"}`` from the gateway; a duplicate answer would fail it) or
  the run fails. After the timed part the client checks the scenario really verifies: a request with a
  wrong signature must get 401 (200 from bare) and a replay of the first timed request must be answered as
  a duplicate (gateway: ``already processed``).
* CPU: user+system CPU of the server process during the timed part (Linux ``/proc``, 10 ms tick), split
  into its main thread (event loop: HTTP, ASGI, verification) and its other threads (the gateway's SQLite
  thread), and of the client process, each per request; ``srv cores`` is the server's CPU seconds per wall
  second. On 2 cores the client and the server each get about one core when nothing else runs, so a server
  near 1.0 core is the bottleneck; well below 1.0 with both idle-looking means other load took the CPU.
  ``cpu vs bare`` (``*_cpu_vs_bare`` in the JSON) = bare server CPU per request / the scenario's: the ratio
  the rates would show if the server were the only limit. It is far steadier than the rates on a busy VM.
* After each gateway run the SQLite file must hold exactly warm-up + timed messages (the replay check is a
  duplicate, the forged request is refused) with one pending, never-attempted delivery each.
* Scenarios run in interleaved rounds (the order rotates each round) and the reported figures are medians
  over rounds, with the per-round rates shown: the machine is shared and load from elsewhere then hits
  every scenario alike.

The last line of stdout is one JSON object with ``bare_per_s``, ``middleware_per_s``, ``gateway_per_s``,
``middleware_vs_bare``, ``gateway_vs_bare``, ``gateway_p99_ms`` and more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.util
import json
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIOS = ("bare", "middleware", "gateway")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FORWARD_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
PATH = "/hook"
BODY_SIZE = 1024
HOST = "127.0.0.1"
EXPECTED_BODY = {
    "bare": b'{"status":"ok"}',
    "middleware": b'{"status":"ok"}',
    "gateway": b'{"status":"accepted"}',
}
DUPLICATE_BODY = b'{"status":"already processed"}'
CLK_TCK = os.sysconf("SC_CLK_TCK")
PRESIGN_PER_S = 15_000  # --duration mode: requests pre-signed per second of run (beyond this machine's reach)


def make_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` ASCII bytes."""
    head, tail = b'{"type":"bench.event","data":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def source(**extra: Any) -> Any:
    from hookgate.inbound.source import Source

    return Source("bench", "standard-webhooks", secrets=(SECRET,), path=PATH, require_https=False, **extra)


# -- the server (its own process) ---------------------------------------------------------------------


def http_impl() -> str:
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


async def _serve(scenario: str, port: int, data_dir: Path) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def hook(request: Request) -> Response:
        await request.body()
        return Response(EXPECTED_BODY["bare"], media_type="application/json")

    routes = [Route(PATH, hook, methods=["POST"])]
    hg = None
    app: Any
    if scenario == "bare":
        app = Starlette(routes=routes)
    elif scenario == "middleware":
        from hookgate.inbound.asgi import HookgateMiddleware

        app = Starlette(routes=routes, middleware=[Middleware(HookgateMiddleware, sources=[source()])])
    else:
        from hookgate.client import Hookgate
        from hookgate.config import Settings
        from hookgate.gateway.app import Gateway
        from hookgate.gateway.config import GatewayConfig

        gw_config = GatewayConfig.from_mapping(
            {
                "gateway": {"forward_secret": FORWARD_SECRET, "workers": False},
                "sources": {
                    "bench": {
                        "scheme": "standard-webhooks",
                        "secrets": [SECRET],
                        "path": PATH,
                        "require_https": False,
                        "forward_to": "https://forward.invalid/hook",
                    }
                },
            }
        )
        hg = await Hookgate.open(None, settings=Settings(data_dir=data_dir))
        app = Gateway(gw_config, hg)
        await app.setup()
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        loop="asyncio",
        http=http_impl(),
    )
    server = uvicorn.Server(config)
    # stop on SIGINT/SIGTERM like run_gateway does: uvicorn's own handlers re-raise the signal after shutdown,
    # which would cancel closing the store
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    try:
        await server.serve()
    finally:
        if hg is not None:
            await hg.close()


def serve_main(args: argparse.Namespace) -> int:
    from hookgate.logs import configure_logging

    configure_logging(fmt="json", level="info" if args.audit_log else "warning")
    data_dir = Path(args.data_dir)
    if not args.profile_out:
        asyncio.run(_serve(args.serve, args.port, data_dir))
        return 0
    # cProfile sees only the thread that enabled it: the gateway's SQLite thread gets its own profiler
    # (enabled from inside that thread through the store's executor, a private attribute: benchmark only)
    # per-thread CPU time, not wall time: waiting in select() or for a core taken by other load is not counted
    main_prof, thread_prof = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)
    thread_profiled: list[bool] = []

    async def profiled() -> None:
        from hookgate.client import Hookgate

        original_open = Hookgate.open.__func__  # type: ignore[attr-defined]

        async def open_and_profile(cls: Any, *a: Any, **kw: Any) -> Any:
            hg = await original_open(cls, *a, **kw)
            executor = getattr(getattr(hg.store, "_db", None), "_executor", None)  # the SQLite thread
            if executor is not None:
                await asyncio.get_running_loop().run_in_executor(executor, thread_prof.enable)
                thread_profiled.append(True)
            return hg

        Hookgate.open = classmethod(open_and_profile)  # type: ignore[method-assign,assignment]
        await _serve(args.serve, args.port, data_dir)

    main_prof.enable()
    try:
        asyncio.run(profiled())
    finally:
        main_prof.disable()
        main_prof.dump_stats(f"{args.profile_out}.main")
        if thread_profiled:
            # the store closed its executor on shutdown; the thread's profiler stopped collecting with it
            thread_prof.dump_stats(f"{args.profile_out}.sqlite_thread")
    return 0


# -- the client (its own process) ---------------------------------------------------------------------


def thread_cpu(pid: int) -> tuple[float, float]:
    """(main thread, all other threads) user+system CPU seconds of process ``pid``."""
    main = other = 0.0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that just exited
            continue
        seconds = (int(fields[11]) + int(fields[12])) / CLK_TCK
        if int(task) == pid:
            main += seconds
        else:
            other += seconds
    return main, other


def presign(count: int, tag: str) -> list[dict[str, str]]:
    from hookgate.schemes.standard_webhooks import StandardWebhooksSigner

    signer = StandardWebhooksSigner([SECRET])
    body = make_body(BODY_SIZE)
    now = time.time()
    out = []
    for i in range(count):
        headers = signer.sign(body, msg_id=f"msg_{tag}_{i}", now=now).headers
        headers["Content-Type"] = "application/json"
        out.append(headers)
    return out


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    scenario, url = args.client, f"http://{HOST}:{args.port}{PATH}"
    expected = EXPECTED_BODY[scenario]
    body = make_body(BODY_SIZE)
    count = args.requests if args.duration is None else int(args.duration * PRESIGN_PER_S)
    tag = secrets.token_hex(4)
    requests = presign(args.warmup + count, tag)
    warm, timed = requests[: args.warmup], requests[args.warmup :]
    bad: list[str] = []
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def run(batch: list[dict[str, str]], deadline: float | None, record: bool) -> int:
            position = 0

            async def worker() -> None:
                nonlocal position
                while position < len(batch) and (deadline is None or time.perf_counter() < deadline):
                    headers = batch[position]
                    position += 1
                    t0 = time.perf_counter()
                    async with session.post(url, data=body, headers=headers) as response:
                        answer = await response.read()
                        status = response.status
                    if record:
                        latencies.append(time.perf_counter() - t0)
                    if status != 200 or answer != expected:
                        bad.append(f"{status} {answer[:80]!r}")

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            return position

        await run(warm, None, False)
        cpu0, client0 = thread_cpu(args.server_pid), time.process_time()
        t0 = time.perf_counter()
        deadline = None if args.duration is None else t0 + args.duration
        sent = await run(timed, deadline, True)
        elapsed = time.perf_counter() - t0
        cpu1, client1 = thread_cpu(args.server_pid), time.process_time()
        if args.duration is not None and sent >= len(timed):
            bad.append(f"ran out of pre-signed requests ({len(timed)}) before --duration ended")

        # is this scenario really verifying? a wrong signature, then a replay of the first timed request
        forged = dict(timed[0], **{"webhook-id": f"msg_{tag}_forged"})
        async with session.post(url, data=body, headers=forged) as response:
            forged_status = response.status
            await response.read()
        async with session.post(url, data=body, headers=timed[0]) as response:
            replay_status, replay_body = response.status, await response.read()
    checks_ok = (
        (forged_status, replay_status, replay_body) == (200, 200, expected)
        if scenario == "bare"
        else forged_status == 401 and replay_status == 200 and replay_body == DUPLICATE_BODY
    )
    if not checks_ok:
        bad.append(f"checks: forged -> {forged_status}, replay -> {replay_status} {replay_body!r}")
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, max(0, int(q * n + 0.5) - 1))] * 1000.0

    return {
        "scenario": scenario,
        "requests": n,
        "warmup": len(warm),
        "elapsed_s": elapsed,
        "per_s": n / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000.0,
        "server_main_cpu_s": cpu1[0] - cpu0[0],
        "server_other_cpu_s": cpu1[1] - cpu0[1],
        "client_cpu_s": client1 - client0,
        "bad": len(bad),
        "bad_examples": bad[:5],
    }


def client_main(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(_load(args))))
    return 0


# -- the orchestrator -----------------------------------------------------------------------------------


@dataclass
class Run:
    scenario: str
    per_s: float
    p50_ms: float
    p99_ms: float
    server_us: float  # server CPU per request, all threads
    server_other_us: float  # of which outside the main thread
    client_us: float
    server_cores: float  # server CPU seconds per wall second during the timed part


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start listening within 30 s")


def check_gateway_db(data_dir: Path, expected: int) -> None:
    with sqlite3.connect(data_dir / "hookgate.db") as conn:
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        pending = conn.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'pending' AND attempts = 0"
        ).fetchone()[0]
        deliveries = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    if not (messages == expected == pending == deliveries):
        raise SystemExit(
            f"gateway database: {messages} messages, {deliveries} deliveries ({pending} pending, never "
            f"attempted); expected {expected} of each"
        )


def run_one(args: argparse.Namespace, scenario: str, profile_out: str | None) -> Run:
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="bench_inbound_") as tmp:
        port, data_dir, log = free_port(), Path(tmp) / "data", Path(tmp) / "server.log"
        data_dir.mkdir()
        cmd = [sys.executable, script, "--serve", scenario, "--port", str(port), "--data-dir", str(data_dir)]
        if args.audit_log:
            cmd.append("--audit-log")
        if profile_out:
            cmd += ["--profile-out", profile_out]
        with open(log, "wb") as log_file:
            server = subprocess.Popen(cmd, stdout=log_file, stderr=log_file)  # noqa: S603
        try:
            wait_ready(server, port, log)
            client_cmd = [
                sys.executable,
                script,
                "--client",
                scenario,
                "--port",
                str(port),
                "--server-pid",
                str(server.pid),
                "--concurrency",
                str(args.concurrency),
                "--warmup",
                str(args.warmup),
            ]
            if args.duration is not None:
                client_cmd += ["--duration", str(args.duration)]
            else:
                client_cmd += ["--requests", str(args.requests)]
            done = subprocess.run(client_cmd, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise SystemExit(f"client failed ({done.returncode}):\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if result["bad"]:
            raise SystemExit(
                f"{scenario}: {result['bad']} bad responses/checks, e.g. {result['bad_examples']}"
            )
        if server.returncode != 0:
            raise SystemExit(f"{scenario} server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        if scenario == "gateway":
            # warm-up + timed requests (the replay check is a duplicate, the forged request is refused)
            check_gateway_db(data_dir, result["warmup"] + result["requests"])
    n = result["requests"]
    server_cpu = result["server_main_cpu_s"] + result["server_other_cpu_s"]
    return Run(
        scenario,
        result["per_s"],
        result["p50_ms"],
        result["p99_ms"],
        server_cpu / n * 1e6,
        result["server_other_cpu_s"] / n * 1e6,
        result["client_cpu_s"] / n * 1e6,
        server_cpu / result["elapsed_s"],
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer requests and rounds")
    parser.add_argument("--concurrency", type=int, default=64, help="client connections/tasks (default 64)")
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--requests", type=int, help="timed requests per run (default 20000; --quick 3000)")
    load.add_argument("--duration", type=float, help="timed seconds per run instead of --requests")
    parser.add_argument("--warmup", type=int, help="warm-up requests per run (default 1000; --quick 300)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; --quick 2)")
    parser.add_argument(
        "--audit-log", action="store_true", help="hookgate audit log at INFO (JSON lines to a file)"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="cProfile the first round's server processes into DIR"
    )
    # internal: the server and client processes
    parser.add_argument("--serve", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.requests is None and args.duration is None:
        args.requests = 3000 if args.quick else 20000
    if args.warmup is None:
        args.warmup = 300 if args.quick else 1000
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    return args


def print_header(args: argparse.Namespace) -> None:
    import aiohttp
    import starlette
    import uvicorn

    import hookgate

    load_desc = f"{args.requests} requests/run" if args.duration is None else f"{args.duration:g} s/run"
    print(
        f"python {sys.version.split()[0]}, uvicorn {uvicorn.__version__} (1 process, asyncio loop, "
        f"{http_impl()}), starlette {starlette.__version__}; client aiohttp {aiohttp.__version__}, "
        f"concurrency {args.concurrency}, {load_desc} (+{args.warmup} warm-up), 1 KiB bodies; "
        f"{args.rounds} interleaved rounds, median; audit log {'INFO' if args.audit_log else 'off'}; "
        f"hookgate from {Path(hookgate.__file__).parent}",
        flush=True,
    )


def run_rounds(args: argparse.Namespace) -> dict[str, list[Run]]:
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[Run]] = {s: [] for s in SCENARIOS}
    for rnd in range(args.rounds):
        order = SCENARIOS[rnd % 3 :] + SCENARIOS[: rnd % 3]
        for scenario in order:
            profile_out = str(Path(args.profile) / f"{scenario}.prof") if args.profile and rnd == 0 else None
            r = run_one(args, scenario, profile_out)
            runs[scenario].append(r)
            print(
                f"  round {rnd + 1} {scenario:<10} {r.per_s:8,.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
                f"p99 {r.p99_ms:6.2f} ms  server {r.server_us:5.0f} us/req ({r.server_cores:.2f} cores)  "
                f"client {r.client_us:5.0f} us/req",
                file=sys.stderr,
                flush=True,
            )
    return runs


def report(args: argparse.Namespace, runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Print the table and the targets; return the JSON summary."""

    def med(scenario: str, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in runs[scenario]))

    bare, bare_us = med("bare", "per_s"), med("bare", "server_us")
    print(
        f"{'scenario':<11}{'req/s':>9}{'vs bare':>9}{'p50 ms':>9}{'p99 ms':>9}{'srv us/req':>12}"
        f"{'(non-main)':>11}{'cpu vs bare':>12}{'srv cores':>10}{'cli us/req':>11}"
        "  per-round req/s (vs bare, same round)"
    )
    print("-" * 150)
    summary: dict[str, Any] = {}
    for scenario in SCENARIOS:
        rate = med(scenario, "per_s")
        per_round = ", ".join(
            f"{r.per_s:,.0f} ({r.per_s / b.per_s:.2f})"
            for r, b in zip(runs[scenario], runs["bare"], strict=True)
        )
        print(
            f"{scenario:<11}{rate:>9,.0f}{rate / bare:>8.2f}x{med(scenario, 'p50_ms'):>9.2f}"
            f"{med(scenario, 'p99_ms'):>9.2f}{med(scenario, 'server_us'):>12.0f}"
            f"{med(scenario, 'server_other_us'):>11.0f}{bare_us / med(scenario, 'server_us'):>11.2f}x"
            f"{med(scenario, 'server_cores'):>10.2f}{med(scenario, 'client_us'):>11.0f}  {per_round}"
        )
        summary[f"{scenario}_per_s"] = round(rate)
        summary[f"{scenario}_p50_ms"] = round(med(scenario, "p50_ms"), 2)
        summary[f"{scenario}_p99_ms"] = round(med(scenario, "p99_ms"), 2)
        summary[f"{scenario}_server_cpu_us"] = round(med(scenario, "server_us"))
        summary[f"{scenario}_server_other_cpu_us"] = round(med(scenario, "server_other_us"))
        summary[f"{scenario}_client_cpu_us"] = round(med(scenario, "client_us"))
        summary[f"{scenario}_server_cores"] = round(med(scenario, "server_cores"), 2)
        summary[f"{scenario}_per_s_rounds"] = [round(r.per_s) for r in runs[scenario]]
    summary["middleware_vs_bare"] = round(summary["middleware_per_s"] / summary["bare_per_s"], 3)
    summary["gateway_vs_bare"] = round(summary["gateway_per_s"] / summary["bare_per_s"], 3)
    # what the ratios would be if the server had a core to itself (bare server CPU / scenario server CPU)
    for scenario in ("middleware", "gateway"):
        summary[f"{scenario}_cpu_vs_bare"] = round(bare_us / med(scenario, "server_us"), 3)
    summary.update(
        concurrency=args.concurrency, rounds=args.rounds, http=http_impl(), audit_log=args.audit_log
    )
    targets = (
        ("middleware >= 0.8x bare", summary["middleware_vs_bare"], 0.8),
        ("gateway >= 0.5x bare", summary["gateway_vs_bare"], 0.5),
    )
    for name, value, goal in targets:
        print(f"target {name}: {value:.2f}x {'met' if value >= goal else 'MISSED'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve_main(args)
    if args.client:
        return client_main(args)
    started = time.time()
    print_header(args)
    summary = report(args, run_rounds(args))
    print(
        "checks: every response 200 with the expected body; forged signature 401 and replay answered as a "
        f"duplicate (middleware, gateway); gateway DB rows match; total {time.time() - started:.0f} s"
    )
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
