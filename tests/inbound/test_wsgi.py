"""The WSGI middleware end to end: a Flask app behind `HookgateWSGIMiddleware`, driven by Flask's test client,
by hand-built environs (to count the bytes read) and by a real threaded Werkzeug server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from wsgiref.validate import validator

import flask
import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client, TestResponse

from hookgate.errors import StoreError
from hookgate.inbound.source import Source
from hookgate.inbound.stores import ClaimState, MemoryIdempotencyStore
from hookgate.inbound.wsgi import ENVIRON_KEY, HookgateWSGIMiddleware
from tests.inbound._peers import (
    AUDIT_FIELDS,
    DUPLICATE,
    GH_BODY,
    GH_SECRET,
    NOW,
    SLACK_BODY,
    STRIPE_BODY,
    STRIPE_SECRET,
    SVIX_BODY,
    SVIX_SECRET,
    Clock,
    all_sources,
    assert_generic,
    captured_audit,
    decisions,
    genuine_requests,
    github_headers,
    slack_headers,
    standard_headers,
    stripe_headers,
    stripe_source,
    svix_headers,
    svix_source,
)

HTTPS = "https://localhost"
HTTP = "http://localhost"


@dataclass
class Handler:
    """The Flask views' behaviour and what reached them."""

    mode: str = "ok"  # ok | raise | 500 | slow | stream-fail
    calls: list[tuple[str, Any, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def flask_app(handler: Handler) -> flask.Flask:
    app = flask.Flask("hooks")

    @app.route("/hooks/<name>", methods=["GET", "POST"])
    def hook(name: str) -> Any:
        webhook = flask.request.environ[ENVIRON_KEY]
        body = flask.request.get_data()  # replayed by the middleware: readable as usual
        assert webhook.payload == body
        assert flask.request.content_length == len(body)
        with handler.lock:
            handler.calls.append((name, webhook, body))
        if handler.mode == "raise":
            raise RuntimeError("handler failed")
        if handler.mode == "500":
            return {"error": "try later"}, 500
        if handler.mode == "slow":
            time.sleep(0.2)
        if handler.mode == "stream-fail":

            def broken() -> Iterator[str]:
                yield "partial"
                raise RuntimeError("stream broke")

            return flask.Response(broken())
        return {"ok": True, "key_id": webhook.key_id}

    @app.route("/other", methods=["GET", "POST"])
    def other() -> str:
        body = flask.request.get_data()
        return f"{flask.request.method} other {len(body)} {ENVIRON_KEY in flask.request.environ}"

    return app


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[flask.Flask, HookgateWSGIMiddleware]]]:
    """Build Flask apps behind the middleware; every middleware is closed after the test."""
    built: list[HookgateWSGIMiddleware] = []

    def build(
        handler: Handler, sources: list[Source] | None = None, clock: Clock | None = None, **kwargs: Any
    ) -> tuple[flask.Flask, HookgateWSGIMiddleware]:
        app = flask_app(handler)
        middleware = HookgateWSGIMiddleware(
            app.wsgi_app,
            sources=sources if sources is not None else all_sources(),
            clock=clock or Clock(),
            **kwargs,
        )
        app.wsgi_app = middleware  # type: ignore[method-assign]
        built.append(middleware)
        return app, middleware

    yield build
    for middleware in built:
        middleware.close()


def post(
    app: flask.Flask,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    base_url: str = HTTPS,
    peer: str = "127.0.0.1",
) -> TestResponse:
    # buffered: the client consumes and closes the response iterable at once, as a server does after sending
    return app.test_client().post(
        path,
        data=body,
        headers=headers or {},
        base_url=base_url,
        buffered=True,
        environ_base={"REMOTE_ADDR": peer},
    )


Make = Callable[..., tuple[flask.Flask, HookgateWSGIMiddleware]]


# -- hand-built environs ------------------------------------------------------------------------------------


