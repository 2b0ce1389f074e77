"""`hookgate.testing`: the fixed clock, the recording receiver (plain, TLS, mutual TLS, scripted, held,
dropped; from sync and async code) and log capture through a frozen structlog configuration."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading

import httpx
import pytest
import structlog
import trustme

from hookgate.logs import configure_logging
from hookgate.testing import (
    FixedClock,
    RecordedRequest,
    RecordingReceiver,
    Reply,
    capture_logs,
    tls_server_context,
)


def test_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(100.0)
    assert clock() == clock() == 100.0
    assert clock.advance(2.5) == 102.5
    assert clock() == 102.5
    clock.set(7)
    assert clock() == 7.0
    assert FixedClock()() == 1_700_000_000.0


def test_a_sync_client_is_recorded_and_answered_by_a_script() -> None:
    with RecordingReceiver([500, Reply(201, "made", {"X-Reply": "yes"})], clock=FixedClock(5.0)) as receiver:
        assert receiver.url == f"http://127.0.0.1:{receiver.port}/hook"
        assert receiver.port != 0
        first = httpx.post(receiver.url + "?a=1", content=b"one", headers={"X-Id": "1"})
        second = httpx.put(receiver.url_for("/other"), content=b"two")
        third = httpx.post(receiver.url, content=b"three")
        (a, b, c) = receiver.wait_for(3, timeout=5)
    assert [first.status_code, second.status_code, third.status_code] == [500, 201, 201]
    assert (second.text, second.headers["x-reply"]) == ("made", "yes")
    assert (a.method, a.path, a.query, a.body, a.at, a.index) == ("POST", "/hook", "a=1", b"one", 5.0, 0)
    assert a.headers["x-id"] == a.headers["X-ID"] == "1"
    assert (b.method, b.path) == ("PUT", "/other")
    assert receiver.bodies == [b"one", b"two", b"three"]
    assert [r.body for r in receiver.requests_to("/hook")] == [b"one", b"three"]
    assert a.reply == Reply(500)
    assert c.reply is not None
    assert c.reply.status == 201
    assert a.peercert is None
    assert a.tls_version is None


def test_wait_for_gives_up_with_a_timeout_error() -> None:
    with RecordingReceiver() as receiver, pytest.raises(TimeoutError, match="0 of 1 requests"):
        receiver.wait_for(1, timeout=0.05)


async def test_an_async_client_on_the_tests_loop_and_a_callable_responder() -> None:
    def respond(request: RecordedRequest) -> Reply | int:
        if request.path == "/json":
            return Reply.json({"seen": request.json()}, status=202)
        raise ValueError("unexpected path")

    async with RecordingReceiver(respond) as receiver:
        async with httpx.AsyncClient() as client:
            answer = await client.post(receiver.url_for("/json"), json={"n": 1})
            failed = await client.post(receiver.url, content=b"x")
        (first, _) = await receiver.wait_for_async(2)
    assert (answer.status_code, answer.json()) == (202, {"seen": {"n": 1}})
    assert answer.headers["content-type"] == "application/json"
    assert failed.status_code == 500
    assert receiver.errors == ["ValueError('unexpected path')"]
    assert first.json() == {"n": 1}


def test_the_responder_can_be_replaced_while_running() -> None:
    with RecordingReceiver(503) as receiver:
        assert httpx.post(receiver.url).status_code == 503
        receiver.respond = 204
        assert httpx.post(receiver.url).status_code == 204


def test_a_held_reply_waits_for_its_event() -> None:
    release = threading.Event()
    with RecordingReceiver(Reply(200, hold=release)) as receiver:
        answers: list[int] = []
        thread = threading.Thread(
            target=lambda: answers.append(httpx.post(receiver.url, timeout=30).status_code)
        )
        thread.start()
        (held,) = receiver.wait_for(1)
        assert held.reply is None
        assert answers == []
        release.set()
        thread.join(30)
    assert answers == [200]
    assert held.reply is not None


def test_closing_ends_held_and_delayed_replies() -> None:
    receiver = RecordingReceiver([Reply(200, hold=threading.Event()), Reply(200, delay_s=600)]).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(receiver.url, timeout=60)
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    receiver.wait_for(2)
    receiver.close()  # must not wait 600 s, nor forever
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)


def test_a_dropped_reply_closes_the_connection() -> None:
    with RecordingReceiver([Reply(drop=True), 200]) as receiver:
        with pytest.raises(httpx.HTTPError):
            httpx.post(receiver.url)
        assert httpx.post(receiver.url).status_code == 200
    assert [r.reply.drop for r in receiver.requests if r.reply] == [True, False]


def test_start_raises_what_stopped_the_server() -> None:
    with pytest.raises(OSError, match="assign requested address"):
        RecordingReceiver(host="192.0.2.1").start()  # TEST-NET-1: not an address of this machine


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_ctx(ca: trustme.CA, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    leaf = ca.issue_cert("127.0.0.1")
    return tls_server_context(
        b"".join(p.bytes() for p in leaf.cert_chain_pems),
        leaf.private_key_pem.bytes(),
        client_ca_pem=client_ca.cert_pem.bytes() if client_ca else None,
    )


def test_tls_with_a_private_ca(ca: trustme.CA) -> None:
    with RecordingReceiver(ssl_context=server_ctx(ca)) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        assert httpx.post(receiver.url, content=b"s", verify=client_ctx).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.post(receiver.url, verify=ssl.create_default_context())  # the system store: untrusted
    (request,) = receiver.requests
    assert request.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert request.peercert is None or request.peercert == {}


def test_mutual_tls_requires_and_records_the_client_certificate(ca: trustme.CA) -> None:
    client_ca = trustme.CA()
    leaf = client_ca.issue_cert("client@example")
    with RecordingReceiver(ssl_context=server_ctx(ca, client_ca)) as receiver:
        with_cert = ssl.create_default_context()
        ca.configure_trust(with_cert)
        leaf.configure_cert(with_cert)
        assert httpx.post(receiver.url, verify=with_cert).status_code == 200
        without = ssl.create_default_context()
        ca.configure_trust(without)
        with pytest.raises(httpx.HTTPError):
            httpx.post(receiver.url, verify=without)
    (request,) = receiver.requests
    assert ("email", "client@example") in request.peercert["subjectAltName"]


def _log_something() -> None:
    from hookgate.outbound import worker

    worker.log.info("test.event", delivery_id="dlv_1")
    logging.getLogger("hookgate.test").warning("stdlib %s", "record")


def test_capture_logs_sees_a_module_logger_frozen_by_an_earlier_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(fmt="json", level="info")  # the CLI's: cache_logger_on_first_use=True
    try:
        _log_something()  # freezes the worker's module logger with the JSON configuration
        capsys.readouterr()
        with capture_logs() as captured:
            _log_something()
        assert captured.events("test.event") == [
            {"event": "test.event", "delivery_id": "dlv_1", "log_level": "info"}
        ]
        assert captured.events("stdlib record") == [
            {"event": "stdlib record", "log_level": "warning", "logger": "hookgate.test"}
        ]
        _log_something()  # after the block: the earlier configuration again
        assert '"event": "test.event"' in capsys.readouterr().err
        assert len(captured) == 2
    finally:
        structlog.reset_defaults()


async def test_capture_logs_sees_events_from_other_tasks() -> None:
    log = structlog.get_logger("hookgate.test")

    async def emit() -> None:
        log.warning("from.task", n=1)

    with capture_logs() as captured:
        await asyncio.create_task(emit())
    assert captured == [{"event": "from.task", "n": 1, "log_level": "warning"}]
