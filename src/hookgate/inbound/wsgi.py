"""WSGI middleware that lets only genuine webhooks reach an application's webhook routes (Flask, Django...).

The WSGI twin of `hookgate.inbound.asgi.HookgateMiddleware`: paths that are not webhook routes pass through
untouched; on a webhook route only POST is accepted, the body is read from ``wsgi.input`` (never past the
source's cap), verified, and replayed to the application as a fresh ``wsgi.input`` with a matching
``CONTENT_LENGTH`` (and no ``Transfer-Encoding``); the verified event is in ``environ["hookgate.webhook"]``.
An application that raises or answers non-2xx releases the event id so the sender's retry is processed; a
2xx marks it processed once the response has been sent (when the server closes the response iterable).

    # Flask
    app.wsgi_app = HookgateWSGIMiddleware(app.wsgi_app, sources=[stripe])
    # in the view: request.environ["hookgate.webhook"]

    # Django (wsgi.py)
    application = HookgateWSGIMiddleware(get_wsgi_application(), sources=[stripe])
    # in the view: request.META["hookgate.webhook"]

The pipeline and its stores are asynchronous. The middleware owns a private event loop running in a daemon
thread (``hookgate._loop_thread``); every pipeline step is submitted to it and the WSGI worker
thread waits for the answer, so the stores (in-memory, Redis, PostgreSQL...) are only ever touched from that
one loop whatever the server's threading model. Call `close` (or use the middleware as a context manager)
to stop the loop.

Paths are matched against ``PATH_INFO`` (relative to where the WSGI application is mounted). A body sent
without ``Content-Length`` is read only when the server says it terminates the stream
(``wsgi.input_terminated``, set for chunked requests by Werkzeug and Gunicorn); otherwise it is taken as
empty, as Werkzeug does, because reading it could block a worker forever. Behind a trusted proxy, make sure
the server (or the proxy) drops header names with underscores: CGI naming turns ``X_Forwarded_For`` into the
same ``HTTP_X_FORWARDED_FOR`` as the proxy's own header (Werkzeug's server and nginx drop them by default).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any

from hookgate._loop_thread import LoopThread
from hookgate.inbound import driver
from hookgate.inbound.asgi import pipelines_for
from hookgate.inbound.pipeline import Accepted, Pipeline, Rejection
from hookgate.inbound.source import Source
from hookgate.inbound.stores import IdempotencyStore, RateLimiter

__all__ = ["ENVIRON_KEY", "HookgateWSGIMiddleware"]

ENVIRON_KEY = "hookgate.webhook"

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_READ_CHUNK = 64 * 1024


def _headers(environ: Environ) -> dict[str, str]:
    """Lower-case header names from the CGI keys (``HTTP_X_HUB_SIGNATURE_256`` -> x-hub-signature-256)."""
    out: dict[str, str] = {}
    for key, value in environ.items():
        if not isinstance(value, str):
            continue
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:  # PEP 3333: these may be present and empty, meaning absent
                continue
            name = key.replace("_", "-").lower()
        else:
            continue
        out[name] = value
    return out


def _path(environ: Environ) -> str | None:
    """PATH_INFO as text: WSGI hands it over as latin-1-decoded bytes, routes are written in UTF-8."""
    raw = environ.get("PATH_INFO", "")
    try:
        return str(raw).encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


def _read_exactly(stream: Any, length: int) -> bytes:
    """``length`` bytes (fewer if the client stopped early); ``read`` may return short counts."""
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_terminated(stream: Any, limit: int) -> bytes | None:
    """A server-terminated stream to its end, or None as soon as it grows past ``limit``.

    Never asks for more than ``limit`` + 1 bytes in all, so an endless body costs at most that much.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _respond(start_response: StartResponse, rejection: Rejection) -> list[bytes]:
    start_response(_status_line(rejection.status), driver.response_headers(rejection))
    return [rejection.body]


class _Finishing:
    """The application's response iterable; records the outcome when the server closes it (PEP 3333)."""

    def __init__(self, result: Iterable[bytes], done: Callable[[bool], None]) -> None:
        self._result = result
        self._done = done
        self._failed = False
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            if self._iterator is None:
                self._iterator = iter(self._result)
            return next(self._iterator)
        except StopIteration:
            raise
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        except BaseException:
            self._failed = True
            raise
        finally:
            self._done(self._failed)


class HookgateWSGIMiddleware:
    """Verify webhooks on the configured paths; everything else passes through."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        sources: Iterable[Source] | Mapping[str, Source],
        idempotency: IdempotencyStore | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self._routes = pipelines_for(sources, idempotency=idempotency, limiter=limiter, clock=clock)
        self._loop = LoopThread(name="hookgate-wsgi-loop", owner="HookgateWSGIMiddleware")

    def close(self) -> None:
        """Stop the private event loop (idempotent).

        Requests on webhook routes then raise RuntimeError, those still being checked included; other paths
        keep passing through.
        """
        self._loop.close()

    @property
    def closed(self) -> bool:
        return self._loop.closed

    def __enter__(self) -> HookgateWSGIMiddleware:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = _path(environ)
        pipeline = self._routes.get(path) if path is not None else None
        if pipeline is None:
            return self.app(environ, start_response)
        headers = _headers(environ)
        admission = self._loop.run(
            driver.admit(
                pipeline,
                method=str(environ.get("REQUEST_METHOD", "")),
                scheme=str(environ.get("wsgi.url_scheme", "http")),
                peer=environ.get("REMOTE_ADDR") or None,
                headers=headers,
            )
        )
        if isinstance(admission, Rejection):
            return _respond(start_response, admission)
        # admit() refused anything but digits and any length over the cap
        length = driver.parse_content_length(headers.get("content-length"))
        stream = environ.get("wsgi.input")
        body: bytes | None
        if stream is None:
            body = b""
        elif isinstance(length, int):
            body = _read_exactly(stream, length)
        elif environ.get("wsgi.input_terminated"):
            body = _read_terminated(stream, pipeline.source.max_body_bytes)
        else:
            body = b""
        result = self._loop.run(driver.verify(pipeline, admission, body, headers))
        if isinstance(result, Rejection):
            return _respond(start_response, result)
        return self._handle(pipeline, result, environ, start_response)

    def _handle(
        self, pipeline: Pipeline, accepted: Accepted, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = accepted.body
        environ[ENVIRON_KEY] = accepted.verified
        # the replay is a plain, fixed-length, terminated stream, whatever the request's framing was
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = True
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        status: int | None = None

        def capture(
            status_line: str, response_headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal status
            try:
                status = int(status_line.split(" ", 1)[0])
            except ValueError:
                status = None
            if exc_info is None:
                return start_response(status_line, response_headers)
            return start_response(status_line, response_headers, exc_info)

        def done(failed: bool) -> None:
            ok = not failed and status is not None and 200 <= status < 300
            self._loop.run(pipeline.finish(accepted, ok=ok, status=status))

        try:
            result = self.app(environ, capture)
        except BaseException:
            done(True)
            raise
        return _Finishing(result, done)
