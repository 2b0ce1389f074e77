"""Process-level durability: real ``hookgate worker`` processes, a real receiver, SIGKILL and SIGTERM.

- SQLite: workers are SIGKILLed mid-flight again and again; nothing published is lost (at-least-once), and
  a webhook is only received twice when the worker that sent it was killed before recording the outcome.
- PostgreSQL: two workers on one database, leases long enough never to expire, share the work and never
  deliver the same message twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.testing import RecordedRequest, Reply
from tests.support import MakeReceiver, postgres_dsn

RETRY_SCHEDULE = [0, 0.2, 0.5, 1, 1, 1, 1, 1, 1, 1]


# -- the receiver --------------------------------------------------------------------------------------


@dataclass
class Faults:
    """The receiver's responder: records every ``webhook-id`` it accepted (answered 2xx).

    ``fail_rate`` of the requests are answered 500 and ``drop_rate`` have their connection dropped, at random
    but never more than two failures in a row: the worker's circuit breaker opens after five consecutive
    failures for 30 s, which would only make the test slow, not test anything more. Every answer waits up to
    ``max_delay_s`` first.
    """

    rng: random.Random
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    max_delay_s: float = 0.0
    accepted: Counter[str] = field(default_factory=Counter)
    # arrival times of the accepted requests (the sender may die while the answer is delayed)
    accepted_at: dict[str, list[float]] = field(default_factory=dict)
    failed: int = 0
    dropped: int = 0
    _in_a_row: int = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        msg_id = request.headers.get("webhook-id")
        if msg_id is None:
            return Reply(400, "no webhook-id")
        delay_s = self.rng.uniform(0, self.max_delay_s) if self.max_delay_s else 0.0
        roll = self.rng.random()
        if self._in_a_row < 2 and roll < self.drop_rate:
            self._in_a_row += 1
            self.dropped += 1
            return Reply(500, delay_s=delay_s, drop=True)
        if self._in_a_row < 2 and roll < self.drop_rate + self.fail_rate:
            self._in_a_row += 1
            self.failed += 1
            return Reply(500, "try again", delay_s=delay_s)
        self._in_a_row = 0
        self.accepted[msg_id] += 1
        # when it arrived, not when it was answered: the sender may have died while the answer was delayed
        self.accepted_at.setdefault(msg_id, []).append(request.at)
        return Reply(204, b"", delay_s=delay_s)


# -- worker processes ----------------------------------------------------------------------------------


@dataclass
class WorkerProc:
    proc: subprocess.Popen[bytes]
    log: Path
    _log_file: IO[bytes]

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"event": "unparsed", "line": raw})
        return out

    def complaints(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("level") != "info"]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    async def wait(self, timeout: float) -> int:
        try:
            return await asyncio.to_thread(self.proc.wait, timeout)
        finally:
            self._log_file.close()

    async def reap(self) -> None:
        """Make sure the process is gone (test clean-up, whatever happened before)."""
        if self.proc.poll() is None:
            self.proc.kill()
        await self.wait(10)


def start_worker(
    database_url: str,
    env: dict[str, str],
    log: Path,
    *,
    log_level: str = "warning",
    extra: Sequence[str] = (),
) -> WorkerProc:
    log_file = log.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "hookgate",
            "worker",
            "--database-url",
            database_url,
            "--log-level",
            log_level,
            *extra,
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    return WorkerProc(proc, log, log_file)


def worker_env(master_key: str, lease_s: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
    env.update(
        HOOKGATE_MASTER_KEY=master_key,
        HOOKGATE_SSRF_ALLOWLIST="127.0.0.0/8",
        HOOKGATE_LEASE_SECONDS=str(lease_s),
        PYTHONUNBUFFERED="1",
    )
    return env


async def publish_events(hg: Hookgate, url: str, count: int) -> list[str]:
    app = await hg.create_application("durability")
    await hg.create_endpoint(app.id, url, allow_insecure=True, retry_schedule=RETRY_SCHEDULE)
    ids = []
    for i in range(count):
        result = await hg.publish(app.id, "order.created", {"n": i})
        assert len(result.deliveries) == 1
        ids.append(result.message.id)
    return ids


async def until(predicate_coro: Any, deadline: float, what: str, interval: float = 0.1) -> None:
    while not await predicate_coro():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


# -- SQLite: crash and restart ---------------------------------------------------------------------------


def sqlite_statuses(path: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        return Counter(dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")))
    finally:
        conn.close()


def sqlite_leases(path: Path) -> Counter[str]:
    """How many deliveries each owner holds in flight."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        query = "SELECT lease_owner, count(*) FROM deliveries WHERE status = 'in_flight' GROUP BY lease_owner"
        return Counter(dict(conn.execute(query)))
    finally:
        conn.close()


