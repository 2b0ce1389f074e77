"""The store contract for expunging messages' payloads, on every backend (``conftest.py`` parametrises
``store``): the content goes (payload, response excerpts), the record of delivery stays, and a delivery that
could still send the message goes dead with the reason in the same write."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from hookgate.errors import NotFoundError
from hookgate.models import Application, DeliveryStatus, Message
from hookgate.store.base import AttemptResult, Store
from hookgate.store.expunge_base import EXPUNGED_REASON
from hookgate.store.sqlite import SQLiteStore
from tests.store.test_contract import T0, make_app, make_endpoint, message

SECRET = b"expunge-me-7f3a9c-distinctive"


def secret_message(app: Application, created_at: float = T0) -> Message:
    return replace(message(app), payload=b'{"email": "' + SECRET + b'"}', created_at=created_at)


async def fail_once(store: Store, excerpt: str, *, now: float) -> str:
    """Claim one due delivery and record a failed attempt whose response echoes ``excerpt``."""
    (claim,) = await store.claim("w", 1, now=now, lease_s=30)
    result = AttemptResult(
        delivery_id=claim.delivery.id, owner="w", status=DeliveryStatus.FAILED, next_attempt_at=now + 60,
        attempted=True, started_at=now, duration_ms=5.0, status_code=500, response_excerpt=excerpt,
        error_class=None, outcome="http_500", request_headers={"content-type": "application/json"},
    )  # fmt: skip
    assert await store.complete([result]) == 1
    return claim.delivery.id


async def test_expunge_erases_the_content_keeps_the_record_and_kills_what_could_send_it(store: Store) -> None:
    app = await make_app(store)
    first = await make_endpoint(store, app)
    await make_endpoint(store, app)
    published = await store.publish(secret_message(app), now=T0)
    failed_id = await fail_once(store, "echo: " + SECRET.decode(), now=T0 + 1)
    other = await store.publish(secret_message(app), now=T0 + 2)

    expunged = await store.expunge_message(published.message.id, now=T0 + 10)

    assert (expunged.payload, expunged.expunged_at) == (b"", T0 + 10)
    got = await store.get_message(published.message.id)
    assert (got.payload, got.expunged_at, got.event_type, got.app_id) == (
        b"",
        T0 + 10,
        "invoice.paid",
        app.id,
    )
    deliveries = await store.list_deliveries(published.message.id)
    assert len(deliveries) == 2  # the record of delivery stays
    assert {d.status for d in deliveries} == {DeliveryStatus.DEAD}
    assert {d.dead_reason for d in deliveries} == {EXPUNGED_REASON}
    (attempt,) = await store.list_attempts(failed_id)
    assert (attempt.response_excerpt, attempt.status_code, attempt.outcome) == ("", 500, "http_500")
    assert attempt.request_headers == {"content-type": "application/json"}
    # nothing of the expunged message is ever claimed; the other message is untouched
    claims = await store.claim("w", 10, now=T0 + 1000, lease_s=30)
    assert {c.message.id for c in claims} == {other.message.id}
    assert (await store.get_message(other.message.id)).payload == secret_message(app).payload
    assert first.id in {c.endpoint.id for c in claims}
    # again: keeps the first time
    assert (await store.expunge_message(published.message.id, now=T0 + 20)).expunged_at == T0 + 10
    with pytest.raises(NotFoundError):
        await store.expunge_message("msg_unknown", now=T0)


async def test_an_in_flight_delivery_of_an_expunged_message_cannot_be_completed(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    published = await store.publish(secret_message(app), now=T0)
    (claim,) = await store.claim("w", 1, now=T0, lease_s=30)
    await store.expunge_message(published.message.id, now=T0 + 1)
    result = AttemptResult(
        delivery_id=claim.delivery.id, owner="w", status=DeliveryStatus.FAILED, next_attempt_at=T0 + 60,
        attempted=True, started_at=T0 + 2, duration_ms=5.0, status_code=500, response_excerpt="echo",
        error_class=None, outcome="http_500",
    )  # fmt: skip
    assert await store.complete([result]) == 0  # the worker's result no longer applies: no retry, no excerpt
    delivery = await store.get_delivery(claim.delivery.id)
    assert (delivery.status, delivery.dead_reason) == (DeliveryStatus.DEAD, EXPUNGED_REASON)
    assert await store.list_attempts(claim.delivery.id) == []


async def test_bulk_expunge_takes_only_the_older_messages_of_that_application(store: Store) -> None:
    app, neighbour = await make_app(store), await make_app(store, "neighbour")
    await make_endpoint(store, app)
    old = [(await store.publish(secret_message(app, T0 + i), now=T0 + i)).message.id for i in range(7)]
    new = (await store.publish(secret_message(app, T0 + 100), now=T0 + 100)).message.id
    theirs = (await store.publish(secret_message(neighbour, T0), now=T0)).message.id
    await store.expunge_message(old[3], now=T0 + 150)  # already expunged: not counted again

    # batches of 2: the cursor walks past each full batch
    assert await store.expunge_messages(app.id, before=T0 + 50, now=T0 + 200, limit=2) == 6

    for message_id in old:
        assert (await store.get_message(message_id)).payload == b""
    assert (await store.get_message(old[3])).expunged_at == T0 + 150
    assert {(await store.get_message(m)).expunged_at for m in old if m != old[3]} == {T0 + 200}
    for message_id in (new, theirs):
        kept = await store.get_message(message_id)
        assert (kept.payload, kept.expunged_at) == (secret_message(app).payload, None)
    assert await store.expunge_messages(app.id, before=T0 + 50, now=T0 + 300, limit=2) == 0
    assert await store.expunge_messages("app_unknown", before=T0 + 50, now=T0 + 300) == 0


async def test_sqlite_file_keeps_no_byte_of_an_expunged_payload(tmp_path: Path) -> None:
    path = tmp_path / "hookgate.db"
    store = await SQLiteStore.open(path)
    try:
        app = await make_app(store)
        await make_endpoint(store, app)
        # a large payload too: its overflow pages are freed, and must be zeroed
        big = replace(secret_message(app), payload=SECRET * 2000)
        ids = [(await store.publish(m, now=T0)).message.id for m in (secret_message(app), big)]
        await fail_once(store, "echo: " + SECRET.decode(), now=T0 + 1)
        kept = (await store.publish(replace(message(app), payload=b"kept-payload-1e5d"), now=T0)).message.id
        for message_id in ids:
            await store.expunge_message(message_id, now=T0 + 5)
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("SELECT expunged_at FROM messages WHERE id = ?", (kept,)).fetchone() == (None,)
    finally:
        conn.close()
    raw = path.read_bytes()
    assert b"kept-payload-1e5d" in raw  # the search finds a payload that is there
    assert SECRET not in raw
