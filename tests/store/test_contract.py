"""The store contract: one suite, run against every backend (``conftest.py`` parametrises the fixture)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from hookgate.config.endpoint import DeliveryPolicy, EndpointConfig
from hookgate.config.sections import ApiKeyAuth
from hookgate.errors import ConflictError, DuplicateError, InvalidQueryError, NotFoundError, StoreError
from hookgate.models import (
    ApiToken,
    Application,
    Attempt,
    DeliveryStatus,
    Endpoint,
    EventType,
    InboundSourceRecord,
    Message,
    SigningKey,
    SigningKeyStatus,
    new_id,
)
from hookgate.store.base import AttemptResult, Page, Store

T0 = 1_700_000_000.0
T = TypeVar("T")


async def make_app(store: Store, name: str = "acme") -> Application:
    return await store.create_application(Application(id=new_id("app"), name=name, created_at=T0))


_RECORD_FIELDS = frozenset({"enabled", "disabled_reason", "secrets_sealed", "failing_since"})
_POLICY_FIELDS = frozenset({"timeout_s", "rate_limit_per_s", "max_concurrency", "retry_schedule"})


async def make_endpoint(store: Store, app: Application, **fields: Any) -> Endpoint:
    """An endpoint record straight into the store; ``fields`` are record, policy or configuration fields."""
    record = {k: v for k, v in fields.items() if k in _RECORD_FIELDS}
    policy = DeliveryPolicy(**{k: v for k, v in fields.items() if k in _POLICY_FIELDS})
    config = {k: v for k, v in fields.items() if k not in _RECORD_FIELDS | _POLICY_FIELDS}
    config.setdefault("url", "https://receiver.example.test/hook")
    endpoint = Endpoint(
        id=new_id("ep"),
        app_id=app.id,
        config=EndpointConfig(policy=policy, **config),
        created_at=T0,
        updated_at=T0,
        **record,
    )
    return await store.create_endpoint(endpoint)


def message(app: Application, event_type: str = "invoice.paid", key: str | None = None) -> Message:
    return Message(
        id=new_id("msg"),
        app_id=app.id,
        event_type=event_type,
        payload=b'{"amount": 42}',
        created_at=T0,
        idempotency_key=key,
    )


def result(
    delivery_id: str, owner: str, status: DeliveryStatus, *, at: float, code: int | None = 200
) -> AttemptResult:
    return AttemptResult(
        delivery_id=delivery_id,
        owner=owner,
        status=status,
        next_attempt_at=at,
        attempted=True,
        started_at=at,
        duration_ms=12.5,
        status_code=code,
        response_excerpt="ok",
        error_class=None if code and code < 300 else "http",
        outcome="delivered" if status is DeliveryStatus.DELIVERED else "retry",
    )


async def test_endpoint_round_trip_keeps_every_field(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(
        store,
        app,
        event_types=("invoice.*", "user.created"),
        secrets_sealed=b"\x01sealed\x00bytes",
        headers={"X-Tenant": "acme"},
        timeout_s=7.5,
        rate_limit_per_s=3.0,
        max_concurrency=4,
        retry_schedule=(0.0, 1.0, 2.5),
        allow_insecure=True,
        auth=ApiKeyAuth(header="X-API-Key"),
    )
    loaded = await store.get_endpoint(endpoint.id)
    assert loaded == endpoint
    assert await store.list_endpoints(app.id) == [endpoint]
    loaded.config = replace(loaded.config, url="https://other.example.test/")
    await store.update_endpoint(loaded)
    assert (await store.get_endpoint(endpoint.id)).config.url == "https://other.example.test/"


async def test_missing_records_raise_not_found(store: Store) -> None:
    app = await make_app(store)
    with pytest.raises(NotFoundError):
        await store.get_endpoint("ep_missing")
    with pytest.raises(NotFoundError):
        await store.get_message("msg_missing")
    with pytest.raises(NotFoundError):
        await store.get_application("app_missing")
    with pytest.raises(NotFoundError):
        await make_endpoint(store, Application(id="app_missing", name="x", created_at=T0))
    with pytest.raises(NotFoundError):
        await store.publish(message(Application(id="app_missing", name="x", created_at=T0)), now=T0)
    assert await store.list_endpoints(app.id) == []


async def test_publish_fans_out_to_subscribed_enabled_endpoints_only(store: Store) -> None:
    app, other_app = await make_app(store), await make_app(store, "other")
    everything = await make_endpoint(store, app)
    invoices = await make_endpoint(store, app, event_types=("invoice.*",))
    exact = await make_endpoint(store, app, event_types=("invoice.paid",))
    users = await make_endpoint(store, app, event_types=("user.*",))
    disabled = await make_endpoint(store, app, enabled=False)
    await make_endpoint(store, other_app)
    published = await store.publish(message(app), now=T0)
    assert not published.duplicate
    targets = {d.endpoint_id for d in published.deliveries}
    assert targets == {everything.id, invoices.id, exact.id}
    assert users.id not in targets
    assert disabled.id not in targets
    for d in published.deliveries:
        assert d.status is DeliveryStatus.PENDING
        assert d.attempts == 0
        assert d.next_attempt_at == T0
    assert {d.id for d in await store.list_deliveries(published.message.id)} == {
        d.id for d in published.deliveries
    }
    assert (await store.get_message(published.message.id)).payload == b'{"amount": 42}'


async def test_idempotency_key_returns_first_message_within_24h(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    first = await store.publish(message(app, key="order-1"), now=T0)
    again = await store.publish(message(app, key="order-1"), now=T0 + 3600)
    assert again.duplicate
    assert again.message.id == first.message.id
    assert [d.id for d in again.deliveries] == [d.id for d in first.deliveries]
    other_app = await make_app(store, "other")
    elsewhere = await store.publish(message(other_app, key="order-1"), now=T0)
    assert not elsewhere.duplicate
    later = await store.publish(message(app, key="order-1"), now=T0 + 25 * 3600)
    assert not later.duplicate
    assert later.message.id != first.message.id


async def test_claim_leases_due_deliveries_once(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    published = [await store.publish(message(app), now=T0) for _ in range(5)]
    first = await store.claim("w1", 3, now=T0, lease_s=30)
    second = await store.claim("w2", 10, now=T0, lease_s=30)
    assert len(first) == 3
    assert len(second) == 2
    ids = {c.delivery.id for c in first} | {c.delivery.id for c in second}
    assert ids == {p.deliveries[0].id for p in published}
    claim = first[0]
    assert claim.delivery.status is DeliveryStatus.IN_FLIGHT
    assert claim.delivery.lease_owner == "w1"
    assert claim.message.payload == b'{"amount": 42}'
    assert claim.endpoint.config.url == "https://receiver.example.test/hook"
    assert await store.claim("w3", 10, now=T0 + 1, lease_s=30) == []


async def test_not_yet_due_is_not_claimed(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), now=T0 + 100)
    assert await store.claim("w", 10, now=T0, lease_s=30) == []
    assert await store.next_due_at() == T0 + 100
    assert len(await store.claim("w", 10, now=T0 + 100, lease_s=30)) == 1


async def test_expired_lease_is_claimable_again_and_stale_owner_cannot_complete(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), now=T0)
    (dead_worker_claim,) = await store.claim("crashed", 10, now=T0, lease_s=30)
    assert await store.next_due_at() == T0 + 30
    assert await store.claim("w2", 10, now=T0 + 29, lease_s=30) == []
    (reclaimed,) = await store.claim("w2", 10, now=T0 + 30, lease_s=30)
    assert reclaimed.delivery.id == dead_worker_claim.delivery.id
    stale = result(reclaimed.delivery.id, "crashed", DeliveryStatus.DELIVERED, at=T0 + 31)
    assert await store.complete([stale]) == 0
    fresh = result(reclaimed.delivery.id, "w2", DeliveryStatus.DELIVERED, at=T0 + 32)
    assert await store.complete([fresh]) == 1
    delivery = await store.get_delivery(reclaimed.delivery.id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.lease_owner is None


async def test_complete_records_attempts_and_reschedules(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), now=T0)
    (claim,) = await store.claim("w", 10, now=T0, lease_s=30)
    failed = result(claim.delivery.id, "w", DeliveryStatus.FAILED, at=T0 + 5, code=500)
    assert await store.complete([failed]) == 1
    delivery = await store.get_delivery(claim.delivery.id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == T0 + 5
    assert await store.claim("w", 10, now=T0 + 4, lease_s=30) == []
    (again,) = await store.claim("w", 10, now=T0 + 5, lease_s=30)
    await store.complete([result(again.delivery.id, "w", DeliveryStatus.DELIVERED, at=T0 + 6)])
    attempts = await store.list_attempts(claim.delivery.id)
    assert [a.status_code for a in attempts] == [500, 200]
    assert attempts[0].error_class == "http"
    assert attempts[0].duration_ms == 12.5
    assert attempts[1].outcome == "delivered"


async def test_deferral_without_attempt_does_not_count(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), now=T0)
    (claim,) = await store.claim("w", 10, now=T0, lease_s=30)
    deferred = AttemptResult(
        delivery_id=claim.delivery.id,
        owner="w",
        status=DeliveryStatus.PENDING,
        next_attempt_at=T0 + 60,
        attempted=False,
        started_at=T0,
        duration_ms=0.0,
        status_code=None,
        response_excerpt="",
        error_class="circuit_open",
        outcome="circuit_open",
    )
    assert await store.complete([deferred]) == 1
    delivery = await store.get_delivery(claim.delivery.id)
    assert delivery.attempts == 0
    assert delivery.next_attempt_at == T0 + 60
    assert await store.list_attempts(claim.delivery.id) == []


async def test_release_gives_work_back_due_now(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), now=T0)
    (claim,) = await store.claim("w", 10, now=T0, lease_s=300)
    assert await store.release("someone-else", [claim.delivery.id], now=T0 + 1) == 0
    assert await store.release("w", [claim.delivery.id], now=T0 + 1) == 1
    delivery = await store.get_delivery(claim.delivery.id)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.attempts == 0
    assert len(await store.claim("w2", 10, now=T0 + 1, lease_s=30)) == 1


async def test_disable_endpoint_kills_pending_and_stops_fan_out(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    published = await store.publish(message(app), now=T0)
    await store.set_endpoint_enabled(endpoint.id, False, reason="410 Gone", now=T0 + 1)
    loaded = await store.get_endpoint(endpoint.id)
    assert not loaded.enabled
    assert loaded.disabled_reason == "410 Gone"
    assert (await store.get_delivery(published.deliveries[0].id)).status is DeliveryStatus.DEAD
    assert (await store.publish(message(app), now=T0 + 2)).deliveries == ()
    await store.set_endpoint_enabled(endpoint.id, True, reason=None, now=T0 + 3)
    assert len((await store.publish(message(app), now=T0 + 4)).deliveries) == 1


async def test_endpoint_health_tracks_failing_since(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    assert await store.mark_endpoint_health(endpoint.id, False, T0) == T0
    assert await store.mark_endpoint_health(endpoint.id, False, T0 + 10) == T0
    assert (await store.get_endpoint(endpoint.id)).failing_since == T0
    assert await store.mark_endpoint_health(endpoint.id, True, T0 + 20) is None


async def test_resend_and_recover(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    old = await store.publish(message(app), now=T0)
    new = await store.publish(message(app), now=T0 + 100)
    for claim in await store.claim("w", 10, now=T0 + 100, lease_s=30):
        await store.complete([result(claim.delivery.id, "w", DeliveryStatus.DEAD, at=T0 + 101, code=500)])
    resent = await store.resend(old.deliveries[0].id, now=T0 + 200)
    assert resent.status is DeliveryStatus.PENDING
    assert resent.attempts == 0
    assert resent.next_attempt_at == T0 + 200
    assert len(await store.list_attempts(old.deliveries[0].id)) == 1  # history kept
    assert await store.recover(endpoint.id, since=T0 + 50, now=T0 + 300) == 1
    assert (await store.get_delivery(new.deliveries[0].id)).status is DeliveryStatus.PENDING
    with pytest.raises(NotFoundError):
        await store.resend("dlv_missing", now=T0)


async def test_wait_for_work_wakes_on_publish(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.wait_for_work(0.01)  # drain any earlier signal
    waiter = asyncio.create_task(store.wait_for_work(10))
    await asyncio.sleep(0.05)
    await store.publish(message(app), now=T0)
    await asyncio.wait_for(waiter, 5)
    assert waiter.done()


# -- signing key ring and sealed records ----------------------------------------------------------------


def signing_key(
    kid: str, *, at: float = T0, status: SigningKeyStatus = SigningKeyStatus.PENDING
) -> SigningKey:
    return SigningKey(
        kid=kid,
        kind="ed25519",
        alg="EdDSA",
        private_sealed=b"\x00sealed\xff" + kid.encode(),
        public_jwk=f'{{"kty": "OKP", "crv": "Ed25519", "kid": "{kid}", "x": "AAAA"}}',
        status=status,
        created_at=at,
    )


async def test_signing_key_round_trip_keeps_every_field(store: Store) -> None:
    assert await store.list_signing_keys() == []
    second = signing_key("k2", at=T0 + 10)
    first = SigningKey(
        kid="k1",
        kind="ec",
        alg="ES256",
        private_sealed=bytes(range(256)),
        public_jwk='{"kty": "EC", "crv": "P-256"}',
        status=SigningKeyStatus.RETIRED,
        created_at=T0,
        activated_at=T0 + 1.5,
        retired_at=T0 + 2.25,
    )
    assert await store.add_signing_key(second) == second
    await store.add_signing_key(first)
    loaded = await store.list_signing_keys()
    assert loaded == [first, second]  # oldest first
    assert loaded[0].private_sealed == bytes(range(256))
    assert type(loaded[0].private_sealed) is bytes
    assert loaded[1].status is SigningKeyStatus.PENDING
    assert loaded[1].activated_at is None
    assert loaded[1].retired_at is None
    with pytest.raises(DuplicateError):
        await store.add_signing_key(signing_key("k1"))  # kid is unique


async def test_activating_a_key_demotes_the_active_one(store: Store) -> None:
    for i in range(3):
        await store.add_signing_key(signing_key(f"k{i}", at=T0 + i))
    k0 = await store.set_signing_key_status("k0", SigningKeyStatus.ACTIVE, now=T0 + 100)
    assert k0.status is SigningKeyStatus.ACTIVE
    assert k0.activated_at == T0 + 100
    k1 = await store.set_signing_key_status("k1", SigningKeyStatus.ACTIVE, now=T0 + 200)
    assert k1.status is SigningKeyStatus.ACTIVE
    assert k1.activated_at == T0 + 200
    by_kid = {k.kid: k for k in await store.list_signing_keys()}
    assert by_kid["k0"].status is SigningKeyStatus.PREVIOUS
    assert by_kid["k0"].activated_at == T0 + 100  # kept: it records when the key started signing
    assert by_kid["k2"].status is SigningKeyStatus.PENDING
    assert [k.kid for k in by_kid.values() if k.status is SigningKeyStatus.ACTIVE] == ["k1"]
    # re-activating the active key changes nothing
    again = await store.set_signing_key_status("k1", SigningKeyStatus.ACTIVE, now=T0 + 300)
    assert again.activated_at == T0 + 200
    assert [k.kid for k in await store.list_signing_keys() if k.status is SigningKeyStatus.ACTIVE] == ["k1"]


async def test_at_most_one_key_is_ever_active(store: Store) -> None:
    await store.add_signing_key(signing_key("k0", status=SigningKeyStatus.ACTIVE))
    with pytest.raises(StoreError):
        await store.add_signing_key(signing_key("k1", at=T0 + 1, status=SigningKeyStatus.ACTIVE))
    assert [k.kid for k in await store.list_signing_keys()] == ["k0"]


async def test_retiring_a_key_sets_retired_at(store: Store) -> None:
    await store.add_signing_key(signing_key("k0"))
    await store.set_signing_key_status("k0", SigningKeyStatus.ACTIVE, now=T0 + 1)
    previous = await store.set_signing_key_status("k0", SigningKeyStatus.PREVIOUS, now=T0 + 2)
    assert previous.status is SigningKeyStatus.PREVIOUS
    assert previous.retired_at is None
    retired = await store.set_signing_key_status("k0", SigningKeyStatus.RETIRED, now=T0 + 3)
    assert retired.status is SigningKeyStatus.RETIRED
    assert (retired.activated_at, retired.retired_at) == (T0 + 1, T0 + 3)
    assert await store.list_signing_keys() == [retired]


async def test_unknown_signing_key_raises_not_found_and_demotes_nothing(store: Store) -> None:
    await store.add_signing_key(signing_key("k0"))
    await store.set_signing_key_status("k0", SigningKeyStatus.ACTIVE, now=T0 + 1)
    with pytest.raises(NotFoundError):
        await store.set_signing_key_status("k_missing", SigningKeyStatus.ACTIVE, now=T0 + 2)
    with pytest.raises(NotFoundError):
        await store.set_signing_key_status("k_missing", SigningKeyStatus.RETIRED, now=T0 + 2)
    [k0] = await store.list_signing_keys()
    assert k0.status is SigningKeyStatus.ACTIVE  # the failed activation rolled its demotion back


async def sealed_state(store: Store, app: Application) -> tuple[dict[str, bytes], dict[str, bytes]]:
    endpoints = {e.id: e.secrets_sealed for e in await store.list_endpoints(app.id)}
    keys = {k.kid: k.private_sealed for k in await store.list_signing_keys()}
    return endpoints, keys


async def test_reseal_replaces_every_sealed_blob_and_counts_changes(store: Store) -> None:
    app = await make_app(store)
    a = await make_endpoint(store, app, secrets_sealed=b"\x01endpoint-a")
    b = await make_endpoint(store, app, secrets_sealed=b"\x01endpoint-b")
    unchanged = await make_endpoint(store, app, secrets_sealed=b"\x02already-new")
    empty = await make_endpoint(store, app)  # no secrets: skipped
    await store.add_signing_key(signing_key("k0"))
    await store.add_signing_key(signing_key("k1", at=T0 + 1, status=SigningKeyStatus.ACTIVE))
    seen: list[tuple[str, str]] = []

    def fn(kind: str, record_id: str, blob: bytes) -> bytes:
        seen.append((kind, record_id))
        return blob if blob.startswith(b"\x02") else b"\x02" + blob + b"\x00"

    assert await store.reseal(fn) == 4
    assert sorted(seen) == sorted(
        [
            ("endpoint", a.id),
            ("endpoint", b.id),
            ("endpoint", unchanged.id),
            ("signing_key", "k0"),
            ("signing_key", "k1"),
        ]
    )
    endpoints, keys = await sealed_state(store, app)
    assert endpoints == {
        a.id: b"\x02\x01endpoint-a\x00",
        b.id: b"\x02\x01endpoint-b\x00",
        unchanged.id: b"\x02already-new",
        empty.id: b"",
    }
    assert keys == {"k0": b"\x02\x00sealed\xffk0\x00", "k1": b"\x02\x00sealed\xffk1\x00"}
    # every other field survives; a second pass finds nothing left to change
    assert (await store.get_endpoint(a.id)).config.url == a.config.url
    assert [k.status for k in await store.list_signing_keys()] == [
        SigningKeyStatus.PENDING,
        SigningKeyStatus.ACTIVE,
    ]
    assert await store.reseal(fn) == 0


async def test_reseal_with_an_empty_store_changes_nothing(store: Store) -> None:
    assert await store.reseal(lambda kind, record_id, blob: blob + b"!") == 0


async def test_failing_reseal_leaves_every_blob_unchanged(store: Store) -> None:
    app = await make_app(store)
    for i in range(3):
        await make_endpoint(store, app, secrets_sealed=f"old-{i}".encode())
    await store.add_signing_key(signing_key("k0"))
    await store.add_signing_key(signing_key("k1", at=T0 + 1))
    before = await sealed_state(store, app)
    calls = 0

    def fn(kind: str, record_id: str, blob: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if kind == "signing_key" and record_id == "k1":
            raise ValueError("cannot unseal")  # after every endpoint and k0 were resealed
        return b"new:" + blob

    with pytest.raises(ValueError, match="cannot unseal"):
        await store.reseal(fn)
    assert calls == 5
    assert await sealed_state(store, app) == before


async def test_publish_many_each_message_succeeds_or_fails_alone(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    ghost = Application(id=new_id("app"), name="never stored", created_at=T0)
    first, missing, keyed, again = message(app), message(ghost), message(app, key="k"), message(app, key="k")
    results = await store.publish_many([first, missing, keyed, again], now=T0)
    assert len(results) == 4
    ok_first, failed, ok_keyed, duplicate = results
    assert not isinstance(ok_first, Exception)
    assert [d.endpoint_id for d in ok_first.deliveries] == [endpoint.id]
    assert isinstance(failed, NotFoundError)
    assert not isinstance(ok_keyed, Exception)
    assert not ok_keyed.duplicate
    # the same key later in the same batch sees the first one
    assert not isinstance(duplicate, Exception)
    assert duplicate.duplicate
    assert duplicate.message.id == keyed.id
    assert (await store.get_message(first.id)).id == first.id
    with pytest.raises(NotFoundError):
        await store.get_message(missing.id)
    with pytest.raises(NotFoundError):
        await store.get_message(again.id)
    claimed = await store.claim("w", 10, now=T0, lease_s=30)
    assert {c.message.id for c in claimed} == {first.id, keyed.id}


async def test_publish_many_of_nothing(store: Store) -> None:
    assert await store.publish_many([], now=T0) == []


# -- management API -----------------------------------------------------------------------------------


async def walk(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> list[list[T]]:
    """Every page of a listing, following next_cursor until it is None."""
    pages: list[list[T]] = []
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 100


def newest_first(records: list[Message]) -> list[str]:
    return [m.id for m in sorted(records, key=lambda m: (m.created_at, m.id), reverse=True)]


async def publish_at(store: Store, app: Application, at: float, event_type: str = "invoice.paid") -> Message:
    msg = Message(id=new_id("msg"), app_id=app.id, event_type=event_type, payload=b"{}", created_at=at)
    return (await store.publish(msg, now=at)).message


async def test_list_messages_pages_newest_first_without_gaps_or_repeats(store: Store) -> None:
    app, other = await make_app(store), await make_app(store, "other")
    # three messages per second: ties on created_at are broken by id
    mine = [await publish_at(store, app, T0 + i // 3) for i in range(25)]
    theirs = [await publish_at(store, other, T0 + i // 3) for i in range(7)]
    pages = await walk(lambda c: store.list_messages(app.id, cursor=c, limit=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [m.id for p in pages for m in p] == newest_first(mine)
    assert pages[0][0].created_at == T0 + 8  # the newest second comes first
    assert not {m.id for p in pages for m in p} & {m.id for m in theirs}  # tenants never mix
    other_pages = await walk(lambda c: store.list_messages(other.id, cursor=c, limit=3))
    assert [m.id for p in other_pages for m in p] == newest_first(theirs)
    # exactly one page when everything fits, even exactly
    whole = await store.list_messages(app.id, limit=25)
    assert whole.next_cursor is None
    assert [m.id for m in whole.items] == newest_first(mine)
    almost = await store.list_messages(app.id, limit=24)
    assert almost.next_cursor is not None
    rest = await store.list_messages(app.id, cursor=almost.next_cursor, limit=24)
    assert [m.id for m in rest.items] == newest_first(mine)[24:]
    assert rest.next_cursor is None
    assert rest.items[0].payload == b"{}"
    assert (await store.list_messages("app_missing")).items == []


async def test_a_cursor_stays_valid_when_newer_messages_arrive(store: Store) -> None:
    app = await make_app(store)
    older = [await publish_at(store, app, T0 + i) for i in range(6)]
    first = await store.list_messages(app.id, limit=3)
    assert [m.id for m in first.items] == newest_first(older)[:3]
    await publish_at(store, app, T0 + 100)
    assert first.next_cursor is not None
    second = await store.list_messages(app.id, cursor=first.next_cursor, limit=3)
    assert [m.id for m in second.items] == newest_first(older)[3:]
    assert second.next_cursor is None


async def test_list_messages_filters_by_exact_event_type_and_half_open_time_range(store: Store) -> None:
    app = await make_app(store)
    paid = [await publish_at(store, app, T0 + i, "invoice.paid") for i in range(10)]
    await publish_at(store, app, T0 + 3, "invoice.paid.v2")
    await publish_at(store, app, T0 + 4, "invoice")
    await publish_at(store, app, T0 + 5, "user.created")
    by_type = await walk(lambda c: store.list_messages(app.id, event_type="invoice.paid", cursor=c, limit=4))
    assert [len(p) for p in by_type] == [4, 4, 2]
    assert [m.id for p in by_type for m in p] == newest_first(paid)
    assert (await store.list_messages(app.id, event_type="invoice.*")).items == []
    # since is inclusive, until exclusive
    ranged = await store.list_messages(app.id, since=T0 + 2, until=T0 + 5)
    assert [m.created_at for m in ranged.items] == [T0 + 4, T0 + 4, T0 + 3, T0 + 3, T0 + 2]
    both = await walk(
        lambda c: store.list_messages(
            app.id, event_type="invoice.paid", since=T0 + 2, until=T0 + 8, cursor=c, limit=2
        )
    )
    assert [m.id for p in both for m in p] == newest_first(paid[2:8])
    assert (await store.list_messages(app.id, since=T0 + 100)).items == []
    assert len((await store.list_messages(app.id, until=T0 + 1)).items) == 1


async def test_invalid_cursors_and_limits_raise_store_error(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    for i in range(3):
        await make_app(store, f"app-{i}")
        await publish_at(store, app, T0 + i)
    apps_cursor = (await store.list_applications(limit=1)).next_cursor
    messages_cursor = (await store.list_messages(app.id, limit=1)).next_cursor
    assert apps_cursor is not None
    assert messages_cursor is not None
    forged = [
        "",
        "not a cursor",
        "%%%%",
        "é",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(json.dumps(["msg", "x", "y"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["msg", 1.0]).encode()).decode(),
        base64.urlsafe_b64encode(b'["msg", NaN, "msg_x"]').decode(),
        base64.urlsafe_b64encode(json.dumps(["att", -1]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["att", 1.5]).encode()).decode(),
        # an id no record has, which PostgreSQL could not even compare: the same answer on every store
        base64.urlsafe_b64encode(json.dumps(["msg", 1.0, "msg_\u0000"]).encode()).decode(),
        apps_cursor,  # a cursor of another listing
    ]
    for cursor in forged:
        with pytest.raises(InvalidQueryError, match="invalid cursor"):
            await store.list_messages(app.id, cursor=cursor)
        with pytest.raises(InvalidQueryError, match="invalid cursor"):
            await store.list_endpoint_attempts(endpoint.id, cursor=cursor)
    with pytest.raises(InvalidQueryError, match="invalid cursor"):
        await store.list_applications(cursor=messages_cursor)
    nul = base64.urlsafe_b64encode(json.dumps(["app", 1.0, "\u0000"]).encode()).decode()
    with pytest.raises(InvalidQueryError, match="invalid cursor"):
        await store.list_applications(cursor=nul)
    with pytest.raises(InvalidQueryError, match="invalid cursor"):
        await store.list_endpoint_deliveries(endpoint.id, cursor=messages_cursor)
    for limit in (0, -1, 1001, True):
        with pytest.raises(InvalidQueryError):
            await store.list_messages(app.id, limit=limit)
        with pytest.raises(InvalidQueryError):
            await store.list_applications(limit=limit)
        with pytest.raises(InvalidQueryError):
            await store.list_endpoint_attempts(endpoint.id, limit=limit)
        with pytest.raises(InvalidQueryError):
            await store.list_endpoint_deliveries(endpoint.id, limit=limit)
    assert len((await store.list_messages(app.id, limit=1000)).items) == 3
    assert len((await store.list_messages(app.id, limit=1)).items) == 1


async def test_list_applications_pages_newest_first(store: Store) -> None:
    apps = [
        await store.create_application(Application(id=new_id("app"), name=f"a{i}", created_at=T0 + i // 2))
        for i in range(7)
    ]
    pages = await walk(lambda c: store.list_applications(cursor=c, limit=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    expected = sorted(apps, key=lambda a: (a.created_at, a.id), reverse=True)
    assert [a for p in pages for a in p] == expected


async def test_list_endpoint_deliveries_pages_filters_by_status_and_keeps_to_the_endpoint(
    store: Store,
) -> None:
    app, other = await make_app(store), await make_app(store, "other")
    endpoint = await make_endpoint(store, app)
    sibling = await make_endpoint(store, app)
    await make_endpoint(store, other)
    for i in range(12):
        await publish_at(store, app, T0 + i // 4)
        await publish_at(store, other, T0 + i // 4)
    mine = [
        d
        for m in (await store.list_messages(app.id, limit=100)).items
        for d in await store.list_deliveries(m.id)
    ]
    ours = [d for d in mine if d.endpoint_id == endpoint.id]
    assert len(ours) == 12
    pages = await walk(lambda c: store.list_endpoint_deliveries(endpoint.id, cursor=c, limit=5))
    assert [len(p) for p in pages] == [5, 5, 2]
    listed = [d for p in pages for d in p]
    assert [d.id for d in listed] == [
        d.id for d in sorted(ours, key=lambda d: (d.created_at, d.id), reverse=True)
    ]
    assert {d.endpoint_id for d in listed} == {endpoint.id}
    assert listed[0].status is DeliveryStatus.PENDING
    # deliver three of this endpoint's (and everything of the sibling's)
    delivered = set()
    for claim in await store.claim("w", 100, now=T0 + 10, lease_s=30):
        if claim.delivery.endpoint_id == endpoint.id and len(delivered) == 3:
            continue
        if claim.delivery.endpoint_id == endpoint.id:
            delivered.add(claim.delivery.id)
        await store.complete([result(claim.delivery.id, "w", DeliveryStatus.DELIVERED, at=T0 + 11)])
    done = await walk(
        lambda c: store.list_endpoint_deliveries(
            endpoint.id, status=DeliveryStatus.DELIVERED, cursor=c, limit=2
        )
    )
    assert [len(p) for p in done] == [2, 1]
    assert {d.id for p in done for d in p} == delivered
    in_flight = await store.list_endpoint_deliveries(endpoint.id, status=DeliveryStatus.IN_FLIGHT)
    assert len(in_flight.items) == 9
    assert in_flight.next_cursor is None
    assert (await store.list_endpoint_deliveries(endpoint.id, status=DeliveryStatus.DEAD)).items == []
    assert len((await store.list_endpoint_deliveries(sibling.id, limit=1000)).items) == 12
    assert (await store.list_endpoint_deliveries("ep_missing")).items == []


async def test_list_endpoint_attempts_newest_first_across_deliveries(store: Store) -> None:
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    other = await make_endpoint(store, app)
    for i in range(4):
        await publish_at(store, app, T0 + i)
    # three rounds of failures, then success: 4 deliveries x 4 attempts per endpoint
    for round_ in range(4):
        at = T0 + 10 * (round_ + 1)
        status = DeliveryStatus.DELIVERED if round_ == 3 else DeliveryStatus.FAILED
        for claim in await store.claim("w", 100, now=at, lease_s=5):
            await store.complete(
                [result(claim.delivery.id, "w", status, at=at, code=200 if round_ == 3 else 500)]
            )
    pages: list[list[Attempt]] = await walk(
        lambda c: store.list_endpoint_attempts(endpoint.id, cursor=c, limit=7)
    )
    assert [len(p) for p in pages] == [7, 7, 2]
    attempts = [a for p in pages for a in p]
    ids = [a.id for a in attempts]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids, key=lambda i: i or 0, reverse=True)
    assert len(set(ids)) == 16
    ours = {d.id for d in (await store.list_endpoint_deliveries(endpoint.id)).items}
    assert {a.delivery_id for a in attempts} == ours
    expected = sorted(
        [a for d in ours for a in await store.list_attempts(d)], key=lambda a: a.id or 0, reverse=True
    )
    assert attempts == expected
    assert attempts[0].status_code == 200
    assert attempts[-1].status_code == 500
    theirs = await store.list_endpoint_attempts(other.id, limit=1000)
    assert len(theirs.items) == 16
    assert not {a.id for a in theirs.items} & set(ids)
    assert (await store.list_endpoint_attempts("ep_missing")).items == []


def api_token(name: str = "ci", *, scope: str = "admin", at: float = T0) -> ApiToken:
    return ApiToken(
        id=new_id("tok"),
        name=name,
        token_hash=hashlib.sha256(new_id("secret").encode()).digest(),
        scope=scope,
        created_at=at,
    )


async def test_api_tokens_are_found_by_hash_listed_and_revoked_once(store: Store) -> None:
    app = await make_app(store)
    admin = await store.add_api_token(api_token("admin", at=T0 + 1))
    scoped = await store.add_api_token(api_token("acme", scope=app.id, at=T0))
    assert await store.find_api_token(admin.token_hash) == admin
    assert (await store.find_api_token(scoped.token_hash)).scope == app.id
    assert await store.list_api_tokens() == [scoped, admin]  # oldest first
    with pytest.raises(NotFoundError):
        await store.find_api_token(hashlib.sha256(b"unknown").digest())
    duplicate = api_token("copy")
    duplicate.token_hash = admin.token_hash
    with pytest.raises(DuplicateError):
        await store.add_api_token(duplicate)
    assert len(await store.list_api_tokens()) == 2
    revoked = await store.revoke_api_token(admin.id, now=T0 + 50)
    assert revoked.revoked_at == T0 + 50
    assert (await store.revoke_api_token(admin.id, now=T0 + 99)).revoked_at == T0 + 50
    found = await store.find_api_token(admin.token_hash)  # revoked tokens are still found
    assert found.revoked_at == T0 + 50
    assert found.token_hash == admin.token_hash
    assert (await store.find_api_token(scoped.token_hash)).revoked_at is None
    with pytest.raises(NotFoundError):
        await store.revoke_api_token("tok_missing", now=T0)


async def test_event_types_are_upserted_per_application(store: Store) -> None:
    app, other = await make_app(store), await make_app(store, "other")
    paid = await store.put_event_type(EventType(app_id=app.id, name="invoice.paid", created_at=T0))
    created = EventType(app_id=app.id, name="customer.created", created_at=T0, description="A new customer")
    await store.put_event_type(created)
    await store.put_event_type(EventType(app_id=other.id, name="invoice.paid", created_at=T0))
    assert await store.list_event_types(app.id) == [created, paid]  # by name
    replaced = EventType(
        app_id=app.id, name="invoice.paid", created_at=T0 + 5, description="Paid in full", archived=True
    )
    assert await store.put_event_type(replaced) == replaced
    assert await store.list_event_types(app.id) == [created, replaced]
    (theirs,) = await store.list_event_types(other.id)
    assert theirs.description == ""
    assert theirs.archived is False
    assert await store.list_event_types("app_missing") == []
    with pytest.raises(NotFoundError):
        await store.put_event_type(EventType(app_id="app_missing", name="x", created_at=T0))


def source(name: str, *, at: float = T0, sealed: bytes = b"\x00sealed") -> InboundSourceRecord:
    return InboundSourceRecord(
        id=new_id("src"), name=name, config_sealed=sealed, created_at=at, updated_at=at
    )


async def test_sources_are_replaced_by_id_with_unique_names(store: Store) -> None:
    stripe = await store.put_source(source("stripe"))
    github = await store.put_source(source("github"))
    assert await store.get_source(stripe.id) == stripe
    assert await store.list_sources() == [github, stripe]  # by name
    changed = InboundSourceRecord(
        id=stripe.id, name="stripe-live", config_sealed=b"new", created_at=T0, updated_at=T0 + 1
    )
    assert await store.put_source(changed) == changed
    assert await store.get_source(stripe.id) == changed
    assert await store.list_sources() == [github, changed]
    with pytest.raises(DuplicateError):
        await store.put_source(source("github"))  # another id with a taken name
    assert await store.list_sources() == [github, changed]
    await store.put_source(source("stripe"))  # the old name is free again
    await store.delete_source(github.id)
    assert [s.name for s in await store.list_sources()] == ["stripe", "stripe-live"]
    with pytest.raises(NotFoundError):
        await store.get_source(github.id)
    with pytest.raises(NotFoundError):
        await store.delete_source(github.id)


async def test_count_due_counts_due_retryable_work_and_expired_leases(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    assert await store.count_due(now=T0) == 0
    for i in range(6):
        await publish_at(store, app, T0 + i)
    assert await store.count_due(now=T0 - 1) == 0
    assert await store.count_due(now=T0 + 2) == 3  # pending, due at T0, T0+1, T0+2
    assert await store.count_due(now=T0 + 10) == 6
    claims = await store.claim("w", 4, now=T0 + 10, lease_s=30)  # leased until T0+40
    assert await store.count_due(now=T0 + 10) == 2
    await store.complete([result(claims[0].delivery.id, "w", DeliveryStatus.DELIVERED, at=T0 + 11)])
    await store.complete([result(claims[1].delivery.id, "w", DeliveryStatus.DEAD, at=T0 + 11, code=500)])
    await store.complete([result(claims[2].delivery.id, "w", DeliveryStatus.FAILED, at=T0 + 20, code=500)])
    assert await store.count_due(now=T0 + 19) == 2
    assert await store.count_due(now=T0 + 20) == 3  # the failed one is due again
    assert await store.count_due(now=T0 + 39) == 3
    assert await store.count_due(now=T0 + 40) == 4  # the fourth claim's lease expired


async def test_reseal_covers_inbound_sources(store: Store) -> None:
    from hookgate.models import InboundSourceRecord

    await store.put_source(InboundSourceRecord("src_1", "stripe", b"sealed-1", T0, T0))
    seen: list[tuple[str, str]] = []

    def fn(kind: str, record_id: str, blob: bytes) -> bytes:
        seen.append((kind, record_id))
        return blob + b"!" if kind == "source" else blob

    assert await store.reseal(fn) == 1
    assert ("source", "src_1") in seen
    assert (await store.get_source("src_1")).config_sealed == b"sealed-1!"


async def test_list_messages_filters_by_delivery_status(store: Store) -> None:
    app, other = await make_app(store), await make_app(store, "other")
    await make_endpoint(store, app)
    await make_endpoint(store, app)
    await make_endpoint(store, other)
    msgs = [await publish_at(store, app, T0 + i) for i in range(6)]
    typed = await publish_at(store, app, T0 + 6, "user.created")
    theirs = await publish_at(store, other, T0 + 7)
    # per message, the outcomes of its two deliveries (None: left in flight, "release": back to pending)
    plan: dict[str, tuple[DeliveryStatus | str | None, ...]] = {
        msgs[0].id: (DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED),
        msgs[1].id: (DeliveryStatus.FAILED, DeliveryStatus.DELIVERED),
        msgs[2].id: (DeliveryStatus.DEAD, DeliveryStatus.FAILED),
        msgs[3].id: ("release", "release"),
        msgs[4].id: (DeliveryStatus.FAILED, DeliveryStatus.FAILED),
        msgs[5].id: (None, None),
        typed.id: (DeliveryStatus.FAILED, DeliveryStatus.DELIVERED),
        theirs.id: (DeliveryStatus.FAILED,),
    }
    at = T0 + 20
    claims = await store.claim("w", 100, now=at, lease_s=60)
    assert len(claims) == 15
    seen: dict[str, int] = {}
    results, released = [], []
    for claim in claims:
        n = seen.get(claim.message.id, 0)
        seen[claim.message.id] = n + 1
        outcome = plan[claim.message.id][n]
        if outcome == "release":
            released.append(claim.delivery.id)
        elif isinstance(outcome, DeliveryStatus):
            code = 200 if outcome is DeliveryStatus.DELIVERED else 500
            results.append(result(claim.delivery.id, "w", outcome, at=at + 100, code=code))
    assert await store.complete(results) == len(results)
    assert await store.release("w", released, now=at) == 2

    def ids(page: Page[Message]) -> list[str]:
        return [m.id for m in page.items]

    failed = [typed.id, msgs[4].id, msgs[2].id, msgs[1].id]  # newest first
    assert ids(await store.list_messages(app.id, status=DeliveryStatus.FAILED)) == failed
    pages = await walk(lambda c: store.list_messages(app.id, status=DeliveryStatus.FAILED, cursor=c, limit=3))
    assert [[m.id for m in p] for p in pages] == [failed[:3], failed[3:]]
    delivered = await store.list_messages(app.id, status=DeliveryStatus.DELIVERED)
    assert ids(delivered) == [typed.id, msgs[1].id, msgs[0].id]
    assert ids(await store.list_messages(app.id, status=DeliveryStatus.DEAD)) == [msgs[2].id]
    assert ids(await store.list_messages(app.id, status=DeliveryStatus.PENDING)) == [msgs[3].id]
    assert ids(await store.list_messages(app.id, status=DeliveryStatus.IN_FLIGHT)) == [msgs[5].id]
    # combined with the other filters
    by_type = await store.list_messages(app.id, event_type="invoice.paid", status=DeliveryStatus.FAILED)
    assert ids(by_type) == failed[1:]
    only_typed = await store.list_messages(app.id, event_type="user.created", status=DeliveryStatus.DEAD)
    assert ids(only_typed) == []
    ranged = await store.list_messages(app.id, since=T0 + 2, until=T0 + 6, status=DeliveryStatus.FAILED)
    assert ids(ranged) == [msgs[4].id, msgs[2].id]
    # no status: every message, as before; tenants never mix
    assert ids(await store.list_messages(app.id)) == newest_first([*msgs, typed])
    assert ids(await store.list_messages(other.id, status=DeliveryStatus.FAILED)) == [theirs.id]
    assert ids(await store.list_messages(other.id, status=DeliveryStatus.DELIVERED)) == []


async def test_list_message_attempts_newest_first_across_deliveries(store: Store) -> None:
    app = await make_app(store)
    for _ in range(3):
        await make_endpoint(store, app)
    mine = await publish_at(store, app, T0)
    theirs = await publish_at(store, app, T0 + 1)
    # two rounds of failures, then success: 3 deliveries x 3 attempts per message, interleaved by id
    for round_ in range(3):
        at = T0 + 10 * (round_ + 1)
        status = DeliveryStatus.DELIVERED if round_ == 2 else DeliveryStatus.FAILED
        for claim in await store.claim("w", 100, now=at, lease_s=5):
            await store.complete(
                [result(claim.delivery.id, "w", status, at=at, code=200 if round_ == 2 else 500)]
            )
    pages: list[list[Attempt]] = await walk(lambda c: store.list_message_attempts(mine.id, cursor=c, limit=4))
    assert [len(p) for p in pages] == [4, 4, 1]
    attempts = [a for p in pages for a in p]
    ids = [a.id for a in attempts]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids, key=lambda i: i or 0, reverse=True)
    assert len(set(ids)) == 9
    deliveries = {d.id for d in await store.list_deliveries(mine.id)}
    assert len(deliveries) == 3
    assert {a.delivery_id for a in attempts} == deliveries
    expected = sorted(
        [a for d in deliveries for a in await store.list_attempts(d)], key=lambda a: a.id or 0, reverse=True
    )
    assert attempts == expected
    assert [a.status_code for a in attempts[:3]] == [200, 200, 200]
    assert attempts[-1].status_code == 500
    whole = await store.list_message_attempts(mine.id, limit=9)
    assert whole.next_cursor is None
    assert whole.items == attempts
    other = await store.list_message_attempts(theirs.id, limit=1000)
    assert len(other.items) == 9
    assert not {a.id for a in other.items} & set(ids)
    assert (await store.list_message_attempts("msg_missing")).items == []


async def test_list_message_attempts_rejects_invalid_cursors_and_limits(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    msg = await publish_at(store, app, T0)
    for i in range(2):
        await publish_at(store, app, T0 + 1 + i)
    messages_cursor = (await store.list_messages(app.id, limit=1)).next_cursor
    assert messages_cursor is not None
    forged = [
        "",
        "not a cursor",
        "%%%%",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps(["att", -1]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["att", 1.5]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["att", True]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["att", 2**63]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["att", 1, 2]).encode()).decode(),
        messages_cursor,  # a cursor of another listing
    ]
    for cursor in forged:
        with pytest.raises(InvalidQueryError, match="invalid cursor"):
            await store.list_message_attempts(msg.id, cursor=cursor)
    for limit in (0, -1, 1001, True):
        with pytest.raises(InvalidQueryError):
            await store.list_message_attempts(msg.id, limit=limit)


async def test_a_taken_application_id_is_a_duplicate(store: Store) -> None:
    first = await store.create_application(Application(id="app_taken", name="first", created_at=T0))
    with pytest.raises(DuplicateError):
        await store.create_application(Application(id="app_taken", name="second", created_at=T0 + 1))
    assert await store.get_application("app_taken") == first


async def test_rename_application(store: Store) -> None:
    app = await make_app(store)
    renamed = await store.rename_application(app.id, "new name")
    assert (renamed.id, renamed.name, renamed.created_at) == (app.id, "new name", app.created_at)
    assert (await store.get_application(app.id)).name == "new name"
    with pytest.raises(NotFoundError):
        await store.rename_application("app_missing", "x")


# -- field-scoped, version-checked endpoint writes (no lost updates) -------------------------------------


async def test_a_write_from_an_earlier_read_cannot_undo_a_disable(store: Store) -> None:
    """The race of issue 10 item 9: an operator reads the endpoint, a worker disables it (410 Gone), then
    the operator writes back what they read with one setting changed. The disable must survive: the stale
    write is refused (`ConflictError`), and a write over the current version changes configuration only."""
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    stale = await store.get_endpoint(endpoint.id)  # the operator's read
    await store.set_endpoint_enabled(endpoint.id, False, reason="the endpoint answered 410 Gone", now=T0 + 1)
    stale.config = replace(stale.config, policy=replace(stale.config.policy, timeout_s=5.0))
    with pytest.raises(ConflictError):
        await store.update_endpoint(stale)
    current = await store.get_endpoint(endpoint.id)
    assert (current.enabled, current.disabled_reason) == (False, "the endpoint answered 410 Gone")
    assert current.config.policy.timeout_s == endpoint.config.policy.timeout_s
    assert current.version > stale.version

    # read again and write: the change applies; what the record says about enablement, health, owner,
    # scheme and creation is not the writer's to change and stays as stored
    await store.mark_endpoint_health(endpoint.id, False, T0 + 2)
    fresh = await store.get_endpoint(endpoint.id)
    fresh.config = replace(fresh.config, policy=replace(fresh.config.policy, timeout_s=5.0))
    fresh.config = replace(fresh.config, url="https://receiver.example.test/v2")
    fresh.enabled, fresh.disabled_reason, fresh.failing_since = True, None, None
    fresh.config = replace(fresh.config, scheme="github")
    fresh.created_at = T0 + 99
    fresh.updated_at = T0 + 3
    saved = await store.update_endpoint(fresh)
    for found in (saved, await store.get_endpoint(endpoint.id)):
        assert (found.config.policy.timeout_s, found.config.url, found.updated_at) == (
            5.0,
            "https://receiver.example.test/v2",
            T0 + 3,
        )
        assert (found.enabled, found.disabled_reason) == (False, "the endpoint answered 410 Gone")
        assert found.failing_since == T0 + 2
        assert (found.config.scheme, found.created_at, found.app_id) == (endpoint.config.scheme, T0, app.id)
        assert found.version == fresh.version + 1
    # the same copy cannot be written twice, and a missing endpoint is not found
    with pytest.raises(ConflictError):
        await store.update_endpoint(fresh)
    fresh.id = "ep_missing"
    with pytest.raises(NotFoundError):
        await store.update_endpoint(fresh)


async def test_a_worker_disables_only_the_endpoint_version_it_delivered_to(store: Store) -> None:
    """The worker's 410 and failing-too-long disables carry the version it claimed the delivery with: after
    an operator changed the endpoint (a new URL) or enabled it again, the stale verdict is not applied."""
    app = await make_app(store)
    endpoint = await make_endpoint(store, app)
    claimed = await store.get_endpoint(endpoint.id)
    edited = await store.get_endpoint(endpoint.id)
    edited.config = replace(edited.config, url="https://receiver.example.test/fixed")
    await store.update_endpoint(edited)
    pending = (await store.publish(message(app), now=T0)).deliveries[0]
    disabled = await store.set_endpoint_enabled(
        endpoint.id, False, reason="410", now=T0 + 1, expected_version=claimed.version
    )
    assert disabled is False
    current = await store.get_endpoint(endpoint.id)
    assert (current.enabled, current.disabled_reason) == (True, None)
    assert (await store.get_delivery(pending.id)).status is DeliveryStatus.PENDING  # nothing killed
    # against the current version it applies; enabling again bumps the version, so an older verdict fails
    assert await store.set_endpoint_enabled(
        endpoint.id, False, reason="410", now=T0 + 2, expected_version=current.version
    )
    assert (await store.get_delivery(pending.id)).status is DeliveryStatus.DEAD
    assert await store.set_endpoint_enabled(endpoint.id, True, reason=None, now=T0 + 3)
    assert not await store.set_endpoint_enabled(
        endpoint.id, False, reason="410", now=T0 + 4, expected_version=current.version + 1
    )
    assert (await store.get_endpoint(endpoint.id)).enabled
    with pytest.raises(NotFoundError):
        await store.set_endpoint_enabled("ep_missing", False, reason="x", now=T0, expected_version=0)
    with pytest.raises(NotFoundError):
        await store.set_endpoint_enabled("ep_missing", True, reason=None, now=T0)


async def test_reseal_makes_an_earlier_read_stale(store: Store) -> None:
    """A write of secrets read before a master key rotation would put back a blob under the old key."""
    app = await make_app(store)
    endpoint = await make_endpoint(store, app, secrets_sealed=b"\x01old")
    before = await store.get_endpoint(endpoint.id)
    assert await store.reseal(lambda kind, record_id, blob: b"\x02" + blob) == 1
    before.config = replace(before.config, policy=replace(before.config.policy, timeout_s=3.0))
    with pytest.raises(ConflictError):
        await store.update_endpoint(before)
    assert (await store.get_endpoint(endpoint.id)).secrets_sealed == b"\x02\x01old"


async def test_replacing_a_source_keeps_its_creation_time(store: Store) -> None:
    created = await store.put_source(source("stripe"))
    replaced = InboundSourceRecord(
        id=created.id, name="stripe", config_sealed=b"new", created_at=T0 + 50, updated_at=T0 + 60
    )
    saved = await store.put_source(replaced)
    for found in (saved, await store.get_source(created.id)):
        assert (found.config_sealed, found.updated_at, found.created_at) == (
            b"new",
            T0 + 60,
            created.created_at,
        )
