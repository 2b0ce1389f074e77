"""Batch behaviour of the work queue on every backend: claims, completes and releases of many rows at once.

The SQL stores do these set-wise (one statement or ``executemany`` per batch); these tests pin them to the
one-result-at-a-time semantics of the memory store.
"""

from __future__ import annotations

from hookgate.config import EndpointConfig
from hookgate.models import Application, DeliveryStatus, Endpoint, Message, new_id
from hookgate.store.base import AttemptResult, Store
from tests.store.test_contract import T0, make_app, make_endpoint, message, result


async def test_claim_pairs_each_delivery_with_its_own_message_and_endpoint(store: Store) -> None:
    app = await make_app(store)
    endpoints = [
        await store.create_endpoint(
            Endpoint(
                id=new_id("ep"),
                app_id=app.id,
                config=EndpointConfig(url=f"https://receiver-{i}.example.test/hook"),
                created_at=T0,
                updated_at=T0,
            )
        )
        for i in range(3)
    ]
    payloads = {}
    for i in range(4):
        msg = Message(
            id=new_id("msg"),
            app_id=app.id,
            event_type="a.b",
            payload=b'{"n": %d}' % i,
            created_at=T0 + i,
        )
        payloads[msg.id] = msg.payload
        await store.publish(msg, now=T0 + i)
    claims = await store.claim("w", 100, now=T0 + 10, lease_s=30)
    assert len(claims) == 12
    assert [c.delivery.next_attempt_at for c in claims] == sorted(c.delivery.next_attempt_at for c in claims)
    by_id = {e.id: e for e in endpoints}
    for c in claims:
        assert c.message.id == c.delivery.message_id
        assert c.message.payload == payloads[c.message.id]
        assert c.endpoint.id == c.delivery.endpoint_id
        assert c.endpoint.config.url == by_id[c.endpoint.id].config.url
    assert {(c.delivery.message_id, c.delivery.endpoint_id) for c in claims} == {
        (m, e.id) for m in payloads for e in endpoints
    }


async def test_claim_with_a_backlog_takes_the_earliest_of_expired_and_due(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    for _ in range(2):
        await store.publish(message(app), now=T0)
    crashed = {c.delivery.id for c in await store.claim("crashed", 10, now=T0, lease_s=1)}
    due = [(await store.publish(message(app), now=T0 + 2 + i)).deliveries[0].id for i in range(5)]
    first = await store.claim("w", 3, now=T0 + 100, lease_s=30)
    assert {c.delivery.id for c in first} == crashed | {due[0]}
    second = await store.claim("w", 3, now=T0 + 100, lease_s=30)
    assert {c.delivery.id for c in second} == set(due[1:4])


def deferral(delivery_id: str, owner: str) -> AttemptResult:
    return AttemptResult(
        delivery_id=delivery_id,
        owner=owner,
        status=DeliveryStatus.PENDING,
        next_attempt_at=T0 + 60,
        attempted=False,
        started_at=T0 + 1,
        duration_ms=0.0,
        status_code=None,
        response_excerpt="",
        error_class="rate_limited",
        outcome="rate_limited",
    )


async def test_complete_batch_applies_each_held_lease_once_in_order(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    for _ in range(4):
        await store.publish(message(app), now=T0)
    a, b = (c.delivery.id for c in await store.claim("w1", 2, now=T0, lease_s=30))
    c, d = (c.delivery.id for c in await store.claim("w2", 2, now=T0, lease_s=30))
    batch = [
        result(a, "w2", DeliveryStatus.DEAD, at=T0 + 1, code=410),  # not its lease
        result(a, "w1", DeliveryStatus.DELIVERED, at=T0 + 2),  # applies
        result(a, "w1", DeliveryStatus.DEAD, at=T0 + 3, code=500),  # repeat: the lease is gone
        deferral(b, "w1"),  # applies, no attempt row
        result(c, "w1", DeliveryStatus.DELIVERED, at=T0 + 4),  # not its lease
        result(d, "w2", DeliveryStatus.FAILED, at=T0 + 5, code=503),  # applies
        result("dlv_missing", "w1", DeliveryStatus.DELIVERED, at=T0 + 6),
    ]
    assert await store.complete(batch) == 3
    assert await store.complete(batch) == 0  # nothing is leased any more: no new attempt rows either
    assert await store.complete([]) == 0

    da = await store.get_delivery(a)
    assert (da.status, da.attempts, da.lease_owner) == (DeliveryStatus.DELIVERED, 1, None)
    assert da.updated_at == T0 + 2
    assert [x.status_code for x in await store.list_attempts(a)] == [200]
    db = await store.get_delivery(b)
    assert (db.status, db.attempts, db.next_attempt_at) == (DeliveryStatus.PENDING, 0, T0 + 60)
    assert await store.list_attempts(b) == []
    dc = await store.get_delivery(c)
    assert (dc.status, dc.lease_owner) == (DeliveryStatus.IN_FLIGHT, "w2")
    assert await store.list_attempts(c) == []
    dd = await store.get_delivery(d)
    assert (dd.status, dd.attempts, dd.next_attempt_at) == (DeliveryStatus.FAILED, 1, T0 + 5)
    (attempt,) = await store.list_attempts(d)
    assert (attempt.status_code, attempt.error_class, attempt.duration_ms) == (503, "http", 12.5)


async def test_complete_batch_records_attempts_of_one_delivery_across_batches_in_order(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), now=T0)
    for i, code in enumerate((500, 502, 200)):
        (claim,) = await store.claim("w", 10, now=T0 + 10 * i, lease_s=5)
        status = DeliveryStatus.DELIVERED if code == 200 else DeliveryStatus.FAILED
        done = result(claim.delivery.id, "w", status, at=T0 + 10 * i + 1, code=code)
        assert await store.complete([done]) == 1
    attempts = await store.list_attempts(claim.delivery.id)
    assert [x.status_code for x in attempts] == [500, 502, 200]
    assert [x.id for x in attempts] == sorted(x.id for x in attempts)


async def test_release_many_gives_back_only_the_owners_leases(store: Store) -> None:
    app: Application = await make_app(store)
    await make_endpoint(store, app)
    for _ in range(3):
        await store.publish(message(app), now=T0)
    a, b, c = (x.delivery.id for x in await store.claim("w", 10, now=T0, lease_s=300))
    assert await store.release("w", [], now=T0 + 1) == 0
    assert await store.release("other", [a, b, c], now=T0 + 1) == 0
    assert await store.release("w", [a, a, b, "dlv_missing"], now=T0 + 1) == 2
    assert [(await store.get_delivery(x)).status for x in (a, b, c)] == [
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
        DeliveryStatus.IN_FLIGHT,
    ]
    assert {x.delivery.id for x in await store.claim("w2", 10, now=T0 + 1, lease_s=30)} == {a, b}
