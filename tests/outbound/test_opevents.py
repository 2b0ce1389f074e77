"""Operational events end to end, on SQLite and PostgreSQL: real deliveries to loopback receivers that fail,
recover or are gone; the events reach an operator endpoint (a real receiver) through hookgate's own engine
and are verified there with the reference `standardwebhooks` library; an application's own endpoint gets
its ``hookgate.endpoint.disabled``; an always-failing operator endpoint causes no events about itself; a
refusal spike from real refused inbound requests; a log line and a Prometheus count per event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from hookgate.api.app import create_app
from hookgate.api.inbound import InboundRouter
from hookgate.api.metrics import Metrics
from hookgate.client import Hookgate
from hookgate.config import Settings
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, StoreError
from hookgate.models import Message
from hookgate.outbound.opevents import OPS_APP_ID
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.memory import MemoryStore
from hookgate.store.postgres import PostgresStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordedRequest, RecordingReceiver, Reply, capture_logs
from tests.api.test_inbound import SOURCE
from tests.inbound._peers import github_headers
from tests.support import MakeReceiver, postgres_dsn

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])
MASTER = {"k1": os.urandom(32)}
SETTINGS = Settings(
    opevents_failing_after=2, opevents_refusal_threshold=3, opevents_refusal_window_seconds=60
)


@pytest.fixture(params=["sqlite", "postgres"])
async def hg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hookgate]:
    if request.param == "sqlite":
        store = await SQLiteStore.open(tmp_path / "hg.db")
        engine = Hookgate(store, SecretBox(MASTER), settings=SETTINGS)
        yield engine
        await engine.close()
    else:
        async for dsn in postgres_dsn():
            engine = Hookgate(await PostgresStore.open(dsn), SecretBox(MASTER), settings=SETTINGS)
            yield engine
            await engine.close()


@pytest.fixture
def capture() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


@contextlib.asynccontextmanager
async def working(hg: Hookgate) -> AsyncIterator[None]:
    worker = hg.worker(address_policy=LOOPBACK, idle_poll_s=0.05)
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task
        await worker.close()


async def deliver(hg: Hookgate) -> None:
    worker = hg.worker(address_policy=LOOPBACK)
    try:
        await worker.run_until_idle(timeout=30)
    finally:
        await worker.close()


async def wait_events(receiver: RecordingReceiver, n: int) -> None:
    try:
        await receiver.wait_for_async(n)
    except TimeoutError:
        got = sorted(json.loads(r.body)["type"] for r in receiver.requests)
        raise AssertionError(f"{n} events expected, got {got}") from None


def verified(secret: str, requests: list[RecordedRequest]) -> list[dict[str, Any]]:
    """Each request's body, after the reference library accepted its signature (it raises otherwise)."""
    out = []
    for request in requests:
        body = Webhook(secret).verify(request.body, dict(request.headers))
        assert isinstance(body, dict)
        out.append(body)
    return out


