"""The store contract of bulk recovery tasks, on every backend (``conftest.py`` parametrises ``store``)."""

from __future__ import annotations

import pytest

from hookgate.errors import ConflictError
from hookgate.models import (
    Application,
    DeliveryStatus,
    Endpoint,
    Task,
    TaskFilters,
    TaskKind,
    TaskState,
    new_id,
)
from hookgate.store.base import Store
from tests.store.test_contract import T0, make_app, make_endpoint, message, result


def new_task(
    app: Application,
    kind: TaskKind,
    *,
    endpoint: Endpoint | None = None,
    at: float = T0 + 100,
    **filters: object,
) -> Task:
    return Task(
        id=new_id("task"),
        app_id=app.id,
        kind=kind,
        endpoint_id=None if endpoint is None else endpoint.id,
        filters=TaskFilters(**filters),  # type: ignore[arg-type]
        state=TaskState.PENDING,
        created_at=at,
        updated_at=at,
    )


async def settle(store: Store, order: list[str], outcomes: list[tuple[DeliveryStatus, int | None]]) -> None:
    """Claim everything due and complete the claims of the messages ``order`` with these (status, code)."""
    claims = await store.claim("w", len(outcomes), now=T0 + 1, lease_s=30)
    assert len(claims) == len(outcomes)
    claims.sort(key=lambda c: order.index(c.message.id))
    await store.complete(
        [
            result(c.delivery.id, "w", s, at=T0 + 2, code=code)
            for c, (s, code) in zip(claims, outcomes, strict=True)
        ]
    )


async def run_to_end(store: Store, task: Task, owner: str = "r1", *, limit: int = 2) -> Task:
    claimed = await store.claim_task(owner, now=T0 + 200, lease_s=30)
    assert claimed is not None
    assert claimed.id == task.id
    while claimed.state is TaskState.RUNNING:
        claimed = await store.run_task_batch(task.id, owner, limit=limit, now=T0 + 201, lease_s=30)
    return claimed


