"""`RecordingReceiver`: a real HTTP(S) webhook receiver on loopback, in its own thread, that records every
request and answers each as the test says (`Reply`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from hookgate.testing.tls import AlertingTLS

__all__ = ["RecordedRequest", "RecordingReceiver", "Reply", "Respond"]


@dataclass(frozen=True, slots=True)
class Reply:
    """What the receiver answers to one request.

    ``hold`` keeps the request open until that event is set, then ``delay_s`` is waited; both end early when
    the receiver closes. ``drop`` closes the connection without an answer.
    """

    status: int = 200
    body: bytes | str = b"ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hold: threading.Event | None = None
    drop: bool = False

    @classmethod
    def json(cls, document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """A JSON answer."""
        return cls(status, json.dumps(document), {"Content-Type": "application/json", **(headers or {})})


@dataclass(slots=True)
class RecordedRequest:
    """One request that reached the receiver. ``headers`` match names case-insensitively (``dict(headers)``
    keeps the case the client sent); ``at`` is the receiver's clock on arrival; ``reply`` is what was
    answered (None until then, and if the client went away first)."""

    index: int
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    at: float
    peercert: Any = None  # the client certificate as `ssl.SSLSocket.getpeercert()` gives it (TLS only)
    tls_version: str | None = None
    reply: Reply | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


#: How a receiver answers: one `Reply` (or status) for every request, a script (the n-th request gets the
#: n-th item, the last repeats), or a callable given each request; it runs on the receiver's loop, so it
#: must not block (hold or delay through the `Reply` instead).
Respond = Reply | int | Sequence[Reply | int] | Callable[[RecordedRequest], Reply | int]


class RecordingReceiver:
    """A webhook receiver on 127.0.0.1 (port 0) that records every request and answers as ``respond`` says.

    Use it as a context manager (``with`` or ``async with``) or call `start` and `close`. ``ssl_context``
    makes it HTTPS (see `tls_server_context`). A handshake the context refuses (no client certificate, an
    untrusted one, an old version) ends as asyncio ends it, without an alert, as uvicorn and aiohttp
    receivers do; ``tls_alerts=True`` makes it end as most other TLS servers do, with the alert the client
    reads (`hookgate.testing.tls.AlertingTLS`). ``path`` is the path `url` points at (any path is answered).
    A callable ``respond`` that raises is answered 500 and its error kept in `errors`. ``respond`` may be
    replaced while the receiver runs.
    """

    def __init__(
        self,
        respond: Respond = 200,
        *,
        ssl_context: ssl.SSLContext | None = None,
        tls_alerts: bool = False,
        path: str = "/hook",
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.respond = respond
        self.errors: list[str] = []
        self.port = 0
        self._ssl = ssl_context
        self._tls_alerts = tls_alerts
        self._path = path
        self._host = host
        self._clock = clock
        self._max_body = max_body_bytes
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._closed = threading.Event()
        self._failure: BaseException | None = None

    # -- where it listens

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:<port>``."""
        return f"{'https' if self._ssl else 'http'}://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL of the receiver's ``path`` (``/hook`` unless told)."""
        return self.base_url + self._path

    def url_for(self, path: str) -> str:
        """The URL of another path on this receiver."""
        return self.base_url + path

    # -- what it saw

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._requests)

    @property
    def count(self) -> int:
        """How many requests arrived."""
        with self._changed:
            return len(self._requests)

    @property
    def bodies(self) -> list[bytes]:
        """The bodies of every request so far, in arrival order."""
        return [r.body for r in self.requests]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests whose path is ``path``."""
        return [r for r in self.requests if r.path == path]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until ``n`` requests have arrived (then return them all), or raise `TimeoutError`.

        Blocks the calling thread: from a coroutine whose loop must keep running, use `wait_for_async`.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"{len(self._requests)} of {n} requests arrived within {timeout} s")
            return list(self._requests)

    async def wait_for_async(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """`wait_for` for a coroutine: the caller's event loop keeps running while it waits."""
        deadline = time.monotonic() + timeout
        while self.count < n:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.count} of {n} requests arrived within {timeout} s")
            await asyncio.sleep(0.01)
        return self.requests

    # -- lifecycle

    def start(self) -> RecordingReceiver:
        """Start serving (returns once the port is bound); raises what stopped the server from starting."""
        if self._thread is not None:
            raise RuntimeError("the receiver was already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="recording-receiver", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure
        return self

    def close(self) -> None:
        """Stop serving: held and delayed replies end now; in-flight requests get up to 0.5 s to finish."""
        loop, closing = self._loop, self._closing
        if loop is not None and closing is not None and not self._closed.is_set():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(closing.set)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> RecordingReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> RecordingReceiver:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        # joining the thread takes at most the 0.5 s shutdown: not worth a thread hop
        self.close()

    # -- the server thread

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that called start()
            self._failure = exc
        finally:
            self._closed.set()
            ready.set()
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=self._max_body)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        server: asyncio.Server | None = None
        try:
            if self._ssl is not None and self._tls_alerts:
                # aiohttp's sites take only asyncio's own TLS: serve the same handler under AlertingTLS
                loop, ctx, handler = asyncio.get_running_loop(), self._ssl, runner.server
                assert handler is not None  # noqa: S101 - set by runner.setup()

                def refusing_with_alerts() -> AlertingTLS:
                    no_waiter: Any = None  # asyncio's own servers pass none; typeshed wants a Future
                    return AlertingTLS(loop, handler(), ctx, no_waiter, server_side=True)

                server = await loop.create_server(refusing_with_alerts, self._host, 0)
                self.port = int(server.sockets[0].getsockname()[1])
            else:
                site = web.TCPSite(runner, self._host, 0, ssl_context=self._ssl)
                await site.start()
                self.port = int(runner.addresses[0][1])
            ready.set()
            await self._closing.wait()
        finally:
            if server is not None:
                server.close()
            await runner.cleanup()

    def _reply_for(self, request: RecordedRequest) -> Reply:
        respond = self.respond
        answer: Reply | int
        if callable(respond):
            answer = respond(request)
        elif isinstance(respond, (Reply, int)):
            answer = respond
        else:
            answer = respond[min(request.index, len(respond) - 1)]
        return answer if isinstance(answer, Reply) else Reply(answer)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        with self._changed:
            recorded = RecordedRequest(
                index=len(self._requests),
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=body,
                at=self._clock(),
                peercert=ssl_object.getpeercert() if ssl_object is not None else None,
                tls_version=ssl_object.version() if ssl_object is not None else None,
            )
            self._requests.append(recorded)
            self._changed.notify_all()
        try:
            reply = self._reply_for(recorded)
        except Exception as exc:  # noqa: BLE001 - a failing responder is the test's bug: kept, answered 500
            self.errors.append(repr(exc))
            reply = Reply(500, "responder failed")
        await self._wait(reply)
        recorded.reply = reply
        if reply.drop and transport is not None:
            transport.abort()
        body_bytes = reply.body.encode() if isinstance(reply.body, str) else reply.body
        return web.Response(status=reply.status, body=body_bytes, headers=dict(reply.headers))

    async def _wait(self, reply: Reply) -> None:
        closing = self._closing
        assert closing is not None  # noqa: S101 - set before the first request can arrive
        if reply.hold is not None:
            # a threading.Event set from the test's thread: polled, so closing can end the wait too
            while not reply.hold.is_set() and not closing.is_set():
                await asyncio.sleep(0.01)
        if reply.delay_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), reply.delay_s)
