"""The `Hookgate` services the API and CLI stand on: reads, event types, tokens, sources, bulk resend.

Every record they stamp takes its time from the injected clock; every refusal is one of our errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hookgate.client import BulkResend, Hookgate
from hookgate.crypto import SecretBox, generate_master_key, parse_master_keys
from hookgate.errors import ConfigError, DuplicateError, InvalidQueryError, NotFoundError
from hookgate.models import DeliveryStatus
from hookgate.store.base import AttemptResult
from hookgate.store.memory import MemoryStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import FixedClock

T0 = 1_700_000_000.0
URL = "https://receiver.example.com/webhooks"
SOURCE: dict[str, Any] = {
    "scheme": "github",
    "secrets": ["s3cr3t-value"],
    "path": "/inbound/github",
    "forward_to": "https://internal.example.com/in",
    "forward_secret": "fwd-secret",
}


@pytest.fixture(params=["memory", "sqlite"])
async def hg(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Hookgate]:
    store: Any = MemoryStore() if request.param == "memory" else await SQLiteStore.open(tmp_path / "h.db")
    client = Hookgate(store, SecretBox(parse_master_keys(generate_master_key())), clock=clock)
    try:
        yield client
    finally:
        await client.close()


async def test_applications_read_list_rename_and_a_taken_id(hg: Hookgate) -> None:
    shop = await hg.create_application("shop", app_id="shop")
    assert await hg.get_application("shop") == shop
    await hg.create_application("other")
    page = await hg.list_applications(limit=1)
    assert len(page.items) == 1
    assert page.next_cursor is not None
    rest = await hg.list_applications(cursor=page.next_cursor)
    assert {a.id for a in page.items + rest.items} >= {"shop"}
    assert (await hg.rename_application("shop", "Shop Inc")).name == "Shop Inc"
    with pytest.raises(ConfigError, match="application name"):
        await hg.rename_application("shop", "")
    with pytest.raises(DuplicateError, match=r"^application shop exists$"):
        await hg.create_application("again", app_id="shop")
    assert (await hg.get_application("shop")).name == "Shop Inc"
    with pytest.raises(InvalidQueryError):
        await hg.list_applications(cursor="garbage")
    with pytest.raises(NotFoundError):
        await hg.get_application("nope")


async def test_event_types_are_stamped_by_the_clock(hg: Hookgate, clock: FixedClock) -> None:
    await hg.create_application("shop", app_id="shop")
    clock.now = T0 + 5
    created = await hg.put_event_type("shop", "order.created", description="an order")
    assert (created.created_at, created.description, created.archived) == (T0 + 5, "an order", False)
    await hg.put_event_type("shop", "order.created", archived=True)
    [listed] = await hg.list_event_types("shop")
    assert listed.archived is True
    with pytest.raises(ConfigError, match="event type"):
        await hg.put_event_type("shop", "no spaces")
    with pytest.raises(ConfigError, match="archived"):
        await hg.put_event_type("shop", "order.paid", archived="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="description"):
        await hg.put_event_type("shop", "order.paid", description="x" * 4097)


async def test_messages_deliveries_and_the_queue_read_through_the_services(
    hg: Hookgate, clock: FixedClock
) -> None:
    await hg.create_application("shop", app_id="shop")
    endpoint = (await hg.create_endpoint("shop", URL)).endpoint
    assert await hg.get_endpoint(endpoint.id) == endpoint
    assert [e.id for e in await hg.list_endpoints("shop")] == [endpoint.id]
    result = await hg.publish("shop", "order.created", {"n": 1})
    message, [delivery] = result.message, result.deliveries
    assert await hg.get_message(message.id) == message
    assert [m.id for m in (await hg.list_messages("shop", event_type="order.created")).items] == [message.id]
    assert (await hg.list_messages("shop", status=DeliveryStatus.DEAD)).items == []
    assert (await hg.get_delivery(delivery.id)).id == delivery.id
    assert [d.id for d in await hg.list_deliveries(message.id)] == [delivery.id]
    listed = await hg.list_endpoint_deliveries(endpoint.id, status=DeliveryStatus.PENDING)
    assert [d.id for d in listed.items] == [delivery.id]
    assert (await hg.list_endpoint_attempts(endpoint.id)).items == []
    assert (await hg.list_message_attempts(message.id)).items == []
    # due at the clock's now, not before
    assert await hg.due_count() == 1
    clock.now = T0 - 60
    assert await hg.due_count() == 0


async def test_bulk_resend_takes_dead_or_failed_only(hg: Hookgate) -> None:
    await hg.create_application("shop", app_id="shop")
    endpoint = (await hg.create_endpoint("shop", URL)).endpoint
    await hg.publish("shop", "order.created", {"n": 1})
    nothing = BulkResend((), more=False, dry_run=False)
    assert await hg.resend_endpoint(endpoint.id) == nothing  # nothing dead: the delivery is pending
    assert await hg.resend_endpoint(endpoint.id, status=DeliveryStatus.FAILED) == nothing
    for status in ("pending", "delivered", "in_flight", "nonsense", 1, None):
        with pytest.raises(ConfigError, match="status must be dead or failed"):
            await hg.resend_endpoint(endpoint.id, status=status)  # type: ignore[arg-type]
    for limit in (0, -1, True, 1.5, "2"):
        with pytest.raises(ConfigError, match="limit must be a positive integer"):
            await hg.resend_endpoint(endpoint.id, limit=limit)  # type: ignore[arg-type]
    for flag in ("yes", 1, None):
        with pytest.raises(ConfigError, match="dry_run must be true or false"):
            await hg.resend_endpoint(endpoint.id, dry_run=flag)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        await hg.resend_endpoint("ep_nope")
    with pytest.raises(NotFoundError):
        await hg.resend_endpoint("ep_nope", dry_run=True)


async def test_bulk_resend_dry_run_and_limit(hg: Hookgate, clock: FixedClock) -> None:
    """The one implementation behind the API operation and ``hookgate resend --endpoint``."""
    await hg.create_application("shop", app_id="shop")
    endpoint = (await hg.create_endpoint("shop", URL)).endpoint
    for n in range(5):
        clock.now = T0 + n
        await hg.publish("shop", "order.created", {"n": n})
    claims = await hg.store.claim("w", 10, now=T0 + 10, lease_s=30)
    await hg.store.complete([_dead(c.delivery.id, T0 + 11) for c in claims])
    dead = [d.id for d in (await hg.list_endpoint_deliveries(endpoint.id, status=DeliveryStatus.DEAD)).items]
    assert len(dead) == 5

    async def still_dead() -> list[str]:
        page = await hg.list_endpoint_deliveries(endpoint.id, status=DeliveryStatus.DEAD)
        return [d.id for d in page.items]

    preview = await hg.resend_endpoint(endpoint.id, dry_run=True)
    assert preview == BulkResend(tuple(dead), more=False, dry_run=True)
    assert preview.resent == 5
    assert await hg.resend_endpoint(endpoint.id, limit=5, dry_run=True) == preview
    assert await hg.resend_endpoint(endpoint.id, limit=2, dry_run=True) == BulkResend(
        tuple(dead[:2]), more=True, dry_run=True
    )
    assert await still_dead() == dead  # a dry run changes nothing

    clock.now = T0 + 100
    done = await hg.resend_endpoint(endpoint.id, status="dead", limit=4)
    assert done == BulkResend(tuple(dead[:4]), more=True, dry_run=False)
    assert await still_dead() == dead[4:]
    for delivery_id in dead[:4]:
        resent = await hg.get_delivery(delivery_id)
        assert (resent.status, resent.next_attempt_at) == (DeliveryStatus.PENDING, T0 + 100)
    assert await hg.resend_endpoint(endpoint.id, limit=4) == BulkResend(
        tuple(dead[4:]), more=False, dry_run=False
    )
    assert await still_dead() == []


def _dead(delivery_id: str, at: float) -> AttemptResult:
    return AttemptResult(
        delivery_id=delivery_id,
        owner="w",
        status=DeliveryStatus.DEAD,
        next_attempt_at=at,
        attempted=True,
        started_at=at,
        duration_ms=1.0,
        status_code=500,
        response_excerpt="no",
        error_class="http",
        outcome="retry",
    )


async def test_api_tokens(hg: Hookgate, clock: FixedClock) -> None:
    await hg.create_application("shop", app_id="shop")
    admin, admin_text = await hg.create_api_token("ops", "admin")
    scoped, scoped_text = await hg.create_api_token("shop bot", "shop")
    assert admin_text.startswith("hgk_")
    assert admin_text not in repr(admin)
    assert (admin.created_at, scoped.scope) == (T0, "shop")
    assert (await hg.find_api_token(scoped_text)).id == scoped.id
    assert {t.id for t in await hg.list_api_tokens()} == {admin.id, scoped.id}
    with pytest.raises(NotFoundError):
        await hg.create_api_token("ghost", "app_unknown")
    with pytest.raises(ConfigError, match="token name"):
        await hg.create_api_token("", "admin")
    with pytest.raises(NotFoundError):
        await hg.find_api_token("hgk_unknown")
    clock.now = T0 + 30
    assert (await hg.revoke_api_token(scoped.id)).revoked_at == T0 + 30
    assert (await hg.find_api_token(scoped_text)).revoked_at == T0 + 30


async def test_sources_are_library_calls(hg: Hookgate, clock: FixedClock) -> None:
    created = await hg.create_source("github", SOURCE)
    assert (created.record.name, created.source.scheme) == ("github", "github")
    assert (created.record.created_at, created.record.updated_at) == (T0, T0)
    assert b"s3cr3t-value" not in created.record.config_sealed
    fetched = await hg.get_source(created.record.id)
    assert fetched.source.path == "/inbound/github"
    assert [m.record.id for m in await hg.list_sources()] == [created.record.id]
    assert [r.id for r in await hg.list_source_records()] == [created.record.id]
    with pytest.raises(DuplicateError, match=r"^a source named github exists$"):
        await hg.create_source("github", {**SOURCE, "path": "/inbound/other"})
    clock.now = T0 + 10
    replaced = await hg.replace_source(created.record.id, "github-live", {**SOURCE, "tolerance_s": 60})
    assert (replaced.record.created_at, replaced.record.updated_at) == (T0, T0 + 10)
    assert (await hg.get_source(created.record.id)).source.tolerance_s == 60
    with pytest.raises(ConfigError, match="forward_to"):
        await hg.create_source("plain", {**SOURCE, "path": "/inbound/p", "forward_to": "http://x.example/in"})
    with pytest.raises(ConfigError):
        await hg.create_source("bad", {**SOURCE, "path": "/inbound/b", "scheme": "nope"})
    with pytest.raises(ConfigError, match="source name"):
        await hg.create_source("", SOURCE)
    await hg.delete_source(created.record.id)
    assert await hg.list_sources() == []
    with pytest.raises(NotFoundError):
        await hg.get_source(created.record.id)
    with pytest.raises(NotFoundError):
        await hg.replace_source(created.record.id, "github", SOURCE)


async def test_sources_need_the_master_key() -> None:
    hg = Hookgate(MemoryStore(), None)
    try:
        with pytest.raises(ConfigError, match="no master key"):
            await hg.create_source("github", SOURCE)
        assert await hg.list_sources() == []
    finally:
        await hg.close()
