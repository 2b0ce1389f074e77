"""The delivery worker end to end: a real `Hookgate` engine and store, real aiohttp receivers on loopback.

Every test publishes through the public API, runs a `Worker` against receivers that record what reached them,
and checks both sides: what the receiver saw (headers, signatures, timing) and what the store recorded
(delivery status, attempt log, endpoint state).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
import trustme
from standardwebhooks import Webhook

from hookgate.client import Hookgate, NewEndpoint
from hookgate.crypto import SecretBox
from hookgate.errors import ConfigError, DeliveryError, StoreError
from hookgate.models import Application, Attempt, Delivery, DeliveryStatus, SigningKey
from hookgate.outbound import delivery as delivery_module
from hookgate.outbound.transport import Transport
from hookgate.outbound.worker import Worker
from hookgate.policy.circuit import CircuitBreaker
from hookgate.policy.ssrf import AddressPolicy
from hookgate.store.base import AttemptResult, Claim
from hookgate.store.memory import MemoryStore
from hookgate.store.sqlite import SQLiteStore
from hookgate.testing import RecordingReceiver, Reply, Respond
from tests.support import MakeReceiver

LOOPBACK = AddressPolicy(allow=["127.0.0.0/8"])
MASTER = {"k1": b"\x01" * 32}
DEADLINE_S = 10.0


# -- receivers -----------------------------------------------------------------------------------------


def url_at(receiver: RecordingReceiver, path: str = "/hook", *, host: str = "127.0.0.1") -> str:
    """The receiver's URL at ``path``, through another name for 127.0.0.1 when ``host`` says."""
    scheme = receiver.base_url.split(":", 1)[0]
    return f"{scheme}://{host}:{receiver.port}{path}"


Serve = Callable[..., Awaitable[RecordingReceiver]]


@pytest.fixture
def serve(receivers: MakeReceiver) -> Serve:
    """Start a `RecordingReceiver` on 127.0.0.1 (port 0): ``await serve(respond, ssl_context=...)``."""

    async def start(respond: Respond = 200, ssl_context: ssl.SSLContext | None = None) -> RecordingReceiver:
        return receivers(respond, ssl_context=ssl_context)

    return start


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


# -- the engine ----------------------------------------------------------------------------------------


@pytest.fixture
async def hg() -> AsyncIterator[Hookgate]:
    engine = Hookgate(MemoryStore(), SecretBox(MASTER))
    yield engine
    await engine.close()


@pytest.fixture(params=["memory", "sqlite"])
async def any_hg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Hookgate]:
    """The engine on each embedded store."""
    store = MemoryStore() if request.param == "memory" else await SQLiteStore.open(tmp_path / "db")
    engine = Hookgate(store, SecretBox(MASTER))
    yield engine
    await engine.close()


@pytest.fixture
async def app(hg: Hookgate) -> Application:
    return await hg.create_application("shop")