class Stream:
    """A ``wsgi.input`` that counts what was read; ``fail`` makes any read an error."""

    def __init__(self, data: bytes = b"", *, endless: bool = False, fail: bool = False) -> None:
        self._data = io.BytesIO(data)
        self.endless = endless
        self.fail = fail
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        if self.fail:
            raise AssertionError("the body was read")
        chunk = (b"x" * max(0, min(size, 7))) if self.endless else self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk


def environ_for(
    path: str, headers: dict[str, str], stream: Stream, *, method: str = "POST", **extra: Any
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    environ.update(extra)
    return environ


@dataclass
class Answer:
    status: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def code(self) -> int:
        return int(self.status.split()[0])


def call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    answer = Answer()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        del exc_info
        answer.status = status
        answer.headers = {k.lower(): v for k, v in headers}
        return lambda data: None

    result = app(environ, start_response)
    try:
        answer.body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer


# -- genuine requests ---------------------------------------------------------------------------------------


def test_requests_signed_by_provider_libraries_are_accepted(make: Make) -> None:
    handler = Handler()
    app, _ = make(handler)
    for path, body, headers in genuine_requests():
        response = post(app, path, body, headers)
        assert response.status_code == 200, (path, response.data)
        assert response.json == {"ok": True, "key_id": "0"}
    assert [(name, body) for name, _, body in handler.calls] == [
        (path.rsplit("/", 1)[1], body) for path, body, _ in genuine_requests()
    ]
    assert handler.calls[1][1].msg_id == "msg_2b7Y5z"
    assert handler.calls[0][1].timestamp == NOW


def test_wsgi_compliance_under_wsgiref_validator(make: Make) -> None:
    handler = Handler()
    _, middleware = make(handler)
    checked = Client(validator(middleware))
    response = checked.post(
        "/hooks/stripe", data=STRIPE_BODY, headers=stripe_headers(), base_url=HTTPS, buffered=True
    )
    assert response.status_code == 200
    refused = checked.post(
        "/hooks/stripe", data=b"{}", headers=stripe_headers(), base_url=HTTPS, buffered=True
    )
    assert refused.status_code == 401
    assert_generic(401, refused.data)
    duplicate = checked.post(
        "/hooks/stripe", data=STRIPE_BODY, headers=stripe_headers(), base_url=HTTPS, buffered=True
    )
    assert duplicate.data == DUPLICATE
    assert checked.get("/hooks/stripe", base_url=HTTPS, buffered=True).status_code == 405
    assert checked.get("/other", base_url=HTTPS, buffered=True).data == b"GET other 0 False"
    assert len(handler.calls) == 1


# -- rejections ---------------------------------------------------------------------------------------------


def test_tampered_and_out_of_window_requests_are_401(make: Make) -> None:
    handler = Handler()
    app, _ = make(handler)
    cases = [
        ("/hooks/stripe", STRIPE_BODY.replace(b"succeeded", b"failed"), stripe_headers()),
        ("/hooks/stripe", STRIPE_BODY, stripe_headers(ts=NOW - 301)),
        ("/hooks/stripe", STRIPE_BODY, stripe_headers(ts=NOW + 301)),
        ("/hooks/svix", SVIX_BODY + b"\n", svix_headers()),
        ("/hooks/svix", SVIX_BODY, standard_headers(ts=NOW - 301)),
        ("/hooks/svix", SVIX_BODY, svix_headers(ts=NOW + 301)),
        ("/hooks/slack", SLACK_BODY, slack_headers(ts=NOW - 301)),
        ("/hooks/slack", SLACK_BODY, slack_headers(ts=NOW + 301)),
        ("/hooks/github", GH_BODY + b"!", github_headers()),
    ]
    for path, body, headers in cases:
        response = post(app, path, body, headers)
        assert response.status_code == 401, path
        assert_generic(401, response.data)
        assert response.headers["Content-Type"] == "application/json"
    assert handler.calls == []


def test_replay_after_success_is_acknowledged_without_the_handler(make: Make) -> None:
    handler = Handler()
    app, _ = make(handler)
    for path, body, headers in [
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
        ("/hooks/svix", SVIX_BODY, svix_headers()),
        ("/hooks/github", GH_BODY, github_headers()),
    ]:
        assert post(app, path, body, headers).json == {"ok": True, "key_id": "0"}
        again = post(app, path, body, headers)
        assert again.status_code == 200
        assert again.data == DUPLICATE
    assert len(handler.calls) == 3


def test_ip_allowlist_forwarded_for_and_https(make: Make) -> None:
    handler = Handler()
    app, _ = make(handler, [stripe_source(allow_ips=("10.0.0.0/8",))])
    assert post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers()).status_code == 403
    spoofed = post(app, "/hooks/stripe", STRIPE_BODY, {**stripe_headers(), "X-Forwarded-For": "10.1.2.3"})
    assert spoofed.status_code == 403
    assert_generic(403, spoofed.data)
    assert post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers(), peer="10.9.9.9").status_code == 200

    proxied = stripe_source(allow_ips=("10.1.0.0/16",), trusted_proxies=("127.0.0.1/32", "192.168.0.0/16"))
    app, _ = make(handler, [proxied])
    chain = {"X-Forwarded-For": "203.0.113.7, 10.1.2.3, 192.168.1.1", "X-Forwarded-Proto": "https"}
    good = post(app, "/hooks/stripe", STRIPE_BODY, {**stripe_headers(), **chain}, base_url=HTTP)
    assert good.status_code == 200
    forged = {"X-Forwarded-For": "10.1.2.3, 203.0.113.7, 192.168.1.1", "X-Forwarded-Proto": "https"}
    refused = post(app, "/hooks/stripe", STRIPE_BODY, {**stripe_headers(ts=NOW + 1), **forged}, base_url=HTTP)
    assert refused.status_code == 403

    app, _ = make(handler, [svix_source()])
    plain = post(app, "/hooks/svix", SVIX_BODY, svix_headers(), base_url=HTTP)
    assert plain.status_code == 403
    assert_generic(403, plain.data)
    claimed = post(
        app, "/hooks/svix", SVIX_BODY, {**svix_headers(), "X-Forwarded-Proto": "https"}, base_url=HTTP
    )
    assert claimed.status_code == 403  # from an untrusted peer X-Forwarded-Proto is not believed
    assert len(handler.calls) == 2


