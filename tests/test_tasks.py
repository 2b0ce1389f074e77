"""Bulk recovery tasks end to end with real components: SQLite and PostgreSQL stores, real workers and their
task runners, a loopback receiver; thousands of deliveries, a runner that dies, two runners racing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hookgate.client import Hookgate
from hookgate.models import DeliveryStatus, Message, Task, TaskState, new_id
from hookgate.outbound.task_runner import TaskRunner
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import Store
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import FixedClock
from tests.support import MakeReceiver, postgres_dsn

pytestmark = pytest.mark.slow

N = 2000
OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens stores on one database (several connections: several processes' worth)."""
    opened: list[Store] = []
    if request.param == "sqlite":

        async def open_sqlite() -> Store:
            opened.append(await SQLiteStore.open(tmp_path / "hookgate.db"))
            return opened[-1]

        yield open_sqlite
    else:
        async for dsn in postgres_dsn():

            async def open_pg(dsn: str = dsn) -> Store:
                opened.append(await PostgresStore.open(dsn))
                return opened[-1]

            yield open_pg
    for store in opened:
        await store.close()


async def publish_many(store: Store, app_id: str, types: list[str], *, now: float) -> list[Message]:
    # a distinct body per message: the receiver tells the deliveries apart by it
    messages = [Message(new_id("msg"), app_id, t, b'{"n":%d}' % i, now) for i, t in enumerate(types)]
    for i in range(0, len(messages), 500):
        results = await store.publish_many(messages[i : i + 500], now=now)
        assert all(not isinstance(r, Exception) for r in results)
    return messages


async def until_finished(hg: Hookgate, task: Task) -> Task:
    async with asyncio.timeout(120):  # a safety bound, not a timing assertion
        while (task := await hg.get_task(task.app_id, task.id)).state in (
            TaskState.PENDING,
            TaskState.RUNNING,
        ):
            await asyncio.sleep(0.05)
    return task