async def test_the_engines_events_reach_a_verifying_operator_endpoint(
    hg: Hookgate, receivers: MakeReceiver, capture: contextlib.ExitStack
) -> None:
    metrics = Metrics()
    hg.opevents.observers.append(metrics.observe_opevent)
    logs = capture.enter_context(capture_logs())
    ops_receiver = receivers(200)
    ops = await hg.create_endpoint(OPS_APP_ID, ops_receiver.url, allow_insecure=True)
    assert ops.secret is not None
    app = await hg.create_application("shop")
    flaky_receiver = receivers(Reply(500))
    gone_receiver = receivers(Reply(410))
    own_receiver = receivers(200)
    # the application's own endpoint, subscribed to the reserved namespace's event by name
    own = await hg.create_endpoint(
        app.id, own_receiver.url, allow_insecure=True, event_types=["hookgate.endpoint.disabled"]
    )
    assert own.secret is not None
    # a catch-all endpoint: "every event type" does not include hookgate's own namespace
    flaky = await hg.create_endpoint(
        app.id, flaky_receiver.url, allow_insecure=True, retry_schedule=[0, 0, 0]
    )
    gone = await hg.create_endpoint(app.id, gone_receiver.url, allow_insecure=True, event_types=["gone.*"])
    await hg.update_endpoint(flaky.endpoint.id, timeout_s=5)

    # one long-running worker, as in `hookgate serve`: it counts an endpoint's failures in a row
    async with working(hg):
        failing = await hg.publish(app, "order.created", {"n": 1})
        await flaky_receiver.wait_for_async(3)  # 3 failed attempts: failing after 2, then dead
        flaky_receiver.respond = Reply(200)
        # to both: the catch-all recovers, the other answers 410 (the worker disables it)
        recovered = await hg.publish(app, "gone.event", {"n": 2})
        await flaky_receiver.wait_for_async(4)
        await gone_receiver.wait_for_async(1)
        await hg.disable_endpoint(flaky.endpoint.id, reason="maintenance")
        await hg.enable_endpoint(flaky.endpoint.id)
        await hg.delete_endpoint(gone.endpoint.id)
        # created x3, updated, failing, exhausted x2, disabled x2, recovered, enabled, deleted
        await wait_events(ops_receiver, 12)
        await own_receiver.wait_for_async(2)

    events = verified(ops.secret, ops_receiver.requests)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    assert sorted(by_type) == [
        "endpoint.created",
        "endpoint.deleted",
        "endpoint.disabled",
        "endpoint.enabled",
        "endpoint.updated",
        "message.attempt.exhausted",
        "message.attempt.failing",
        "message.attempt.recovered",
    ]
    assert {d["endpoint_id"] for d in by_type["endpoint.created"]} == {
        own.endpoint.id,
        flaky.endpoint.id,
        gone.endpoint.id,
    }  # not the operator endpoint itself
    [exhausted] = [d for d in by_type["message.attempt.exhausted"] if d["endpoint_id"] == flaky.endpoint.id]
    assert exhausted["message_id"] == failing.message.id
    assert (exhausted["attempts"], exhausted["status_code"]) == (3, 500)
    [going] = by_type["message.attempt.failing"]
    assert (going["endpoint_id"], going["consecutive_failures"], going["app_id"]) == (
        flaky.endpoint.id,
        2,
        app.id,
    )
    [back] = by_type["message.attempt.recovered"]
    assert (back["endpoint_id"], back["message_id"], back["failures"]) == (
        flaky.endpoint.id,
        recovered.message.id,
        3,
    )
    disabled = {(d["endpoint_id"], d["by"]) for d in by_type["endpoint.disabled"]}
    assert disabled == {(gone.endpoint.id, "worker"), (flaky.endpoint.id, "operator")}
    assert [d["endpoint_id"] for d in by_type["endpoint.enabled"]] == [flaky.endpoint.id]
    assert [d["endpoint_id"] for d in by_type["endpoint.deleted"]] == [gone.endpoint.id]
    # no body carries a URL or a secret
    assert ops_receiver.url.split("/hook")[0] not in json.dumps(events)
    assert flaky.secret is not None
    assert flaky.secret not in json.dumps(events)

    # the application's own endpoint got exactly what it subscribed to, signed with its own secret
    own_events = verified(own.secret, own_receiver.requests)
    assert sorted((e["type"], e["data"]["endpoint_id"]) for e in own_events) == sorted(
        [("endpoint.disabled", gone.endpoint.id), ("endpoint.disabled", flaky.endpoint.id)]
    )
    assert {r.headers["webhook-id"] for r in own_receiver.requests}  # delivered as ordinary messages
    # the catch-all endpoint never saw hookgate's namespace
    assert {json.loads(r.body)["n"] for r in flaky_receiver.requests} == {1, 2}

    # a log line and a count per event
    logged = [e for e in logs if e.get("event") == "opevent"]
    assert sorted({e["type"] for e in logged}) == sorted(by_type)
    text = metrics.render().decode()
    for event_type in by_type:
        assert f'hookgate_operational_events_total{{published="true",type="{event_type}"}}' in text