def test_rate_limit_429_with_headers(make: Make) -> None:
    handler = Handler()
    clock = Clock()
    app, _ = make(handler, [svix_source(rate_limit_per_s=1, rate_limit_burst=1)], clock)
    assert post(app, "/hooks/svix", SVIX_BODY, svix_headers(msg_id="a")).status_code == 200
    limited = post(app, "/hooks/svix", SVIX_BODY, svix_headers(msg_id="b"))
    assert limited.status_code == 429
    assert_generic(429, limited.data)
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["RateLimit-Limit"] == "1"
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert limited.headers["RateLimit-Reset"] == "1"
    clock.now += 1
    assert post(app, "/hooks/svix", SVIX_BODY, svix_headers(msg_id="b", ts=NOW + 1)).status_code == 200


def test_oversized_with_content_length_is_refused_without_reading(make: Make) -> None:
    handler = Handler()
    _, middleware = make(handler, [stripe_source(max_body_bytes=64)])
    stream = Stream(fail=True)
    answer = call(
        middleware, environ_for("/hooks/stripe", {**stripe_headers(), "Content-Length": "65"}, stream)
    )
    assert answer.code == 413
    assert answer.status in {"413 Request Entity Too Large", "413 Content Too Large"}
    assert_generic(413, answer.body)
    assert answer.headers["content-length"] == str(len(answer.body))
    assert stream.read_bytes == 0
    assert handler.calls == []