async def test_resend_selects_by_status_class_and_event_type(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    order = [
        (await store.publish(message(app, event_type), now=T0)).message.id
        for event_type in ("invoice.paid", "invoice.paid", "invoice.paid", "user.created", "invoice.paid")
    ]
    # in publish order: dead 500, dead 404, delivered, dead 503 (user.created), failed 502
    await settle(
        store,
        order,
        [
            (DeliveryStatus.DEAD, 500),
            (DeliveryStatus.DEAD, 404),
            (DeliveryStatus.DELIVERED, 200),
            (DeliveryStatus.DEAD, 503),
            (DeliveryStatus.FAILED, 502),
        ],
    )
    task = new_task(
        app,
        TaskKind.RESEND,
        statuses=(DeliveryStatus.DEAD, DeliveryStatus.FAILED),
        status_class="5xx",
        event_types=("invoice.paid",),
    )
    assert await store.count_task_matches(task) == 2
    assert (
        await store.count_task_matches(new_task(app, TaskKind.RESEND, statuses=(DeliveryStatus.DEAD,))) == 3
    )
    assert (
        await store.count_task_matches(new_task(app, TaskKind.RESEND, statuses=(DeliveryStatus.DELIVERED,)))
        == 1
    )
    task.matched = 2
    await store.create_task(task)
    done = await run_to_end(store, task, limit=1)
    assert (done.state, done.matched, done.done) == (TaskState.DONE, 2, 2)
    pending = [
        d
        for d in (await store.list_endpoint_deliveries(endpoint.id)).items
        if d.status is DeliveryStatus.PENDING
    ]
    assert len(pending) == 2
    assert all(d.attempts == 0 and d.next_attempt_at == T0 + 201 for d in pending)
    assert await store.count_task_matches(task) == 0  # nothing left that matches


async def test_replay_missing_creates_exactly_the_missing_subscribed_deliveries(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    before = [
        (await store.publish(message(app, t), now=T0)).message for t in ("invoice.paid", "user.created") * 3
    ]
    late = await make_endpoint(store, app, event_types=("invoice.*",))
    after = await store.publish(message(app, "invoice.paid"), now=T0 + 1)  # the late endpoint has this one
    task = new_task(app, TaskKind.REPLAY_MISSING, endpoint=late)
    task.matched = await store.count_task_matches(task)
    assert task.matched == 3
    await store.create_task(task)
    done = await run_to_end(store, task, limit=2)
    assert (done.state, done.done) == (TaskState.DONE, 3)
    got = {d.message_id for d in (await store.list_endpoint_deliveries(late.id)).items}
    assert got == {m.id for m in before if m.event_type == "invoice.paid"} | {after.message.id}
    assert await store.count_task_matches(task) == 0


async def test_replay_missing_fails_when_the_endpoint_was_disabled(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    task = await store.create_task(new_task(app, TaskKind.REPLAY_MISSING, endpoint=endpoint))
    await store.set_endpoint_enabled(endpoint.id, False, reason="off", now=T0)
    assert await store.claim_task("r1", now=T0 + 200, lease_s=30) is not None
    with pytest.raises(ConflictError):
        await store.run_task_batch(task.id, "r1", limit=10, now=T0 + 200, lease_s=30)
    assert await store.fail_task(task.id, "r1", "endpoint disabled", now=T0 + 201)
    failed = await store.get_task(task.id)
    assert (failed.state, failed.error) == (TaskState.FAILED, "endpoint disabled")


async def test_cancel_pending_kills_waiting_deliveries_due_before_with_a_reason(store: Store) -> None:
    app = await make_app(store)
    one = await make_endpoint(store, app)
    other = await make_endpoint(store, app)
    for _ in range(3):
        await store.publish(message(app), now=T0)
    task = new_task(app, TaskKind.CANCEL_PENDING, endpoint=one, due_before=T0 + 1)
    assert await store.count_task_matches(task) == 3
    assert await store.count_task_matches(new_task(app, TaskKind.CANCEL_PENDING, due_before=T0)) == 0
    await store.create_task(task)
    done = await run_to_end(store, task)
    assert done.done == 3
    dead = (await store.list_endpoint_deliveries(one.id)).items
    assert {(d.status, d.dead_reason) for d in dead} == {
        (DeliveryStatus.DEAD, f"cancelled by task {task.id}")
    }
    untouched = (await store.list_endpoint_deliveries(other.id)).items
    assert {d.status for d in untouched} == {DeliveryStatus.PENDING}
    # a resend clears the reason
    again = await store.resend(dead[0].id, now=T0 + 300)
    assert again.dead_reason is None


async def test_one_runner_at_a_time_and_resume_after_the_lease_expires(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    for _ in range(5):
        await store.publish(message(app), now=T0)
    task = await store.create_task(
        new_task(app, TaskKind.CANCEL_PENDING, endpoint=endpoint, due_before=T0 + 1)
    )
    first = await store.claim_task("r1", now=T0 + 200, lease_s=30)
    assert first is not None
    assert first.lease_owner == "r1"
    assert await store.claim_task("r2", now=T0 + 210, lease_s=30) is None  # leased
    # r2 cannot run a batch of a task it does not hold
    held = await store.run_task_batch(task.id, "r2", limit=2, now=T0 + 210, lease_s=30)
    assert (held.done, held.lease_owner) == (0, "r1")
    step = await store.run_task_batch(task.id, "r1", limit=2, now=T0 + 211, lease_s=30)
    assert (step.state, step.done) == (TaskState.RUNNING, 2)
    # r1 dies; its lease (renewed to 241) expires and r2 takes over from the cursor
    assert await store.claim_task("r2", now=T0 + 240, lease_s=30) is None
    resumed = await store.claim_task("r2", now=T0 + 242, lease_s=30)
    assert resumed is not None
    assert (resumed.lease_owner, resumed.done) == ("r2", 2)
    late = await store.run_task_batch(task.id, "r1", limit=2, now=T0 + 243, lease_s=30)
    assert late.done == 2  # r1 came back: it no longer holds the task and changes nothing
    while resumed.state is TaskState.RUNNING:
        resumed = await store.run_task_batch(task.id, "r2", limit=2, now=T0 + 244, lease_s=30)
    assert (resumed.state, resumed.done) == (TaskState.DONE, 5)


async def test_cancel_list_and_get(store: Store) -> None:
    app = await make_app(store)
    other = await make_app(store, "other")
    first = await store.create_task(new_task(app, TaskKind.CANCEL_PENDING, due_before=T0, at=T0 + 1))
    second = await store.create_task(
        new_task(app, TaskKind.RESEND, statuses=(DeliveryStatus.DEAD,), at=T0 + 2)
    )
    await store.create_task(new_task(other, TaskKind.CANCEL_PENDING, due_before=T0))
    assert [t.id for t in await store.list_tasks(app.id)] == [second.id, first.id]
    cancelled = await store.cancel_task(first.id, now=T0 + 5)
    assert cancelled.state is TaskState.CANCELLED
    claimed = await store.claim_task("r1", now=T0 + 6, lease_s=30)
    assert claimed is not None
    assert claimed.id == second.id  # the cancelled one is never claimed
    got = await store.get_task(second.id)
    assert got.filters == TaskFilters(statuses=(DeliveryStatus.DEAD,))
    assert (got.state, got.lease_owner) == (TaskState.RUNNING, "r1")
    finished = await run_to_end_after_claim(store, second)
    assert (await store.cancel_task(second.id, now=T0 + 9)).state is finished.state is TaskState.DONE


async def run_to_end_after_claim(store: Store, task: Task) -> Task:
    current = await store.get_task(task.id)
    while current.state is TaskState.RUNNING:
        current = await store.run_task_batch(task.id, "r1", limit=10, now=T0 + 7, lease_s=30)
    return current