def make_worker(hg: Hookgate, **overrides: Any) -> Worker:
    options: dict[str, Any] = {"address_policy": LOOPBACK, "idle_poll_s": 0.1, "shutdown_grace_s": 1.0}
    options.update(overrides)
    return hg.worker(**options)


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """Run the worker in the background; stop it, wait for `run` to return and close it on exit."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        try:
            await asyncio.wait_for(task, 20)
        finally:
            await worker.close()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = DEADLINE_S, what: str = ""
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


async def wait_status(
    hg: Hookgate, delivery_id: str, *statuses: DeliveryStatus, timeout: float = DEADLINE_S
) -> Delivery:
    async def check() -> Delivery | None:
        d = await hg.store.get_delivery(delivery_id)
        return d if d.status in statuses else None

    result: Delivery = await eventually(check, timeout=timeout, what=f"{delivery_id} in {statuses}")
    return result


async def wait_attempts(hg: Hookgate, delivery_id: str, n: int) -> list[Attempt]:
    async def check() -> list[Attempt] | None:
        attempts = await hg.store.list_attempts(delivery_id)
        return attempts if len(attempts) >= n else None

    result: list[Attempt] = await eventually(check, what=f"{n} attempts of {delivery_id}")
    return result


async def add_endpoint(hg: Hookgate, app: Application, url: str, **options: Any) -> NewEndpoint:
    options.setdefault("allow_insecure", url.startswith("http://"))
    return await hg.create_endpoint(app.id, url, **options)


def only(deliveries: tuple[Delivery, ...]) -> Delivery:
    assert len(deliveries) == 1
    return deliveries[0]


# -- 1. fan-out, signatures, headers -------------------------------------------------------------------


async def test_fan_out_reaches_exactly_the_subscribed_endpoints_signed(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    exact, wildcard, other = await serve(), await serve(), await serve()
    ep_exact = await add_endpoint(
        hg, app, exact.url, event_types=["order.created"], headers={"X-Tenant": "acme"}
    )
    ep_wild = await add_endpoint(hg, app, wildcard.url, event_types=["order.*"])
    ep_other = await add_endpoint(hg, app, other.url, event_types=["user.created"])

    result = await hg.publish(app, "order.created", {"order": 42, "note": "ünïcode"})
    assert {d.endpoint_id for d in result.deliveries} == {ep_exact.endpoint.id, ep_wild.endpoint.id}
    assert ep_other.endpoint.id not in {d.endpoint_id for d in result.deliveries}

    worker = make_worker(hg)
    async with running(worker):
        for d in result.deliveries:
            await wait_status(hg, d.id, DeliveryStatus.DELIVERED)

    assert exact.count == 1
    assert wildcard.count == 1
    assert other.count == 0
    for receiver, new in ((exact, ep_exact), (wildcard, ep_wild)):
        seen = receiver.requests[0]
        assert new.secret is not None
        assert new.secret.startswith("whsec_")
        assert Webhook(new.secret).verify(seen.body, seen.headers) == {"order": 42, "note": "ünïcode"}
        assert seen.headers["webhook-id"] == result.message.id
        assert seen.headers["user-agent"].startswith("hookgate/")
        assert seen.headers["content-type"].startswith("application/json")
        assert seen.path == "/hook"
        # the other endpoint's secret must not verify this endpoint's request
        wrong = ep_wild if new is ep_exact else ep_exact
        assert wrong.secret is not None
        with pytest.raises(Exception, match="signature"):
            Webhook(wrong.secret).verify(seen.body, seen.headers)
    assert exact.requests[0].headers["x-tenant"] == "acme"
    assert "x-tenant" not in wildcard.requests[0].headers
    assert worker.stats.delivered == 2
    assert worker.stats.attempts == 2


# -- 2. retries ----------------------------------------------------------------------------------------


async def test_retries_until_success_with_a_stable_webhook_id(any_hg: Hookgate, serve: Serve) -> None:
    engine = any_hg
    application = await engine.create_application("shop")
    receiver = await serve([500, 500, 200])
    new = await add_endpoint(engine, application, receiver.url, retry_schedule=[0, 0.2, 0.2])
    result = await engine.publish(application, "order.created", {"n": 1})
    delivery = only(result.deliveries)

    async with running(make_worker(engine)):
        done = await wait_status(engine, delivery.id, DeliveryStatus.DELIVERED)

    attempts = await engine.store.list_attempts(delivery.id)
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert done.attempts == 3
    assert receiver.count == 3
    assert {s.headers["webhook-id"] for s in receiver.requests} == {result.message.id}
    assert new.secret is not None
    for seen in receiver.requests:
        Webhook(new.secret).verify(seen.body, seen.headers)


# -- 3. Retry-After ------------------------------------------------------------------------------------


async def test_retry_after_is_honoured(hg: Hookgate, app: Application, serve: Serve) -> None:
    receiver = await serve([Reply(429, headers={"Retry-After": "2"}), 200])
    await add_endpoint(hg, app, receiver.url, retry_schedule=[0, 0.1, 0.1])
    delivery = only((await hg.publish(app, "order.created", {})).deliveries)

    async with running(make_worker(hg)):
        await wait_status(hg, delivery.id, DeliveryStatus.DELIVERED)

    assert receiver.count == 2
    assert receiver.requests[1].at - receiver.requests[0].at >= 1.9
    attempts = await hg.store.list_attempts(delivery.id)
    assert [a.status_code for a in attempts] == [429, 200]


# -- 4. 410 Gone ---------------------------------------------------------------------------------------


async def test_410_disables_the_endpoint(hg: Hookgate, app: Application, serve: Serve) -> None:
    receiver = await serve([410])
    new = await add_endpoint(hg, app, receiver.url, retry_schedule=[0, 0.1, 0.1])
    delivery = only((await hg.publish(app, "order.created", {})).deliveries)

    async with running(make_worker(hg)):
        dead = await wait_status(hg, delivery.id, DeliveryStatus.DEAD)

    assert dead.attempts == 1
    endpoint = await hg.store.get_endpoint(new.endpoint.id)
    assert endpoint.enabled is False
    assert endpoint.disabled_reason is not None
    assert "410" in endpoint.disabled_reason
    assert receiver.count == 1

    later = await hg.publish(app, "order.created", {"again": True})
    assert later.deliveries == ()


async def test_a_410_from_before_an_endpoint_change_does_not_disable_it(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    """The operator moves the endpoint to a new URL while a request to the old one is in flight; the old URL
    then answers 410. The verdict is about the old configuration: the moved endpoint stays enabled."""
    release = threading.Event()
    gone = await serve([Reply(410, hold=release)])
    fixed = await serve()
    new = await add_endpoint(hg, app, gone.url, retry_schedule=[0, 0.1])
    first = only((await hg.publish(app, "order.created", {"n": 1})).deliveries)

    async with running(make_worker(hg)):
        await eventually(_arrived(gone, 1), what="the request to the old URL")
        await hg.update_endpoint(new.endpoint.id, url=fixed.url)
        release.set()
        await wait_status(hg, first.id, DeliveryStatus.DEAD)
        endpoint = await hg.store.get_endpoint(new.endpoint.id)
        assert (endpoint.enabled, endpoint.disabled_reason) == (True, None)
        second = only((await hg.publish(app, "order.created", {"n": 2})).deliveries)
        await wait_status(hg, second.id, DeliveryStatus.DELIVERED)
    assert fixed.count == 1


# -- 5. timeout ----------------------------------------------------------------------------------------


async def test_timeout_is_recorded_and_retried(hg: Hookgate, app: Application, serve: Serve) -> None:
    receiver = await serve([Reply(200, delay_s=3.0)])
    await add_endpoint(hg, app, receiver.url, timeout_s=0.5, retry_schedule=[0, 30])
    delivery = only((await hg.publish(app, "order.created", {})).deliveries)

    worker = make_worker(hg)
    async with running(worker):
        attempts = await wait_attempts(hg, delivery.id, 1)
        current = await wait_status(hg, delivery.id, DeliveryStatus.FAILED)

    assert attempts[0].error_class == "timeout"
    assert attempts[0].status_code is None
    assert current.next_attempt_at > time.time() + 10
    assert worker.stats.by_error_class == {"timeout": 1}
    assert worker.stats.failed == 1


# -- 6. exhaustion -------------------------------------------------------------------------------------


async def test_retries_exhausted_makes_the_delivery_dead(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    receiver = await serve([500])
    new = await add_endpoint(hg, app, receiver.url, retry_schedule=[0, 0.1])
    delivery = only((await hg.publish(app, "order.created", {})).deliveries)

    worker = make_worker(hg)
    async with running(worker):
        dead = await wait_status(hg, delivery.id, DeliveryStatus.DEAD)

    attempts = await hg.store.list_attempts(delivery.id)
    assert [a.status_code for a in attempts] == [500, 500]
    assert "exhausted" in attempts[-1].outcome
    assert dead.attempts == 2
    assert receiver.count == 2
    assert worker.stats.dead == 1
    # exhausting one delivery is not a reason to disable the endpoint
    assert (await hg.store.get_endpoint(new.endpoint.id)).enabled is True


# -- 7. circuit breaker --------------------------------------------------------------------------------


async def test_circuit_breaker_stops_requests_and_spares_other_endpoints(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    broken = await serve([500])
    healthy = await serve()
    await add_endpoint(
        hg, app, broken.url, event_types=["order.*"], retry_schedule=[0, 0.1, 0.1, 0.1, 0.1, 0.1]
    )
    await add_endpoint(hg, app, healthy.url, event_types=["user.*"])

    broken_ids: list[str] = []
    healthy_ids: list[str] = []
    for i in range(10):
        broken_ids.append(only((await hg.publish(app, "order.created", {"i": i})).deliveries).id)
        if i % 2 == 0:
            healthy_ids.append(only((await hg.publish(app, "user.created", {"i": i})).deliveries).id)

    # One request at a time, so "after the 3rd failure" is well defined (see the next test for what
    # happens to requests already queued when the circuit opens).
    worker = make_worker(
        hg, concurrency=1, breaker_factory=lambda: CircuitBreaker(failure_threshold=3, reset_timeout=30)
    )
    async with running(worker):
        for delivery_id in healthy_ids:
            await wait_status(hg, delivery_id, DeliveryStatus.DELIVERED)

        async def all_parked() -> bool:
            soon = time.time() + 10
            for delivery_id in broken_ids:
                d = await hg.store.get_delivery(delivery_id)
                if (
                    d.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
                    or d.next_attempt_at < soon
                ):
                    return False
            return True

        await eventually(all_parked, what="every broken delivery deferred behind the open circuit")

    assert broken.count == 3
    assert healthy.count == len(healthy_ids)
    assert worker.stats.deferred >= 7
    assert worker.stats.dead == 0
    attempted = 0
    for delivery_id in broken_ids:
        d = await hg.store.get_delivery(delivery_id)
        assert d.status is not DeliveryStatus.DEAD
        attempted += d.attempts
    assert attempted == 3


async def test_circuit_open_stops_requests_already_waiting_for_an_endpoint_slot(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    """With ``max_concurrency=1`` one endpoint's deliveries queue for its single slot; once three of them
    have failed and the circuit is open, the ones still queued must not be sent.

    Regression: the breaker used to be consulted only before waiting for the slot, so all 10 were sent."""
    broken = await serve([500])
    await add_endpoint(hg, app, broken.url, max_concurrency=1, retry_schedule=[0, 30])
    ids = [only((await hg.publish(app, "order.created", {"i": i})).deliveries).id for i in range(10)]

    worker = make_worker(hg, breaker_factory=lambda: CircuitBreaker(failure_threshold=3, reset_timeout=30))
    async with running(worker):

        async def settled() -> bool:
            statuses = [(await hg.store.get_delivery(i)).status for i in ids]
            return DeliveryStatus.IN_FLIGHT not in statuses and worker.stats.claimed >= 10

        await eventually(settled, what="every delivery attempted or deferred")
    assert broken.count == 3


async def test_circuit_recovers_after_a_probe_answered_with_4xx(
    hg: Hookgate, app: Application, serve: Serve
) -> None:
    """A 4xx answer proves the endpoint is up. Regression: a half-open probe answered with 400 used to
    leave the breaker HALF_OPEN forever, so the worker never sent to the endpoint again."""
    receiver = await serve([500, 400, 200])
    await add_endpoint(hg, app, receiver.url, retry_schedule=[0] + [0.1] * 20)
    delivery = only((await hg.publish(app, "order.created", {})).deliveries)

    worker = make_worker(hg, breaker_factory=lambda: CircuitBreaker(failure_threshold=1, reset_timeout=0.3))
    async with running(worker):
        await eventually(_arrived(receiver, 2), what="the half-open probe")
        # the endpoint answered the probe (400: it is up), then would accept the next request
        await wait_status(hg, delivery.id, DeliveryStatus.DELIVERED, timeout=3)
    assert [a.status_code for a in await hg.store.list_attempts(delivery.id)] == [500, 400, 200]


# -- 8. rate limit -------------------------------------------------------------------------------------


async def test_rate_limit_paces_requests(hg: Hookgate, app: Application, serve: Serve) -> None:
    receiver = await serve()
    await add_endpoint(hg, app, receiver.url, rate_limit_per_s=5)
    ids = [only((await hg.publish(app, "order.created", {"i": i})).deliveries).id for i in range(15)]

    async with running(make_worker(hg)):
        for delivery_id in ids:
            await wait_status(hg, delivery_id, DeliveryStatus.DELIVERED)

    assert receiver.count == 15
    arrivals = sorted(s.at for s in receiver.requests)
    # a full bucket of 5, then 5 per second: the 15th cannot arrive before 10 / 5 = 2 s after the first
    assert arrivals[-1] - arrivals[0] >= 2.0 - 0.15
    # and no window of 1 s ever holds more than burst + rate (+1 for the boundary)
    for i, start in enumerate(arrivals):
        assert sum(1 for t in arrivals[i:] if t - start < 1.0) <= 11


# -- 9. SSRF -------------------------------------------------------------------------------------------


async def test_ssrf_guard_refuses_loopback_targets(hg: Hookgate, app: Application, serve: Serve) -> None:
    receiver = await serve()
    urls = [
        url_at(receiver, "/a"),
        url_at(receiver, "/b", host="localhost"),
        url_at(receiver, "/c", host="[::ffff:127.0.0.1]"),
    ]
    for url in urls:
        await add_endpoint(hg, app, url, retry_schedule=[0])
    result = await hg.publish(app, "order.created", {})
    assert len(result.deliveries) == 3

    worker = make_worker(hg, address_policy=AddressPolicy())
    async with running(worker):
        for d in result.deliveries:
            await wait_status(hg, d.id, DeliveryStatus.DEAD)

    for d in result.deliveries:
        attempts = await hg.store.list_attempts(d.id)
        assert [a.error_class for a in attempts] == ["ssrf"]
        assert attempts[0].status_code is None
    assert receiver.count == 0
    assert worker.stats.by_error_class == {"ssrf": 3}


# -- 10. https only ------------------------------------------------------------------------------------


async def test_plain_http_endpoint_needs_allow_insecure(hg: Hookgate, app: Application) -> None:
    with pytest.raises(ConfigError, match="https"):
        await hg.create_endpoint(app.id, "http://127.0.0.1:9/hook")
    with pytest.raises(ConfigError, match="https"):
        await hg.create_endpoint(app.id, "http://example.com/hook", allow_insecure=False)
    assert await hg.store.list_endpoints(app.id) == []


# -- 11. TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def old_tls_ctx(ca: trustme.CA) -> ssl.SSLContext | None:
    """A server context capped at TLS 1.1, or None when this OpenSSL cannot configure one."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    try:
        with warnings.catch_warnings():
            # Python deprecates naming TLS 1.0/1.1 at all; that is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        return None
    return ctx