def test_oversized_chunked_body_stops_one_byte_past_the_cap(make: Make) -> None:
    handler = Handler()
    cap = 64
    _, middleware = make(handler, [stripe_source(max_body_bytes=cap)])
    stream = Stream(endless=True)
    environ = environ_for(
        "/hooks/stripe",
        {**stripe_headers(), "Transfer-Encoding": "chunked"},
        stream,
        **{"wsgi.input_terminated": True},
    )
    answer = call(middleware, environ)
    assert answer.code == 413
    assert_generic(413, answer.body)
    assert stream.read_bytes == cap + 1
    assert handler.calls == []


def test_body_without_length_or_terminated_stream_is_not_read(make: Make) -> None:
    """Reading it could block forever: taken as empty (as Werkzeug does), so the signature fails."""
    handler = Handler()
    _, middleware = make(handler, [stripe_source()])
    stream = Stream(fail=True)
    answer = call(middleware, environ_for("/hooks/stripe", stripe_headers(), stream, CONTENT_LENGTH=""))
    assert answer.code == 401
    assert_generic(401, answer.body)


def test_terminated_stream_under_the_cap_is_verified_and_replayed(make: Make) -> None:
    handler = Handler()
    _, middleware = make(handler, [stripe_source()])
    stream = Stream(STRIPE_BODY)
    environ = environ_for("/hooks/stripe", stripe_headers(), stream, **{"wsgi.input_terminated": True})
    answer = call(middleware, environ)
    assert answer.code == 200
    assert environ["CONTENT_LENGTH"] == str(len(STRIPE_BODY))
    assert environ[ENVIRON_KEY].payload == STRIPE_BODY
    assert [body for _, _, body in handler.calls] == [STRIPE_BODY]


def test_bad_content_length_and_method(make: Make) -> None:
    handler = Handler()
    _, middleware = make(handler, [stripe_source()])
    for value in ("12x", "-1", "\u00b2", "1" * 19):
        answer = call(middleware, environ_for("/hooks/stripe", {"Content-Length": value}, Stream(fail=True)))
        assert answer.code == 400, value
        assert_generic(400, answer.body)
    for method in ("GET", "PUT", "HEAD"):
        answer = call(middleware, environ_for("/hooks/stripe", {}, Stream(fail=True), method=method))
        assert answer.code == 405
        assert answer.headers["allow"] == "POST"
        assert_generic(405, answer.body)
    assert handler.calls == []


class DownStore(MemoryIdempotencyStore):
    """An idempotency store (and rate limiter) whose backend is unreachable."""

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        raise StoreError("Redis inbound store error: ConnectionError: refused")

    async def hit(self, key: str, *, rate: float, burst: float, now: float) -> Any:
        raise StoreError("Redis inbound store error: ConnectionError: refused")


def test_a_store_that_fails_is_an_audited_503(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Handler()
    app, _ = make(
        handler,
        [stripe_source(), svix_source(rate_limit_per_s=5.0)],
        idempotency=DownStore(),
        limiter=DownStore(),
    )
    with captured_audit(monkeypatch) as captured:
        claimed = post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers())
        limited = post(app, "/hooks/svix", SVIX_BODY, svix_headers())
    for answer in (claimed, limited):
        assert (answer.status_code, answer.data) == (503, b'{"error":"unavailable"}')
    assert [(d["source"], d["reason"], d["status"]) for d in decisions(captured)] == [
        ("stripe", "idempotency_store_unavailable", 503),
        ("svix", "rate_limiter_unavailable", 503),
    ]
    assert handler.calls == []


# -- claim-then-process -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["raise", "500", "stream-fail"])
def test_failed_handler_releases_the_event_for_the_retry(make: Make, mode: str) -> None:
    handler = Handler(mode=mode)
    app, _ = make(handler)
    for path, body, headers in [
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
        ("/hooks/github", GH_BODY, github_headers()),
    ]:
        if mode == "stream-fail":
            with pytest.raises(RuntimeError, match="stream broke"):
                post(app, path, body, headers)
        else:
            assert post(app, path, body, headers).status_code == 500
        handler.mode = "ok"
        assert post(app, path, body, headers).json == {"ok": True, "key_id": "0"}
        assert post(app, path, body, headers).data == DUPLICATE
        handler.mode = mode
    assert len(handler.calls) == 4


