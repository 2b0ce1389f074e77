"""Test doubles for code that uses hookgate (and for hookgate's own tests): a clock the test sets, a real
HTTP receiver on loopback that records what reached it, and capture of hookgate's log events.

- `FixedClock` goes wherever hookgate takes ``clock=`` (`Hookgate`, its worker, the key ring): time moves only
  when the test moves it. (A worker waiting for a retry that is due "later" waits until the test advances
  the clock.)
- `RecordingReceiver` is an aiohttp server on 127.0.0.1 that runs its own event loop in a thread, so a sync
  test (a CLI run, a ``hookgate worker`` subprocess) and an async test (an in-process worker on the test's
  loop) use it alike. It binds port 0 itself (no port picked first and bound later), optionally speaks TLS
  (and asks for a client certificate when its context does), records every request and answers each with a
  `Reply` chosen by the test: one reply for all, a script, or a callable.
- `capture_logs` collects hookgate's structlog events (and standard-library records) as dicts, whatever
  logging configuration ran before.

Nothing here is imported by ``import hookgate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "CapturedLogs",
    "FixedClock",
    "RecordedRequest",
    "RecordingReceiver",
    "Reply",
    "Respond",
    "capture_logs",
    "tls_server_context",
]


# -- clock ---------------------------------------------------------------------------------------------


class FixedClock:
    """A clock (``clock() -> float``, seconds since the epoch) that stands still until the test moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (backward when negative); returns the new time."""
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        """Set the time to ``now``."""
        self.now = float(now)

    def __repr__(self) -> str:
        return f"FixedClock({self.now!r})"


# -- receiver ------------------------------------------------------------------------------------------


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
    makes it HTTPS (see `tls_server_context`); ``path`` is the path `url` points at (any path is answered).
    A callable ``respond`` that raises is answered 500 and its error kept in `errors`. ``respond`` may be
    replaced while the receiver runs.
    """

    def __init__(
        self,
        respond: Respond = 200,
        *,
        ssl_context: ssl.SSLContext | None = None,
        path: str = "/hook",
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.respond = respond
        self.errors: list[str] = []
        self.port = 0
        self._ssl = ssl_context
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
        try:
            site = web.TCPSite(runner, self._host, 0, ssl_context=self._ssl)
            await site.start()
            self.port = int(runner.addresses[0][1])
            ready.set()
            await self._closing.wait()
        finally:
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


def tls_server_context(
    cert_chain_pem: bytes | str,
    key_pem: bytes | str,
    *,
    client_ca_pem: bytes | str | None = None,
) -> ssl.SSLContext:
    """A server-side TLS context for `RecordingReceiver` from PEM text; with ``client_ca_pem`` it requires
    a client certificate issued by that CA (mutual TLS).

    (With trustme: ``leaf = ca.issue_cert("127.0.0.1")``, then ``leaf.cert_chain_pems`` joined and
    ``leaf.private_key_pem``.)
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    as_bytes = [p.encode() if isinstance(p, str) else p for p in (cert_chain_pem, key_pem)]
    # load_cert_chain reads files only: a private temporary directory, removed at once
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for name, data in ((cert_file, as_bytes[0]), (key_file, as_bytes[1])):
            with open(name, "wb") as out:
                out.write(data)
        ctx.load_cert_chain(cert_file, key_file)
    if client_ca_pem is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(
            cadata=client_ca_pem.decode() if isinstance(client_ca_pem, bytes) else client_ca_pem
        )
    return ctx


# -- logs ----------------------------------------------------------------------------------------------


class CapturedLogs(list[dict[str, Any]]):
    """The captured events, in order: structlog event dicts (``event``, ``log_level`` and the fields) and
    standard-library records as ``{"event": message, "log_level", "logger"}``."""

    def events(self, name: str) -> list[dict[str, Any]]:
        """The entries whose ``event`` is ``name``."""
        return [entry for entry in self if entry.get("event") == name]


class _ListHandler(logging.Handler):
    def __init__(self, into: CapturedLogs) -> None:
        super().__init__(logging.DEBUG)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        entry: dict[str, Any] = {
            "event": record.getMessage(),
            "log_level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["exc_info"] = record.exc_info
        self._into.append(entry)


def _cached_proxies(prefix: str) -> Iterator[Any]:
    """Module-level structlog proxies in ``prefix`` modules (``log = structlog.get_logger(...)``)."""
    proxy_type = structlog._config.BoundLoggerLazyProxy  # the type get_logger returns (not exported)
    for name, module in list(sys.modules.items()):
        if module is None or not (name == prefix or name.startswith(prefix + ".")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, proxy_type):
                yield value


@contextlib.contextmanager
def capture_logs(
    *, modules: str = "hookgate", stdlib_loggers: Iterable[str] = ("hookgate",)
) -> Iterator[CapturedLogs]:
    """Collect log events while the block runs, as dicts in a `CapturedLogs` list.

    A process that called ``structlog.configure(cache_logger_on_first_use=True)`` (hookgate's CLI does)
    freezes each module's logger with the configuration of its first use, which a plain
    `structlog.testing.capture_logs` then misses. For the block, the frozen loggers of the ``modules``
    package are thawed (and frozen again as they were afterwards). Standard-library records of
    ``stdlib_loggers`` are captured too, at every level. Not for concurrent use from several threads.
    """
    captured = CapturedLogs()
    proxies = list(_cached_proxies(modules))
    frozen = {id(p): vars(p).pop("bind") for p in proxies if "bind" in vars(p)}
    handler = _ListHandler(captured)
    loggers = [logging.getLogger(name) for name in stdlib_loggers]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    # like structlog.testing.capture_logs: the configured list is changed in place, because loggers bound
    # before the block hold that list object
    configured = structlog.get_config()["processors"]
    before = list(configured)
    configured[:] = [_collect_into(captured)]
    try:
        yield captured
    finally:
        configured[:] = before
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        for proxy in proxies:
            vars(proxy).pop("bind", None)  # frozen during the block: with the capture's configuration
            if id(proxy) in frozen:
                proxy.bind = frozen[id(proxy)]


def _collect_into(captured: CapturedLogs) -> structlog.types.Processor:
    """The only processor while capturing: keeps each event (with its level) and drops it."""

    def collect(logger: Any, method_name: str, event_dict: structlog.types.EventDict) -> Any:
        level = {"warn": "warning", "exception": "error"}.get(method_name, method_name)
        captured.append({**event_dict, "log_level": level})
        raise structlog.DropEvent

    return collect
