"""The store contract for deleting an endpoint, publishing to one endpoint and finding messages by
idempotency key, on every backend (``conftest.py`` parametrises ``store``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hookgate.errors import ConflictError, NotFoundError
from hookgate.models import DeliveryStatus
from hookgate.store.base import Store
from tests.store.test_contract import T0, make_app, make_endpoint, message


async def test_delete_keeps_a_tombstone_ends_pending_work_and_keeps_history(store: Store) -> None:
    app = await make_app(store)
    gone = await make_endpoint(store, app, secrets_sealed=b"sealed")
    kept = await make_endpoint(store, app)
    published = await store.publish(message(app), now=T0)
    assert len(published.deliveries) == 2

    assert await store.delete_endpoint(gone.id, now=T0 + 5) == 1

    tomb = await store.get_endpoint(gone.id)  # still readable: the history names it
    assert (tomb.deleted_at, tomb.enabled, tomb.secrets_sealed) == (T0 + 5, False, b"")
    assert [e.id for e in await store.list_endpoints(app.id)] == [kept.id]
    statuses = {d.endpoint_id: d.status for d in await store.list_deliveries(published.message.id)}
    assert statuses == {gone.id: DeliveryStatus.DEAD, kept.id: DeliveryStatus.PENDING}
    # nothing of the deleted endpoint is claimed, and new messages do not fan out to it
    claims = await store.claim("w", 10, now=T0 + 10, lease_s=30)
    assert [c.endpoint.id for c in claims] == [kept.id]
    later = await store.publish(message(app), now=T0 + 20)
    assert [d.endpoint_id for d in later.deliveries] == [kept.id]


async def test_a_deleted_endpoint_is_never_written_again(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    await store.delete_endpoint(endpoint.id, now=T0)
    with pytest.raises(NotFoundError):
        await store.delete_endpoint(endpoint.id, now=T0)
    with pytest.raises(NotFoundError):
        await store.delete_endpoint("ep_unknown", now=T0)
    # neither an operator's enable nor a worker's verdict brings it back
    assert await store.set_endpoint_enabled(endpoint.id, True, reason=None, now=T0) is False
    tomb = await store.get_endpoint(endpoint.id)
    assert (
        await store.set_endpoint_enabled(
            endpoint.id, False, reason="x", now=T0, expected_version=tomb.version
        )
        is False
    )
    assert (await store.get_endpoint(endpoint.id)).enabled is False
    with pytest.raises((NotFoundError, ConflictError)):
        await store.update_endpoint(
            replace(tomb, config=replace(tomb.config, url="https://new.example.test/"))
        )
    assert (await store.get_endpoint(endpoint.id)).config.url == endpoint.config.url


async def test_a_targeted_publish_reaches_only_that_endpoint_whatever_it_subscribes_to(store: Store) -> None:
    app = await make_app(store)
    target = await make_endpoint(store, app, event_types=("invoice.paid",))
    other = await make_endpoint(store, app)
    result = await store.publish(message(app, "webhook.test"), now=T0, endpoint_id=target.id)
    assert [d.endpoint_id for d in result.deliveries] == [target.id]
    assert [d.endpoint_id for d in await store.list_deliveries(result.message.id)] == [target.id]
    assert other.id != target.id


async def test_a_targeted_publish_to_no_enabled_endpoint_of_the_app_stores_nothing(store: Store) -> None:
    app = await make_app(store)
    stranger = await make_endpoint(store, await make_app(store, "other"))
    disabled = await make_endpoint(store, app, enabled=False)
    for endpoint_id in (stranger.id, disabled.id, "ep_unknown"):
        lost = message(app)
        with pytest.raises(ConflictError):
            await store.publish(lost, now=T0, endpoint_id=endpoint_id)
        with pytest.raises(NotFoundError):
            await store.get_message(lost.id)


async def test_messages_filter_by_idempotency_key(store: Store) -> None:
    app = await make_app(store)
    other_app = await make_app(store, "other")
    first = (await store.publish(message(app, key="order-1"), now=T0)).message
    await store.publish(message(app, key="order-2"), now=T0)
    await store.publish(message(app), now=T0)
    await store.publish(message(other_app, key="order-1"), now=T0)
    page = await store.list_messages(app.id, idempotency_key="order-1")
    assert [m.id for m in page.items] == [first.id]
    assert (await store.list_messages(app.id, idempotency_key="order-1", event_type="other.type")).items == []
    assert (await store.list_messages(app.id, idempotency_key="missing")).items == []
    assert len((await store.list_messages(app.id)).items) == 3