def test_exception_from_the_wsgi_app_releases_and_propagates() -> None:
    calls: list[bytes] = []

    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["wsgi.input"].read())
        raise RuntimeError("app failed")

    with HookgateWSGIMiddleware(broken, sources=[stripe_source()], clock=Clock()) as middleware:
        for _ in range(2):  # released each time: the second attempt reaches the app again
            environ = environ_for(
                "/hooks/stripe", stripe_headers(), Stream(STRIPE_BODY), CONTENT_LENGTH=str(len(STRIPE_BODY))
            )
            with pytest.raises(RuntimeError, match="app failed"):
                call(middleware, environ)
    assert calls == [STRIPE_BODY, STRIPE_BODY]
    assert middleware.closed


def test_outcome_is_recorded_when_the_server_closes_the_response(make: Make) -> None:
    handler = Handler()
    app, _ = make(handler, [stripe_source()])
    client = app.test_client()
    open_response = client.post("/hooks/stripe", data=STRIPE_BODY, headers=stripe_headers(), base_url=HTTPS)
    assert open_response.status_code == 200
    # not closed yet: the same event is still in progress
    in_progress = post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers())
    assert in_progress.status_code == 409
    assert in_progress.headers["Retry-After"] == "1"
    assert_generic(409, in_progress.data)
    open_response.close()
    assert post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers()).data == DUPLICATE
    assert len(handler.calls) == 1