class BlockingTLSServer:
    """A minimal TLS server on a thread, using blocking `ssl` sockets.

    Unlike asyncio's TLS server (which drops the connection without flushing OpenSSL's alert when a handshake
    fails), a blocking `ssl.SSLSocket` writes the protocol_version alert to the peer, as nginx or any real
    server would. It counts handshakes that completed: a completed handshake is where a handler would run.
    """

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self.handshakes = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> BlockingTLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                with self._ctx.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (ssl.SSLError, OSError) as exc:
                self.failures.append(type(exc).__name__)
                conn.close()


async def test_https_delivery_and_old_tls_refused(
    hg: Hookgate,
    serve: Serve,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    old_tls_ctx: ssl.SSLContext | None,
) -> None:
    app = await hg.create_application("shop")
    good = await serve(ssl_context=server_ctx)
    old_ctx = old_tls_ctx
    assert old_ctx is not None, "this OpenSSL cannot configure a TLS 1.1 server"
    old_aiohttp = await serve(ssl_context=old_ctx)
    new_good = await add_endpoint(hg, app, good.url, event_types=["good.*"])
    await add_endpoint(hg, app, old_aiohttp.url, event_types=["old.*"], retry_schedule=[0])

    with BlockingTLSServer(old_ctx) as old_blocking:
        await add_endpoint(
            hg,
            app,
            f"https://127.0.0.1:{old_blocking.port}/hook",
            event_types=["older.*"],
            retry_schedule=[0],
        )
        good_delivery = only((await hg.publish(app, "good.created", {"tls": "ok"})).deliveries)
        old_delivery = only((await hg.publish(app, "old.created", {"tls": "old"})).deliveries)
        older_delivery = only((await hg.publish(app, "older.created", {"tls": "old"})).deliveries)

        transport = Transport(address_policy=LOOPBACK, ssl_context=client_ctx)
        try:
            async with running(make_worker(hg, transport=transport)):
                await wait_status(hg, good_delivery.id, DeliveryStatus.DELIVERED)
                await wait_status(hg, old_delivery.id, DeliveryStatus.DEAD)
                await wait_status(hg, older_delivery.id, DeliveryStatus.DEAD)
        finally:
            await transport.close()

    assert good.count == 1
    assert new_good.secret is not None
    assert Webhook(new_good.secret).verify(good.requests[0].body, good.requests[0].headers) == {"tls": "ok"}

    # a server that answers the TLS 1.2+ ClientHello with a protocol_version alert: classified "tls"
    attempts = await hg.store.list_attempts(older_delivery.id)
    assert [a.error_class for a in attempts] == ["tls"]
    assert old_blocking.handshakes == 0
    assert old_blocking.failures

    # aiohttp's own TLS 1.1 server: asyncio aborts the connection without sending the alert, so the client
    # sees a reset during the handshake, classified "tls" all the same; no request reaches the handler
    attempts = await hg.store.list_attempts(old_delivery.id)
    assert len(attempts) == 1
    assert attempts[0].status_code is None
    assert attempts[0].error_class == "tls"
    assert old_aiohttp.count == 0