async def test_cancel_resend_and_replay_thousands_through_a_worker(
    open_store: OpenStore, receivers: MakeReceiver
) -> None:
    receiver, late_receiver = receivers(), receivers()
    hg = Hookgate(await open_store(), None)
    app = await hg.create_application("Bulk")
    url = receiver.url
    endpoint = (await hg.create_endpoint(app.id, url, scheme="none", allow_insecure=True)).endpoint
    types = ["order.created", "user.created"] * (N // 2)
    await publish_many(hg.store, app.id, types, now=hg.now() - 60)

    # 1. nothing is delivered yet (no worker): cancel everything due before now
    kind = "cancel_pending"
    dry = await hg.create_task(app.id, kind, endpoint_id=endpoint.id, due_before=hg.now(), dry_run=True)
    assert dry.matched == N
    assert await hg.list_tasks(app.id) == []  # a dry run stores nothing
    cancel = await hg.create_task(app.id, kind, endpoint_id=endpoint.id, due_before=hg.now())
    assert await hg.run_tasks(batch=300) == 1
    cancel = await hg.get_task(app.id, cancel.id)
    assert (cancel.state, cancel.matched, cancel.done) == (TaskState.DONE, N, N)
    page = await hg.store.list_endpoint_deliveries(endpoint.id, limit=5)
    assert {(d.status, d.dead_reason) for d in page.items} == {
        (DeliveryStatus.DEAD, f"cancelled by task {cancel.id}")
    }

    # 2. a worker (with its task runner) runs a resend of the order events, then a replay to a new endpoint
    worker = hg.worker(address_policy=AddressPolicy(["127.0.0.0/8"]), task_poll_s=0.05, task_batch=250)
    running = asyncio.create_task(worker.run())
    try:
        resend_filters: dict[str, Any] = {
            "endpoint_id": endpoint.id,
            "statuses": ["dead"],
            "event_types": ["order.created"],
        }
        dry = await hg.create_task(app.id, "resend", dry_run=True, **resend_filters)
        resend = await until_finished(hg, await hg.create_task(app.id, "resend", **resend_filters))
        assert (resend.state, resend.matched, resend.done) == (TaskState.DONE, dry.matched, N // 2)
        await receiver.wait_for_async(N // 2, timeout=120)

        late = await hg.create_endpoint(
            app.id, late_receiver.url, scheme="none", allow_insecure=True, event_types=["user.*"]
        )
        dry = await hg.create_task(app.id, "replay_missing", endpoint_id=late.endpoint.id, dry_run=True)
        replay = await hg.create_task(app.id, "replay_missing", endpoint_id=late.endpoint.id)
        replay = await until_finished(hg, replay)
        assert (replay.state, replay.matched, replay.done, dry.matched) == (
            TaskState.DONE,
            N // 2,
            N // 2,
            N // 2,
        )
        got = await late_receiver.wait_for_async(N // 2, timeout=120)
    finally:
        worker.stop()
        await running
        await worker.close()
    # each missing message exactly once, and only those the late endpoint subscribes to
    ids = Counter(r.body for r in got)
    assert len(ids) == N // 2
    assert set(ids.values()) == {1}
    assert receiver.count == N // 2  # the resend: only the order events
    after = await hg.create_task(app.id, "replay_missing", endpoint_id=late.endpoint.id, dry_run=True)
    assert after.matched == 0  # nothing is missing any more


async def test_a_task_survives_its_runner_dying(open_store: OpenStore) -> None:
    clock = FixedClock()
    first_store, second_store = await open_store(), await open_store()
    hg = Hookgate(first_store, None, clock=clock)
    app = await hg.create_application("Crash")
    await hg.create_endpoint(app.id, "https://a.example.test/h", scheme="none")
    target = (await hg.create_endpoint(app.id, "https://b.example.test/h", scheme="none")).endpoint
    await publish_many(first_store, app.id, ["x.y"] * 1500, now=clock.now - 1)
    task = await hg.create_task(app.id, "cancel_pending", endpoint_id=target.id, due_before=clock.now + 1)
    assert task.matched == 1500

    # "process 1" claims the task and gets one batch done, then dies (it is never called again)
    dead = TaskRunner(first_store, owner="dead-process", batch=200, lease_s=30, clock=clock)
    claimed = await first_store.claim_task(dead.owner, now=clock.now, lease_s=30)
    assert claimed is not None
    await first_store.run_task_batch(task.id, dead.owner, limit=200, now=clock.now, lease_s=30)
    # "process 2" finds nothing while the lease holds, then resumes from the cursor once it expired
    other = TaskRunner(second_store, owner="other-process", batch=200, lease_s=30, clock=clock)
    assert await other.run_pending() == 0
    clock.advance(31)
    assert await other.run_pending() == 1
    finished = await second_store.get_task(task.id)
    assert (finished.state, finished.done, finished.lease_owner) == (TaskState.DONE, 1500, "other-process")
    # the dead runner, come back, cannot touch it
    again = await first_store.run_task_batch(task.id, dead.owner, limit=200, now=clock.now, lease_s=30)
    assert again.done == 1500


async def test_two_runners_never_run_the_same_task(open_store: OpenStore) -> None:
    one, two = await open_store(), await open_store()
    hg = Hookgate(one, None)
    app = await hg.create_application("Race")
    await hg.create_endpoint(app.id, "https://a.example.test/h", scheme="none")
    await publish_many(one, app.id, ["x.y"] * 600, now=hg.now() - 1)
    targets = [
        (await hg.create_endpoint(app.id, f"https://t{i}.example.test/h", scheme="none")).endpoint
        for i in range(6)
    ]
    tasks = [await hg.create_task(app.id, "replay_missing", endpoint_id=e.id) for e in targets]
    claims: Counter[str] = Counter()

    def counting(store: Store) -> None:
        claim = store.claim_task

        async def claim_task(owner: str, *, now: float, lease_s: float) -> Task | None:
            task = await claim(owner, now=now, lease_s=lease_s)
            if task is not None:
                claims[task.id] += 1
            return task

        store.claim_task = claim_task  # type: ignore[method-assign]

    counting(one)
    counting(two)
    ran = await asyncio.gather(
        TaskRunner(one, owner="r1", batch=50).run_pending(),
        TaskRunner(two, owner="r2", batch=50).run_pending(),
    )
    assert sum(ran) == len(tasks)
    assert claims == Counter({t.id: 1 for t in tasks})
    for endpoint, task in zip(targets, tasks, strict=True):
        done = await hg.get_task(app.id, task.id)
        assert (done.state, done.done) == (TaskState.DONE, 600)
        deliveries = []
        cursor = None
        while True:
            page = await one.list_endpoint_deliveries(endpoint.id, cursor=cursor, limit=1000)
            deliveries += page.items
            if (cursor := page.next_cursor) is None:
                break
        assert len({d.message_id for d in deliveries}) == len(deliveries) == 600