async def test_an_always_failing_operator_endpoint_causes_no_events_about_itself(
    hg: Hookgate, receivers: MakeReceiver
) -> None:
    ops_receiver = receivers(Reply(500))
    ops = await hg.create_endpoint(OPS_APP_ID, ops_receiver.url, allow_insecure=True, retry_schedule=[0, 0])
    app = await hg.create_application("shop")
    down = receivers(Reply(503))
    await hg.create_endpoint(app.id, down.url, allow_insecure=True, retry_schedule=[0, 0])
    before = await hg.list_messages(OPS_APP_ID, limit=100)
    with capture_logs() as logs:
        await hg.publish(app, "order.created", {"n": 1})
        await deliver(hg)
        await deliver(hg)  # nothing new appears once the operator endpoint's deliveries are dead
    after = await hg.list_messages(OPS_APP_ID, limit=100)
    new = [m for m in after.items if m.id not in {b.id for b in before.items}]
    # the application endpoint's failing (after 2 attempts) and its dead delivery; nothing about ops
    assert sorted(m.event_type for m in new) == ["message.attempt.exhausted", "message.attempt.failing"]
    assert all(ops.endpoint.id not in m.payload.decode() for m in after.items)
    # the operator endpoint's own failing and dead deliveries were logged and counted, not published
    quiet = [e for e in logs if e.get("event") == "opevent" and e.get("endpoint_id") == ops.endpoint.id]
    assert {e["type"] for e in quiet} == {"message.attempt.failing", "message.attempt.exhausted"}
    assert not any(e["published"] for e in quiet)
    # bounded: three operational messages (the endpoint created, failing, dead), at most two attempts each
    assert 0 < ops_receiver.count <= 3 * 2


async def test_hookgate_namespace_and_operator_application_are_reserved(hg: Hookgate) -> None:
    app = await hg.create_application("shop")
    with pytest.raises(ConfigError, match="reserved"):
        await hg.publish(app, "hookgate.endpoint.disabled", {})
    await hg.get_application(OPS_APP_ID)  # created on first use
    with pytest.raises(ConfigError, match="operational events"):
        await hg.publish(OPS_APP_ID, "endpoint.disabled", {})


async def test_refused_inbound_requests_spiking_reach_the_operator(
    hg: Hookgate, receivers: MakeReceiver
) -> None:
    metrics = Metrics()
    hg.opevents.observers.append(metrics.observe_opevent)
    ops_receiver = receivers(200)
    ops = await hg.create_endpoint(OPS_APP_ID, ops_receiver.url, allow_insecure=True)
    assert ops.secret is not None
    await hg.create_source("github", {k: v for k, v in SOURCE.items() if k != "name"})
    router = InboundRouter(create_app(hg, metrics=metrics), hg, refresh_s=0.0)
    try:
        transport = httpx.ASGITransport(app=router)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for n in range(5):  # a threshold of 3 in 60 s: one spike, not one per refusal
                answer = await client.post(
                    "/inbound/github", content=b"forged", headers=github_headers(f"d{n}")
                )
                assert answer.status_code == 401
    finally:
        await router.close()  # the decisions are written (and watched) off the request path
    await deliver(hg)
    # (setting up the source's forwarding endpoint told the operator too: endpoint.created/updated)
    [event] = [e for e in verified(ops.secret, ops_receiver.requests) if e["type"].startswith("source.")]
    assert event["type"] == "source.refusals.spiking"
    assert event["data"] == {"source": "github", "refusals": 3, "threshold": 3, "window_s": 60.0}
    assert abs(event["timestamp"] - time.time()) < 3600
    text = metrics.render().decode()
    assert 'hookgate_operational_events_total{published="true",type="source.refusals.spiking"} 1.0' in text


class _NoPublishStore(MemoryStore):
    """A store whose publishing fails (a database outage as the event is written), all else working."""

    async def publish_many(self, messages: Sequence[Message], *, now: float) -> list[Any]:
        raise StoreError("the database went away")


async def test_a_store_error_while_telling_never_fails_the_callers_write(receivers: MakeReceiver) -> None:
    hg = Hookgate(_NoPublishStore(), SecretBox(MASTER), settings=SETTINGS)
    try:
        await hg.create_endpoint(OPS_APP_ID, receivers(200).url, allow_insecure=True)
        app = await hg.create_application("shop")
        with capture_logs() as logs:
            created = await hg.create_endpoint(app.id, "https://example.com/hook")
            await hg.disable_endpoint(created.endpoint.id)
        assert (await hg.get_endpoint(created.endpoint.id)).enabled is False
        assert [e["event"] for e in logs if e["event"].startswith("opevents.")] == [
            "opevents.publish_failed",
            "opevents.publish_failed",
        ]
        # the engine's queue keeps what it could not write, for the next flush
        hg.opevents.emit(hg.opevents.event("message.attempt.failing", {"endpoint_id": "ep_x"}))
        assert await hg.opevents.flush() is False
        assert await hg.opevents.flush() is False  # still there: written once the store answers
    finally:
        await hg.close()