async def test_transport_refuses_a_client_context_allowing_tls_1_1(client_ctx: ssl.SSLContext) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(DeliveryError):
        Transport(address_policy=LOOPBACK, ssl_context=client_ctx)


# -- 12. graceful shutdown -----------------------------------------------------------------------------


async def test_graceful_stop_releases_in_flight_work(any_hg: Hookgate, serve: Serve) -> None:
    engine = any_hg
    application = await engine.create_application("shop")
    receiver = await serve([Reply(200, hold=threading.Event()), 200])  # answered only at teardown
    await add_endpoint(engine, application, receiver.url)
    delivery = only((await engine.publish(application, "order.created", {})).deliveries)

    worker = make_worker(engine, shutdown_grace_s=0.2)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(_arrived(receiver, 1), what="the slow request reached the receiver")
        in_flight = await engine.store.get_delivery(delivery.id)
        assert in_flight.status is DeliveryStatus.IN_FLIGHT
        worker.stop()
        # the held request is never answered: the worker can only end by giving up on it after its grace
        await asyncio.wait_for(task, 5)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)
        await worker.close()

    released = await engine.store.get_delivery(delivery.id)
    assert released.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
    assert released.lease_owner is None
    assert released.attempts == 0
    assert await engine.store.list_attempts(delivery.id) == []
    assert worker.stats.released == 1

    second = make_worker(engine)
    async with running(second):
        await wait_status(engine, delivery.id, DeliveryStatus.DELIVERED)
    assert receiver.count == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert second.stats.delivered == 1