def sqlite_successful_attempts(path: Path) -> Counter[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT d.message_id, count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE a.status_code BETWEEN 200 AND 299 GROUP BY d.message_id"
        ).fetchall()
        return Counter(dict(rows))
    finally:
        conn.close()


@pytest.mark.slow
async def test_sigkilled_workers_lose_nothing_sqlite(tmp_path: Path, receivers: MakeReceiver) -> None:
    seed = random.randrange(2**32)  # noqa: S311 - fault injection, not security
    rng = random.Random(seed)  # noqa: S311
    events, kills, lease_s = 2000, 5, 5
    master_key = generate_master_key()
    box = SecretBox(parse_master_keys(master_key))
    db = tmp_path / "hg.db"
    url = f"sqlite:///{db}"  # db is absolute: sqlite:////abs/path
    env = worker_env(master_key, lease_s)
    # slow enough (16 requests in flight, up to 80 ms each) that every kill lands while work remains
    faults = Faults(rng, fail_rate=0.1, drop_rate=0.02, max_delay_s=0.08)
    extra = ["--concurrency", "16"]
    receiver = receivers(faults)
    hook_url = receiver.url
    workers: list[WorkerProc] = []
    kill_times: list[float] = []
    held_at_kill: list[int] = []  # deliveries the killed worker held leased when it died
    dead_owners: set[str] = set()
    t0 = time.monotonic()
    try:
        hg = await Hookgate.open(url, settings=Settings(), box=box)
        try:
            ids = await publish_events(hg, hook_url, events)
        finally:
            await hg.close()
        published_at = time.monotonic()

        for i in range(kills):
            w = start_worker(url, env, tmp_path / f"worker-{i}.log", extra=extra)
            workers.append(w)
            spawned = time.monotonic()
            seen = receiver.count

            async def working(seen: int = seen, w: WorkerProc = w) -> bool:
                assert w.proc.poll() is None, w.log.read_text()
                return receiver.count > seen

            # kill only once the worker is sending (interpreter start-up is not what is under test)
            await until(working, spawned + 15, f"worker {i} to send")
            await asyncio.sleep(rng.uniform(0.3, 1.0))
            w.proc.send_signal(signal.SIGKILL)
            kill_times.append(time.monotonic())
            assert await w.wait(10) == -signal.SIGKILL
            leases = await asyncio.to_thread(sqlite_leases, db)
            held_at_kill.append(sum(n for owner, n in leases.items() if owner not in dead_owners))
            dead_owners.update(leases)
            assert not w.events("worker.stop")  # it really died, it did not shut down

        final = start_worker(url, env, tmp_path / "worker-final.log", extra=extra)
        workers.append(final)

        async def all_delivered() -> bool:
            assert final.proc.poll() is None, final.log.read_text()
            return (await asyncio.to_thread(sqlite_statuses, db)) == Counter({"delivered": events})

        await until(all_delivered, time.monotonic() + 60, "every delivery to be delivered", 0.25)
        done_at = time.monotonic()
        final.proc.send_signal(signal.SIGTERM)
        assert await final.wait(30) == 0, final.log.read_text()
    finally:
        for w in workers:
            await w.reap()
        receiver.close()

    # nothing lost: every message reached the receiver and every delivery row says so
    assert set(faults.accepted) == set(ids)
    assert sqlite_statuses(db) == Counter({"delivered": events})
    # the store recorded one successful attempt per message: repeats are the receiver's, not the store's
    successes = sqlite_successful_attempts(db)
    assert successes == Counter(dict.fromkeys(ids, 1))
    for w in workers:
        assert not w.complaints(), (w.log, w.complaints())
    # the kills hit work in progress: each left leased deliveries behind for the next worker to take over
    assert all(n > 0 for n in held_at_kill), held_at_kill
    # at-least-once, and only across a crash: a message comes again only after a kill and only once its lease
    # expired (the killed worker never recorded the outcome; the next one re-sent it after the lease). The
    # receiver timestamps requests when its loop gets to them, so they may appear a little late: ``slack``.
    slack = 0.5
    duplicates = {m: n for m, n in faults.accepted.items() if n > 1}
    for msg_id in duplicates:
        first, *again = faults.accepted_at[msg_id]
        for later in again:
            record = (msg_id, faults.accepted_at[msg_id], kill_times)
            assert any(first - slack < k < later for k in kill_times), record
            assert later - first >= lease_s - slack, record
    extra_receptions = sum(n - 1 for n in duplicates.values())
    # only what a killed worker held can come again
    assert extra_receptions <= sum(held_at_kill)
    print(
        f"\nseed={seed} events={events} kills={kills} held_at_kill={held_at_kill}"
        f" requests={receiver.count} failed(500)={faults.failed} dropped={faults.dropped}"
        f" duplicated messages={len(duplicates)} extra receptions={extra_receptions}"
        f" publish={published_at - t0:.1f}s deliver={done_at - published_at:.1f}s"
    )


