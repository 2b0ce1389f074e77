"""Expunged messages and the worker, on every store: a pending delivery of an expunged message is dead with
the reason and never sent, nor is one revived afterwards by a store-level resend; the other messages are
delivered as usual (a real worker, a `RecordingReceiver` on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookgate.client import Hookgate
from hookgate.crypto import SecretBox
from hookgate.errors import ConflictError
from hookgate.models import DeliveryStatus
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import Store
from hookgate.store.expunge_base import EXPUNGED_REASON
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordingReceiver
from tests.support import postgres_dsn

SECRET = "gdpr-erase-me-4b1d"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def hg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hookgate]:
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = await SQLiteStore.open(tmp_path / "hookgate.db")
    else:
        async for dsn in postgres_dsn():
            store = await PostgresStore.open(dsn)
            engine = Hookgate(store, SecretBox({"k1": b"\x01" * 32}))
            yield engine
            await engine.close()
        return
    engine = Hookgate(store, SecretBox({"k1": b"\x01" * 32}))
    yield engine
    await engine.close()


async def deliver(hg: Hookgate) -> None:
    worker = hg.worker(address_policy=AddressPolicy(allow=["127.0.0.0/8"]), idle_poll_s=0.1)
    try:
        await worker.run_until_idle(timeout=20)
    finally:
        await worker.close()


async def test_a_pending_delivery_of_an_expunged_message_is_dead_and_never_sent(
    hg: Hookgate, receiver: RecordingReceiver
) -> None:
    app = await hg.create_application("shop")
    await hg.create_endpoint(app.id, receiver.url, allow_insecure=True)
    gone = await hg.publish(app.id, "user.updated", {"email": SECRET})
    kept = await hg.publish(app.id, "user.updated", {"email": "kept@example.test"})

    expunged = await hg.expunge_message(gone.message.id)
    assert expunged.payload == b""
    assert expunged.expunged_at is not None
    (dead,) = await hg.list_deliveries(gone.message.id)
    assert (dead.status, dead.dead_reason) == (DeliveryStatus.DEAD, EXPUNGED_REASON)

    await deliver(hg)
    bodies = receiver.bodies
    assert len(bodies) == 1
    assert b"kept@example.test" in bodies[0]
    assert all(SECRET.encode() not in b for b in bodies)
    assert (await hg.list_deliveries(kept.message.id))[0].status is DeliveryStatus.DELIVERED
    assert await hg.store.list_attempts(dead.id) == []

    # the service refuses to resend it; a delivery revived under the service (the store, a recover of the
    # endpoint's dead deliveries) is ended by the worker without a request
    with pytest.raises(ConflictError, match="expunged"):
        await hg.resend(dead.id)
    await hg.store.resend(dead.id, now=hg.now())
    await deliver(hg)
    assert receiver.count == 1
    assert (await hg.get_delivery(dead.id)).status is DeliveryStatus.DEAD