def _arrived(receiver: RecordingReceiver, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return receiver.count >= n

    return check


# -- 13. resend and recover ----------------------------------------------------------------------------


async def test_resend_and_recover(hg: Hookgate, app: Application, serve: Serve) -> None:
    fine = await serve()
    health = {"ok": False}
    flaky = await serve(lambda _request: Reply(200 if health["ok"] else 500))
    await add_endpoint(hg, app, fine.url, event_types=["order.*"])
    flaky_ep = await add_endpoint(hg, app, flaky.url, event_types=["user.*"], retry_schedule=[0])

    delivery = only((await hg.publish(app, "order.created", {})).deliveries)
    dead_ids = [only((await hg.publish(app, "user.created", {"i": i})).deliveries).id for i in range(2)]

    async with running(make_worker(hg)):
        await wait_status(hg, delivery.id, DeliveryStatus.DELIVERED)
        for delivery_id in dead_ids:
            await wait_status(hg, delivery_id, DeliveryStatus.DEAD)
        assert fine.count == 1
        assert flaky.count == 2

        resent = await hg.resend(delivery.id)
        assert resent.status in (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)
        await eventually(_arrived(fine, 2), what="the resent delivery")
        again = await wait_status(hg, delivery.id, DeliveryStatus.DELIVERED)
        assert again.attempts == 1  # a fresh schedule

        health["ok"] = True
        assert await hg.recover(flaky_ep.endpoint.id, since=0) == 2
        for delivery_id in dead_ids:
            await wait_status(hg, delivery_id, DeliveryStatus.DELIVERED)

    assert fine.count == 2
    assert fine.requests[0].headers["webhook-id"] == fine.requests[1].headers["webhook-id"]
    assert flaky.count == 4
    assert sorted(s.headers["webhook-id"] for s in flaky.requests[:2]) == sorted(
        s.headers["webhook-id"] for s in flaky.requests[2:]
    )
    # attempt history is kept across recover: one failure and one success each
    for delivery_id in dead_ids:
        assert [a.status_code for a in await hg.store.list_attempts(delivery_id)] == [500, 200]


# -- 14. logs ------------------------------------------------------------------------------------------


async def test_logs_carry_ids_but_no_secrets(
    hg: Hookgate, app: Application, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process-wide structlog.configure(cache_logger_on_first_use=True) (the CLI's) freezes the delivery
    # module logger on first use; a fresh proxy makes capture_logs see the events whatever ran before.
    monkeypatch.setattr(delivery_module, "log", structlog.get_logger("hookgate.delivery"))
    receiver = await serve([500, 200])
    path = "/hook/SECRETPATHTOKEN"
    new = await add_endpoint(hg, app, receiver.url_for(path), retry_schedule=[0, 0.1])
    assert new.secret is not None
    delivery = only((await hg.publish(app, "order.created", {"n": 1})).deliveries)

    with structlog.testing.capture_logs() as captured:
        async with running(make_worker(hg)):
            await wait_status(hg, delivery.id, DeliveryStatus.DELIVERED)

    attempts = [e for e in captured if e.get("event") == "delivery.attempt"]
    assert [e["status_code"] for e in attempts] == [500, 200]
    for event in attempts:
        assert event["delivery_id"] == delivery.id
        assert event["endpoint_id"] == new.endpoint.id
        assert event["target"] == f"http://127.0.0.1:{receiver.port}"

    text = repr(captured)
    forbidden = [new.secret, new.secret.removeprefix("whsec_"), "SECRETPATHTOKEN"]
    for seen in receiver.requests:
        signature = seen.headers["webhook-signature"]
        forbidden += [signature, *(part.split(",", 1)[1] for part in signature.split())]
    assert len(forbidden) >= 5
    for value in forbidden:
        assert value not in text


# -- 15. disabled after failing too long ---------------------------------------------------------------


async def test_endpoint_disabled_after_failing_too_long(hg: Hookgate, app: Application, serve: Serve) -> None:
    receiver = await serve([500])
    new = await add_endpoint(hg, app, receiver.url, retry_schedule=[0, 0.3, 0.3, 0.3, 0.3])
    delivery = only((await hg.publish(app, "order.created", {})).deliveries)

    async with running(make_worker(hg, disable_after_s=0.5)):
        dead = await wait_status(hg, delivery.id, DeliveryStatus.DEAD)

    attempts = await hg.store.list_attempts(delivery.id)
    assert 2 <= len(attempts) < 5
    assert attempts[-1].started_at - attempts[0].started_at >= 0.5
    assert "disabled" in attempts[-1].outcome
    assert dead.attempts == len(attempts)
    endpoint = await hg.store.get_endpoint(new.endpoint.id)
    assert endpoint.enabled is False
    assert endpoint.disabled_reason is not None
    assert "failing" in endpoint.disabled_reason
    assert (await hg.publish(app, "order.created", {})).deliveries == ()


# -- 16. store outages ---------------------------------------------------------------------------------


class FlakyStore(MemoryStore):
    """A memory store that can be taken down: the calls a worker makes then fail with `StoreError`, as a
    database restart makes them fail (publishing and reading stay up, so the test can set things up)."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def _maybe_fail(self, name: str) -> None:
        self.calls[name] += 1
        if name in self.down or "all" in self.down:
            self.failures[name] += 1
            raise StoreError(f"PostgreSQL error: ConnectionRefusedError ({name})")

    async def claim(self, owner: str, limit: int, *, now: float, lease_s: float) -> list[Claim]:
        self._maybe_fail("claim")
        return await super().claim(owner, limit, now=now, lease_s=lease_s)

    async def complete(self, results: Sequence[AttemptResult]) -> int:
        self._maybe_fail("complete")
        return await super().complete(results)

    async def next_due_at(self) -> float | None:
        self._maybe_fail("next_due_at")
        return await super().next_due_at()

    async def wait_for_work(self, timeout: float) -> None:
        self._maybe_fail("wait_for_work")
        await super().wait_for_work(timeout)

    async def list_signing_keys(self) -> list[SigningKey]:
        self._maybe_fail("list_signing_keys")
        return await super().list_signing_keys()


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Hookgate, FlakyStore]]:
    store = FlakyStore()
    engine = Hookgate(store, SecretBox(MASTER))
    yield engine, store
    await engine.close()


async def test_worker_keeps_running_through_a_store_outage(
    flaky: tuple[Hookgate, FlakyStore], serve: Serve
) -> None:
    engine, store = flaky
    application = await engine.create_application("shop")
    receiver = await serve()
    await add_endpoint(engine, application, receiver.url)
    store.down.add("all")
    ids = [
        only((await engine.publish(application, "order.created", {"i": i})).deliveries).id for i in range(5)
    ]

    async with running(make_worker(engine)) as task:

        async def failed_claims() -> bool:
            return store.failures["claim"] >= 3

        await eventually(failed_claims, what="the worker to try claiming while the store is down")
        assert not task.done()
        assert receiver.count == 0
        store.down.clear()
        for delivery_id in ids:
            await wait_status(engine, delivery_id, DeliveryStatus.DELIVERED)
        assert not task.done()
    assert receiver.count == 5


async def test_results_that_could_not_be_written_are_written_when_the_store_is_back(
    flaky: tuple[Hookgate, FlakyStore], serve: Serve
) -> None:
    """The store fails while the worker reports outcomes: they are kept and written once it is back, not
    dropped (which would leave the deliveries leased, to be sent again after the lease expires)."""
    engine, store = flaky
    application = await engine.create_application("shop")
    receiver = await serve()
    await add_endpoint(engine, application, receiver.url)
    store.down.add("complete")
    ids = [
        only((await engine.publish(application, "order.created", {"i": i})).deliveries).id for i in range(3)
    ]

    async with running(make_worker(engine, lease_s=600)) as task:
        await eventually(_arrived(receiver, 3), what="every request to be sent")

        async def failed_completes() -> bool:
            return store.failures["complete"] >= 2

        await eventually(failed_completes, what="the worker to retry writing its results")
        for delivery_id in ids:
            assert (await store.get_delivery(delivery_id)).status is DeliveryStatus.IN_FLIGHT
        store.down.clear()
        for delivery_id in ids:
            await wait_status(engine, delivery_id, DeliveryStatus.DELIVERED)
        assert not task.done()
    assert receiver.count == 3
    for delivery_id in ids:
        assert [a.status_code for a in await store.list_attempts(delivery_id)] == [200]


async def test_a_failing_wait_for_work_does_not_spin_the_claim_loop(
    flaky: tuple[Hookgate, FlakyStore],
) -> None:
    """If only the wake-up source fails (claims still work), the loop waits out its poll interval instead of
    claiming again at once, over and over."""
    engine, store = flaky
    store.down.add("wait_for_work")
    async with running(make_worker(engine, idle_poll_s=0.1)) as task:

        async def failed_waits() -> bool:
            return store.failures["wait_for_work"] >= 3

        await eventually(failed_waits, what="a few failed waits")
        assert not task.done()
        # a pause of the poll interval follows each failed wait: a few by now, not thousands
        assert store.failures["wait_for_work"] <= 10


async def test_a_store_outage_while_reading_the_signing_key_costs_no_attempt(
    flaky: tuple[Hookgate, FlakyStore], serve: Serve
) -> None:
    """A JWS endpoint needs the key ring's active key, read from the store: while the store is down the
    delivery is put back without an attempt (not recorded as the endpoint's configuration error)."""
    engine, store = flaky
    application = await engine.create_application("shop")
    await engine.keyring.generate("ec", activate=True)
    receiver = await serve()
    await add_endpoint(engine, application, receiver.url, payload={"format": "jws"})
    delivery = only((await engine.publish(application, "order.created", {"n": 1})).deliveries)
    store.down.add("list_signing_keys")

    async with running(make_worker(engine)):

        async def failed_reads() -> bool:
            return store.failures["list_signing_keys"] >= 2

        await eventually(failed_reads, what="the worker to try reading the signing key twice")
        assert await store.list_attempts(delivery.id) == []
        assert (await store.get_delivery(delivery.id)).attempts == 0
        store.down.clear()
        await wait_status(engine, delivery.id, DeliveryStatus.DELIVERED)
    assert [a.status_code for a in await store.list_attempts(delivery.id)] == [200]
    assert receiver.count == 1