# -- PostgreSQL: two workers, no lease expiry -----------------------------------------------------------


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async for value in postgres_dsn():
        yield value


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_workers_share_work_exactly_once_postgres(
    tmp_path: Path, pg_dsn: str, receivers: MakeReceiver
) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    seed = random.randrange(2**32)  # noqa: S311 - fault injection, not security
    rng = random.Random(seed)  # noqa: S311
    events = 1000
    master_key = generate_master_key()
    box = SecretBox(parse_master_keys(master_key))
    env = worker_env(master_key, 60)
    faults = Faults(rng, fail_rate=0.05, max_delay_s=0.01)
    receiver = receivers(faults)
    hook_url = receiver.url
    workers: list[WorkerProc] = []
    t0 = time.monotonic()
    conn = await asyncpg.connect(pg_dsn)
    try:
        # migrate before the workers start, so they do not race each other to create the schema
        hg = await Hookgate.open(pg_dsn, settings=Settings(), box=box)
        try:
            # both workers are up and idle before anything is published: each gets a fair chance at the work
            workers = [
                start_worker(
                    pg_dsn, env, tmp_path / f"worker-{i}.log", log_level="info", extra=["--concurrency", "32"]
                )
                for i in range(2)
            ]

            async def started() -> bool:
                for w in workers:
                    assert w.proc.poll() is None, w.log.read_text()
                return all(w.events("worker.start") for w in workers)

            await until(started, time.monotonic() + 15, "both workers to start")
            ids = await publish_events(hg, hook_url, events)
        finally:
            await hg.close()
        published_at = time.monotonic()

        async def all_delivered() -> bool:
            for w in workers:
                assert w.proc.poll() is None, w.log.read_text()
            n = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
            return bool(n == events)

        await until(all_delivered, time.monotonic() + 60, "every delivery to be delivered", 0.2)
        done_at = time.monotonic()
        for w in workers:
            w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            assert await w.wait(30) == 0, w.log.read_text()
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM deliveries GROUP BY status"))
        successes = Counter(
            dict(
                await conn.fetch(
                    "SELECT d.message_id, count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
                    " WHERE a.status_code BETWEEN 200 AND 299 GROUP BY d.message_id"
                )
            )
        )
    finally:
        for w in workers:
            await w.reap()
        await conn.close()
        receiver.close()

    assert statuses == {"delivered": events}
    # exactly once: no lease expired, so no message may reach the receiver twice
    assert faults.accepted == Counter(dict.fromkeys(ids, 1))
    assert successes == Counter(dict.fromkeys(ids, 1))
    stops = [w.events("worker.stop") for w in workers]
    assert all(len(s) == 1 for s in stops), stops
    delivered = [s[0]["delivered"] for s in stops]
    assert all(n > 0 for n in delivered), delivered
    assert sum(delivered) == events
    # every request the receiver saw is an attempt one of the workers counted
    assert sum(s[0]["attempts"] for s in stops) == receiver.count
    for w in workers:
        assert not w.complaints(), (w.log, w.complaints())
    owners = {s[0]["owner"] for s in stops}
    assert len(owners) == 2
    print(
        f"\nseed={seed} events={events} requests={receiver.count} failed(500)={faults.failed}"
        f" delivered per worker={delivered} publish={published_at - t0:.1f}s"
        f" deliver={done_at - published_at:.1f}s"
    )