class ThreadRecordingStore(MemoryIdempotencyStore):
    """Records the thread each store call runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        self.threads.add(threading.get_ident())
        return await super().claim(key, lease_s=lease_s, now=now)

    async def complete(self, key: str, *, ttl_s: float, now: float) -> None:
        self.threads.add(threading.get_ident())
        await super().complete(key, ttl_s=ttl_s, now=now)

    async def release(self, key: str) -> None:
        self.threads.add(threading.get_ident())
        await super().release(key)


@pytest.fixture
def server() -> Iterator[Callable[[Callable[..., Any]], str]]:
    """Serve a WSGI app on a real threaded Werkzeug server on 127.0.0.1; yields its base URL."""
    servers: list[Any] = []
    threads: list[threading.Thread] = []

    def start(app: Callable[..., Any]) -> str:
        srv = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        servers.append(srv)
        threads.append(thread)
        return f"http://127.0.0.1:{srv.port}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()
    for thread in threads:
        thread.join(5)


def test_fifty_concurrent_copies_on_a_real_server_reach_the_handler_once(
    make: Make, server: Callable[[Callable[..., Any]], str]
) -> None:
    handler = Handler(mode="slow")
    store = ThreadRecordingStore()
    app, _ = make(handler, [svix_source(require_https=False)], idempotency=store)
    url = server(app) + "/hooks/svix"
    headers = svix_headers()
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: http.post(url, content=SVIX_BODY, headers=headers), range(50)))
    assert len(handler.calls) == 1
    processed = [r for r in responses if r.status_code == 200 and r.content != DUPLICATE]
    assert len(processed) == 1
    others = [r for r in responses if r is not processed[0]]
    assert {r.status_code for r in others} <= {200, 409}
    assert any(r.status_code == 409 for r in others)
    for response in others:
        if response.status_code == 409:
            assert_generic(409, response.content)
        else:
            assert response.content == DUPLICATE
    # the store was only ever touched from the middleware's own event loop thread
    assert len(store.threads) == 1
    assert store.threads != {threading.get_ident()}


def test_chunked_requests_on_a_real_server(make: Make, server: Callable[[Callable[..., Any]], str]) -> None:
    handler = Handler()
    app, _ = make(handler, [stripe_source(require_https=False, max_body_bytes=128)])
    url = server(app) + "/hooks/stripe"

    def pieces(data: bytes) -> Iterator[bytes]:
        for i in range(0, len(data), 16):
            yield data[i : i + 16]

    with httpx.Client(timeout=30) as http:
        ok = http.post(url, content=pieces(STRIPE_BODY), headers=stripe_headers())
        assert ok.request.headers["transfer-encoding"] == "chunked"
        assert ok.status_code == 200
        assert ok.json() == {"ok": True, "key_id": "0"}
        big = http.post(url, content=pieces(b"x" * 129), headers=stripe_headers())
        assert big.status_code == 413
        assert_generic(413, big.content)
    assert [body for _, _, body in handler.calls] == [STRIPE_BODY]


# -- audit log ----------------------------------------------------------------------------------------------


def test_one_audit_line_per_request_without_secrets(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Handler()
    app, _ = make(handler)
    requests: list[tuple[str, bytes, dict[str, str]]] = [
        *genuine_requests(),
        ("/hooks/stripe", STRIPE_BODY, stripe_headers()),
        ("/hooks/svix", SVIX_BODY + b" ", svix_headers()),
    ]
    with captured_audit(monkeypatch) as captured:
        for path, body, headers in requests:
            post(app, path, body, headers)
        app.test_client().get("/hooks/stripe", base_url=HTTPS, buffered=True)
    lines = decisions(captured)
    assert len(lines) == len(requests) + 1
    for line in lines:
        assert set(line) >= AUDIT_FIELDS
        assert line["client_ip"] == "127.0.0.1"
    assert [(d["source"], d["decision"], d["reason"]) for d in lines] == [
        ("stripe", "accepted", "ok"),
        ("svix", "accepted", "ok"),
        ("svix", "accepted", "ok"),
        ("slack", "accepted", "ok"),
        ("github", "accepted", "ok"),
        ("stripe", "duplicate", "duplicate"),
        ("svix", "rejected", "signature_mismatch"),
        ("stripe", "rejected", "method_not_allowed"),
    ]
    text = repr(captured)
    signatures = [v for _, _, h in requests for k, v in h.items() if "signature" in k.lower()]
    forbidden = [STRIPE_SECRET, SVIX_SECRET, SVIX_SECRET[6:], GH_SECRET, "payment_intent", "invoice.paid"]
    forbidden += signatures
    for value in signatures:
        forbidden += re.findall(r"[A-Za-z0-9+/]{20,}={0,2}", value)
    for value in forbidden:
        assert value not in text, value


# -- pass-through and lifecycle -----------------------------------------------------------------------------


def test_other_paths_pass_through(make: Make) -> None:
    handler = Handler()
    app, _ = make(handler)
    assert post(app, "/other", b"12345", base_url=HTTP).data == b"POST other 5 False"
    assert app.test_client().get("/other").data == b"GET other 0 False"
    assert app.test_client().post("/hooks/stripe/extra", data=b"x").status_code == 404
    assert handler.calls == []


def test_close_stops_the_loop_thread(make: Make) -> None:
    handler = Handler()
    app, middleware = make(handler, [stripe_source()])
    loop_thread = middleware._loop._thread
    assert loop_thread.daemon
    assert loop_thread.is_alive()
    assert post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers()).status_code == 200
    middleware.close()
    middleware.close()  # idempotent
    assert middleware.closed
    assert not loop_thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers())
    # paths that are not webhook routes still work
    assert app.test_client().get("/other").data == b"GET other 0 False"


class StuckStore(MemoryIdempotencyStore):
    """A store whose claim never answers (a database that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()

    async def claim(self, key: str, *, lease_s: float, now: float) -> ClaimState:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_close_during_a_request_fails_that_request(make: Make) -> None:
    store = StuckStore()
    app, middleware = make(Handler(), [stripe_source()], idempotency=store)
    outcome: list[BaseException] = []

    def request() -> None:
        try:
            post(app, "/hooks/stripe", STRIPE_BODY, stripe_headers())
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=request)
    worker.start()
    assert store.entered.wait(5)
    middleware.close()
    worker.join(5)
    assert not worker.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], RuntimeError)
    assert "closed" in str(outcome[0])
